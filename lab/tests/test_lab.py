"""`manage.py lab`: builds the lecture's scenario on the real engine, reports it, and removes only its own parts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from lab import build, checks
from lab.models import LabContainer
from lab.spec import LABEL, SERVER_PY, SPEC_LABEL, LabError, LabSpec
from lab.tests.labs import host_network_spec
from routes.models import Domain, Route
from tests.support import free_port, wait_for_port

pytestmark = [pytest.mark.docker, pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English, whatever language an earlier test left active in this thread."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def spec(docker_sdk, test_image, managed_nginx):  # noqa: F811
    """A host-network lab with a unique prefix and free ports; whatever it leaves behind is removed."""
    spec = host_network_spec(test_image)
    yield spec
    for container in docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"}):
        container.remove(force=True)
    for network in docker_sdk.networks.list(filters={"label": f"{LABEL}={spec.lab_id}"}):
        network.remove()


def get(port: int, path: str) -> list[str]:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).text.splitlines()


def test_up_builds_the_scenario_and_each_service_answers_with_its_name_and_path(spec, docker_sdk):
    said: list[str] = []
    steps = build.up(spec, say=said.append)
    assert [s.key for s in steps if s.ok][:5] == [
        "engine",
        "network",
        "container-front",
        "container-task",
        "container-user",
    ]
    labelled = docker_sdk.containers.list(filters={"label": f"{LABEL}={spec.lab_id}"})
    assert sorted(c.name for c in labelled) == sorted(s.name for s in spec.services())
    for service in spec.services():
        wait_for_port(service.port)
        lines = get(service.port, service.path + "hello/")
        assert lines[0] == service.name
        assert lines[1] == f"path: {service.path}hello/"
    domain = Domain.objects.get(name=spec.domain)
    routes = {r.path: [(t.host, t.port) for t in r.targets.all()] for r in domain.routes.all()}
    assert routes == {
        "/": [("127.0.0.1", spec.front_port)],
        "/task/": [("127.0.0.1", spec.task_port)],
        "/user/": [("127.0.0.1", spec.user_port)],
    }
    assert any(line.startswith("✓ ") and f"{spec.domain}/task/ → 127.0.0.1:{spec.task_port}" in line for line in said)


def test_up_twice_changes_nothing_and_status_reports_each_step(spec, docker_sdk):
    build.up(spec, say=lambda _: None)
    ids = sorted(c.id for c in docker_sdk.containers.list(filters={"label": f"{LABEL}={spec.lab_id}"}))
    build.up(spec, say=lambda _: None)
    assert sorted(c.id for c in docker_sdk.containers.list(filters={"label": f"{LABEL}={spec.lab_id}"})) == ids
    for service in spec.services():
        wait_for_port(service.port)
    steps = {s.key: s for s in checks.status(spec)}
    for key in ("engine", "container-front", "container-task", "container-user", "routes"):
        assert steps[key].ok is True, steps[key]
    assert steps["network"].ok is None  # host networking: no network to create

    docker_sdk.containers.get(spec.prefix + "mytaskapi").stop(timeout=2)
    steps = {s.key: s for s in checks.status(spec)}
    assert steps["container-task"].ok is False
    assert steps["container-task"].detail == "exited"
    assert steps["container-task"].fix == f"docker start {spec.prefix}mytaskapi"
    assert steps["container-front"].ok is True


def test_down_removes_exactly_what_up_created(spec, docker_sdk, run_container):
    bystander = run_container(["sleep", "300"], name=f"{spec.prefix}bystander")
    Domain.objects.create(name=f"other-{spec.domain}")
    build.up(spec, say=lambda _: None)
    removed = build.down(spec, say=lambda _: None)
    assert f"container {spec.prefix}myfront" in removed
    assert not docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"})
    bystander.reload()
    assert bystander.status == "running"
    assert not Domain.objects.filter(name=spec.domain).exists()
    assert Domain.objects.filter(name=f"other-{spec.domain}").exists()
    assert build.down(spec, say=lambda _: None) == []


def test_down_keeps_a_route_someone_changed_after_up(spec):
    build.up(spec, say=lambda _: None)
    route = Route.objects.get(domain__name=spec.domain, path="/task/")
    target = route.targets.get()
    target.port = 9
    target.save()
    build.down(spec, say=lambda _: None)
    assert list(Route.objects.filter(domain__name=spec.domain).values_list("path", flat=True)) == ["/task/"]


def test_up_refuses_a_name_it_did_not_create(spec, docker_sdk, run_container):
    run_container(["sleep", "300"], name=spec.prefix + "myuserapi")
    with pytest.raises(LabError, match="was not created by this lab"):
        build.up(spec, say=lambda _: None)
    assert not docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"})
    assert not Domain.objects.filter(name=spec.domain).exists()


def test_network_mode_creates_a_labelled_network_with_the_services_and_removes_it(
    docker_sdk,
    test_image,
    managed_nginx,  # noqa: F811
):
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    spec = LabSpec(prefix=prefix, image=test_image, domain=f"{prefix}gctask.test")
    try:
        build.up(spec, say=lambda _: None)
        network = docker_sdk.networks.get(f"{prefix}php-mysql")
        assert network.attrs["Labels"][LABEL] == spec.lab_id
        network.reload()
        assert sorted(c.name for c in network.containers) == sorted(s.name for s in spec.services())
        routes = Route.objects.filter(domain__name=spec.domain).order_by("path")
        assert [(r.path, r.targets.get().host, r.targets.get().port) for r in routes] == [
            ("/", f"{prefix}myfront", 80),
            ("/task/", f"{prefix}mytaskapi", 80),
            ("/user/", f"{prefix}myuserapi", 80),
        ]
        build.down(spec, say=lambda _: None)
        assert not docker_sdk.networks.list(names=[f"{prefix}php-mysql"])
    finally:
        for container in docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"}):
            container.remove(force=True)
        for network in docker_sdk.networks.list(filters={"label": f"{LABEL}={spec.lab_id}"}):
            network.remove()


def test_missing_image_is_a_clear_error(db):
    spec = LabSpec(prefix=f"t{uuid.uuid4().hex[:8]}-", image="portico-test/not-there:0", host_network=True)
    with pytest.raises(LabError, match="docker pull portico-test/not-there:0"):
        build.up(spec, say=lambda _: None)


@pytest.mark.docker
def test_the_python_service_program_answers_like_the_busybox_one():
    """The default image (python:3.12-alpine) runs SERVER_PY; run that same program here on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "PORTICO_LAB_NAME": "mytaskapi",
        "PORTICO_LAB_PORT": str(port),
        "PORTICO_LAB_BIND": "127.0.0.1",
    }
    proc = subprocess.Popen([sys.executable, "-c", SERVER_PY], env=env)
    try:
        wait_for_port(port)
        response = httpx.get(f"http://127.0.0.1:{port}/task/items?x=1", headers={"Host": "gctask.com"}, timeout=5)
        assert response.text.splitlines() == ["mytaskapi", "path: /task/items?x=1", "host: gctask.com"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_the_command_builds_the_lab_and_the_proxy_reaches_each_service(spec, managed_nginx, tmp_path, monkeypatch):  # noqa: F811
    from io import StringIO

    from django.core.management import call_command

    ports = [
        "--front-port",
        str(spec.front_port),
        "--task-port",
        str(spec.task_port),
        "--user-port",
        str(spec.user_port),
    ]
    args = ["--prefix", spec.prefix, "--domain", spec.domain, "--host-network", *ports]
    out = StringIO()
    call_command("lab", "up", "--image", spec.image, "--server-ip", "203.0.113.7", *args, stdout=out)
    text = out.getvalue()
    assert f"203.0.113.7 {spec.domain}" in text
    assert f"http://{spec.domain}:{managed_nginx.port}/task/" in text
    assert "✗" not in text
    for service in spec.services():
        wait_for_port(service.port)
    # Through Portico's nginx, with the Host header a browser would send: each path reaches its container.
    for path, name in (
        ("/", "myfront"),
        ("/task/", "mytaskapi"),
        ("/user/", "myuserapi"),
        ("/task/items/", "mytaskapi"),
    ):
        response = managed_nginx.get(spec.domain, path)
        assert response.status_code == 200, (path, response.text)
        assert response.text.splitlines()[:2] == [spec.prefix + name, f"path: {path}"]

    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {spec.domain}  # the lab\n")
    monkeypatch.setattr(checks, "HOSTS_FILE", hosts)
    out = StringIO()
    call_command("lab", "status", *args, stdout=out)
    lines = out.getvalue().splitlines()
    for expected in (
        "✓ Docker engine answers",
        f"✓ {spec.prefix}myfront",
        f"✓ {spec.prefix}mytaskapi",
        f"✓ {spec.prefix}myuserapi",
        f"✓ Routes of {spec.domain}",
        "✓ The proxy runs",
        "✓ Routes applied to the proxy",
        f"✓ {spec.domain}/task/ reaches {spec.prefix}mytaskapi",
        f"✓ Hosts file maps {spec.domain}",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, lines)

    call_command("lab", "down", *args, stdout=StringIO())
    assert managed_nginx.get(spec.domain, "/task/").status_code == 404
    with pytest.raises(Exception, match="some steps are not done"):
        call_command("lab", "status", *args, stdout=(out := StringIO()))
    assert f"✗ {spec.prefix}mytaskapi: missing" in out.getvalue()


def test_a_bad_domain_is_refused_before_anything_is_created(docker_sdk):
    spec = LabSpec(prefix=f"t{uuid.uuid4().hex[:8]}-", domain="bad domain;", host_network=True)
    with pytest.raises(LabError, match="Invalid lab options"):
        build.up(spec, say=lambda _: None)
    assert not docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"})
    assert not Domain.objects.exists()


def test_with_nginx_in_a_container_the_proxy_joins_the_lab_network_and_leaves_it(settings, docker_sdk, test_image):
    """The lecture's own setup: the proxy is a container, so up connects it to the network and down detaches it."""
    from containers.docker.client import DockerClient
    from publishing.lints import lint
    from routes.state import export_document

    prefix = f"t{uuid.uuid4().hex[:8]}-"
    spec = LabSpec(prefix=prefix, image=test_image, domain=f"{prefix}gctask.test")
    own = docker_sdk.networks.create(f"{prefix}proxy-net", labels={"portico.test": "1"})
    proxy = docker_sdk.containers.run(
        test_image, ["sleep", "300"], name=f"{prefix}proxy", network=own.name, detach=True, init=True
    )
    settings.PORTICO_PUBLISHER = "nginx"
    settings.PORTICO_NGINX_MODE = "container"
    settings.PORTICO_NGINX_CONTAINER = proxy.name
    try:
        steps = {s.key: s for s in build.up(spec, say=lambda _: None)}
        assert steps["proxy-network"].ok is True
        proxy.reload()
        assert set(proxy.attrs["NetworkSettings"]["Networks"]) == {own.name, f"{prefix}php-mysql"}
        client = DockerClient()
        try:
            # Routes by container name, proxy on the same network, no published port: the clean lab has no lint.
            assert lint(export_document(), client.list_containers(), proxy=proxy.name) == []
        finally:
            client.close()
        status = {s.key: s for s in checks.status(spec, check_http=False)}
        assert status["proxy-network"].ok is True
        with pytest.raises(LabError):  # the busybox "proxy" has no nginx: the final apply fails, loudly
            build.down(spec, say=lambda _: None)
        proxy.reload()
        assert set(proxy.attrs["NetworkSettings"]["Networks"]) == {own.name}
        assert not docker_sdk.networks.list(names=[f"{prefix}php-mysql"])
        assert not docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"})
    finally:
        proxy.remove(force=True)
        own.remove()
        for container in docker_sdk.containers.list(all=True, filters={"label": f"{LABEL}={spec.lab_id}"}):
            container.remove(force=True)
        for network in docker_sdk.networks.list(filters={"label": f"{LABEL}={spec.lab_id}"}):
            network.remove()


def test_a_spec_label_keeps_only_values_of_the_expected_type():
    spec = LabSpec(prefix="p-", host_network=True, task_port=18082)
    assert LabSpec.from_label(spec.to_label()).to_label() == spec.to_label()
    odd = LabSpec.from_label('{"prefix": 5, "task_port": "80; rm", "host_network": "yes", "domain": "x.test"}')
    assert (odd.prefix, odd.task_port, odd.host_network, odd.domain) == ("", None, False, "x.test")
    assert LabSpec.from_label("not json").domain == "gctask.com"


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection made to it (and answers none)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _peer = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def test_the_guide_never_probes_ports_named_by_a_container_portico_did_not_create(client, viewer_user, run_container):
    """A spec label is only words on a container: made outside Portico, it must not turn a viewer's page load
    into a connection to whatever 127.0.0.1 port it names."""
    listener = Listener()
    try:
        port = listener.port
        crafted = LabSpec(
            prefix=f"t{uuid.uuid4().hex[:8]}-", host_network=True, front_port=port, task_port=port, user_port=port
        )
        labels = {LABEL: crafted.lab_id, SPEC_LABEL: crafted.to_label()}
        made = [run_container(["sleep", "300"], name=s.name, labels=labels) for s in crafted.services()]
        client.force_login(viewer_user)
        page = client.get(f"/lab/?lab={crafted.lab_id}")
        assert page.status_code == 200
        status = {s.key: s for s in checks.status(crafted)}  # even the crafted spec itself: no probe of these ports
        time.sleep(0.5)
        assert listener.connections == 0
        assert crafted.lab_id not in page.context["lab_ids"]
        assert status["container-task"].ok is False
        assert status["container-task"].detail == "not created by lab up"

        # The same containers, had lab up made them, are probed: the check above could have seen a connection.
        for container in made:
            LabContainer.objects.create(container_id=container.id, lab_id=crafted.lab_id, name=container.name)
        assert client.get(f"/lab/?lab={crafted.lab_id}").context["lab_ids"] == [crafted.lab_id]
        deadline = time.monotonic() + 10
        while listener.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listener.connections > 0
    finally:
        listener.close()


def test_up_makes_again_a_labelled_container_it_did_not_create(spec, run_container, docker_sdk):
    """A running container with the right name and labels is not taken over as "already running"."""
    labels = {LABEL: spec.lab_id, SPEC_LABEL: spec.to_label()}
    impostor = run_container(["sleep", "300"], name=spec.prefix + "mytaskapi", labels=labels)
    build.up(spec, say=lambda _: None)
    task = docker_sdk.containers.get(spec.prefix + "mytaskapi")
    assert task.id != impostor.id
    assert LabContainer.objects.filter(container_id=task.id, lab_id=spec.lab_id).exists()
    build.down(spec, say=lambda _: None)
    assert not LabContainer.objects.filter(lab_id=spec.lab_id).exists()
