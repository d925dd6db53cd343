"""Writers of the desired state at the same time, on real connections (one per thread).

On PostgreSQL (READ COMMITTED) writers run side by side; these tests pin the turn-taking that
routes.state.lock_state adds there, and without it they fail. They run in scripts/test's PostgreSQL pass
(pytest.mark.postgres) and are left out of the SQLite pass: Portico's SQLite file serializes writers with BEGIN
IMMEDIATE, but the suite's in-memory SQLite test database cannot make a second writer wait (it fails at once
with "database table is locked"), so there is nothing to learn there.

A config replace is held inside its transaction (after it read the state, before its first write) while a
second writer starts; the second writer must wait for it and then decide on what it wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from core.models import AuditEntry
from routes import state
from routes.models import Domain, Route
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state

# Collected only by the PostgreSQL pass (pytest --postgres); the SQLite pass deselects them (tests/fixtures/postgres.py).
pytestmark = [pytest.mark.postgres_only, pytest.mark.postgres]

# How long the first replace stays inside its transaction when nobody releases it (the second writer, if it
# waits as it should, cannot release it).
HOLD_SECONDS = 3


def doc(*domains: tuple[str, str, int]) -> ConfigDocument:
    return ConfigDocument.model_validate(
        {
            "domains": [
                {"name": n, "routes": [{"path": "/", "targets": [{"host": h, "port": p}]}]} for n, h, p in domains
            ]
        }
    )


class Held:
    """Runs replace_state in a thread of its own and holds it at its first route write until released."""

    def __init__(self, monkeypatch, document: ConfigDocument):
        self.inside = threading.Event()
        self.release = threading.Event()
        self.result: object = None
        real = state.save_route

        def save_route(*args, **kwargs):
            if threading.current_thread().name == "held-replace" and not self.inside.is_set():
                self.inside.set()
                self.release.wait(HOLD_SECONDS)
            return real(*args, **kwargs)

        monkeypatch.setattr(state, "save_route", save_route)
        self.thread = thread(lambda: replace_state(document), self, "result", name="held-replace")
        assert self.inside.wait(30), "the held replace never reached its first write"


def thread(work: Callable[[], object], into: object, attribute: str, name: str | None = None) -> threading.Thread:
    """Run ``work`` on a connection of its own; its result (or exception) lands in ``into.attribute``."""

    def run() -> None:
        try:
            setattr(into, attribute, work())
        except Exception as exc:  # examined by the test
            setattr(into, attribute, exc)
        finally:
            connection.close()

    started = threading.Thread(target=run, name=name)
    started.start()
    return started


class Box:
    value: object = None


@pytest.mark.django_db(transaction=True)
def test_two_config_replaces_at_once_take_turns(monkeypatch):
    first = Held(monkeypatch, doc(("shared.test", "a", 1), ("a.test", "a", 1)))
    second = Box()
    worker = thread(lambda: replace_state(doc(("shared.test", "b", 2), ("b.test", "b", 2))), second, "value")
    worker.join(0.5)
    first.release.set()  # only reached at once when the second replace did not wait
    first.thread.join(60)
    worker.join(60)
    assert not isinstance(first.result, Exception), first.result
    # Without the lock on PostgreSQL: both create shared.test and the second dies on the unique index.
    assert not isinstance(second.value, Exception), second.value
    # The second replace saw what the first one committed: it changed shared.test and removed a.test.
    assert second.value.as_dict() == {
        "created": ["b.test", "b.test/"],
        "updated": ["shared.test/"],
        "deleted": ["a.test/", "a.test"],
    }
    assert export_state() == doc(("b.test", "b", 2), ("shared.test", "b", 2)).model_dump(mode="json")
    assert Route.objects.get(domain__name="shared.test").version == 2
    assert AuditEntry.objects.filter(action="config.replace").count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_api_route_write_during_a_config_replace_waits_and_then_sees_it(monkeypatch, api_client, operator_user):
    replace_state(doc(("shared.test", "old", 1)))
    route = Route.objects.get()
    client = api_client(operator_user)
    tag = client.get(f"/api/v1/routes/{route.pk}").headers["ETag"]
    assert tag == '"1"'

    first = Held(monkeypatch, doc(("shared.test", "replaced", 1)))
    second = Box()
    body = {"domain": "shared.test", "path": "/", "targets": [{"host": "api", "port": 3}]}

    def put():
        return client.put(
            f"/api/v1/routes/{route.pk}", body, content_type="application/json", headers={"If-Match": tag}
        )

    worker = thread(put, second, "value")
    worker.join(0.5)
    first.release.set()
    first.thread.join(60)
    worker.join(60)
    assert not isinstance(first.result, Exception), first.result
    assert not isinstance(second.value, Exception), second.value
    # Without the lock on PostgreSQL the API write goes first (200), and the replace then overwrites it under the
    # same version 2: a lost update and one ETag for two different routes.
    assert second.value.status_code == 412, second.value.content
    assert second.value.json()["errors"][0]["field"] == "If-Match"
    route.refresh_from_db()
    assert route.version == 2
    assert [(t.host, t.port) for t in route.targets.all()] == [("replaced", 1)]


@pytest.mark.django_db(transaction=True)
def test_creating_one_domain_from_many_threads_gives_one_201_and_409s(api_client, operator_user):
    client = api_client(operator_user)
    threads = 8
    start = threading.Barrier(threads)
    answers = [Box() for _ in range(threads)]

    def create():
        start.wait()
        return client.post("/api/v1/domains", {"name": "race.test"}, content_type="application/json")

    workers = [thread(create, box, "value") for box in answers]
    for worker in workers:
        worker.join(60)
    failures = [box.value for box in answers if isinstance(box.value, Exception)]
    assert failures == []  # an IntegrityError here was a 500 on PostgreSQL
    assert sorted(box.value.status_code for box in answers) == [201] + [409] * (threads - 1)
    assert Domain.objects.filter(name="race.test").count() == 1
    assert AuditEntry.objects.filter(action="domain.create").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_export_during_writes_is_always_one_whole_state():
    """Each export (an apply's snapshot) shows one committed state, never targets of one and fields of another."""
    states = [
        {"path": "/", "targets": [{"host": "one", "port": 1}], "read_timeout": 11},
        {"path": "/", "targets": [{"host": "two", "port": 2}, {"host": "three", "port": 3}], "read_timeout": 22},
    ]
    docs = [ConfigDocument.model_validate({"domains": [{"name": "flip.test", "routes": [s]}]}) for s in states]
    replace_state(docs[0])
    wanted = [d.model_dump(mode="json") for d in docs]
    stop = threading.Event()
    writes = Box()

    def flip() -> int:
        n = 0
        while not stop.is_set() and n < 2000:
            n += 1
            replace_state(docs[n % 2])
        return n

    writer = thread(flip, writes, "value")
    seen = []
    try:
        for _ in range(300):
            seen.append(export_state())
    finally:
        stop.set()
        writer.join(60)
    assert not isinstance(writes.value, Exception), writes.value
    assert writes.value > 10  # the writer really ran alongside
    mixed = [s for s in seen if s not in wanted]
    assert mixed == []
    assert {w["domains"][0]["routes"][0]["read_timeout"] for w in seen} == {11, 22}  # both states were seen
