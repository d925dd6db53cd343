"""The target picker against the real Docker engine, and the route form when Docker is unreachable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from routes.models import Domain, Route
from routes.picker import target_choices

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def test_running_host_network_containers_are_offered_on_127_0_0_1_with_their_ports(run_container):
    served = run_container("sleep 60", network_mode="host", labels={"portico.ports": "9090,8080"})
    bare = run_container("sleep 60", network_mode="host")
    hidden = run_container("sleep 60", network_mode="none")
    stopped = run_container("sleep 60", network_mode="host", labels={"portico.ports": "7070"})
    stopped.stop(timeout=1)
    choices = target_choices()
    assert choices.error == ""
    mine = [(c.host, c.port, c.value) for c in choices.choices if c.container == served.name]
    assert mine == [("127.0.0.1", 8080, "127.0.0.1:8080"), ("127.0.0.1", 9090, "127.0.0.1:9090")]
    (no_port,) = [c for c in choices.choices if c.container == bare.name]
    assert (no_port.host, no_port.port, no_port.value) == ("127.0.0.1", None, "127.0.0.1:")
    assert "type the port" in no_port.label
    names = {c.container for c in choices.choices}
    assert hidden.name not in names  # network "none": nothing can reach it
    assert stopped.name not in names


def test_an_unreachable_engine_gives_the_reason_instead_of_choices(settings, tmp_path):
    settings.PORTICO_DOCKER_URL = f"unix://{tmp_path}/no.sock"
    choices = target_choices()
    assert choices.choices == []
    assert "no.sock" in choices.error


def test_the_route_form_works_with_typed_targets_when_docker_is_down(client, operator_user, settings, tmp_path):
    settings.PORTICO_DOCKER_URL = f"unix://{tmp_path}/no.sock"
    client.force_login(operator_user)
    domain = Domain.objects.create(name="gctask.test")
    url = reverse("routes:route-create", args=[domain.pk])
    form = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="picker-error"' in form and "no.sock" in form
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


def test_the_route_form_offers_a_running_container_with_its_port(client, operator_user, run_container):
    served = run_container("sleep 60", network_mode="host", labels={"portico.ports": "8081"})
    client.force_login(operator_user)
    domain = Domain.objects.create(name="gctask.test")
    url = reverse("routes:route-create", args=[domain.pk])
    form = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert f'<option value="127.0.0.1:8081">{served.name}: 127.0.0.1:8081' in form
