"""The benchmarks cannot rot: ``python -m bench --quick --only apply`` runs one small case end to end.

Not a timing test: it asserts that the run produces a table row whose ratio or count is a number.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import need, nginx_bin

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_apply_produces_a_row_with_a_numeric_ratio(tmp_path):
    if not nginx_bin():
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    out = tmp_path / "quick.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PORTICO_VAR_DIR", "DATABASE_URL")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "apply", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    apply = next(r for r in rows if r["name"].startswith("apply 100 domains"))
    assert isinstance(apply["portico"], float) and apply["portico"] > 0
    assert isinstance(apply["ratio"], float) and apply["ratio"] > 0
    assert "apply 100 domains (all changed)" in proc.stdout  # the printed table has the row
