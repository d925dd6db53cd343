"""The plan, revisions and revision pages (htmx and plain posts) against the real managed nginx."""

from __future__ import annotations

import pytest

from publishing.models import Revision
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state

pytestmark = [pytest.mark.nginx, pytest.mark.django_db]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _state(port: int, *paths: str) -> None:
    replace_state(
        ConfigDocument.model_validate(
            {
                "domains": [
                    {
                        "name": "gctask.test",
                        "routes": [{"path": p, "targets": [{"host": "127.0.0.1", "port": port}]} for p in paths],
                    }
                ]
            }
        )
    )


def test_the_plan_page_shows_changes_warnings_and_a_coloured_diff(managed_nginx, client, viewer_user):
    replace_state(
        ConfigDocument.model_validate(
            {
                "domains": [
                    {"name": "b.test", "routes": [{"path": "/api/", "targets": [{"host": "mytaskapi", "port": 80}]}]}
                ]
            }
        )
    )
    client.force_login(viewer_user)
    html = client.get("/routes/plan/").content.decode()
    assert "portico-b.test.conf" in html and "create" in html
    assert 'class="add">+    server_name &quot;b.test&quot;;' in html
    assert "mytaskapi" in html and 'data-testid="plan-warnings"' in html
    assert 'data-testid="apply"' not in html  # viewers only look


def test_an_operator_applies_from_the_plan_page_and_sees_nginxs_output(
    managed_nginx, echo_backend, client, operator_user
):
    backend = echo_backend("front")
    _state(backend.port, "/")
    client.force_login(operator_user)
    assert 'data-testid="apply"' in client.get("/routes/plan/").content.decode()
    response = client.post("/routes/plan/apply/", **HTMX)
    html = response.content.decode()
    assert 'data-status="applied"' in html and "test is successful" in html
    assert managed_nginx.seen("gctask.test", "/")["backend"] == "front"
    # Without htmx the post redirects to the revision.
    response = client.post("/routes/plan/apply/")
    revision = Revision.objects.get(number=2)
    assert response.status_code == 302 and response["Location"] == f"/routes/revisions/{revision.pk}/"


def test_a_failed_apply_shows_nginxs_message(managed_nginx, client, operator_user, settings):
    _state(9, "/")
    settings.PORTICO_NGINX_BIN = "/nonexistent/nginx"
    client.force_login(operator_user)
    html = client.post("/routes/plan/apply/", **HTMX).content.decode()
    assert 'data-status="failed"' in html and "/nonexistent/nginx" in html


def test_revisions_list_detail_diff_and_rollback(managed_nginx, echo_backend, client, operator_user):
    backend = echo_backend("front")
    client.force_login(operator_user)
    _state(backend.port, "/")
    client.post("/routes/plan/apply/")
    _state(backend.port, "/", "/task/")
    client.post("/routes/plan/apply/")
    first, second = Revision.objects.order_by("number")
    listing = client.get("/routes/revisions/").content.decode()
    assert listing.count('data-testid="revision-row"') == 2 and "oscar" in listing
    detail = client.get(f"/routes/revisions/{second.pk}/").content.decode()
    assert 'class="add">+    location &quot;/task/&quot; {' in detail and 'data-testid="rollback"' in detail
    diff = client.get(f"/routes/revisions/diff/?a={first.pk}&b={second.pk}", **HTMX).content.decode()
    assert 'id="revision-diff"' in diff and "+++ #2/portico-gctask.test.conf" in diff

    html = client.post(f"/routes/revisions/{first.pk}/rollback/", **HTMX).content.decode()
    assert 'data-status="applied"' in html and "rollback to #1" in html
    assert [r["path"] for r in export_state()["domains"][0]["routes"]] == ["/"]


def test_viewers_cannot_apply_or_roll_back(managed_nginx, client, viewer_user):
    revision = Revision.objects.create(number=1, status="applied", snapshot={"version": 1, "domains": []})
    client.force_login(viewer_user)
    assert client.post("/routes/plan/apply/").status_code == 403
    assert client.post(f"/routes/revisions/{revision.pk}/rollback/").status_code == 403
    assert 'data-testid="rollback"' not in client.get(f"/routes/revisions/{revision.pk}/").content.decode()
    assert Revision.objects.count() == 1
