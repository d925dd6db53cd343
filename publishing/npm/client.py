"""The only module that speaks HTTP to Nginx Proxy Manager (NPM): login, token refresh, proxy hosts.

NPM's API is undocumented and quirky (see docs/npm.md and publishing/tests/npm_api/NOTES.md): auth problems come back
as 404 or 500 instead of 401, an expired token is a 400, and a create answers 201 even when nginx rejected the
host. This client hides that: it logs in, refreshes its token before the 24 h expiry, logs in again once when NPM
signals an auth problem, and turns every failure into ``NpmError(message, status)``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.conf import settings

from publishing.models import NpmSettings

logger = logging.getLogger(__name__)

# The key Portico writes into a proxy host's free-form ``meta`` to mark it as its own.
MANAGED_KEY = "portico_managed"
# NPM writes these into ``meta`` after every render; they are NPM's report, not part of the host we send.
NGINX_META_KEYS = ("nginx_online", "nginx_err")
# Refresh the token when it has less than this left (NPM's tokens live 24 h).
REFRESH_MARGIN = timedelta(hours=1)


class NpmError(Exception):
    """NPM refused or could not be reached; ``status`` is NPM's HTTP status (None: no answer).

    ``message`` is shown to every role and never quotes what the other side sent: the URL is an admin's to set,
    and pointed at an internal service, its answers would reach viewers through Portico. ``output`` holds the
    other side's words (NPM's error message, a body that is not NPM's); it goes to the server log (here) and to
    admins only.
    """

    def __init__(self, message: str, status: int | None = None, output: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.output = output or message
        if output:
            logger.warning("%s NPM said: %s", message, output[:2000])


class NpmNotConfigured(NpmError):
    """No NPM URL or credentials are set."""


@dataclass(frozen=True)
class Location:
    """A custom location of a proxy host: requests under ``path`` go to forward_scheme://host:port<forward_path>."""

    path: str
    forward_scheme: str
    forward_host: str
    forward_port: int
    forward_path: str = ""
    advanced_config: str = ""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Location:
        return cls(
            path=str(data.get("path", "")),
            forward_scheme=str(data.get("forward_scheme", "http")),
            forward_host=str(data.get("forward_host", "")),
            forward_port=int(data.get("forward_port") or 0),
            forward_path=str(data.get("forward_path") or ""),
            advanced_config=str(data.get("advanced_config") or ""),
        )

    def effective_target(self) -> tuple[str, str]:
        """(host, path) as NPM renders them: a ``/`` in forward_host splits it into host and forward path."""
        host, slash, rest = self.forward_host.partition("/")
        if slash:
            return host, "/" + rest
        return host, self.forward_path


@dataclass
class ProxyHost:
    """One NPM proxy host as Portico reads it."""

    id: int
    domain_names: list[str]
    forward_scheme: str
    forward_host: str
    forward_port: int
    enabled: bool = True
    allow_websocket_upgrade: bool = False
    locations: list[Location] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    advanced_config: str = ""
    certificate_id: int | str = 0
    access_list_id: int = 0
    ssl_forced: bool = False
    caching_enabled: bool = False
    block_exploits: bool = False
    http2_support: bool = False
    hsts_enabled: bool = False
    hsts_subdomains: bool = False
    trust_forwarded_proto: bool = False
    modified_on: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ProxyHost:
        """Build from NPM's JSON (``locations`` may be null; dates are SQLite or ISO text, kept as given)."""
        if not isinstance(data, dict) or "id" not in data:
            raise NpmError("NPM answered something that is not a proxy host.", None, str(data)[:500])
        return cls(
            id=int(data["id"]),
            domain_names=sorted(str(d) for d in data.get("domain_names") or []),
            forward_scheme=str(data.get("forward_scheme") or "http"),
            forward_host=str(data.get("forward_host") or ""),
            forward_port=int(data.get("forward_port") or 0),
            enabled=bool(data.get("enabled", True)),
            allow_websocket_upgrade=bool(data.get("allow_websocket_upgrade")),
            locations=[Location.from_api(loc) for loc in data.get("locations") or []],
            meta=dict(data.get("meta") or {}),
            advanced_config=str(data.get("advanced_config") or ""),
            certificate_id=data.get("certificate_id") or 0,
            access_list_id=int(data.get("access_list_id") or 0),
            ssl_forced=bool(data.get("ssl_forced")),
            caching_enabled=bool(data.get("caching_enabled")),
            block_exploits=bool(data.get("block_exploits")),
            http2_support=bool(data.get("http2_support")),
            hsts_enabled=bool(data.get("hsts_enabled")),
            hsts_subdomains=bool(data.get("hsts_subdomains")),
            trust_forwarded_proto=bool(data.get("trust_forwarded_proto")),
            modified_on=str(data.get("modified_on") or ""),
            raw=data,
        )

    @property
    def managed(self) -> bool:
        """Whether Portico owns this host (its marker is in ``meta``)."""
        return self.meta.get(MANAGED_KEY) is True

    @property
    def nginx_online(self) -> bool | None:
        """NPM's verdict after rendering: True, False (nginx rejected it) or None (not reported yet)."""
        value = self.meta.get("nginx_online")
        return None if value is None else bool(value)

    @property
    def nginx_err(self) -> str:
        return str(self.meta.get("nginx_err") or "")

    def body(self) -> dict[str, Any]:
        """The host as a request body (writable fields only; NPM's own nginx report left out of ``meta``)."""
        meta = {k: v for k, v in self.meta.items() if k not in NGINX_META_KEYS}
        locations = []
        for loc in self.locations:
            item: dict[str, Any] = {
                "path": loc.path,
                "forward_scheme": loc.forward_scheme,
                "forward_host": loc.forward_host,
                "forward_port": loc.forward_port,
            }
            if loc.forward_path:
                item["forward_path"] = loc.forward_path
            if loc.advanced_config:
                item["advanced_config"] = loc.advanced_config
            locations.append(item)
        return {
            "domain_names": list(self.domain_names),
            "forward_scheme": self.forward_scheme,
            "forward_host": self.forward_host,
            "forward_port": self.forward_port,
            "access_list_id": self.access_list_id,
            "certificate_id": self.certificate_id,
            "ssl_forced": self.ssl_forced,
            "caching_enabled": self.caching_enabled,
            "block_exploits": self.block_exploits,
            "allow_websocket_upgrade": self.allow_websocket_upgrade,
            "http2_support": self.http2_support,
            "hsts_enabled": self.hsts_enabled,
            "hsts_subdomains": self.hsts_subdomains,
            "trust_forwarded_proto": self.trust_forwarded_proto,
            "advanced_config": self.advanced_config,
            "enabled": self.enabled,
            "meta": meta,
            "locations": locations,
        }


@dataclass(frozen=True)
class NpmCertificate:
    """One certificate in NPM as Portico reads it: what identifies it, never its files."""

    id: int
    provider: str
    nice_name: str

    @classmethod
    def from_api(cls, data: Any) -> NpmCertificate:
        """Build from NPM's JSON (its ``meta``, which may hold a private key, is not read)."""
        if not isinstance(data, dict) or "id" not in data:
            raise NpmError("NPM answered something that is not a certificate.", None)
        return cls(
            id=int(data["id"]), provider=str(data.get("provider") or ""), nice_name=str(data.get("nice_name") or "")
        )


@dataclass(frozen=True)
class NpmConfig:
    """Where NPM is and who Portico logs in as; ``sources`` says for each field whether it came from env or db."""

    url: str
    identity: str
    secret: str
    timeout: float
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return bool(self.url and self.identity and self.secret)

    @classmethod
    def load(cls) -> NpmConfig:
        """Environment variables (PORTICO_NPM_URL/_IDENTITY/_SECRET[_FILE]) first, then the admin settings page."""
        stored = NpmSettings.objects.filter(pk=1).first()
        values, sources = {}, {}
        for name, env_value in (
            ("url", settings.PORTICO_NPM_URL),
            ("identity", settings.PORTICO_NPM_IDENTITY),
            ("secret", settings.PORTICO_NPM_SECRET),
        ):
            if env_value:
                values[name], sources[name] = env_value, "env"
            elif stored is not None and getattr(stored, name):
                values[name], sources[name] = getattr(stored, name), "db"
            else:
                values[name], sources[name] = "", "unset"
        return cls(timeout=float(settings.PORTICO_NPM_TIMEOUT), sources=sources, **values)


# Tokens are shared by every client of the same NPM and user, so a page view does not log in again.
_tokens: dict[tuple[str, str], tuple[str, datetime]] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token (tests; settings changed)."""
    with _tokens_lock:
        _tokens.clear()


def _parse_expiry(text: Any) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        # An unreadable expiry is treated as short-lived: refresh at the next call.
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class NpmClient:
    """A session with one NPM (base URL such as ``http://npm:81/api``). Every method raises NpmError."""

    def __init__(
        self,
        url: str,
        identity: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        if not url or not identity or not secret:
            raise NpmNotConfigured(
                "NPM is not configured: set its URL, user e-mail and password on the NPM page "
                "or with PORTICO_NPM_URL, PORTICO_NPM_IDENTITY and PORTICO_NPM_SECRET."
            )
        self.url = url.rstrip("/")
        self.identity = identity
        self._secret = secret
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, transport: httpx.BaseTransport | None = None) -> NpmClient:
        """A client for the configured NPM (environment first, then the settings page)."""
        config = NpmConfig.load()
        return cls(config.url, config.identity, config.secret, timeout=config.timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NpmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        attempts = 2 if method == "GET" else 1  # only a read is safe to send twice after a dropped connection
        for attempt in range(attempts):
            try:
                return self._http.request(method, path, json=json, params=params, headers=headers, files=files)
            except httpx.TimeoutException:
                raise NpmError(
                    f"NPM at {self.url} did not answer {method} {path} within {self.timeout:g} s.", None
                ) from None
            except httpx.TransportError as exc:
                if attempt + 1 < attempts and isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError):
                    continue
                if isinstance(exc, httpx.ConnectError):  # the operating system's words ("Connection refused")
                    raise NpmError(f"Cannot reach NPM at {self.url}: {exc}.", None) from None
                # A protocol error quotes the bytes received (an SSH banner, a Redis reply): output only.
                raise NpmError(
                    f"Cannot reach NPM at {self.url}: it did not answer as an HTTP server.", None, str(exc)
                ) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            return response.text.strip()[:500] or response.reason_phrase
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return str(data["error"].get("message") or response.reason_phrase)
        return str(data)[:500]

    def _is_auth_problem(self, response: httpx.Response, path: str) -> bool:
        """NPM's ways of saying "who are you?": 400 Token has expired, 404 for the route itself, 500 Internal Error."""
        message = self._message(response)
        if response.status_code == 400:
            return message == "Token has expired"
        if response.status_code == 404:
            # A missing id reads "Not Found - 1"; a missing login makes the known route itself "not found".
            return message == f"Not Found - {path.split('?')[0]}"
        return response.status_code in (401, 403, 500)

    def _error(self, method: str, path: str, response: httpx.Response) -> NpmError:
        return NpmError(
            f"NPM refused {method} {path} ({response.status_code}).", response.status_code, self._message(response)
        )

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise NpmError(
                f"NPM answered {response.status_code} with something that is not JSON. "
                "Is the URL NPM's API (it ends in /api)?",
                response.status_code,
                response.text[:500],
            ) from None

    # --- tokens ---------------------------------------------------------------------------

    def login(self) -> str:
        """POST /tokens with the identity and secret; returns a fresh token (also cached)."""
        response = self._send("POST", "/tokens", json={"identity": self.identity, "secret": self._secret})
        if response.status_code != 200:
            raise NpmError(
                f"NPM refused Portico's login ({response.status_code}): check the user e-mail and password.",
                response.status_code,
                self._message(response),
            )
        data = self._json(response)
        if isinstance(data, dict) and data.get("requires_2fa"):
            raise NpmError(
                f"The NPM user {self.identity} has two-factor authentication: give Portico a user without it.", 200
            )
        token = self._remember(data)
        if token is None:
            raise NpmError("NPM's login answer has no token.", response.status_code, str(data)[:500])
        return token

    def _remember(self, data: Any) -> str | None:
        """Cache the token of a /tokens answer and return it; None (nothing cached) when it holds no token."""
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            return None
        with _tokens_lock:
            _tokens[(self.url, self.identity)] = (token, _parse_expiry(data.get("expires")))
        return token

    def _forget(self) -> None:
        with _tokens_lock:
            _tokens.pop((self.url, self.identity), None)

    def token_expires(self) -> datetime | None:
        """When the cached token expires (None without one)."""
        with _tokens_lock:
            entry = _tokens.get((self.url, self.identity))
        return entry[1] if entry else None

    def refresh(self, token: str) -> str:
        """GET /tokens?expiry=1d with the current token: a new 24 h token. Falls back to a login."""
        response = self._send("GET", "/tokens", params={"expiry": "1d"}, token=token)
        if response.status_code == 200:
            fresh = self._remember(self._json(response))
            if fresh is not None:
                return fresh
        return self.login()

    def _token(self) -> str:
        with _tokens_lock:
            entry = _tokens.get((self.url, self.identity))
        if entry is None:
            return self.login()
        token, expires = entry
        now = datetime.now(UTC)
        if expires <= now:
            return self.login()
        if expires - now < REFRESH_MARGIN:
            return self.refresh(token)
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """An authenticated call; logs in again once if NPM signals an auth problem. Returns the JSON answer."""
        response = self._send(method, path, json=json, params=params, token=self._token(), files=files)
        if self._is_auth_problem(response, path):
            self._forget()
            response = self._send(method, path, json=json, params=params, token=self.login(), files=files)
        if response.status_code >= 400:
            raise self._error(method, path, response)
        return self._json(response)

    # --- API ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """GET / (public): NPM's status and version; raises NpmError when NPM is not there."""
        response = self._send("GET", "/")
        if response.status_code != 200:
            raise self._error("GET", "/", response)
        data = self._json(response)
        if not isinstance(data, dict) or data.get("status") != "OK":
            raise NpmError(f"{self.url} does not look like NPM's API.", response.status_code, str(data)[:500])
        return data

    def list_proxy_hosts(self) -> list[ProxyHost]:
        """Every (not deleted) proxy host, sorted by id."""
        data = self.request("GET", "/nginx/proxy-hosts")
        if not isinstance(data, list):
            raise NpmError("NPM's host list is not a list.", None, str(data)[:500])
        return sorted((ProxyHost.from_api(item) for item in data), key=lambda h: h.id)

    def get_proxy_host(self, host_id: int) -> ProxyHost:
        """One host, including NPM's nginx verdict in ``meta``."""
        return ProxyHost.from_api(self.request("GET", f"/nginx/proxy-hosts/{int(host_id)}"))

    def create_proxy_host(self, body: dict[str, Any]) -> ProxyHost:
        """POST a new host. NPM answers 201 even if nginx rejected it: read it back to know."""
        return ProxyHost.from_api(self.request("POST", "/nginx/proxy-hosts", json=body))

    def update_proxy_host(self, host_id: int, body: dict[str, Any]) -> ProxyHost:
        """PUT (a partial update: only the given fields change; ``locations`` is replaced as a whole)."""
        return ProxyHost.from_api(self.request("PUT", f"/nginx/proxy-hosts/{int(host_id)}", json=body))

    def set_proxy_host_enabled(self, host_id: int, enabled: bool) -> None:
        """POST .../enable or .../disable (a disabled host keeps its row; NPM removes its nginx file)."""
        action = "enable" if enabled else "disable"
        try:
            self.request("POST", f"/nginx/proxy-hosts/{int(host_id)}/{action}")
        except NpmError as exc:
            if exc.status == 400 and exc.output == f"Host is already {action}d":
                return
            raise

    def delete_proxy_host(self, host_id: int) -> None:
        """DELETE (NPM soft-deletes the row and removes its nginx file)."""
        self.request("DELETE", f"/nginx/proxy-hosts/{int(host_id)}")

    def list_certificates(self) -> list[NpmCertificate]:
        """Every (not deleted) certificate NPM holds, without its files (NPM's ``meta`` may hold a key: dropped)."""
        data = self.request("GET", "/nginx/certificates")
        if not isinstance(data, list):
            raise NpmError("NPM's certificate list is not a list.", None)
        return sorted((NpmCertificate.from_api(item) for item in data), key=lambda c: c.id)

    def create_custom_certificate(self, nice_name: str) -> int:
        """POST a custom ("other") certificate without files yet; returns its id."""
        data = self.request("POST", "/nginx/certificates", json={"provider": "other", "nice_name": nice_name})
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            raise NpmError("NPM's answer to a new certificate has no id.", None)
        return int(data["id"])

    def upload_certificate(self, certificate_id: int, leaf_pem: str, key_pem: str, intermediates_pem: str) -> None:
        """POST the files of a custom certificate (NPM checks them with openssl and writes them for its nginx).

        NPM answers with the files it stored, key included: the answer is read for its status only, never kept.
        """
        files = {
            "certificate": ("certificate.pem", leaf_pem.encode(), "application/x-pem-file"),
            "certificate_key": ("certificate_key.pem", key_pem.encode(), "application/x-pem-file"),
        }
        if intermediates_pem:
            files["intermediate_certificate"] = (
                "intermediate_certificate.pem",
                intermediates_pem.encode(),
                "application/x-pem-file",
            )
        self.request("POST", f"/nginx/certificates/{int(certificate_id)}/upload", files=files)

    def delete_certificate(self, certificate_id: int) -> None:
        """DELETE a certificate (NPM refuses while a host uses it)."""
        self.request("DELETE", f"/nginx/certificates/{int(certificate_id)}")
