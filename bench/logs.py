"""Logs: GET /api/v1/containers/<c>/logs?tail=N against ``docker logs --tail N`` on a container that printed
LINES lines; then follow: lines per second delivered over Portico's SSE stream against ``docker logs -f``
from a container printing FOLLOW_LINES lines as fast as it can, with the server's memory sampled meanwhile.

Usage: python -m bench.logs [LINES] [TAIL] [RUNS] [FOLLOW_LINES]
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import docker
import httpx

from bench.common import Row, Server, docker_cli, emit, interleave, median, temp_dir

IMAGE = "portico-test/busybox:1"
LABEL = "portico.bench"


def sse_rate(server: Server, name: str, limit: float) -> tuple[float, int]:
    """(lines/s, lines) over Portico's follow stream, from its first line to the last one (or ``limit`` s)."""
    lines, first, last = 0, 0.0, 0.0
    deadline = time.perf_counter() + limit
    with (
        httpx.Client(timeout=httpx.Timeout(60, read=60), trust_env=False) as http,
        http.stream("GET", f"{server.url}/api/v1/containers/{name}/logs/follow", headers=server.headers()) as response,
    ):
        response.raise_for_status()
        for text in response.iter_lines():
            if text.startswith("event: line"):
                last = time.perf_counter()
                first = first or last
                lines += 1
            elif text.startswith("event: end") or time.perf_counter() >= deadline:
                break
    return (lines - 1) / (last - first) if lines > 1 and last > first else 0.0, lines


def cli_rate(name: str, limit: float) -> tuple[float, int]:
    """(lines/s, lines) ``docker logs -f --tail 0`` prints, measured the same way."""
    proc = subprocess.Popen(["docker", "logs", "-f", "--tail", "0", name], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    lines, first, last = 0, 0.0, 0.0
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for _line in proc.stdout:
            last = time.perf_counter()
            first = first or last
            lines += 1
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    return (lines - 1) / (last - first) if lines > 1 and last > first else 0.0, lines


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tail = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    follow_lines = int(sys.argv[4]) if len(sys.argv) > 4 else 200_000
    follow_limit = 60.0  # seconds a follow run may take at most
    client = docker.from_env(timeout=120)
    server = Server(temp_dir("logs")).start()
    name = f"portico-bench-logs-{int(time.time())}"
    loud_prefix = f"portico-bench-loud-{int(time.time())}"
    rows = []
    try:
        printer = client.containers.run(
            IMAGE, ["sh", "-c", f"seq 1 {total} | sed 's/^/portico bench log line number /'"],
            name=name, network_mode="none", labels={LABEL: "1"}, init=True, detach=True,
        )  # fmt: skip
        printer.wait(timeout=300)
        with httpx.Client(timeout=300, trust_env=False) as http:

            def api(_i: int) -> float:
                start = time.perf_counter()
                response = http.get(f"{server.url}/api/v1/containers/{name}/logs", params={"tail": str(tail)},
                                    headers=server.headers())  # fmt: skip
                took = time.perf_counter() - start
                response.raise_for_status()
                got = response.json()
                assert len(got) == tail and got[-1]["text"].endswith(f" {total}"), "wrong lines"
                return took

            def cli(_i: int) -> float:
                start = time.perf_counter()
                out = docker_cli("logs", "--tail", str(tail), name)
                took = time.perf_counter() - start
                assert out.count(b"\n") == tail
                return took

            api(0)
            p, b = interleave(api, cli, runs)
            rows.append(Row(f"logs tail={tail} of {total} lines", median(p), median(b), f"docker logs --tail {tail}",
                            target=1.5, samples=runs))  # fmt: skip

        # Follow: for each run a fresh container waits a second (so the follower is attached), then prints
        # FOLLOW_LINES lines as fast as it can and exits. Bounded, because the engine is shared.
        def loud(i: int, follower: Callable[[str], tuple[float, int]]) -> float:
            name = f"{loud_prefix}-{i}-{follower.__name__}"
            client.containers.run(
                IMAGE, ["sh", "-c", f"sleep 1; seq 1 {follow_lines} | sed 's/^/portico bench follow line /'"],
                name=name, network_mode="none", labels={LABEL: "1"}, init=True, detach=True,
            )  # fmt: skip
            try:
                rate, lines = follower(name)
                delivered.setdefault(follower.__name__, []).append(lines)
                return rate
            finally:
                with contextlib.suppress(docker.errors.APIError):
                    client.containers.get(name).remove(force=True)

        def portico(name: str) -> tuple[float, int]:
            return sse_rate(server, name, follow_limit)

        def cli(name: str) -> tuple[float, int]:
            return cli_rate(name, follow_limit)

        delivered: dict[str, list[int]] = {}
        rss_before = server.rss_mb()
        rss_samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.5):
                rss_samples.append(server.rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        follow_runs = max(2, runs // 2)
        p, b = interleave(lambda i: loud(i, portico), lambda i: loud(i, cli), follow_runs)
        sampling.set()
        sampler.join()
        rss_after = server.rss_mb()
        rss_max = max(rss_samples or [rss_after])
        rows.append(Row("log follow (SSE), lines/s", median(p), median(b), "docker logs -f", unit="lines/s",
                        higher_is_better=True, samples=follow_runs,
                        note=f"{follow_lines} lines printed per run; delivered per run: Portico "
                             f"{delivered.get('portico')}, docker {delivered.get('cli')}; workers' RSS "
                             f"{rss_before:.0f} MB before, {rss_max:.0f} MB max while streaming, {rss_after:.0f} MB after",
                        extra={"rss_before_mb": rss_before, "rss_max_mb": rss_max, "rss_after_mb": rss_after}))  # fmt: skip
        rss = server.peak_rss_mb()
        for row in rows:
            row.peak_rss_mb = rss
        emit(rows)
    finally:
        server.stop()
        with contextlib.suppress(docker.errors.APIError):
            client.containers.get(name).remove(force=True)


if __name__ == "__main__":
    main()
