"""Helpers the tests import (fixtures live in tests/fixtures/, registered by the root conftest), also used by bench/.

What a test needs from the real world: free ports, a service that must exist (``need``), an nginx of its own, a
Portico under gunicorn, a PostgreSQL database for such a server, polling until something happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_IMAGE = "portico-test/busybox:1"
CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parent.parent
POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://")


def need(service: str, reason: str) -> None:
    """Skip (loudly) when a real service is missing, but fail in CI where it must exist."""
    message = f"{service} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {message}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Listener:
    """An HTTP server on 127.0.0.1 of a test's own: records every request, answers what ``answer`` returns.

    ``answer(method, path)`` gives (status, content type, body). It plays any host an admin could point Portico
    at (a new "NPM", an "engine" that is some other web service).
    """

    def __init__(self, answer: Callable[[str, str], tuple[int, str, bytes]]):
        self.requests: list[dict[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace")
                listener.requests.append({"method": self.command, "path": self.path, "body": body})
                status, content_type, data = answer(self.command, self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer  # noqa: N815 (http.server's naming)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def everything_received(self) -> str:
        """Every request's method, path and body as one text (to look for a secret in)."""
        return json.dumps(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``check`` until it is true (for container state changes that take a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_log(container, text: str, timeout: float = 15.0) -> None:
    """Block until the container has printed ``text``."""
    wait_until(lambda: text in container.logs().decode(), timeout, f"{text!r} in the log")


# --- nginx -----------------------------------------------------------------------------


def nginx_bin() -> str | None:
    """The nginx binary on this machine, or None."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class NginxInstance:
    """A real nginx of the test's own under a temporary prefix, on a free 127.0.0.1 port."""

    def __init__(self, binary: str, prefix: Path):
        self.binary = binary
        self.prefix = prefix
        self.port = free_port()
        self.conf = prefix / "conf" / "nginx.conf"
        for sub in ("conf/sites", "logs", "temp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)

    def write(self, http_body: str) -> None:
        """Write nginx.conf with ``http_body`` inside http {} (use {port} for the listening port)."""
        self.conf.write_text(
            f"""
worker_processes 1;
pid {self.prefix}/logs/nginx.pid;
error_log {self.prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {self.prefix}/logs/access.log;
  client_body_temp_path {self.prefix}/temp/body;
  proxy_temp_path {self.prefix}/temp/proxy;
  fastcgi_temp_path {self.prefix}/temp/fastcgi;
  uwsgi_temp_path {self.prefix}/temp/uwsgi;
  scgi_temp_path {self.prefix}/temp/scgi;
  {http_body.replace("{port}", str(self.port))}
}}
"""
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def start(self) -> None:
        proc = self.run()
        if proc.returncode != 0:
            raise RuntimeError(f"nginx did not start: {proc.stderr}")
        wait_for_port(self.port)

    def stop(self) -> None:
        pidfile = self.prefix / "logs" / "nginx.pid"
        if pidfile.exists():
            self.run("-s", "quit")
            deadline = time.monotonic() + 5
            while pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)


# --- PostgreSQL ------------------------------------------------------------------------


def postgres_url() -> str | None:
    """DATABASE_URL when it names a PostgreSQL database, else None."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(POSTGRES_SCHEMES) else None


def pg_params(dbname: str) -> dict[str, str]:
    """psycopg connection parameters for ``dbname`` on the server DATABASE_URL names."""
    import dj_database_url

    parsed = dj_database_url.parse(postgres_url() or "")
    params = {"dbname": dbname, "user": parsed["USER"], "password": parsed["PASSWORD"]}
    params.update(host=parsed["HOST"] or "", port=str(parsed["PORT"] or ""))
    return {k: v for k, v in params.items() if v}


_server_databases: set[str] = set()


def server_database_env(var_dir: Path) -> dict[str, str]:
    """The DATABASE_URL for a Portico server with this VAR_DIR: none (SQLite in VAR_DIR) unless the tests run on
    PostgreSQL; then a database of its own on the same server, made once per VAR_DIR (a restart keeps its data,
    as with the SQLite file) and dropped at the end of the session (drop_server_databases)."""
    url = postgres_url()
    if not url:
        return {}
    import psycopg
    from psycopg import sql

    name = "portico_srv_" + hashlib.sha256(str(var_dir.resolve()).encode()).hexdigest()[:16]
    if name not in _server_databases:
        with psycopg.connect(**pg_params("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _server_databases.add(name)
    base, sep, query = url.partition("?")
    return {"DATABASE_URL": f"{base.rsplit('/', 1)[0]}/{name}{sep}{query}"}


def drop_server_databases() -> None:
    """Drop the databases server_database_env made in this session."""
    if not _server_databases:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(**pg_params("postgres"), autocommit=True) as conn:
        for name in sorted(_server_databases):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _server_databases.clear()


# --- a real Portico server -------------------------------------------------------------


class PorticoServer:
    """Portico under gunicorn as scripts/serve runs it (dashboard/gunicorn_conf.py: ASGI, 2 workers) on a free 127.0.0.1
    port, with its own VAR_DIR and database.

    The database is a SQLite file in VAR_DIR, or, when the tests run on PostgreSQL (DATABASE_URL), a database of
    its own on that server (see server_database_env). ``token`` is an admin's API token. The server's database is
    not the test database: talk to it over HTTP or through ``manage()``.
    """

    def __init__(self, var_dir: Path, extra_env: dict[str, str] | None = None):
        self.var_dir = var_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URL_FILE")},
            **server_database_env(var_dir),
            "PORTICO_VAR_DIR": str(var_dir),
            "PORTICO_TESTING": "true",
            "PORTICO_ADMIN_PASSWORD": "server-admin-pw-123",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            **(extra_env or {}),
        }
        self.python = sys.executable
        self.process: subprocess.Popen | None = None
        self.token = ""

    def manage(self, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``manage.py ARGS`` against this server's database."""
        return subprocess.run(
            [self.python, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )

    def start(self, token: str = "") -> None:
        """Migrate, make the admin and a token, run gunicorn. ``token``: a restart on the same VAR_DIR reuses it."""
        for args in (("migrate", "--noinput", "-v0"), ("ensure_admin",)):
            proc = self.manage(*args)
            if proc.returncode != 0:
                raise RuntimeError(f"manage.py {' '.join(args)} failed: {proc.stderr}")
        if token:
            self.token = token
        else:
            proc = self.manage("create_api_token", "admin", "--name", "tests")
            if proc.returncode != 0:
                raise RuntimeError(f"create_api_token failed: {proc.stderr}")
            self.token = proc.stdout.strip()
        log = open(self.var_dir / "gunicorn.log", "wb")  # noqa: SIM115 (lives as long as the server)
        self.process = subprocess.Popen(
            [self.python, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf", "--bind", f"127.0.0.1:{self.port}"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"gunicorn did not start: {(self.var_dir / 'gunicorn.log').read_text()[-2000:]}"
            ) from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        path = self.var_dir / "gunicorn.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""
