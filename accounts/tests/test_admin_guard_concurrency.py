"""The last-admin guard under two demotions at once, as two real API requests on connections of their own.

On PostgreSQL (READ COMMITTED) each demotion locks only its own account row; without accounts.operations'
advisory lock both would count the other admin as still there and both commit, leaving Portico without an admin.
PostgreSQL pass only (pytest.mark.postgres): the suite's in-memory SQLite cannot make a second writer wait.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from accounts import operations as accounts
from core.roles import role_of

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True), pytest.mark.postgres]

HOLD_SECONDS = 3  # how long the first demotion stays in its transaction when nothing releases it


class Request(threading.Thread):
    """PATCH /api/v1/users/<name> in a thread with its own database connection; keeps the status code."""

    def __init__(self, token: str, username: str, name: str):
        super().__init__(name=name)
        self.token, self.username = token, username
        self.status: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            client = Client(headers={"Authorization": f"Bearer {self.token}"})
            response = client.patch(
                f"/api/v1/users/{self.username}", {"role": "viewer"}, content_type="application/json"
            )
            self.status = response.status_code
        except BaseException as exc:  # examined by the test
            self.error = exc
        finally:
            connection.close()


# (who alice demotes, who bob demotes, the admin left). Themselves: without the lock both commit and no admin is
# left. Each other: without the lock the two transactions deadlock (each audit entry waits for the other's row).
@pytest.mark.parametrize(
    ("alice_demotes", "bob_demotes", "left"),
    [("alice", "bob", "bob"), ("bob", "alice", "alice")],
    ids=["themselves", "each-other"],
)
def test_two_admins_demoted_at_once_leave_one_admin(
    make_user, token_for, monkeypatch, alice_demotes, bob_demotes, left
):
    alice, bob = make_user("alice", "admin"), make_user("bob", "admin")
    alice_token, bob_token = token_for(alice), token_for(bob)
    inside, release = threading.Event(), threading.Event()
    real = accounts._give_role

    def give_role(user, role):
        real(user, role)
        # The first demotion has passed the guard and written, but not committed: hold it there.
        if threading.current_thread().name == "first" and not inside.is_set():
            inside.set()
            release.wait(HOLD_SECONDS)

    monkeypatch.setattr(accounts, "_give_role", give_role)
    first = Request(alice_token, alice_demotes, "first")
    first.start()
    assert inside.wait(30), "the first demotion never reached its write"
    second = Request(bob_token, bob_demotes, "second")
    second.start()
    second.join(1.0)
    waited = second.is_alive()
    release.set()
    first.join(30)
    second.join(30)
    assert (first.error, second.error) == (None, None)
    assert (first.status, second.status) == (200, 409)
    assert waited, "the second demotion did not wait for the first"
    admins = [u.username for u in accounts.accounts().filter(is_active=True) if role_of(u) == "admin"]
    assert admins == [left]
