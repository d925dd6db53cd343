"""The records of the floor: the capabilities the roles are made of and the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Capability(models.Model):
    """Holds no rows: it only carries the permissions that the three roles are made of."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_portico", "See routes, containers, revisions and logs"),
            ("operate", "Apply routes, roll back, start/stop/restart containers"),
            ("administer", "Manage users, tokens of others, engines and settings"),
        ]


class AuditEntry(models.Model):
    """One change made by someone, through the UI, the API, the CLI or Portico itself."""

    class Source(models.TextChoices):
        UI = "ui"
        API = "api"
        CLI = "cli"
        SYSTEM = "system"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    source = models.CharField(max_length=10, choices=Source.choices)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        db_table = "dashboard_auditentry"  # kept from before the model moved to core

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action} {self.object_repr}"
