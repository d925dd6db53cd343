"""Portico's desired state and NPM's proxy hosts, both directions side by side (docs/npm.md).

Out: one domain -> one NPM proxy host (a disabled domain -> a disabled host). Its ``/`` route gives the host's
forward_scheme/host/port; every other route becomes a custom location. ``strip_prefix`` is NPM's forward path
``/``: NPM renders ``proxy_pass http://host:port/;`` inside ``location /task/``, so /task/x arrives upstream as /x.
``websocket`` is the host's allow_websocket_upgrade (NPM has it per host, not per path).

What NPM cannot express is never published as something else: several targets (load balancing, backups),
a domain without a ``/`` route and a strip_prefix path without a trailing slash block the apply with a clear
message; timeouts that NPM cannot set are a warning.

In: an NPM host becomes Portico domains and routes (import_host), with a note for whatever cannot be carried over.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from core.errors import error_message
from publishing.alphabet import UnsafeValue, check_domain
from publishing.npm.client import MANAGED_KEY, NpmCertificate, ProxyHost
from publishing.render import tls_digest
from routes.schemas import DomainSpec, RouteSpec, TargetSpec

ARTIFACT_PREFIX = "npm/"
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 60


def artifact_name(domain: str) -> str:
    """The plan/revision key of a domain's host: ``npm/<domain>.json``."""
    return f"{ARTIFACT_PREFIX}{domain}.json"


def canonical(body: dict[str, Any]) -> str:
    """The one text form of a host body: sorted keys, two-space indent, trailing newline (diffs stay small)."""
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def host_key(host: ProxyHost) -> str:
    """The domain a live host is filed under: its first domain name (NPM keeps them sorted)."""
    return host.domain_names[0] if host.domain_names else f"host-{host.id}"


def live_body(host: ProxyHost) -> dict[str, Any]:
    """A live host in the same shape as a rendered one (NPM's nginx report and null locations left out)."""
    return host.body()


# NPM's HSTS header is fixed: max-age two years, preload (its _hsts_map.conf).
NPM_HSTS_MAX_AGE = 63_072_000
CERTIFICATE_PREFIX = "portico-"


def certificate_name(certificate_id: int, chain_pem: str) -> str:
    """The nice_name of a Portico certificate in NPM: its id and chain digest, so a renewal is a new NPM
    certificate and the previous one stays until no published host uses it (a failed push can go back to it)."""
    return f"{CERTIFICATE_PREFIX}{certificate_id}-{tls_digest(chain_pem)}"


def by_name(body: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    """``body`` with NPM's certificate id replaced by the certificate's nice_name where it is Portico's, the way
    a rendered body names it (ids differ between NPMs and after a re-upload; names do not)."""
    cert = body.get("certificate_id")
    if isinstance(cert, int | str) and str(cert).isdigit() and int(cert) in names:
        return {**body, "certificate_id": names[int(cert)]}
    return body


def by_id(body: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """``body`` with a certificate nice_name replaced by its NPM id (what NPM's API takes)."""
    cert = body.get("certificate_id")
    if isinstance(cert, str) and cert in ids:
        return {**body, "certificate_id": ids[cert]}
    return body


@dataclass
class Problem:
    """Something about a domain NPM cannot do; ``blocking`` ones stop the apply."""

    domain: str
    message: str
    blocking: bool

    def __str__(self) -> str:
        return f"{'Blocked' if self.blocking else 'Note'}: {self.message}"


def _forward_host(target: TargetSpec) -> str:
    try:
        if ipaddress.ip_address(target.host).version == 6:
            return f"[{target.host}]"
    except ValueError:
        pass
    return target.host


def problems_of(domain: DomainSpec) -> list[Problem]:
    problems: list[Problem] = []
    name = domain.name
    routes = [r for r in domain.routes if r.enabled]
    if not routes:
        problems.append(Problem(name, f"{name} has no enabled route, so nothing is published for it in NPM.", False))
        return problems
    if not any(r.path == "/" for r in routes):
        problems.append(
            Problem(
                name,
                f"{name} has no “/” route. An NPM proxy host always forwards “/” somewhere; add a “/” route "
                "(or publish with nginx).",
                True,
            )
        )
    for route in routes:
        where = f"{name}{route.path}"
        if route.action != "proxy":
            # NPM's redirection and dead hosts are not mapped yet: such a route is refused, never published as a
            # proxy (host_body leaves it out, so the plan shows what would be published without it).
            problems.append(
                Problem(
                    name,
                    f"{where} is a {route.action} route; Portico cannot publish redirect or respond routes to NPM "
                    "yet: publish with nginx, or change or disable the route.",
                    True,
                )
            )
            continue
        if len(route.targets) > 1:
            problems.append(
                Problem(
                    name,
                    f"{where} has {len(route.targets)} targets. NPM forwards a path to exactly one upstream "
                    "(no load balancing, no backups): keep one target or publish with nginx.",
                    True,
                )
            )
        if route.strip_prefix and route.path != "/" and not route.path.endswith("/"):
            problems.append(
                Problem(
                    name,
                    f"{where} strips its prefix, which NPM can only do for a path ending in “/”: "
                    f"use {route.path}/ instead.",
                    True,
                )
            )
        if route.connect_timeout != DEFAULT_CONNECT_TIMEOUT or route.read_timeout != DEFAULT_READ_TIMEOUT:
            problems.append(
                Problem(
                    name,
                    f"{where} sets timeouts (connect {route.connect_timeout} s, read {route.read_timeout} s); "
                    "NPM has no such setting, so nginx's defaults (60 s) apply there.",
                    False,
                )
            )
    if domain.certificate is not None and domain.hsts not in (0, NPM_HSTS_MAX_AGE):
        problems.append(
            Problem(
                name,
                f"{name} asks for HSTS max-age {domain.hsts} s; NPM always sends max-age={NPM_HSTS_MAX_AGE} "
                "(two years, preload).",
                False,
            )
        )
    with_ws = {r.websocket for r in routes}
    if len(with_ws) > 1:
        problems.append(
            Problem(
                name,
                f"Some routes of {name} allow websockets and some do not; NPM has one switch per host, "
                "so websocket upgrades are allowed on every path of it.",
                False,
            )
        )
    return problems


def _location(route: RouteSpec) -> dict[str, Any]:
    target = route.targets[0]
    item: dict[str, Any] = {
        "path": route.path,
        "forward_scheme": route.scheme,
        "forward_host": _forward_host(target),
        "forward_port": target.port,
    }
    if route.strip_prefix:
        # NPM appends forward_path to proxy_pass: "location /task/ { proxy_pass http://h:p/; }" strips /task/.
        item["forward_path"] = "/"
    return item


def host_body(domain: DomainSpec, certificate: str | None = None) -> dict[str, Any] | None:
    """The NPM proxy-host body for one domain (None when there is nothing publishable). ``certificate`` is the
    nice_name of the domain's certificate in NPM when it has one with a chain (see certificate_name). Raises
    UnsafeValue."""
    check_domain(domain)
    if certificate is not None and not re.fullmatch(r"portico-[0-9]+-[0-9a-f]{32}", certificate):
        raise UnsafeValue([f"{domain.name}: the certificate name {certificate[:80]!r} is not Portico's."])
    https = certificate is not None and domain.certificate is not None
    routes = sorted((r for r in domain.routes if r.enabled and r.action == "proxy"), key=lambda r: r.path)
    root = next((r for r in routes if r.path == "/"), None)
    if root is None:
        return None
    target = root.targets[0]
    return {
        "domain_names": [domain.name],
        "forward_scheme": root.scheme,
        "forward_host": _forward_host(target),
        "forward_port": target.port,
        "access_list_id": 0,
        # Without a certificate NPM coerces certificate_id 0 to "0" and then keeps these as sent (NOTES.md 4.3):
        # always false then.
        "certificate_id": certificate if https else 0,
        "ssl_forced": https and domain.force_https,
        "http2_support": https and domain.http2,
        "hsts_enabled": https and domain.hsts > 0,
        "hsts_subdomains": False,
        "trust_forwarded_proto": False,
        "caching_enabled": False,
        "block_exploits": False,
        "allow_websocket_upgrade": any(r.websocket for r in routes),
        "advanced_config": "",
        "enabled": domain.enabled,
        "meta": {MANAGED_KEY: True},
        "locations": [_location(r) for r in routes if r.path != "/"],
    }


# --- NPM -> Portico ------------------------------------------------------------------------------------------


def is_portico_certificate(cert: NpmCertificate) -> bool:
    return cert.provider == "other" and re.fullmatch(r"portico-[0-9]+-[0-9a-f]{32}", cert.nice_name) is not None


def certificate_names_in(files: dict[str, str]) -> set[Any]:
    """The certificate names the rendered bodies ``files`` use."""
    names = set()
    for text in files.values():
        with contextlib.suppress(ValueError, AttributeError):
            names.add(json.loads(text).get("certificate_id"))
    return names


@dataclass
class ImportedHost:
    """What one NPM host becomes in Portico, and what could not be carried over."""

    host_id: int
    domain_names: list[str]
    managed: bool
    domains: list[DomainSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False


def _route_from(path: str, scheme: str, host: str, port: int, *, strip: bool, websocket: bool) -> RouteSpec:
    # NPM's words are untrusted: validating them as data lets pydantic reject an unknown scheme (ValidationError).
    return RouteSpec.model_validate(
        {
            "path": path,
            "scheme": scheme,
            "targets": [TargetSpec(host=host, port=port)],
            "strip_prefix": strip,
            "websocket": websocket,
        }
    )


def import_host(host: ProxyHost, certificates: dict[int, int] | None = None) -> ImportedHost:
    """Turn one NPM proxy host into Portico domains (one per domain name); unsupported parts become notes.

    ``certificates`` maps NPM certificate ids to Portico's (those Portico published itself): a host using one
    keeps it with its force-SSL, HSTS and HTTP/2 switches. Any other certificate's key stays in NPM, so it is a
    note instead.
    """
    result = ImportedHost(host.id, list(host.domain_names), host.managed)
    notes = result.notes
    if host.advanced_config.strip():
        notes.append("its advanced (raw nginx) config is not imported")
    https: dict[str, Any] = {}
    npm_certificate = str(host.certificate_id)
    if npm_certificate.isdigit() and int(npm_certificate) in (certificates or {}):
        https = {
            "certificate": (certificates or {})[int(npm_certificate)],
            "force_https": host.ssl_forced,
            "hsts": NPM_HSTS_MAX_AGE if host.hsts_enabled else 0,
            "http2": host.http2_support,
        }
    elif npm_certificate not in ("0", "", "None"):
        notes.append(
            "its SSL certificate is not imported (NPM keeps its key): upload it on the Certificates page and attach "
            "it to the domain"
        )
    if host.access_list_id:
        notes.append("its access list is not imported")
    if host.block_exploits or host.caching_enabled:
        notes.append("“block exploits” and caching are not imported")
    ws = host.allow_websocket_upgrade
    routes: dict[str, RouteSpec] = {}
    try:
        routes["/"] = _route_from(
            "/", host.forward_scheme, host.forward_host.strip("[]"), host.forward_port, strip=False, websocket=ws
        )
    except ValidationError as exc:
        notes.append(f"its forward target {host.forward_host}:{host.forward_port} is not valid: {_first(exc)}")
        result.skipped = True
        return result
    for loc in host.locations:
        if loc.advanced_config.strip():
            notes.append(f"the advanced config of location {loc.path} is not imported")
        target_host, forward_path = loc.effective_target()
        if forward_path not in ("", "/"):
            notes.append(f"location {loc.path} rewrites to {forward_path}, which Portico cannot express: skipped")
            continue
        strip = forward_path == "/" and loc.path != "/"
        try:
            route = _route_from(
                loc.path, loc.forward_scheme, target_host.strip("[]"), loc.forward_port, strip=strip, websocket=ws
            )
        except ValidationError as exc:
            notes.append(f"location {loc.path} skipped: {_first(exc)}")
            continue
        if strip and not loc.path.endswith("/"):
            notes.append(f"location {loc.path} strips a prefix without a trailing slash; check it after import")
        routes[route.path] = route  # a location "/" replaces the host's own forward target, as in NPM
    for name in host.domain_names:
        try:
            result.domains.append(
                DomainSpec(
                    name=name,
                    enabled=host.enabled,
                    notes=f"Imported from NPM proxy host #{host.id}.",
                    **https,
                    routes=[routes[p] for p in sorted(routes)],
                )
            )
        except ValidationError as exc:
            notes.append(f"domain {name} skipped: {_first(exc)}")
    if len(host.domain_names) > 1:
        notes.append("its several domain names become separate Portico domains (one NPM host each when published)")
    result.skipped = not result.domains
    return result


def _first(exc: ValidationError) -> str:
    return error_message(exc.errors()[0])
