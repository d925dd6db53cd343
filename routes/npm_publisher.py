"""Publishing Portico's routes into Nginx Proxy Manager, adopting its hosts and importing them.

Mapping (docs/npm.md): one domain -> one NPM proxy host (a disabled domain -> a disabled host). Its ``/`` route gives the host's
forward_scheme/host/port; every other route becomes a custom location. ``strip_prefix`` is NPM's forward path
``/``: NPM renders ``proxy_pass http://host:port/;`` inside ``location /task/``, so /task/x arrives upstream as /x.
``websocket`` is the host's allow_websocket_upgrade (NPM has it per host, not per path).

What NPM cannot express is never published as something else: several targets (load balancing, backups),
a domain without a ``/`` route and a strip_prefix path without a trailing slash block the apply with a clear
message; timeouts that NPM cannot set are a warning.

Ownership: Portico writes ``meta.portico_managed = true`` into the hosts it creates and touches no other host.
An unmanaged host that uses a Portico domain is a conflict until someone adopts it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from certificates.models import Certificate
from certificates.sealing import SealError
from certificates.staging import NotServable, tls_files
from core.errors import error_message
from routes.alphabet import UnsafeValue, check_document, check_domain
from routes.npm import MANAGED_KEY, NGINX_META_KEYS, NpmCertificate, NpmClient, NpmError, ProxyHost
from routes.publish import Actor, PublishError
from routes.render import tls_digest
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec

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


def _problems_of(domain: DomainSpec) -> list[Problem]:
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


@dataclass
class HostChange:
    """One step of a push and how to undo it."""

    action: str  # create | update | delete
    domain: str
    host_id: int | None = None
    before: dict[str, Any] | None = None


class NpmPublisher:
    """The Publisher for NPM (routes.publish's protocol): render, warnings, current, push."""

    name = "npm"

    def __init__(self, client_factory: Callable[[], NpmClient] | None = None):
        self._client_factory = client_factory or NpmClient.from_settings
        self._last_hosts: list[ProxyHost] | None = None

    def _client(self) -> NpmClient:
        try:
            return self._client_factory()
        except NpmError as exc:
            raise PublishError(exc.message, exc.output) from None

    # --- pure ---------------------------------------------------------------------------------

    def problems(self, document: ConfigDocument) -> list[Problem]:
        """Everything NPM cannot express in ``document`` (blocking or not)."""
        return [p for d in document.domains if d.enabled for p in _problems_of(d)]

    def errors(self, document: ConfigDocument) -> list[str]:
        """The blocking problems: apply must refuse while there are any."""
        return [p.message for p in self.problems(document) if p.blocking]

    def warnings(self, document: ConfigDocument) -> list[str]:
        """What the plan shows: conflicts and blocking problems first ("Blocked: ..."), then notes.

        Conflicts need NPM's host list: the one current() just read, else a fresh read (skipped if NPM is down,
        the plan reports that itself).
        """
        problems = self.problems(document)
        conflicts = []
        try:
            hosts = self._last_hosts if self._last_hosts is not None else self.hosts()
        except PublishError:
            hosts = []
        wanted = {n.removeprefix(ARTIFACT_PREFIX).removesuffix(".json") for n in self.render(document)}
        for host in hosts:
            clash = sorted(wanted & set(host.domain_names)) if not host.managed else []
            if clash:
                conflicts.append(
                    f"Blocked: {clash[0]} already exists in NPM as proxy host #{host.id}, which Portico does not "
                    "manage. Adopt it (NPM page) or remove it in NPM; Portico never overwrites it."
                )
        return conflicts + [str(p) for p in problems if p.blocking] + [str(p) for p in problems if not p.blocking]

    def render(self, document: ConfigDocument) -> dict[str, str]:
        """``npm/<domain>.json`` -> canonical JSON body, for every domain with a ``/`` route.

        A disabled domain stays an NPM host with ``enabled: false`` (NPM keeps the row and removes its nginx
        file), so disabling a domain never deletes a host someone may have adopted. Raises UnsafeValue
        (routes.alphabet) when a stored value is outside its field's alphabet: NPM writes these values into
        its nginx templates as they are.
        """
        check_document(document)
        names = self.certificate_names(document)
        files = {}
        for domain in document.domains:
            certificate = names.get(domain.certificate) if domain.certificate is not None else None
            body = host_body(domain, certificate)
            if body is not None:
                files[artifact_name(domain.name)] = canonical(body)
        return dict(sorted(files.items()))

    def own_certificates(self) -> dict[int, int]:
        """NPM certificate id -> Portico certificate id, for the certificates Portico published into this NPM and
        still holds with the same chain. Raises PublishError."""
        with self._client() as client:
            try:
                named = {c.nice_name: c.id for c in client.list_certificates() if _portico_certificate(c)}
            except NpmError as exc:
                raise PublishError(exc.message, exc.output) from None
        ids = {int(name.split("-")[1]) for name in named}
        chains = dict(Certificate.objects.filter(pk__in=ids).exclude(chain_pem="").values_list("pk", "chain_pem"))
        return {npm_id: pk for pk, chain in chains.items() if (npm_id := named.get(certificate_name(pk, chain)))}

    @staticmethod
    def certificate_names(document: ConfigDocument) -> dict[int, str]:
        """Certificate id -> its name in NPM, for the certificates ``document`` names that have a chain."""
        wanted = {d.certificate for d in document.domains if d.certificate is not None}
        if not wanted:
            return {}
        rows = Certificate.objects.filter(pk__in=wanted).exclude(chain_pem="").values_list("pk", "chain_pem")
        return {pk: certificate_name(pk, chain) for pk, chain in rows}

    # --- live side ------------------------------------------------------------------------------

    def hosts(self) -> list[ProxyHost]:
        """Every proxy host of the NPM (managed or not). Raises PublishError."""
        with self._client() as client:
            try:
                self._last_hosts = client.list_proxy_hosts()
                return self._last_hosts
            except NpmError as exc:
                raise PublishError(exc.message, exc.output) from None

    def current(self) -> dict[str, str]:
        """The hosts Portico manages, in render's format (Portico's certificates by name). Raises PublishError when
        NPM cannot be read."""
        hosts = self.hosts()
        managed = sorted((h for h in hosts if h.managed), key=host_key)
        names: dict[int, str] = {}
        if any(str(h.certificate_id) not in ("0", "") for h in managed):
            with self._client() as client:
                try:
                    names = {c.id: c.nice_name for c in client.list_certificates() if _portico_certificate(c)}
                except NpmError as exc:
                    raise PublishError(exc.message, exc.output) from None
        return {artifact_name(host_key(h)): canonical(by_name(live_body(h), names)) for h in managed}

    def conflicts(self, document: ConfigDocument) -> list[ProxyHost]:
        """Unmanaged NPM hosts that use a domain Portico wants to publish (never overwritten; adopt them)."""
        wanted = {name.removeprefix(ARTIFACT_PREFIX).removesuffix(".json") for name in self.render(document)}
        return [h for h in self.hosts() if not h.managed and wanted & set(h.domain_names)]

    def push(self, desired: dict[str, str], previous: dict[str, str]) -> str:
        """Make NPM's managed hosts equal ``desired``; read each back; on any failure undo and raise PublishError.

        Deletes go first (they free domain names), then updates, then creates. After each create or update the
        host is read back, because NPM answers 201/200 even when nginx rejected it (meta.nginx_online false).
        ``previous`` is what the plan showed; the undo uses the bodies read from NPM just before the push.
        """
        named = {
            name.removeprefix(ARTIFACT_PREFIX).removesuffix(".json"): json.loads(text) for name, text in desired.items()
        }
        with self._client() as client:
            try:
                live = client.list_proxy_hosts()
                # Certificates are read only where one is involved (an NPM without any keeps working as before).
                involved = any(isinstance(b.get("certificate_id"), str) for b in named.values()) or any(
                    str(h.certificate_id) not in ("0", "") for h in live if h.managed
                )
                listed = client.list_certificates() if involved else []
                certificates = [c for c in listed if _portico_certificate(c)]
            except NpmError as exc:
                raise PublishError(f"Cannot read NPM's proxy hosts: {exc.message}", exc.output) from None
            names = {c.id: c.nice_name for c in certificates}
            known = {c.nice_name: c.id for c in certificates}
            ids = self._upload_missing(client, named, known)
            uploaded = [NpmCertificate(i, "other", n) for n, i in ids.items() if n not in known]
            bodies = {name: by_id(body, ids) for name, body in named.items()}
            managed = {host_key(h): h for h in live if h.managed}
            for host in live:
                if host.managed:
                    continue
                clash = sorted(set(host.domain_names) & set(bodies))
                if clash:
                    raise PublishError(
                        f"{clash[0]} already exists in NPM as proxy host #{host.id}, which Portico does not manage. "
                        "Nothing was changed. Adopt that host (NPM page) or remove it in NPM, then apply again.",
                        f"{clash[0]} is already in use",
                    )
            steps: list[tuple[str, str]] = [(n, "delete") for n in sorted(managed) if n not in bodies]
            for name in sorted(bodies):
                if name in managed:
                    if canonical(by_name(live_body(managed[name]), names)) != canonical(named[name]):
                        steps.append((name, "update"))
                else:
                    steps.append((name, "create"))
            done: list[HostChange] = []
            lines: list[str] = []
            for name, action in sorted(steps, key=lambda s: ("delete", "update", "create").index(s[1])):
                try:
                    lines.append(self._step(client, action, name, bodies.get(name), managed.get(name), done))
                except PublishError as exc:
                    undone, undo_failures = self._undo(client, done)
                    if not undo_failures:  # the previous hosts are back: what this push uploaded is unused
                        self._collect(client, [c for c in uploaded if c.nice_name not in _named_in(previous)])
                    message = exc.message
                    if undo_failures:
                        message += " Putting the previous hosts back failed too: check NPM."
                    elif undone:
                        message += " The previous hosts were put back."
                    raise PublishError(
                        message,
                        "\n".join(filter(None, [exc.output, *undo_failures])),
                        # something had gone live and was taken back again
                        rolled_back=bool(undone) and not undo_failures,
                    ) from None
            keep = {b.get("certificate_id") for b in named.values()} | _named_in(previous)
            self._collect(
                client, [c for c in certificates if c.nice_name not in keep] + self._uploaded_unused(ids, keep)
            )
            return "\n".join(lines) if lines else "NPM already had every host: nothing to change."

    @staticmethod
    def _upload_missing(client: NpmClient, bodies: dict[str, dict[str, Any]], ids: dict[str, int]) -> dict[str, int]:
        """Make every Portico certificate ``bodies`` name exist in NPM (a custom certificate: created, then its
        files uploaded from the certificates store); returns nice_name -> NPM id. Raises PublishError."""
        ids = dict(ids)
        for wanted in sorted(
            {str(b["certificate_id"]) for b in bodies.values() if isinstance(b.get("certificate_id"), str)}
        ):
            if wanted in ids:
                continue
            match = re.fullmatch(r"portico-([0-9]+)-([0-9a-f]{32})", wanted)
            cert = Certificate.objects.filter(pk=int(match.group(1))).first() if match else None
            if match is None or cert is None or tls_digest(cert.chain_pem) != match.group(2):
                raise PublishError(
                    f"Certificate {match.group(1) if match else wanted} was renewed, replaced or deleted while it was "
                    "being published: apply again."
                )
            try:
                files = tls_files(cert)
            except (NotServable, SealError) as exc:
                raise PublishError(str(exc)) from None
            leaf, *rest = re.findall(
                r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", files.chain_pem, re.S
            )
            created = None
            try:
                created = client.create_custom_certificate(wanted)
                client.upload_certificate(created, leaf, files.key_pem, "".join(rest))
            except NpmError as exc:
                if created is not None:
                    with contextlib.suppress(NpmError):
                        client.delete_certificate(created)
                raise PublishError(
                    f"NPM refused certificate {cert.pk} ({', '.join(cert.domains)}): {exc.message} Nothing was changed.",
                    exc.output,
                ) from None
            ids[wanted] = created
        return ids

    @staticmethod
    def _uploaded_unused(ids: dict[str, int], keep: set[Any]) -> list[NpmCertificate]:
        return [NpmCertificate(cid, "other", name) for name, cid in ids.items() if name not in keep]

    @staticmethod
    def _collect(client: NpmClient, unused: list[NpmCertificate]) -> None:
        """Delete Portico's certificates no host of this or the previous push names (a failure to delete costs
        nothing: the next push tries again)."""
        for cert in {c.id: c for c in unused}.values():
            with contextlib.suppress(NpmError):
                client.delete_certificate(cert.id)

    def _step(
        self,
        client: NpmClient,
        action: str,
        name: str,
        body: dict[str, Any] | None,
        host: ProxyHost | None,
        done: list[HostChange],
    ) -> str:
        try:
            if action == "delete":
                assert host is not None
                client.delete_proxy_host(host.id)
                done.append(HostChange("delete", name, host.id, live_body(host)))
                return f"deleted {name} (host #{host.id})"
            assert body is not None
            if action == "update":
                assert host is not None
                done.append(HostChange("update", name, host.id, live_body(host)))
                self._write(client, host.id, body, live_body(host))
                host_id = host.id
            else:
                created = client.create_proxy_host(body)
                done.append(HostChange("create", name, created.id))
                host_id = created.id
            check = client.get_proxy_host(host_id)
        except NpmError as exc:
            raise PublishError(f"NPM refused to {action} {name}: {exc.message}", exc.output) from None
        if not body["enabled"]:
            return f"{action}d {name} (host #{host_id}): disabled"
        if check.nginx_online is False:
            raise PublishError(f"NPM's nginx rejected {name} (host #{host_id}).", check.nginx_err)
        return f"{action}d {name} (host #{host_id}): nginx online"

    @staticmethod
    def _write(client: NpmClient, host_id: int, body: dict[str, Any], live: dict[str, Any]) -> None:
        """PUT ``body`` over a host; an enabled/disabled change goes through NPM's enable/disable actions.

        NPM does not render a disabled host on PUT, so: disable after the PUT, enable before it.
        """
        fields = {k: v for k, v in body.items() if k != "enabled"}
        changed = {k: v for k, v in fields.items() if live.get(k) != v}
        if body["enabled"] and not live.get("enabled", True):
            client.set_proxy_host_enabled(host_id, True)
        if changed:
            client.update_proxy_host(host_id, fields)
        if not body["enabled"] and live.get("enabled", True):
            client.set_proxy_host_enabled(host_id, False)

    @staticmethod
    def _undo(client: NpmClient, done: list[HostChange]) -> tuple[int, list[str]]:
        """Put back what the push changed, newest first: (steps undone, a line per step that could not be)."""
        undone, failures = 0, []
        for change in reversed(done):
            try:
                if change.action == "create" and change.host_id is not None:
                    client.delete_proxy_host(change.host_id)
                elif change.action == "update" and change.before is not None and change.host_id is not None:
                    now = live_body(client.get_proxy_host(change.host_id))
                    if now == change.before:
                        continue  # the update never reached NPM
                    NpmPublisher._write(client, change.host_id, change.before, now)
                elif change.action == "delete" and change.before is not None:
                    client.create_proxy_host(change.before)
                undone += 1
            except NpmError as exc:
                failures.append(f"Could not undo the {change.action} of {change.domain}: {exc.message}")
        return undone, failures

    def release(self, host_id: int) -> None:
        """Take Portico's marker off a host again (undo of an adoption). Raises PublishError."""
        with self._client() as client:
            try:
                host = client.get_proxy_host(host_id)
                meta = {k: v for k, v in host.meta.items() if k not in (*NGINX_META_KEYS, MANAGED_KEY)}
                client.update_proxy_host(host_id, {"meta": meta})
            except NpmError as exc:
                raise PublishError(f"Could not release NPM host #{host_id}: {exc.message}", exc.output) from None

    # --- adopt ------------------------------------------------------------------------------------

    def adopt(self, host_id: int) -> ProxyHost:
        """Mark an existing NPM host as Portico's (meta.portico_managed). Raises PublishError."""
        with self._client() as client:
            try:
                host = client.get_proxy_host(host_id)
                if host.managed:
                    return host
                meta = {k: v for k, v in host.meta.items() if k not in NGINX_META_KEYS}
                client.update_proxy_host(host_id, {"meta": {**meta, MANAGED_KEY: True}})
                return client.get_proxy_host(host_id)
            except NpmError as exc:
                raise PublishError(f"Could not adopt NPM host #{host_id}: {exc.message}", exc.output) from None


# --- import -----------------------------------------------------------------------------------------


def _portico_certificate(cert: NpmCertificate) -> bool:
    return cert.provider == "other" and re.fullmatch(r"portico-[0-9]+-[0-9a-f]{32}", cert.nice_name) is not None


def _named_in(files: dict[str, str]) -> set[Any]:
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


@dataclass
class ImportPreview:
    """What an import would do: the document to merge and a line per host."""

    hosts: list[ImportedHost]
    document: ConfigDocument

    @property
    def notes(self) -> list[str]:
        return [f"#{h.host_id} {', '.join(h.domain_names)}: {n}" for h in self.hosts for n in h.notes]


def import_preview(hosts: list[ProxyHost], certificates: dict[int, int] | None = None) -> ImportPreview:
    """Map every NPM host to Portico domains (the first host wins a domain name NPM would not allow twice);
    ``certificates``: NPM certificate id -> Portico's, see import_host."""
    imported = [import_host(h, certificates) for h in sorted(hosts, key=lambda h: h.id)]
    domains: dict[str, DomainSpec] = {}
    for item in imported:
        for spec in item.domains:
            domains.setdefault(spec.name, spec)
    document = ConfigDocument(domains=[domains[n] for n in sorted(domains)])
    return ImportPreview(imported, document)


@dataclass
class ImportResult:
    """An import (or its dry run): the preview, what the database gets, and the hosts adopted."""

    preview: ImportPreview
    changes: Any
    dry_run: bool
    adopted: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "changes": self.changes.as_dict(),
            "hosts": [
                {
                    "id": h.host_id,
                    "domain_names": h.domain_names,
                    "managed": h.managed,
                    "skipped": h.skipped,
                    "domains": [d.name for d in h.domains],
                    "notes": h.notes,
                }
                for h in self.preview.hosts
            ],
            "document": self.preview.document.model_dump(mode="json"),
            "adopted": self.adopted,
        }


def run_import(
    *,
    dry_run: bool = True,
    adopt: bool = False,
    host_ids: list[int] | None = None,
    actor: Actor = None,
    source: str = "system",
    publisher: NpmPublisher | None = None,
) -> ImportResult:
    """Read NPM's proxy hosts (all, or ``host_ids``) into Portico's domains and routes; existing ones are kept.

    With ``dry_run`` nothing is written. With ``adopt`` the imported hosts are also marked as Portico's in NPM,
    so the next apply manages them instead of reporting a conflict. The database change and the adoption go
    together: if NPM refuses an adoption, the import is rolled back. Raises PublishError.
    """
    from django.db import transaction

    from core import audit
    from routes.operations import replace_state

    publisher = publisher or NpmPublisher()
    hosts = publisher.hosts()
    if host_ids is not None:
        missing = sorted(set(host_ids) - {h.id for h in hosts})
        if missing:
            raise PublishError(f"NPM has no proxy host #{missing[0]}.")
        hosts = [h for h in hosts if h.id in set(host_ids)]
    with_certificates = any(str(h.certificate_id) not in ("0", "") for h in hosts)
    preview = import_preview(hosts, publisher.own_certificates() if with_certificates else {})
    with transaction.atomic():
        changes = replace_state(
            preview.document, prune=False, dry_run=dry_run, actor=actor, source=source, action="npm.import"
        )
        result = ImportResult(preview, changes, dry_run)
        if not dry_run and adopt:
            for item in preview.hosts:
                if item.skipped or item.managed:
                    continue
                try:
                    publisher.adopt(item.host_id)
                except PublishError:
                    # The import is rolled back, so the hosts adopted so far must not stay Portico's either
                    # (the next apply would delete them as managed hosts without a domain).
                    for host_id in result.adopted:
                        with contextlib.suppress(PublishError):
                            publisher.release(host_id)
                    raise
                result.adopted.append(item.host_id)
                audit.record(
                    "npm.adopt",
                    actor=actor,
                    source=source,
                    object_type="npm.proxy_host",
                    object_id=item.host_id,
                    object_repr=", ".join(item.domain_names),
                    after={"domains": [d.name for d in item.domains], "notes": item.notes},
                )
    return result
