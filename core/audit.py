"""The one helper every mutation calls, whether it comes from the UI, the API or the CLI."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.models import AuditEntry


def record(
    action: str,
    *,
    actor=None,
    source: str = AuditEntry.Source.SYSTEM,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    before: Any = None,
    after: Any = None,
    message: str = "",
) -> AuditEntry:
    """Store who did ``action`` to what, with the state before and after (JSON-serialisable)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "",
        source=source,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=str(object_repr)[:255],
        before=before,
        after=after,
        message=message,
    )


def source_of(request) -> str:
    """Whether a request came through the API or the UI."""
    return AuditEntry.Source.API if request.path.startswith("/api/") else AuditEntry.Source.UI
