"""Every change of state in containers/: container actions (start, stop, restart), environment reveals, and adding,
editing and removing Docker engines.

Each operation checks the actor's role, and for engines locks the row, refuses a change based on a stale version,
writes and records one audit entry (the Engine's own ``snapshot()`` before and after) in one transaction. They
raise core.errors (Forbidden, NotFound, Conflict, Stale, Invalid) and the Docker wrapper's errors (also core
domain errors), never HTTP errors. The containers pages and the API only parse input, call these and show the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from containers.docker.client import DockerError
from containers.docker.types import ContainerDetail
from containers.engines import EngineRef, client_for, forget_clients, get_engine
from containers.models import LOCAL, Engine
from containers.status import ACTIONS, in_scope
from core import audit
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.roles import can
from core.versions import Expected

ENGINE_FIELDS = ("name", "url", "tls_ca", "tls_cert", "tls_key", "tls_verify", "default")


class OutOfScope(Forbidden):
    """PORTICO_CONTAINER_SCOPE keeps this container out of Portico's hands; ``message`` says which are in."""


def _require(actor: Any, capability: str) -> None:
    # ``None`` is Portico itself (a command without --user): the host's operator, who holds every role.
    if actor is not None and not can(actor, capability):
        raise Forbidden(_("Your role may not do this (needs %(capability)s).") % {"capability": capability})


# --- containers ---------------------------------------------------------------------------


def _scope_message(name: str) -> str:
    which = {
        "labelled": _("containers labelled portico.manage=true"),
        "targets": _("containers a route points at"),
        "labelled+targets": _("containers labelled portico.manage=true or a route points at"),
    }[settings.PORTICO_CONTAINER_SCOPE]
    return _("%(name)s is outside PORTICO_CONTAINER_SCOPE: Portico starts, stops and restarts only %(which)s.") % {
        "name": name,
        "which": which,
    }


def _record(action: str, engine: EngineRef, detail: ContainerDetail, *, actor: Any, source: str, **entry: Any) -> None:
    """One audit entry about a container (named by engine and short id: containers have no row of ours)."""
    audit.record(
        action,
        actor=actor,
        source=source,
        object_type="docker.container",
        object_id=f"{engine.name}/{detail.id[:12]}",
        object_repr=detail.name,
        **entry,
    )


def run_action(engine: EngineRef, ref: str, action: str, *, actor: Any, source: str) -> ContainerDetail:
    """Start, stop or restart the container and record who did it; returns the container's new state.

    Raises Forbidden without the operate role, OutOfScope when PORTICO_CONTAINER_SCOPE leaves the container out
    (nothing is sent to the engine), NotFound for an unknown action, and the wrapper's DockerError (and
    subclasses); refused and failed attempts are recorded too.
    """
    _require(actor, "operate")
    if action not in ACTIONS:
        raise NotFound(_("No container action named %(action)s.") % {"action": action})
    client = client_for(engine)
    before = client.container(ref)
    if not in_scope(before):
        message = _scope_message(before.name)
        _record(
            f"container.{action}.refused",
            engine,
            before,
            actor=actor,
            source=source,
            before={"state": before.state},
            message=message,
        )
        raise OutOfScope(message)
    try:
        after: ContainerDetail = getattr(client, action)(before.id)
    except DockerError as exc:
        _record(
            f"container.{action}.failed",
            engine,
            before,
            actor=actor,
            source=source,
            before={"state": before.state},
            message=exc.reason,
        )
        raise
    _record(
        f"container.{action}",
        engine,
        before,
        actor=actor,
        source=source,
        before={"state": before.state, "status": before.status},
        after={"state": after.state, "status": after.status},
    )
    return after


def reveal_env(engine: EngineRef, ref: str, *, actor: Any, source: str) -> ContainerDetail:
    """The container with its environment variables, for an admin; records who read which names (never values)."""
    _require(actor, "administer")
    detail = client_for(engine).container(ref)
    _record(
        "container.env.reveal",
        engine,
        detail,
        actor=actor,
        source=source,
        after={"names": [name for name, _value in detail.env]},
    )
    return detail


# --- engines ------------------------------------------------------------------------------


def _checked(row: Engine) -> None:
    """Raise Invalid with every field's reasons when the row may not be stored."""
    try:
        row.full_clean()
    except ValidationError as exc:
        errors = [{"field": field, "message": m} for field, messages in exc.message_dict.items() for m in messages]
        raise Invalid(_("Invalid engine."), errors) from None


def _save(row: Engine) -> None:
    """Store the row; a concurrent add of the same name (the unique index) is a Conflict."""
    if row.default:
        Engine.clear_default(keep=row.pk)
    try:
        with transaction.atomic():  # a savepoint: the clash must not end the caller's transaction
            row.save()
    except IntegrityError:
        message = _("An engine named %(name)s already exists.") % {"name": row.name}
        raise Conflict(message, [{"field": "name", "message": message}]) from None


def _locked(name: str) -> Engine:
    if name == LOCAL:
        raise Conflict(_("The local engine is built in (set PORTICO_DOCKER_URL to change it)."))
    row = Engine.objects.select_for_update().filter(name=name).first()
    if row is None:
        raise NotFound(_("No engine named %(name)s.") % {"name": name})
    return row


def add_engine(data: Mapping[str, Any], *, actor: Any, source: str) -> EngineRef:
    """Add an engine (``ENGINE_FIELDS``); the new default takes over from the old one. Returns it as pages see it.

    Raises Forbidden (admins only), Invalid (field by field), Conflict (the name was taken meanwhile)."""
    _require(actor, "administer")
    row = Engine(**{key: data[key] for key in ENGINE_FIELDS if key in data})
    _checked(row)
    with transaction.atomic():
        _save(row)
        audit.record("engine.create", actor=actor, source=source, obj=row, after=row.snapshot())
    forget_clients()
    return get_engine(row.name)


def edit_engine(name: str, data: Mapping[str, Any], *, actor: Any, source: str, expected: Expected = None) -> EngineRef:
    """Change the fields of an added engine given in ``data`` (its name stays); returns it as pages see it.

    Raises Forbidden, NotFound, Conflict for the built-in ``local`` engine, Stale when it is no longer at
    (one of) the ``expected`` version(s), Invalid (field by field)."""
    _require(actor, "administer")
    with transaction.atomic():
        row = _locked(name)
        row.require_version(expected)
        before = row.snapshot()
        for key in ENGINE_FIELDS[1:]:
            if key in data:
                setattr(row, key, data[key])
        _checked(row)
        row.claim_version(expected)
        _save(row)
        audit.record("engine.update", actor=actor, source=source, obj=row, before=before, after=row.snapshot())
    forget_clients()
    return get_engine(row.name)


def remove_engine(name: str, *, actor: Any, source: str, expected: Expected = None) -> None:
    """Delete an added engine and record it in the audit trail, in one transaction.

    Raises Forbidden, Conflict for the built-in ``local`` engine, NotFound for a name no engine has, Stale when
    it is no longer at (one of) the ``expected`` version(s)."""
    _require(actor, "administer")
    with transaction.atomic():
        row = _locked(name)
        row.require_version(expected)
        before = row.snapshot()
        row.delete()
        audit.record(
            "engine.delete",
            actor=actor,
            source=source,
            object_type=Engine._meta.label_lower,
            object_id=name,
            object_repr=name,
            before=before,
        )
    forget_clients()
