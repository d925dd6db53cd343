"""Fault test (issue 8): Portico is killed (SIGKILL) between the swap and the reload of an apply.

A real Portico under gunicorn (its own VAR_DIR, SQLite and managed nginx) is killed while an apply it was
asked for through the API sits between the swap and the reload (settings tests.pause_after_swap). The next
start (``manage.py nginx start``, as scripts/serve runs it) must put the previous files back; the restarted
Portico shows the interrupted apply as failed with the reason, the routes are as they were, the proxy serves
the previous config, and the next apply publishes the change.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from publishing.tests.support import EchoBackend
from tests.support import PorticoServer, free_port, need, nginx_bin

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent


def _kill(server: PorticoServer) -> None:
    """SIGKILL gunicorn's workers and master: nothing gets to clean up."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in [*map(int, children), master]:
        os.kill(pid, signal.SIGKILL)
    server.process.wait(10)


def _served(port: int, path: str) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Host": "kill.test"}, timeout=10, trust_env=False)
    assert response.status_code == 200, (response.status_code, response.text[:200])
    return response.json()["backend"]


@pytest.mark.nginx
def test_a_sigkill_between_swap_and_reload_is_undone_on_the_next_start(tmp_path):
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    old, new = EchoBackend("old"), EchoBackend("new")
    port = free_port()
    env = {"PORTICO_NGINX_LISTEN": f"127.0.0.1:{port}", "PORTICO_NGINX_RESOLVER": "127.0.0.1",
           "PORTICO_NGINX_BIN": binary}  # fmt: skip
    var = tmp_path / "var"
    var.mkdir()
    server = PorticoServer(var, env)
    servers = [server]
    try:
        server.start()
        assert server.manage("nginx", "start").returncode == 0
        api = httpx.Client(base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {server.token}"},
                           timeout=60, trust_env=False)  # fmt: skip
        created = api.post("/routes", json={"domain": "kill.test", "path": "/", "targets": [{"host": "127.0.0.1",
                           "port": old.port}]})  # fmt: skip
        assert created.status_code == 201, created.text
        first = api.post("/apply")
        assert first.status_code == 200, first.text
        good = first.json()["revision"]
        assert _served(port, "/new/") == "old"
        # The change the killed apply was publishing.
        added = api.post("/routes", json={"domain": "kill.test", "path": "/new/", "targets": [{"host": "127.0.0.1",
                         "port": new.port}]})  # fmt: skip
        assert added.status_code == 201, added.text
        desired_state = api.get("/config").json()
        server.stop()
        api.close()

        # A Portico that pauses between swap and reload; it is killed there.
        server = PorticoServer(var, {**env, "DJANGO_SETTINGS_MODULE": "tests.pause_after_swap"})
        servers.append(server)
        server.start(token=servers[0].token)
        outcome: list = []

        def apply() -> None:
            try:
                outcome.append(httpx.post(server.url + "/api/v1/apply", headers={"Authorization": f"Bearer {server.token}"},
                                          timeout=180, trust_env=False))  # fmt: skip
            except httpx.HTTPError as exc:
                outcome.append(exc)

        caller = threading.Thread(target=apply)
        caller.start()
        journal = var / "nginx" / "apply-journal.json"
        live = var / "nginx" / "conf" / "live" / "portico-kill.test.conf"
        deadline = time.monotonic() + 60
        while not (journal.exists() and '"/new/"' in live.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert journal.exists() and '"/new/"' in live.read_text(), "the apply never reached the swap"
        _kill(server)
        caller.join(30)
        assert isinstance(outcome[0], httpx.HTTPError)  # the caller saw the connection die, no answer
        assert _served(port, "/new/") == "old"  # swapped but never reloaded

        # The next start: manage.py nginx start (scripts/serve runs it before gunicorn) undoes the half-done apply.
        started = subprocess.run([sys.executable, "manage.py", "nginx", "start"], cwd=ROOT, env=servers[0].env,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert "interrupted apply was undone" in started.stdout
        assert not journal.exists()
        assert "/new/" not in live.read_text()

        server = PorticoServer(var, env)
        servers.append(server)
        server.start(token=servers[0].token)
        api = httpx.Client(base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {server.token}"},
                           timeout=60, trust_env=False)  # fmt: skip
        newest = api.get("/revisions").json()["items"][0]
        assert newest["number"] == good["number"] + 1
        assert newest["status"] == "failed" and "interrupted" in newest["message"], newest
        live_files = {p.name: p.read_text() for p in sorted(live.parent.glob("*.conf"))}
        assert live_files == api.get(f"/revisions/{good['id']}").json()["files"]  # exactly the last good files
        assert api.get("/config").json() == desired_state  # the routes are as the person left them
        assert _served(port, "/new/") == "old"

        again = api.post("/apply")
        assert again.status_code == 200, again.text
        assert _served(port, "/new/") == "new"
        api.close()
    finally:
        for each in servers:
            each.stop()
        subprocess.run([sys.executable, "manage.py", "nginx", "stop"], cwd=ROOT, env=servers[0].env,
                       capture_output=True, timeout=60)  # fmt: skip
        old.stop()
        new.stop()


@pytest.mark.nginx
def test_applies_at_once_from_both_gunicorn_workers_are_serialized_recorded_and_never_mixed(tmp_path):
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    backend = EchoBackend("app")
    port = free_port()
    env = {"PORTICO_NGINX_LISTEN": f"127.0.0.1:{port}", "PORTICO_NGINX_RESOLVER": "127.0.0.1",
           "PORTICO_NGINX_BIN": binary}  # fmt: skip
    var = tmp_path / "var"
    var.mkdir()
    server = PorticoServer(var, env)
    try:
        server.start()
        assert server.manage("nginx", "start").returncode == 0
        headers = {"Authorization": f"Bearer {server.token}"}
        answers: list = []

        def change_and_apply(i: int) -> None:
            # Separate connections, so gunicorn's two worker processes both take requests.
            with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=120, trust_env=False) as api:
                made = api.post("/routes", json={"domain": f"d{i}.test", "path": "/",
                                "targets": [{"host": "127.0.0.1", "port": backend.port}]})  # fmt: skip
                assert made.status_code == 201, made.text
                answers.append(api.post("/apply"))

        threads = [threading.Thread(target=change_and_apply, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert [a.status_code for a in answers] == [200] * 6, [a.text[:200] for a in answers]
        numbers = sorted(a.json()["revision"]["number"] for a in answers)
        assert numbers == list(range(1, 7))  # one revision each, none lost, none shared
        with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60, trust_env=False) as api:
            assert api.get("/revisions").json()["count"] == 6
            last = api.get(
                f"/revisions/{max(answers, key=lambda a: a.json()['revision']['number']).json()['revision']['id']}"
            )
            live = {p.name: p.read_text() for p in sorted((var / "nginx" / "conf" / "live").glob("*.conf"))}
            assert live == last.json()["files"]  # exactly one revision's files, never a mix
        for i in range(6):  # the last apply published every route
            response = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"d{i}.test"}, timeout=10,
                                 trust_env=False)  # fmt: skip
            assert response.status_code == 200 and response.json()["backend"] == "app"
    finally:
        server.stop()
        server.manage("nginx", "stop")
        backend.stop()
