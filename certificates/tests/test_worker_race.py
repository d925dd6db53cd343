"""On PostgreSQL, where writers run side by side: of many workers (think several Portico hosts) that find one
certificate due at the same moment, exactly one claims it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from certificates import operations
from certificates.models import Certificate

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_of_eight_workers_exactly_one_claims_a_due_certificate():
    cert = Certificate.objects.create(
        domains=["race.example.test"], source="acme", challenge="http-01", next_attempt_at=timezone.now()
    )
    barrier = threading.Barrier(8)
    claims: list[tuple[str, bool]] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            claims.append((f"host-{i}", operations._lease(cert.pk, f"host-{i}", timezone.now())))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [owner for owner, won in claims if won]
    assert len(claims) == 8 and len(winners) == 1
    cert.refresh_from_db()
    assert cert.lease_owner == winners[0]
    assert not operations.due().filter(pk=cert.pk).exists()  # nobody else finds it due while the lease runs
