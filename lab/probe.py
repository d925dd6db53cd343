"""The lab's own probes: an HTTP request through the proxy or to a service, and this server's address. The only
code in lab/ that opens a socket or speaks HTTP; it reaches 127.0.0.1 only (the network rule) and sends no packet
to find the address."""

from __future__ import annotations

import socket

import httpx


def server_ip() -> str:
    """This server's address on its default route, for the students' hosts files (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface; UDP connect sends nothing
            return sock.getsockname()[0]
        except OSError:
            return "<server-ip>"


def probe(host: str, port: int, path: str, host_header: str, timeout: float = 2.0) -> tuple[int | None, str]:
    """GET http://host:port/path with a Host header (only 127.0.0.1 here); returns (status, first line) or (None, why)."""
    try:
        response = httpx.get(f"http://{host}:{port}{path}", headers={"Host": host_header}, timeout=timeout)
    except httpx.HTTPError as exc:
        return None, str(exc) or type(exc).__name__
    return response.status_code, (response.text.splitlines() or [""])[0]
