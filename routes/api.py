"""API endpoints of the routes app, mounted under /api/v1/ by dashboard.api."""

from ninja import Router

router = Router(tags=["routes"])
