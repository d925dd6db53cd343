"""Every change to certificates: request, upload, renew, delete, and the worker's orders and renewals.

Each operation checks the actor's role, locks the row, claims its version, writes and audits in one transaction,
and raises core.errors (Forbidden, NotFound, Conflict, Stale, Invalid, Unavailable). Pages, the API and
``manage.py certificates`` only call these. Private keys and DNS secrets are sealed before they are stored and
never reach an audit entry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from certificates import pem
from certificates.acme_client import DNS01, HTTP01, AcmeClient, AcmeError, new_account_key
from certificates.dns_providers import DnsError, check_settings, is_secret, provider_for
from certificates.models import AcmeAccount, Certificate
from certificates.sealing import SealError, seal, unseal
from certificates.signals import certificate_issued
from core import audit
from core.errors import INVALID_INPUT, Conflict, Forbidden, Invalid, NotFound
from core.models import AuditEntry
from core.roles import can
from routes.validators import normalize_domain

log = logging.getLogger(__name__)

MAX_NAMES = 100
CHALLENGES = (HTTP01, DNS01)
# Backoff after failures: PORTICO_ACME_RETRY_SECONDS doubled per further failure, at most this far apart.
MAX_BACKOFF = dt.timedelta(days=1)

Expected = int | Collection[int] | None


# --- reading ------------------------------------------------------------------------------


def certificates() -> QuerySet[Certificate]:
    """Every certificate, oldest first."""
    return Certificate.objects.all()


def get_certificate(cert_id: int, *, lock: bool = False) -> Certificate:
    """The certificate ``cert_id`` (row-locked with ``lock``). Raises NotFound."""
    qs = Certificate.objects.select_for_update() if lock else Certificate.objects
    cert = qs.filter(pk=cert_id).first()
    if cert is None:
        raise NotFound(_("No certificate with id %(id)s.") % {"id": cert_id})
    return cert


def history(cert_id: int) -> QuerySet[AuditEntry]:
    """The audit entries about certificate ``cert_id``, newest first (orders, renewals, failures, publications)."""
    return AuditEntry.objects.filter(object_type=Certificate._meta.label_lower, object_id=str(cert_id)).order_by(
        "-created_at", "-id"
    )


def renewal_due_at(not_before: dt.datetime, not_after: dt.datetime) -> dt.datetime:
    """When a certificate is renewed: once PORTICO_ACME_RENEW_PERCENT of its lifetime is left."""
    lifetime = not_after - not_before
    return not_after - lifetime * settings.PORTICO_ACME_RENEW_PERCENT / 100


# --- the shared steps ---------------------------------------------------------------------


def _require(actor: Any, capability: str) -> None:
    # ``None`` is Portico itself (the worker, manage.py): the host's operator, who holds every role.
    if actor is not None and not can(actor, capability):
        raise Forbidden(_("Your role may not do this (needs %(capability)s).") % {"capability": capability})


def _claim(cert: Certificate, expected: Expected) -> None:
    """Refuse a stale write (the row is locked by the caller), then move the version on (the model's own claim)."""
    cert.claim_version(expected)


def _names(domains: Any) -> list[str]:
    """The requested names, normalised (lower-case punycode), in order, without repeats. Raises Invalid."""
    if not isinstance(domains, list | tuple) or not domains:
        raise Invalid.field("domains", _('Give at least one name, e.g. ["shop.example.com"].'))
    if len(domains) > MAX_NAMES:
        raise Invalid.field("domains", _("A certificate holds at most %(max)d names.") % {"max": MAX_NAMES})
    names: list[str] = []
    errors = []
    for i, raw in enumerate(domains):
        try:
            name = normalize_domain(raw if isinstance(raw, str) else "")
        except ValidationError as exc:
            errors.append({"field": f"domains.{i}", "message": " ".join(exc.messages)})
            continue
        if name not in names:
            names.append(name)
    if errors:
        raise Invalid(INVALID_INPUT, errors)
    return names


def _split_secrets(options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    plain = {k: v for k, v in options.items() if not is_secret(k)}
    secret = {k: v for k, v in options.items() if is_secret(k)}
    return plain, seal(json.dumps(secret, sort_keys=True)) if secret else ""


# --- operations people start --------------------------------------------------------------


def request_certificate(
    domains: list[str],
    *,
    challenge: str,
    dns_provider: str = "",
    dns_settings: dict[str, Any] | None = None,
    actor: Any,
    source: str,
) -> Certificate:
    """Record a pending ACME certificate for ``domains``; the worker orders it (process_due). Raises Invalid."""
    _require(actor, "operate")
    names = _names(domains)
    if challenge not in CHALLENGES:
        raise Invalid.field("challenge", _("Choose http-01 or dns-01."))
    options = dict(dns_settings or {})
    if challenge == HTTP01:
        wildcards = [n for n in names if n.startswith("*.")]
        if wildcards:
            raise Invalid.field(
                "challenge", _("%(name)s is a wildcard: wildcards need dns-01.") % {"name": wildcards[0]}
            )
        if dns_provider or options:
            raise Invalid.field("dns_provider", _("http-01 takes no DNS provider."))
    else:
        if not dns_provider:
            raise Invalid.field("dns_provider", _("dns-01 needs a provider: hook or a dns-lexicon provider name."))
        errors = check_settings(dns_provider, options)
        if errors:
            raise Invalid(INVALID_INPUT, errors)
    plain, sealed = _split_secrets(options)
    with transaction.atomic():
        cert = Certificate.objects.create(
            domains=names,
            source=Certificate.Source.ACME,
            challenge=challenge,
            dns_provider=dns_provider if challenge == DNS01 else "",
            dns_settings=plain,
            dns_secrets_sealed=sealed,
            status=Certificate.Status.PENDING,
            next_attempt_at=timezone.now(),
        )
        audit.record("certificate.request", actor=actor, source=source, obj=cert, after=cert.snapshot())
    return cert


def upload_certificate(
    certificate: str, private_key: str, *, domains: list[str] | None = None, actor: Any, source: str
) -> Certificate:
    """Store an uploaded chain and key after checking them (pem.check_upload); ``domains``, when given, must all
    be covered. Raises Invalid naming the field; nothing is stored then."""
    _require(actor, "operate")
    names = _names(domains) if domains else None
    info, key = pem.check_upload(certificate, private_key, names)
    with transaction.atomic():
        cert = Certificate.objects.create(
            domains=info.names,
            source=Certificate.Source.UPLOAD,
            status=Certificate.Status.VALID,
            chain_pem=info.chain_pem,
            key_sealed=seal(key),
            not_before=info.not_before,
            not_after=info.not_after,
            issuer=info.issuer,
            serial=info.serial,
        )
        audit.record("certificate.upload", actor=actor, source=source, obj=cert, after=cert.snapshot())
    return cert


def renew_certificate(cert_id: int, *, actor: Any, source: str, expected_version: Expected = None) -> Certificate:
    """Ask the worker to order an ACME certificate again now (failures and backoff start over).
    Raises NotFound, Stale, or Invalid for an uploaded certificate (upload a new one instead)."""
    _require(actor, "operate")
    with transaction.atomic():
        cert = get_certificate(cert_id, lock=True)
        if cert.source != Certificate.Source.ACME:
            raise Invalid.field("source", _("An uploaded certificate is renewed by uploading its successor."))
        _claim(cert, expected_version)
        before = cert.snapshot()
        cert.next_attempt_at = timezone.now()
        cert.failures = 0
        cert.save()
        audit.record("certificate.renew", actor=actor, source=source, obj=cert, before=before, after=cert.snapshot())
    return cert


def delete_certificate(cert_id: int, *, actor: Any, source: str, expected_version: Expected = None) -> None:
    """Delete a certificate no domain uses. Raises NotFound, Stale, or Conflict naming the domains using it."""
    _require(actor, "operate")
    with transaction.atomic():
        cert = get_certificate(cert_id, lock=True)
        _claim(cert, expected_version)
        users = list(cert.domain_set.order_by("name").values_list("name", flat=True)[:6])
        if users:
            shown = ", ".join(users[:5]) + (" ..." if len(users) > 5 else "")
            raise Conflict(
                _("Certificate %(name)s is used by %(domains)s: attach another certificate to them first.")
                % {"name": cert, "domains": shown}
            )
        before = cert.snapshot()
        pk = cert.pk
        try:
            cert.delete()
        except ProtectedError:
            # A domain attached it after the check above (the row lock makes this rare): same answer.
            raise Conflict(
                _("Certificate %(name)s is in use by a domain: attach another certificate first.") % {"name": cert}
            ) from None
        audit.record(
            "certificate.delete",
            actor=actor,
            source=source,
            object_type="certificates.certificate",
            object_id=pk,
            object_repr=str(cert),
            before=before,
        )


# --- the worker: orders, renewals, retries ------------------------------------------------


def worker_name() -> str:
    """Who holds a lease: host and process, so a stuck lease can be traced."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def due(now: dt.datetime | None = None) -> QuerySet[Certificate]:
    """ACME certificates whose next attempt is due and that nobody is working on."""
    now = now or timezone.now()
    return Certificate.objects.filter(source=Certificate.Source.ACME, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )


def _lease(cert_id: int, owner: str, now: dt.datetime) -> bool:
    """Claim the certificate for one order: of several workers (threads, processes, hosts sharing the database)
    exactly one UPDATE matches. The lease outlives the longest order, so a crashed worker's lease runs out."""
    until = now + dt.timedelta(seconds=2 * settings.PORTICO_ACME_TIMEOUT + 60)
    return bool(due(now).filter(pk=cert_id).update(lease_owner=owner, lease_until=until))


def _account() -> AcmeAccount:
    """The account for PORTICO_ACME_DIRECTORY; its key is made (and sealed) the first time."""
    directory = settings.PORTICO_ACME_DIRECTORY
    account = AcmeAccount.objects.filter(directory=directory).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return AcmeAccount.objects.create(
                directory=directory, key_sealed=seal(new_account_key()), email=settings.PORTICO_ACME_EMAIL
            )
    except IntegrityError:
        # Another worker made it at the same moment: use theirs.
        return AcmeAccount.objects.get(directory=directory)


def _order(cert: Certificate) -> tuple[pem.CertInfo, str]:
    """Order ``cert``'s names from the ACME server. Raises AcmeError, DnsError or SealError."""
    account = _account()
    client = AcmeClient(
        account.directory,
        unseal(account.key_sealed),
        email=account.email,
        ca_bundle=settings.PORTICO_ACME_CA_BUNDLE,
        timeout=settings.PORTICO_ACME_TIMEOUT,
        challenge_dir=settings.PORTICO_ACME_CHALLENGE_DIR,
        account_uri=account.uri,
    )
    dns = None
    if cert.challenge == DNS01:
        options = {**cert.dns_settings, **json.loads(unseal(cert.dns_secrets_sealed) or "{}")}
        dns = provider_for(cert.dns_provider, options)
    issued = client.issue(list(cert.domains), challenge=cert.challenge, dns=dns)
    if client.account_uri != account.uri:
        AcmeAccount.objects.filter(pk=account.pk).update(uri=client.account_uri)
    try:
        info = pem.describe(pem.load_chain(issued.chain_pem))
    except Invalid:
        raise AcmeError("The ACME server sent a certificate chain that cannot be read.") from None
    return info, issued.key_pem


# How long a worker holds a publication retry it claimed (the apply itself takes seconds).
PUBLISH_CLAIM = dt.timedelta(minutes=10)


def _backoff(failures: int) -> dt.timedelta:
    first = dt.timedelta(seconds=settings.PORTICO_ACME_RETRY_SECONDS)
    return min(first * 2 ** max(failures - 1, 0), MAX_BACKOFF)


def process(cert_id: int, *, owner: str | None = None, now: dt.datetime | None = None) -> Certificate | None:
    """Order or renew one due certificate if no other worker holds it; returns it afterwards, or None when it was
    not due, leased elsewhere or deleted meanwhile. A failure is recorded (message, backoff), never raised."""
    owner = owner or worker_name()
    now = now or timezone.now()
    if not _lease(cert_id, owner, now):
        return None
    cert = Certificate.objects.get(pk=cert_id)
    renewal = bool(cert.chain_pem)
    try:
        info, key = _order(cert)
        error = ""
    except (AcmeError, DnsError, SealError) as exc:
        info, key, error = None, "", str(exc)
    except Exception as exc:  # an order must never kill the worker; the admin sees it on the certificate
        log.exception("Certificate %s: unexpected failure while ordering", cert_id)
        info, key, error = None, "", f"Unexpected failure ({type(exc).__name__}); the server log has details."
    with transaction.atomic():
        locked = Certificate.objects.select_for_update().filter(pk=cert_id, lease_owner=owner).first()
        if locked is None:
            return None  # deleted meanwhile, or our lease ran out and another worker took it over
        cert = locked
        before = cert.snapshot()
        cert.claim_version()
        cert.lease_owner, cert.lease_until = "", None
        cert.last_attempt_at = timezone.now()
        if info is not None:
            cert.chain_pem, cert.key_sealed = info.chain_pem, seal(key)
            cert.publish_failures, cert.publish_retry_at = 0, None  # a new chain: the listener publishes it now
            cert.not_before, cert.not_after = info.not_before, info.not_after
            cert.issuer, cert.serial = info.issuer, info.serial
            cert.status, cert.message, cert.failures = Certificate.Status.VALID, "", 0
            cert.next_attempt_at = renewal_due_at(info.not_before, info.not_after)
            action = "certificate.renewed" if renewal else "certificate.issued"
        else:
            cert.failures += 1
            cert.message = error
            cert.next_attempt_at = cert.last_attempt_at + _backoff(cert.failures)
            if not cert.chain_pem:
                cert.status = Certificate.Status.FAILED
            elif cert.not_after and cert.not_after <= cert.last_attempt_at:
                cert.status = Certificate.Status.EXPIRED
            # else: the old certificate is still valid and keeps serving; the message says the renewal failed.
            action = "certificate.renewal_failed" if renewal else "certificate.order_failed"
        cert.save()
        audit.record(action, source="system", obj=cert, before=before, after=cert.snapshot(), message=error)
    if info is not None:
        # After the commit, so a listener (publishing) reads the new chain.
        _announce(cert, renewal=renewal)
    return cert


def record_publication(cert_id: int, *, applied: bool, revision: str, message: str = "") -> Certificate | None:
    """Note on the certificate how publishing its new chain went (by the system, after the worker's order).

    A failed publication leaves the previous certificate serving: the certificate's message says so, for its page
    and the overview, and the audit trail keeps it; a later success clears it. Returns None when it was deleted."""
    with transaction.atomic():
        cert = Certificate.objects.select_for_update().filter(pk=cert_id).first()
        if cert is None:
            return None
        before = cert.snapshot()
        if applied:
            cert.message = ""
            cert.publish_failures, cert.publish_retry_at = 0, None
            action = "certificate.published"
        else:
            cert.publish_failures += 1
            cert.publish_retry_at = timezone.now() + _backoff(cert.publish_failures)
            cert.message = _(
                "Issued (serial %(serial)s), but publishing it failed in revision %(revision)s (%(message)s). The "
                "previous certificate keeps serving; Portico publishes this one again by itself at %(when)s UTC, "
                "and any apply before then publishes it too."
            ) % {
                "serial": cert.serial,
                "revision": revision,
                "message": message,
                "when": cert.publish_retry_at.strftime("%Y-%m-%d %H:%M"),
            }
            action = "certificate.publish_failed"
        cert.claim_version()
        cert.save()
        audit.record(
            action,
            source="system",
            obj=cert,
            before=before,
            after=cert.snapshot(),
            message=cert.message or _("Published in revision %(revision)s.") % {"revision": revision},
        )
    return cert


def expire(now: dt.datetime | None = None) -> int:
    """Mark certificates past their not-after as expired (uploaded ones too); returns how many changed."""
    now = now or timezone.now()
    changed = 0
    for cert_id in Certificate.objects.filter(status=Certificate.Status.VALID, not_after__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            cert = Certificate.objects.select_for_update().filter(pk=cert_id, status=Certificate.Status.VALID).first()
            if cert is None or cert.not_after is None or cert.not_after > now:
                continue
            before = cert.snapshot()
            cert.status = Certificate.Status.EXPIRED
            cert.claim_version()
            cert.save()
            audit.record("certificate.expired", source="system", obj=cert, before=before, after=cert.snapshot())
            changed += 1
    return changed


def _announce(cert: Certificate, *, renewal: bool) -> None:
    """Tell the listeners (publishing) that ``cert`` has a chain to publish; their failure never ends the worker."""
    for receiver, result in certificate_issued.send_robust(Certificate, certificate=cert, renewal=renewal):
        if isinstance(result, Exception):
            log.error("Certificate %s: %s failed after the order: %r", cert.pk, receiver, result)


def republish_due(now: dt.datetime | None = None) -> list[Certificate]:
    """Publish again every valid chain whose publication failed and whose retry time has come; returns them.

    A worker claims a retry with one UPDATE that moves its time on (so two workers, or two Portico hosts, never
    publish the same chain at once); the listener's outcome then clears it or sets the next backoff."""
    now = now or timezone.now()
    done = []
    pending = Certificate.objects.filter(status=Certificate.Status.VALID, publish_retry_at__lte=now)
    for cert_id in list(pending.order_by("publish_retry_at", "pk").values_list("pk", flat=True)):
        claimed = Certificate.objects.filter(pk=cert_id, publish_retry_at__lte=now).update(
            publish_retry_at=now + PUBLISH_CLAIM
        )
        if claimed:
            cert = Certificate.objects.get(pk=cert_id)
            _announce(cert, renewal=True)
            cert.refresh_from_db()
            done.append(cert)
    return done


def process_due(now: dt.datetime | None = None, owner: str | None = None) -> list[Certificate]:
    """One pass of the worker: expire what ran out, publish again the chains whose publication failed in an
    earlier pass, then order every due certificate; returns the certificates ordered."""
    now = now or timezone.now()
    expire(now)
    republish_due(now)
    done = []
    for cert_id in list(due(now).order_by("next_attempt_at", "pk").values_list("pk", flat=True)):
        cert = process(cert_id, owner=owner, now=now)
        if cert is not None:
            done.append(cert)
    return done
