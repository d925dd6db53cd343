"""Each lint fires on a scenario built to trigger it on the real engine, and stays quiet on the clean lab."""

from __future__ import annotations

import uuid

import pytest

from containers.docker.client import DockerClient
from lab import build
from lab.spec import LabSpec
from publishing.lints import HOST, lint, plan_warnings
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec
from tests.support import free_port

pytestmark = [pytest.mark.docker]


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English, whatever language an earlier test left active in this thread."""
    from django.utils import translation

    with translation.override("en"):
        yield


def document(*routes: tuple[str, str, int], domain: str = "gctask.test") -> ConfigDocument:
    return ConfigDocument(
        domains=[
            DomainSpec(
                name=domain,
                routes=[RouteSpec(path=p, targets=[TargetSpec(host=h, port=port)]) for p, h, port in routes],
            )
        ]
    )


def containers() -> list:
    client = DockerClient()
    try:
        return client.list_containers()
    finally:
        client.close()


def codes(found) -> list[tuple[str, str, str]]:
    return sorted((item.code, item.path, item.container) for item in found)


@pytest.fixture
def unique() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def networks(docker_sdk, unique):
    """User-defined networks for wiring only (no traffic is sent), removed afterwards."""
    made = []

    def make(suffix: str):
        network = docker_sdk.networks.create(f"{unique}-{suffix}", labels={"portico.test": "1"})
        made.append(network)
        return network.name

    yield make
    for network in made:
        network.reload()
        for container in network.containers:
            network.disconnect(container, force=True)
        network.remove()


def test_path_without_trailing_slash_explains_what_nginx_matches():
    found = lint(document(("/task", "127.0.0.1", 9), ("/user/", "127.0.0.1", 9), ("/", "127.0.0.1", 9)), [], proxy=HOST)
    assert codes(found) == [("path-without-slash", "/task", "")]
    assert "/taskforce" in found[0].message
    assert "/task/" in found[0].message


@pytest.mark.django_db
def test_the_clean_lab_has_no_lint_and_a_stopped_service_has_one(
    docker_sdk,
    test_image,
    unique,
    managed_nginx,
):
    spec = LabSpec(
        prefix=f"{unique}-",
        image=test_image,
        host_network=True,
        domain=f"{unique}.test",
        front_port=free_port(),
        task_port=free_port(),
        user_port=free_port(),
    )
    try:
        build.up(spec, say=lambda _: None)
        from routes.state import export_document

        doc = export_document()
        assert lint(doc, containers(), proxy=HOST) == []
        assert plan_warnings(doc) == []
        docker_sdk.containers.get(f"{unique}-mytaskapi").stop(timeout=2)
        found = lint(doc, containers(), proxy=HOST)
        assert codes(found) == [("container-stopped", "/task/", f"{unique}-mytaskapi")]
        assert "exited" in found[0].message
        assert any(f"{unique}-mytaskapi" in w for w in plan_warnings(doc))
        # ...and every plan shows it next to the publisher's own warnings.
        from publishing import operations

        assert any(found[0].message == w for w in operations.plan().warnings)
    finally:
        build.down(spec, say=lambda _: None)


def test_a_routed_container_that_publishes_its_port_is_reported(run_container, networks):
    net = networks("pub")
    proxy = run_container(["sleep", "300"], network_mode=net)
    port = free_port()
    published = run_container(["sleep", "300"], network_mode=net, ports={"80/tcp": ("0.0.0.0", port)})
    quiet = run_container(["sleep", "300"], network_mode=net)
    doc = document(("/task/", published.name, 80), ("/user/", quiet.name, 80))
    found = lint(doc, containers(), proxy=proxy.name)
    assert codes(found) == [("port-published", "/task/", published.name)]
    assert f"0.0.0.0:{port}" in found[0].message


def test_a_target_names_its_container_in_any_case_as_the_containers_page_does(run_container, networks):
    # Docker's DNS answers container names case-insensitively, so nginx reaches the container either way.
    net = networks("case")
    proxy = run_container(["sleep", "300"], network_mode=net)
    published = run_container(["sleep", "300"], network_mode=net, ports={"80/tcp": ("0.0.0.0", free_port())})
    found = lint(document(("/task/", published.name.upper(), 80)), containers(), proxy=proxy.name)
    assert codes(found) == [("port-published", "/task/", published.name)]


def test_a_port_published_on_loopback_only_is_not_a_bypass(run_container, networks):
    net = networks("loop")
    proxy = run_container(["sleep", "300"], network_mode=net)
    local = run_container(["sleep", "300"], network_mode=net, ports={"80/tcp": ("127.0.0.1", free_port())})
    assert lint(document(("/task/", local.name, 80)), containers(), proxy=proxy.name) == []


def test_a_container_on_another_network_than_the_proxy_is_reported(docker_sdk, run_container, networks):
    front_net, back_net = networks("front"), networks("back")
    proxy = run_container(["sleep", "300"], network_mode=front_net)
    task = run_container(["sleep", "300"], network_mode=back_net)
    doc = document(("/task/", task.name, 80))
    found = lint(doc, containers(), proxy=proxy.name)
    assert codes(found) == [("not-on-proxy-network", "/task/", task.name)]
    assert f"docker network connect {front_net} {task.name}" in found[0].message
    docker_sdk.networks.get(front_net).connect(task)
    assert lint(doc, containers(), proxy=proxy.name) == []


def test_a_proxy_on_the_host_cannot_reach_a_container_by_name(run_container, networks):
    net = networks("named")
    task = run_container(["sleep", "300"], network_mode=net)
    found = lint(document(("/task/", task.name, 80)), containers(), proxy=HOST)
    assert codes(found) == [("not-on-proxy-network", "/task/", task.name)]
    assert "host" in found[0].message


def test_disabled_routes_and_unknown_proxies_are_not_linted(run_container, networks):
    net = networks("off")
    stopped = run_container(["sleep", "300"], network_mode=net)
    stopped.stop(timeout=1)
    doc = document(("/task/", stopped.name, 80))
    doc.domains[0].routes[0].enabled = False
    assert lint(doc, containers(), proxy=None) == []
    doc.domains[0].routes[0].enabled = True
    assert codes(lint(doc, containers(), proxy=None)) == [("container-stopped", "/task/", stopped.name)]


def test_without_docker_only_the_path_lints_run():
    found = lint(document(("/task", "mytaskapi", 80)), None, proxy=HOST)
    assert codes(found) == [("path-without-slash", "/task", "")]


@pytest.mark.django_db
def test_the_plan_lints_and_the_overview_see_every_engine(run_container, settings, tmp_path):
    from containers.engines import forget_clients
    from containers.models import Engine
    from dashboard import topology
    from publishing.lints import lint_live
    from routes.models import Domain, Route, Target

    container = run_container(["sh", "-c", "exit 0"])
    container.wait(timeout=20)
    # The engine holding the container is an added one; the built-in (default) one is dead.
    Engine.objects.create(name="second", url=settings.PORTICO_DOCKER_URL)
    settings.PORTICO_DOCKER_URL = f"unix://{tmp_path}/dead.sock"
    forget_clients()
    route = Route.objects.create(domain=Domain.objects.create(name="every.test"), path="/app/")
    Target.objects.create(route=route, host=container.name, port=8080)
    found, problem = lint_live()
    assert ("container-stopped", "/app/", container.name) in codes(found)
    assert problem.startswith("local: no Docker socket")
    topo = topology.current()
    assert topo.docker_problem == problem
    assert [node.sublabel for node in topo.of_kind("container") if node.label == container.name] == ["exited"]
    assert ("container-stopped", "/app/", container.name) in codes(topo.lints)
