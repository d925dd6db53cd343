"""Container status across engines, joined with the routes that point at each container.

The list comes from one engine API call per engine (``DockerClient.list_containers``); engines are asked in
parallel with a deadline, so a dead or slow engine shows its reason and never holds up the others.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from containers.docker.client import DockerError
from containers.docker.types import ContainerInfo
from containers.engines import EngineRef, all_engines, client_for, get_engine

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="portico-engines")

MANAGE_LABEL = "portico.manage"  # with PORTICO_CONTAINER_SCOPE=labelled: the containers actions may touch
ACTIONS = ("start", "stop", "restart")  # what containers.operations.run_action does; each row links them


@dataclass(frozen=True)
class RouteLink:
    """A route target that points at a container."""

    route_id: int
    domain: str
    path: str
    target: str
    enabled: bool
    host: str = ""

    def __str__(self) -> str:
        return f"{self.domain}{self.path}"


@dataclass
class ContainerRow:
    """A container with its routes and the warnings a person should see."""

    info: ContainerInfo
    routes: list[RouteLink] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    href: str = ""  # the container's page on its engine (link_rows fills it in)
    action_hrefs: dict[str, str] = field(default_factory=dict)  # start / stop / restart -> URL
    action_confirms: dict[str, str] = field(default_factory=dict)  # start / stop / restart -> the question

    @property
    def in_scope(self) -> bool:
        """Whether PORTICO_CONTAINER_SCOPE lets actions touch it (its routes are the targets pointing at it)."""
        return scope_allows(self.info, is_target=bool(self.routes))


_MARKER = "portico-ref-marker"


def link_rows(engine: EngineRef, rows: list[ContainerRow]) -> list[ContainerRow]:
    """Give each row the URLs of its page and actions on ``engine``.

    The patterns are reversed once per call and the name filled in per row: a ``{% url %}`` per button and row
    was a third of the containers page's time at 300 containers (bench/containers.py). Container names are
    ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, which reverse() leaves as they are, so the replacement is what it would give.
    """
    detail = reverse("containers:detail", args=[_MARKER])
    actions = {action: reverse("containers:action", args=[_MARKER, action]) for action in ACTIONS}
    query = "?" + urlencode({"engine": engine.name})
    questions = {
        "start": _("Start %(name)s?"),
        "restart": _("Restart %(name)s?"),
        "stop": _("Stop %(name)s? Routes to it will answer 502."),
    }
    for row in rows:
        name = quote(row.info.name, safe="")
        row.href = detail.replace(_MARKER, name) + query
        row.action_hrefs = {action: url.replace(_MARKER, name) + query for action, url in actions.items()}
        row.action_confirms = {action: text % {"name": row.info.name} for action, text in questions.items()}
    return rows


@dataclass
class EngineListing:
    """One engine's containers, or the reason it could not be listed and what to do about it."""

    engine: EngineRef
    rows: list[ContainerRow] = field(default_factory=list)
    error: str = ""
    hint: str = ""
    detail: str = ""  # what the engine (or whatever answered at its URL) said: admins only

    @property
    def ok(self) -> bool:
        return not self.error


def _targets():
    from routes.models import Target

    return list(Target.objects.select_related("route__domain").order_by("route__domain__name", "route__path"))


def points_at(host: str, port: int, info: ContainerInfo) -> bool:
    """Whether a route target (host, port) reaches this container (see CONTRACTS.md)."""
    host = host.strip().lower()
    if host.lstrip("/") == info.name.lower():
        return True
    return host in LOOPBACK and port in info.host_ports


def scope_allows(info: ContainerInfo, *, is_target: bool) -> bool:
    """PORTICO_CONTAINER_SCOPE's rule: all, labelled (portico.manage=true), targets, or labelled+targets."""
    parts = settings.PORTICO_CONTAINER_SCOPE.split("+")
    if "all" in parts:
        return True
    if "labelled" in parts and info.labels.get(MANAGE_LABEL) == "true":
        return True
    return "targets" in parts and is_target


def is_route_target(info: ContainerInfo) -> bool:
    """Whether any route's target (enabled or not) points at this container."""
    return any(points_at(t.host, t.port, info) for t in _targets())


def in_scope(info: ContainerInfo) -> bool:
    """Whether PORTICO_CONTAINER_SCOPE lets start/stop/restart touch this container (decided on the engine's
    current labels and the stored routes, whatever the page showed)."""
    return scope_allows(info, is_target=is_route_target(info))


def route_links(infos: list[ContainerInfo], targets=None) -> dict[str, list[RouteLink]]:
    """Container id -> the routes whose targets point at it (one query for all targets)."""
    targets = _targets() if targets is None else targets
    links: dict[str, list[RouteLink]] = {c.id: [] for c in infos}
    for target in targets:
        route = target.route
        for info in infos:
            if points_at(target.host, target.port, info):
                link = RouteLink(
                    route.pk, route.domain.name, route.path, str(target), route.enabled, target.host.lower()
                )
                if link not in links[info.id]:
                    links[info.id].append(link)
    return links


def _proxy_container(infos: list[ContainerInfo]) -> ContainerInfo | None:
    name = getattr(settings, "PORTICO_NGINX_CONTAINER", "") or ""
    if not name:
        return None
    return next((c for c in infos if c.name == name.lstrip("/")), None)


def warnings_for(info: ContainerInfo, links: list[RouteLink], proxy: ContainerInfo | None) -> list[str]:
    """What is wrong between a routed container and the proxy (nothing for a container without routes)."""
    if not links:
        return []
    found = []
    routes = ", ".join(str(link) for link in links[:3]) + ("…" if len(links) > 3 else "")
    if not info.running:
        found.append(
            _("Routed container is %(state)s: %(routes)s will answer 502.") % {"state": info.state, "routes": routes}
        )
    public = [p for p in info.published_ports if p.host_ip not in ("127.0.0.1", "::1")]
    if public:
        ports = ", ".join(str(p) for p in public)
        found.append(
            _(
                "Publishes %(ports)s on the host: clients can reach it directly and bypass the proxy. Remove the port mapping (or bind it to 127.0.0.1)."
            )
            % {"ports": ports}
        )
    by_name = any(link.host not in LOOPBACK for link in links)
    proxy_applies = proxy is not None and proxy.id != info.id and proxy.network_mode != "host"
    if proxy_applies and by_name and not set(info.networks) & set(proxy.networks):
        found.append(
            _(
                "Not on the proxy container's network (%(networks)s): nginx in %(proxy)s cannot reach it by name. "
                "Connect it with docker network connect."
            )
            % {"networks": ", ".join(proxy.networks) or "-", "proxy": proxy.name}
        )
    return found


def rows_for(infos: list[ContainerInfo], targets=None) -> list[ContainerRow]:
    """Join containers with their routes and warnings."""
    links = route_links(infos, targets)
    proxy = _proxy_container(infos)
    return [ContainerRow(info, links[info.id], warnings_for(info, links[info.id], proxy)) for info in infos]


def _list_one(engine: EngineRef, filters: dict) -> list[ContainerInfo]:
    return client_for(engine).list_containers(**filters)


def list_engines(
    engine: str = "", *, name: str = "", state: str = "", network: str = "", project: str = "", routed: bool = False
) -> list[EngineListing]:
    """Every engine (or just ``engine``) with its containers joined to routes; dead engines carry their reason."""
    engines = [get_engine(engine)] if engine else all_engines()
    filters = {"name": name, "state": state, "network": network, "project": project}
    futures = {e: _pool.submit(_list_one, e, filters) for e in engines}
    deadline = settings.PORTICO_DOCKER_TIMEOUT
    concurrent.futures.wait(futures.values(), timeout=deadline)
    targets = _targets()
    listings = []
    for eng, future in futures.items():
        if not future.done():
            listings.append(
                EngineListing(
                    eng,
                    error=_("%(url)s did not answer within %(s)s s.") % {"url": eng.display_url, "s": deadline},
                    hint=eng.fix_hint(),
                )
            )
            continue
        try:
            infos = future.result()
        except DockerError as exc:
            listings.append(EngineListing(eng, error=exc.reason, hint=eng.fix_hint(), detail=exc.detail))
            continue
        rows = rows_for(infos, targets)
        if routed:
            rows = [r for r in rows if r.routes]
        listings.append(EngineListing(eng, rows=link_rows(eng, rows)))
    return listings


def container_row(engine: EngineRef, info: ContainerInfo) -> ContainerRow:
    """One container's row (after an action): its routes and warnings, with the proxy looked up if configured."""
    proxy = None
    if getattr(settings, "PORTICO_NGINX_CONTAINER", ""):
        try:
            proxy = _proxy_container(client_for(engine).list_containers(name=settings.PORTICO_NGINX_CONTAINER))
        except DockerError:
            proxy = None
    links = route_links([info])
    return link_rows(engine, [ContainerRow(info, links[info.id], warnings_for(info, links[info.id], proxy))])[0]


def inspect(engine: EngineRef, ref: str) -> ContainerRow:
    """One container inspected on ``engine`` (``row.info`` is its ContainerDetail) with its routes and warnings.

    Raises the wrapper's ContainerNotFound and DockerError."""
    return container_row(engine, client_for(engine).container(ref))


@dataclass(frozen=True)
class TargetChoice:
    """A running container a route can point at: the host to write in the target and the ports it serves."""

    engine: str
    container: str
    host: str
    ports: list[int]
    network_mode: str
    image: str


def target_choices(engine: str = "") -> list[TargetChoice]:
    """Running containers with their exposed ports, for the routes UI's target picker.

    One list call per engine (or only ``engine``); engines that do not answer are skipped (the containers page
    shows why). ``host`` is what a target should say: the container's name, or ``127.0.0.1`` for a container
    on the host network (it listens on the host; its ports come from the ``portico.ports`` label).
    Containers without any known port are still listed with ``ports == []`` so the person can type one.
    Never raises DockerError.
    """
    choices = []
    for listing in list_engines(engine, state="running"):
        for row in listing.rows:
            info = row.info
            host = "127.0.0.1" if info.network_mode == "host" else info.name
            choices.append(
                TargetChoice(listing.engine.name, info.name, host, info.listen_ports, info.network_mode, info.image)
            )
    return choices


def domain_containers(domain: str) -> tuple[list[tuple[EngineRef, ContainerInfo]], list[str]]:
    """The containers the routes of ``domain`` point at, on every engine; plus the engines' errors.

    Raises LookupError when the domain does not exist.
    """
    from routes.models import Domain, Target

    if not Domain.objects.filter(name=domain).exists():
        raise LookupError(f"no domain named {domain!r}")
    targets = list(Target.objects.filter(route__domain__name=domain).select_related("route__domain"))
    found: list[tuple[EngineRef, ContainerInfo]] = []
    errors: list[str] = []
    for listing in list_engines():
        if not listing.ok:
            errors.append(f"{listing.engine.name}: {listing.error}")
            continue
        for row in listing.rows:
            if any(points_at(t.host, t.port, row.info) for t in targets):
                found.append((listing.engine, row.info))
    return found, errors
