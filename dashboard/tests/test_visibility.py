"""What a viewer reads, page and API: no other account's e-mail or role, no NPM login, no engine credentials."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from accounts.operations import create_account, update_account
from containers.engines import forget_clients
from containers.models import Engine
from core.visibility import audit_value, without_credentials
from publishing import operations

pytestmark = pytest.mark.django_db

BOB_MAIL = "bob.private@example.test"
NPM_MAIL = "npm-login@example.test"
PASSWORD = "s3cret-engine-pw"


def page_as(client: Client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def account_changes(admin_user):
    """An admin makes bob (with an e-mail) an operator, then an admin: the audit trail has both."""
    create_account("bob", "pw-for-tests-123", "operator", BOB_MAIL, actor=admin_user, source="ui")
    update_account("bob", role="admin", actor=admin_user, source="api")


def user_entries(items: list[dict]) -> list[dict]:
    return [e for e in items if e["action"].startswith("user.")]


def test_a_viewer_reads_account_changes_in_the_audit_api_without_emails_or_roles(
    account_changes, api_client, viewer_user, admin_user
):
    body = api_client(viewer_user).get("/api/v1/audit?action=user.*").json()
    entries = user_entries(body["items"])
    assert [e["action"] for e in entries] == ["user.update", "user.create"]  # the changes themselves stay visible
    assert entries[1]["after"] == {"username": "bob", "is_active": True}
    assert entries[0]["before"] == {"username": "bob", "is_active": True}
    assert BOB_MAIL not in json.dumps(body)
    # The admin reads the whole entry.
    admin_entries = user_entries(api_client(admin_user).get("/api/v1/audit?action=user.*").json()["items"])
    assert admin_entries[1]["after"]["email"] == BOB_MAIL
    assert (admin_entries[0]["before"]["role"], admin_entries[0]["after"]["role"]) == ("operator", "admin")


def test_a_viewer_reads_the_audit_page_without_emails_or_roles(account_changes, client, viewer_user, admin_user):
    html = page_as(client, viewer_user, reverse("audit"))
    assert "user.create" in html
    assert BOB_MAIL not in html
    assert "&quot;role&quot;" not in html and "&quot;email&quot;" not in html
    assert BOB_MAIL in page_as(Client(), admin_user, reverse("audit"))


@pytest.fixture
def npm_settings(admin_user):
    """NPM stored with a login e-mail, at an address where nothing listens (no request leaves 127.0.0.1)."""
    operations.save_npm_settings("http://127.0.0.1:1/api", NPM_MAIL, "npm-pw-1", actor=admin_user, source="ui")


def test_a_viewer_does_not_read_the_npm_login_in_the_api(npm_settings, api_client, viewer_user, admin_user):
    viewer = api_client(viewer_user)
    status = viewer.get("/api/v1/npm/status").json()
    assert (status["url"], status["identity"]) == ("http://127.0.0.1:1/api", "")
    audit = viewer.get("/api/v1/audit?action=npm.settings").json()
    assert audit["count"] == 1
    assert NPM_MAIL not in json.dumps(audit) + json.dumps(status)
    assert viewer.get("/api/v1/npm/settings").status_code == 403
    assert api_client(admin_user).get("/api/v1/npm/status").json()["identity"] == NPM_MAIL


def test_a_viewer_does_not_read_the_npm_login_on_the_pages(npm_settings, client, viewer_user, admin_user):
    for url in (reverse("routes:npm"), reverse("routes:npm-hosts"), reverse("audit")):
        assert NPM_MAIL not in page_as(client, viewer_user, url), url
    assert NPM_MAIL in page_as(Client(), admin_user, reverse("routes:npm"))


@pytest.fixture
def engine_with_password(settings):
    """The local engine's URL carries a password; nothing listens there."""
    settings.PORTICO_DOCKER_URL = f"tcp://portico:{PASSWORD}@127.0.0.1:1"
    forget_clients()
    yield
    forget_clients()


def test_engine_credentials_are_in_no_api_answer(engine_with_password, api_client, viewer_user, admin_user):
    for user in (viewer_user, admin_user):
        api = api_client(user)
        listed = api.get("/api/v1/engines?check=true").json()
        assert listed["items"][0]["url"] == "tcp://***@127.0.0.1:1"
        assert listed["items"][0]["status"].startswith("unavailable: ")
        one = api.get("/api/v1/engines/local?check=true").json()
        assert PASSWORD not in json.dumps(listed) + json.dumps(one)
        # Searching the URL cannot spell the password out one letter at a time.
        assert api.get(f"/api/v1/engines?q={PASSWORD[:4]}").json()["count"] == 0
        assert api.get("/api/v1/engines?q=portico:").json()["count"] == 0
        containers = api.get("/api/v1/containers")
        assert containers.status_code == 503
        assert PASSWORD not in containers.content.decode()


def test_engine_credentials_are_on_no_page(engine_with_password, client, viewer_user):
    for url in (reverse("containers:index"), reverse("lab"), reverse("overview")):
        html = page_as(client, viewer_user, url)
        assert PASSWORD not in html and "portico:" not in html, url
    assert "tcp://***@127.0.0.1:1" in page_as(client, viewer_user, reverse("containers:index"))


def test_an_ssh_engine_shows_no_user_and_its_tls_paths_stay_with_admins(api_client, viewer_user, admin_user):
    """ssh://user@host names the account Portico logs in as: shown to nobody (the API never contacts it here)."""
    admin = api_client(admin_user)
    created = admin.post(
        "/api/v1/engines", {"name": "lab", "url": "ssh://student@lab.example"}, content_type="application/json"
    )
    assert created.json()["url"] == "ssh://***@lab.example"
    viewer = api_client(viewer_user)
    assert viewer.get("/api/v1/engines/lab").json()["url"] == "ssh://***@lab.example"
    assert viewer.get("/api/v1/engines?q=student").json()["count"] == 0
    audit = viewer.get("/api/v1/audit?action=engine.create").json()["items"][0]
    assert audit["after"]["url"] == "ssh://***@lab.example"
    assert "tls_key" not in audit["after"]
    assert "tls_key" in admin.get("/api/v1/audit?action=engine.create").json()["items"][0]["after"]
    Engine.objects.filter(name="lab").delete()


def test_old_audit_rows_are_redacted_when_read():
    stored = {"url": "tcp://u:p@h:1", "nested": [{"email": "x@y", "identity": "a@b", "name": "n"}], "role": "admin"}
    assert audit_value(stored, admin=True) == {**stored, "url": "tcp://***@h:1"}
    assert audit_value(stored, admin=False) == {"url": "tcp://***@h:1", "nested": [{"name": "n"}]}
    assert without_credentials("no URL here: a@b") == "no URL here: a@b"
