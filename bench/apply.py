"""Apply at scale: Portico's full apply (publishing.operations.apply against its managed nginx) against bare
``nginx -t`` + reload of the same files on a second nginx, interleaved, in one process per size.

Usage: python -m bench.apply DOMAINS RUNS [--one-change] [--profile FILE]
Every domain has three routes (/, /task/, /user/) proxied to tiny upstreams on 127.0.0.1. A "full" run
flips the target of every domain's "/" route between two upstreams, so every domain file changes; a
"one change" run flips one route of one domain. After each apply (and each bare reload) a request loop
measures when the change is served.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import Row, emit, free_port, interleave, median, peak_rss_mb, setup_django, start_backend, temp_dir


def get(port: int, host: str, path: str) -> str:
    """One request on a new connection (so a reload's new workers are reached as soon as they accept)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host, "Connection": "close"})
        response = conn.getresponse()
        return response.read().decode() if response.status == 200 else f"status {response.status}"
    except OSError as exc:
        return f"error {exc}"
    finally:
        conn.close()


def wait_served(port: int, host: str, path: str, want: str, timeout: float = 30) -> float:
    """Poll until ``host``+``path`` answers ``want``; returns the monotonic time it first did."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if get(port, host, path) == want:
            return time.perf_counter()
        time.sleep(0.002)
    raise TimeoutError(f"{host}{path} did not answer {want!r} within {timeout}s")


class Bare:
    """The baseline: a plain nginx whose site files are written and then ``nginx -t`` + ``nginx -s reload``."""

    def __init__(self, prefix: Path, binary: str):
        self.prefix = prefix
        self.binary = binary
        self.port = free_port()
        for sub in ("sites", "logs", "temp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        # After setup_django: publishing.nginx imports models (certificates), which need the app registry.
        from publishing.nginx.backends import HTTP_SETTINGS

        self.conf = prefix / "nginx.conf"
        self.conf.write_text(HTTP_SETTINGS.format(prefix=prefix) + f"    include {prefix}/sites/*.conf;\n}}\n")

    def nginx(self, *args: str) -> None:
        subprocess.run([self.binary, "-p", str(self.prefix), "-c", str(self.conf), *args], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            (self.prefix / "sites" / name).write_text(text)

    def stop(self) -> None:
        subprocess.run([self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-s", "quit"],
                       capture_output=True, timeout=30, check=False)  # fmt: skip


def start_both(var: Path):
    """Apply the database's routes to Portico's managed nginx, and start a bare nginx on the same files.

    Returns the managed nginx, its publisher, the bare nginx and the function that turns Portico's files into
    the bare one's (its own listen port). Both are stopped at exit too, so a failed measurement leaves none.
    """
    from publishing import operations
    from publishing.models import Revision
    from publishing.nginx.backends import ManagedNginx
    from publishing.nginx.process import listen_directive, nginx_binary

    managed = ManagedNginx()
    managed.start()
    atexit.register(managed.stop)
    publisher = operations.NginxPublisher(managed)
    first = operations.apply(publisher=publisher)
    assert first.status == Revision.Status.APPLIED, first.message

    bare = Bare(var / "bare", nginx_binary())
    listen = listen_directive()

    def bare_files(files: dict[str, str]) -> dict[str, str]:
        return {k: v.replace(f"listen {listen};", f"listen 127.0.0.1:{bare.port};") for k, v in files.items()}

    bare.write(bare_files(first.files))
    bare.nginx()  # start
    atexit.register(bare.stop)
    return managed, publisher, bare, bare_files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("domains", type=int)
    parser.add_argument("runs", type=int)
    parser.add_argument("--one-change", action="store_true", help="also measure one route changed")
    parser.add_argument("--render", action="store_true", help="also measure render only")
    parser.add_argument("--profile", help="write a cProfile of one full apply to this file")
    args = parser.parse_args()
    n = args.domains

    var = temp_dir(f"apply{n}")
    portico_port = free_port()
    setup_django(var, PORTICO_NGINX_LISTEN=f"127.0.0.1:{portico_port}", PORTICO_NGINX_MODE="managed")

    from publishing import operations
    from publishing.models import Revision
    from publishing.render import file_name
    from routes.models import Domain, Route, Target
    from routes.state import export_document

    port_a, _ = start_backend("A")
    port_b, _ = start_backend("B")
    names = [f"d{i:05d}.bench.test" for i in range(n)]
    Domain.objects.bulk_create([Domain(name=name) for name in names])
    domains = list(Domain.objects.order_by("name"))
    Route.objects.bulk_create([Route(domain=d, path=p) for d in domains for p in ("/", "/task/", "/user/")])
    Target.objects.bulk_create([Target(route=r, host="127.0.0.1", port=port_a) for r in Route.objects.all()])

    managed, publisher, bare, bare_files = start_both(var)

    probe_host = names[n // 2]
    rows: list[Row] = []
    served_p: list[float] = []
    served_b: list[float] = []

    def flip_all(i: int) -> str:
        answer, port = ("B", port_b) if i % 2 == 0 else ("A", port_a)
        Target.objects.filter(route__path="/").update(port=port)
        return answer

    def portico_full(i: int) -> float:
        answer = flip_all(i)
        start = time.perf_counter()
        revision = operations.apply(publisher=publisher)
        took = time.perf_counter() - start
        assert revision.status == Revision.Status.APPLIED, revision.message
        served_p.append(wait_served(portico_port, probe_host, "/", answer) - start)
        return took

    def bare_full(i: int) -> float:
        answer = "B" if i % 2 == 0 else "A"
        files = bare_files(Revision.objects.order_by("-number").first().files)
        start = time.perf_counter()
        bare.write(files)
        bare.nginx("-t")
        bare.nginx("-s", "reload")
        took = time.perf_counter() - start
        served_b.append(wait_served(bare.port, probe_host, "/", answer) - start)
        return took

    if args.profile:
        import cProfile

        flip_all(0)  # every domain changes
        cProfile.runctx("operations.apply(publisher=publisher)", globals(), locals(), args.profile)
        flip_all(1)
        operations.apply(publisher=publisher)

    p, b = interleave(portico_full, bare_full, args.runs)
    rows.append(Row(f"apply {n} domains (all changed)", median(p), median(b), "nginx -t + reload",
                    target=1.3 if n == 1000 else None, samples=len(p)))  # fmt: skip
    rows.append(Row(f"  served after apply, {n} domains", median(served_p), median(served_b),
                    "served after nginx -t + reload", samples=len(served_p),
                    note="start of apply/write until a request gets the new upstream"))  # fmt: skip

    if args.one_change:
        served_p.clear()
        served_b.clear()
        changed = names[n // 3]
        route = Route.objects.get(domain__name=changed, path="/task/")

        def portico_one(i: int) -> float:
            answer, port = ("B", port_b) if i % 2 == 0 else ("A", port_a)
            Target.objects.filter(route=route).update(port=port)
            start = time.perf_counter()
            revision = operations.apply(publisher=publisher)
            took = time.perf_counter() - start
            assert revision.status == Revision.Status.APPLIED, revision.message
            served_p.append(wait_served(portico_port, changed, "/task/", answer) - start)
            return took

        def bare_one(i: int) -> float:
            answer = "B" if i % 2 == 0 else "A"
            name = file_name(changed)
            text = bare_files({name: Revision.objects.order_by("-number").first().files[name]})
            start = time.perf_counter()
            bare.write(text)
            bare.nginx("-t")
            bare.nginx("-s", "reload")
            took = time.perf_counter() - start
            served_b.append(wait_served(bare.port, changed, "/task/", answer) - start)
            return took

        p, b = interleave(portico_one, bare_one, args.runs)
        rows.append(Row(f"apply 1 route changed of {n} domains", median(p), median(b), "nginx -t + reload",
                        samples=len(p)))  # fmt: skip
        rows.append(Row("  served after one change", median(served_p), median(served_b),
                        "served after nginx -t + reload", samples=len(served_p)))  # fmt: skip

    if args.render:
        from publishing import render

        def portico_render(_i: int) -> float:
            render._rendered.clear()  # cold: every domain rendered, as after a restart or when all changed
            start = time.perf_counter()
            publisher.render(export_document())
            return time.perf_counter() - start

        def bare_parse(_i: int) -> float:
            start = time.perf_counter()
            bare.nginx("-t")
            return time.perf_counter() - start

        p, b = interleave(portico_render, bare_parse, args.runs)
        rows.append(Row(f"render only, {n} domains", median(p), median(b), "nginx -t alone (parse)",
                        samples=len(p), note="database to config text, no I/O, per-domain cache emptied first"))  # fmt: skip

    rss = peak_rss_mb()
    for row in rows:
        row.peak_rss_mb = rss
    bare.stop()
    managed.stop()
    emit(rows)
    shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
