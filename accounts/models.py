"""API tokens: named bearer tokens of which only the hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.versions import Versioned

TOKEN_PREFIX = "pt_"


def hash_token(plain: str) -> str:
    """Tokens are long random strings, so one SHA-256 round is enough and lookups stay O(1)."""
    return hashlib.sha256(plain.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(Versioned):
    """A named bearer token; only its hash is stored, the plain value is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Bumped when the token is revoked (optimistic locking); use is not a change."
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "dashboard_apitoken"  # kept from before the model moved to accounts
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="unique_token_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the row and the plain value (never stored)."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, prefix=plain[:10], token_hash=hash_token(plain), expires_at=expires_at
        )
        return token, plain

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def revoke(self) -> None:
        if not self.revoked_at:
            self.revoked_at = timezone.now()
            self.claim_version()
            self.save(update_fields=["revoked_at", "version"])
