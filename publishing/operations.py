"""Plan, apply and roll back the desired state over a publisher (Portico's nginx files, or NPM); the NPM settings.

Every apply is serialized by a lock file (and on PostgreSQL an advisory lock), recorded as a Revision (diff, author, output, files, snapshot)
and in the audit trail. A failed apply leaves the live proxy and the routes in the database as they were.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from pydantic import ValidationError

from certificates.models import Certificate
from certificates.operations import record_publication
from core import audit
from core.errors import INVALID_INPUT, Forbidden, Invalid
from core.roles import can
from core.versions import Expected
from core.visibility import sees_upstream_words, without_credentials
from publishing.alphabet import UnsafeValue, document_problems
from publishing.base import Actor, ApplyBusy, Publisher, PublishError
from publishing.lints import plan_warnings
from publishing.models import NpmSettings, Revision
from publishing.nginx.publisher import NginxPublisher
from publishing.npm.client import NpmConfig, NpmError, ProxyHost, forget_tokens
from publishing.npm.publisher import NpmPublisher
from routes import operations
from routes.models import Domain
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec
from routes.state import export_document

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def get_publisher() -> Publisher:
    """The publisher chosen by settings.PORTICO_PUBLISHER."""
    if settings.PORTICO_PUBLISHER == "npm":
        return NpmPublisher()
    return NginxPublisher()


# --- plan ----------------------------------------------------------------------------------------------


def unified_diff(
    before: dict[str, str], after: dict[str, str], before_label: str = "live", after_label: str = "new"
) -> str:
    """One unified diff over every file name in either set (sorted), empty when they are equal."""
    chunks: list[str] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"{before_label}/{name}" if old is not None else "/dev/null",
                tofile=f"{after_label}/{name}" if new is not None else "/dev/null",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def file_changes(before: dict[str, str], after: dict[str, str]) -> list[dict[str, str]]:
    """``[{"file", "action": create|update|delete}]`` for every file that differs."""
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            changes.append({"file": name, "action": "create"})
        elif name not in after:
            changes.append({"file": name, "action": "delete"})
        elif before[name] != after[name]:
            changes.append({"file": name, "action": "update"})
    return changes


@dataclass
class Plan:
    """What an apply would change now."""

    files: dict[str, str]
    current: dict[str, str]
    changes: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    diff: str = ""
    drift: list[str] = field(default_factory=list)
    # Stored values outside their field's alphabet (publishing.alphabet): nothing is rendered and apply refuses.
    errors: list[str] = field(default_factory=list)


def last_applied(publisher_name: str | None = None) -> Revision | None:
    """The newest revision that went live."""
    revisions = Revision.objects.filter(status=Revision.Status.APPLIED)
    if publisher_name:
        revisions = revisions.filter(publisher=publisher_name)
    return revisions.order_by("-number").first()


def drift(current: dict[str, str], publisher_name: str) -> list[str]:
    """Live files that differ from what the last applied revision wrote: edited by hand since."""
    last = last_applied(publisher_name)
    if last is None:
        return []
    return [name for name in sorted(set(current) | set(last.files)) if current.get(name) != last.files.get(name)]


def plan(publisher: Publisher | None = None) -> Plan:
    """Render the desired state and compare it with what is live. Raises PublishError when the live side
    cannot be read."""
    publisher = publisher or get_publisher()
    document = export_document()
    unsafe = document_problems(document)
    if unsafe:
        current = publisher.current()
        return Plan(files=current, current=current, errors=unsafe, drift=drift(current, publisher.name))
    files = publisher.render(document)
    current = publisher.current()
    warnings = list(publisher.warnings(document))
    # Stopped or unreachable routed containers, bypassing ports, paths without "/".
    warnings.extend(plan_warnings(document))
    drifted = drift(current, publisher.name)
    if drifted:
        warnings.insert(
            0,
            f"Changed outside Portico since the last apply (the apply overwrites them): {', '.join(drifted)}.",
        )
    return Plan(
        files=files,
        current=current,
        changes=file_changes(current, files),
        warnings=warnings,
        diff=unified_diff(current, files),
        drift=drifted,
    )


# --- the lock and recovery -----------------------------------------------------------------------------


def _lock_path() -> Path:
    return Path(settings.VAR_DIR) / "apply.lock"


@contextlib.contextmanager
def apply_lock(timeout: float | None = None) -> Iterator[None]:
    """Hold the apply lock (across processes and threads); raise ApplyBusy after ``timeout`` seconds.

    The lock file in VAR_DIR keeps apart the applies of one Portico (its gunicorn workers, its commands). On
    PostgreSQL, several Portico hosts may share the database but not VAR_DIR, so an advisory lock on the
    database is taken as well (see _database_apply_lock).
    """
    timeout = settings.PORTICO_APPLY_LOCK_TIMEOUT if timeout is None else timeout
    busy = f"Another apply is running and did not finish within {timeout} s; try again shortly."
    path = _lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ApplyBusy(busy) from None
                time.sleep(0.05)
        try:
            with _database_apply_lock(deadline, busy):
                yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# pg_advisory_lock key of the apply lock ("apply" in ASCII); the desired state's lock has a key of its own.
APPLY_LOCK_KEY = 0x6170706C79


@contextlib.contextmanager
def _database_apply_lock(deadline: float, busy: str) -> Iterator[None]:
    """On PostgreSQL, a session-level advisory lock held for the whole apply (which spans several transactions).

    Without it, two hosts sharing the database would number two revisions alike (one fails on the unique
    number), and one host's recovery would mark the other's running apply as interrupted. A host that dies
    loses its session, and with it the lock. SQLite is one file on one host: the lock file is enough.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [APPLY_LOCK_KEY])
            row = cursor.fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                raise ApplyBusy(busy)
            time.sleep(0.05)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [APPLY_LOCK_KEY])
        except DatabaseError:
            # The session is unusable (e.g. an aborted transaction): ending it releases the lock.
            if not connection.in_atomic_block:
                connection.close()


def _recover_locked(publisher: Publisher) -> str:
    note = ""
    if hasattr(publisher, "recover"):
        note = publisher.recover()
    interrupted = Revision.objects.filter(status=Revision.Status.PENDING)
    for revision in interrupted:
        revision.status = Revision.Status.FAILED
        revision.message = (
            "The apply was interrupted (Portico stopped before it finished); the previous config was put back."
        )
        revision.output = "\n".join(filter(None, [revision.output, note]))
        revision.save(update_fields=["status", "message", "output"])
        audit.record(
            "publish.recover",
            object_type="revision",
            object_id=revision.pk,
            object_repr=str(revision),
            message=revision.message,
        )
    return note


def recover(publisher: Publisher | None = None) -> str:
    """Finish the books on an apply that a killed process left half done (files and its Revision row)."""
    publisher = publisher or get_publisher()
    with apply_lock():
        return _recover_locked(publisher)


# --- apply and rollback --------------------------------------------------------------------------------


def _author(actor: Actor) -> tuple[User | None, str]:
    user = actor if actor is not None and actor.is_authenticated else None
    return user, (user.get_username() if user else "")


def _apply_locked(
    publisher: Publisher, document: ConfigDocument, *, actor: Actor, source: str, rollback_of: Revision | None = None
) -> tuple[Revision, dict[str, str], dict[str, str]]:
    with contextlib.suppress(PublishError):  # the apply below reports the real trouble with the live side
        _recover_locked(publisher)
    user, name = _author(actor)
    number = (Revision.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    try:
        files = publisher.render(document)
        refused = ""
    except UnsafeValue as exc:  # a stored value no renderer may write: refuse before touching the live side
        files, refused = {}, str(exc)
    revision = Revision(
        number=number,
        author=user,
        author_name=name,
        publisher=publisher.name,
        status=Revision.Status.PENDING,
        files=files,
        snapshot=document.model_dump(mode="json"),
        rollback_of=rollback_of,
    )
    if refused:
        revision.status = Revision.Status.FAILED
        revision.message = refused
        revision.save()
        return revision, files, {}
    try:
        previous = publisher.current()
    except PublishError as exc:
        revision.status = Revision.Status.FAILED
        revision.message = f"Cannot read the live config: {exc.message}"
        revision.output = exc.output
        revision.save()
        return revision, files, {}
    revision.diff = unified_diff(previous, files)
    # What the publisher cannot express (NPM: several targets, no "/" route...) is refused, not approximated.
    blocking = list(publisher.errors(document)) if hasattr(publisher, "errors") else []
    if blocking:
        revision.status = Revision.Status.FAILED
        revision.message = f"Not published: {publisher.name} cannot express this. " + " ".join(blocking)
        revision.save()
        return revision, files, previous
    revision.save()
    try:
        revision.output = publisher.push(files, previous)
        revision.status = Revision.Status.APPLIED
        revision.message = ""
    except PublishError as exc:
        revision.status = Revision.Status.ROLLED_BACK if exc.rolled_back else Revision.Status.FAILED
        revision.message = exc.message
        revision.output = exc.output
    revision.save(update_fields=["status", "message", "output"])
    return revision, files, previous


def _record(action: str, revision: Revision, actor: Actor, source: str) -> None:
    audit.record(
        action,
        actor=actor,
        source=source,
        object_type="revision",
        object_id=revision.pk,
        object_repr=f"revision #{revision.number} {revision.status}",
        after={"number": revision.number, "status": revision.status, "publisher": revision.publisher},
        message=revision.message,
    )


def apply(*, actor: Actor = None, source: str = "system", publisher: Publisher | None = None) -> Revision:
    """Publish the desired state. Returns the Revision (applied, failed or rolled_back); raises ApplyBusy."""
    publisher = publisher or get_publisher()
    with apply_lock():
        revision, _files, _previous = _apply_locked(publisher, export_document(), actor=actor, source=source)
        _record("publish.apply", revision, actor, source)
    return revision


def _snapshot_document(snapshot: dict[str, Any]) -> ConfigDocument:
    try:
        return ConfigDocument.model_validate(snapshot)
    except ValidationError:
        # A snapshot taken before a validator was tightened: publish it unvalidated, so the renderer's own
        # check refuses it and the refusal is a failed revision naming the value, not a crash.
        return _unvalidated(snapshot)


def serves_certificate(snapshot: dict[str, Any], cert_id: int) -> bool:
    """Whether an enabled domain of a revision's ``snapshot`` serves certificate ``cert_id``."""
    return any(d.get("certificate") == cert_id and d.get("enabled", True) for d in snapshot.get("domains") or [])


def republish_certificate(
    cert_id: int, *, source: str = "system", publisher: Publisher | None = None
) -> Revision | None:
    """Publish the live state again because certificate ``cert_id`` has a new chain (the worker renewed it).

    What is live is the last applied revision's snapshot: that is what gets published, so an operator's edits that
    were not applied yet stay unapplied, and only the certificate files change. The new revision is verified like
    any apply (a TLS handshake must present the new leaf); on failure the previous files serve on. Returns None
    when no live domain serves the certificate (then the next apply publishes it). Raises ApplyBusy.
    """
    publisher = publisher or get_publisher()
    last = last_applied(publisher.name)
    if last is None or not serves_certificate(last.snapshot, cert_id):
        return None  # without waiting for the lock: most renewals of unused certificates end here
    with apply_lock():
        last = last_applied(publisher.name)  # an apply may have finished while this one waited
        if last is None or not serves_certificate(last.snapshot, cert_id):
            return None
        document = _snapshot_document(last.snapshot)
        revision, _files, _previous = _apply_locked(publisher, document, actor=None, source=source)
        audit.record(
            "publish.apply",
            source=source,
            object_type="revision",
            object_id=revision.pk,
            object_repr=f"revision #{revision.number} {revision.status}",
            after={"number": revision.number, "status": revision.status, "publisher": revision.publisher},
            message=revision.message or f"Certificate {cert_id} renewed: revision #{last.number} published again.",
        )
    return revision


def on_certificate_issued(sender: Any, certificate: Certificate, **kwargs: Any) -> None:
    """The worker stored a new chain for ``certificate``: republish it where it is live and note how it went."""
    try:
        revision = republish_certificate(certificate.pk)
    except ApplyBusy as exc:
        record_publication(certificate.pk, applied=False, revision="-", message=str(exc))
        return
    if revision is None:
        return
    applied = revision.status == Revision.Status.APPLIED
    record_publication(certificate.pk, applied=applied, revision=f"#{revision.number}", message=revision.message)


def rollback(
    revision: Revision, *, actor: Actor = None, source: str = "system", publisher: Publisher | None = None
) -> Revision:
    """Publish ``revision``'s snapshot and, once it is live, make the routes in the database equal to it.

    Returns the new Revision (its ``rollback_of`` is ``revision``). When publishing fails, neither the live
    proxy nor the database changes. Raises ApplyBusy.
    """
    publisher = publisher or get_publisher()
    document = _snapshot_document(revision.snapshot)
    with apply_lock():
        new, files, previous = _apply_locked(publisher, document, actor=actor, source=source, rollback_of=revision)
        if new.status == Revision.Status.APPLIED:
            try:
                with transaction.atomic():
                    operations.replace_state(document, prune=True, actor=actor, source=source, action="routes.rollback")
            except Exception as exc:  # the files are live but the routes are not: put the files back too
                try:
                    publisher.push(previous, files)
                    note = "the previous config was put back"
                except PublishError as undo:
                    note = f"putting the previous config back failed too: {undo.message}"
                new.status = Revision.Status.ROLLED_BACK
                new.message = f"The routes could not be restored ({exc}); {note}."
                new.save(update_fields=["status", "message"])
        _record("publish.rollback", new, actor, source)
    return new


def _unvalidated(snapshot: dict[str, Any]) -> ConfigDocument:
    """A revision snapshot as a document, without validation (for the renderer's check to judge)."""
    return ConfigDocument.model_construct(
        version=1,
        domains=[
            DomainSpec.model_construct(
                **{
                    **d,
                    "routes": [
                        RouteSpec.model_construct(
                            **{**r, "targets": [TargetSpec.model_construct(**t) for t in r["targets"]]}
                        )
                        for r in d.get("routes", [])
                    ],
                }
            )
            for d in snapshot.get("domains", [])
        ],
    )


def revision_diff(a: Revision, b: Revision) -> str:
    """Unified diff of the files of revision ``a`` against those of ``b``."""
    return unified_diff(a.files, b.files, before_label=f"#{a.number}", after_label=f"#{b.number}")


# --- NPM: where it is, whether it answers, its hosts -----------------------------------------------------

_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?::\d{1,5})?(?:/[A-Za-z0-9._~\-/]*)?")


def npm_publisher() -> NpmPublisher:
    """The NPM publisher of the NPM page and the /npm API, whatever PORTICO_PUBLISHER says (tests replace it to
    talk to the fake NPM)."""
    return NpmPublisher()


def npm_settings() -> dict[str, Any]:
    """The NPM settings in effect (environment first, then the stored row): the secret only as set or not."""
    config = NpmConfig.load()
    return {
        "url": config.url,
        "identity": config.identity,
        "secret_set": bool(config.secret),
        "sources": config.sources,
        "version": NpmSettings.objects.filter(pk=1).values_list("version", flat=True).first() or 0,
    }


def npm_status(client_factory: Any = None) -> dict[str, Any]:
    """Whether NPM is configured and answers: it logs in and lists the proxy hosts (the NPM page, the API and
    ``doctor`` read it). ``client_factory`` makes the NpmClient; by default the one npm_publisher() uses."""
    config = NpmConfig.load()
    out = {
        "configured": config.complete,
        "url": config.url,
        "identity": config.identity,
        "sources": config.sources,
        "reachable": False,
        "version": "",
        "error": "",
        "detail": "",
    }
    if not config.complete:
        out["error"] = "NPM is not configured."
        return out
    factory = client_factory or npm_publisher()._client_factory
    try:
        with factory() as client:
            health = client.health()
            client.list_proxy_hosts()  # proves the login works too
    except NpmError as exc:
        out["error"] = exc.message
        out["detail"] = exc.output if exc.output != exc.message else ""
        return out
    version = health.get("version") or {}
    out["reachable"] = True
    numbers = (version.get(k) if isinstance(version, dict) else None for k in ("major", "minor", "revision"))
    out["version"] = ".".join(str(n) if isinstance(n, int) else "?" for n in numbers)
    return out


def npm_for_reader(out: dict[str, Any], user: Actor) -> dict[str, Any]:
    """NPM status or settings as ``user`` may read them: the login e-mail and NPM's own words (``detail``) for
    admins only, and no URL credentials for anyone (a PORTICO_NPM_URL may carry them)."""
    shown = {**out, "url": without_credentials(out["url"])}
    for key in ("error", "detail"):
        if key in shown:
            shown[key] = without_credentials(shown[key])
    if not can(user, "administer"):
        shown["identity"] = ""
    if not sees_upstream_words(user) and "detail" in shown:
        shown["detail"] = ""
    return shown


def npm_host_rows(hosts: list[ProxyHost]) -> list[dict[str, Any]]:
    """NPM's hosts as rows, with whether each conflicts with (is unmanaged and uses) an enabled Portico domain."""
    ours = set(Domain.objects.filter(enabled=True).values_list("name", flat=True))
    return [
        {
            "id": h.id,
            "domain_names": h.domain_names,
            "forward": f"{h.forward_scheme}://{h.forward_host}:{h.forward_port}",
            "enabled": h.enabled,
            "managed": h.managed,
            "conflict": not h.managed and bool(ours & set(h.domain_names)),
            "nginx_online": h.nginx_online,
            "nginx_err": h.nginx_err,
            "locations": [
                {
                    "path": loc.path,
                    "forward": f"{loc.forward_scheme}://{loc.forward_host}:{loc.forward_port}{loc.forward_path}",
                }
                for loc in h.locations
            ],
        }
        for h in hosts
    ]


def save_npm_settings(
    url: str, identity: str, secret: str | None, *, actor: Actor, source: str, expected: Expected = None
) -> NpmSettings:
    """Validate and store the NPM settings; returns the stored row.

    The password belongs to one account on one NPM: when the address or the user that Portico would use changes
    and no new password comes with the change, the stored one is removed, so that it is never sent to a host it
    was not given for. A password from PORTICO_NPM_SECRET cannot be removed from here, so an address change that
    would send it elsewhere is refused (field ``url``). ``expected``: the version the caller read (0 when nothing
    was stored). Raises Forbidden (admins only), Invalid (by field; nothing stored) or Stale.
    """
    if actor is not None and not can(actor, "administer"):
        raise Forbidden(_("Your role may not do this (needs %(capability)s).") % {"capability": "administer"})
    url = url.strip().rstrip("/")
    identity = identity.strip().lower()
    errors = []
    if url and not _URL.fullmatch(url):
        errors.append({"field": "url", "message": _("Enter NPM's API address, such as http://npm:81/api.")})
    if identity:
        try:
            validate_email(identity)
        except DjangoValidationError:
            errors.append({"field": "identity", "message": _("Enter the NPM user's e-mail address.")})
    if errors:
        raise Invalid(INVALID_INPUT, errors)
    with transaction.atomic():
        row = NpmSettings.objects.select_for_update().filter(pk=1).first() or NpmSettings(pk=1, version=0)
        before = {"url": row.url, "identity": row.identity, "secret_set": bool(row.secret)}
        # Where the password goes is decided by the values in effect: an environment variable wins over the row.
        was = (settings.PORTICO_NPM_URL or row.url, settings.PORTICO_NPM_IDENTITY or row.identity)
        will = (settings.PORTICO_NPM_URL or url, settings.PORTICO_NPM_IDENTITY or identity)
        row.claim_version(expected)
        if settings.PORTICO_NPM_SECRET and was[0] != will[0]:
            raise Invalid.field(
                "url",
                _(
                    "NPM's password is set by PORTICO_NPM_SECRET: set NPM's address beside it (PORTICO_NPM_URL), "
                    "Portico does not send that password to an address changed here."
                ),
            )
        row.url, row.identity = url, identity
        if secret:
            row.secret = secret
        elif was != will:
            row.secret = ""
        row.save()
        audit.record(
            "npm.settings",
            actor=actor,
            source=source,
            object_type="npm.settings",
            object_id=1,
            object_repr=url or "(no URL)",
            before=before,
            after={"url": row.url, "identity": row.identity, "secret_set": bool(row.secret)},
        )
    forget_tokens()
    return row
