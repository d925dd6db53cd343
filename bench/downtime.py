"""Zero downtime: failed requests through nginx while Portico applies 50 times under a constant request loop,
against the same loop through a bare nginx that is reloaded 50 times (interleaved).

Usage: python -m bench.downtime [APPLIES] [DOMAINS]
Each apply flips the "/" route of the domain the loop requests between two upstreams, so every apply
changes what that request is served by. The loop opens a new connection for every request (as a browser
does after a reload closes its kept-alive one); a request fails when it errors or does not get an upstream's
answer.
"""

from __future__ import annotations

import shutil
import sys
import threading

from bench.apply import get, start_both
from bench.common import Row, emit, free_port, peak_rss_mb, setup_django, start_backend, temp_dir


class Loop(threading.Thread):
    """Requests ``host``/ through 127.0.0.1:``port`` back to back until stopped; counts the failures."""

    def __init__(self, port: int, host: str):
        super().__init__(daemon=True)
        self.port, self.host = port, host
        self.total = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            answer = get(self.port, self.host, "/")
            self.total += 1
            if answer not in ("A", "B"):
                self.failures.append(answer)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def main() -> None:
    applies = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    var = temp_dir("downtime")
    portico_port = free_port()
    setup_django(var, PORTICO_NGINX_LISTEN=f"127.0.0.1:{portico_port}", PORTICO_NGINX_MODE="managed")

    from publishing import operations
    from publishing.models import Revision
    from routes.models import Domain, Route, Target

    port_a, _ = start_backend("A")
    port_b, _ = start_backend("B")
    Domain.objects.bulk_create([Domain(name=f"z{i:03d}.bench.test") for i in range(n)])
    Route.objects.bulk_create(
        [Route(domain=d, path=p) for d in Domain.objects.all() for p in ("/", "/task/", "/user/")]
    )
    Target.objects.bulk_create([Target(route=r, host="127.0.0.1", port=port_a) for r in Route.objects.all()])
    host = "z000.bench.test"
    looped = Route.objects.get(domain__name=host, path="/")

    managed, publisher, bare, bare_files = start_both(var)

    loops = Loop(portico_port, host), Loop(bare.port, host)
    for loop in loops:
        loop.start()
    failed_applies = []
    try:
        for i in range(applies):
            Target.objects.filter(route=looped).update(port=port_b if i % 2 == 0 else port_a)
            revision = operations.apply(publisher=publisher)
            if revision.status != Revision.Status.APPLIED:
                failed_applies.append(revision.message)
            bare.write(bare_files(revision.files))
            bare.nginx("-t")
            bare.nginx("-s", "reload")
    finally:
        for loop in loops:
            loop.stop()
    portico, baseline = loops
    note = f"{portico.total} requests through Portico's nginx, {baseline.total} through the bare one"
    if failed_applies:
        note += f"; {len(failed_applies)} applies failed: {failed_applies[0][:120]}"
    if portico.failures:
        note += f"; first failure: {portico.failures[0][:120]}"
    row = Row(f"failed requests during {applies} applies", len(portico.failures), len(baseline.failures),
              f"during {applies} bare reloads", unit="requests", limit=0, samples=applies, note=note,
              peak_rss_mb=peak_rss_mb(), invalid=f"{len(failed_applies)} applies failed" if failed_applies else "")  # fmt: skip
    bare.stop()
    managed.stop()
    emit([row])
    shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
