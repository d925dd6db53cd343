"""What another system answers reaches admins and the server log, never lower roles (issue 12, item 6).

An admin chooses the URLs Portico talks to (NPM's, a tcp:// engine's). Pointed at some internal web service, its
answers used to come back to every viewer inside status and error messages: Portico was a reader of internal
URLs for them. A listener on 127.0.0.1 plays that service and puts a marker in every body it sends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from publishing.models import NpmSettings
from tests.support import Listener

pytestmark = pytest.mark.django_db

MARKER = "INTERNAL-ONLY-7c1e"


def html_page(status: int) -> Callable[[str, str], tuple[int, str, bytes]]:
    """Every request gets an HTML page with the marker (a web service that is not NPM or dockerd)."""
    return lambda _method, _path: (status, "text/html", f"<html><body>{MARKER}: db password</body></html>".encode())


def npm_health_then(refusal: dict) -> Callable[[str, str], tuple[int, str, bytes]]:
    """NPM's health answer, then ``refusal`` (JSON, status 400) for everything else."""

    def answer(method: str, path: str) -> tuple[int, str, bytes]:
        if method == "GET" and path.rstrip("/").endswith("/api"):
            return 200, "application/json", json.dumps({"status": "OK", "version": {"major": 2}}).encode()
        return 400, "application/json", json.dumps(refusal).encode()

    return answer


@pytest.fixture
def upstream(request) -> Iterator[Listener]:
    server = Listener(request.param)
    yield server
    server.close()


@pytest.fixture
def npm_at_upstream(upstream: Listener) -> Listener:
    NpmSettings.objects.create(pk=1, url=f"{upstream.url}/api", identity="admin@example.com", secret="pw")
    return upstream


NPM_UPSTREAMS = [
    pytest.param(html_page(500), id="error-page"),
    pytest.param(html_page(200), id="not-json"),
    pytest.param(npm_health_then({"error": {"message": MARKER}}), id="npm-error-message"),
    pytest.param(npm_health_then({"token": None, "note": MARKER}), id="login-answer"),
]


@pytest.mark.parametrize("upstream", NPM_UPSTREAMS, indirect=True)
def test_viewers_see_npm_trouble_without_the_upstreams_words(npm_at_upstream, api_client, client, viewer_user):
    status = api_client(viewer_user).get("/api/v1/npm/status")
    assert status.status_code == 200
    assert status.json()["reachable"] is False and status.json()["error"]
    assert MARKER not in status.content.decode()
    client.force_login(viewer_user)
    page = client.get("/routes/npm/hosts/", headers={"HX-Request": "true"})
    assert page.status_code == 200 and "not connected" in page.content.decode()
    assert MARKER not in page.content.decode()
    assert npm_at_upstream.requests  # the status check really asked the listener


@pytest.mark.parametrize("upstream", [pytest.param(html_page(500), id="error-page")], indirect=True)
def test_operators_get_npm_errors_without_the_upstreams_words(npm_at_upstream, api_client, operator_user):
    hosts = api_client(operator_user).get("/api/v1/npm/hosts")
    assert hosts.status_code == 502
    assert MARKER not in hosts.content.decode()


@pytest.mark.parametrize("upstream", [pytest.param(html_page(500), id="error-page")], indirect=True)
def test_the_plan_page_keeps_npms_words_from_viewers(npm_at_upstream, client, viewer_user, admin_user, settings):
    settings.PORTICO_PUBLISHER = "npm"
    client.force_login(viewer_user)
    plan = client.get("/routes/plan/").content.decode()
    assert "NPM refused" in plan and MARKER not in plan
    client.force_login(admin_user)
    assert MARKER in client.get("/routes/plan/").content.decode()


@pytest.mark.parametrize("upstream", NPM_UPSTREAMS, indirect=True)
def test_admins_and_the_server_log_keep_the_upstreams_words(npm_at_upstream, api_client, admin_user, caplog):
    with caplog.at_level(logging.WARNING, logger="publishing.npm.client"):
        status = api_client(admin_user).get("/api/v1/npm/status").json()
    assert MARKER not in status["error"]
    assert MARKER in status["detail"]
    assert MARKER in caplog.text


@pytest.fixture
def engine_at_upstream(upstream: Listener) -> Listener:
    """A tcp:// engine whose URL an admin pointed at a web service that is not dockerd."""
    from containers.engines import forget_clients
    from containers.models import Engine

    Engine.objects.create(name="web", url=f"tcp://127.0.0.1:{upstream.port}")
    forget_clients()
    return upstream


ENGINE_UPSTREAMS = [pytest.param(html_page(404), id="not-found"), pytest.param(html_page(500), id="error-page")]


@pytest.mark.parametrize("upstream", ENGINE_UPSTREAMS, indirect=True)
def test_viewers_see_engine_trouble_without_the_upstreams_words(engine_at_upstream, api_client, client, viewer_user):
    api = api_client(viewer_user)
    engines = api.get("/api/v1/engines", {"check": "true", "q": "web"})
    assert engines.status_code == 200
    [web] = engines.json()["items"]
    assert web["status"].startswith("unavailable") and web["detail"] == ""
    assert MARKER not in engines.content.decode()
    listed = api.get("/api/v1/containers", {"engine": "web"})
    assert listed.status_code == 503 and MARKER not in listed.content.decode()
    client.force_login(viewer_user)
    page = client.get("/containers/", {"engine": "web"})
    assert page.status_code == 200 and 'data-testid="engine-error"' in page.content.decode()
    assert MARKER not in page.content.decode()
    assert engine_at_upstream.requests  # the engine really was asked


@pytest.mark.parametrize("upstream", ENGINE_UPSTREAMS, indirect=True)
def test_admins_read_what_the_engine_answered(engine_at_upstream, api_client, client, admin_user, caplog):
    with caplog.at_level(logging.INFO, logger="containers.docker.client"):
        [web] = api_client(admin_user).get("/api/v1/engines", {"check": "true", "q": "web"}).json()["items"]
    assert MARKER not in web["status"] and MARKER in web["detail"]
    assert MARKER in caplog.text
    client.force_login(admin_user)
    page = client.get("/containers/", {"engine": "web"}).content.decode()
    assert 'data-testid="engine-error-detail"' in page and MARKER in page


def test_a_failed_npm_revisions_output_is_for_admins(api_client, client, viewer_user, admin_user):
    from publishing.models import Revision

    failed = Revision.objects.create(number=1, publisher="npm", status="failed", message="NPM refused", output=MARKER)
    applied = Revision.objects.create(number=2, publisher="npm", status="applied", output="created a.test (#1)")
    viewer = api_client(viewer_user)
    assert viewer.get(f"/api/v1/revisions/{failed.pk}").json()["output"] == ""
    assert viewer.get(f"/api/v1/revisions/{applied.pk}").json()["output"] == "created a.test (#1)"
    client.force_login(viewer_user)
    assert MARKER not in client.get(f"/routes/revisions/{failed.pk}/").content.decode()
    client.force_login(admin_user)
    assert MARKER in client.get(f"/routes/revisions/{failed.pk}/").content.decode()
