"""Plan, apply, revisions and rollback through publishing.operations with the NPM publisher, and the NPM fault tests.

Each fault test asserts three things: NPM still holds the previous hosts, Portico's database is unchanged, and the
failure is recorded (a failed or rolled-back revision with NPM's words, an audit entry) and shown by the API.
"""

from __future__ import annotations

import json

import pytest

from core.models import AuditEntry
from publishing import operations
from publishing.models import Revision
from publishing.npm.mapping import artifact_name
from publishing.npm.publisher import NpmPublisher
from publishing.tests.npm_fake import TEST_DOMAIN_SUFFIX, NpmTarget
from publishing.tests.test_npm_publisher import GCTASK, gctask_document, managed_hosts
from routes.models import Route
from routes.operations import replace_state
from routes.schemas import RouteSpec
from routes.state import export_state


@pytest.fixture
def npm_publishing(npm: NpmTarget, db, settings, monkeypatch) -> NpmTarget:
    """Portico publishes into the test NPM (PORTICO_PUBLISHER=npm); its client validates every request body."""
    settings.PORTICO_PUBLISHER = "npm"
    monkeypatch.setattr("publishing.npm.publisher.NpmClient.from_settings", lambda: npm.client(timeout=1.0))
    return npm


def store(document) -> None:
    replace_state(document, prune=True)


def live(npm: NpmTarget) -> dict:
    """NPM's managed hosts as Portico renders them (what an apply must leave alone when it fails)."""
    return NpmPublisher(client_factory=npm.client).current()


def test_get_publisher_wires_the_npm_publisher(settings):
    settings.PORTICO_PUBLISHER = "npm"
    assert isinstance(operations.get_publisher(), NpmPublisher)


def test_gctask_plans_applies_updates_and_rolls_back(npm_publishing, operator_user):
    store(gctask_document())
    planned = operations.plan()
    assert planned.changes == [{"file": artifact_name(GCTASK), "action": "create"}]
    assert '"forward_path": "/"' in planned.diff

    first = operations.apply(actor=operator_user, source="api")
    assert (first.status, first.publisher) == ("applied", "npm"), first.message
    assert f"created {GCTASK}" in first.output
    (host,) = managed_hosts(npm_publishing)
    assert [loc.path for loc in host.locations] == ["/task/", "/user/"]
    assert operations.plan().changes == []

    route = Route.objects.get(domain__name=GCTASK, path="/task/")
    target = route.targets.get()
    target.port = 9012
    target.save()
    second = operations.apply(actor=operator_user)
    assert second.status == "applied" and "updated" in second.output
    assert '-      "forward_port": 8012' in operations.revision_diff(first, second)

    back = operations.rollback(first, actor=operator_user)
    assert back.status == "applied" and back.rollback_of == first
    (host,) = managed_hosts(npm_publishing)
    assert host.locations[0].forward_port == 8012
    assert Route.objects.get(domain__name=GCTASK, path="/task/").targets.get().port == 8012
    assert AuditEntry.objects.filter(action="publish.rollback").exists()


def test_the_plan_shows_what_npm_cannot_express_and_apply_refuses_it(npm_publishing):
    doc = gctask_document(targets=[{"host": "127.0.0.1", "port": 8011}, {"host": "127.0.0.1", "port": 8021}])
    store(doc)
    planned = operations.plan()
    assert planned.warnings[0].startswith("Blocked: ") and "2 targets" in planned.warnings[0]
    revision = operations.apply()
    assert revision.status == "failed"
    assert "cannot express" in revision.message and "2 targets" in revision.message
    assert live(npm_publishing) == {}
    fake = npm_publishing.fake
    if fake:
        assert not [r for r in fake.requests if r["method"] in ("POST", "PUT", "DELETE") and r["path"] != "/tokens"]


def test_a_published_host_is_left_alone_when_its_domain_gains_a_redirect_route(npm_publishing):
    store(gctask_document())
    assert operations.apply().status == "applied"
    before = live(npm_publishing)

    doc = gctask_document()
    doc.domains[0].routes[1] = RouteSpec.model_validate(
        {"path": "/task/", "action": "redirect", "redirect_url": "https://new.example.com", "preserve_path": True}
    )
    store(doc)
    assert any(w.startswith("Blocked: ") and "/task/ is a redirect route" in w for w in operations.plan().warnings)
    revision = operations.apply()

    assert revision.status == "failed"
    assert "cannot express" in revision.message and "publish with nginx" in revision.message
    assert live(npm_publishing) == before  # /task/ still forwards as before: never turned into something else


def test_an_unmanaged_host_is_a_plan_conflict_and_the_apply_fails_without_touching_it(npm_publishing):
    with npm_publishing.client() as client:
        theirs = client.create_proxy_host(
            {"domain_names": [GCTASK], "forward_scheme": "http", "forward_host": "127.0.0.1", "forward_port": 7000}
        )
    store(gctask_document())
    assert any(f"proxy host #{theirs.id}" in w for w in operations.plan().warnings)
    revision = operations.apply()
    assert revision.status == "failed" and "does not manage" in revision.message
    with npm_publishing.client() as client:
        assert client.get_proxy_host(theirs.id).forward_port == 7000


# --- fault tests (issue 8): NPM answers 500, times out, or rejects a host ------------------------------------------


@pytest.fixture
def published(npm_publishing, operator_user):
    """gctask applied once; then the desired state changes (the /task/ API moves to port 9012)."""
    store(gctask_document())
    assert operations.apply(actor=operator_user).status == "applied"
    target = Route.objects.get(domain__name=GCTASK, path="/task/").targets.get()
    target.port = 9012
    target.save()
    return {"live": live(npm_publishing), "db": export_state()}


def assert_nothing_changed(npm: NpmTarget, before: dict) -> None:
    assert live(npm) == before["live"], "NPM must still hold the previous hosts"
    assert export_state() == before["db"], "Portico's database must be unchanged"


def test_npm_answering_500_fails_the_apply_and_changes_nothing(published, npm_publishing, api_client, operator_user):
    fake = npm_publishing.need_fake()
    for _ in range(2):  # the first 500 counts as an auth problem: one new login, then the error stands
        fake.fail_next(500, "Internal Error", method="PUT")
    answer = api_client(operator_user).post("/api/v1/apply")
    assert answer.status_code == 422
    assert "(500)" in answer.json()["detail"]
    revision = Revision.objects.order_by("-number").first()
    assert revision.status == "failed" and "Internal Error" in revision.output
    assert AuditEntry.objects.filter(action="publish.apply", object_id=str(revision.pk)).exists()
    assert_nothing_changed(npm_publishing, published)


def test_npm_timing_out_fails_the_apply_and_changes_nothing(published, npm_publishing):
    fake = npm_publishing.need_fake()
    fake.delay = 2.0  # the client waits 1 s
    revision = operations.apply()
    fake.delay = 0
    assert revision.status == "failed"
    assert "did not answer" in revision.message
    assert_nothing_changed(npm_publishing, published)


def test_a_host_nginx_rejects_is_put_back_and_reported(published, npm_publishing):
    npm_publishing.need_fake()
    Route.objects.get(domain__name=GCTASK, path="/user/").targets.update(host="missing-container-2")
    before = {"live": published["live"], "db": export_state()}
    revision = operations.apply()
    assert revision.status == "rolled_back"
    assert "rejected" in revision.message
    assert 'host not found in upstream "missing-container-2"' in revision.output
    assert_nothing_changed(npm_publishing, before)
    (host,) = managed_hosts(npm_publishing)
    assert host.nginx_online is True


def test_npm_refusing_the_login_fails_the_apply(published, npm_publishing, monkeypatch):
    from publishing.npm.client import forget_tokens

    forget_tokens()  # e.g. the NPM password was changed: the next call must log in again
    monkeypatch.setattr(
        "publishing.npm.publisher.NpmClient.from_settings",
        lambda: type(npm_publishing.client())(npm_publishing.url, npm_publishing.identity, "wrong", timeout=1.0),
    )
    revision = operations.apply()
    assert revision.status == "failed"
    assert "refused Portico's login (400)" in revision.message
    assert "Invalid email or password" in revision.output
    assert_nothing_changed(npm_publishing, published)


def test_the_revision_keeps_npm_s_bodies_for_rollback(published, npm_publishing):
    first = Revision.objects.get(number=1)
    body = json.loads(first.files[artifact_name(GCTASK)])
    assert body["meta"] == {"portico_managed": True}
    assert first.snapshot["domains"][0]["name"] == GCTASK


def test_a_host_edited_in_npm_shows_as_drift_and_the_apply_puts_portico_s_back(published, npm_publishing):
    (host,) = managed_hosts(npm_publishing)
    with npm_publishing.client() as client:
        client.update_proxy_host(host.id, {"forward_port": 7777})  # someone used NPM's own UI
    planned = operations.plan()
    assert planned.drift == [artifact_name(GCTASK)]
    assert "Changed outside Portico" in planned.warnings[0]
    assert operations.apply().status == "applied"
    (host,) = managed_hosts(npm_publishing)
    assert host.forward_port == 8011 and host.locations[0].forward_port == 9012


def test_the_publishing_api_works_the_same_with_npm(npm_publishing, api_client, operator_user):
    api = api_client(operator_user)
    store(gctask_document())
    plan = api.post("/api/v1/plan").json()
    assert plan["changes"] == [{"file": artifact_name(GCTASK), "action": "create"}]
    first = api.post("/api/v1/apply").json()["revision"]
    assert first["status"] == "applied" and first["publisher"] == "npm"
    Route.objects.get(domain__name=GCTASK, path="/user/").delete()
    second = api.post("/api/v1/apply").json()["revision"]
    diff = api.get(f"/api/v1/revisions/{first['id']}/diff/{second['id']}").json()["diff"]
    assert '-      "path": "/user/"' in diff
    back = api.post(f"/api/v1/revisions/{first['id']}/rollback")
    assert back.status_code == 200, back.content
    assert back.json()["revision"]["rollback_of"] == first["id"]
    (host,) = managed_hosts(npm_publishing)
    assert [loc.path for loc in host.locations] == ["/task/", "/user/"]
    assert Route.objects.filter(domain__name=GCTASK, path="/user/").exists()


def test_an_adopted_multi_domain_host_is_split_into_one_host_per_domain(npm_publishing, operator_user):
    from publishing.npm.importer import run_import

    names = ["a" + TEST_DOMAIN_SUFFIX, "b" + TEST_DOMAIN_SUFFIX]
    with npm_publishing.client() as client:
        shared = client.create_proxy_host(
            {"domain_names": names, "forward_scheme": "http", "forward_host": "127.0.0.1", "forward_port": 8011}
        )
    result = run_import(dry_run=False, adopt=True, host_ids=[shared.id], actor=operator_user)
    assert result.adopted == [shared.id]
    revision = operations.apply(actor=operator_user)
    assert revision.status == "applied", revision.message
    hosts = {h.domain_names[0]: h for h in managed_hosts(npm_publishing)}
    assert sorted(hosts) == names
    assert hosts[names[0]].id == shared.id and hosts[names[0]].domain_names == [names[0]]
    assert hosts[names[1]].forward_port == 8011


def test_the_plan_page_shows_npm_hosts_and_what_blocks_them(npm_publishing, client, operator_user):
    store(gctask_document(targets=[{"host": "127.0.0.1", "port": 8011}, {"host": "127.0.0.1", "port": 8021}]))
    client.force_login(operator_user)
    page = client.get("/routes/plan/").content.decode()
    assert artifact_name(GCTASK) in page
    assert "Blocked: " in page and "2 targets" in page
    client.post("/routes/plan/apply/")
    revision = Revision.objects.get()
    assert revision.status == "failed" and "cannot express" in revision.message
    assert "cannot express" in client.get(f"/routes/revisions/{revision.pk}/").content.decode()
    assert live(npm_publishing) == {}
