"""The /api/v1/npm endpoints, the NPM page and `manage.py npm_import`, against the fake NPM."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEntry
from publishing.models import NpmSettings
from publishing.npm.publisher import NpmPublisher
from publishing.tests.npm_fake import TEST_DOMAIN_SUFFIX, NpmTarget
from publishing.tests.npm_schema import transcript
from routes.models import Domain

GCTASK = "gctask" + TEST_DOMAIN_SUFFIX


@pytest.fixture
def npm_configured(npm: NpmTarget, db, monkeypatch) -> NpmTarget:
    """Portico's NPM settings point at the test NPM; the endpoints' publisher validates every request it sends."""
    NpmSettings.objects.create(pk=1, url=npm.url, identity=npm.identity, secret=npm.secret)
    monkeypatch.setattr("publishing.operations.npm_publisher", lambda: NpmPublisher(client_factory=npm.client))
    return npm


def npm_only_gctask(npm: NpmTarget) -> int:
    """The recorded lecture host (transcript 53), created in NPM by someone else (no Portico marker)."""
    body = dict(transcript("53-")["request"]["body"], domain_names=[GCTASK])
    with npm.client() as client:
        return client.create_proxy_host(body).id


def test_import_previews_first_and_writes_only_when_asked(npm_configured, api_client, operator_user):
    host_id = npm_only_gctask(npm_configured)
    api = api_client(operator_user)
    preview = api.post("/api/v1/npm/import", {}, content_type="application/json")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["dry_run"] is True
    assert body["changes"]["created"][0] == GCTASK
    assert [h["id"] for h in body["hosts"]] == [host_id]
    assert any("/api/ rewrites to /task/" in n for n in body["hosts"][0]["notes"])
    assert not Domain.objects.exists()  # a preview writes nothing

    done = api.post("/api/v1/npm/import", {"dry_run": False}, content_type="application/json")
    assert done.status_code == 200
    domain = Domain.objects.get(name=GCTASK)
    assert sorted(r.path for r in domain.routes.all()) == ["/", "/task/", "/user/"]
    assert AuditEntry.objects.filter(action="npm.import").count() == 1
    with npm_configured.client() as client:
        assert client.get_proxy_host(host_id).managed is False  # import alone does not take the host over


def test_a_viewer_may_look_but_not_import(npm_configured, api_client, viewer_user):
    npm_only_gctask(npm_configured)
    api = api_client(viewer_user)
    assert api.get("/api/v1/npm/hosts").status_code == 200
    refused = api.post("/api/v1/npm/import", {}, content_type="application/json")
    assert refused.status_code == 403
    assert api.post("/api/v1/npm/hosts/1/adopt").status_code == 403


def test_hosts_show_ownership_and_conflicts(npm_configured, api_client, operator_user):
    host_id = npm_only_gctask(npm_configured)
    Domain.objects.create(name=GCTASK)
    rows = api_client(operator_user).get("/api/v1/npm/hosts").json()["items"]
    (row,) = rows
    assert row["id"] == host_id and row["managed"] is False and row["conflict"] is True
    assert row["nginx_online"] is True
    assert [loc["path"] for loc in row["locations"]] == ["/task/", "/user/", "/api/"]


def test_hosts_page_and_filter(npm_configured, api_client, operator_user):
    gctask = npm_only_gctask(npm_configured)
    body = dict(transcript("53-")["request"]["body"], domain_names=["other" + TEST_DOMAIN_SUFFIX])
    with npm_configured.client() as client:
        other = client.create_proxy_host(body).id
    Domain.objects.create(name=GCTASK)
    api = api_client(operator_user)

    def ids(**query) -> list[int]:
        answer = api.get("/api/v1/npm/hosts", query)
        assert answer.status_code == 200, answer.content
        return [row["id"] for row in answer.json()["items"]]

    assert ids() == sorted([gctask, other])
    assert ids(conflict="true") == [gctask]
    assert ids(conflict="false") == [other]
    assert ids(managed="true") == []
    assert ids(q="OTHER") == [other]
    assert ids(q="no-such-host") == []
    page = api.get("/api/v1/npm/hosts", {"page": 2, "page_size": 1}).json()
    assert (page["count"], page["pages"], [r["id"] for r in page["items"]]) == (2, 2, [max(gctask, other)])


def test_adopt_imports_the_host_and_marks_it(npm_configured, api_client, operator_user):
    host_id = npm_only_gctask(npm_configured)
    answer = api_client(operator_user).post(f"/api/v1/npm/hosts/{host_id}/adopt")
    assert answer.status_code == 200, answer.content
    assert answer.json()["adopted"] == [host_id]
    assert Domain.objects.filter(name=GCTASK).exists()
    with npm_configured.client() as client:
        assert client.get_proxy_host(host_id).managed is True
    entry = AuditEntry.objects.get(action="npm.adopt")
    assert entry.object_id == str(host_id) and entry.actor == operator_user


def test_a_failed_adopt_changes_neither_portico_nor_npm(npm_configured, api_client, operator_user):
    fake = npm_configured.need_fake()
    host_id = npm_only_gctask(npm_configured)
    for _ in range(2):  # NPM's 500 is first taken for an auth problem, retried once, then reported
        fake.fail_next(500, "Internal Error", method="PUT")
    answer = api_client(operator_user).post(f"/api/v1/npm/hosts/{host_id}/adopt")
    assert answer.status_code == 502
    assert "(500)" in answer.json()["detail"]
    assert "Internal Error" not in answer.content.decode()  # NPM's own words are for admins
    assert not Domain.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="npm.").exists()
    with npm_configured.client() as client:
        assert client.get_proxy_host(host_id).managed is False


def test_adopting_a_missing_host_is_a_clear_error(npm_configured, api_client, operator_user):
    answer = api_client(operator_user).post("/api/v1/npm/hosts/4242/adopt")
    assert answer.status_code == 502
    assert "no proxy host #4242" in answer.json()["detail"]


def test_status_reports_npm_and_never_the_secret(npm_configured, api_client, viewer_user):
    answer = api_client(viewer_user).get("/api/v1/npm/status")
    body = answer.json()
    assert body["reachable"] is True and body["configured"] is True
    assert body["sources"] == {"url": "db", "identity": "db", "secret": "db"}
    assert npm_configured.secret not in answer.content.decode()


def test_an_unreachable_npm_is_reported_in_status(db, api_client, viewer_user):
    from tests.support import free_port

    NpmSettings.objects.create(pk=1, url=f"http://127.0.0.1:{free_port()}/api", identity="a@example.com", secret="x")
    body = api_client(viewer_user).get("/api/v1/npm/status").json()
    assert body["reachable"] is False and "Cannot reach NPM" in body["error"]


def test_settings_are_admin_only_and_the_secret_is_write_only(db, api_client, admin_user, operator_user):
    assert api_client(operator_user).get("/api/v1/npm/settings").status_code == 403
    api = api_client(admin_user)
    payload = {"url": "http://npm:81/api/", "identity": "Admin@Example.com", "secret": "s3cret-pw"}
    answer = api.put("/api/v1/npm/settings", payload, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json() == {
        "url": "http://npm:81/api",
        "identity": "admin@example.com",
        "secret_set": True,
        "sources": {"url": "db", "identity": "db", "secret": "db"},
        "version": 1,
    }
    assert "s3cret-pw" not in api.get("/api/v1/npm/settings").content.decode()
    # Leaving the secret out keeps it (for the same address and user: routes/tests/test_npm_secrets.py).
    api.put(
        "/api/v1/npm/settings",
        {"url": "http://npm:81/api", "identity": "admin@example.com"},
        content_type="application/json",
    )
    assert NpmSettings.objects.get().secret == "s3cret-pw"
    assert AuditEntry.objects.filter(action="npm.settings").count() == 2
    assert "s3cret-pw" not in json.dumps([e.after for e in AuditEntry.objects.all()])


def test_bad_settings_are_field_errors_and_change_nothing(db, api_client, admin_user):
    answer = api_client(admin_user).put(
        "/api/v1/npm/settings",
        {"url": "http://npm:81/api\nproxy_pass evil;", "identity": "not-an-email", "secret": "x"},
        content_type="application/json",
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"url", "identity"}
    assert not NpmSettings.objects.exists()


def test_environment_variables_take_precedence(db, api_client, admin_user, settings):
    NpmSettings.objects.create(pk=1, url="http://db-npm:81/api", identity="db@example.com", secret="db-pw")
    settings.PORTICO_NPM_URL = "http://env-npm:81/api"
    body = api_client(admin_user).get("/api/v1/npm/settings").json()
    assert body["url"] == "http://env-npm:81/api" and body["identity"] == "db@example.com"
    assert body["sources"] == {"url": "env", "identity": "db", "secret": "db"}


# --- the page ---------------------------------------------------------------------------------------------


def test_the_npm_page_lists_hosts_with_an_adopt_button(npm_configured, client, operator_user):
    host_id = npm_only_gctask(npm_configured)
    client.force_login(operator_user)
    page = client.get("/routes/npm/")
    assert page.status_code == 200
    assert 'hx-get="/routes/npm/hosts/"' in page.content.decode()
    hosts = client.get("/routes/npm/hosts/", headers={"HX-Request": "true"}).content.decode()
    assert f'id="npm-host-{host_id}"' in hosts
    assert f'data-testid="adopt-{host_id}"' in hosts
    assert npm_configured.secret not in hosts
    adopted = client.post(f"/routes/npm/hosts/{host_id}/adopt/", headers={"HX-Request": "true"}).content.decode()
    assert "is now managed by Portico" in adopted
    assert f'data-testid="adopt-{host_id}"' not in adopted


def test_the_page_previews_then_imports(npm_configured, client, operator_user):
    npm_only_gctask(npm_configured)
    client.force_login(operator_user)
    preview = client.post("/routes/npm/import/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="import-preview"' in preview and "nothing has been changed yet" in preview
    assert not Domain.objects.exists()
    done = client.post("/routes/npm/import/", {"confirm": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert "Imported." in done
    assert Domain.objects.filter(name=GCTASK).exists()


def test_only_admins_save_settings_from_the_page(db, client, operator_user, admin_user):
    client.force_login(operator_user)
    assert client.post("/routes/npm/settings/", {"url": "http://npm:81/api"}).status_code == 403
    client.force_login(admin_user)
    bad = client.post("/routes/npm/settings/", {"url": "ftp://x", "identity": ""}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Enter NPM" in bad.content.decode()
    good = client.post(
        "/routes/npm/settings/", {"url": "http://npm:81/api", "identity": "a@example.com", "secret": "pw-123"}
    )
    assert good.status_code == 302
    page = client.get("/routes/npm/").content.decode()
    assert "http://npm:81/api" in page and "pw-123" not in page


# --- the command ------------------------------------------------------------------------------------------


def test_the_command_previews_and_imports(npm_configured, monkeypatch):
    npm_only_gctask(npm_configured)
    monkeypatch.setattr("publishing.npm.publisher.NpmClient.from_settings", lambda: npm_configured.client())
    out = io.StringIO()
    call_command("npm_import", stdout=out)
    assert f"{GCTASK}: / /task/ /user/" in out.getvalue() and "dry run" in out.getvalue()
    assert not Domain.objects.exists()
    call_command("npm_import", "--apply", "--adopt", stdout=io.StringIO())
    assert Domain.objects.filter(name=GCTASK).exists()
    assert AuditEntry.objects.get(action="npm.adopt").source == "cli"
    with pytest.raises(CommandError):
        call_command("npm_import", "--adopt")


def test_doctor_checks_npm_when_it_is_the_publisher(npm: NpmTarget, db, settings):
    settings.PORTICO_PUBLISHER = "npm"
    out = io.StringIO()
    with pytest.raises(SystemExit):  # not configured yet: a problem, with the fix
        call_command("doctor", "--skip-ports", stdout=out)
    assert "npm" in out.getvalue() and "PORTICO_NPM_URL" in out.getvalue()
    NpmSettings.objects.create(pk=1, url=npm.url, identity=npm.identity, secret=npm.secret)
    out = io.StringIO()
    with contextlib.suppress(SystemExit):  # docker or nginx may be missing here; only the npm line matters
        call_command("doctor", "--skip-ports", stdout=out)
    npm_line = next(line for line in out.getvalue().splitlines() if " npm " in line)
    assert "ok" in npm_line and npm.url in npm_line
