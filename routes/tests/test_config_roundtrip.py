"""Config as code end to end: export -> delete everything -> import -> apply gives byte-identical nginx files."""

from __future__ import annotations

import pytest

from publishing import operations

pytestmark = [pytest.mark.nginx, pytest.mark.django_db, pytest.mark.postgres]


def test_export_delete_import_apply_gives_byte_identical_nginx_files(
    api_client, admin_user, managed_nginx, echo_backend
):
    api = api_client(admin_user)
    front, task, user, spare = (echo_backend(n) for n in ("front", "task", "user", "spare"))
    doc = {
        "domains": [
            {
                "name": "gctask.test",
                "notes": "the lab",
                "routes": [
                    {"path": "/", "targets": [{"host": "127.0.0.1", "port": front.port}]},
                    {"path": "/task/", "targets": [{"host": "127.0.0.1", "port": task.port}], "strip_prefix": True},
                    {
                        "path": "/user/",
                        "targets": [
                            {"host": "127.0.0.1", "port": user.port, "weight": 3},
                            {"host": "127.0.0.1", "port": spare.port, "backup": True},
                        ],
                        "balance": "least_conn",
                        "websocket": True,
                        "connect_timeout": 2,
                        "read_timeout": 300,
                    },
                    {"path": "/old/", "targets": [{"host": "127.0.0.1", "port": spare.port}], "enabled": False},
                    {
                        "path": "/moved/",
                        "action": "redirect",
                        "redirect_url": "https://new.example.com/here",
                        "redirect_code": 308,
                        "preserve_path": True,
                    },
                    {
                        "path": "/gone",
                        "action": "respond",
                        "respond_status": 410,
                        "respond_body": "사라졌습니다: gone.",
                    },
                ],
            },
            {"name": "한국.test", "routes": [{"path": "/", "targets": [{"host": "::1", "port": 9}]}]},
            {"name": "*.apps.test", "enabled": False, "routes": [{"path": "/", "targets": [{"host": "x", "port": 1}]}]},
        ]
    }
    assert api.put("/api/v1/config", doc, content_type="application/json").status_code == 200
    assert api.post("/api/v1/apply").status_code == 200
    live_before = operations.get_publisher().current()
    assert any("gctask.test" in name for name in live_before)
    assert managed_nginx.seen("gctask.test", "/task/a")["path"] == "/a"
    moved = managed_nginx.get("gctask.test", "/moved/a?b=1")
    assert (moved.status_code, moved.headers["location"]) == (308, "https://new.example.com/here/a?b=1")

    exported = api.get("/api/v1/config", headers={"Accept": "application/yaml"}).content

    for domain in api.get("/api/v1/domains").json()["items"]:
        assert api.delete(f"/api/v1/domains/{domain['name']}?cascade=true").status_code == 204
    assert api.post("/api/v1/apply").status_code == 200
    emptied = operations.get_publisher().current()
    assert emptied != live_before  # the deletion really reached nginx
    gone = managed_nginx.get("gctask.test", "/task/a")
    assert gone.status_code == 404, (gone.status_code, gone.text[:200])

    imported = api.put("/api/v1/config", exported, content_type="application/yaml")
    assert imported.status_code == 200, imported.content
    applied = api.post("/api/v1/apply")
    assert applied.status_code == 200, applied.content
    live_after = operations.get_publisher().current()
    assert live_after.keys() == live_before.keys()
    for name, text in live_before.items():
        assert live_after[name].encode() == text.encode(), name
    assert managed_nginx.seen("gctask.test", "/task/a")["backend"] == "task"
