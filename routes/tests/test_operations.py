"""routes/operations.py: the one write path under the routes page, the API and ``manage.py portico``.

The page, the API and the command must refuse and record alike, because they run the same operation.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from core.errors import Conflict, Forbidden, Stale
from core.models import AuditEntry
from routes import operations
from routes.models import Domain, Route
from routes.schemas import ConfigDocument
from routes.tests.test_views import HX, errors_of, route_data

pytestmark = pytest.mark.django_db

TARGETS = [{"host": "mytaskapi", "port": 80}]


@pytest.fixture
def operator(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def api(api_client, operator_user):
    return api_client(operator_user)


@pytest.fixture
def task(db) -> Route:
    return operations.create_route("gctask.test", {"path": "/task/", "targets": TARGETS}, actor=None, source="cli")


def api_json(client, method: str, url: str, body: dict, if_match: str | None = None):
    headers = {"If-Match": if_match} if if_match else {}
    return getattr(client, method)(url, json.dumps(body), content_type="application/json", headers=headers)


# --- races and stale edits ---------------------------------------------------------------


def test_a_page_create_that_loses_a_race_gets_a_form_error_not_a_500(operator, task, monkeypatch):
    # Both the form's check and the operation's pass, as they do when another request inserts the same path
    # between the check and the insert: the unique index then refuses the second insert.
    monkeypatch.setattr(operations, "ensure_path_free", lambda *args, **kwargs: None)
    url = reverse("routes:route-create", args=[task.domain_id])

    plain = operator.post(url, route_data("/task/"))
    assert plain.status_code == 409
    assert "gctask.test already has a route for /task/." in plain.content.decode()

    htmx = operator.post(url, route_data("/task/"), headers=HX)
    assert htmx.status_code == 200  # htmx swaps the form back in, with the refusal on the path field
    assert "already has a route for /task/" in errors_of(htmx.content.decode())[f"new-route-{task.domain_id}-err-path"]
    assert Route.objects.count() == 1
    assert not AuditEntry.objects.filter(action="route.create", source="ui").exists()


def test_a_page_domain_create_that_loses_a_race_gets_a_form_error(operator, task, monkeypatch):
    monkeypatch.setattr(operations, "ensure_domain_free", lambda name: None)
    response = operator.post(reverse("routes:domain-create"), {"name": "gctask.test"})
    assert response.status_code == 409
    assert "gctask.test already exists." in response.content.decode()
    assert Domain.objects.count() == 1


def test_a_stale_page_edit_and_a_stale_api_edit_get_the_same_refusal(operator, api, task):
    operations.update_route(task.pk, {"websocket": True}, actor=None, source="cli")  # now at version 2

    page = operator.post(reverse("routes:route-edit", args=[task.pk]), route_data("/task/", version="1"), headers=HX)
    page_error = errors_of(page.content.decode())[f"route-{task.pk}-err-__all__"]

    answer = api_json(api, "patch", f"/api/v1/routes/{task.pk}", {"read_timeout": 30}, if_match='"1"')
    assert answer.status_code == 412
    assert answer.json()["current_version"] == 2

    with pytest.raises(Stale) as refused:
        operations.update_route(task.pk, {"read_timeout": 30}, actor=None, source="cli", expected_version=1)
    assert page_error == answer.json()["detail"] == refused.value.message
    assert "gctask.test/task/ was changed by someone else" in page_error
    task.refresh_from_db()
    assert (task.version, task.read_timeout, task.connect_timeout) == (2, 60, 5)


def test_a_stale_delete_is_refused_by_the_operation(task):
    with pytest.raises(Stale):
        operations.delete_route(task.pk, actor=None, source="cli", expected_version=[3, 4])
    with pytest.raises(Stale):
        operations.delete_domain("gctask.test", cascade=True, actor=None, source="cli", expected_version=7)
    assert Route.objects.filter(pk=task.pk).exists()


# --- one audit shape ---------------------------------------------------------------------


def test_page_api_and_cli_record_the_same_before_and_after(operator, api, operator_user, portico, tmp_path):
    operator.post(reverse("routes:domain-create"), {"name": "page.test"})
    page_domain = Domain.objects.get(name="page.test")
    operator.post(reverse("routes:route-create", args=[page_domain.pk]), route_data("/task/"))
    page_route = Route.objects.get(domain=page_domain)
    api_json(api, "post", "/api/v1/routes", {"domain": "api.test", "path": "/task/", "targets": TARGETS})
    api_route = Route.objects.get(domain__name="api.test")

    created = {e.object_repr: e for e in AuditEntry.objects.filter(action="route.create")}
    page_after, api_after = created["page.test/task/"].after, created["api.test/task/"].after
    assert page_after == page_route.snapshot() and api_after == api_route.snapshot()
    assert {**page_after, "id": 0, "domain": ""} == {**api_after, "id": 0, "domain": ""}

    # The same change from the page (a click) and from the API (PATCH): the same action and shapes.
    operator.post(reverse("routes:route-toggle", args=[page_route.pk]))
    api_json(api, "patch", f"/api/v1/routes/{api_route.pk}", {"enabled": False})
    disabled = {e.object_repr: e for e in AuditEntry.objects.filter(action="route.disable")}
    assert set(disabled) == {"page.test/task/", "api.test/task/"}
    page_entry, api_entry = disabled["page.test/task/"], disabled["api.test/task/"]
    assert (page_entry.source, api_entry.source) == ("ui", "api")
    for entry, route in ((page_entry, page_route), (api_entry, api_route)):
        route.refresh_from_db()
        assert entry.after == route.snapshot()
        assert entry.before == {**route.snapshot(), "enabled": True}

    # Domains: created on the page, by the API (with its first route) and by the command, one shape.
    document = tmp_path / "cli.json"
    document.write_text(json.dumps({"domains": [{"name": "cli.test"}]}))
    assert portico("--user", operator_user.username, "import", str(document), "--format", "json")[0] == 0
    domain_entries = AuditEntry.objects.filter(action="domain.create").order_by("id")
    assert [e.source for e in domain_entries] == ["ui", "api"]
    for entry in domain_entries:
        assert entry.after == Domain.objects.get(name=entry.object_repr).snapshot()
    # The command replaces the whole state: its entry holds the documents, whose routes read as the snapshots do.
    imported = AuditEntry.objects.get(action="config.import")
    assert imported.source == "cli" and imported.actor_name == operator_user.username
    routes = {(d["name"], r["path"]): r for d in imported.before["domains"] for r in d["routes"]}
    page_route.refresh_from_db()
    snapshot = page_route.snapshot()
    assert routes[("page.test", "/task/")] == {k: v for k, v in snapshot.items() if k not in ("id", "domain")}


def test_deleting_a_domain_records_its_routes_in_the_same_shape(api, task):
    snapshot = Domain.objects.get().snapshot(with_routes=True)
    assert api.delete("/api/v1/domains/gctask.test?cascade=true").status_code == 204
    entry = AuditEntry.objects.get(action="domain.delete")
    assert entry.before == snapshot and entry.before["routes"][0]["path"] == "/task/"


# --- permission lives in the operation ---------------------------------------------------


def test_the_operations_refuse_a_viewer_whatever_the_transport(viewer_user, task):
    calls = [
        lambda: operations.create_domain("x.test", actor=viewer_user, source="ui"),
        lambda: operations.update_domain("gctask.test", {"notes": "x"}, actor=viewer_user, source="api"),
        lambda: operations.delete_domain("gctask.test", cascade=True, actor=viewer_user, source="api"),
        lambda: operations.create_route(
            "gctask.test", {"path": "/x/", "targets": TARGETS}, actor=viewer_user, source="ui"
        ),
        lambda: operations.update_route(task.pk, {"enabled": False}, actor=viewer_user, source="ui"),
        lambda: operations.delete_route(task.pk, actor=viewer_user, source="api"),
        lambda: operations.bulk_change([operations.BulkChange(task.pk, "disable")], actor=viewer_user, source="api"),
        lambda: operations.replace_state(ConfigDocument(), actor=viewer_user, source="cli"),
    ]
    audited = AuditEntry.objects.count()
    for call in calls:
        with pytest.raises(Forbidden, match="needs operate"):
            call()
    task.refresh_from_db()
    assert (task.enabled, task.version, Domain.objects.count(), AuditEntry.objects.count()) == (True, 1, 1, audited)


def test_the_command_refuses_a_viewer_named_with_user(viewer_user, task, portico, tmp_path):
    document = tmp_path / "empty.json"
    document.write_text(json.dumps({"domains": []}))
    code, _out, err = portico("--user", viewer_user.username, "import", str(document), "--prune")
    assert code == 1 and "needs operate" in err
    assert Route.objects.filter(pk=task.pk).exists()


def test_the_api_refuses_a_viewer_through_the_operation(api_client, viewer_user, task):
    viewer = api_client(viewer_user)
    answer = api_json(viewer, "post", "/api/v1/routes", {"domain": "gctask.test", "path": "/x/", "targets": TARGETS})
    assert answer.status_code == 403 and "needs operate" in answer.json()["detail"]
    assert Route.objects.count() == 1


def test_a_conflicting_path_is_a_conflict_naming_the_field(task):
    with pytest.raises(Conflict) as refused:
        operations.create_route(task.domain_id, {"path": "/task/", "targets": TARGETS}, actor=None, source="cli")
    assert refused.value.errors == [{"field": "path", "message": "gctask.test already has a route for /task/."}]
