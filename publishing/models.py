"""Publishing's records: every apply as a Revision, and where NPM is (NpmSettings)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.versions import Versioned
from core.visibility import sees_upstream_words


class Revision(models.Model):
    """One apply (or rollback): what was published, by whom, and what nginx or NPM said."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPLIED = "applied"
        FAILED = "failed"
        ROLLED_BACK = "rolled_back"

    number = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    author_name = models.CharField(max_length=150, blank=True)
    publisher = models.CharField(max_length=10, default="nginx")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    message = models.TextField(blank=True, help_text="Why it failed, in words a person can act on.")
    diff = models.TextField(blank=True)
    output = models.TextField(blank=True, help_text="What nginx (or NPM) printed.")
    files = models.JSONField(default=dict, help_text="The rendered files: name -> text.")
    snapshot = models.JSONField(default=dict, help_text="The desired state that was applied (config document).")
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "routes_revision"  # the table it had in the routes app
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.status}"

    def output_for(self, user) -> str:
        """The output as ``user`` may read it: a failed NPM revision's holds NPM's own words, which only admins
        read (an applied one's is Portico's list of the hosts it changed)."""
        if self.publisher == "npm" and self.status != self.Status.APPLIED and not sees_upstream_words(user):
            return ""
        return self.output


class NpmSettings(Versioned):
    """Where Nginx Proxy Manager is and how Portico logs in (one row; PORTICO_NPM_* variables take precedence).

    The secret is stored as given (NPM needs the plain password to issue tokens) and never shown back.
    """

    url = models.CharField(max_length=500, blank=True, help_text="NPM's API, e.g. http://npm:81/api")
    identity = models.EmailField(max_length=254, blank=True, help_text="The NPM user's e-mail.")
    secret = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "routes_npmsettings"  # the table it had in the routes app
        verbose_name = "NPM settings"
        verbose_name_plural = "NPM settings"

    def __str__(self) -> str:
        return "NPM settings"
