"""GET /topology: the overview's picture as data (domains, paths, containers, networks) plus the lints."""

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from core.api import require
from dashboard import topology

router = Router(tags=["overview"])


class NodeOut(Schema):
    id: str = Field(description="Stable id: browser, proxy, hosts-<domain>, domain-<name>, route-<id>, ...")
    kind: str = Field(description="browser, hosts, proxy, domain, route, container or network")
    label: str
    detail: str = Field(description="The second line of the node: state, targets or address.")
    state: str = Field(description="ok, off, missing, unknown, or the container's Docker state")
    href: str = Field(description="The Portico page that shows this node ('' when there is none).")


class EdgeOut(Schema):
    source: str
    target: str
    state: str = Field(description="The state of the node the edge leads to.")


class LintOut(Schema):
    code: str = Field(description="Stable code of the finding, e.g. target-not-running.")
    message: str
    domain: str
    path: str
    container: str


class TopologyOut(Schema):
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    lints: list[LintOut]
    docker_problem: str = Field(description="Why the containers are unknown ('' when Docker answered).")


@router.get("/topology", response=TopologyOut, operation_id="dashboard_overview_api_get_topology")
def get_topology(request: HttpRequest) -> dict:
    """What the overview draws, as data: browser → hosts entry → proxy → domains → paths → containers →
    networks, each with its live state, and the lints (mistakes the lab commonly makes)."""
    require(request, "view_portico")
    topo = topology.current()
    return {
        "nodes": [
            {"id": n.id, "kind": n.kind, "label": n.label, "detail": n.sublabel, "state": n.state, "href": n.href}
            for n in topo.nodes
        ],
        "edges": [{"source": e.source.id, "target": e.target.id, "state": e.state} for e in topo.edges],
        "lints": [
            {"code": x.code, "message": x.message, "domain": x.domain, "path": x.path, "container": x.container}
            for x in topo.lints
        ],
        "docker_problem": topo.docker_problem,
    }
