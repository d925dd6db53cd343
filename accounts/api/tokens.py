"""API endpoints for personal API tokens (admins also see and revoke everyone's)."""

from datetime import datetime, timedelta
from typing import Literal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from accounts.models import ApiToken
from accounts.operations import issue_token
from accounts.operations import revoke_token as revoke_token_op
from core.api import ApiError, PagePagination, check_if_match, filter_by, require, set_etag
from core.roles import can

router = Router(tags=["tokens"])


class TokenOut(Schema):
    id: int
    name: str
    user: str
    prefix: str
    state: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    version: int = Field(description="Bumped when the token is revoked; also the ETag.")

    @staticmethod
    def resolve_user(obj: ApiToken) -> str:
        return obj.user.get_username()


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The plain token. It is shown this once and never stored.")


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="Omit for a token that never expires.")
    user: str | None = Field(default=None, description="Admins only: create the token for this user.")


def _visible_tokens(request: HttpRequest):
    qs = ApiToken.objects.select_related("user")
    return qs if can(request.user, "administer") else qs.filter(user=request.user)


class TokenFilters(Schema):
    user: str | None = Field(None, max_length=150, description="Admins: only this user's tokens.")
    state: Literal["active", "revoked", "expired"] | None = None
    q: str | None = Field(None, max_length=100, description="Text in the token's name.")


# Operation ids kept from before the router moved here: clients generated from the document use them.
@router.get("/tokens", response=list[TokenOut], operation_id="dashboard_tokens_api_list_tokens")
@paginate(PagePagination)
def list_tokens(request: HttpRequest, filters: Query[TokenFilters]):
    """Your tokens; admins see every user's. Newest first."""
    require(request, "view_portico")
    qs = _visible_tokens(request).order_by("-created_at", "-id")
    qs = filter_by(qs, filters, {"user": "user__username", "q": "name__icontains"})
    now = timezone.now()
    if filters.state == "active":
        qs = qs.active()
    elif filters.state == "revoked":
        qs = qs.filter(revoked_at__isnull=False)
    elif filters.state == "expired":
        qs = qs.filter(revoked_at__isnull=True, expires_at__lte=now)
    return qs


@router.post("/tokens", response={201: TokenCreatedOut}, operation_id="dashboard_tokens_api_create_token")
def create_token(request: HttpRequest, payload: TokenIn):
    """Create a token; the plain value is in this response only."""
    require(request, "view_portico")
    owner = request.user
    if payload.user and payload.user != request.user.get_username():
        require(request, "administer")
        owner = get_user_model().objects.filter(username=payload.user).first()
        if owner is None:
            raise ApiError(422, "Invalid input.", [{"field": "user", "message": "No such user."}])
    expires = timezone.now() + timedelta(days=payload.expires_in_days) if payload.expires_in_days else None
    token, plain = issue_token(owner, payload.name, expires, actor=request.user, source="api")
    token.token = plain
    return Status(201, token)


def _visible_token(request: HttpRequest, token_id: int, lock: bool = False) -> ApiToken:
    qs = _visible_tokens(request)
    token = (qs.select_for_update(of=("self",)) if lock else qs).filter(pk=token_id).first()
    if token is None:
        raise ApiError(404, "No such token.")
    return token


@router.get("/tokens/{token_id}", response=TokenOut, operation_id="dashboard_tokens_api_get_token")
def get_token(request: HttpRequest, token_id: int, response: HttpResponse):
    """One of your tokens (admins: anyone's), never its value; the ETag carries its version."""
    require(request, "view_portico")
    token = _visible_token(request, token_id)
    set_etag(response, token.version)
    return token


@router.delete("/tokens/{token_id}", response=TokenOut, operation_id="dashboard_tokens_api_revoke_token")
def revoke_token(request: HttpRequest, token_id: int, response: HttpResponse):
    """Revoke a token at once; it keeps its row so its history stays readable. With If-Match, a token that
    was revoked meanwhile gives 412."""
    require(request, "view_portico")
    with transaction.atomic():
        token = _visible_token(request, token_id, lock=True)
        check_if_match(request, token.version, f"Token {token.name}")
        revoke_token_op(token, actor=request.user, source="api")
    set_etag(response, token.version)
    return token
