"""The containers API against the real engine: list, detail, logs, search, actions, roles, engines."""

from __future__ import annotations

import pytest

from tests.support import wait_for_log, wait_until

pytestmark = pytest.mark.django_db


def _state(client, name: str) -> str:
    rows = client.get("/api/v1/containers", {"q": name}).json()["items"]
    return next(r["state"] for r in rows if r["name"] == name)


def test_status_transitions_show_in_list_and_detail(api_client, viewer_user, create_container):
    api = api_client(viewer_user)
    container = create_container(["sh", "-c", "sleep 1; echo done"])
    assert _state(api, container.name) == "created"
    assert api.get(f"/api/v1/containers/{container.name}").json()["state"] == "created"

    container.start()
    assert _state(api, container.name) == "running"
    detail = api.get(f"/api/v1/containers/{container.id}").json()
    assert detail["state"] == "running"
    assert detail["name"] == container.name
    assert detail["started_at"] is not None

    wait_until(lambda: _state(api, container.name) == "exited", what="exit")
    detail = api.get(f"/api/v1/containers/{container.name}").json()
    assert detail["state"] == "exited"
    assert detail["exit_code"] == 0


def test_list_filters_by_state_and_name(api_client, viewer_user, run_container, create_container):
    api = api_client(viewer_user)
    running = run_container(["sleep", "60"])
    created = create_container(["sleep", "60"])
    names = {r["name"] for r in api.get("/api/v1/containers", {"state": "running"}).json()["items"]}
    assert running.name in names and created.name not in names
    names = {r["name"] for r in api.get("/api/v1/containers", {"state": "created"}).json()["items"]}
    assert created.name in names and running.name not in names
    rows = api.get("/api/v1/containers", {"q": running.name}).json()["items"]
    assert [r["name"] for r in rows] == [running.name]
    assert rows[0]["networks"] == ["none"]
    assert rows[0]["image"] == "portico-test/busybox:1"


def test_list_pages_are_ordered_by_name(api_client, viewer_user, create_container):
    api = api_client(viewer_user)
    made = sorted(create_container(["sleep", "60"]).name for _ in range(3))
    prefix = made[0].rsplit("-", 2)[0]
    first = api.get("/api/v1/containers", {"q": prefix, "page_size": 2}).json()
    assert (first["count"], first["pages"]) == (3, 2)
    second = api.get("/api/v1/containers", {"q": prefix, "page_size": 2, "page": 2}).json()
    assert [r["name"] for r in first["items"] + second["items"]] == made


def test_detail_hides_environment_and_admins_reveal_it_with_an_audit_entry(
    api_client, viewer_user, admin_user, run_container
):
    from core.models import AuditEntry

    container = run_container(["sleep", "60"], environment={"DB_PASSWORD": "s3cret-value"})
    viewer = api_client(viewer_user)
    body = viewer.get(f"/api/v1/containers/{container.name}").content.decode()
    assert "s3cret-value" not in body
    assert '"env_count": 2' in body.replace(":2", ": 2")  # PATH from the image and ours
    assert viewer.post(f"/api/v1/containers/{container.name}/env").status_code == 403

    admin = api_client(admin_user)
    env = admin.post(f"/api/v1/containers/{container.name}/env").json()
    assert {"name": "DB_PASSWORD", "value": "s3cret-value"} in env
    entry = AuditEntry.objects.get(action="container.env.reveal")
    assert entry.actor == admin_user and entry.object_repr == container.name
    assert "s3cret-value" not in str(entry.after)


def test_unknown_container_is_404_and_unknown_engine_is_404(api_client, viewer_user, docker_sdk):
    api = api_client(viewer_user)
    response = api.get("/api/v1/containers/no-such-container-here")
    assert response.status_code == 404
    assert "no container" in response.json()["detail"]
    assert api.get("/api/v1/containers", {"engine": "nope"}).status_code == 404
    assert api.get("/api/v1/containers/no-such-container-here/logs").status_code == 404


PRINT_TEN = (
    "for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; done; sleep 0.2; echo oops-1 >&2; sleep 0.2; echo LAST; sleep 60"
)


def test_logs_tail_returns_exactly_the_last_lines_with_streams_marked(api_client, viewer_user, run_container):
    api = api_client(viewer_user)
    container = run_container(["sh", "-c", PRINT_TEN])
    wait_for_log(container, "LAST")
    lines = api.get(f"/api/v1/containers/{container.name}/logs", {"tail": "3"}).json()
    assert [(x["stream"], x["text"]) for x in lines] == [
        ("stdout", "line-10"),
        ("stderr", "oops-1"),
        ("stdout", "LAST"),
    ]
    assert all(x["ts"].endswith("Z") and len(x["ts"]) == 30 for x in lines)

    everything = api.get(f"/api/v1/containers/{container.name}/logs", {"tail": "all"}).json()
    assert [x["text"] for x in everything] == [f"line-{i}" for i in range(1, 11)] + ["oops-1", "LAST"]
    only_err = api.get(f"/api/v1/containers/{container.name}/logs", {"stream": "stderr"}).json()
    assert [x["text"] for x in only_err] == ["oops-1"]


def test_logs_since_and_until_are_exact_and_inclusive(api_client, viewer_user, run_container):
    api = api_client(viewer_user)
    container = run_container(["sh", "-c", "for i in 1 2 3 4 5 6; do echo step-$i; sleep 0.3; done; sleep 60"])
    wait_for_log(container, "step-6")
    url = f"/api/v1/containers/{container.name}/logs"
    lines = api.get(url, {"tail": "all"}).json()
    assert [x["text"] for x in lines] == [f"step-{i}" for i in range(1, 7)]
    since = api.get(url, {"tail": "all", "since": lines[2]["ts"]}).json()
    assert [x["text"] for x in since] == ["step-3", "step-4", "step-5", "step-6"]
    window = api.get(url, {"tail": "all", "since": lines[1]["ts"], "until": lines[3]["ts"]}).json()
    assert [x["text"] for x in window] == ["step-2", "step-3", "step-4"]
    bad = api.get(url, {"since": "yesterday-ish"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "since"


def test_search_finds_only_matching_lines_substring_and_regex(api_client, viewer_user, run_container):
    api = api_client(viewer_user)
    script = "echo 'GET /users 200'; echo 'GET /task 500'; echo 'post /TASK 201'; sleep 0.2; echo 'error: db down' >&2; sleep 0.2; echo END; sleep 60"
    container = run_container(["sh", "-c", script])
    wait_for_log(container, "END")
    url = f"/api/v1/containers/{container.name}/logs"
    found = api.get(url, {"q": "/task"}).json()
    assert [x["text"] for x in found] == ["GET /task 500", "post /TASK 201"]  # case-insensitive
    found = api.get(url, {"q": r"\s5\d\d$", "regex": "true"}).json()
    assert [x["text"] for x in found] == ["GET /task 500"]
    found = api.get(url, {"q": "^(get|error)", "regex": "true", "tail": "1"}).json()
    assert [x["text"] for x in found] == ["error: db down"]  # tail counts matches
    assert api.get(url, {"q": "nothing-like-this"}).json() == []
    bad = api.get(url, {"q": "(unclosed", "regex": "true"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "q"
    assert api.get(url, {"q": "x" * 201}).status_code == 422


def test_a_backtracking_regex_is_stopped_not_left_running(api_client, viewer_user, run_container):
    api = api_client(viewer_user)
    container = run_container(["sh", "-c", "printf 'a%.0s' $(seq 1 3000); echo b; echo END; sleep 60"])
    wait_for_log(container, "END")
    response = api.get(f"/api/v1/containers/{container.name}/logs", {"q": "(a|aa)+$", "regex": "true"})
    assert response.status_code == 422
    assert "too costly" in response.json()["errors"][0]["message"]


def test_ansi_colour_codes_are_stripped(api_client, viewer_user, run_container):
    api = api_client(viewer_user)
    container = run_container(["sh", "-c", r"printf '\033[31mred\033[0m plain\n'; echo END; sleep 60"])
    wait_for_log(container, "END")
    lines = api.get(f"/api/v1/containers/{container.name}/logs").json()
    assert lines[0]["text"] == "red plain"


def test_actions_change_the_real_container_and_are_audited(api_client, operator_user, run_container, docker_sdk):
    from core.models import AuditEntry

    api = api_client(operator_user)
    container = run_container(["sleep", "600"])
    response = api.post(f"/api/v1/containers/{container.name}/stop")
    assert response.status_code == 200
    assert response.json()["state"] == "exited"
    container.reload()
    assert container.status == "exited"

    response = api.post(f"/api/v1/containers/{container.name}/start")
    assert response.json()["state"] == "running"
    container.reload()
    assert container.status == "running"
    started = container.attrs["State"]["StartedAt"]

    response = api.post(f"/api/v1/containers/{container.id}/restart")
    assert response.json()["state"] == "running"
    container.reload()
    assert container.attrs["State"]["StartedAt"] != started

    entries = list(AuditEntry.objects.filter(object_repr=container.name).order_by("id"))
    assert [e.action for e in entries] == ["container.stop", "container.start", "container.restart"]
    assert all(e.actor == operator_user and e.source == "api" for e in entries)
    assert entries[0].before["state"] == "running" and entries[0].after["state"] == "exited"


def test_a_viewer_may_not_act(api_client, viewer_user, run_container):
    from core.models import AuditEntry

    container = run_container(["sleep", "600"])
    api = api_client(viewer_user)
    for action in ("start", "stop", "restart"):
        assert api.post(f"/api/v1/containers/{container.name}/{action}").status_code == 403
    container.reload()
    assert container.status == "running"
    assert not AuditEntry.objects.filter(action__startswith="container.").exists()


def test_a_dead_engine_answers_503_and_the_local_engine_keeps_working(api_client, admin_user, run_container, tmp_path):
    api = api_client(admin_user)
    container = run_container(["sleep", "60"])
    dead = f"unix://{tmp_path}/nothing-here.sock"
    created = api.post("/api/v1/engines", {"name": "dead", "url": dead}, content_type="application/json")
    assert created.status_code == 201, created.content
    response = api.get("/api/v1/containers", {"engine": "dead"})
    assert response.status_code == 503
    assert "no Docker socket" in response.json()["detail"]
    assert api.get("/api/v1/containers/x/logs", {"engine": "dead"}).status_code == 503
    names = [r["name"] for r in api.get("/api/v1/containers", {"engine": "local", "page_size": 500}).json()["items"]]
    assert container.name in names
    engines = {e["name"]: e for e in api.get("/api/v1/engines", {"check": "true"}).json()["items"]}
    assert engines["local"]["status"] == "ok"
    assert engines["dead"]["status"].startswith("unavailable: ")


def test_engines_are_validated_and_only_admins_change_them(api_client, admin_user, operator_user):
    from core.models import AuditEntry

    operator = api_client(operator_user)
    assert (
        operator.post(
            "/api/v1/engines", {"name": "x", "url": "tcp://h:2376"}, content_type="application/json"
        ).status_code
        == 403
    )
    admin = api_client(admin_user)
    bad = admin.post("/api/v1/engines", {"name": "Bad Name", "url": "http://x"}, content_type="application/json")
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "url"}
    bad = admin.post(
        "/api/v1/engines",
        {"name": "remote", "url": "tcp://h:2376", "tls_ca": "/no/such/ca.pem"},
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tls_ca"
    ok = admin.post(
        "/api/v1/engines", {"name": "remote", "url": "ssh://deploy@example.invalid"}, content_type="application/json"
    )
    assert ok.status_code == 201
    assert ok.json() == {
        "name": "remote",
        "url": "ssh://***@example.invalid",  # user info is shown to nobody (docs/security.md)
        "default": False,
        "builtin": False,
        "tls": False,
        "status": None,
        "detail": "",
        "version": 1,
    }
    assert admin.delete("/api/v1/engines/local").status_code == 409
    assert admin.delete("/api/v1/engines/remote").status_code == 204
    assert admin.delete("/api/v1/engines/remote").status_code == 404
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["engine.create", "engine.delete"]


def test_an_engine_is_edited_with_its_version_and_every_path_audits_the_same_snapshot(
    api_client, admin_user, operator_user, client
):
    from containers.models import Engine
    from core.models import AuditEntry

    admin = api_client(admin_user)
    created = admin.post("/api/v1/engines", {"name": "remote", "url": "ssh://deploy@old.invalid"}, "application/json")
    assert created.status_code == 201 and created.json()["version"] == 1
    assert (
        api_client(operator_user).patch("/api/v1/engines/remote", {"default": True}, "application/json").status_code
        == 403
    )
    changed = admin.patch(
        "/api/v1/engines/remote",
        {"url": "ssh://deploy@new.invalid", "default": True},
        "application/json",
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200 and changed["ETag"] == '"2"'
    assert changed.json()["url"] == "ssh://***@new.invalid" and changed.json()["default"] is True
    stale = admin.patch("/api/v1/engines/remote", {"default": False}, "application/json", headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["errors"][0]["field"] == "If-Match"
    bad = admin.patch("/api/v1/engines/remote", {"url": "ftp://nope"}, "application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    assert admin.patch("/api/v1/engines/local", {"default": True}, "application/json").status_code == 409
    assert admin.delete("/api/v1/engines/remote", headers={"If-Match": '"1"'}).status_code == 412
    assert Engine.objects.get(name="remote").url == "ssh://deploy@new.invalid"  # refused changes changed nothing
    client.force_login(admin_user)
    assert client.post("/containers/engines/remote/delete/").status_code == 302
    entries = list(AuditEntry.objects.filter(object_type="containers.engine").order_by("id"))
    assert [(e.action, e.source) for e in entries] == [
        ("engine.create", "api"),
        ("engine.update", "api"),
        ("engine.delete", "ui"),
    ]
    assert entries[1].before == entries[0].after  # one snapshot shape, whichever path wrote it
    assert (
        entries[2].before
        == entries[1].after
        == {
            "name": "remote",
            "url": "ssh://***@new.invalid",
            "tls_ca": "",
            "tls_cert": "",
            "tls_key": "",
            "tls_verify": True,
            "default": True,
        }
    )
