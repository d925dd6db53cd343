"""The overview's picture: browser → hosts entry → proxy → domains → paths → containers → networks.

``build`` is pure (desired state + containers in, positioned nodes and edges out); ``current`` gathers the
live facts. The template dashboard/topology.svg draws the result; no JavaScript is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from containers.status import every_container
from lab.checks import hosts_file_maps
from lab.spec import LABEL
from publishing.lints import STATE_LABELS, Lint, lint, proxy_location, target_containers
from routes.models import Domain
from routes.state import export_document

COLUMNS = ("browser", "hosts", "proxy", "domain", "route", "container", "network")
COLUMN_WIDTH = 176
NODE_WIDTH = 150
NODE_HEIGHT = 40
ROW_HEIGHT = 52
MARGIN = 16
HEADER = 28


@dataclass
class Node:
    """A box in the picture; ``state`` picks its colour (running, exited, missing, ok, off...)."""

    id: str
    kind: str
    label: str
    sublabel: str = ""
    state: str = "ok"
    href: str = ""
    x: int = 0
    y: int = 0

    @property
    def title(self) -> str:
        return f"{self.label} — {self.sublabel}" if self.sublabel else self.label

    @property
    def short_label(self) -> str:
        return self.label if len(self.label) <= 21 else self.label[:20] + "…"

    @property
    def short_sublabel(self) -> str:
        return self.sublabel if len(self.sublabel) <= 26 else self.sublabel[:25] + "…"


@dataclass
class Edge:
    source: Node
    target: Node

    @property
    def path(self) -> str:
        """A horizontal S-curve from the right side of ``source`` to the left side of ``target``."""
        x1, y1 = self.source.x + NODE_WIDTH, self.source.y + NODE_HEIGHT // 2
        x2, y2 = self.target.x, self.target.y + NODE_HEIGHT // 2
        mid = (x1 + x2) // 2
        return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"

    @property
    def state(self) -> str:
        return self.target.state


@dataclass
class Topology:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    lints: list[Lint] = field(default_factory=list)
    docker_problem: str = ""
    width: int = 0
    height: int = 0
    columns: list[tuple[int, str]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]


def _route_detail(route, targets: list) -> str:
    """The route node's second line: its targets, or what nginx answers by itself instead."""
    if route.action == "redirect":
        return f"{route.redirect_code} → {route.redirect_url}"
    if route.action == "respond":
        return str(route.respond_status)
    return ", ".join(str(t) for t in targets)


def _url(name: str, *args, fragment: str = "") -> str:
    """The page's URL, or "" while that page does not exist (the streams land separately)."""
    try:
        return reverse(name, args=args) + (f"#{fragment}" if fragment else "")
    except NoReverseMatch:
        return ""


def _network_url(name: str) -> str:
    """The containers page filtered to one network (its ``network`` filter)."""
    base = _url("containers:index")
    return f"{base}?{urlencode({'network': name})}" if base else ""


def _container_url(name: str) -> str:
    return _url("containers:detail", name) or _url("containers:index")


def proxy_label() -> tuple[str, str]:
    """What the proxy is and where it listens, for its node."""
    if settings.PORTICO_PUBLISHER == "npm":
        return "Nginx Proxy Manager", settings.PORTICO_NPM_URL or ""
    mode = settings.PORTICO_NGINX_MODE
    if mode == "managed":
        host, port = settings.PORTICO_NGINX_LISTEN
        return "nginx", _("managed, %(address)s") % {"address": f"{host}:{port}"}
    if mode == "container":
        return "nginx", _("container %(name)s") % {"name": settings.PORTICO_NGINX_CONTAINER}
    return "nginx", _("system")


def build(
    domains: Sequence[Domain],
    containers: Sequence | None,
    *,
    hosts_lookup: Callable[[str], list[str]] = lambda domain: [],
    proxy: tuple[str, str] = ("nginx", ""),
    extra_containers: Sequence = (),
) -> Topology:
    """Place every node; ``containers`` None means Docker did not answer (targets then show as unknown).

    ``domains`` are model instances with ``routes`` and ``targets`` prefetched; ``extra_containers`` are shown
    even when no route points at them (the lab's own, e.g. MySQL).
    """
    topo = Topology()
    columns: dict[str, list[Node]] = {kind: [] for kind in COLUMNS}
    by_id: dict[str, Node] = {}

    def add(node: Node) -> Node:
        if node.id not in by_id:
            by_id[node.id] = node
            columns[node.kind].append(node)
        return by_id[node.id]

    browser = add(Node("browser", "browser", _("Browser"), _("the student's computer"), href=_url("lab")))
    proxy_name, proxy_where = proxy
    proxy_node = add(Node("proxy", "proxy", proxy_name, proxy_where, href=_url("routes:plan") or _url("routes:index")))
    container_list = list(containers or [])
    for domain in domains:
        mapped = hosts_lookup(domain.name)
        hosts = add(
            Node(
                f"hosts-{domain.name}",
                "hosts",
                f"hosts: {domain.name}",
                ", ".join(mapped) if mapped else _("no entry on this machine"),
                "ok" if mapped else "missing",
                href=_url("lab", fragment="hosts"),
            )
        )
        topo.edges.append(Edge(browser, hosts))
        topo.edges.append(Edge(hosts, proxy_node))
        domain_node = add(
            Node(
                f"domain-{domain.name}",
                "domain",
                domain.unicode_name,
                _("enabled") if domain.enabled else _("disabled"),
                "ok" if domain.enabled else "off",
                href=_url("routes:domain", domain.pk) or _url("routes:index"),
            )
        )
        topo.edges.append(Edge(proxy_node, domain_node))
        for route in domain.routes.all():
            targets = list(route.targets.all())
            route_node = add(
                Node(
                    f"route-{route.pk}",
                    "route",
                    route.path,
                    _route_detail(route, targets),
                    "ok" if route.enabled and domain.enabled else "off",
                    href=_url("routes:route", route.pk) or _url("routes:index"),
                )
            )
            topo.edges.append(Edge(domain_node, route_node))
            for target in targets:
                matched = target_containers(target.host, target.port, container_list) if containers is not None else []
                if not matched:
                    unknown = containers is None
                    node = add(
                        Node(
                            f"target-{target}",
                            "container",
                            str(target),
                            _("Docker unavailable") if unknown else _("no such container"),
                            "unknown" if unknown else "missing",
                        )
                    )
                    topo.edges.append(Edge(route_node, node))
                    continue
                for c in matched:
                    topo.edges.append(Edge(route_node, _container_node(add, c)))
    for c in extra_containers:
        _container_node(add, c)
    for node in list(columns["container"]):
        info = next((c for c in container_list if f"container-{c.name}" == node.id), None)
        if info is None:
            continue
        networks = ["host"] if info.network_mode == "host" else list(info.networks)
        for network in networks:
            net = add(
                Node(
                    f"network-{network}",
                    "network",
                    network,
                    _("host networking") if network == "host" else _("Docker network"),
                    href=_network_url(network),
                )
            )
            topo.edges.append(Edge(node, net))
    _place(topo, columns)
    # Edges drawn once each (two routes to one container share the node, not the edge).
    unique: dict[tuple[str, str], Edge] = {}
    for edge in topo.edges:
        unique.setdefault((edge.source.id, edge.target.id), edge)
    topo.edges = list(unique.values())
    return topo


def _container_node(add, c) -> Node:
    label = str(STATE_LABELS.get(c.state, c.state))
    return add(Node(f"container-{c.name}", "container", c.name, label, c.state, href=_container_url(c.name)))


def _place(topo: Topology, columns: dict[str, list[Node]]) -> None:
    rows = max((len(nodes) for nodes in columns.values()), default=1)
    topo.height = HEADER + MARGIN * 2 + rows * ROW_HEIGHT
    topo.width = MARGIN * 2 + len(COLUMNS) * COLUMN_WIDTH - (COLUMN_WIDTH - NODE_WIDTH)
    titles = {
        "browser": _("Browser"),
        "hosts": _("Hosts file"),
        "proxy": _("Proxy"),
        "domain": _("Domains"),
        "route": _("Paths"),
        "container": _("Containers"),
        "network": _("Networks"),
    }
    for index, kind in enumerate(COLUMNS):
        x = MARGIN + index * COLUMN_WIDTH
        topo.columns.append((x, titles[kind]))
        nodes = columns[kind]
        top = HEADER + MARGIN + (rows - len(nodes)) * ROW_HEIGHT // 2
        for row, node in enumerate(nodes):
            node.x, node.y = x, top + row * ROW_HEIGHT
            topo.nodes.append(node)


def current() -> Topology:
    """The picture of this machine now: the database's routes, every engine's containers, the lints."""
    domains = list(Domain.objects.prefetch_related("routes__targets").order_by("name"))
    containers, problem = every_container()
    extra = [c for c in containers or [] if LABEL in c.labels]
    topo = build(domains, containers, hosts_lookup=hosts_file_maps, proxy=proxy_label(), extra_containers=extra)
    where = proxy_location()
    topo.lints = lint(export_document(), containers, proxy=where if where else None)
    topo.docker_problem = problem
    return topo
