"""Two Portico hosts on one PostgreSQL database take turns applying, though each has a lock file of its own.

Each "host" is a thread with its own database connection and its own VAR_DIR lock file, so only the advisory
lock on the database (publishing.operations._database_apply_lock) can keep their applies apart. PostgreSQL only (in
scripts/test's PostgreSQL pass, pytest.mark.postgres): SQLite is one file on one host, where the lock file
is the whole story, and test_publish.py covers it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from publishing import operations
from routes.tests.test_state_locks import Box, thread

# Collected only by the PostgreSQL pass (pytest --postgres); the SQLite pass deselects them (tests/fixtures/postgres.py).
pytestmark = [pytest.mark.postgres_only, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_a_second_host_waits_for_the_first_hosts_apply_then_gets_its_turn(monkeypatch, tmp_path):
    def lock_path() -> Path:  # each host (thread) has a VAR_DIR of its own
        return tmp_path / threading.current_thread().name / "apply.lock"

    monkeypatch.setattr(operations, "_lock_path", lock_path)
    holding, finish = threading.Event(), threading.Event()
    first = Box()

    def host_a() -> str:
        with operations.apply_lock(timeout=5):
            holding.set()
            finish.wait(30)
        return "applied"

    a = thread(host_a, first, "value", name="host-a")
    assert holding.wait(30)

    def host_b() -> str:
        with operations.apply_lock(timeout=0.5):
            return "applied"

    second = Box()
    thread(host_b, second, "value", name="host-b").join(30)
    # Without the database lock host B gets in at once, with host A's apply running.
    assert isinstance(second.value, operations.ApplyBusy), second.value
    assert "Another apply is running" in str(second.value)

    finish.set()
    a.join(30)
    assert first.value == "applied"
    third = Box()
    thread(host_b, third, "value", name="host-b").join(30)
    assert third.value == "applied"  # released when host A's apply ended
