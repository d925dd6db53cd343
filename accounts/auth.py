"""Login enforcement for every page, login throttling, and bearer tokens for the API."""

from __future__ import annotations

import ipaddress

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext
from ninja.security import HttpBearer

from accounts.models import ApiToken, hash_token


class PorticoLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API answers 401 JSON itself instead of redirecting."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def client_address(request: HttpRequest) -> str | None:
    """The address logins are throttled by: the peer, or behind PORTICO_BEHIND_PROXY the one the proxy saw."""
    candidates = [request.META.get("REMOTE_ADDR", "")]
    if settings.PORTICO_BEHIND_PROXY:
        # The proxy appends the address it saw to X-Forwarded-For; anything left of it came from the client and
        # could be made up to dodge the throttle, so only the last entry counts.
        candidates.insert(0, request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip())
    for candidate in candidates:
        try:
            return ipaddress.ip_address(candidate).compressed
        except ValueError:
            continue
    return None  # e.g. gunicorn on a unix socket: such clients share one count (the column is an address or NULL)


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, placed before the password check; it authenticates no one itself.

    Every login form passes the request. Only in-process callers (tests' ``client.login``, management commands)
    authenticate without one; there is no client to throttle then, so the check is left to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class LoginThrottleHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per username and a higher one per client address."""

    def get_failures(self, request, credentials=None) -> int:
        by_user, by_address = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)  # AXES_LOCKOUT_PARAMETERS' order
        )
        # axes compares one count with one limit (the per-user one). The address count is scaled so that it
        # reaches that limit exactly when it reaches its own: a * U // A >= U  <=>  a >= A.
        per_user = settings.PORTICO_LOGIN_FAILURES_PER_USER
        return max(by_user, by_address * per_user // settings.PORTICO_LOGIN_FAILURES_PER_ADDRESS)


def lockout_message() -> str:
    """What a throttled login is told: why, and for how long."""
    minutes = settings.PORTICO_LOGIN_COOLOFF_MINUTES
    return ngettext(
        "Too many failed logins for this username or from your address. Logins are refused until "
        "%(minutes)s minute has passed without a failed attempt; try again later.",
        "Too many failed logins for this username or from your address. Logins are refused until "
        "%(minutes)s minutes have passed without a failed attempt; try again later.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The login page again, with the lockout message and 429, for a login axes refused."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout": lockout_message(), "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


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
