"""The three roles (viewer, operator, admin) as groups built from Capability permissions, and the checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from core.models import Capability

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "viewer": ("view_portico",),
    "operator": ("view_portico", "operate"),
    "admin": ("view_portico", "operate", "administer"),
}
ROLES = tuple(ROLE_PERMISSIONS)
# The role names as people read them (the API keeps the English identifiers).
ROLE_LABELS = {"viewer": _("viewer"), "operator": _("operator"), "admin": _("admin")}


def ensure_role_groups(**kwargs: Any) -> None:
    """Create or repair the role groups; runs after every migrate."""
    ctype = ContentType.objects.get_for_model(Capability, for_concrete_model=False)
    perms = {}
    for codename, label in Capability._meta.permissions:
        perms[codename], _ = Permission.objects.get_or_create(
            content_type=ctype, codename=codename, defaults={"name": label}
        )
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([perms[c] for c in codenames])


def role_of(user) -> str | None:
    """The strongest role a user holds, or None for anonymous users and users without a role."""
    if not user or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser or user.has_perm("core.administer"):
        return "admin"
    if user.has_perm("core.operate"):
        return "operator"
    if user.has_perm("core.view_portico"):
        return "viewer"
    return None


def can(user, capability: str) -> bool:
    """Whether ``user`` holds a capability: ``view_portico``, ``operate`` or ``administer``."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(f"core.{capability}"))


def set_role(user, role: str) -> None:
    """Put ``user`` in exactly one role group."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=role))


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
