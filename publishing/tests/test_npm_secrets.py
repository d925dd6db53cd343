"""NPM's password goes only to the NPM it was given for (issue 12, item 6), on the page and through the API alike.

A listener on 127.0.0.1 plays the new host an admin points Portico at: it answers NPM's health check, so a status
check goes on to log in, and records every request it gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from core.models import AuditEntry
from publishing.models import NpmSettings
from tests.support import Listener

PASSWORD = "pw-only-for-npm-a-5f2c"


def like_npm_to_a_stranger(method: str, path: str) -> tuple[int, str, bytes]:
    """NPM's health answer (so a status check goes on to log in), and a refused login for everything else."""
    if method == "GET" and path.rstrip("/").endswith("/api"):
        status, answer = 200, {"status": "OK", "setup": True, "version": {"major": 2, "minor": 15}}
    else:
        status, answer = 401, {"error": {"message": "Invalid email or password"}}
    return status, "application/json", json.dumps(answer).encode()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener(like_npm_to_a_stranger)
    yield server
    server.close()


@pytest.fixture
def admin_api(api_client, admin_user):
    api = api_client(admin_user)

    def put(expect: int = 200, **payload: str) -> dict:
        answer = api.put("/api/v1/npm/settings", payload, content_type="application/json")
        assert answer.status_code == expect, answer.content
        return answer.json()

    return put


def check_status(api_client, viewer_user) -> dict:
    """What a viewer's status check does: NPM's health, then a login with the stored password."""
    return api_client(viewer_user).get("/api/v1/npm/status").json()


def test_changing_only_the_url_through_the_api_keeps_the_password_from_the_new_host(
    db, admin_api, api_client, viewer_user, listener
):
    admin_api(url="http://127.0.0.1:9/api", identity="admin@example.com", secret=PASSWORD)
    saved = admin_api(url=f"{listener.url}/api", identity="admin@example.com")
    status = check_status(api_client, viewer_user)
    assert PASSWORD not in listener.everything_received()
    assert saved["secret_set"] is False
    assert status["configured"] is False and status["reachable"] is False
    assert NpmSettings.objects.get().secret == ""
    entry = AuditEntry.objects.filter(action="npm.settings").latest("id")
    assert entry.before["secret_set"] is True and entry.after["secret_set"] is False


def test_changing_only_the_identity_removes_the_password_too(db, admin_api, api_client, viewer_user, listener):
    admin_api(url=f"{listener.url}/api", identity="admin@example.com", secret=PASSWORD)
    saved = admin_api(url=f"{listener.url}/api", identity="someone-else@example.com")
    check_status(api_client, viewer_user)
    assert PASSWORD not in listener.everything_received()
    assert saved["secret_set"] is False


def test_a_new_password_given_with_the_new_url_is_used_there(db, admin_api, api_client, viewer_user, listener):
    admin_api(url="http://127.0.0.1:9/api", identity="admin@example.com", secret=PASSWORD)
    assert admin_api(url=f"{listener.url}/api", identity="admin@example.com", secret="pw-for-b")["secret_set"] is True
    check_status(api_client, viewer_user)
    logins = [r for r in listener.requests if r["method"] == "POST" and r["path"].endswith("/tokens")]
    assert [json.loads(r["body"])["secret"] for r in logins] == ["pw-for-b"]


def test_saving_the_same_address_and_user_keeps_the_password(db, admin_api):
    admin_api(url="http://npm:81/api", identity="admin@example.com", secret=PASSWORD)
    assert admin_api(url="http://npm:81/api/", identity="Admin@Example.com")["secret_set"] is True
    assert NpmSettings.objects.get().secret == PASSWORD


def test_the_page_removes_the_password_when_the_url_changes(db, client, admin_user, api_client, viewer_user, listener):
    client.force_login(admin_user)
    first = {"url": "http://127.0.0.1:9/api", "identity": "admin@example.com", "secret": PASSWORD}
    assert client.post("/routes/npm/settings/", first).status_code == 302
    answer = client.post(
        "/routes/npm/settings/", {"url": f"{listener.url}/api", "identity": "admin@example.com", "secret": ""},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert 'data-testid="npm-secret-removed"' in answer.content.decode()
    client.force_login(viewer_user)
    hosts = client.get("/routes/npm/hosts/", headers={"HX-Request": "true"})
    assert hosts.status_code == 200
    assert PASSWORD not in listener.everything_received()


def test_a_password_from_the_environment_is_not_sent_to_an_address_changed_here(
    db, admin_api, api_client, viewer_user, listener, settings
):
    settings.PORTICO_NPM_SECRET = PASSWORD
    [error] = admin_api(expect=422, url=f"{listener.url}/api", identity="admin@example.com")["errors"]
    assert error["field"] == "url" and "PORTICO_NPM_SECRET" in error["message"]
    assert not NpmSettings.objects.exists()
    check_status(api_client, viewer_user)
    assert listener.requests == []
    # With the address from the environment too, the stored address decides nothing and may be saved.
    settings.PORTICO_NPM_URL = "http://127.0.0.1:9/api"
    assert admin_api(url=f"{listener.url}/api", identity="admin@example.com")["secret_set"] is True
