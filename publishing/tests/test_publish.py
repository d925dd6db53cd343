"""Plan → apply → verify → rollback against Portico's real managed nginx, with real HTTP backends."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from publishing import operations
from publishing.models import Revision
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state
from tests.support import free_port

pytestmark = [pytest.mark.nginx, pytest.mark.django_db, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]


def set_state(raw: dict) -> ConfigDocument:
    document = ConfigDocument.model_validate(raw)
    replace_state(document)
    return document


def route(path: str, *ports: int, **extra) -> dict:
    return {"path": path, "targets": [{"host": "127.0.0.1", "port": p} for p in ports], **extra}


def lecture(front, task, user, *, strip: bool) -> dict:
    return {
        "domains": [
            {
                "name": "gctask.test",
                "routes": [
                    route("/", front.port),
                    route("/task/", task.port, strip_prefix=strip),
                    route("/user/", user.port, strip_prefix=strip),
                ],
            }
        ]
    }


def live_files(proxy) -> dict[str, str]:
    return proxy.nginx.read_live()


@pytest.mark.parametrize("strip", [True, False])
def test_the_lecture_scenario_routes_each_path_to_its_backend(managed_nginx, echo_backend, strip):
    front, task, user = echo_backend("front"), echo_backend("task"), echo_backend("user")
    set_state(lecture(front, task, user, strip=strip))

    revision = operations.apply()

    assert revision.status == Revision.Status.APPLIED, (revision.message, revision.output)
    assert "test is successful" in revision.output and "verified 1 domain" in revision.output
    home = managed_nginx.seen("gctask.test", "/")
    assert (home["backend"], home["path"]) == ("front", "/")
    tasks = managed_nginx.seen("gctask.test", "/task/list?page=2")
    users = managed_nginx.seen("gctask.test", "/user/42")
    assert tasks["backend"] == "task" and users["backend"] == "user"
    if strip:
        assert tasks["path"] == "/list?page=2" and users["path"] == "/42"
        assert tasks["headers"]["X-Forwarded-Prefix"] == "/task"
    else:
        assert tasks["path"] == "/task/list?page=2" and users["path"] == "/user/42"
        assert "X-Forwarded-Prefix" not in tasks["headers"]
    headers = tasks["headers"]
    assert headers["Host"] == "gctask.test"
    assert headers["X-Real-IP"] == "127.0.0.1"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == "gctask.test"
    # /task without the slash is redirected by nginx to /task/; an unknown Host is not served.
    assert managed_nginx.get("gctask.test", "/task").status_code == 301
    assert managed_nginx.get("other.test", "/").status_code == 404


def test_a_domain_without_a_root_route_answers_404_for_other_paths(managed_nginx, echo_backend):
    api = echo_backend("api")
    set_state({"domains": [{"name": "api.test", "routes": [route("/v1/", api.port)]}]})
    assert operations.apply().status == "applied"
    assert managed_nginx.seen("api.test", "/v1/x")["path"] == "/v1/x"
    assert managed_nginx.get("api.test", "/elsewhere").status_code == 404


def test_round_robin_reaches_both_targets_and_ip_hash_sticks(managed_nginx, echo_backend):
    one, two = echo_backend("one"), echo_backend("two")
    set_state({"domains": [{"name": "lb.test", "routes": [route("/", one.port, two.port)]}]})
    assert operations.apply().status == "applied"
    seen = {managed_nginx.seen("lb.test", "/")["backend"] for _ in range(10)}
    assert seen == {"one", "two"}

    set_state({"domains": [{"name": "lb.test", "routes": [route("/", one.port, two.port, balance="ip_hash")]}]})
    assert operations.apply().status == "applied"
    sticky = {managed_nginx.seen("lb.test", "/")["backend"] for _ in range(10)}
    assert len(sticky) == 1


def test_plan_shows_the_diff_and_warnings_before_apply(managed_nginx, echo_backend):
    front = echo_backend("front")
    set_state(
        {
            "domains": [
                {"name": "a.test", "routes": [route("/", front.port)]},
                {"name": "b.test", "routes": [{"path": "/api/", "targets": [{"host": "mytaskapi", "port": 80}]}]},
            ]
        }
    )
    plan = operations.plan()
    assert {c["file"]: c["action"] for c in plan.changes} == {
        "portico-a.test.conf": "create",
        "portico-b.test.conf": "create",
        "portico.conf": "create",
    }
    assert "+++ new/portico-a.test.conf" in plan.diff
    assert any("mytaskapi" in w for w in plan.warnings)
    operations.apply()
    assert operations.plan().changes == [] and operations.plan().diff == ""


def test_a_hand_edited_live_file_shows_as_drift(managed_nginx, echo_backend):
    front = echo_backend("front")
    set_state({"domains": [{"name": "a.test", "routes": [route("/", front.port)]}]})
    operations.apply()
    live = managed_nginx.nginx.live / "portico-a.test.conf"
    live.write_text(live.read_text() + "# edited by hand\n")
    plan = operations.plan()
    assert plan.drift == ["portico-a.test.conf"]
    assert "Changed outside Portico" in plan.warnings[0]
    assert "-# edited by hand" in plan.diff


def test_twenty_applies_under_a_request_loop_lose_no_request(managed_nginx, echo_backend, request_loop):
    front, other = echo_backend("front"), echo_backend("other")
    base = {"name": "gctask.test", "routes": [route("/", front.port)]}
    set_state({"domains": [base]})
    assert operations.apply().status == "applied"
    loop = request_loop(managed_nginx, "gctask.test", "/", lambda r: r.status_code == 200 and '"front"' in r.text)
    with loop:
        for i in range(20):
            set_state(
                {
                    "domains": [
                        {**base, "routes": [route("/", front.port, read_timeout=30 + i)]},
                        {"name": f"extra{i}.test", "routes": [route("/", other.port)]},
                    ]
                }
            )
            revision = operations.apply()
            assert revision.status == "applied", revision.message
    assert loop.failures == []
    assert loop.total > 40
    assert Revision.objects.filter(status="applied").count() == 21


def _fresh_connection_backend(port: int) -> str:
    """Which backend answers gctask.test/ on a new connection (a kept-alive one sticks to one worker)."""
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "gctask.test", "Connection": "close"})
        response = conn.getresponse()
        body = response.read()
        return json.loads(body)["backend"] if response.status == 200 else f"status {response.status}"
    finally:
        conn.close()


def test_once_apply_returns_no_new_connection_reaches_the_old_config(managed_nginx, echo_backend):
    """nginx's old workers accept for a moment after a reload; the apply must not return before they stop."""
    a, b = echo_backend("a"), echo_backend("b")
    for i in range(8):
        want = (a, b)[i % 2]
        set_state({"domains": [{"name": "gctask.test", "routes": [route("/", want.port)]}]})
        if i % 4 == 3:
            # A reload still in flight when the apply starts (as the restore after a failed apply leaves one):
            # its workers, with the old config, must not be mistaken for the new generation.
            managed_nginx.nginx.reload()
        revision = operations.apply()
        assert revision.status == "applied", revision.message
        assert "SIGHUP sent to nginx's master" in revision.output  # no second parse by `nginx -s reload`
        answers = {_fresh_connection_backend(managed_nginx.port) for _ in range(30)}
        assert answers == {want.name}, (i, answers)


def test_old_workers_are_seen_to_stop_after_a_reload(managed_nginx):
    from publishing.nginx.process import children as _children

    backend = managed_nginx.nginx
    master = backend._pid()
    before = set(_children(master))
    assert before, "the master has no workers"
    backend.reload()
    deadline = time.monotonic() + 5

    def new_worker_up() -> bool:
        # verify() asks only once the new config answers, that is once a new worker runs as one: a child just
        # forked still carries the master's title until it becomes a worker.
        for pid in set(_children(master)) - before:
            with contextlib.suppress(OSError):
                if b"worker process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
        return False

    while not new_worker_up():
        assert time.monotonic() < deadline, "no new worker started"
        time.sleep(0.005)
    while backend.old_workers_done() is not True:
        assert time.monotonic() < deadline, "the old workers never stopped accepting"
        time.sleep(0.005)
    for pid in before:  # each old worker is gone or no longer accepting
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert not title or b"shutting down" in title, title


# --- failures: the live proxy keeps serving, the database stays, the failure is recorded -----------------


class BrokenRender(operations.NginxPublisher):
    """A publisher whose output nginx rejects (as a renderer bug would): the pipeline must contain it."""

    def render(self, document):
        files = super().render(document)
        files["portico-zz-broken.conf"] = "server { listen 127.0.0.1:1; no_such_directive on; }\n"
        return files


@pytest.fixture
def serving(managed_nginx, echo_backend, request_loop):
    """gctask.test served by a backend, applied; returns (proxy, loop, state before the failure)."""
    front, newer = echo_backend("front"), echo_backend("newer")
    set_state({"domains": [{"name": "gctask.test", "routes": [route("/", front.port)]}]})
    assert operations.apply().status == "applied"
    set_state({"domains": [{"name": "gctask.test", "routes": [route("/", front.port), route("/new/", newer.port)]}]})
    loop = request_loop(managed_nginx, "gctask.test", "/", lambda r: r.status_code == 200 and '"front"' in r.text)
    return managed_nginx, loop, export_state(), live_files(managed_nginx)


def _assert_unchanged(proxy, loop, state, files, revision, status, words):
    assert revision.status == status, (revision.status, revision.message)
    assert words in revision.message + revision.output, (revision.message, revision.output)
    assert loop.failures == [] and loop.total > 5
    assert export_state() == state
    assert live_files(proxy) == files
    assert proxy.seen("gctask.test", "/new/")["backend"] == "front"  # still the previous config
    assert Revision.objects.get(pk=revision.pk).status == status


def test_nginx_rejecting_the_staged_config_changes_nothing(serving):
    proxy, loop, state, files = serving
    with loop:
        revision = operations.apply(publisher=BrokenRender())
    _assert_unchanged(proxy, loop, state, files, revision, "failed", 'unknown directive "no_such_directive"')
    assert "portico-zz-broken.conf" in revision.message


def test_a_failed_reload_puts_the_previous_config_back(serving, settings):
    proxy, loop, state, files = serving
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        # nginx -t does not bind, so the staged config passes; the reload cannot bind the busy port.
        settings.PORTICO_NGINX_LISTEN = busy.getsockname()
        settings.PORTICO_VERIFY_TIMEOUT = 2
        with loop:
            revision = operations.apply()
        settings.PORTICO_NGINX_LISTEN = ("127.0.0.1", proxy.port)
    finally:
        busy.close()
    _assert_unchanged(proxy, loop, state, files, revision, "rolled_back", "Address already in use")


def test_an_unwritable_staging_directory_changes_nothing(serving):
    proxy, loop, state, files = serving
    staging = proxy.nginx.staging
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    staging.write_text("a file where the staging directory should be")
    with loop:
        revision = operations.apply()
    _assert_unchanged(proxy, loop, state, files, revision, "failed", "cannot write the staging directory")


def test_a_missing_nginx_binary_changes_nothing(serving, settings):
    proxy, loop, state, files = serving
    settings.PORTICO_NGINX_BIN = "/nonexistent/nginx"
    with loop:
        revision = operations.apply()
    _assert_unchanged(proxy, loop, state, files, revision, "failed", "not found")


def test_a_stopped_nginx_fails_the_apply_and_keeps_the_files(serving):
    proxy, _loop, state, files = serving
    proxy.nginx.stop()
    revision = operations.apply()
    assert revision.status == "rolled_back"
    assert "not running" in revision.message and "manage.py nginx start" in revision.message
    assert export_state() == state and live_files(proxy) == files
    proxy.nginx.start()
    assert proxy.seen("gctask.test", "/new/")["backend"] == "front"


def test_the_api_shows_a_failed_apply_with_nginxs_message(serving, api_client, operator_user, settings):
    proxy, loop, state, files = serving
    settings.PORTICO_NGINX_BIN = "/nonexistent/nginx"
    response = api_client(operator_user).post("/api/v1/apply")
    assert response.status_code == 422
    body = response.json()
    assert body["revision"]["status"] == "failed"
    assert "not found" in body["detail"]
    assert body["revision"]["message"] == body["detail"]


# --- rollback, missing targets, recovery, concurrency -----------------------------------------------------


def test_rollback_restores_served_behaviour_and_routes(managed_nginx, echo_backend):
    old, new = echo_backend("old"), echo_backend("new")
    set_state({"domains": [{"name": "app.test", "routes": [route("/", old.port), route("/legacy/", old.port)]}]})
    first = operations.apply()
    first_state = export_state()
    set_state(
        {
            "domains": [
                {"name": "app.test", "routes": [route("/", new.port)]},
                {"name": "b.test", "routes": [route("/", new.port)]},
            ]
        }
    )
    assert operations.apply().status == "applied"
    assert managed_nginx.seen("app.test", "/")["backend"] == "new"

    back = operations.rollback(first)

    assert back.status == "applied" and back.rollback_of_id == first.pk
    assert managed_nginx.seen("app.test", "/")["backend"] == "old"
    assert managed_nginx.seen("app.test", "/legacy/x")["backend"] == "old"
    assert managed_nginx.get("b.test", "/").status_code == 404
    assert export_state() == first_state
    assert operations.plan().changes == []
    assert "portico-b.test.conf" in operations.revision_diff(back, Revision.objects.get(number=2))


def test_a_failed_rollback_changes_neither_routes_nor_files(managed_nginx, echo_backend, settings):
    old, new = echo_backend("old"), echo_backend("new")
    set_state({"domains": [{"name": "app.test", "routes": [route("/", old.port)]}]})
    first = operations.apply()
    set_state({"domains": [{"name": "app.test", "routes": [route("/", new.port)]}]})
    operations.apply()
    state, files = export_state(), live_files(managed_nginx)
    back = operations.rollback(first, publisher=BrokenRender())
    assert back.status == "failed"
    assert export_state() == state and live_files(managed_nginx) == files
    assert managed_nginx.seen("app.test", "/")["backend"] == "new"


def test_missing_and_unresolvable_targets_do_not_stop_other_domains(managed_nginx, echo_backend):
    alive = echo_backend("alive")
    set_state(
        {
            "domains": [
                {"name": "alive.test", "routes": [route("/", alive.port)]},
                {"name": "stopped.test", "routes": [route("/", free_port())]},
                {
                    "name": "gone.test",
                    "routes": [{"path": "/", "targets": [{"host": "no-such-container", "port": 80}]}],
                },
            ]
        }
    )
    plan = operations.plan()
    assert any("no-such-container" in w for w in plan.warnings)
    revision = operations.apply()
    assert revision.status == "applied", revision.message
    assert managed_nginx.seen("alive.test", "/")["backend"] == "alive"
    for host in ("stopped.test", "gone.test"):
        response = managed_nginx.get(host, "/")
        assert response.status_code == 502
        assert "upstream unavailable" in response.text and "stopped, missing" in response.text


@pytest.mark.docker
def test_a_stopped_target_container_does_not_stop_the_other_domains(managed_nginx, echo_backend, run_container):
    alive = echo_backend("alive")
    port = free_port()
    container = run_container(
        ["sh", "-c", f"mkdir -p /www && echo from-container > /www/index.html && httpd -f -p 127.0.0.1:{port} -h /www"],
        network_mode="host",
    )
    set_state(
        {
            "domains": [
                {"name": "alive.test", "routes": [route("/", alive.port)]},
                {"name": "box.test", "routes": [route("/", port)]},
            ]
        }
    )
    assert operations.apply().status == "applied"
    deadline = time.monotonic() + 10
    while managed_nginx.get("box.test", "/").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "from-container" in managed_nginx.get("box.test", "/").text
    container.stop(timeout=2)
    assert managed_nginx.get("box.test", "/").status_code == 502
    assert managed_nginx.seen("alive.test", "/")["backend"] == "alive"
    # Applying again while the container is stopped still works for everyone else.
    set_state(
        {
            "domains": [
                {"name": "alive.test", "routes": [route("/", alive.port), route("/more/", alive.port)]},
                {"name": "box.test", "routes": [route("/", port)]},
            ]
        }
    )
    assert operations.apply().status == "applied"
    assert managed_nginx.seen("alive.test", "/more/")["backend"] == "alive"


def test_a_kill_between_swap_and_reload_is_undone_on_the_next_start(managed_nginx, echo_backend, tmp_path):
    from django.core.management import call_command

    old, new = echo_backend("old"), echo_backend("new")
    set_state({"domains": [{"name": "app.test", "routes": [route("/", old.port)]}]})
    assert operations.apply().status == "applied"
    previous = live_files(managed_nginx)
    desired = operations.NginxPublisher().render(
        ConfigDocument.model_validate({"domains": [{"name": "app.test", "routes": [route("/", new.port)]}]})
    )
    pending = Revision.objects.create(number=99, status="pending", files=desired)
    script = (
        "import django, json, sys, time; django.setup(); from publishing.nginx.backends import backend; "
        "d = json.loads(sys.stdin.read()); backend().push(d['desired'], d['previous'], pause=lambda: time.sleep(60))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PORTICO_TESTING": "true",
        "PORTICO_VAR_DIR": str(django_settings.VAR_DIR),
        "PORTICO_NGINX_DIR": str(django_settings.PORTICO_NGINX_DIR),
        "PORTICO_NGINX_LISTEN": f"127.0.0.1:{managed_nginx.port}",
        "PORTICO_NGINX_BIN": django_settings.PORTICO_NGINX_BIN,
        "PORTICO_NGINX_RESOLVER": "127.0.0.1",
    }
    import json

    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdin=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps({"desired": desired, "previous": previous}))
    proc.stdin.close()
    journal = managed_nginx.nginx.journal_path
    deadline = time.monotonic() + 30
    while not (journal.exists() and live_files(managed_nginx) == desired) and time.monotonic() < deadline:
        assert proc.poll() is None, "the apply process ended before the swap"
        time.sleep(0.05)
    assert live_files(managed_nginx) == desired  # swapped, not reloaded
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert managed_nginx.seen("app.test", "/")["backend"] == "old"  # nginx never reloaded

    call_command("nginx", "start")  # the next start finds the journal

    assert not journal.exists()
    assert live_files(managed_nginx) == previous
    pending.refresh_from_db()
    assert pending.status == "failed" and "interrupted" in pending.message
    # A reload now (as the next apply does) still serves the previous config.
    assert operations.apply().status == "applied"
    assert managed_nginx.seen("app.test", "/")["backend"] == "old"


@pytest.mark.django_db(transaction=True)
def test_two_applies_at_once_are_serialized_and_both_recorded(managed_nginx, echo_backend):
    one, two = echo_backend("one"), echo_backend("two")
    set_state({"domains": [{"name": "a.test", "routes": [route("/", one.port)]}]})
    rev_a = operations.apply()
    set_state(
        {
            "domains": [
                {"name": "b.test", "routes": [route("/", two.port)]},
                {"name": "c.test", "routes": [route("/", two.port)]},
            ]
        }
    )
    rev_b = operations.apply()
    results: list = []
    errors: list = []

    def roll(target):
        try:
            results.append(operations.rollback(target))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=roll, args=(r,)) for r in (rev_a, rev_b, rev_a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.status for r in results) == ["applied", "applied", "applied"]
    numbers = sorted(r.number for r in results)
    assert numbers == [3, 4, 5]
    last = Revision.objects.get(number=5)
    assert live_files(managed_nginx) == last.files  # exactly one revision's files, never a mix
    assert export_state() == last.snapshot


def test_a_second_apply_waits_then_gets_busy(managed_nginx, settings, api_client, operator_user):
    settings.PORTICO_APPLY_LOCK_TIMEOUT = 0
    with operations.apply_lock():
        with pytest.raises(operations.ApplyBusy):
            operations.apply()
        response = api_client(operator_user).post("/api/v1/apply")
    assert response.status_code == 409
    assert "Another apply is running" in response.json()["detail"]
    assert Revision.objects.count() == 0
