"""Every PUT, PATCH and DELETE of the API honours If-Match: a stale tag gives 412 and changes nothing.

The table below names, for each such operation in the OpenAPI document, how to make the resource, where to
read it (for its ETag) and what to send. A new mutating operation fails the first test until it joins the
table, so none can skip optimistic concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from accounts.models import ApiToken
from containers.models import Engine
from core.models import AuditEntry

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TASK = {"domain": "gctask.com", "path": "/task/", "targets": [{"host": "mytaskapi", "port": 80}]}


@dataclass
class Case:
    """``make(api)`` returns the concrete URL of the resource; ``read`` is where its ETag is (default: same)."""

    make: Callable
    body: dict | None = None
    read: str | None = None


def _route(api) -> str:
    return f"/api/v1/routes/{api.post('/api/v1/routes', TASK, content_type='application/json').json()['id']}"


def _domain(api) -> str:
    api.post("/api/v1/routes", TASK, content_type="application/json")
    return "/api/v1/domains/gctask.com"


def _config(api) -> str:
    api.post("/api/v1/routes", TASK, content_type="application/json")
    return "/api/v1/config"


def _token(api) -> str:
    made = api.post("/api/v1/tokens", {"name": "ci"}, content_type="application/json").json()
    return f"/api/v1/tokens/{made['id']}"


def _engine(api) -> str:
    Engine.objects.create(name="lab", url="ssh://student@lab.example")
    return "/api/v1/engines/lab"


def _user(api) -> str:
    made = api.post(
        "/api/v1/users", {"username": "student1", "password": "lab-pass-4821", "role": "viewer"}, "application/json"
    )
    assert made.status_code == 201, made.content
    return "/api/v1/users/student1"


def _npm_settings(api) -> str:
    api.put("/api/v1/npm/settings", {"url": "http://npm:81/api"}, content_type="application/json")
    return "/api/v1/npm/settings"


def _certificate(api) -> str:
    made = api.post(
        "/api/v1/certificates", {"domains": ["gctask.com"], "challenge": "http-01"}, content_type="application/json"
    )
    assert made.status_code == 202, made.content
    return f"/api/v1/certificates/{made.json()['id']}"


NEW_DOCUMENT = {"domains": [{"name": "gctask.com", "routes": [{"path": "/", "targets": [{"host": "f", "port": 80}]}]}]}

CASES: dict[tuple[str, str], Case] = {
    ("put", "/api/v1/routes/{route_id}"): Case(_route, {**TASK, "strip_prefix": True}),
    ("patch", "/api/v1/routes/{route_id}"): Case(_route, {"enabled": False}),
    ("delete", "/api/v1/routes/{route_id}"): Case(_route),
    ("patch", "/api/v1/domains/{name}"): Case(_domain, {"notes": "lab 3"}),
    ("delete", "/api/v1/domains/{name}"): Case(lambda api: _domain(api) + "?cascade=true", read=None),
    ("put", "/api/v1/config"): Case(_config, NEW_DOCUMENT),
    ("delete", "/api/v1/tokens/{token_id}"): Case(_token),
    ("patch", "/api/v1/engines/{name}"): Case(_engine, {"url": "ssh://student@lab2.example"}),
    ("delete", "/api/v1/engines/{name}"): Case(_engine),
    ("put", "/api/v1/npm/settings"): Case(_npm_settings, {"url": "http://npm2:81/api", "identity": "a@b.example"}),
    ("patch", "/api/v1/users/{username}"): Case(_user, {"role": "operator"}),
    ("delete", "/api/v1/certificates/{cert_id}"): Case(_certificate),
}


def test_every_mutating_operation_documents_if_match_and_is_in_the_table(client, viewer_user):
    client.force_login(viewer_user)
    schema = client.get("/api/v1/openapi.json").json()
    mutating = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in ("put", "patch", "delete"):
                mutating.add((method, path))
                names = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
                assert ("header", "If-Match") in names, f"{method} {path}"
                assert "412" in operation["responses"], f"{method} {path}"
    assert mutating == set(CASES)


def _send(api, method: str, url: str, body: dict | None, if_match: str):
    data = json.dumps(body) if body is not None else ""
    return getattr(api, method)(url, data, content_type="application/json", headers={"If-Match": if_match})


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_a_stale_if_match_gives_412_and_changes_nothing_and_the_fresh_one_succeeds(
    method, path, api_client, admin_user
):
    case = CASES[(method, path)]
    api = api_client(admin_user)
    url = case.make(api)
    read = (case.read or url).split("?")[0]
    first = api.get(read)
    assert first.status_code == 200, first.content
    tag = first["ETag"]
    assert tag.startswith('"') and tag.endswith('"') and len(tag) > 2
    audit_before = AuditEntry.objects.count()

    stale = _send(api, method, url, case.body, '"1' + tag.strip('"') + '"')  # a tag that is not the current one
    assert stale.status_code == 412, stale.content
    assert stale.json()["errors"][0]["field"] == "If-Match"
    again = api.get(read)
    assert (again["ETag"], again.json()) == (tag, first.json())  # nothing changed
    assert AuditEntry.objects.count() == audit_before

    fresh = _send(api, method, url, case.body, tag)
    assert fresh.status_code in (200, 204), fresh.content
    after = api.get(read)
    if method == "delete" and after.status_code == 404:
        return
    assert after["ETag"] != tag  # the change moved the version (a revoked token stays readable, revoked)
    if fresh.status_code == 200:
        assert fresh["ETag"] == after["ETag"]


def test_config_etag_names_the_state_not_the_format_or_history(api_client, operator_user):
    api = api_client(operator_user)
    api.post("/api/v1/routes", TASK, content_type="application/json")
    as_json = api.get("/api/v1/config")
    as_yaml = api.get("/api/v1/config", headers={"Accept": "application/yaml"})
    assert as_json["ETag"] == as_yaml["ETag"]
    assert "Accept" in [v.strip() for v in as_json["Vary"].split(",")]
    route = api.get("/api/v1/routes").json()["items"][0]
    api.patch(f"/api/v1/routes/{route['id']}", {"enabled": False}, content_type="application/json")
    assert api.get("/api/v1/config")["ETag"] != as_json["ETag"]
    api.patch(f"/api/v1/routes/{route['id']}", {"enabled": True}, content_type="application/json")
    assert api.get("/api/v1/config")["ETag"] == as_json["ETag"]  # the same state again, the same tag


def test_a_revoked_token_cannot_be_revoked_again_with_its_old_tag(api_client, viewer_user):
    api = api_client(viewer_user)
    made = api.post("/api/v1/tokens", {"name": "laptop"}, content_type="application/json").json()
    assert made["version"] == 1
    url = f"/api/v1/tokens/{made['id']}"
    assert api.delete(url, headers={"If-Match": '"1"'}).json()["state"] == "revoked"
    assert api.delete(url, headers={"If-Match": '"1"'}).status_code == 412
    assert api.delete(url).status_code == 200  # without If-Match: still revoked, nothing new recorded
    assert AuditEntry.objects.filter(action="token.revoke").count() == 1
    assert ApiToken.objects.get(pk=made["id"]).version == 2
