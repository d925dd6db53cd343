"""Lints: the desired routes checked against the live containers, for the overview and every plan.

Each lint is a mistake the class makes often and the proxy does not report by itself:

- ``container-stopped``: a route points at a container that is not running (nginx answers 502 there);
- ``port-published``: a routed container also publishes its port on the host's public interfaces, so
  clients can skip the proxy (and its single origin);
- ``not-on-proxy-network``: the proxy cannot reach a container it routes to by name (no shared Docker
  network, or the proxy runs on the host where container names do not resolve);
- ``path-without-slash``: a path like ``/task`` is a prefix, so nginx sends ``/taskforce`` there too.

``lint`` is pure (the caller passes the containers); ``lint_live`` reads them from every engine and
``plan_warnings`` gives the strings that ``publishing.operations.plan`` shows. ``ContainerRoutes`` gives the containers
pages the same findings for each container (the one container-vs-proxy rule) with the routes pointing at it.
Messages are translated with the active language (the API answers in English).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from containers.docker.types import ContainerInfo
from containers.status import RouteLink, every_container, points_at
from routes.models import Domain, Target
from routes.schemas import ConfigDocument
from routes.state import export_document

HOST = "host"  # the proxy runs on the host itself (Portico's managed nginx, a system nginx)
# Docker's container states as people read them (the codes stay Docker's).
STATE_LABELS = {
    "running": gettext_lazy("running"),
    "exited": gettext_lazy("exited"),
    "created": gettext_lazy("created"),
    "paused": gettext_lazy("paused"),
    "restarting": gettext_lazy("restarting"),
    "removing": gettext_lazy("removing"),
    "dead": gettext_lazy("dead"),
}


class PortLike(Protocol):
    host_ip: str
    host_port: int | None


class ContainerLike(Protocol):
    """What a lint needs from a container: ``containers.docker.types.ContainerInfo`` has all of it."""

    name: str
    state: str
    networks: list[str]
    network_mode: str

    @property
    def public_ports(self) -> Sequence[PortLike]: ...

    @property
    def host_ports(self) -> set[int]: ...


@dataclass(frozen=True)
class Lint:
    """One finding; ``code`` is stable (tests, API), ``message`` is for people."""

    code: str
    message: str
    domain: str = ""
    path: str = ""
    container: str = ""

    def __str__(self) -> str:
        return self.message


def target_containers(host: str, port: int, containers: Iterable[ContainerLike]) -> list[ContainerLike]:
    """The containers a target points at, by the one matcher the containers page uses too (``points_at``)."""
    return [c for c in containers if points_at(host, port, c)]


def proxy_location() -> str | None:
    """Where the configured proxy runs: a container name, ``HOST``, or None when unknown (NPM)."""
    if settings.PORTICO_PUBLISHER != "nginx":
        return getattr(settings, "PORTICO_NPM_CONTAINER", "") or None
    if settings.PORTICO_NGINX_MODE == "container":
        return settings.PORTICO_NGINX_CONTAINER or None
    return HOST


def _path_lint(domain: str, path: str) -> Lint | None:
    if path == "/" or path.endswith("/"):
        return None
    return Lint(
        "path-without-slash",
        _(
            "%(domain)s%(path)s has no trailing slash: nginx matches it as a prefix, so %(path)sforce and "
            "%(path)s.json go there too. Use %(path)s/ (nginx then redirects %(path)s to %(path)s/)."
        )
        % {"domain": domain, "path": path},
        domain,
        path,
    )


def lint(
    document: ConfigDocument, containers: Sequence[ContainerLike] | None, *, proxy: str | None = HOST
) -> list[Lint]:
    """Every lint for the enabled routes of ``document``.

    ``containers`` is the engine's list (None when Docker is unavailable: only the path lints run). ``proxy`` is
    where the proxy runs: a container name, ``HOST``, or None when unknown (the network lint is skipped).
    """
    found: list[Lint] = []
    by_name = {c.name: c for c in containers or []}
    proxy_container = by_name.get(proxy) if proxy not in (None, HOST) else None
    for domain in document.domains:
        if not domain.enabled:
            continue
        for route in domain.routes:
            if not route.enabled:
                continue
            path_lint = _path_lint(domain.name, route.path)
            if path_lint:
                found.append(path_lint)
            if containers is None:
                continue
            for target in route.targets:
                for c in target_containers(target.host, target.port, containers):
                    found.extend(_container_lints(domain.name, route.path, target.host, c, proxy, proxy_container))
    # One finding per (code, route, container): several targets on the same container say it once.
    unique: dict[tuple[str, str, str, str], Lint] = {}
    for item in found:
        unique.setdefault((item.code, item.domain, item.path, item.container), item)
    return list(unique.values())


def _container_lints(domain, path, host, c, proxy, proxy_container) -> list[Lint]:
    found = []
    params = {"route": f"{domain}{path}", "container": c.name, "state": str(STATE_LABELS.get(c.state, c.state))}
    if c.state != "running":
        found.append(
            Lint(
                "container-stopped",
                _("%(route)s points at %(container)s, which is %(state)s: nginx answers 502 there until it runs.")
                % params,
                domain,
                path,
                c.name,
            )
        )
    public = c.public_ports
    if public:
        ports = ", ".join(f"{p.host_ip or '0.0.0.0'}:{p.host_port}" for p in public)
        found.append(
            Lint(
                "port-published",
                _(
                    "%(container)s is routed through the proxy (%(route)s) but also publishes %(ports)s on the "
                    "host: clients can bypass the proxy and its single origin. Remove the port mapping (-p)."
                )
                % {**params, "ports": ports},
                domain,
                path,
                c.name,
            )
        )
    by_name = host.strip().lstrip("/").lower() == c.name.lower()
    if by_name and proxy == HOST and c.network_mode != "host":
        found.append(
            Lint(
                "not-on-proxy-network",
                _(
                    "%(route)s names the container %(container)s, but the proxy runs on the host, where container "
                    "names do not resolve. Run the proxy in a container on %(container)s's network, or use host "
                    "networking and 127.0.0.1:<port>."
                )
                % params,
                domain,
                path,
                c.name,
            )
        )
    elif by_name and proxy_container is not None and proxy_container.network_mode != "host":
        shared = set(proxy_container.networks) & set(c.networks)
        if not shared:
            found.append(
                Lint(
                    "not-on-proxy-network",
                    _(
                        "%(container)s (networks: %(networks)s) shares no Docker network with the proxy %(proxy)s "
                        "(networks: %(proxy_networks)s): the proxy cannot reach it. Connect it: docker network "
                        "connect %(network)s %(container)s."
                    )
                    % {
                        **params,
                        "networks": ", ".join(c.networks) or "-",
                        "proxy": proxy_container.name,
                        "proxy_networks": ", ".join(proxy_container.networks) or "-",
                        "network": (proxy_container.networks or ["<network>"])[0],
                    },
                    domain,
                    path,
                    c.name,
                )
            )
    return found


def lint_live(document: ConfigDocument | None = None) -> tuple[list[Lint], str]:
    """Lints against every engine's containers; returns them and Docker's problem ("" when all answered)."""
    document = document if document is not None else export_document()
    containers, problem = every_container()
    return lint(document, containers, proxy=proxy_location()), problem


def plan_warnings(document: ConfigDocument) -> list[str]:
    """The lints as plan warnings (``publishing.operations.plan`` adds them to the publisher's own warnings)."""
    lints, problem = lint_live(document)
    warnings = [lint_.message for lint_ in lints]
    if problem:
        warnings.append(_("Container checks skipped: Docker is unavailable (%(reason)s).") % {"reason": problem})
    return warnings


class ContainerRoutes:
    """What the containers pages show about routes: the routes pointing at each container and the lints about it,
    by the same rule as every plan's (containers.status asks through the RouteBook the routes app registers)."""

    def annotate(
        self, infos: Sequence[ContainerInfo], listing: Sequence[ContainerInfo]
    ) -> dict[str, tuple[list[RouteLink], list[str]]]:
        """Container id -> the routes whose targets point at it and the lints of its enabled routes."""
        targets = list(Target.objects.select_related("route__domain").order_by("route__domain__name", "route__path"))
        proxy = proxy_location()
        proxy_container = next((c for c in listing if c.name == proxy), None) if proxy not in (None, HOST) else None
        notes: dict[str, tuple[list[RouteLink], list[str]]] = {}
        for info in infos:
            links: list[RouteLink] = []
            warnings: list[str] = []
            for target in targets:
                if not points_at(target.host, target.port, info):
                    continue
                route = target.route
                link = RouteLink(
                    route.pk, route.domain.name, route.path, str(target), route.enabled, target.host.lower()
                )
                if link not in links:
                    links.append(link)
                if route.enabled and route.domain.enabled:
                    found = _container_lints(route.domain.name, route.path, target.host, info, proxy, proxy_container)
                    warnings.extend(f.message for f in found if f.message not in warnings)
            notes[info.id] = (links, warnings)
        return notes

    def proxy_name(self) -> str:
        """The proxy's container name, "" when it runs on the host or is unknown."""
        proxy = proxy_location()
        return "" if proxy in (None, HOST) else str(proxy)

    def is_target(self, info: Any) -> bool:
        """Whether any route's target (enabled or not) points at the container."""
        return any(points_at(t.host, t.port, info) for t in Target.objects.all())

    def domain_targets(self, domain: str) -> list[tuple[str, int]]:
        """The (host, port) targets of ``domain``'s routes; raises LookupError when there is no such domain."""
        if not Domain.objects.filter(name=domain).exists():
            raise LookupError(f"no domain named {domain!r}")
        return [(t.host, t.port) for t in Target.objects.filter(route__domain__name=domain)]
