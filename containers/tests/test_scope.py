"""PORTICO_CONTAINER_SCOPE: which containers start/stop/restart may touch, on the page and in the API alike."""

from __future__ import annotations

import pytest

from core.models import AuditEntry

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


@pytest.fixture
def three(run_container):
    """A plain container, one labelled portico.manage=true and one a route points at; all running."""
    from routes.models import Domain, Route, Target

    plain = run_container(["sleep", "300"])
    labelled = run_container(["sleep", "300"], labels={"portico.manage": "true"})
    target = run_container(["sleep", "300"])
    route = Route.objects.create(domain=Domain.objects.create(name="scope.test"), path="/")
    Target.objects.create(route=route, host=target.name, port=8080)
    return {"plain": plain, "labelled": labelled, "target": target}


def state(container) -> str:
    container.reload()
    return container.status


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [
        ("all", {"plain", "labelled", "target"}),
        ("labelled", {"labelled"}),
        ("targets", {"target"}),
        ("labelled+targets", {"labelled", "target"}),
    ],
)
def test_the_api_acts_only_on_containers_in_scope(settings, three, api_client, operator_user, scope, allowed):
    settings.PORTICO_CONTAINER_SCOPE = scope
    api = api_client(operator_user)
    for kind, container in three.items():
        response = api.post(f"/api/v1/containers/{container.name}/stop")
        if kind in allowed:
            assert response.status_code == 200, (kind, response.content)
            assert state(container) == "exited"
        else:
            assert response.status_code == 403, (kind, response.content)
            assert response.json()["detail"].startswith(f"{container.name} is outside PORTICO_CONTAINER_SCOPE")
            assert state(container) == "running"  # the engine was never asked
            refused = AuditEntry.objects.get(action="container.stop.refused", object_repr=container.name)
            assert refused.actor == operator_user


def test_an_admin_is_held_to_the_scope_too(settings, three, api_client, admin_user):
    settings.PORTICO_CONTAINER_SCOPE = "labelled"
    response = api_client(admin_user).post(f"/api/v1/containers/{three['plain'].name}/restart")
    assert response.status_code == 403
    assert "only containers labelled portico.manage=true" in response.json()["detail"]


def test_the_page_refuses_with_the_reason_and_acts_on_containers_in_scope(settings, three, client, operator_user):
    settings.PORTICO_CONTAINER_SCOPE = "targets"
    client.force_login(operator_user)
    plain, target = three["plain"], three["target"]

    response = client.post(f"/containers/c/{plain.name}/stop/", follow=True)
    assert "is outside PORTICO_CONTAINER_SCOPE" in response.content.decode()
    fragment = client.post(f"/containers/c/{plain.name}/restart/", headers={"HX-Request": "true"})
    assert "only containers a route points at" in fragment.content.decode()
    assert fragment["HX-Retarget"] == "#messages-slot"
    assert state(plain) == "running"

    client.post(f"/containers/c/{target.name}/stop/")
    assert state(target) == "exited"


def test_the_list_offers_actions_only_on_containers_in_scope(settings, three, client, operator_user):
    settings.PORTICO_CONTAINER_SCOPE = "labelled"
    client.force_login(operator_user)
    html = client.get("/containers/").content.decode()

    def row(container) -> str:
        start = html.index(f'id="container-{container.short_id}"')
        return html[start : html.index("</tr>", start)]

    assert 'data-testid="stop"' in row(three["labelled"])
    for kind in ("plain", "target"):
        assert 'data-testid="stop"' not in row(three[kind])
        assert 'data-testid="out-of-scope"' in row(three[kind])
    settings.PORTICO_CONTAINER_SCOPE = "all"
    assert 'data-testid="out-of-scope"' not in client.get("/containers/").content.decode()
