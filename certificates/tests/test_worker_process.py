"""``manage.py certificates run`` as scripts/serve runs it: a process of its own that orders a pending certificate
from pebble within seconds, and leaves promptly and cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.nginx
ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_process_orders_and_stops_on_sigterm(acme_server, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URL_FILE")},
        "PORTICO_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PORTICO_ACME_DIRECTORY": acme_server.directory,
        "PORTICO_ACME_CA_BUNDLE": str(acme_server.ca_bundle),
        "PORTICO_ACME_CHALLENGE_DIR": str(acme_server.challenge_dir),
    }

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage(
        "shell",
        "-c",
        "from certificates import operations; "
        "operations.request_certificate(['loop.portico.test'], challenge='http-01', actor=None, source='cli')",
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "certificates", "run", "--interval", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Read the server's SQLite file directly: a manage.py per poll would cost a Django start each time.
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status != "valid":
            time.sleep(0.2)
            with sqlite3.connect(tmp_path / "portico.sqlite3") as db:
                status = db.execute("SELECT status FROM certificates_certificate").fetchone()[0]
        assert status == "valid"
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, out
    assert "loop.portico.test: valid" in out
