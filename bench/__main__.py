"""Run every benchmark and print one table: ``python -m bench [--quick] [--only NAME ...] [--json FILE]``.

Each benchmark runs in a process of its own (so its peak memory is its own) and prints BENCH-ROW lines;
this collects them, prints the table and the machine it ran on, and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT

# name -> (full-run arguments, quick-run arguments); each entry is one process: python -m bench.<module> ARGS
SUITE: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "apply": [
        ("bench.apply", ["100", "5", "--one-change", "--render"], ["100", "2", "--one-change", "--render"]),
        ("bench.apply", ["1000", "5", "--one-change", "--render"], []),
        ("bench.apply", ["3000", "3", "--render"], []),
    ],
    "containers": [("bench.containers", ["300", "7"], ["20", "2"])],
    "logs": [("bench.logs", ["200000", "100000", "5", "200000"], ["5000", "2000", "2", "20000"])],
    "api": [("bench.api", ["8", "3"], ["2", "1"])],
    "downtime": [("bench.downtime", ["50", "20"], ["5", "5"])],
}


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(*argv: str) -> str:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "missing"
        return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else "?"

    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = f"{int(Path('/proc/meminfo').read_text().split()[1]) // 1024} MiB"
    return {
        "cpu": f"{cpu} x {os.cpu_count()}",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "nginx": version("nginx", "-v"),
        "docker": version("docker", "version", "--format", "engine {{.Server.Version}} (API {{.Server.APIVersion}})"),
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def fmt(value, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit in ("req/s", "lines/s"):
        return f"{value:,.0f} {unit}"
    return f"{value:g} {unit}"


def table(rows: list[dict]) -> str:
    header = ["benchmark", "Portico (median)", "baseline (median)", "ratio", "target", "met?", "peak RSS"]
    lines = []
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        if r.get("limit") is not None:
            target = f"<= {r['limit']:g}"
        elif r["target"] is not None:
            target = f"<= {r['target']:g}x"
        else:
            target = ""
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        rss = "-" if r["peak_rss_mb"] is None or math.isnan(r["peak_rss_mb"]) else f"{r['peak_rss_mb']:.0f} MB"
        baseline = fmt(r["baseline"], r["unit"])
        if r["baseline_name"] and r["baseline"] is not None:
            baseline += f" ({r['baseline_name']})"
        lines.append([r["name"], fmt(r["portico"], r["unit"]), baseline, ratio, target, met, rss])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    notes = [f"- {r['name'].strip()}: {r['note']}" for r in rows if r["note"]]
    notes += [f"- {r['name'].strip()}: NOT VALID: {r['invalid']}" for r in rows if r.get("invalid")]
    return "\n".join(out + ([""] + notes if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs (a minute or two)")
    parser.add_argument("--only", action="append", choices=sorted(SUITE), help="run only this benchmark (repeatable)")
    parser.add_argument("--json", help="also write the results here (default bench/results/latest.json)")
    args = parser.parse_args()
    info = machine()
    started = time.monotonic()
    rows: list[dict] = []
    failures: list[str] = []
    for name in args.only or list(SUITE):
        for module, full, quick in SUITE[name]:
            argv = quick if args.quick else full
            if args.quick and not argv:
                continue
            print(f"==> {module} {' '.join(argv)}", file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, capture_output=True, text=True,
                                  timeout=1800)  # fmt: skip
            got = [json.loads(line[len("BENCH-ROW ") :]) for line in proc.stdout.splitlines()
                   if line.startswith("BENCH-ROW ")]  # fmt: skip
            rows += got
            if proc.returncode != 0 or not got:
                failures.append(f"{module} {' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
                print(failures[-1], file=sys.stderr, flush=True)
    info["load average at end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print()
    for key, value in info.items():
        print(f"{key}: {value}")
    print()
    print(table(rows))
    out = Path(args.json) if args.json else ROOT / "bench" / "results" / ("quick.json" if args.quick else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows, "failures": failures}, indent=1))
    print(f"\nresults: {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
