"""The containers the class lab made (the only proof a labelled container is the lab's)."""

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

    class Meta:
        db_table = "dashboard_labcontainer"  # kept from before the model moved to lab

    def __str__(self) -> str:
        return f"{self.name} ({self.lab_id})"
