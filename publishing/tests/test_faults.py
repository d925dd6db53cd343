"""Fault tests (issue 8) for nginx and NPM publishing, driven the way people and scripts drive it: POST /api/v1/apply.

Each fault asserts the three things together: the live proxy still serves the previous config (a request loop
through nginx loses nothing and the live files are byte-identical), the database is unchanged, and a clear
error is recorded (the revision, with nginx's own words, and the audit entry) and shown (the API's answer,
GET /revisions/{id} and the revision's page). After the fault is cleared, the next apply goes through: nothing is left locked or half done.
The SIGKILL fault and applies at once across processes are in tests/test_faults.py (real server processes).
"""

from __future__ import annotations

import shutil
import socket

import pytest
from django.urls import reverse
from django.utils.html import escape

from core.models import AuditEntry
from publishing import operations
from publishing.tests.test_npm_apply import live, npm_publishing, published  # noqa: F401  (fixtures, used below)
from publishing.tests.test_npm_publisher import GCTASK
from publishing.tests.test_publish import BrokenRender, live_files, route, set_state
from routes.models import Route
from routes.state import export_state

pytestmark = [pytest.mark.nginx, pytest.mark.django_db, pytest.mark.postgres]


def assert_page_shows(client, user, revision_id: int, message: str) -> None:
    """The revision's page shows the failure's message where people look (the message box at the top)."""
    client.force_login(user)
    page = client.get(reverse("routes:revision", args=[revision_id])).content.decode()
    assert f'data-testid="revision-message">{escape(message)}</div>' in page


def _reject(proxy, settings, monkeypatch):
    monkeypatch.setattr(operations, "get_publisher", BrokenRender)
    return lambda: monkeypatch.setattr(operations, "get_publisher", operations.NginxPublisher)


def _reload_fails(proxy, settings, monkeypatch):
    # nginx -t does not bind, so the staged config passes; the reload cannot bind a port that is taken.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    settings.PORTICO_NGINX_LISTEN = busy.getsockname()
    settings.PORTICO_VERIFY_TIMEOUT = 2

    def clear():
        settings.PORTICO_NGINX_LISTEN = ("127.0.0.1", proxy.port)
        busy.close()

    return clear


def _staging_unwritable(proxy, settings, monkeypatch):
    staging = proxy.nginx.staging
    shutil.rmtree(staging, ignore_errors=True)
    staging.write_text("a file where the staging directory should be")
    return staging.unlink


def _binary_missing(proxy, settings, monkeypatch):
    binary = settings.PORTICO_NGINX_BIN
    settings.PORTICO_NGINX_BIN = "/nonexistent/nginx"

    def clear():
        settings.PORTICO_NGINX_BIN = binary

    return clear


def _nginx_stopped(proxy, settings, monkeypatch):
    proxy.nginx.stop()
    return proxy.nginx.start


FAULTS = {
    # fault: (make it happen -> undo, revision status, words the message must hold, words nginx's output holds)
    "nginx rejects the staged config": (_reject, "failed", "portico-zz-broken.conf", 'unknown directive "no_such'),
    "reload fails": (_reload_fails, "rolled_back", "Address already in use", "bind()"),
    "staging dir not writable": (_staging_unwritable, "failed", "cannot write the staging directory", ""),
    "nginx binary missing": (_binary_missing, "failed", "not found", ""),
    "nginx stopped": (_nginx_stopped, "rolled_back", "not running", ""),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_keeps_the_previous_config_live_the_routes_unchanged_and_says_why(
    fault, managed_nginx, echo_backend, request_loop, api_client, client, operator_user, settings, monkeypatch
):
    make, status, words, nginx_words = FAULTS[fault]
    front, newer = echo_backend("front"), echo_backend("newer")
    set_state({"domains": [{"name": "gctask.test", "routes": [route("/", front.port)]}]})
    assert operations.apply().status == "applied"
    # The change the failed apply was meant to publish: /new/ goes to another backend.
    set_state({"domains": [{"name": "gctask.test", "routes": [route("/", front.port), route("/new/", newer.port)]}]})
    state, files = export_state(), live_files(managed_nginx)
    api = api_client(operator_user)
    loop = request_loop(managed_nginx, "gctask.test", "/new/", lambda r: r.status_code == 200 and '"front"' in r.text)

    clear = make(managed_nginx, settings, monkeypatch)
    if fault == "nginx stopped":  # nothing can be served while it is stopped; it serves the old config once started
        answer = api.post("/api/v1/apply")
    else:
        with loop:
            answer = api.post("/api/v1/apply")
        assert loop.failures == [] and loop.total > 5, loop.failures[:3]
    clear()

    # Shown: the API answers with the reason and the revision.
    assert answer.status_code == 422, answer.content
    body = answer.json()
    assert words in body["detail"], body["detail"]
    revision = body["revision"]
    assert revision["status"] == status and revision["message"] == body["detail"]
    stored = api.get(f"/api/v1/revisions/{revision['id']}").json()
    assert (stored["status"], stored["message"]) == (status, body["detail"])
    assert nginx_words in stored["output"], stored["output"]
    assert_page_shows(client, operator_user, revision["id"], body["detail"])
    # Recorded: the audit trail names who tried and why it failed.
    entry = AuditEntry.objects.get(action="publish.apply", object_id=str(revision["id"]))
    assert entry.actor == operator_user and entry.message == body["detail"]
    # The live proxy and the database are as they were.
    assert live_files(managed_nginx) == files
    assert managed_nginx.seen("gctask.test", "/new/")["backend"] == "front"
    assert export_state() == state

    # Nothing is left locked or half done: with the fault cleared the same change goes live.
    again = api.post("/api/v1/apply")
    assert again.status_code == 200, again.content
    assert managed_nginx.seen("gctask.test", "/new/")["backend"] == "newer"


# --- NPM (issue 8): 500, timeout, a host NPM's nginx rejects; each through the API, with the audit entry ----------


def _npm_500(fake):
    for _ in range(2):  # the first 500 counts as an auth problem: one new login, then the error stands
        fake.fail_next(500, "Internal Error", method="PUT")
    return lambda: None


def _npm_timeout(fake):
    fake.delay = 2.0  # the client waits 1 s

    def clear():
        fake.delay = 0

    return clear


def _npm_rejects(fake):
    route = Route.objects.get(domain__name=GCTASK, path="/user/")
    route.targets.update(host="missing-container-2")  # NPM's nginx -t: host not found in upstream
    return lambda: route.targets.update(host="127.0.0.1")


NPM_FAULTS = {
    "NPM answers 500": (_npm_500, "failed", "(500)", "Internal Error"),
    "NPM times out": (_npm_timeout, "failed", "did not answer", ""),
    "NPM rejects the host": (
        _npm_rejects,
        "rolled_back",
        "rejected",
        'host not found in upstream "missing-container-2"',
    ),
}


@pytest.mark.parametrize("fault", list(NPM_FAULTS))
def test_an_npm_fault_leaves_npm_and_the_routes_as_they_were_and_says_why(
    fault, request, api_client, client, operator_user, admin_user
):
    request.getfixturevalue("published")  # gctask applied through NPM, then a change waiting to go out
    target = request.getfixturevalue("npm_publishing")
    make, status, words, npm_words = NPM_FAULTS[fault]
    clear = make(target.need_fake())
    before = {"live": live(target), "db": export_state()}
    api = api_client(operator_user)

    answer = api.post("/api/v1/apply")

    assert answer.status_code == 422, answer.content
    body = answer.json()
    assert words in body["detail"] and body["revision"]["status"] == status, body
    stored = api.get(f"/api/v1/revisions/{body['revision']['id']}").json()
    assert (stored["status"], stored["message"], stored["publisher"]) == (status, body["detail"], "npm")
    # NPM's own words are the admins' to read (and the server log's): docs/security.md
    assert stored["output"] == ""
    assert npm_words in api_client(admin_user).get(f"/api/v1/revisions/{stored['id']}").json()["output"]
    assert_page_shows(client, operator_user, stored["id"], body["detail"])
    entry = AuditEntry.objects.get(action="publish.apply", object_id=str(stored["id"]))
    assert entry.actor == operator_user and entry.message == body["detail"]
    assert live(target) == before["live"], "NPM must still hold the previous hosts"
    assert export_state() == before["db"], "Portico's database must be unchanged"

    clear()
    again = api.post("/api/v1/apply")
    assert again.status_code == 200, again.content
    assert live(target) != before["live"]  # the change went out once NPM was well again
