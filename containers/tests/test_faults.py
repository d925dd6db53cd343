"""Fault test (issue 8): dockerd stops while a log stream is open.

A second dockerd of the test's own (own socket, data root, exec root and pidfile under a temporary directory)
is stopped mid-stream, so the shared engine other tests use stays up. The stream must end with a message,
the pages must degrade (reason on the page, 503 from the API) and recover when dockerd is back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from containers.tests.dockerd import SecondDockerd
from tests.support import need

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_dockerd(docker_sdk, test_image):
    if not shutil.which("dockerd") or os.geteuid() != 0:
        need("a second dockerd", "dockerd is missing or the tests do not run as root")
    root = Path(tempfile.mkdtemp(prefix="pd2-", dir="/tmp"))  # short: a unix socket path is limited to 108 bytes
    daemon = SecondDockerd(root)
    daemon.start()
    daemon.load_image(docker_sdk, test_image)
    yield daemon
    daemon.remove_containers()
    daemon.stop()
    shutil.rmtree(root, ignore_errors=True)


def _events(response):
    buffer = b""
    for chunk in response.streaming_content:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.decode().splitlines() if line and not line.startswith(":")
            )
            if "event" in fields:
                yield fields["event"], json.loads(fields["data"])


def test_dockerd_stopping_during_a_log_stream_ends_it_with_a_message_and_pages_recover(
    second_dockerd, api_client, client, admin_user, run_container
):
    import docker

    from containers.models import Engine

    Engine.objects.create(name="second", url=second_dockerd.url)
    local_container = run_container(["sleep", "120"])
    sdk = docker.DockerClient(base_url=second_dockerd.url, timeout=120)  # a loaded CI machine starts containers slowly
    ticker = sdk.containers.run(
        "portico-test/busybox:1",
        ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"],
        name="portico-fault-ticker",
        network_mode="none",
        detach=True,
        init=True,
    )
    sdk.close()
    api = api_client(admin_user)
    response = api.get("/api/v1/containers/portico-fault-ticker/logs/follow", {"engine": "second"})
    assert response.status_code == 200

    watchdog = threading.Timer(60, response.close)  # never hang the suite
    watchdog.start()
    stopper = None
    lines, end = [], None
    try:
        for kind, data in _events(response):
            if kind == "line":
                lines.append(data["text"])
                if stopper is None:
                    stopper = threading.Thread(target=second_dockerd.stop)
                    stopper.start()
            elif kind == "end":
                end = data["message"]
                break
    finally:
        watchdog.cancel()
        response.close()
        if stopper is not None:
            stopper.join(timeout=40)
    assert lines and lines[0].startswith("tick-")
    assert end, "the stream ended without a message"
    assert any(words in end for words in ("Docker engine went away", "log stream broke", "container stopped")), end
    assert second_dockerd.proc.poll() is not None  # it really stopped

    # Pages degrade: the reason and a fix hint for that engine, the local engine still listed; the API says 503.
    client.force_login(admin_user)
    html = client.get("/containers/").content.decode()
    assert 'data-testid="engine-second"' in html
    assert "no Docker socket" in html or "connection refused" in html.lower()
    assert local_container.name in html
    assert api.get("/api/v1/containers", {"engine": "second"}).status_code == 503
    assert api.get("/api/v1/containers", {"engine": "local"}).status_code == 200

    # dockerd comes back: the same pages work again, with no restart of Portico.
    second_dockerd.start()
    rows = api.get("/api/v1/containers", {"engine": "second"}).json()["items"]
    assert [r["name"] for r in rows] == ["portico-fault-ticker"]
    html = client.get("/containers/", {"engine": "second"}).content.decode()
    assert "portico-fault-ticker" in html and 'data-testid="engine-error"' not in html
    assert ticker.id  # created on the second engine, removed with it
