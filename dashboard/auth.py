"""Login enforcement for every page, role checks for views, and bearer tokens for the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja.security import HttpBearer

from dashboard.models import ApiToken, hash_token
from dashboard.roles import can


class PorticoLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API answers 401 JSON itself instead of redirecting."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def capability_required(capability: str) -> Callable:
    """View decorator: 403 unless the logged-in user holds ``capability``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not can(request.user, capability):
                raise PermissionDenied(f"Your role may not do this (needs {capability}).")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def authenticate_token(plain: str) -> ApiToken | None:
    """The active token with this plain value, or None; marks it used."""
    if not plain:
        return None
    token = ApiToken.objects.active().select_related("user").filter(token_hash=hash_token(plain)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Writing on every request would serialise SQLite writers; a minute of precision is enough.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; the request then acts as the token's user."""

    def authenticate(self, request: HttpRequest, token: str):
        api_token = authenticate_token(token)
        if api_token is None:
            return None
        request.user = api_token.user
        request.api_token = api_token
        return api_token.user
