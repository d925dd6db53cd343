"""Shared pieces of the benchmarks: timing, statistics, result rows, peak memory, a Django of their own."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support import free_port, wait_for_port  # noqa: F401 (the benchmarks import them from here)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One line of the results table. Times are seconds (or the unit named in ``unit``)."""

    name: str
    portico: float
    baseline: float | None
    baseline_name: str = ""
    unit: str = "s"
    target: float | None = None  # the ratio Portico must stay at or under
    limit: float | None = None  # or: the value Portico must stay at or under (e.g. 0 failed requests)
    higher_is_better: bool = False  # throughputs (req/s, lines/s): the ratio is baseline / portico
    peak_rss_mb: float | None = None
    samples: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)
    invalid: str = ""  # the measurement does not stand (e.g. an apply failed): never "met"

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.portico == 0:
            return None
        if self.higher_is_better:
            return self.baseline / self.portico
        return self.portico / self.baseline

    @property
    def met(self) -> bool | None:
        if self.invalid:
            return False
        if self.limit is not None:
            return self.portico <= self.limit
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleave(portico: Callable[[int], float], baseline: Callable[[int], float], runs: int) -> tuple[list, list]:
    """Run A B A B ... ``runs`` times each; each callable gets the run index and returns its measurement."""
    a, b = [], []
    for i in range(runs):
        a.append(portico(i))
        b.append(baseline(i))
    return a, b


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process, in MiB."""
    path = f"/proc/{pid or 'self'}/status"
    with open(path) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    """Current resident memory (VmRSS) of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def setup_django(var_dir: Path, **env: str) -> None:
    """Configure Portico's settings against a fresh VAR_DIR (its own SQLite and nginx prefix) and migrate."""
    os.environ.update({"PORTICO_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"portico-bench-{prefix}-"))


class _NameHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_backend(answer: str) -> tuple[int, ThreadingHTTPServer]:
    """A tiny upstream on 127.0.0.1 that answers ``answer`` to every GET; returns its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NameHandler)
    server.daemon_threads = True
    server.answer = answer.encode()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1], server


def emit(rows: list[Row]) -> None:
    """Print rows as JSON lines on stdout for the runner (``BENCH-ROW {...}``)."""
    for row in rows:
        print("BENCH-ROW " + json.dumps(row.as_dict()), flush=True)


class Server:
    """Portico under gunicorn as scripts/serve runs it (dashboard/gunicorn_conf.py: ASGI, 2 workers), on a free 127.0.0.1
    port, with its own VAR_DIR and SQLite; ``token`` is an admin's API token."""

    def __init__(self, var_dir: Path, **env: str):
        self.var_dir = var_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTICO_TESTING")},
            "PORTICO_VAR_DIR": str(var_dir),
            "PORTICO_ADMIN_PASSWORD": "bench-admin-pw-123",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "PORTICO_BENCH_FLOOR": "true",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.token = ""

    def manage(self, *args: str) -> str:
        proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def start(self) -> Server:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("ensure_admin")
        self.token = self.manage("create_api_token", "admin", "--name", "bench").strip()
        self.log = open(self.var_dir / "gunicorn.log", "wb")  # noqa: SIM115 (lives as long as the server)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
             "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, timeout=60)
        return self

    def workers(self) -> list[int]:
        """The gunicorn worker processes (where requests run)."""
        assert self.process is not None
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def peak_rss_mb(self) -> float:
        """The largest peak RSS (VmHWM) among the workers."""
        return max((peak_rss_mb(pid) for pid in self.workers()), default=float("nan"))

    def rss_mb(self) -> float:
        """The workers' current RSS, summed."""
        return sum(rss_mb(pid) for pid in self.workers())

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def login(self, client) -> None:
        """Log an httpx client in through the login page (for the HTML pages)."""
        client.get(self.url + "/login/")
        csrf = client.cookies.get("csrftoken")
        response = client.post(self.url + "/login/", data={"username": "admin", "password": "bench-admin-pw-123",
                               "csrfmiddlewaretoken": csrf}, headers={"Referer": self.url + "/login/"})  # fmt: skip
        if response.status_code not in (200, 302) or "sessionid" not in client.cookies:
            raise RuntimeError(f"login failed: {response.status_code}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def docker_cli(*args: str, timeout: float = 300) -> bytes:
    """Run the docker CLI (the baseline of the container benchmarks); returns its stdout."""
    return subprocess.run(["docker", *args], capture_output=True, check=True, timeout=timeout).stdout
