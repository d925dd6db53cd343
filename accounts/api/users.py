"""/users: admins create accounts, give them a role, reset passwords and switch accounts off (a class's
students in one script). There is no delete: a switched-off account keeps its name in the audit trail."""

from datetime import datetime
from typing import Literal

from django.contrib.auth.models import AbstractUser
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from accounts.operations import (
    account_etag,
    accounts,
    create_account,
    get_account,
    role_name,
    update_account,
)
from core import audit
from core.api import PagePagination, check_if_match_tag, filter_by, require

router = Router(tags=["users"])

Role = Literal["viewer", "operator", "admin"]


class UserOut(Schema):
    username: str
    email: str
    role: str | None = Field(description="viewer, operator or admin; null for an account without a role.")
    is_active: bool
    last_login: datetime | None
    date_joined: datetime
    etag: str = Field(description="Also the ETag header: send it as If-Match with PATCH.")

    @staticmethod
    def resolve_role(obj: AbstractUser) -> str | None:
        return role_name(obj)

    @staticmethod
    def resolve_etag(obj: AbstractUser) -> str:
        return account_etag(obj)


class UserIn(Schema):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    password: str = Field(min_length=1, max_length=128)
    role: Role
    email: str = Field("", max_length=254)


class UserPatch(Schema):
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=128)
    email: str | None = Field(None, max_length=254)


class UserFilters(Schema):
    role: Literal["viewer", "operator", "admin", "none"] | None = None
    active: bool | None = None
    q: str | None = Field(None, max_length=150, description="Text in the user name or e-mail.")


def _answer(response: HttpResponse, user: AbstractUser) -> AbstractUser:
    response["ETag"] = f'"{account_etag(user)}"'
    return user


# Operation ids kept from before the router moved here: clients generated from the document use them.
@router.get("/users", response=list[UserOut], operation_id="dashboard_users_api_list_users")
@paginate(PagePagination)
def list_users(request: HttpRequest, filters: Query[UserFilters]):
    """Every account by name (admins only); filter by role, active or text."""
    require(request, "administer")
    qs = filter_by(accounts(), filters, {"active": "is_active", "q": "username__icontains|email__icontains"})
    if filters.role:
        wanted = None if filters.role == "none" else filters.role
        return [u for u in qs if role_name(u) == wanted]
    return qs


@router.post("/users", response={201: UserOut}, operation_id="dashboard_users_api_create_user")
def create_user(request: HttpRequest, payload: UserIn, response: HttpResponse):
    """Make an account with a role (admins only). The password must pass Portico's password rules."""
    require(request, "administer")
    user = create_account(
        payload.username,
        payload.password,
        payload.role,
        payload.email,
        actor=request.user,
        source=audit.source_of(request),
    )
    response["Location"] = f"{request.path.rstrip('/')}/{user.get_username()}"
    return Status(201, _answer(response, user))


@router.get("/users/{username}", response=UserOut, operation_id="dashboard_users_api_get_user")
def get_user(request: HttpRequest, username: str, response: HttpResponse):
    """One account (admins only); the ETag is what PATCH's If-Match compares."""
    require(request, "administer")
    return _answer(response, get_account(username))


@router.patch("/users/{username}", response=UserOut, operation_id="dashboard_users_api_update_user")
def update_user(request: HttpRequest, username: str, payload: UserPatch, response: HttpResponse):
    """Change the role, switch the account off or on, set a new password or e-mail (admins only).

    With If-Match, an account someone changed since gives 412. The last active admin cannot lose the role.
    """
    require(request, "administer")
    user = update_account(
        username,
        role=payload.role,
        is_active=payload.is_active,
        password=payload.password,
        email=payload.email,
        actor=request.user,
        source=audit.source_of(request),
        check_etag=lambda current: check_if_match_tag(request, current, f"User {username}"),
    )
    return _answer(response, user)
