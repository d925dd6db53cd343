"""Every change of accounts and API tokens, for the Users and Tokens pages, /api/v1/users, /api/v1/tokens and the
commands alike.

Accounts: make one, change its role, switch it off, set a password; every change is audited (never the password)
and Portico keeps at least one admin. Tokens: issue one (for yourself, or as an admin for someone else) and revoke
one, each audited with the token's owner and the actor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from accounts.models import ApiToken
from core import audit
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.roles import ROLES, can, role_of, set_role

ADMINS_LOCK_KEY = 0x706F7274_61646D  # "portadm": changes that may cost Portico an admin take turns on PostgreSQL


def role_name(user: AbstractUser) -> str | None:
    """viewer, operator or admin; None without a role. A switched-off account keeps the role it would have."""
    if user.is_superuser:
        return "admin"
    names = {g.name for g in user.groups.all()}
    return next((r for r in reversed(ROLES) if r in names), None)


def account_etag(user: AbstractUser) -> str:
    """A digest of what an admin can change (role, state, e-mail, password): accounts have no version column,
    and the digest moves with every such change just the same."""
    text = "\n".join([user.get_username(), user.email, str(role_name(user)), str(user.is_active), user.password])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def account_state(user: AbstractUser) -> dict[str, Any]:
    """The audit trail's before/after (never the password hash)."""
    return {
        "username": user.get_username(),
        "email": user.email,
        "role": role_name(user),
        "is_active": user.is_active,
    }


def accounts():
    """Every account by name, with its groups."""
    return get_user_model().objects.prefetch_related("groups").order_by("username")


def get_account(username: str, lock: bool = False) -> AbstractUser:
    """The account named ``username``; NotFound when there is none."""
    qs = accounts()
    user = (qs.select_for_update(of=("self",)) if lock else qs).filter(username=username).first()
    if user is None:
        message = _("No user named %(name)s.") % {"name": username}
        raise NotFound(message, [{"field": "username", "message": message}])
    return user


def _check_password(password: str, user: AbstractUser) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise Invalid.field("password", " ".join(exc.messages)) from None


def _check_email(email: str) -> None:
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise Invalid.field("email", _("Enter a valid e-mail address.")) from None


def _give_role(user: AbstractUser, role: str) -> None:
    if role not in ROLES:
        raise Invalid.field("role", _("Choose one of %(roles)s.") % {"roles": ", ".join(ROLES)})
    set_role(user, role)
    if role != "admin" and (user.is_superuser or user.is_staff):
        # A superuser holds every permission whatever its groups: a role below admin must take that away.
        user.is_superuser = user.is_staff = False
        user.save(update_fields=["is_superuser", "is_staff"])


def _lock_admins() -> None:
    """Make changes that could remove an admin take turns until the transaction ends.

    Under PostgreSQL's READ COMMITTED two admins demoting each other at once would each lock only their own row,
    each count the other as still admin, and both commit: no admin left. A transaction-level advisory lock,
    taken before the account row is read, makes the second wait and then count what the first committed. SQLite
    needs nothing: Portico opens every transaction with BEGIN IMMEDIATE, so writers already run one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADMINS_LOCK_KEY])


def _keep_an_admin(user: AbstractUser, role: str | None, active: bool | None) -> None:
    """Refuse to leave Portico without an active admin (nobody could give the role back)."""
    loses_admin = (role is not None and role != "admin") or active is False
    if not loses_admin or role_of(user) != "admin":
        return
    if not any(role_of(u) == "admin" for u in accounts().filter(is_active=True).exclude(pk=user.pk)):
        raise Conflict(
            _("%(name)s is the last active admin: make another admin first.") % {"name": user.get_username()}
        )


def _may_change_accounts(actor) -> None:
    """Accounts are changed by admins; ``actor`` None is the command line or Portico itself."""
    if actor is not None and not can(actor, "administer"):
        raise Forbidden(_("Your role may not do this (needs %(capability)s).") % {"capability": "administer"})


def _may_change_tokens_of(actor, owner) -> None:
    """Anyone with a role makes and revokes their own tokens; only admins those of another account."""
    if actor is None:
        return
    if not can(actor, "view_portico") or (owner.pk != actor.pk and not can(actor, "administer")):
        raise Forbidden(_("Your role may not do this (needs %(capability)s).") % {"capability": "administer"})


def create_account(username: str, password: str, role: str, email: str, *, actor, source: str) -> AbstractUser:
    """Make an account with ``role``. Raises Forbidden below admin, Invalid naming the field, or
    Conflict when the name is taken."""
    _may_change_accounts(actor)
    model = get_user_model()
    username = username.strip()
    if not username:
        raise Invalid.field("username", _("Enter a user name."))
    _check_email(email)
    _check_password(password, model(username=username, email=email))
    try:
        with transaction.atomic():
            user = model.objects.create_user(username, email, password)
            _give_role(user, role)
            user = get_account(username)
            audit.record("user.create", actor=actor, source=source, obj=user, after=account_state(user))
    except IntegrityError:
        message = _("%(name)s exists.") % {"name": username}
        raise Conflict(message, [{"field": "username", "message": message}]) from None
    return user


def update_account(
    username: str,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
    email: str | None = None,
    actor,
    source: str,
    check_etag: Callable[[str], None] | None = None,
) -> AbstractUser:
    """Change what is given, all or nothing, under the account's row lock. ``check_etag`` gets the current
    ETag first and raises to refuse a stale change (the API's If-Match). Raises Forbidden, NotFound, Invalid or
    Conflict."""
    _may_change_accounts(actor)
    with transaction.atomic():
        if role is not None or is_active is not None:
            _lock_admins()  # before the first read: what it counts must include a concurrent change just committed
        user = get_account(username, lock=True)
        if check_etag:
            check_etag(account_etag(user))
        before = account_state(user)
        _keep_an_admin(user, role, is_active)
        if password is not None:
            _check_password(password, user)
            user.set_password(password)
        if email is not None:
            _check_email(email)
            user.email = email
        if is_active is not None:
            user.is_active = is_active
        user.save()
        if role is not None and role != role_name(user):
            _give_role(user, role)
        user = get_account(username)
        after = account_state(user)
        if after != before or password is not None:
            audit.record(
                "user.update",
                actor=actor,
                source=source,
                obj=user,
                before=before,
                after={**after, "password_changed": password is not None},
            )
    return user


# --- the first admin ---------------------------------------------------------------------------------------


def ensure_first_admin(username: str, password: str) -> AbstractUser | None:
    """Make ``username`` an admin when Portico has none yet (a fresh install); None when an admin exists."""
    model = get_user_model()
    with transaction.atomic():
        if model.objects.filter(is_superuser=True).exists() or model.objects.filter(groups__name="admin").exists():
            return None
        user = model.objects.create_user(username=username, password=password, is_staff=True, is_superuser=True)
        set_role(user, "admin")
        audit.record("user.create", source="cli", obj=user, after={"username": username, "role": "admin"})
    return user


# --- API tokens ------------------------------------------------------------------------------------------------


def _owner_state(token: ApiToken) -> dict[str, str]:
    # The owner is part of the entry: an admin minting a token for a student must read as exactly that.
    return {"name": token.name, "user": token.user.get_username()}


def issue_token(owner, name: str, expires_at: datetime | None, *, actor, source: str) -> tuple[ApiToken, str]:
    """Make a token for ``owner``; returns the row and the plain value (shown once, never stored or audited).
    Raises Forbidden when ``actor`` may not make tokens for ``owner``, Conflict when ``owner`` has a token named
    ``name``."""
    _may_change_tokens_of(actor, owner)
    try:
        with transaction.atomic():
            token, plain = ApiToken.issue(owner, name, expires_at)
            audit.record("token.create", actor=actor, source=source, obj=token, after=_owner_state(token))
    except IntegrityError:
        message = _("%(user)s already has a token named %(name)s.") % {"user": owner, "name": name}
        raise Conflict(message, [{"field": "name", "message": message}]) from None
    return token, plain


def revoke_token(token: ApiToken, *, actor, source: str) -> ApiToken:
    """Revoke ``token`` (the caller has locked it or owns it); revoking a revoked token changes nothing."""
    _may_change_tokens_of(actor, token.user)
    with transaction.atomic():
        if not token.revoked_at:
            token.revoke()
            audit.record("token.revoke", actor=actor, source=source, obj=token, before=_owner_state(token))
    return token
