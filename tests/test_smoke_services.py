"""The real services the suite depends on answer: dockerd runs containers, nginx proxies."""

from __future__ import annotations

import http.server
import threading
import time

import httpx
import pytest

pytestmark = [pytest.mark.docker]


def test_a_container_runs_on_the_real_engine_and_its_logs_are_read(run_container):
    container = run_container(["sh", "-c", "echo hello-from-portico; echo to-stderr >&2"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.1)
    assert container.status == "exited"
    assert container.logs(stdout=True, stderr=False).decode() == "hello-from-portico\n"
    assert container.logs(stdout=False, stderr=True).decode() == "to-stderr\n"


@pytest.mark.nginx
def test_nginx_starts_on_a_free_port_and_proxies_a_request(nginx_instance):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"backend saw {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        nginx_instance.write(
            "server { listen 127.0.0.1:{port}; server_name smoke.test; "
            f"location / {{ proxy_pass http://127.0.0.1:{backend.server_port}; }} }}"
        )
        nginx_instance.start()
        response = httpx.get(f"http://127.0.0.1:{nginx_instance.port}/hello", headers={"Host": "smoke.test"})
        assert response.status_code == 200
        assert response.text == "backend saw /hello"
    finally:
        backend.shutdown()
