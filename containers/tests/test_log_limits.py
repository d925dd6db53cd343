"""Every log read that pages and the API answer is bounded by lines and by bytes and says when it was cut; only the
download reads a whole log, and it streams it in bounded writes."""

from __future__ import annotations

import re

import pytest

from containers.logs import DOWNLOAD_CHUNK, LogLine, line_size
from tests.support import wait_for_log

pytestmark = pytest.mark.django_db

LINES = 40_000
PAD = "x" * 80
# About 4 MB of log: each line says its number, then padding.
BIG = f"seq 1 {LINES} | sed 's/^/big-line-/; s/$/ {PAD}/'; echo BIG-END; sleep 120"


@pytest.fixture
def big_log(run_container):
    container = run_container(["sh", "-c", BIG])
    wait_for_log(container, "BIG-END", timeout=60)
    return container


def _number(text: str) -> int:
    return int(re.match(r"big-line-(\d+) ", text).group(1))


def _size(rows: list[dict]) -> int:
    return sum(line_size(LogLine(ts=r["ts"], stream=r["stream"], text=r["text"])) for r in rows)


def _route(domain: str, host: str):
    from routes.models import Domain, Route, Target

    d, _ = Domain.objects.get_or_create(name=domain)
    Target.objects.create(route=Route.objects.create(domain=d, path="/"), host=host, port=80)


def test_tail_all_through_the_api_keeps_the_newest_lines_within_the_byte_limit_and_says_so(
    api_client, viewer_user, big_log, settings
):
    settings.PORTICO_LOG_MAX_BYTES = 256 * 1024
    response = api_client(viewer_user).get(f"/api/v1/containers/{big_log.name}/logs", {"tail": "all"})
    assert response.status_code == 200
    rows = response.json()
    assert _size(rows) <= 256 * 1024
    assert len(response.content) < 2 * 256 * 1024  # the answer itself, not only the lines, is bounded
    assert rows[-1]["text"] == "BIG-END"
    numbers = [_number(r["text"]) for r in rows[:-1]]
    assert numbers == list(range(numbers[0], LINES + 1))  # the newest lines, none skipped
    assert numbers[0] > 1
    assert "Older lines were left out" in response["X-Log-Truncated"]
    assert "download" in response["X-Log-Truncated"]


def test_the_line_limit_holds_for_any_tail_and_a_tail_asked_for_is_not_a_truncation(
    api_client, viewer_user, big_log, settings
):
    settings.PORTICO_LOG_MAX_LINES = 1000
    api = api_client(viewer_user)
    for tail in ("all", "5000"):
        response = api.get(f"/api/v1/containers/{big_log.name}/logs", {"tail": tail})
        rows = response.json()
        assert len(rows) == 1000
        assert rows[-1]["text"] == "BIG-END" and _number(rows[0]["text"]) == LINES - 998
        assert "X-Log-Truncated" in response
    # A search scans the whole log and keeps the newest matches, bounded the same way.
    found = api.get(f"/api/v1/containers/{big_log.name}/logs", {"tail": "all", "q": "0 x"})
    assert len(found.json()) == 1000 and "X-Log-Truncated" in found
    asked = api.get(f"/api/v1/containers/{big_log.name}/logs", {"tail": "50"})
    assert len(asked.json()) == 50 and "X-Log-Truncated" not in asked


def test_the_logs_page_shows_a_bounded_read_says_it_was_cut_and_links_the_whole_download(
    client, viewer_user, big_log, settings
):
    settings.PORTICO_LOG_MAX_LINES = 500
    client.force_login(viewer_user)
    html = client.get(
        f"/containers/c/{big_log.name}/logs/", {"tail": "all"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert html.count('<div class="line ') == 500
    assert 'data-testid="log-truncated"' in html and "Older lines are not shown" in html
    link = re.search(r'data-testid="log-truncated">[^<]*<a href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link.startswith(f"/containers/c/{big_log.name}/logs/download/?") and "tail=all" in link
    download = client.get(link)
    assert download.streaming
    assert b"".join(download.streaming_content).count(b"big-line-") == LINES
    page = client.get(f"/containers/c/{big_log.name}/").content.decode()
    assert 'data-testid="download-all"' in page  # a plain link: works without JavaScript


def test_domain_logs_are_bounded_in_the_api_and_the_page(client, api_client, viewer_user, big_log, settings):
    settings.PORTICO_LOG_MAX_BYTES = 128 * 1024
    _route("biglog.test", big_log.name)
    response = api_client(viewer_user).get("/api/v1/domain-logs/biglog.test", {"tail": "all"})
    rows = response.json()
    assert _size(rows) <= 128 * 1024 and rows[-1]["text"] == "BIG-END"
    assert "X-Log-Truncated" in response
    client.force_login(viewer_user)
    html = client.get("/containers/domains/biglog.test/logs/", {"tail": "all"}).content.decode()
    assert 'data-testid="log-truncated"' in html
    assert html.count('<div class="line ') < 128 * 1024 // 100


def _streamed(response) -> tuple[bytes, int]:
    assert response.streaming, "a download must be a streaming response"
    chunks = list(response.streaming_content)
    biggest = max(len(chunk) for chunk in chunks)
    return b"".join(chunks), biggest


@pytest.mark.parametrize("where", ["api", "page"])
def test_the_download_streams_the_whole_log_in_bounded_writes(client, api_client, viewer_user, big_log, where):
    if where == "api":
        response = api_client(viewer_user).get(f"/api/v1/containers/{big_log.name}/logs/download")
    else:
        client.force_login(viewer_user)
        response = client.get(f"/containers/c/{big_log.name}/logs/download/", {"tail": "all"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{big_log.name}.log"'
    body, biggest = _streamed(response)
    lines = body.decode().splitlines()
    assert len(lines) == LINES + 1
    assert lines[0].endswith(f" stdout big-line-1 {PAD}") and lines[-1].endswith(" stdout BIG-END")
    assert biggest <= DOWNLOAD_CHUNK  # one write at a time, never the whole log
    assert len(body) > 50 * DOWNLOAD_CHUNK


def test_the_domain_download_streams_every_line_of_every_container(client, api_client, viewer_user, big_log):
    _route("bigdl.test", big_log.name)
    response = api_client(viewer_user).get("/api/v1/domain-logs/bigdl.test/download", {"timestamps": "false"})
    body, biggest = _streamed(response)
    lines = body.decode().splitlines()
    assert len(lines) == LINES + 1 and lines[-1] == f"stdout {big_log.name} BIG-END"
    assert biggest <= DOWNLOAD_CHUNK
    client.force_login(viewer_user)
    page = client.get("/containers/domains/bigdl.test/logs/", {"download": "1", "tail": "all"})
    body, biggest = _streamed(page)
    assert body.count(b"big-line-") == LINES and biggest <= DOWNLOAD_CHUNK


def test_under_asgi_the_download_is_an_async_stream_in_bounded_writes(big_log):
    """Django reads a blocking iterator whole before sending it under ASGI: there the download must be async."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncRequestFactory

    from containers.api import download_response
    from containers.docker.client import DockerClient
    from containers.logs import LogQuery, as_text, iter_logs

    request = AsyncRequestFactory().get(f"/api/v1/containers/{big_log.name}/logs/download")
    response = download_response(
        request, big_log.name, as_text(iter_logs(DockerClient(), big_log.id, LogQuery(tail=None)))
    )
    assert response.is_async

    async def read():
        return [chunk async for chunk in response.streaming_content]

    chunks = async_to_sync(read)()
    assert max(len(chunk) for chunk in chunks) <= DOWNLOAD_CHUNK
    assert b"".join(chunks).count(b"big-line-") == LINES
