"""Docker engines Portico watches besides the implicit local one."""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core.versions import Versioned
from core.visibility import without_credentials

LOCAL = "local"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_URL = re.compile(
    r"unix:///\S+|tcp://[A-Za-z0-9.\-\[\]:]+:\d{1,5}|ssh://[A-Za-z0-9._\-]+@?[A-Za-z0-9.\-\[\]]*(:\d{1,5})?"
)


def validate_engine_name(value: str) -> None:
    """Lower-case letters, digits, - and _; up to 40 characters; ``local`` is taken by the default engine."""
    if not _NAME.fullmatch(value or ""):
        raise ValidationError("Use 1-40 lower-case letters, digits, '-' or '_', starting with a letter or digit.")
    if value == LOCAL:
        raise ValidationError("'local' is the built-in engine (PORTICO_DOCKER_URL); pick another name.")


def validate_engine_url(value: str) -> None:
    """unix:///path/docker.sock, tcp://host:port or ssh://user@host[:port]."""
    if not _URL.fullmatch(value or ""):
        raise ValidationError("Use unix:///var/run/docker.sock, tcp://host:2376 (with TLS files) or ssh://user@host.")


def validate_readable_file(value: str) -> None:
    """A TLS file must be an absolute path Portico can read."""
    if value and (not os.path.isabs(value) or not os.path.isfile(value) or not os.access(value, os.R_OK)):
        raise ValidationError(f"{value} is not a readable file (give an absolute path on Portico's host).")


class Engine(Versioned):
    """A Docker engine reached by URL; the local socket (PORTICO_DOCKER_URL) is always there as ``local``."""

    name = models.CharField(max_length=40, unique=True, validators=[validate_engine_name])
    url = models.CharField(max_length=255, validators=[validate_engine_url])
    tls_ca = models.CharField("TLS CA file", max_length=255, blank=True, validators=[validate_readable_file])
    tls_cert = models.CharField(
        "TLS client certificate", max_length=255, blank=True, validators=[validate_readable_file]
    )
    tls_key = models.CharField("TLS client key", max_length=255, blank=True, validators=[validate_readable_file])
    tls_verify = models.BooleanField("Verify the server certificate", default=True)
    default = models.BooleanField(default=False, help_text="Pages and API use this engine when none is named.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def clear_default(cls, keep: int | None = None) -> None:
        """No stored engine but ``keep`` (the one being saved, which takes over) is the default; bumps their versions."""
        cls.objects.filter(default=True).exclude(pk=keep).update(default=False, version=models.F("version") + 1)

    def snapshot(self) -> dict[str, Any]:
        """The engine as the audit trail records it (the URL without credentials; TLS files are paths, not keys)."""
        return {
            "name": self.name,
            "url": without_credentials(self.url),
            "tls_ca": self.tls_ca,
            "tls_cert": self.tls_cert,
            "tls_key": self.tls_key,
            "tls_verify": self.tls_verify,
            "default": self.default,
        }

    def clean(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValidationError({"tls_key": "A client certificate needs its key, and a key its certificate."})
        if (self.tls_ca or self.tls_cert) and not self.url.startswith("tcp://"):
            raise ValidationError({"url": "TLS files only apply to tcp:// engines."})

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca or self.tls_cert)
