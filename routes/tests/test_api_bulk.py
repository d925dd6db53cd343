"""POST /api/v1/routes/bulk: many changes in one transaction; one bad item changes nothing and is named."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from routes.models import Route

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def op(api_client, operator_user):
    return api_client(operator_user)


@pytest.fixture
def ids(op):
    made = []
    for path in ("/", "/task/", "/user/"):
        body = {"domain": "gctask.test", "path": path, "targets": [{"host": "svc", "port": 80}]}
        made.append(op.post("/api/v1/routes", body, content_type="application/json").json()["id"])
    return made


def bulk(client, items):
    return client.post("/api/v1/routes/bulk", {"items": items}, content_type="application/json")


def state():
    return {
        r.path: (r.enabled, r.version, [(t.host, t.port) for t in r.targets.all()])
        for r in Route.objects.prefetch_related("targets")
    }


def test_a_bulk_change_applies_every_item(op, ids):
    response = bulk(
        op,
        [
            {"id": ids[0], "action": "disable"},
            {"id": ids[1], "action": "retarget", "targets": [{"host": "task2", "port": 8080}], "version": 1},
            {"id": ids[2], "action": "delete"},
        ],
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["id"], r["action"], r["changed"]) for r in results] == [
        (ids[0], "disable", True),
        (ids[1], "retarget", True),
        (ids[2], "delete", True),
    ]
    assert results[2]["route"] is None
    assert results[1]["route"]["targets"][0]["host"] == "task2"
    assert state() == {"/": (False, 2, [("svc", 80)]), "/task/": (True, 2, [("task2", 8080)])}
    audited = AuditEntry.objects.filter(message="bulk change").values_list("action", flat=True)
    # Named as the same change is named from the page: a disable is route.disable.
    assert sorted(audited) == ["route.delete", "route.disable", "route.update"]


def test_enabling_an_enabled_route_changes_nothing(op, ids):
    response = bulk(op, [{"id": ids[0], "action": "enable"}])
    assert response.json()["results"][0]["changed"] is False
    assert Route.objects.get(pk=ids[0]).version == 1


@pytest.mark.parametrize(
    ("bad", "status", "field", "in_detail"),
    [
        ({"id": 9999, "action": "disable"}, 404, "items.2.id", True),
        ({"id": "FIRST", "action": "disable", "version": 7}, 412, "items.2.version", True),
        ({"id": "FIRST", "action": "retarget"}, 422, "items.2.targets", True),
        ({"id": "SECOND", "action": "disable"}, 422, "items.2.id", True),
        ({"id": "FIRST", "action": "disable", "targets": [{"host": "x", "port": 1}]}, 422, "items.2.targets", True),
        # Shape errors are found before any item is looked at: the field path names the item.
        (
            {"id": "FIRST", "action": "retarget", "targets": [{"host": "x", "port": 0}]},
            422,
            "items.2.targets.0.port",
            False,
        ),
        ({"id": "FIRST", "action": "explode"}, 422, "items.2.action", False),
    ],
)
def test_one_invalid_item_changes_nothing_and_is_named(op, ids, bad, status, field, in_detail):
    bad = {**bad, "id": {"FIRST": ids[2], "SECOND": ids[1]}.get(bad["id"], bad["id"])}
    before = state()
    audit_before = AuditEntry.objects.count()
    items = [
        {"id": ids[0], "action": "disable"},
        {"id": ids[1], "action": "retarget", "targets": [{"host": "new", "port": 9}]},
        bad,
    ]
    response = bulk(op, items)
    assert response.status_code == status, response.content
    body = response.json()
    assert field in [e["field"] for e in body["errors"]], body
    if in_detail:
        assert body["detail"].startswith("Item 2 ")
        assert body["item"] == 2
    else:
        assert body["detail"] == "Invalid input."
    assert state() == before
    assert AuditEntry.objects.count() == audit_before


def test_a_retarget_that_breaks_the_routes_rules_is_refused(op, ids):
    op.patch(f"/api/v1/routes/{ids[0]}", {"balance": "ip_hash"}, content_type="application/json")
    before = state()
    targets = [{"host": "a", "port": 1}, {"host": "b", "port": 1, "backup": True}]
    response = bulk(op, [{"id": ids[1], "action": "disable"}, {"id": ids[0], "action": "retarget", "targets": targets}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items.1.targets"
    assert "ip_hash" in response.json()["errors"][0]["message"]
    assert state() == before


def test_viewers_cannot_bulk_change(api_client, viewer_user, ids):
    response = bulk(api_client(viewer_user), [{"id": ids[0], "action": "delete"}])
    assert response.status_code == 403
    assert Route.objects.count() == 3
