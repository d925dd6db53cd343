"""/users: admins create accounts, give them a role, reset passwords and switch accounts off (a class's
students in one script). There is no delete: a switched-off account keeps its name in the audit trail."""

import hashlib
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from dashboard import audit
from dashboard.api_common import ApiError, PagePagination, check_if_match_tag, require
from dashboard.roles import ROLES, role_of, set_role

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
        return _role(obj)

    @staticmethod
    def resolve_etag(obj: AbstractUser) -> str:
        return user_etag(obj)


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


def _role(user: AbstractUser) -> str | None:
    # role_of() says None for a switched-off account; the list shows the role it would have.
    if user.is_superuser:
        return "admin"
    names = {g.name for g in user.groups.all()}
    return next((r for r in reversed(ROLES) if r in names), None)


def user_etag(user: AbstractUser) -> str:
    """A digest of what an admin can change (role, state, e-mail, password): users have no version column, and
    the digest moves with every such change just the same."""
    text = "\n".join([user.get_username(), user.email, str(_role(user)), str(user.is_active), user.password])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _state(user: AbstractUser) -> dict[str, Any]:
    """The audit trail's before/after (never the password hash)."""
    return {"username": user.get_username(), "email": user.email, "role": _role(user), "is_active": user.is_active}


def _users():
    return get_user_model().objects.prefetch_related("groups").order_by("username")


def _get(username: str, lock: bool = False) -> AbstractUser:
    qs = _users()
    user = (qs.select_for_update(of=("self",)) if lock else qs).filter(username=username).first()
    if user is None:
        raise ApiError(404, f"No user named {username!r}.")
    return user


def _check_password(password: str, user: AbstractUser) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ApiError(422, "Invalid input.", [{"field": "password", "message": m} for m in exc.messages]) from None


def _give_role(user: AbstractUser, role: str) -> None:
    set_role(user, role)
    if role != "admin" and (user.is_superuser or user.is_staff):
        # A superuser holds every permission whatever its groups: a role below admin must take that away.
        user.is_superuser = user.is_staff = False
        user.save(update_fields=["is_superuser", "is_staff"])


def _check_email(email: str) -> None:
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ApiError(
                422, "Invalid input.", [{"field": "email", "message": "Enter a valid e-mail address."}]
            ) from None


def _last_admin_guard(user: AbstractUser, role: str | None, active: bool | None) -> None:
    """Refuse to leave Portico without an active admin (nobody could give the role back)."""
    loses_admin = (role is not None and role != "admin") or active is False
    if not loses_admin or role_of(user) != "admin":
        return
    admins = [u for u in _users().filter(is_active=True).exclude(pk=user.pk) if role_of(u) == "admin"]
    if not admins:
        raise ApiError(409, f"{user.get_username()} is the last active admin: make another admin first.")


def _answer(response: HttpResponse, user: AbstractUser) -> AbstractUser:
    response["ETag"] = f'"{user_etag(user)}"'
    return user


@router.get("/users", response=list[UserOut])
@paginate(PagePagination)
def list_users(request: HttpRequest, filters: Query[UserFilters]):
    """Every account by name (admins only); filter by role, active or text."""
    require(request, "administer")
    qs = _users()
    if filters.active is not None:
        qs = qs.filter(is_active=filters.active)
    if filters.q:
        text = filters.q.strip()
        qs = qs.filter(Q(username__icontains=text) | Q(email__icontains=text))
    if filters.role:
        wanted = None if filters.role == "none" else filters.role
        return [u for u in qs if _role(u) == wanted]
    return qs


@router.post("/users", response={201: UserOut})
def create_user(request: HttpRequest, payload: UserIn, response: HttpResponse):
    """Make an account with a role (admins only). The password must pass Portico's password rules."""
    require(request, "administer")
    model = get_user_model()
    candidate = model(username=payload.username, email=payload.email)
    _check_email(payload.email)
    _check_password(payload.password, candidate)
    try:
        with transaction.atomic():
            user = model.objects.create_user(payload.username, payload.email, payload.password)
            _give_role(user, payload.role)
            user = _get(user.get_username())
            audit.record(
                "user.create", actor=request.user, source=audit.source_of(request), obj=user, after=_state(user)
            )
    except IntegrityError:
        raise ApiError(409, f"{payload.username} exists.", [{"field": "username", "message": "Taken."}]) from None
    response["Location"] = f"{request.path.rstrip('/')}/{user.get_username()}"
    return Status(201, _answer(response, user))


@router.get("/users/{username}", response=UserOut)
def get_user(request: HttpRequest, username: str, response: HttpResponse):
    """One account (admins only); the ETag is what PATCH's If-Match compares."""
    require(request, "administer")
    return _answer(response, _get(username))


@router.patch("/users/{username}", response=UserOut)
def update_user(request: HttpRequest, username: str, payload: UserPatch, response: HttpResponse):
    """Change the role, switch the account off or on, set a new password or e-mail (admins only).

    With If-Match, an account someone changed since gives 412. The last active admin cannot lose the role.
    """
    require(request, "administer")
    with transaction.atomic():
        user = _get(username, lock=True)
        check_if_match_tag(request, user_etag(user), f"User {username}")
        before = _state(user)
        _last_admin_guard(user, payload.role, payload.is_active)
        if payload.password is not None:
            _check_password(payload.password, user)
            user.set_password(payload.password)
        if payload.email is not None:
            _check_email(payload.email)
            user.email = payload.email
        if payload.is_active is not None:
            user.is_active = payload.is_active
        user.save()
        if payload.role is not None and payload.role != _role(user):
            _give_role(user, payload.role)
        user = _get(username)
        after = _state(user)
        if after != before or payload.password is not None:
            audit.record(
                "user.update",
                actor=request.user,
                source=audit.source_of(request),
                obj=user,
                before=before,
                after={**after, "password_changed": payload.password is not None},
            )
    return _answer(response, user)
