"""A fake Nginx Proxy Manager 2.15.1 API on 127.0.0.1 for the tests (no NPM can run in CI).

It is built from NPM's JSON schema (request validation with ajv-worded errors) and from the recorded exchanges in
npm_api/transcript/, and it keeps NPM's quirks rather than fixing them:

* missing auth: 404 ``Not Found - <path>`` on GET/PUT/DELETE, 500 ``Internal Error`` on POST; a garbage token: 500;
  an expired token: 400 ``Token has expired`` (transcripts 08, 09, 52, 80-84);
* a create answers 201 with ``meta`` as sent; only a later GET (or a PUT's answer) carries ``meta.nginx_online`` /
  ``nginx_err`` (transcripts 18, 21, 31, 33, 57, 59): a host nginx rejects is stored anyway, with nginx_online false;
* ``<domain> is already in use`` (400) among hosts that are not deleted; delete is a soft delete (404 afterwards);
* ``locations`` is null until set; dates in SQLite's ``YYYY-MM-DD HH:MM:SS``; ajv-style type coercion of integers.

The fake's "nginx -t" rejects what the real one rejected in the transcripts: an unknown directive in an
``advanced_config`` and a custom location whose ``forward_host`` does not resolve (``unresolvable``).
Fault injection for the tests: ``fail_next(status, message)``, ``delay`` (seconds before answering).
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from publishing.tests.npm_schema import ajv_message, request_errors, transcript

# Directives an advanced_config may use in the fake (a small part of what nginx knows; enough for the tests).
KNOWN_DIRECTIVES = {
    "add_header",
    "proxy_set_header",
    "proxy_connect_timeout",
    "proxy_read_timeout",
    "proxy_send_timeout",
    "proxy_buffering",
    "proxy_pass",
    "location",
    "return",
    "rewrite",
    "client_max_body_size",
    "allow",
    "deny",
}
_EXPIRY = re.compile(r"^([0-9]+)(y|Q|M|w|d|h|m|s|ms)$")
_UNITS = {
    "y": timedelta(days=365),
    "Q": timedelta(days=91),
    "M": timedelta(days=30),
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class FakeNpm:
    """The fake's state and its HTTP server; ``url`` is the API base (``http://127.0.0.1:<port>/api``)."""

    def __init__(self, identity: str = "admin@example.com", secret: str = "changeme"):
        self.users = {identity: secret}
        self.tokens: dict[str, datetime] = {}
        self.hosts: dict[int, dict[str, Any]] = {}
        self.deleted: set[int] = set()
        self.next_id = 1
        self.token_lifetime = timedelta(days=1)
        self.unresolvable = {"missing-container", "missing-container-2"}
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._faults: list[tuple[str | None, str | None, int, str]] = []
        self.lock = threading.RLock()
        self._owner = transcript("18-")["response"]["body"]["owner"]
        self._health = transcript("03-")["response"]["body"]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-npm", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def start(self) -> FakeNpm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- test controls --------------------------------------------------------------------

    def fail_next(self, status: int, message: str, *, method: str | None = None, path: str | None = None) -> None:
        """Answer the next request (matching method and path prefix, if given) with an NPM-style error."""
        with self.lock:
            self._faults.append((method, path, status, message))

    def expire_tokens(self) -> None:
        """Every issued token is now past its expiry."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = _now() - timedelta(seconds=1)

    def live_hosts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(h) for i, h in sorted(self.hosts.items()) if i not in self.deleted]

    def add_host(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a host directly (as if someone used NPM's own UI)."""
        with self.lock:
            return copy.deepcopy(self._create(body))

    # --- behaviour ------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> tuple[int, str] | None:
        with self.lock:
            for i, (f_method, f_path, status, message) in enumerate(self._faults):
                if (f_method is None or f_method == method) and (f_path is None or path.startswith(f_path)):
                    del self._faults[i]
                    return status, message
        return None

    def _issue(self, lifetime: timedelta) -> dict[str, str]:
        token = "fake." + secrets.token_urlsafe(24)
        expires = _now() + lifetime
        self.tokens[token] = expires
        return {"token": token, "expires": _iso(expires)}

    def _nginx_test(self, host_id: int, row: dict[str, Any]) -> str | None:
        """What the real ``nginx -t`` said about the rendered host in the transcripts, or None if it passes."""
        line = 44
        for statement in re.split(r"[;{}]", row.get("advanced_config") or ""):
            words = statement.split()
            if words and words[0] not in KNOWN_DIRECTIVES:
                return self._emerg(f'unknown directive "{words[0]}"', host_id, line)
        for loc in row.get("locations") or []:
            line += 4
            host = str(loc.get("forward_host", "")).split("/")[0]
            if host in self.unresolvable:
                return self._emerg(f'host not found in upstream "{host}"', host_id, line)
        return None

    @staticmethod
    def _emerg(what: str, host_id: int, line: int) -> str:
        stamp = _now().strftime("%Y/%m/%d %H:%M:%S")
        return (
            f"{stamp} [emerg] 4242#4242: {what} in /data/nginx/proxy_host/{host_id}.conf:{line}\n"
            "nginx: configuration file /etc/nginx/nginx.conf test failed\n"
        )

    def _render(self, host_id: int, row: dict[str, Any]) -> None:
        if not row["enabled"]:
            return
        error = self._nginx_test(host_id, row)
        row["meta"] = {**row["meta"], "nginx_online": error is None, "nginx_err": error}

    def _in_use(self, names: list[str], except_id: int | None = None) -> str | None:
        for host_id, row in self.hosts.items():
            if host_id in self.deleted or host_id == except_id:
                continue
            for name in names:
                if name in row["domain_names"]:
                    return name
        return None

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        host_id = self.next_id
        self.next_id += 1
        stamp = _sqlite_date(_now())
        row = {
            "id": host_id,
            "created_on": stamp,
            "modified_on": stamp,
            "owner_user_id": 1,
            "domain_names": sorted(body["domain_names"]),
            "forward_host": body["forward_host"],
            "forward_port": body["forward_port"],
            "access_list_id": body.get("access_list_id", 0),
            "certificate_id": body.get("certificate_id", 0),
            "ssl_forced": body.get("ssl_forced", False),
            "caching_enabled": body.get("caching_enabled", False),
            "block_exploits": body.get("block_exploits", False),
            "advanced_config": body.get("advanced_config", ""),
            "meta": dict(body.get("meta") or {}),
            "allow_websocket_upgrade": body.get("allow_websocket_upgrade", False),
            "http2_support": body.get("http2_support", False),
            "forward_scheme": body["forward_scheme"],
            "enabled": body.get("enabled", True),
            "locations": copy.deepcopy(body.get("locations")),
            "hsts_enabled": body.get("hsts_enabled", False),
            "hsts_subdomains": body.get("hsts_subdomains", False),
            "trust_forwarded_proto": body.get("trust_forwarded_proto", False),
        }
        self.hosts[host_id] = row
        answer = copy.deepcopy(row)  # the 201 carries meta as sent: nginx runs after the row is written
        self._render(host_id, row)
        return answer

    def render_conf(self, host_id: int, listen: str) -> str:
        """The server block NPM writes to /data/nginx/proxy_host/<id>.conf, reduced to what routes requests.

        Follows NPM's proxy_host.conf / _location.conf templates (NOTES.md 5, transcripts 19 and 55): the default
        location proxies to ``$forward_scheme://$server:$port$request_uri``; a custom location to
        ``scheme://host:port<forward_path>`` where a ``/`` in forward_host splits off the path. Log paths, includes
        and the certificate parts are left out so a test nginx can load it.
        """
        with self.lock:
            row = copy.deepcopy(self.hosts[host_id])
        websocket = (
            "proxy_set_header Upgrade $http_upgrade;\n    proxy_set_header Connection $http_connection;\n"
            "    proxy_http_version 1.1;\n"
            if row["allow_websocket_upgrade"]
            else ""
        )
        lines = [
            "server {",
            f"  set $forward_scheme {row['forward_scheme']};",
            f'  set $server "{row["forward_host"]}";',
            f"  set $port {row['forward_port']};",
            f"  listen {listen};",
            f"  server_name {' '.join(row['domain_names'])};",
            f"  {websocket}",
            row["advanced_config"],
        ]
        for loc in row["locations"] or []:
            host, slash, rest = str(loc["forward_host"]).partition("/")
            forward_path = "/" + rest if slash else loc.get("forward_path", "")
            lines += [
                f"  location {loc['path']} {{",
                f"    {loc.get('advanced_config', '')}",
                "    proxy_set_header Host $host;",
                "    proxy_set_header X-Forwarded-Proto $scheme;",
                "    proxy_set_header X-Real-IP $remote_addr;",
                f"    proxy_pass {loc['forward_scheme']}://{host}:{loc['forward_port']}{forward_path};",
                f"    {websocket}",
                "  }",
            ]
        if not any(loc["path"] == "/" for loc in row["locations"] or []):
            lines += [
                "  location / {",
                f"    {websocket}",
                "    add_header X-Served-By $host;",
                "    proxy_set_header Host $host;",
                "    proxy_pass $forward_scheme://$server:$port$request_uri;",
                "  }",
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any]:
        """Answer one request: (status, JSON body)."""
        split = urlsplit(raw_path)
        if not split.path.startswith("/api"):
            return 404, {"error": {"code": 404, "message": "Not Found"}}
        path = split.path[len("/api") :] or "/"
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                return _error(400, "Internal Error")
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
        fault = self._take_fault(method, path)
        if fault:
            return _error(*fault)
        if method == "GET" and path == "/":
            return 200, self._health
        if method == "POST" and path == "/tokens":
            return self._login(body)
        denied = self._check_auth(method, path, headers.get("authorization"))
        if denied:
            return denied
        with self.lock:
            return self._route(method, path, query, body)

    def _login(self, body: Any) -> tuple[int, Any]:
        errors = request_errors("POST", "/tokens", body)
        if errors:
            return _error(400, ajv_message(errors))
        identity = str(body["identity"]).strip().lower()
        if identity not in self.users:
            return _error(400, "Invalid email or password")
        if self.users[identity] != body["secret"]:
            # A known e-mail with a wrong password carries an i18n key as well (transcript 04).
            return 400, {
                "error": {"code": 400, "message": "Invalid email or password", "message_i18n": "error.invalid-auth"}
            }
        with self.lock:
            return 200, self._issue(self.token_lifetime)

    def _check_auth(self, method: str, path: str, header: str | None) -> tuple[int, Any] | None:
        if not header:
            # NPM's PermissionError thrown without `new`: POST falls into a 500, the rest into the 404 handler.
            return _error(500, "Internal Error") if method == "POST" else _error(404, f"Not Found - {path}")
        scheme, _, token = header.partition(" ")
        with self.lock:
            expires = self.tokens.get(token) if scheme == "Bearer" else None
        if expires is None:
            return _error(500, "Internal Error")
        if expires <= _now():
            return 400, {
                "error": {
                    "code": 400,
                    "message": "Token has expired",
                    "message_i18n": {"name": "TokenExpiredError", "message": "jwt expired", "expiredAt": _iso(expires)},
                }
            }
        return None

    def _expanded(self, row: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(row), "owner": self._owner, "certificate": None, "access_list": None}

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == "/tokens" and method == "GET":
            match = _EXPIRY.match(query.get("expiry", "1d"))
            if not match:
                return _error(400, "data/expiry must match pattern")
            return 200, self._issue(int(match.group(1)) * _UNITS[match.group(2)])
        if path == "/nginx/proxy-hosts":
            if method == "GET":
                return 200, [copy.deepcopy(h) for i, h in sorted(self.hosts.items()) if i not in self.deleted]
            if method == "POST":
                body = _coerce(body)
                errors = request_errors("POST", path, body)
                if errors:
                    return _error(400, ajv_message(errors))
                used = self._in_use(body["domain_names"])
                if used:
                    return _error(400, f"{used} is already in use")
                created = self._create(body)
                return 201, {**created, "certificate": None, "owner": self._owner, "access_list": None}
        match = re.fullmatch(r"/nginx/proxy-hosts/([^/]+)(/enable|/disable)?", path)
        if match:
            ident, action = match.group(1), match.group(2)
            host_id = int(ident) if ident.isdigit() else -1
            row = self.hosts.get(host_id) if host_id not in self.deleted else None
            if row is None and method in ("GET", "PUT", "DELETE", "POST"):
                return _error(404, f"Not Found - {ident}")
            if action and method == "POST":
                wanted = action == "/enable"
                if row["enabled"] == wanted:
                    return _error(400, f"Host is already {'enabled' if wanted else 'disabled'}")
                row["enabled"] = wanted
                self._render(host_id, row)
                return 200, True
            if action is None and method == "GET":
                return 200, copy.deepcopy(row)
            if action is None and method == "PUT":
                body = _coerce(body)
                errors = request_errors("PUT", path, body)
                if errors:
                    return _error(400, ajv_message(errors))
                if "domain_names" in body:
                    used = self._in_use(body["domain_names"], except_id=host_id)
                    if used:
                        return _error(400, f"{used} is already in use")
                for key, value in body.items():
                    row[key] = sorted(value) if key == "domain_names" else copy.deepcopy(value)
                row["modified_on"] = _sqlite_date(_now())
                self._render(host_id, row)
                return 200, self._expanded(row)
            if action is None and method == "DELETE":
                self.deleted.add(host_id)
                return 200, True
        return _error(404, f"Not Found - {path}")


def _error(status: int, message: str) -> tuple[int, Any]:
    return status, {"error": {"code": status, "message": message}}


def _coerce(body: Any) -> Any:
    """ajv's coerceTypes for the integers of a proxy host: "8011" is accepted as 8011 (transcript 26)."""
    if not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    items = [body, *[loc for loc in body.get("locations") or [] if isinstance(loc, dict)]]
    for item in items:
        for key in ("forward_port", "access_list_id"):
            if isinstance(item.get(key), str) and item[key].isdigit():
                item[key] = int(item[key])
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _serve(self) -> None:
        fake: FakeNpm = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if fake.delay:
            threading.Event().wait(fake.delay)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = fake.handle(self.command, self.path, headers, raw)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


# --- pytest fixtures (imported by the NPM test modules) -----------------------------------------------


class ValidatingTransport(httpx.HTTPTransport):
    """Checks every request body the client sends against NPM's JSON schema before it goes out."""

    def __init__(self, base_path: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.base_path = base_path.rstrip("/")
        self.checked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path[len(self.base_path) :] or "/"
        if request.headers.get("content-type", "").startswith("multipart/"):
            self.checked += 1  # a certificate upload: files, which NPM's JSON schema does not describe
            return super().handle_request(request)
        body = json.loads(request.content) if request.content else None
        errors = request_errors(request.method, path, body)
        assert not errors, f"{request.method} {path} breaks NPM's schema: {ajv_message(errors)}"
        self.checked += 1
        return super().handle_request(request)


@dataclass
class NpmTarget:
    """The NPM the tests talk to: the fake, or a real one from PORTICO_TEST_NPM_URL/_IDENTITY/_SECRET."""

    url: str
    identity: str
    secret: str
    fake: FakeNpm | None
    transport: ValidatingTransport

    def client(self, timeout: float = 5.0):
        from publishing.npm.client import NpmClient

        return NpmClient(self.url, self.identity, self.secret, timeout=timeout, transport=self.transport)

    def need_fake(self) -> FakeNpm:
        if self.fake is None:
            pytest.skip("fault injection needs the fake NPM (PORTICO_TEST_NPM_URL points at a real one)")
        return self.fake


REAL_NPM = {k: os.environ.get(f"PORTICO_TEST_NPM_{k.upper()}", "") for k in ("url", "identity", "secret")}
TEST_DOMAIN_SUFFIX = ".portico-test.invalid"


@pytest.fixture
def npm() -> Iterator[NpmTarget]:
    """A fresh fake NPM per test, or the real NPM named by PORTICO_TEST_NPM_*; test hosts are removed after."""
    from publishing.npm.client import NpmClient, forget_tokens

    forget_tokens()
    if all(REAL_NPM.values()):
        url = REAL_NPM["url"].rstrip("/")
        target = NpmTarget(url, REAL_NPM["identity"], REAL_NPM["secret"], None, ValidatingTransport(urlsplit(url).path))
        yield target
        with NpmClient(url, target.identity, target.secret) as client:
            for host in client.list_proxy_hosts():
                if any(d.endswith(TEST_DOMAIN_SUFFIX) for d in host.domain_names):
                    client.delete_proxy_host(host.id)
    else:
        fake = FakeNpm().start()
        try:
            yield NpmTarget(fake.url, "admin@example.com", "changeme", fake, ValidatingTransport("/api"))
        finally:
            fake.stop()
    forget_tokens()
