"""Proof that nginx serves what was applied: one request per changed domain file (each answers a digest of
itself) and, for HTTPS, a handshake presenting the expected leaf."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable

from cryptography import x509
from django.conf import settings

from publishing.nginx.process import NginxError, listen_address, tls_address
from publishing.render import CONFIG_PROBE, FILE_PREFIX, HTTP_FILE, config_digest

VERIFY_SETTLE = 0.3
VERIFY_WITNESSES = 8
VERIFY_PER_DOMAIN = 0.005  # seconds added to the deadline per domain to ask


def _probe_host(file_name: str) -> str:
    name = file_name[len(FILE_PREFIX) : -len(".conf")]
    return name.replace("_wildcard.", "portico-verify.")


def _probe(address: tuple[str, int], host: str) -> str:
    """The probe's answer for ``host`` (or ``status N`` / ``error ...``).

    A new connection each time: a kept-alive one would always reach the same worker. The standard library's
    client, because verification sends one request per changed domain and httpx costs far more per request
    (docs/BENCHMARKS.md).
    """
    conn = http.client.HTTPConnection(address[0], address[1], timeout=2.0)
    try:
        conn.request("GET", CONFIG_PROBE, headers={"Host": host, "Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return f"error: {exc}"
    finally:
        conn.close()
    return body.strip() if response.status == 200 else f"status {response.status}"


def _tls_probe(address: tuple[str, int], host: str) -> bytes | str:
    """The leaf certificate (DER) the TLS listener presents for SNI ``host``, or ``error ...``.

    Nothing is verified here on purpose: the caller compares the whole leaf with the one it published, which says
    more than a chain check (a self-made or expired certificate is still the one asked for).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(address, timeout=2.0) as raw,
            context.wrap_socket(raw, server_hostname=host) as conn,
        ):
            return conn.getpeercert(binary_form=True) or "error: no certificate"
    except (OSError, ssl.SSLError) as exc:
        return f"error: {exc}"


def _serial(der: bytes | str) -> str:
    if isinstance(der, str):
        return der
    return "serial " + format(x509.load_der_x509_certificate(der).serial_number, "x")


def verify(
    desired: dict[str, str],
    previous: dict[str, str],
    timeout: float | None = None,
    grace: float = 0.0,
    old_workers_done: Callable[[], bool | None] | None = None,
    leaves: dict[str, bytes] | None = None,
) -> str:
    """Prove with HTTP requests that nginx serves ``desired``: every changed domain answers its new digest,
    every removed domain stops answering its old one. Raises NginxError after ``timeout`` seconds.

    nginx loads a config as a whole, so a few witness domains spread over the changed ones tell when the new
    config went live; then every changed domain is asked (again where an old worker answered), so the cost
    is one request per domain, not a poll loop per domain, and the apply returns once VERIFY_SETTLE has passed
    since the switch (the old workers have stopped accepting by then) or ``old_workers_done`` says so. Waiting
    for the switch and checking every domain each get ``timeout`` seconds plus ``grace`` (the caller passes
    what testing the config took: nginx parses it again on reload, so big configs switch later).
    ``old_workers_done`` tells, where the mode can, that the old workers stopped accepting; None from it means
    it cannot tell. ``leaves`` (file name -> leaf certificate, DER) adds a TLS handshake per changed domain with
    an HTTPS server: the listener must present exactly that certificate for the domain's name.
    """
    leaves = leaves or {}
    tls_at = tls_address()
    timeout = (timeout or settings.PORTICO_VERIFY_TIMEOUT) + grace
    expected: dict[str, tuple[str, bool]] = {}
    for name in sorted(set(desired) | set(previous)):
        if name == HTTP_FILE or desired.get(name) == previous.get(name):
            continue
        if name in desired:
            expected[name] = (config_digest(desired[name]), True)
        else:
            expected[name] = (config_digest(previous[name]), False)
    if not expected:
        return "verified: no domain changed"
    address = listen_address()
    base = f"http://{'[' + address[0] + ']' if ':' in address[0] else address[0]}:{address[1]}"
    seen: dict[str, str] = {}

    def serving(name: str) -> bool:
        digest, present = expected[name]
        seen[name] = _probe(address, _probe_host(name))
        if (seen[name] == digest) != present:
            return False
        if present and name in leaves and tls_at is not None:
            presented = _tls_probe(tls_at, _probe_host(name))
            if presented != leaves[name]:
                seen[name] += f", TLS presented {_serial(presented)} instead of {_serial(leaves[name])}"
                return False
        return True

    def settle(names: list[str]) -> list[str]:
        deadline = time.monotonic() + timeout + VERIFY_PER_DOMAIN * len(names)
        pending = [n for n in names if not serving(n)]
        while pending and time.monotonic() <= deadline:
            time.sleep(0.02)
            pending = [n for n in pending if not serving(n)]
        return pending

    names = list(expected)
    witnesses = names[:: max(1, len(names) // VERIFY_WITNESSES)][:VERIFY_WITNESSES]
    pending = settle(witnesses)
    if not pending:
        # The new config is live. For a moment the old workers keep accepting too (nginx's master waits
        # 100 ms before it tells them to stop): a domain that one of them answers is asked again, and the
        # apply returns only once that moment has passed, so every request after it gets the new config.
        live_since = time.monotonic()
        pending = settle(names)
        while time.monotonic() - live_since < VERIFY_SETTLE:
            if old_workers_done is not None and old_workers_done():
                break
            time.sleep(0.005)
    if pending:
        details = "; ".join(
            f"{_probe_host(n)}: expected {'digest ' + expected[n][0] if expected[n][1] else 'the old config gone'}, "
            f"got {seen.get(n)}"
            for n in sorted(pending)[:20]
        )
        more = f" (and {len(pending) - 20} more)" if len(pending) > 20 else ""
        raise NginxError(
            f"nginx did not serve the new config within {timeout:.1f} s ({len(pending)} domain(s)): {details}{more}",
            details,
        )
    handshakes = sum(1 for name in expected if expected[name][1] and name in leaves and tls_at is not None)
    tls_note = f", {handshakes} TLS handshake(s) presented the new certificate" if handshakes else ""
    return f"verified {len(expected)} domain(s) on {base}{tls_note}"
