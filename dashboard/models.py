"""The containers the class lab made."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LabContainer(models.Model):
    """A container that `lab up` created: the lab trusts the labels and probes the ports of these only.

    Anyone who can reach the engine can put a ``portico.lab.spec`` label on a container; only the ids recorded here
    (Docker ids are not chosen by the caller) prove Portico made it, and labels cannot change after creation.
    """

    container_id = models.CharField(max_length=64, unique=True)
    lab_id = models.CharField(max_length=255, db_index=True)
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} ({self.lab_id})"
