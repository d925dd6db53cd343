"""var/, the database and the secrets in it are private to Portico's user; doctor reports loose modes with the fix."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from core.filemodes import loose_paths
from tests.support import free_port, need, nginx_bin, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """manage.py as an operator's shell runs it: with the common umask 022, not the test runner's."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URL_FILE", "SECRET_KEY")}
    env.update(PORTICO_VAR_DIR=str(var_dir), PORTICO_TESTING="true", DJANGO_SETTINGS_MODULE="dashboard.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )


def umask_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError(f"no Umask line for {pid}")


def private_tree(root: Path) -> list[str]:
    """Every directory under ``root`` that is not 0700 and every file that is not 0600."""
    odd = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        expected = 0o700 if path.is_dir() else 0o600
        if mode(path) != expected:
            odd.append(f"{path} {mode(path):04o}")
    return odd


def settled_umasks(pids: Callable[[], list[int]], count: int) -> list[int]:
    """The umasks of the processes, once ``count`` of them have loaded Portico (gunicorn boots workers after it
    listens) or after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        umasks = [umask_of(pid) for pid in pids()]
        if (len(umasks) >= count and set(umasks) == {0o077}) or time.monotonic() > deadline:
            return umasks
        time.sleep(0.2)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_manage_py_makes_var_the_database_and_the_secret_key_private(tmp_path):
    var_dir = tmp_path / "var"
    for args in (("migrate", "--noinput", "-v0"), ("collectstatic", "--noinput", "-v0")):
        proc = manage(var_dir, *args)
        assert proc.returncode == 0, proc.stderr
    assert mode(var_dir) == 0o700
    assert mode(var_dir / "portico.sqlite3") == 0o600
    assert mode(var_dir / "secret_key") == 0o600
    assert any((var_dir / "static").rglob("*.css"))  # what collectstatic wrote is covered too
    assert private_tree(var_dir) == []
    doctor = manage(var_dir, "doctor", "--skip-ports")
    assert f"ok      files       {var_dir} is private to this user" in doctor.stdout, doctor.stdout


def test_gunicorn_workers_run_with_the_private_umask(make_portico_server):
    server = make_portico_server()
    assert settled_umasks(lambda: children_of(server.process.pid), 2) == [0o077, 0o077], server.log_tail()
    assert httpx.get(f"{server.url}/api/v1/health", timeout=30).status_code == 200


@pytest.mark.docker
def test_scripts_serve_runs_everything_with_the_private_umask(tmp_path, docker_sdk):
    """scripts/serve as an operator runs it (gunicorn, and Portico's own nginx on a free port)."""
    var_dir, port = tmp_path / "var", free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URL_FILE", "SECRET_KEY")}
    env.update(
        PORTICO_VAR_DIR=str(var_dir),
        PORTICO_TESTING="true",
        PORTICO_ADMIN_PASSWORD="serve-admin-pw-123",
        PORTICO_BIND=f"127.0.0.1:{port}",
        PORTICO_NGINX_LISTEN=f"127.0.0.1:{free_port()}",
        PORTICO_NGINX_RESOLVER="127.0.0.1",
    )
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        ["bash", "scripts/serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    try:
        wait_for_port(port, timeout=240)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=30).status_code == 200

        def session() -> list[int]:
            found = [serve.pid, *children_of(serve.pid)]
            return found + [child for pid in found[1:] for child in children_of(pid)]

        assert set(settled_umasks(session, 3)) == {0o077}  # the server and its workers
        logs = var_dir / "nginx" / "logs"  # Portico's own nginx (it sets umask 0 once daemonized, so not the pid)
        assert (mode(logs), mode(logs / "error.log")) == (0o700, 0o600)
        assert loose_paths(var_dir) == [], loose_paths(var_dir)
        assert mode(var_dir) & 0o066 == 0
    finally:
        os.killpg(serve.pid, 15)
        serve.wait(30)
        log.close()
        manage(var_dir, "nginx", "stop")
    assert mode(var_dir / "portico.sqlite3") == 0o600, (tmp_path / "serve.log").read_text()[-3000:]


@pytest.mark.django_db
def test_doctor_reports_loose_modes_and_the_fix(settings, tmp_path):
    var_dir = tmp_path / "var"
    (var_dir / "nginx").mkdir(parents=True, mode=0o755)
    var_dir.chmod(0o755)
    (var_dir / "portico.sqlite3").write_text("")
    (var_dir / "portico.sqlite3").chmod(0o644)
    (var_dir / "nginx" / "temp").mkdir(mode=0o700)
    (var_dir / "nginx" / "temp").chmod(0o711)  # search only: how nginx's workers get through, not loose
    settings.VAR_DIR = var_dir

    def files_line() -> str:
        out = io.StringIO()
        with contextlib.suppress(SystemExit):  # Docker or nginx may be missing here; only the files check matters
            call_command("doctor", "--skip-ports", stdout=out)
        lines = out.getvalue().splitlines()
        at = next(i for i, line in enumerate(lines) if " files " in line)
        return "\n".join(lines[at : at + 2])

    report = files_line()
    assert report.startswith("problem files")
    assert f"{var_dir} (0755)" in report and f"{var_dir / 'portico.sqlite3'} (0644)" in report
    assert f"{var_dir / 'nginx'} (0755)" in report and "temp" not in report.splitlines()[0]
    assert f"fix: chmod -R go-rwx {var_dir}" in report
    subprocess.run(["chmod", "-R", "go-rwx", str(var_dir)], check=True)  # the fix as printed
    assert files_line().startswith(f"ok      files       {var_dir} is private")


# --- nginx's workers and the private var/ ------------------------------------------------------------------


class UploadBackend:
    """An HTTP server on 127.0.0.1 that answers a POST with the number of body bytes it received."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                size = len(self.rfile.read(int(self.headers["Content-Length"])))
                body = str(size).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def checkout_like_var(settings) -> Iterator[Path]:
    """A private var/ inside a directory anyone may enter (like a checkout), with the managed nginx in it."""
    base = Path(tempfile.mkdtemp(prefix="portico-modes-"))
    base.chmod(0o755)
    var_dir = base / "var"
    var_dir.mkdir(mode=0o700)
    settings.VAR_DIR = var_dir
    yield var_dir
    subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.nginx
@pytest.mark.django_db
def test_nginx_run_as_root_buffers_a_large_upload_inside_the_private_var(settings, checkout_like_var):
    """As root, nginx's workers are `nobody`: a request body bigger than its memory buffer goes to a temp file
    under var/nginx/temp, which they must reach through the private var/ (else every such upload answers 500)."""
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    from publishing import operations
    from publishing.nginx.backends import ManagedNginx
    from routes.operations import replace_state
    from routes.schemas import ConfigDocument

    listen = free_port()
    settings.PORTICO_NGINX_BIN = binary
    settings.PORTICO_NGINX_MODE = "managed"
    settings.PORTICO_NGINX_DIR = checkout_like_var / "nginx"
    settings.PORTICO_NGINX_LISTEN = ("127.0.0.1", listen)
    settings.PORTICO_NGINX_RESOLVER = "127.0.0.1"
    settings.PORTICO_PUBLISHER = "nginx"
    backend = UploadBackend()
    nginx = ManagedNginx()
    umask = os.umask(0o077)  # as manage.py and gunicorn run (the test runner's own is looser)
    try:
        nginx.start()
        target = {"path": "/", "targets": [{"host": "127.0.0.1", "port": backend.port}]}
        replace_state(ConfigDocument.model_validate({"domains": [{"name": "upload.test", "routes": [target]}]}))
        assert operations.apply().status == "applied"
        body = b"x" * 200_000  # above client_body_buffer_size (16k), below client_max_body_size (1m)
        answer = httpx.post(f"http://127.0.0.1:{listen}/", content=body, headers={"Host": "upload.test"}, timeout=30)
        error_log = (settings.PORTICO_NGINX_DIR / "logs" / "error.log").read_text()
        assert (answer.status_code, answer.text) == (200, "200000"), error_log[-2000:]
        assert mode(checkout_like_var) & 0o077 in (0, 0o001)  # others may pass through (as root), never read
        assert loose_paths(checkout_like_var) == []
    finally:
        os.umask(umask)
        nginx.stop()
        backend.stop()


def test_acme_answers_stay_readable_by_nginx_workers_inside_the_private_var(settings, checkout_like_var):
    from certificates.acme_client import ChallengeFiles

    umask = os.umask(0o077)
    try:
        answer = ChallengeFiles(checkout_like_var / "acme-challenges").write(
            "tok-En_1234567890", "tok-En_1234567890.thumbprint"
        )
    finally:
        os.umask(umask)
    assert (mode(answer.parent), mode(answer)) == (0o755, 0o644)  # public by nature: nginx serves them to anyone
    if os.geteuid() == 0:  # nginx's workers are `nobody`: they must get through var/ (search only, no listing)
        assert mode(checkout_like_var) == 0o701
        worker = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", str(answer)],
                                capture_output=True, text=True)  # fmt: skip
        assert worker.stdout == "tok-En_1234567890.thumbprint", worker.stderr
    assert loose_paths(checkout_like_var, public=(answer.parent,)) == []
