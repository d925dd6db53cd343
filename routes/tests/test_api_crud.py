"""The /routes and /domains API: shapes from issue 3, field errors, roles, versions, ETag and If-Match."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from routes.models import Domain, Route

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TASK = {"domain": "gctask.com", "path": "/task/", "targets": [{"host": "mytaskapi", "port": 80}]}


@pytest.fixture
def op(api_client, operator_user):
    return api_client(operator_user)


def post(client, url, body, if_match=None):
    headers = {"If-Match": if_match} if if_match else {}
    return client.post(url, body, content_type="application/json", headers=headers)


def put(client, url, body, if_match=None):
    headers = {"If-Match": if_match} if if_match else {}
    return client.put(url, body, content_type="application/json", headers=headers)


def patch(client, url, body, if_match=None):
    headers = {"If-Match": if_match} if if_match else {}
    return client.patch(url, body, content_type="application/json", headers=headers)


def test_creating_a_route_with_the_minimal_body_creates_its_domain_and_fills_defaults(op):
    response = post(op, "/api/v1/routes", TASK)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["domain"] == "gctask.com"
    assert body["path"] == "/task/"
    assert body["targets"] == [{"host": "mytaskapi", "port": 80, "weight": 1, "backup": False}]
    assert (body["scheme"], body["strip_prefix"], body["balance"]) == ("http", False, "round_robin")
    assert (body["websocket"], body["enabled"], body["version"]) == (False, True, 1)
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"/api/v1/routes/{body['id']}"
    assert Domain.objects.get().name == "gctask.com"
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "source", "actor_name"))
    assert actions == [("domain.create", "api", "oscar"), ("route.create", "api", "oscar")]


def test_the_full_body_of_issue_3_is_accepted(op):
    body = {
        **TASK,
        "scheme": "https",
        "strip_prefix": True,
        "balance": "ip_hash",
        "websocket": True,
        "enabled": False,
    }
    created = post(op, "/api/v1/routes", body).json()
    assert {k: created[k] for k in body if k != "targets"} == {k: v for k, v in body.items() if k != "targets"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"path": "/a;b/"}, "path"),
        ({"path": "task"}, "path"),
        ({"domain": "bad domain.com"}, "domain"),
        ({"targets": [{"host": "x;y", "port": 80}]}, "targets.0.host"),
        ({"targets": [{"host": "x", "port": 0}]}, "targets.0.port"),
        ({"targets": []}, "targets"),
        ({"targets": [{"host": "a", "port": 1}, {"host": "a", "port": 1}]}, "targets"),
        ({"balance": "random"}, "balance"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_input_gets_a_field_error_and_changes_nothing(op, change, field):
    response = post(op, "/api/v1/routes", {**TASK, **change})
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert field in [e["field"] for e in body["errors"]], body
    assert not Route.objects.exists()
    assert not Domain.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_required_field_missing_is_named(op):
    response = post(op, "/api/v1/routes", {"domain": "gctask.com", "path": "/"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "targets", "message": "a proxy route needs at least one target."}]


REDIRECT = {
    "domain": "old.example.com",
    "path": "/",
    "action": "redirect",
    "redirect_url": "https://new.example.com",
    "redirect_code": 301,
    "preserve_path": True,
}


def test_the_redirect_body_of_issue_15_creates_a_route_without_targets(op):
    response = post(op, "/api/v1/routes", REDIRECT)
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in REDIRECT} == REDIRECT
    assert body["targets"] == [] and body["respond_status"] == 404 and body["respond_body"] == ""
    got = op.get(f"/api/v1/routes/{body['id']}").json()
    assert got["action"] == "redirect" and got["redirect_url"] == "https://new.example.com"


def test_a_respond_route_and_an_idn_redirect_address_in_punycode(op):
    gone = {"domain": "a.test", "path": "/gone/", "action": "respond", "respond_status": 410, "respond_body": "Gone."}
    assert post(op, "/api/v1/routes", gone).json()["respond_body"] == "Gone."
    idn = post(op, "/api/v1/routes", {**REDIRECT, "redirect_url": "https://Bücher.example/x"}).json()
    assert idn["redirect_url"] == "https://xn--bcher-kva.example/x"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"redirect_url": 'https://x.test/"; return 200 "x'}, "redirect_url"),
        ({"redirect_url": "https://x.test/$1"}, "redirect_url"),
        ({"redirect_url": "ftp://x.test/"}, "redirect_url"),
        ({"redirect_url": ""}, "redirect_url"),
        ({"redirect_code": 303}, "redirect_code"),
        ({"targets": [{"host": "a", "port": 1}]}, "targets"),
        ({"respond_body": "x"}, "respond_body"),
        ({"action": "respond", "redirect_url": "", "respond_body": "a;b"}, "respond_body"),
        ({"action": "respond", "redirect_url": "", "respond_status": 204, "respond_body": "x"}, "respond_body"),
        ({"action": "respond", "redirect_url": "", "respond_status": 418}, "respond_status"),
        ({"action": "forward"}, "action"),
    ],
)
def test_bad_redirect_or_respond_input_gets_a_field_error_and_changes_nothing(op, change, field):
    body = {k: v for k, v in {**REDIRECT, **change}.items() if k != "preserve_path" or "respond" not in str(change)}
    response = post(op, "/api/v1/routes", body)
    assert response.status_code == 422, response.content
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert not Route.objects.exists() and not AuditEntry.objects.exists()


def test_patch_to_another_action_drops_the_previous_actions_fields(op):
    created = post(op, "/api/v1/routes", TASK).json()
    url = f"/api/v1/routes/{created['id']}"

    moved = patch(op, url, {"action": "redirect", "redirect_url": "https://new.example.com", "redirect_code": 308})
    assert moved.status_code == 200, moved.content
    assert (moved.json()["targets"], moved.json()["redirect_code"]) == ([], 308)

    back = patch(op, url, {"action": "proxy"})
    assert back.status_code == 422 and back.json()["errors"][0]["field"] == "targets"
    back = patch(op, url, {"action": "proxy", "targets": [{"host": "mytaskapi", "port": 80}]})
    assert back.status_code == 200, back.content
    assert (back.json()["redirect_url"], back.json()["redirect_code"]) == ("", 301)
    actions = list(
        AuditEntry.objects.filter(action__startswith="route.").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["route.create", "route.update", "route.update"]


def test_the_same_domain_and_path_twice_is_a_conflict(op):
    assert post(op, "/api/v1/routes", TASK).status_code == 201
    response = post(op, "/api/v1/routes", {**TASK, "domain": "GCTASK.com"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "path"
    assert Route.objects.count() == 1


def test_viewers_read_but_cannot_write(api_client, viewer_user, op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    viewer = api_client(viewer_user)
    assert viewer.get(f"/api/v1/routes/{route_id}").status_code == 200
    assert post(viewer, "/api/v1/routes", {**TASK, "path": "/user/"}).status_code == 403
    assert patch(viewer, f"/api/v1/routes/{route_id}", {"enabled": False}).status_code == 403
    assert viewer.delete(f"/api/v1/routes/{route_id}").status_code == 403
    assert post(viewer, "/api/v1/domains", {"name": "x.test"}).status_code == 403
    assert Route.objects.get().enabled is True


def test_get_sends_the_version_as_etag_and_404s_unknown_ids(op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    response = op.get(f"/api/v1/routes/{route_id}")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    missing = op.get("/api/v1/routes/999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No route with id 999.", "errors": []}


def test_put_replaces_and_bumps_the_version(op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    new = {**TASK, "targets": [{"host": "mytaskapi", "port": 8080}], "strip_prefix": True}
    response = put(op, f"/api/v1/routes/{route_id}", new, if_match='"1"')
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    assert response.json()["targets"][0]["port"] == 8080
    assert response.json()["strip_prefix"] is True
    entry = AuditEntry.objects.get(action="route.update")
    assert entry.before["targets"][0]["port"] == 80
    assert entry.after["targets"][0]["port"] == 8080


def test_an_unchanged_put_keeps_the_version_and_writes_no_audit_entry(op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    response = put(op, f"/api/v1/routes/{route_id}", TASK)
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert not AuditEntry.objects.filter(action="route.update").exists()


def test_a_stale_if_match_gets_412_and_changes_nothing(op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    assert patch(op, f"/api/v1/routes/{route_id}", {"enabled": False}, if_match='"1"').status_code == 200
    stale = patch(op, f"/api/v1/routes/{route_id}", {"websocket": True}, if_match='"1"')
    assert stale.status_code == 412
    body = stale.json()
    assert body["current_version"] == 2
    assert body["errors"][0]["field"] == "If-Match"
    assert put(op, f"/api/v1/routes/{route_id}", TASK, if_match='"1"').status_code == 412
    assert op.delete(f"/api/v1/routes/{route_id}", headers={"If-Match": '"1"'}).status_code == 412
    assert op.delete(f"/api/v1/routes/{route_id}", headers={"If-Match": "garbage"}).status_code == 412
    route = Route.objects.get()
    assert (route.version, route.enabled, route.websocket) == (2, False, False)


def test_if_match_star_and_weak_tags_are_understood(op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    assert patch(op, f"/api/v1/routes/{route_id}", {"enabled": False}, if_match="*").status_code == 200
    assert patch(op, f"/api/v1/routes/{route_id}", {"enabled": True}, if_match='W/"2"').status_code == 200
    assert Route.objects.get().version == 3


def test_patch_changes_only_the_given_fields_and_validates_the_whole(op):
    route_id = post(op, "/api/v1/routes", {**TASK, "balance": "ip_hash"}).json()["id"]
    response = patch(op, f"/api/v1/routes/{route_id}", {"strip_prefix": True})
    assert response.status_code == 200
    assert response.json()["balance"] == "ip_hash"
    assert response.json()["strip_prefix"] is True
    # ip_hash forbids backup targets: the merged route is invalid although the patch alone is fine.
    bad = patch(
        op,
        f"/api/v1/routes/{route_id}",
        {"targets": [{"host": "a", "port": 1}, {"host": "b", "port": 1, "backup": True}]},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "targets"
    assert Route.objects.get().targets.get().host == "mytaskapi"


def test_patch_can_move_a_route_to_a_new_domain_but_not_onto_a_taken_path(op):
    first = post(op, "/api/v1/routes", TASK).json()
    post(op, "/api/v1/routes", {**TASK, "path": "/user/"})
    moved = patch(op, f"/api/v1/routes/{first['id']}", {"domain": "other.test"})
    assert moved.status_code == 200
    assert moved.json()["domain"] == "other.test"
    clash = patch(op, f"/api/v1/routes/{first['id']}", {"domain": "gctask.com", "path": "/user/"})
    assert clash.status_code == 409
    assert Route.objects.get(pk=first["id"]).domain.name == "other.test"


def test_delete_with_the_current_version_removes_the_route(op):
    route_id = post(op, "/api/v1/routes", TASK).json()["id"]
    response = op.delete(f"/api/v1/routes/{route_id}", headers={"If-Match": '"1"'})
    assert response.status_code == 204
    assert not Route.objects.exists()
    entry = AuditEntry.objects.get(action="route.delete")
    assert entry.before["path"] == "/task/"
    assert op.delete(f"/api/v1/routes/{route_id}").status_code == 404


def test_lists_are_paginated_and_filtered(op):
    for i in range(7):
        post(op, "/api/v1/routes", {**TASK, "path": f"/p{i}/", "enabled": i % 2 == 0})
    post(op, "/api/v1/routes", {"domain": "other.test", "path": "/", "targets": [{"host": "front", "port": 3000}]})
    page = op.get("/api/v1/routes?page=2&page_size=3").json()
    assert (page["count"], page["page"], page["page_size"], page["pages"]) == (8, 2, 3, 3)
    assert [r["path"] for r in page["items"]] == ["/p3/", "/p4/", "/p5/"]
    assert op.get("/api/v1/routes?page=9").json()["items"] == []
    assert op.get("/api/v1/routes?domain=other.test").json()["count"] == 1
    assert op.get("/api/v1/routes?enabled=false").json()["count"] == 3
    assert op.get("/api/v1/routes?host=front").json()["items"][0]["domain"] == "other.test"
    assert op.get("/api/v1/routes?port=3000").json()["count"] == 1
    assert op.get("/api/v1/routes?q=p6").json()["count"] == 1
    too_big = op.get("/api/v1/routes?page_size=100000")
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"] == "page_size"


def test_domains_crud_with_idn_and_etags(op):
    created = post(op, "/api/v1/domains", {"name": "한국.example", "notes": "class"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["unicode_name"], body["routes"], body["version"]) == (
        "xn--3e0b707e.example",
        "한국.example",
        0,
        1,
    )
    assert post(op, "/api/v1/domains", {"name": "XN--3E0B707E.example"}).status_code == 409
    assert op.get("/api/v1/domains/한국.example").json()["name"] == "xn--3e0b707e.example"
    changed = patch(op, "/api/v1/domains/xn--3e0b707e.example", {"enabled": False}, if_match='"1"')
    assert changed.status_code == 200
    assert changed["ETag"] == '"2"'
    assert patch(op, "/api/v1/domains/xn--3e0b707e.example", {"notes": "x"}, if_match='"1"').status_code == 412
    listing = op.get("/api/v1/domains?enabled=false").json()
    assert [d["name"] for d in listing["items"]] == ["xn--3e0b707e.example"]
    assert op.get("/api/v1/domains/no such domain").status_code == 404


def test_a_domain_with_routes_is_deleted_only_with_cascade(op):
    post(op, "/api/v1/routes", TASK)
    refused = op.delete("/api/v1/domains/gctask.com")
    assert refused.status_code == 409
    assert Route.objects.exists()
    assert op.delete("/api/v1/domains/gctask.com?cascade=true").status_code == 204
    assert not Domain.objects.exists()
    assert not Route.objects.exists()
    entry = AuditEntry.objects.get(action="domain.delete")
    assert entry.before["routes"][0]["path"] == "/task/"
