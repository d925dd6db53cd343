"""The class lab built and removed: ``up`` creates a Docker network, the front/task/user services (and MySQL when
asked), the routes ``<domain>/`` ``/task/`` ``/user/`` and applies them; ``down`` removes exactly what ``up``
created, found by the ``portico.lab`` label and the ids recorded in LabContainer, and the routes that still point
where ``up`` pointed them. Route changes go through routes.operations, publishing through publishing.operations;
``manage.py lab`` is the command line."""

from __future__ import annotations

from collections.abc import Callable

import pydantic
from django.utils.translation import gettext as _

from containers.docker.client import DockerError
from containers.docker.types import PORTS_LABEL, ContainerInfo
from core import audit
from core.errors import error_message
from lab.checks import created_by_lab, engine, proxy_container, proxy_step
from lab.models import LabContainer
from lab.spec import (
    DOMAIN_NOTE,
    LABEL,
    ROLE_LABEL,
    ROUTE_LABEL,
    SERVER_PY,
    SERVER_SH,
    SPEC_LABEL,
    LabError,
    LabSpec,
    Service,
    Step,
)
from publishing import operations
from routes.models import Domain
from routes.operations import replace_state
from routes.schemas import ConfigDocument, RouteSpec
from routes.state import export_document, writing_state


def _labels(spec: LabSpec, role: str, **extra: str) -> dict[str, str]:
    return {LABEL: spec.lab_id, ROLE_LABEL: role, SPEC_LABEL: spec.to_label(), **extra}


def _service_container(client, spec: LabSpec, service: Service, existing: dict[str, ContainerInfo]) -> str:
    """Run one service unless the container up created for it already runs; returns what happened.

    A labelled container up did not record (made by hand, or before Portico recorded them) is made again.
    """
    current = existing.get(service.name)
    if current and current.state == "running" and created_by_lab([current.id]):
        return _("already running")
    if current:
        client.remove_container(current.id)
        LabContainer.objects.filter(container_id=current.id).delete()
    labels = _labels(spec, service.role)
    if service.path:
        target = spec.target(service)
        labels[ROUTE_LABEL] = f"{spec.domain}{service.path} {target.host}:{target.port}"
    if spec.host_network:
        labels[PORTS_LABEL] = str(service.port)
    environment = {}
    command = None
    if service.default_server:
        command = ["sh", "-c", SERVER_SH]
        environment = {
            "PORTICO_LAB_NAME": service.name,
            "PORTICO_LAB_PORT": str(service.port),
            "PORTICO_LAB_BIND": "127.0.0.1" if spec.host_network else "0.0.0.0",
            "PORTICO_LAB_SERVER": SERVER_PY,
        }
    elif service.role == "mysql":
        environment = {"MYSQL_ROOT_PASSWORD": spec.mysql_password, "MYSQL_DATABASE": "gctask"}
    container_id = client.run_labelled(
        name=service.name,
        image=service.image,
        labels=labels,
        command=command,
        environment=environment or None,
        network=None if spec.host_network else spec.network_name,
        aliases=[service.name.removeprefix(spec.prefix)] if not spec.host_network else None,
        host_network=spec.host_network,
    )
    LabContainer.objects.create(container_id=container_id, lab_id=spec.lab_id, name=service.name)
    return _("started")


def _check_names_free(client, spec: LabSpec, existing: dict[str, ContainerInfo]) -> None:
    """Refuse to touch a container of the same name that this lab did not create."""
    names = {c.name for c in client.list_containers()}
    for service in spec.services():
        if service.name in names and service.name not in existing:
            raise LabError(
                _("A container named %(name)s exists and was not created by this lab; remove it or use --prefix.")
                % {"name": service.name}
            )


def up(spec: LabSpec, *, actor=None, say: Callable[[str], None] = print) -> list[Step]:
    """Build the scenario, idempotently; prints each step through ``say`` and returns them."""
    try:
        spec.domain_spec()  # the domain, paths and targets pass the same validators as the API
    except pydantic.ValidationError as exc:
        problems = "; ".join(error_message(error) for error in exc.errors())
        raise LabError(_("Invalid lab options: %(problems)s") % {"problems": problems}) from None
    client = engine()
    steps: list[Step] = []

    def done(key: str, title: str, detail: str = "") -> None:
        steps.append(Step(key, title, True, detail))
        say(f"✓ {title}" + (f": {detail}" if detail else ""))

    try:
        client.ping()
        done("engine", _("Docker engine answers"), client.display_url)
        images = sorted({s.image for s in spec.services()})
        missing = [image for image in images if not client.image_present(image)]
        if missing:
            raise LabError(
                _("Image not on this engine: %(images)s. Pull or load it first (docker pull %(first)s).")
                % {"images": ", ".join(missing), "first": missing[0]}
            )
        existing = {c.name: c for c in client.list_containers(label=f"{LABEL}={spec.lab_id}")}
        _check_names_free(client, spec, existing)
        if spec.host_network:
            done("network", _("Host networking"), _("services listen on 127.0.0.1 ports"))
        else:
            network = client.get_network(spec.network_name)
            if network is None:
                client.create_network(spec.network_name, _labels(spec, "network"))
                done("network", _("Network %(name)s") % {"name": spec.network_name}, _("created"))
            else:
                done("network", _("Network %(name)s") % {"name": spec.network_name}, _("already there"))
        for service in spec.services():
            what = _service_container(client, spec, service, existing)
            where = f"127.0.0.1:{service.port}" if spec.host_network else f"{spec.network_name}, :{service.port}"
            done(f"container-{service.role}", service.name, f"{what} ({service.image}, {where})")
        proxy = proxy_container()
        if proxy and not spec.host_network:
            network = client.get_network(spec.network_name)
            if network and proxy not in network.containers:
                client.connect_network(spec.network_name, proxy)
            done("proxy-network", _("Proxy %(proxy)s on %(network)s") % {"proxy": proxy, "network": spec.network_name})
    except DockerError as exc:
        raise LabError(exc.reason) from None
    done("routes", _("Routes"), ", ".join(_save_routes(spec, actor)))
    proxy = proxy_step(start=True)
    if proxy is not None:
        steps.append(proxy)
        say(f"{proxy.mark} {proxy.title}: {proxy.detail}")
    audit.record(
        "lab.up",
        actor=actor,
        source="cli",
        object_type="lab",
        object_repr=spec.lab_id,
        after={"steps": [f"{s.mark} {s.title}: {s.detail}" for s in steps]},
    )
    steps.append(_apply(actor, say))
    return steps


# It reads the whole state and writes it back: under the exclusive lock, so no write in between is lost.
@writing_state(exclusive=True)
def _save_routes(spec: LabSpec, actor) -> list[str]:
    existing = Domain.objects.filter(name=spec.domain).first()
    document = export_document()
    wanted = spec.domain_spec(existing)
    others = [d for d in document.domains if d.name != spec.domain]
    kept: list[RouteSpec] = []
    if existing:
        lab_paths = {r.path for r in wanted.routes}
        kept = [r for d in document.domains if d.name == spec.domain for r in d.routes if r.path not in lab_paths]
    merged = wanted.model_copy(update={"routes": sorted(kept + wanted.routes, key=lambda r: r.path)})
    replace_state(ConfigDocument(domains=[*others, merged]), prune=False, actor=actor, source="cli", action="lab.up")
    return [f"{spec.domain}{r.path} → {r.targets[0].host}:{r.targets[0].port}" for r in wanted.routes]


def _apply(actor, say: Callable[[str], None]) -> Step:
    """Publish the routes through the configured publisher (publishing.operations)."""
    revision = operations.apply(actor=actor, source="cli")
    ok = revision.status == "applied"
    detail = f"#{revision.number} {revision.status}" + ("" if ok else f": {revision.message}")
    say(f"{'✓' if ok else '✗'} {_('Apply')}: {detail}")
    return Step("apply", _("Apply"), ok, detail)


def down(spec: LabSpec, *, actor=None, say: Callable[[str], None] = print) -> list[str]:
    """Remove what ``up`` created for this lab id (containers, network, its routes); returns what was removed."""
    removed: list[str] = []
    client = engine()
    route_labels: set[str] = set()
    try:
        labelled = client.list_containers(label=f"{LABEL}={spec.lab_id}")
        for container in labelled:
            if container.labels.get(ROUTE_LABEL):
                route_labels.add(container.labels[ROUTE_LABEL])
            client.remove_container(container.id)
            LabContainer.objects.filter(container_id=container.id).delete()
            removed.append(_("container %(name)s") % {"name": container.name})
            say(f"✓ {removed[-1]}")
        for listed in client.list_networks(f"{LABEL}={spec.lab_id}"):
            network = client.get_network(listed.name) or listed  # the list call leaves out the containers
            proxy = proxy_container()
            if proxy and proxy in network.containers:
                client.disconnect_network(network.name, proxy)
            client.remove_network(network.name)
            removed.append(_("network %(name)s") % {"name": network.name})
            say(f"✓ {removed[-1]}")
    except DockerError as exc:
        raise LabError(exc.reason) from None
    for service in spec.services():
        if service.path:
            target = spec.target(service)
            route_labels.add(f"{spec.domain}{service.path} {target.host}:{target.port}")
    if removed:
        audit.record(
            "lab.down",
            actor=actor,
            source="cli",
            object_type="lab",
            object_repr=spec.lab_id,
            before={"removed": removed},
        )
    gone = _remove_routes(spec, route_labels, actor)
    for item in gone:
        removed.append(item)
        say(f"✓ {item}")
    if gone:
        step = _apply(actor, say)
        if step.ok is False:
            raise LabError(step.detail)
    return removed


# It reads the whole state and writes it back: under the exclusive lock, so no write in between is lost.
@writing_state(exclusive=True)
def _remove_routes(spec: LabSpec, route_labels: set[str], actor) -> list[str]:
    """Delete the routes ``up`` made that still point only where ``up`` pointed them, and its empty domain."""
    wanted = set()
    for text in route_labels:
        where, _sep, target = text.rpartition(" ")
        wanted.add((where, target))
    document = export_document()
    gone: list[str] = []
    domains = []
    for domain in document.domains:
        kept = []
        for route in domain.routes:
            targets = [f"{t.host}:{t.port}" if ":" not in t.host else f"[{t.host}]:{t.port}" for t in route.targets]
            if len(targets) == 1 and (f"{domain.name}{route.path}", targets[0]) in wanted:
                gone.append(_("route %(route)s") % {"route": f"{domain.name}{route.path}"})
            else:
                kept.append(route)
        lab_made = domain.notes == DOMAIN_NOTE.format(lab_id=spec.lab_id)
        if kept or not lab_made or len(kept) == len(domain.routes):
            domains.append(domain.model_copy(update={"routes": kept}))
        else:
            gone.append(_("domain %(name)s") % {"name": domain.name})
    if gone:
        replace_state(
            ConfigDocument.model_construct(version=1, domains=domains),
            prune=True,
            actor=actor,
            source="cli",
            action="lab.down",
        )
    return gone
