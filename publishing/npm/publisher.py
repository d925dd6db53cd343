"""The Publisher for Nginx Proxy Manager: pushes the mapped hosts (publishing.npm.mapping) and undoes a failed push.

Ownership: Portico writes ``meta.portico_managed = true`` into the hosts it creates and touches no other host.
An unmanaged host that uses a Portico domain is a conflict until someone adopts it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from certificates.models import Certificate
from certificates.sealing import SealError
from certificates.staging import NotServable, tls_files
from publishing.alphabet import check_document
from publishing.base import PublishError
from publishing.npm.client import MANAGED_KEY, NGINX_META_KEYS, NpmCertificate, NpmClient, NpmError, ProxyHost
from publishing.npm.mapping import (
    ARTIFACT_PREFIX,
    Problem,
    artifact_name,
    by_id,
    by_name,
    canonical,
    certificate_name,
    certificate_names_in,
    host_body,
    host_key,
    is_portico_certificate,
    live_body,
    problems_of,
)
from publishing.render import tls_digest
from routes.schemas import ConfigDocument


@dataclass
class HostChange:
    """One step of a push and how to undo it."""

    action: str  # create | update | delete
    domain: str
    host_id: int | None = None
    before: dict[str, Any] | None = None


class NpmPublisher:
    """The Publisher for NPM (publishing.operations's protocol): render, warnings, current, push."""

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
        return [p for d in document.domains if d.enabled for p in problems_of(d)]

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
        (publishing.alphabet) when a stored value is outside its field's alphabet: NPM writes these values into
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
                named = {c.nice_name: c.id for c in client.list_certificates() if is_portico_certificate(c)}
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
                    names = {c.id: c.nice_name for c in client.list_certificates() if is_portico_certificate(c)}
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
                certificates = [c for c in listed if is_portico_certificate(c)]
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
                        self._collect(
                            client, [c for c in uploaded if c.nice_name not in certificate_names_in(previous)]
                        )
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
            keep = {b.get("certificate_id") for b in named.values()} | certificate_names_in(previous)
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
