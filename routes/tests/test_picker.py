"""The target picker against the real Docker engine, and the route form when Docker is unreachable."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from containers.docker_client import DockerClient
from routes.models import Domain, Route
from routes.picker import target_choices

pytestmark = pytest.mark.docker


@pytest.fixture
def exposing_container(docker_sdk, test_image, request):
    """A running host-network container whose config exposes 8080 and 9090 (docker run --expose, no publishing)."""
    api = docker_sdk.api
    created = api.create_container(
        test_image,
        ["sleep", "60"],
        name=f"portico-t-picker-{os.getpid()}",
        ports=[8080, 9090],
        labels={"portico.test": "1"},
        host_config=api.create_host_config(network_mode="host", init=True),
    )
    api.start(created["Id"])
    container = docker_sdk.containers.get(created["Id"])
    yield container
    container.remove(force=True)


def test_running_host_network_containers_are_offered_with_their_exposed_ports(run_container, exposing_container):
    host = exposing_container
    hidden = run_container("sleep 60", network_mode="none")
    stopped = run_container("sleep 60", network_mode="host")
    stopped.stop(timeout=1)
    choices = target_choices()
    assert choices.error == ""
    mine = [c for c in choices.choices if c.container == host.name]
    assert [(c.host, c.port, c.value) for c in mine] == [
        ("127.0.0.1", 8080, "127.0.0.1:8080"),
        ("127.0.0.1", 9090, "127.0.0.1:9090"),
    ]
    names = {c.container for c in choices.choices}
    assert hidden.name not in names  # network "none": nothing can reach it
    assert stopped.name not in names
    assert host.name in choices.names


def test_a_host_network_container_without_exposed_ports_is_offered_without_a_port(run_container):
    bare = run_container("sleep 60", network_mode="host")
    (choice,) = [c for c in target_choices().choices if c.container == bare.name]
    assert (choice.host, choice.port, choice.value) == ("127.0.0.1", None, "127.0.0.1:")
    assert "type the port" in choice.label


def test_an_unreachable_engine_gives_the_reason_instead_of_choices(tmp_path):
    choices = target_choices(DockerClient(url=f"unix://{tmp_path}/no.sock", timeout=2))
    assert choices.choices == []
    assert "no Docker socket" in choices.error


@pytest.mark.django_db
def test_the_route_form_works_with_typed_targets_when_docker_is_down(client, operator_user, settings, tmp_path):
    settings.PORTICO_DOCKER_URL = f"unix://{tmp_path}/no.sock"
    client.force_login(operator_user)
    domain = Domain.objects.create(name="gctask.test")
    url = reverse("routes:route-create", args=[domain.pk])
    form = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="picker-error"' in form and "no Docker socket" in form
    data = {
        "path": "/",
        "scheme": "http",
        "balance": "round_robin",
        "connect_timeout": "5",
        "read_timeout": "60",
        "enabled": "on",
        "targets-TOTAL_FORMS": "1",
        "targets-INITIAL_FORMS": "1",
        "targets-0-host": "myfront",
        "targets-0-port": "80",
        "targets-0-weight": "1",
    }
    assert client.post(url, data).status_code == 302
    assert [str(t) for t in Route.objects.get().targets.all()] == ["myfront:80"]
