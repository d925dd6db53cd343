"""The real Nginx Proxy Manager (v2.15.1, built from ../shared/npm-real) for the tests that need NPM's own nginx:
started once per session on free 127.0.0.1 ports in a fresh instance directory, stopped after."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import free_port, need

NPM_REAL_SRC = Path(
    os.environ.get("PORTICO_TEST_NPM_REAL_SRC", str(Path(__file__).resolve().parents[3] / "shared" / "npm-real"))
)
# node_modules are kept between sessions (a cold install takes over a minute); each session's instance is fresh.
NPM_REAL_DEPS = Path(os.environ.get("PORTICO_TEST_NPM_REAL_DEPS", str(Path.home() / ".cache" / "portico-npm-real")))
ADMIN = ("admin@example.com", "changeme")


@dataclass(frozen=True)
class RealNpm:
    """A running real NPM: its API URL, the admin it was set up with, and its proxy ports (HTTP, HTTPS)."""

    url: str
    identity: str
    secret: str
    http_port: int
    https_port: int

    def client(self):
        """A client whose JSON bodies are also checked against NPM's schema before they go out."""
        from publishing.npm.client import NpmClient
        from publishing.tests.npm_fake import ValidatingTransport

        return NpmClient(
            self.url, self.identity, self.secret, timeout=30.0, transport=ValidatingTransport(urlsplit(self.url).path)
        )


@pytest.fixture(scope="session")
def real_npm() -> Iterator[RealNpm]:
    """Set up and start the real NPM once per session (skipped loudly without its sources, failed in CI)."""
    if not (NPM_REAL_SRC / "setup.sh").exists():
        need("real NPM", f"{NPM_REAL_SRC}/setup.sh not found (set PORTICO_TEST_NPM_REAL_SRC)")
    instance = Path(tempfile.mkdtemp(prefix="portico-npm-real-"))
    NPM_REAL_DEPS.mkdir(parents=True, exist_ok=True)
    http_port, https_port = free_port(), free_port()
    env = {
        **os.environ,
        "NPM_REAL_DIR": str(instance),
        "NPM_REAL_DEPS_DIR": str(NPM_REAL_DEPS),
        "NPM_REAL_API_PORT": str(free_port()),
        "NPM_REAL_HTTP_PORT": str(http_port),
        "NPM_REAL_HTTPS_PORT": str(https_port),
        "NPM_REAL_BACKEND_PORT": str(free_port()),
        "NPM_REAL_ADMIN_EMAIL": ADMIN[0],
        "NPM_REAL_ADMIN_PASSWORD": ADMIN[1],
    }

    def run(script: str, timeout: int) -> str:
        proc = subprocess.run(
            ["bash", str(NPM_REAL_SRC / script)], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            need("real NPM", f"{script} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return proc.stdout

    try:
        run("setup.sh", 900)
        started = run("start.sh", 300)
        match = re.search(r"NPM_URL=(\S+)", started)
        if not match:
            need("real NPM", f"start.sh printed no NPM_URL: {started[-500:]}")
        yield RealNpm(match.group(1), ADMIN[0], ADMIN[1], http_port, https_port)
    finally:
        subprocess.run(["bash", str(NPM_REAL_SRC / "stop.sh")], env=env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(instance, ignore_errors=True)
