"""docs/api.md stays true: every ``sh`` block runs, in order, against a live Portico and its managed nginx.

The page's container names (myfront, mytaskapi, myuserapi) become echo servers on 127.0.0.1, so the test also
sees which path each backend received.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.support import free_port, need, nginx_bin

pytestmark = pytest.mark.nginx

DOC = Path(settings.BASE_DIR) / "docs" / "api.md"


def sh_blocks(text: str) -> list[str]:
    """The fenced ```sh blocks of a Markdown page, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_page_has_the_lecture_steps():
    blocks = sh_blocks(DOC.read_text())
    assert len(blocks) >= 9
    joined = "\n".join(blocks)
    for needle in ("/api/v1/routes", "/api/v1/plan", "/api/v1/apply", "/rollback", "If-Match", "Host: gctask.com"):
        assert needle in joined, needle


def test_the_api_walkthrough_runs_as_written(make_portico_server, echo_backend):
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    for tool in ("curl", "jq", "openssl"):
        if not shutil.which(tool):
            need(tool, f"docs/api.md uses {tool} (scripts/test installs it)")
    front, task, user = echo_backend("front"), echo_backend("task"), echo_backend("user")
    closed = free_port()  # the "wrong port" of step 6: nothing listens there
    proxy_port = free_port()
    server = make_portico_server(
        PORTICO_NGINX_MODE="managed",
        PORTICO_NGINX_BIN=binary,
        PORTICO_NGINX_LISTEN=f"127.0.0.1:{proxy_port}",
        PORTICO_NGINX_RESOLVER="127.0.0.1",
        PORTICO_PUBLISHER="nginx",
    )
    started = server.manage("nginx", "start")
    assert started.returncode == 0, started.stderr
    text = DOC.read_text()
    for name, port in (("myfront", front.port), ("mytaskapi", task.port), ("myuserapi", user.port)):
        text = text.replace(f'{{"host": "{name}", "port": 80}}', f'{{"host": "127.0.0.1", "port": {port}}}')
    text = text.replace('{"host": "myuserapi", "port": 8081}', f'{{"host": "127.0.0.1", "port": {closed}}}')
    blocks = sh_blocks(text)
    script = "set -euo pipefail\n" + "".join(f"echo '#### block {i}'\n{block}" for i, block in enumerate(blocks))
    env = {**server.env, "PORTICO": server.url, "PROXY": f"http://127.0.0.1:{proxy_port}", "HOME": str(server.var_dir)}
    try:
        run = subprocess.run(
            ["bash", "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        server.manage("nginx", "stop")
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n--- stderr ---\n{run.stderr[-4000:]}\n{server.log_tail()}"
    out = dict(re.findall(r"#### block (\d+)\n(.*?)(?=#### block |\Z)", run.stdout, flags=re.S))
    step = {n: out[str(i)] for i, n in enumerate(
        ["setup", "health", "create", "bad", "plan", "apply", "check", "mistake", "rollback", "audit", "config",
         "users"]
    )}  # fmt: skip
    assert len(blocks) == len(step)
    assert step["health"].strip() == "ok"
    assert step["create"].count('"version":1') == 3
    assert '"field":"path"' in step["bad"].replace(" ", "")
    assert "create portico-gctask.com.conf" in step["plan"]
    assert 'location "/task/"' in step["plan"]
    assert '"status":"applied"' in step["apply"]
    assert step["check"].split() == ["/", "->", "200", "/task/", "->", "200", "/user/", "->", "200"]
    # strip_prefix on /task/ and off on /user/: what each service really received.
    assert [r["path"] for r in front.requests] == ["/"]
    assert [r["path"] for r in task.requests] == ["/tasks"]
    assert user.requests[0]["path"] == "/user/me"
    assert "changed by someone else" in step["mistake"]  # the stale If-Match was refused
    assert '"status":"applied"' in step["mistake"]
    assert step["mistake"].rstrip().endswith("/user/  -> 502")
    assert '"status":"applied"' in step["rollback"] and '"rollback_of":' in step["rollback"]
    assert "/user/  -> 200" in step["rollback"]
    assert f'"port":{user.port}' in step["rollback"]
    assert "admin api route.update gctask.com/user/" in step["audit"]
    assert '"changed":false' in step["config"]
    assert re.search(r'exported state "[0-9a-f]{32}"', step["config"])  # the import was sent with its If-Match
    made = re.findall(r"^(student\d) ([0-9a-f]{18})$", step["users"], flags=re.M)
    assert [name for name, _pw in made] == ["student1", "student2", "student3"]
    assert step["users"].split()[-3:] == ["student1", "student2", "student3"]  # listed as viewers
    assert not (Path(settings.BASE_DIR) / "gctask.yaml").exists()
    assert not (Path(settings.BASE_DIR) / "export.headers").exists()
    assert os.environ.get("TOKEN") is None  # nothing leaked into the test process
