"""API endpoints of the containers app, mounted under /api/v1/ by dashboard.api."""

from ninja import Router

router = Router(tags=["containers"])
