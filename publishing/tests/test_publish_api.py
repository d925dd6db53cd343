"""The publishing API: shapes, roles and errors (against the real managed nginx)."""

from __future__ import annotations

import pytest

from publishing.models import Revision
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state

pytestmark = [pytest.mark.nginx, pytest.mark.django_db, pytest.mark.postgres]


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


def test_plan_apply_revisions_and_rollback_through_the_api(managed_nginx, echo_backend, api_client, operator_user):
    backend = echo_backend("front")
    client = api_client(operator_user)
    _state(backend.port, "/")

    plan = client.post("/api/v1/plan").json()
    assert {"file": "portico-gctask.test.conf", "action": "create"} in plan["changes"]
    assert plan["diff"].startswith("--- /dev/null") and plan["drift"] == []

    first = client.post("/api/v1/apply")
    assert first.status_code == 200, first.json()
    rev1 = first.json()["revision"]
    assert rev1["status"] == "applied" and rev1["author_name"] == "oscar" and rev1["number"] == 1
    assert "portico-gctask.test.conf" in rev1["files"] and rev1["snapshot"]["domains"][0]["name"] == "gctask.test"
    assert managed_nginx.seen("gctask.test", "/")["backend"] == "front"

    _state(backend.port, "/", "/task/")
    rev2 = client.post("/api/v1/apply").json()["revision"]
    listed = client.get("/api/v1/revisions").json()["items"]
    assert [r["number"] for r in listed] == [2, 1]
    assert "files" not in listed[0]
    assert client.get(f"/api/v1/revisions/{rev2['id']}").json()["diff"] == rev2["diff"]
    diff = client.get(f"/api/v1/revisions/{rev1['id']}/diff/{rev2['id']}").json()["diff"]
    assert '+    location "/task/" {' in diff

    back = client.post(f"/api/v1/revisions/{rev1['id']}/rollback")
    assert back.status_code == 200, back.json()
    assert back.json()["revision"]["rollback_of"] == rev1["id"]
    assert [r["path"] for r in export_state()["domains"][0]["routes"]] == ["/"]


def test_viewers_may_look_but_not_apply_or_roll_back(managed_nginx, api_client, viewer_user):
    revision = Revision.objects.create(number=1, status="applied", snapshot={"version": 1, "domains": []})
    client = api_client(viewer_user)
    assert client.post("/api/v1/plan").status_code == 200
    assert client.get("/api/v1/revisions").status_code == 200
    assert client.get(f"/api/v1/revisions/{revision.pk}").status_code == 200
    assert client.post("/api/v1/apply").status_code == 403
    assert client.post(f"/api/v1/revisions/{revision.pk}/rollback").status_code == 403
    assert Revision.objects.count() == 1


def test_an_unknown_revision_is_404(managed_nginx, api_client, viewer_user):
    response = api_client(viewer_user).get("/api/v1/revisions/999")
    assert response.status_code == 404
    assert set(response.json()) >= {"detail", "errors"}
