"""Optimistic concurrency against a real server: 20 threads editing one route with If-Match lose nothing."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

pytestmark = pytest.mark.postgres

THREADS = 20


def test_twenty_writers_with_if_match_one_wins_per_version_and_nothing_is_lost(portico_server):
    api = f"{portico_server.url}/api/v1"
    auth = {"Authorization": f"Bearer {portico_server.token}"}
    created = requests.post(
        f"{api}/routes",
        json={"domain": "race.test", "path": "/", "targets": [{"host": "seed", "port": 1}]},
        headers=auth,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    url = f"{api}/routes/{created.json()['id']}"

    start = threading.Barrier(THREADS)
    lock = threading.Lock()
    wins: list[tuple[int, int]] = []  # (version the winner read, thread)
    first_round: list[int] = []  # status of every thread's first write, all sent with If-Match "1"
    statuses: Counter[int] = Counter()
    errors: list[str] = []

    def writer(n: int) -> None:
        session = requests.Session()
        session.headers.update(auth)
        read = session.get(url, timeout=30)
        start.wait()
        for attempt in range(300):
            if attempt:
                read = session.get(url, timeout=30)
            body, tag = read.json(), read.headers["ETag"]
            targets = [*body["targets"], {"host": f"writer{n}", "port": 1000 + n}]
            reply = session.put(
                url,
                json={"domain": "race.test", "path": "/", "targets": targets},
                headers={"If-Match": tag},
                timeout=60,
            )
            with lock:
                statuses[reply.status_code] += 1
                if attempt == 0:
                    first_round.append(reply.status_code)
                if reply.status_code == 200:
                    wins.append((body["version"], n))
                    assert reply.json()["version"] == body["version"] + 1
                    return
            if reply.status_code != 412:
                errors.append(f"writer {n}: {reply.status_code} {reply.text[:200]}")
                return
        errors.append(f"writer {n} never won")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "writers still running after 10 minutes"
    assert not errors, errors + [portico_server.log_tail()]
    assert set(statuses) <= {200, 412}, statuses
    # Everyone read version 1 and wrote at once: exactly one got through, the other 19 were refused.
    assert sorted(first_round) == [200] + [412] * (THREADS - 1)
    # Every version from 1 to 20 was won exactly once ...
    assert sorted(v for v, _ in wins) == list(range(1, THREADS + 1))
    assert sorted(n for _, n in wins) == list(range(THREADS))
    # ... and no write was lost: all twenty targets are there, and the version counted each write once.
    final = requests.get(url, headers=auth, timeout=30).json()
    assert final["version"] == THREADS + 1
    assert {t["host"] for t in final["targets"]} == {"seed"} | {f"writer{n}" for n in range(THREADS)}
    audit = requests.get(
        f"{api}/audit", params={"action": "route.update", "object_id": created.json()["id"]}, headers=auth, timeout=30
    )
    assert audit.json()["count"] == THREADS  # every win left exactly one audit entry
