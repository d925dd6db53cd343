"""Shared fixtures: users and tokens, and the real services (dockerd, nginx, chromium).

A missing service skips its tests loudly on a developer machine; with CI=true it fails them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import free_port, wait_for_port  # noqa: F401 (tests import them from conftest)

os.environ.setdefault("PORTICO_TESTING", "true")

# Sync Playwright runs an event loop in the test thread; live_server's DB access must be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Fixture modules of the apps (the root conftest is not imported by tests: fixtures live in these modules).
pytest_plugins = ["certificates.tests.acme_fixtures"]

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_IMAGE = "portico-test/busybox:1"
CHROMIUM = "/usr/bin/chromium"


def need(service: str, reason: str) -> None:
    """Skip (loudly) when a real service is missing, but fail in CI where it must exist."""
    message = f"{service} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {message}")


# --- users and tokens ------------------------------------------------------------------


@pytest.fixture
def make_user(db) -> Callable:
    """Create a user with one of the roles (viewer, operator, admin)."""
    from django.contrib.auth import get_user_model

    from dashboard.roles import set_role

    def make(username: str, role: str | None = "viewer", password: str = "pw-for-tests-123"):
        user = get_user_model().objects.create_user(username=username, password=password)
        if role:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("alice", "admin")


@pytest.fixture
def operator_user(make_user):
    return make_user("oscar", "operator")


@pytest.fixture
def viewer_user(make_user):
    return make_user("vera", "viewer")


@pytest.fixture
def token_for(db) -> Callable:
    """Issue a plain API token for a user."""
    from dashboard.models import ApiToken

    def issue(user, name: str = "test") -> str:
        return ApiToken.issue(user, name)[1]

    return issue


@pytest.fixture
def api_client(client, token_for) -> Callable:
    """A Django test client that sends ``Authorization: Bearer`` for the given user."""
    from django.test import Client

    def make(user) -> Client:
        return Client(headers={"Authorization": f"Bearer {token_for(user)}"})

    return make


# --- Docker ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_sdk():
    """A raw SDK client for test setup; Portico's own code goes through containers.docker_client."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # any failure here means: no engine
        need("Docker engine", f"{exc} (start dockerd, see scripts/test)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_sdk) -> str:
    """The local busybox image that scripts/test imports (no registry is reachable)."""
    import docker.errors

    try:
        docker_sdk.images.get(TEST_IMAGE)
    except docker.errors.ImageNotFound:
        need("test image", f"{TEST_IMAGE} is missing (scripts/test builds it from busybox-static)")
    return TEST_IMAGE


@pytest.fixture
def run_container(docker_sdk, test_image, request) -> Iterator[Callable]:
    """Run test containers (network none or host only) that are removed after the test."""
    started = []
    prefix = "portico-t-" + request.node.name[:30].replace("[", "-").replace("]", "").lower()

    def run(command: str | list[str], name: str | None = None, network_mode: str = "none", **kwargs):
        container = docker_sdk.containers.run(
            test_image,
            command,
            name=name or f"{prefix}-{len(started)}-{os.getpid()}",
            network_mode=network_mode,
            detach=True,
            init=True,
            labels={"portico.test": "1", **kwargs.pop("labels", {})},
            **kwargs,
        )
        started.append(container)
        return container

    yield run
    for container in started:
        with contextlib.suppress(Exception):
            container.remove(force=True)


# --- nginx -----------------------------------------------------------------------------


def nginx_bin() -> str | None:
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


@pytest.fixture
def nginx_instance(tmp_path) -> Iterator[NginxInstance]:
    """A stopped nginx instance of the test's own; the test writes its config and starts it."""
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    instance = NginxInstance(binary, tmp_path / "nginx")
    yield instance
    instance.stop()


# --- browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium, never a browser that Playwright downloads."""
    if not os.path.exists(CHROMIUM):
        need("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def logged_in_page(page, live_server, make_user) -> Callable:
    """Log a new user with ``role`` in through the real login page; returns the page."""

    def login(role: str = "admin", username: str | None = None):
        username = username or f"{role}-browser"
        make_user(username, role, password="browser-pw-123")
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "browser-pw-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return login


# --- PostgreSQL ------------------------------------------------------------------------

# The tests scripts/test runs a second time on PostgreSQL (pytest --postgres with DATABASE_URL set), after the
# whole suite has run on SQLite. They are the ones whose outcome the database engine decides: concurrent writers
# (row locks, select_for_update, UPDATE ... WHERE version = n, the config lock), transactions that must roll back
# whole (bulk changes, config replace, failed applies), unique constraints hit inside atomic blocks, the API's
# filters and orderings (case, collation, NULLs) and JSON fields (audit before/after). docs/architecture.md says
# more. Entries are files or single tests ("file::test").
POSTGRES_TESTS = (
    "routes/tests/test_api_concurrency.py",
    "routes/tests/test_api_config.py",
    "routes/tests/test_config_roundtrip.py",
    "routes/tests/test_api_crud.py",
    "routes/tests/test_api_bulk.py",
    "routes/tests/test_state.py",
    "routes/tests/test_state_locks.py",
    "routes/tests/test_views.py",
    "routes/tests/test_publish.py",
    "routes/tests/test_publish_api.py",
    "routes/tests/test_apply_lock_shared_db.py",
    "dashboard/tests/test_audit_api.py",
    "dashboard/tests/test_api_lists.py",
    "dashboard/tests/test_tokens.py",
    "dashboard/tests/test_api_versions.py",
    "dashboard/tests/test_users_api.py",
    "dashboard/tests/test_users_page.py",
    "dashboard/tests/test_admin_guard_concurrency.py",
    "dashboard/tests/test_database.py",
    "dashboard/tests/test_storable.py",
    "dashboard/tests/test_lab.py",
    "tests/test_api_fuzz.py",
    "routes/tests/test_faults.py",
    "tests/test_faults.py",
    # certificates: row locks, version checks and PROTECT inside transactions, the worker's lease (one UPDATE
    # claims it), names searched in JSON, and no key anywhere in the database.
    "certificates/tests/test_upload.py",
    "certificates/tests/test_worker.py",
    "certificates/tests/test_api.py",
    "certificates/tests/test_worker_race.py",
)
POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://")


def pytest_addoption(parser):
    parser.addoption(
        "--postgres",
        action="store_true",
        help="run only the tests in conftest.POSTGRES_TESTS, on the PostgreSQL database that DATABASE_URL names",
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--postgres"):
        # PostgreSQL-only tests are not skipped on SQLite (a skip in CI would hide them); they are left out
        # here and run in scripts/test's PostgreSQL pass, where the _postgres_run fixture fails CI without one.
        kept = [item for item in items if not item.get_closest_marker("postgres_only")]
        if len(kept) != len(items):
            config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("postgres_only")])
            items[:] = kept
    selected, deselected = [], []
    for item in items:
        test = item.nodeid.split("[")[0]
        if any(test == entry or test.startswith(f"{entry}::") for entry in POSTGRES_TESTS):
            item.add_marker(pytest.mark.postgres)
            selected.append(item)
        else:
            deselected.append(item)
    if config.getoption("--postgres") and deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def postgres_url() -> str | None:
    """DATABASE_URL when it names a PostgreSQL database, else None."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(POSTGRES_SCHEMES) else None


@pytest.fixture(scope="session", autouse=True)
def _postgres_run(request) -> None:
    """With --postgres, the database must really be PostgreSQL and answer (CI fails, a laptop skips loudly)."""
    if not request.config.getoption("--postgres"):
        return
    from django.db import connection

    if not postgres_url() or connection.vendor != "postgresql":
        need("PostgreSQL", "--postgres needs DATABASE_URL=postgres://... (scripts/test starts a test cluster)")
    import psycopg

    try:
        psycopg.connect(**_pg_params("postgres"), connect_timeout=10).close()
    except psycopg.Error as exc:
        need("PostgreSQL", f"{postgres_url()} does not answer: {exc}")


def _pg_params(dbname: str) -> dict[str, str]:
    import dj_database_url

    parsed = dj_database_url.parse(postgres_url() or "")
    params = {"dbname": dbname, "user": parsed["USER"], "password": parsed["PASSWORD"]}
    params.update(host=parsed["HOST"] or "", port=str(parsed["PORT"] or ""))
    return {k: v for k, v in params.items() if v}


_server_databases: set[str] = set()


def server_database_env(var_dir: Path) -> dict[str, str]:
    """The DATABASE_URL for a Portico server with this VAR_DIR: none (SQLite in VAR_DIR) unless the tests run on
    PostgreSQL; then a database of its own on the same server, made once per VAR_DIR (a restart keeps its data,
    as with the SQLite file) and dropped at the end of the session."""
    url = postgres_url()
    if not url:
        return {}
    import hashlib

    import psycopg
    from psycopg import sql

    name = "portico_srv_" + hashlib.sha256(str(var_dir.resolve()).encode()).hexdigest()[:16]
    if name not in _server_databases:
        with psycopg.connect(**_pg_params("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _server_databases.add(name)
    base, sep, query = url.partition("?")
    return {"DATABASE_URL": f"{base.rsplit('/', 1)[0]}/{name}{sep}{query}"}


def pytest_sessionfinish(session, exitstatus):
    if not _server_databases:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(**_pg_params("postgres"), autocommit=True) as conn:
        for name in sorted(_server_databases):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _server_databases.clear()


# --- a real Portico server -------------------------------------------------------------


class PorticoServer:
    """Portico under gunicorn (2 workers x 4 threads) on a free 127.0.0.1 port, with its own VAR_DIR and database.

    The database is a SQLite file in VAR_DIR, or, when the tests run on PostgreSQL (DATABASE_URL), a database of
    its own on that server (see server_database_env). ``token`` is an admin's API token. The server's database is
    not the test database: talk to it over HTTP or through ``manage()``.
    """

    def __init__(self, var_dir: Path, extra_env: dict[str, str] | None = None):
        import sys

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
            cwd=Path(__file__).parent,
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
            [self.python, "-m", "gunicorn", "dashboard.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--no-control-socket", "--timeout", "120"],
            cwd=Path(__file__).parent,
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


@pytest.fixture(scope="session")
def portico_server(tmp_path_factory) -> Iterator[PorticoServer]:
    """One Portico server for the session (tests that share it create uniquely named routes)."""
    server = PorticoServer(tmp_path_factory.mktemp("portico-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_portico_server(tmp_path) -> Iterator[Callable[..., PorticoServer]]:
    """Start a Portico server of the test's own (fresh database), e.g. with extra environment variables."""
    servers: list[PorticoServer] = []

    def make(**extra_env: str) -> PorticoServer:
        server = PorticoServer(tmp_path / f"portico-{len(servers)}", extra_env)
        server.var_dir.mkdir()
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()
