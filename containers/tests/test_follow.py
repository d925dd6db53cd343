"""Following logs over server-sent events: new lines arrive, streams are bounded, and they always end with a message."""

from __future__ import annotations

import json
import threading

import pytest

from tests.support import wait_for_log

pytestmark = pytest.mark.django_db


def read_events(response, until_end: bool = True, limit: int = 50, timeout: float = 20.0) -> list[tuple[str, dict]]:
    """Parse SSE events from a streaming response; a watchdog closes it if the test would hang."""
    watchdog = threading.Timer(timeout, response.close)
    watchdog.start()
    events = []
    try:
        buffer = b""
        for chunk in response.streaming_content:
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                fields = dict(
                    line.split(": ", 1) for line in block.decode().splitlines() if line and not line.startswith(":")
                )
                if "event" in fields:
                    events.append((fields["event"], json.loads(fields["data"])))
            if (until_end and events and events[-1][0] == "end") or len(events) >= limit:
                break
    finally:
        watchdog.cancel()
        response.close()
    return events


GATED = "echo before; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo 'after <b>1</b>'; sleep 0.2; echo after-2 >&2; sleep 0.5"


def test_follow_delivers_lines_printed_after_the_request_and_ends_with_a_message(
    api_client, viewer_user, run_container
):
    container = run_container(["sh", "-c", GATED])
    wait_for_log(container, "before")
    response = api_client(viewer_user).get(f"/api/v1/containers/{container.name}/logs/follow")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    threading.Timer(0.5, lambda: container.exec_run(["touch", "/tmp/go"])).start()
    events = read_events(response)
    lines = [data for kind, data in events if kind == "line"]
    assert [(x["stream"], x["text"]) for x in lines] == [("stdout", "after <b>1</b>"), ("stderr", "after-2")]
    assert events[-1][0] == "end"
    assert "stopped" in events[-1][1]["message"]


def test_open_streams_are_bounded_per_process(api_client, viewer_user, run_container, settings):
    from containers.follow import slots

    settings.PORTICO_MAX_LOG_STREAMS = 1
    container = run_container(["sleep", "60"])
    api = api_client(viewer_user)
    first = api.get(f"/api/v1/containers/{container.name}/logs/follow")
    assert first.status_code == 200
    assert slots.open == 1
    second = api.get(f"/api/v1/containers/{container.name}/logs/follow")
    assert second.status_code == 429
    assert "PORTICO_MAX_LOG_STREAMS" in second.json()["detail"]
    first.close()  # the client went away: the slot is free again
    assert slots.open == 0
    third = api.get(f"/api/v1/containers/{container.name}/logs/follow")
    assert third.status_code == 200
    third.close()


def test_each_user_follows_at_most_four_logs_and_hears_why(api_client, client, viewer_user, make_user, run_container):
    container = run_container(["sleep", "60"])
    api = api_client(viewer_user)
    url = f"/api/v1/containers/{container.name}/logs/follow"
    open_ = [api.get(url) for _ in range(4)]
    assert [r.status_code for r in open_] == [200] * 4
    refused = api.get(url)
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Too many open log streams: you may have at most 4 open at once. Stop following one (or close a "
        "tab that follows a log), then try again.",
        "errors": [],
    }
    # The page's stream URL counts for the same user, and says the same in plain text for the page to show.
    client.force_login(viewer_user)
    page = client.get(f"/containers/c/{container.name}/logs/follow/")
    assert page.status_code == 429 and "at most 4 open at once" in page.content.decode()
    # Another user is not affected.
    other = api_client(make_user("olga")).get(url)
    assert other.status_code == 200
    other.close()
    open_.pop().close()
    again = api.get(url)
    assert again.status_code == 200
    for response in [*open_, again]:
        response.close()


def test_an_idle_stream_ends_with_a_message(api_client, viewer_user, run_container, settings):
    settings.PORTICO_LOG_IDLE_SECONDS = 1
    container = run_container(["sleep", "60"])
    response = api_client(viewer_user).get(f"/api/v1/containers/{container.name}/logs/follow")
    events = read_events(response, timeout=10)
    assert events[-1][0] == "end"
    assert "no new lines for 1 s" in events[-1][1]["message"]
