"""Shared pieces of the API every router uses: the error shape and the role check."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from ninja import Schema

from dashboard.roles import can


class ErrorItem(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """Every error the API returns has this shape."""

    detail: str
    errors: list[ErrorItem] = []


class ApiError(Exception):
    """Raise from an endpoint to answer ``status`` with the common error shape."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


def error_response(status: int, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> JsonResponse:
    """Build an error response in the shared shape."""
    return JsonResponse({"detail": detail, "errors": errors or [], **extra}, status=status)


def django_errors(exc: DjangoValidationError) -> list[dict[str, str]]:
    """Flatten a Django ValidationError into field/message pairs."""
    if hasattr(exc, "error_dict"):
        return [
            {"field": field, "message": message} for field, messages in exc.message_dict.items() for message in messages
        ]
    return [{"field": "__all__", "message": message} for message in exc.messages]


def require(request: HttpRequest, capability: str) -> None:
    """Raise 403 unless the caller's role grants ``capability`` (view_portico, operate, administer)."""
    if not can(request.user, capability):
        raise ApiError(403, f"Your role may not do this (needs {capability}).")
