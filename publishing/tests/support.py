"""Helpers the publishing tests import: echo backends, a client for the nginx under test, a request loop, nginx -t."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import httpx

from publishing.nginx.backends import MAIN_CONF
from tests.support import need, nginx_bin


class EchoBackend:
    """An HTTP server on 127.0.0.1 that answers every request with its name, the path and headers it got."""

    def __init__(self, name: str):
        self.name = name
        self.requests: list[dict] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                seen = {"backend": backend.name, "path": self.path, "headers": dict(self.headers.items())}
                backend.requests.append(seen)
                body = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """Talks to the managed nginx under test the way a browser would (Host header, 127.0.0.1 only)."""

    def __init__(self, port: int):
        self.port = port
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)

    def get(self, host: str, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, headers={"Host": host, **kwargs.pop("headers", {})}, **kwargs)

    def seen(self, host: str, path: str) -> dict:
        """What the backend received for this request (the echo JSON); fails unless the answer is 200."""
        response = self.get(host, path)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        return response.json()


class LoopThread:
    """A request loop's life: a thread that runs ``_run`` until stopped, counting attempts and failures.

    ``with`` starts it and waits for its first few attempts; leaving stops it after a short tail."""

    def __init__(self) -> None:
        self.total = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def count(self, good: bool, detail: str) -> None:
        """Record one attempt; ``detail`` is kept when it failed."""
        self.total += 1
        if not good:
            self.failures.append(detail)

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 5
        while self.total < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join(10)


class RequestLoop(LoopThread):
    """Requests through the proxy in a thread, without pause, counting the ones that fail; over HTTPS when given
    ``tls`` (the TLS listener's port and a context that verifies the chain: SNI is the host)."""

    def __init__(
        self,
        proxy: Proxy,
        host: str,
        path: str,
        ok: Callable[[httpx.Response], bool],
        tls: tuple[int, ssl.SSLContext] | None = None,
    ):
        super().__init__()
        self.proxy, self.host, self.path, self.ok, self.tls = proxy, host, path, ok, tls

    def _run(self) -> None:
        base, verify, extensions = f"http://127.0.0.1:{self.proxy.port}", True, {}
        if self.tls:
            base, verify, extensions = f"https://127.0.0.1:{self.tls[0]}", self.tls[1], {"sni_hostname": self.host}
        with httpx.Client(base_url=base, verify=verify, timeout=5, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    # A new connection per request, like `while curl ...`: an idle kept-alive connection that an
                    # old worker closes at a reload is retried by browsers but not by httpx.
                    response = client.get(
                        self.path, headers={"Host": self.host, "Connection": "close"}, extensions=extensions
                    )
                    good = self.ok(response)
                    detail = f"{response.status_code} {response.text[:100]}"
                except httpx.HTTPError as exc:
                    good, detail = False, repr(exc)
                self.count(good, detail)


def nginx_test_files(files: dict[str, str], workdir: Path) -> tuple[bool, str]:
    """Run real ``nginx -t`` on a main config that includes ``files`` (as Portico's managed nginx does)."""
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    sites = workdir / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    for old in sites.glob("*.conf"):
        old.unlink()
    for name, text in files.items():
        (sites / name).write_text(text)
    for sub in ("logs", "temp"):
        (workdir / sub).mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(MAIN_CONF.format(prefix=workdir, listen="127.0.0.1:8080", sites=sites))
    proc = subprocess.run(
        [binary, "-t", "-p", str(workdir), "-c", str(conf)], capture_output=True, text=True, timeout=60
    )
    return proc.returncode == 0, proc.stderr + proc.stdout
