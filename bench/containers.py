"""Container list: GET /api/v1/containers and the containers page against ``docker ps -a --format json``,
with N containers (default 300; every fifth one running), all created from the local test image with
network "none" and removed afterwards.

Usage: python -m bench.containers [N] [RUNS]
"""

from __future__ import annotations

import contextlib
import sys
import time

import docker
import httpx

from bench.common import Row, Server, docker_cli, emit, interleave, median, temp_dir

IMAGE = "portico-test/busybox:1"
LABEL = "portico.bench"


def remove_bench_containers(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    client = docker.from_env(timeout=120)
    remove_bench_containers(client)
    server = Server(temp_dir("containers")).start()
    try:
        started = time.perf_counter()

        def make(i: int) -> None:
            kwargs = {"name": f"portico-bench-{i:04d}", "network_mode": "none", "labels": {LABEL: "1"}, "init": True}
            if i % 5 == 0:
                client.containers.run(IMAGE, ["sleep", "900"], detach=True, **kwargs)
            else:
                client.containers.create(IMAGE, ["sleep", "900"], **kwargs)

        # One at a time: dockerd 20.10 deadlocked here (libnetwork) when many were created and removed at once.
        for i in range(n):
            make(i)
        print(f"created {n} containers in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        total = len(docker_cli("ps", "-a", "--format", "json").splitlines())
        mine = {f"portico-bench-{i:04d}" for i in range(n)}
        rows = []
        with httpx.Client(timeout=120, trust_env=False) as http:

            def api(_i: int) -> float:
                start = time.perf_counter()
                response = http.get(
                    server.url + "/api/v1/containers", params={"page_size": 500}, headers=server.headers()
                )
                took = time.perf_counter() - start
                response.raise_for_status()
                missing = mine - {c["name"] for c in response.json()["items"]}
                assert not missing, f"the API does not list {len(missing)} of the benchmark's containers"
                return took

            def cli(_i: int) -> float:
                start = time.perf_counter()
                docker_cli("ps", "-a", "--format", "json")
                return time.perf_counter() - start

            api(0)  # warm up the workers (imports, first queries)
            p, b = interleave(api, cli, runs)
            rows.append(Row(f"container list, {total} containers (API)", median(p), median(b),
                            "docker ps -a --format json", target=1.5, samples=runs))  # fmt: skip

            server.login(http)

            def page(_i: int) -> float:
                start = time.perf_counter()
                response = http.get(server.url + "/containers/")
                took = time.perf_counter() - start
                response.raise_for_status()
                assert "portico-bench-0001" in response.text, "the containers page does not list the containers"
                return took

            if http.get(server.url + "/containers/").status_code == 404:
                rows.append(Row(f"container list, {total} containers (page)", float("nan"), None,
                                note="no containers page in this checkout"))  # fmt: skip
            else:
                page(0)
                p, b = interleave(page, cli, runs)
                rows.append(Row(f"container list, {total} containers (page)", median(p), median(b),
                                "docker ps -a --format json", target=1.5, samples=runs))  # fmt: skip
        rss = server.peak_rss_mb()
        for row in rows:
            row.peak_rss_mb = rss
        emit(rows)
    finally:
        server.stop()
        remove_bench_containers(client)


if __name__ == "__main__":
    main()
