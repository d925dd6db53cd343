"""Optimistic locking: every versioned model claims its next version through one method."""

from __future__ import annotations

from collections.abc import Collection

from django.db import models
from django.utils.translation import gettext as _

from core.errors import Stale

# What a caller expects: one version (a form's hidden field), several (an If-Match list) or None (any).
Expected = int | Collection[int] | None


class Versioned(models.Model):
    """A row whose ``version`` moves on with every change, so a change based on an older read is refused."""

    version = models.PositiveIntegerField(default=1, help_text="Bumped on every change (optimistic locking).")

    class Meta:
        abstract = True

    def require_version(self, expected: Expected) -> None:
        """Raise Stale unless the row is at (one of) the ``expected`` version(s); None accepts any.

        The caller has read the row under its lock, so the answer holds until the transaction ends.
        """
        if expected is None:
            return
        accepted = {expected} if isinstance(expected, int) else set(expected)
        if self.version not in accepted:
            raise Stale(
                _(
                    "%(name)s was changed by someone else since you read it (it is at version %(version)s now): "
                    "read it again, then retry."
                )
                % {"name": self, "version": self.version},
                [{"field": "If-Match", "message": f'Stale version; the current ETag is "{self.version}".'}],
                current_version=self.version,
            )

    def claim_version(self, expected: Expected = None) -> None:
        """Refuse a stale change (``require_version``), then move the version on; the caller saves the row."""
        self.require_version(expected)
        self.version += 1
