"""Template context every page needs: the user's role and the navigation; and what publishing tells the pages of
the layers below it (the routes page's unapplied changes)."""

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from core.roles import ROLE_LABELS, can, role_of
from publishing.pending import unapplied_changes

# (url name, label)
NAVIGATION = [
    ("overview", _("Overview")),
    ("routes:index", _("Routes")),
    ("containers:index", _("Containers")),
    ("certificates:index", _("Certificates")),
    ("routes:revisions", _("Revisions")),
    ("routes:npm", _("NPM")),
    ("lab", _("Lab")),
    ("audit", _("Audit log")),
    ("tokens", _("API tokens")),
    ("users", _("Users")),
]
ADMIN_ONLY = {"users"}


def _nav(request: HttpRequest) -> list[dict]:
    items = []
    for name, label in NAVIGATION:
        if name in ADMIN_ONLY and not can(request.user, "administer"):
            continue
        url = reverse(name)
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"url": url, "label": label, "active": active})
    return items


def portico(request: HttpRequest) -> dict:
    """Role, version, publisher and the menu for the base layout."""
    user = getattr(request, "user", None)
    role = role_of(user)
    return {
        "portico_role": role,
        "portico_role_label": ROLE_LABELS.get(role, role) if role else None,
        "portico_version": settings.VERSION,
        "portico_publisher": settings.PORTICO_PUBLISHER,
        "portico_nav": _nav(request) if user is not None and user.is_authenticated else [],
    }


def publishing(request: HttpRequest) -> dict:
    """``unapplied_changes``: what differs from the last apply, for the routes page's banner (routes/ sits below
    publishing, so the shell hands it down). Worked out only when a template reads it."""
    return {"unapplied_changes": SimpleLazyObject(unapplied_changes)}
