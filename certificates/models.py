"""Certificates (from ACME or uploaded) with their keys sealed, and the ACME account Portico orders them with."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from core.versions import Versioned


class Certificate(Versioned):
    """A TLS certificate for one or more names; ``key_sealed`` is its private key, encrypted (certificates.sealing).

    ACME certificates move pending -> valid (or failed, retried with backoff); a failed renewal keeps ``valid``
    (the old certificate serves on) with ``message`` saying why, until the certificate expires.
    """

    class Source(models.TextChoices):
        ACME = "acme"
        UPLOAD = "upload"

    class Challenge(models.TextChoices):
        NONE = "", "none (uploaded)"
        HTTP01 = "http-01"
        DNS01 = "dns-01"

    class Status(models.TextChoices):
        PENDING = "pending"
        VALID = "valid"
        FAILED = "failed"
        EXPIRED = "expired"

    domains = models.JSONField(default=list, help_text="The names (subjectAltName), the first one shown as its name.")
    source = models.CharField(max_length=10, choices=Source.choices)
    challenge = models.CharField(max_length=10, choices=Challenge.choices, blank=True, default="")
    dns_provider = models.CharField(max_length=40, blank=True, help_text="hook, or a dns-lexicon provider name.")
    dns_settings = models.JSONField(default=dict, blank=True, help_text="The provider's settings without secrets.")
    dns_secrets_sealed = models.TextField(blank=True, help_text="The provider's secret settings, sealed (JSON).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True, db_index=True)
    issuer = models.CharField(max_length=255, blank=True)
    serial = models.CharField(max_length=64, blank=True)
    chain_pem = models.TextField(blank=True, help_text="The leaf first, then its issuers (public).")
    key_sealed = models.TextField(blank=True, help_text="The private key, sealed; never shown or exported plain.")
    message = models.TextField(blank=True, help_text="The last error, in words a person can act on.")
    failures = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last success.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When the worker orders (again): first order, renewal or retry."
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # A lease, not a row lock held across the ACME exchange (seconds to minutes): a transaction that long would
    # stall SQLite's writers. One UPDATE ... WHERE the lease is free claims it, on any database and across hosts.
    # A new chain that could not be published (the apply failed) is published again by the worker, with backoff.
    publish_retry_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When the worker publishes the current chain again."
    )
    publish_failures = models.PositiveIntegerField(default=0, help_text="Failed publications of the current chain.")
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        names = self.domains or ["(no names)"]
        return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1})"

    def snapshot(self) -> dict[str, Any]:
        """The audit trail's before/after: everything a person may see, never the key or DNS secrets."""
        return {
            "domains": list(self.domains),
            "source": self.source,
            "challenge": self.challenge,
            "dns_provider": self.dns_provider,
            "dns_settings": dict(self.dns_settings),
            "status": self.status,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "issuer": self.issuer,
            "serial": self.serial,
        }


class AcmeAccount(models.Model):
    """Portico's account at one ACME directory: its key (sealed) is made once and reused for every order."""

    directory = models.CharField(max_length=500, unique=True)
    key_sealed = models.TextField()
    uri = models.CharField(max_length=500, blank=True, help_text="The account's URL at the ACME server.")
    email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.directory
