"""Logs: GET /api/v1/containers/<c>/logs?tail=N against ``docker logs --tail N`` on a container that printed
LINES lines; then follow: lines per second delivered over Portico's SSE stream against ``docker logs -f``
from a container printing as fast as it can, with the server's memory sampled while it streams.

Usage: python -m bench.logs [LINES] [TAIL] [RUNS] [FOLLOW_SECONDS]
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time

import docker
import httpx

from bench.common import Row, Server, docker_cli, emit, interleave, median, temp_dir

IMAGE = "portico-test/busybox:1"
LABEL = "portico.bench"


def count_sse_lines(server: Server, name: str, seconds: float) -> int:
    """``line`` events received from Portico's follow stream in ``seconds``."""
    lines = 0
    deadline = time.perf_counter() + seconds
    with (
        httpx.Client(timeout=httpx.Timeout(30, read=30), trust_env=False) as http,
        http.stream("GET", f"{server.url}/api/v1/containers/{name}/logs/follow", headers=server.headers()) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_lines():
            if chunk.startswith("event: line"):
                lines += 1
            if time.perf_counter() >= deadline:
                break
    return lines


def count_cli_lines(name: str, seconds: float) -> int:
    """Lines ``docker logs -f --tail 0`` prints in ``seconds``."""
    proc = subprocess.Popen(["docker", "logs", "-f", "--tail", "0", name], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    lines = 0
    deadline = time.perf_counter() + seconds
    timer = threading.Timer(seconds + 1, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for _line in proc.stdout:
            lines += 1
            if time.perf_counter() >= deadline:
                break
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    return lines


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tail = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    follow_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    client = docker.from_env(timeout=120)
    server = Server(temp_dir("logs")).start()
    name = f"portico-bench-logs-{int(time.time())}"
    loud = f"portico-bench-loud-{int(time.time())}"
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

        client.containers.run(
            IMAGE, ["yes", "portico bench follow: a line printed as fast as the container can"],
            name=loud, network_mode="none", labels={LABEL: "1"}, init=True, detach=True,
            log_config=docker.types.LogConfig(type="json-file", config={"max-size": "20m", "max-file": "2"}),
        )  # fmt: skip
        rss_before = server.rss_mb()
        rss_samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.5):
                rss_samples.append(server.rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        follow_runs = max(2, runs // 2)
        p, b = interleave(lambda _i: count_sse_lines(server, loud, follow_seconds) / follow_seconds,
                          lambda _i: count_cli_lines(loud, follow_seconds) / follow_seconds, follow_runs)  # fmt: skip
        sampling.set()
        sampler.join()
        rss_after = server.rss_mb()
        rows.append(Row("log follow (SSE), lines/s", median(p), median(b), "docker logs -f", unit="lines/s",
                        higher_is_better=True, samples=follow_runs,
                        note=f"workers' RSS {rss_before:.0f} MB before, {max(rss_samples or [rss_after]):.0f} MB "
                             f"max while streaming, {rss_after:.0f} MB after",
                        extra={"rss_before_mb": rss_before, "rss_max_mb": max(rss_samples or [rss_after]),
                               "rss_after_mb": rss_after}))  # fmt: skip
        rss = server.peak_rss_mb()
        for row in rows:
            row.peak_rss_mb = rss
        emit(rows)
    finally:
        server.stop()
        for container_name in (name, loud):
            with contextlib.suppress(docker.errors.APIError):
                client.containers.get(container_name).remove(force=True)


if __name__ == "__main__":
    main()
