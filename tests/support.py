"""Network helpers shared by the test suite (conftest.py) and the benchmarks (bench/); no pytest here."""

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
