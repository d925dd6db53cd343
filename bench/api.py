"""API under load: route create and route list under gunicorn (as scripts/serve runs it) with 8
concurrent clients, against GET /api/v1/bench/floor on the same server: a token-authenticated request that
does nothing else (mounted only with PORTICO_BENCH_FLOOR=true). /api/v1/health is not the floor: it asks
Docker and nginx whether they answer, so it measures them, not Django.

Usage: python -m bench.api [SECONDS_PER_PHASE] [ROUNDS]
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable

import httpx

from bench.common import Row, Server, emit, median, p95, temp_dir

CLIENTS = 8
COUNTER = itertools.count()  # across phases and rounds: every created route is new


def load(server: Server, seconds: float, request: Callable[[httpx.Client, int], httpx.Response]) -> dict:
    """CLIENTS threads send requests back to back for ``seconds``; returns req/s, p95 latency and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=60, trust_env=False, headers=server.headers()) as http:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    response = request(http, next(COUNTER))
                    ok = response.status_code < 400
                    problem = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, str(exc)
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    if not ok:
                        errors.append(problem)

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "p95": p95(latencies), "errors": errors, "count": len(latencies)}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    server = Server(temp_dir("api")).start()
    run_id = int(time.time())
    try:
        base = server.url + "/api/v1"

        def floor(http: httpx.Client, _i: int) -> httpx.Response:
            return http.get(base + "/bench/floor")

        def create(http: httpx.Client, i: int) -> httpx.Response:
            return http.post(base + "/routes", json={
                "domain": f"d{i % 200:03d}-{run_id}.bench.test", "path": f"/p{i}/",
                "targets": [{"host": "127.0.0.1", "port": 8000 + i % 1000}],
            })  # fmt: skip

        def listing(http: httpx.Client, _i: int) -> httpx.Response:
            return http.get(base + "/routes")

        if floor(httpx.Client(headers=server.headers()), 0).status_code != 200:
            raise RuntimeError("GET /api/v1/bench/floor does not answer 200 (is PORTICO_BENCH_FLOOR read?)")
        results: dict[str, list[dict]] = {"floor": [], "create": [], "list": []}
        for _ in range(rounds):  # interleaved phases: floor, create, floor, list, ...
            results["floor"].append(load(server, seconds, floor))
            results["create"].append(load(server, seconds, create))
            results["floor"].append(load(server, seconds, floor))
            results["list"].append(load(server, seconds, listing))
        floor_rps = median([r["rps"] for r in results["floor"]])
        floor_p95 = median([r["p95"] for r in results["floor"]])
        rows = []
        for name, label in (("create", "POST /routes"), ("list", "GET /routes (first page of 50)")):
            runs = results[name]
            errors = [e for r in runs for e in r["errors"]]
            rps = median([r["rps"] for r in runs])
            rows.append(Row(f"API {label}, {CLIENTS} clients: req/s", rps, floor_rps, "GET /bench/floor (token auth only)",
                            unit="req/s", higher_is_better=True, samples=len(runs),
                            note=f"{len(errors)} failed of {sum(r['count'] for r in runs)}"
                                 + (f" (first: {errors[0][:120]})" if errors else "")))  # fmt: skip
            rows.append(Row(f"API {label}, {CLIENTS} clients: p95", median([r["p95"] for r in runs]), floor_p95,
                            "GET /bench/floor p95", samples=len(runs)))  # fmt: skip
        rss = server.peak_rss_mb()
        for row in rows:
            row.peak_rss_mb = rss
        emit(rows)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
