"""Container actions (start, stop, restart) and environment reveals: each one goes to the audit log."""

from __future__ import annotations

from django.http import HttpRequest

from containers.docker_client import ContainerDetail, DockerError
from containers.engines import EngineRef, client_for
from dashboard import audit

ACTIONS = ("start", "stop", "restart")


def run_action(request: HttpRequest, engine: EngineRef, ref: str, action: str) -> ContainerDetail:
    """Run ``action`` on the container and record who did it; returns the container's new state.

    Raises DockerError (and subclasses); a failed attempt is recorded too.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    client = client_for(engine)
    before = client.container(ref)
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
