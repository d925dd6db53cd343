"""The overview's SVG holds every domain, path and container with its live state, and follows changes."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from containers.docker.types import ContainerInfo, PortBinding
from dashboard import topology
from lab import build
from lab.tests.labs import host_network_spec
from routes.models import Domain, Route, Target

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English, whatever language an earlier test left active in this thread."""
    from django.utils import translation

    with translation.override("en"):
        yield


def nodes(svg: bytes) -> dict[tuple[str, str], str]:
    """(kind, name) -> state for every node of the picture."""
    root = ET.fromstring(svg)
    return {(g.get("data-kind"), g.get("data-name")): g.get("data-state") for g in root.iter(f"{SVG}g")}


def info(name: str, state: str = "running", **kwargs) -> ContainerInfo:
    return ContainerInfo(
        id=uuid.uuid4().hex, name=name, image="x", state=state, status="", created=datetime.now(UTC), **kwargs
    )


@pytest.mark.django_db
def test_build_places_each_column_and_links_nodes_to_their_pages():
    d = Domain.objects.create(name="gctask.test")
    front = Route.objects.create(domain=d, path="/")
    Target.objects.create(route=front, host="myfront", port=80)
    task = Route.objects.create(domain=d, path="/task/")
    Target.objects.create(route=task, host="127.0.0.1", port=18082)
    gone = Route.objects.create(domain=d, path="/user/", enabled=False)
    Target.objects.create(route=gone, host="myuserapi", port=80)
    containers = [
        info("myfront", networks=["php-mysql"]),
        info("mytaskapi", "exited", network_mode="host", labels={"portico.ports": "18082"}),
        info("mysql", networks=["php-mysql"], ports=[PortBinding(3306)]),
    ]
    domains = Domain.objects.prefetch_related("routes__targets")
    topo = topology.build(domains, containers, hosts_lookup=lambda name: ["10.0.0.5"], extra_containers=containers[2:])
    by_name = {(n.kind, n.label): n for n in topo.nodes}
    assert by_name[("domain", "gctask.test")].href == f"/routes/domains/{d.pk}/"
    assert by_name[("route", "/task/")].href == f"/routes/{task.pk}/"
    assert by_name[("route", "/user/")].state == "off"
    assert by_name[("container", "myfront")].state == "running"
    assert by_name[("container", "mytaskapi")].state == "exited"  # matched by its host-network port
    assert by_name[("container", "myuserapi:80")].state == "missing"
    assert by_name[("container", "mysql")].state == "running"  # shown though nothing routes to it
    assert by_name[("hosts", "hosts: gctask.test")].sublabel == "10.0.0.5"
    assert {("network", "php-mysql"), ("network", "host")} <= set(by_name)
    edges = {(e.source.id, e.target.id) for e in topo.edges}
    assert (f"route-{task.pk}", "container-mytaskapi") in edges
    assert ("container-mytaskapi", "network-host") in edges
    # columns go left to right in the order of a request
    xs = [by_name[k].x for k in [("browser", "Browser"), ("hosts", "hosts: gctask.test"), ("proxy", "nginx")]]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert all(0 <= n.y <= topo.height - topology.NODE_HEIGHT for n in topo.nodes)


@pytest.mark.django_db
def test_without_docker_targets_show_as_unknown():
    d = Domain.objects.create(name="gctask.test")
    r = Route.objects.create(domain=d, path="/")
    Target.objects.create(route=r, host="myfront", port=80)
    topo = topology.build(Domain.objects.prefetch_related("routes__targets"), None)
    assert [(n.label, n.state) for n in topo.of_kind("container")] == [("myfront:80", "unknown")]


@pytest.mark.django_db
def test_a_redirect_or_respond_route_says_what_nginx_answers_and_has_no_container():
    d = Domain.objects.create(name="shop.test")
    Route.objects.create(
        domain=d, path="/old/", action="redirect", redirect_url="https://new.example.com", redirect_code=308
    )
    Route.objects.create(domain=d, path="/gone/", action="respond", respond_status=410)
    topo = topology.build(Domain.objects.prefetch_related("routes__targets"), [])
    routes = {n.label: n.sublabel for n in topo.of_kind("route")}
    assert routes == {"/old/": "308 → https://new.example.com", "/gone/": "410"}
    assert topo.of_kind("container") == []


@pytest.mark.docker
@pytest.mark.django_db
def test_the_svg_of_the_live_lab_changes_when_a_container_stops(
    client,
    viewer_user,
    docker_sdk,
    test_image,
    managed_nginx,  # noqa: F811
):
    spec = host_network_spec(test_image)
    prefix = spec.prefix
    client.force_login(viewer_user)
    try:
        build.up(spec, say=lambda _: None)
        response = client.get("/overview/topology.svg")
        assert response["Content-Type"].startswith("image/svg+xml")
        seen = nodes(response.content)
        assert seen[("domain", spec.domain)] == "ok"
        for path in ("/", "/task/", "/user/"):
            assert seen[("route", path)] == "ok"
        for service in spec.services():
            assert seen[("container", service.name)] == "running"
        assert seen[("network", "host")] == "ok"

        docker_sdk.containers.get(f"{prefix}myuserapi").stop(timeout=2)
        partial = client.get("/", headers={"HX-Request": "true"})
        html = partial.content.decode()
        assert html.lstrip().startswith('<section id="overview-live"')
        svg = html[html.index("<svg") : html.index("</svg>") + 6]
        seen = nodes(svg.encode())
        assert seen[("container", f"{prefix}myuserapi")] == "exited"
        assert seen[("container", f"{prefix}myfront")] == "running"
        assert 'data-code="container-stopped"' in html

        # The same picture as data for scripts: GET /api/v1/topology.
        topo = client.get("/api/v1/topology").json()
        by_id = {n["id"]: n for n in topo["nodes"]}
        assert by_id[f"container-{prefix}myuserapi"]["state"] == "exited"
        assert by_id[f"container-{prefix}myfront"]["state"] == "running"
        user_route = next(n for n in topo["nodes"] if n["kind"] == "route" and n["label"] == "/user/")
        assert user_route["href"].startswith("/routes/")
        assert {"source": user_route["id"], "target": f"container-{prefix}myuserapi", "state": "exited"} in topo[
            "edges"
        ]
        stopped = [x for x in topo["lints"] if x["code"] == "container-stopped"]
        assert [x["container"] for x in stopped] == [f"{prefix}myuserapi"], topo["lints"]
        assert topo["docker_problem"] == ""
    finally:
        build.down(spec, say=lambda _: None)
