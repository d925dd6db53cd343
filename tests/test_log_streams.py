"""Live log streams against a real Portico started as scripts/serve starts it (dashboard/gunicorn_conf.py).

Fifty open follow streams (the API's and the pages', container and domain) leave the health endpoint, login and
every page answering in under a second, hold no thread each, and each user may hold four; streams whose clients
went away are noticed within seconds (their slots are free again).
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import pytest

USERS = 13  # 12 users x 4 streams + 1 user x 2 = 50
PASSWORD = "stream-user-pw-123"
PAGES = ["/", "/routes/", "/containers/", "/audit/", "/tokens/", "/users/", "/lab/"]


def _login(server, username: str, password: str = PASSWORD) -> httpx.Client:
    """A client logged in through the login page (it also sends the session to the API)."""
    client = httpx.Client(base_url=server.url, timeout=10, trust_env=False)
    client.get("/login/")
    response = client.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": server.url + "/login/"},
    )
    assert response.status_code == 302, response.text[:300]
    return client


def _open_stream(server, path: str, cookies: httpx.Cookies) -> socket.socket:
    """A follow request on a raw socket, read until the stream has started; the socket stays open."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode()
    )
    data = b""
    while b": connected" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if not data.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in data:
            break
    if not data.startswith(b"HTTP/1.1 200"):
        sock.close()
        raise AssertionError(f"{path} did not stream: {data[:400]!r}")
    return sock


def _timed(client: httpx.Client, method: str, path: str, **kwargs) -> tuple[int, float]:
    start = time.perf_counter()
    response = client.request(method, path, **kwargs)
    return response.status_code, time.perf_counter() - start


def _worker_threads(server) -> list[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [len(list(Path(f"/proc/{child}/task").iterdir())) for child in children]


@pytest.fixture
def ticker(run_container):
    return run_container(["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.5; done"])


def test_fifty_open_streams_leave_pages_fast_hold_no_thread_each_and_closed_clients_are_noticed(
    make_portico_server, ticker
):
    server = make_portico_server()
    admin = httpx.Client(
        base_url=server.url, timeout=10, trust_env=False, headers={"Authorization": f"Bearer {server.token}"}
    )
    for n in range(USERS):
        made = admin.post("/api/v1/users", json={"username": f"watcher{n}", "password": PASSWORD, "role": "viewer"})
        assert made.status_code == 201, made.text
    assert admin.post("/api/v1/domains", json={"name": "streams.test"}).status_code == 201
    route = {"domain": "streams.test", "path": "/", "targets": [{"host": ticker.name, "port": 80}]}
    assert admin.post("/api/v1/routes", json=route).status_code == 201, "route"

    name = ticker.name
    kinds = [
        f"/api/v1/containers/{name}/logs/follow",  # the API
        f"/containers/c/{name}/logs/follow/",  # the page's stream
        "/api/v1/domain-logs/streams.test/follow",  # a domain's, API
        "/containers/domains/streams.test/logs/follow/",  # a domain's, page
    ]
    clients = [_login(server, f"watcher{n}") for n in range(USERS)]
    admin_pages = _login(server, "admin", "server-admin-pw-123")
    pages = [*PAGES, f"/containers/c/{name}/", "/containers/domains/streams.test/logs/"]
    # What each page takes with no stream open (after a first visit): a page whose own work takes about a second
    # (the lab guide asks the engine for every container and probes ports) is held to that, not to the streams.
    for page in pages:
        _timed(admin_pages, "GET", page)
    alone = {page: _timed(admin_pages, "GET", page)[1] for page in pages}
    print("alone:", {page: f"{took * 1000:.0f} ms" for page, took in alone.items()})
    streams: list[socket.socket] = []
    try:
        for n, client in enumerate(clients):
            for path in kinds[: 4 if n < USERS - 1 else 2]:
                streams.append(_open_stream(server, path, client.cookies))
        assert len(streams) == 50

        # Everything else still answers at once.
        watcher = clients[0]
        timings = {"health": _timed(admin, "GET", "/api/v1/health")}
        for page in pages:
            timings[page] = _timed(admin_pages, "GET", page)
        timings["api routes"] = _timed(admin, "GET", "/api/v1/routes")
        fresh = httpx.Client(base_url=server.url, timeout=10, trust_env=False)
        timings["login page"] = _timed(fresh, "GET", "/login/")
        timings["login"] = _timed(
            fresh,
            "POST",
            "/login/",
            data={
                "username": "admin",
                "password": "server-admin-pw-123",
                "csrfmiddlewaretoken": fresh.cookies["csrftoken"],
            },
            headers={"Referer": server.url + "/login/"},
        )
        print(
            "with 50 streams open:",
            {what: f"{status} {took * 1000:.0f} ms" for what, (status, took) in timings.items()},
        )
        slow = {
            what: f"{status} in {took:.2f} s (alone {alone.get(what, 0):.2f} s)"
            for what, (status, took) in timings.items()
            if took >= max(1.0, alone.get(what, 0) + 0.5)
        }
        assert not slow, f"answers took a second or more with 50 streams open: {slow}"
        assert {what: status for what, (status, _took) in timings.items() if status not in (200, 302)} == {}

        # The streams are live: new lines keep arriving on them.
        for sock in (streams[0], streams[1], streams[-1]):
            sock.settimeout(5)
            assert b"event: line" in sock.recv(65536)

        # No thread per stream: 50 streams on 2 workers, each worker keeps a handful of threads.
        assert all(threads <= 8 for threads in _worker_threads(server)), _worker_threads(server)

        # A fifth stream of one user is refused with a reason: JSON in the API, text for the page to show.
        refused = watcher.get(kinds[0])
        assert refused.status_code == 429
        assert "Too many open log streams: you may have at most 4 open at once" in refused.json()["detail"]
        page_refused = watcher.get(kinds[1])
        assert page_refused.status_code == 429 and "at most 4 open at once" in page_refused.text
    finally:
        closed_at = time.monotonic()
        for sock in streams:
            sock.close()

    # Clients gone: the server notices within seconds and the user's four slots are free again.
    deadline = closed_at + 5
    while True:
        reopened = []
        try:
            reopened = [_open_stream(server, path, watcher.cookies) for path in kinds]
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            for sock in reopened:
                sock.close()
    noticed = time.monotonic() - closed_at
    assert noticed < 5, f"closed streams were noticed after {noticed:.1f} s"
    errors = re.findall(r"Traceback|Exception in ASGI", server.log_tail(20000))
    assert errors == [], server.log_tail(4000)


def test_a_download_streams_through_the_real_server(make_portico_server, run_container):
    lines = 20_000
    container = run_container(["sh", "-c", f"seq 1 {lines} | sed 's/^/download-line-/'; echo DONE; sleep 60"])
    server = make_portico_server()
    headers = {"Authorization": f"Bearer {server.token}"}
    deadline = time.monotonic() + 30
    while b"DONE" not in container.logs(tail=1) and time.monotonic() < deadline:
        time.sleep(0.2)
    with (
        httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client,
        client.stream("GET", f"/api/v1/containers/{container.name}/logs/download", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert "content-length" not in response.headers  # a streamed answer (test_log_limits checks its writes)
        body = b"".join(response.iter_bytes())
    assert body.count(b"download-line-") == lines and body.rstrip().endswith(b"stdout DONE")
