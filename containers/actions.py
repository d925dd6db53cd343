"""Container actions (start, stop, restart) and environment reveals: each one goes to the audit log."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _

from containers.docker.client import DockerError
from containers.docker.types import ContainerDetail, ContainerInfo
from containers.engines import EngineRef, client_for
from containers.status import is_route_target, scope_allows
from core import audit

ACTIONS = ("start", "stop", "restart")


class OutOfScope(Exception):
    """PORTICO_CONTAINER_SCOPE keeps this container out of Portico's hands; ``message`` says which are in."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def in_scope(info: ContainerInfo) -> bool:
    """Whether PORTICO_CONTAINER_SCOPE lets start/stop/restart touch this container (decided on the engine's
    current labels and the stored routes, whatever the page showed)."""
    return scope_allows(info, is_target=is_route_target(info))


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


def run_action(request: HttpRequest, engine: EngineRef, ref: str, action: str) -> ContainerDetail:
    """Run ``action`` on the container and record who did it; returns the container's new state.

    Raises OutOfScope when PORTICO_CONTAINER_SCOPE leaves the container out (nothing is sent to the engine), and
    DockerError (and subclasses); refused and failed attempts are recorded too. Every page and API action comes
    through here, so the scope holds for all of them.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    client = client_for(engine)
    before = client.container(ref)
    if not in_scope(before):
        message = _scope_message(before.name)
        audit.record(
            f"container.{action}.refused",
            actor=request.user,
            source=audit.source_of(request),
            object_type="docker.container",
            object_id=f"{engine.name}/{before.id[:12]}",
            object_repr=before.name,
            before={"state": before.state},
            message=message,
        )
        raise OutOfScope(message)
    try:
        after = getattr(client, action)(before.id)
    except DockerError as exc:
        audit.record(
            f"container.{action}.failed",
            actor=request.user,
            source=audit.source_of(request),
            object_type="docker.container",
            object_id=f"{engine.name}/{before.id[:12]}",
            object_repr=before.name,
            before={"state": before.state},
            message=exc.reason,
        )
        raise
    audit.record(
        f"container.{action}",
        actor=request.user,
        source=audit.source_of(request),
        object_type="docker.container",
        object_id=f"{engine.name}/{before.id[:12]}",
        object_repr=before.name,
        before={"state": before.state, "status": before.status},
        after={"state": after.state, "status": after.status},
    )
    return after


def record_env_reveal(request: HttpRequest, engine: EngineRef, detail: ContainerDetail) -> None:
    """Someone read a container's environment variables: note who and which names (never the values)."""
    audit.record(
        "container.env.reveal",
        actor=request.user,
        source=audit.source_of(request),
        object_type="docker.container",
        object_id=f"{engine.name}/{detail.id[:12]}",
        object_repr=detail.name,
        after={"names": [name for name, _ in detail.env]},
    )
