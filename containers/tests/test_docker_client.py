"""DockerClient against the real engine: one call for the list, typed results, logs split by stream."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading

import pytest

from containers.docker.client import ContainerNotFound, DockerClient, DockerUnavailable
from tests.support import wait_for_log

MANY = 200


@pytest.fixture(scope="module")
def many_containers(docker_sdk, test_image):
    """200 running containers (network none, sleeping), created in parallel and removed afterwards."""
    label = f"portico.many={os.getpid()}"

    def run(i: int):
        return docker_sdk.containers.run(
            test_image,
            ["sleep", "600"],
            name=f"portico-many-{os.getpid()}-{i:03d}",
            network_mode="none",
            detach=True,
            init=True,
            labels={"portico.test": "1", "portico.many": str(os.getpid())},
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(run, range(MANY)))
    yield label

    def remove(container) -> None:
        with contextlib.suppress(Exception):
            container.remove(force=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(remove, made))


def _count_requests(client: DockerClient) -> list[str]:
    """Record every HTTP request the SDK sends to the engine from now on."""
    api = client.sdk.api  # created (and its API version asked) before counting starts
    sent: list[str] = []
    original = api.send

    def send(request, **kwargs):
        sent.append(f"{request.method} {request.path_url}")
        return original(request, **kwargs)

    api.send = send
    return sent


def test_two_hundred_containers_are_listed_with_one_engine_call(many_containers, settings):
    client = DockerClient()
    sent = _count_requests(client)
    infos = client.list_containers(label=many_containers)
    assert len(infos) == MANY
    assert all(c.state == "running" and c.networks == ["none"] for c in infos)
    assert len(sent) == 1, sent
    assert sent[0].startswith("GET /v1.41/containers/json?all=1") or "/containers/json" in sent[0]
    # The unfiltered list is one call as well.
    sent.clear()
    assert len(client.list_containers()) >= MANY
    assert len(sent) == 1, sent


def test_an_unknown_container_raises_our_error():
    with pytest.raises(ContainerNotFound):
        DockerClient().container("portico-surely-missing")


def test_a_dead_socket_raises_unavailable_with_a_reason(tmp_path):
    client = DockerClient(url=f"unix://{tmp_path}/none.sock", timeout=2)
    with pytest.raises(DockerUnavailable) as caught:
        client.list_containers()
    assert "no Docker socket" in caught.value.reason
    assert "dockerd" in caught.value.reason


def test_long_lines_are_joined_and_stdout_stderr_kept_apart(run_container):
    # Docker splits lines over 16 KiB into several messages; we give them back whole.
    container = run_container(
        ["sh", "-c", "printf 'x%.0s' $(seq 1 40000); echo; sleep 0.2; echo short >&2; sleep 0.2; echo END; sleep 60"]
    )
    wait_for_log(container, "END")
    lines = list(DockerClient().logs(container.name, tail=None))
    assert [len(x.text) for x in lines] == [40000, 5, 3]
    assert [x.stream for x in lines] == ["stdout", "stderr", "stdout"]


def _run(coroutine):
    """asyncio.run in a thread of its own: the browser tests leave a running loop in the test thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _follow(client, ref: str, until=None, **kwargs):
    """Open an AsyncLogFollow on the container and collect its lines (until ``until`` returns true)."""
    detail = client.container(ref)
    follow = client.follow(detail.id, name=detail.name, tty=detail.tty, **kwargs)
    await follow.open()
    got = []
    try:
        async for batch in follow.batches():
            got.extend(batch)
            if until and until(got):
                break
    finally:
        await follow.aclose()
    return follow, got


def test_follow_gets_new_lines_and_ends_when_the_container_stops(run_container, docker_sdk):
    container = run_container(
        [
            "sh",
            "-c",
            "echo old; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo new-1; sleep 0.2; echo new-2 >&2; sleep 1",
        ]
    )
    wait_for_log(container, "old")
    threading.Timer(0.5, lambda: container.exec_run(["touch", "/tmp/go"])).start()
    follow, got = _run(asyncio.wait_for(_follow(DockerClient(), container.name), 20))
    assert [(x.stream, x.text) for x in got] == [("stdout", "new-1"), ("stderr", "new-2")]
    assert "stopped" in follow.end_reason


def test_a_follow_reads_a_tty_container_and_the_last_lines_first(run_container):
    container = run_container(["sh", "-c", "echo one; echo two; sleep 60"], tty=True)
    wait_for_log(container, "two")
    _follow_, got = _run(asyncio.wait_for(_follow(DockerClient(), container.name, tail=1, until=lambda got: got), 20))
    assert [(x.stream, x.text) for x in got] == [("stdout", "two")]


def test_closing_a_follow_ends_it_without_a_reason(run_container):
    container = run_container(["sleep", "60"])
    client = DockerClient()
    detail = client.container(container.name)

    async def scenario():
        follow = client.follow(detail.id, name=detail.name, tty=False)
        await follow.open()
        reader = asyncio.create_task(anext(follow.batches(), None))
        await asyncio.sleep(0.2)
        await follow.aclose()
        return follow, await asyncio.wait_for(reader, 5)

    follow, first = _run(scenario())
    assert first is None and follow.end_reason == ""


def test_an_async_follow_of_an_unknown_container_or_a_dead_engine_raises_our_errors(tmp_path):
    async def open_one(client):
        follow = client.follow("portico-no-such-container", name="x", tty=False)
        try:
            await follow.open()
        finally:
            await follow.aclose()

    with pytest.raises(ContainerNotFound):
        _run(open_one(DockerClient()))
    with pytest.raises(DockerUnavailable, match="no Docker socket"):
        _run(open_one(DockerClient(url=f"unix://{tmp_path}/missing.sock")))


@pytest.mark.django_db
def test_the_page_and_the_api_list_two_hundred_containers_with_one_engine_call(many_containers, client, viewer_user):
    from containers.engines import client_for, get_engine

    sent = _count_requests(client_for(get_engine()))
    client.force_login(viewer_user)
    page = client.get("/containers/")
    assert page.status_code == 200
    assert page.content.decode().count(f"portico-many-{os.getpid()}-") >= MANY
    assert len(sent) == 1, sent
    sent.clear()
    rows = client.get("/api/v1/containers", {"page_size": 500}).json()["items"]
    assert len([r for r in rows if r["name"].startswith(f"portico-many-{os.getpid()}-")]) == MANY
    assert len(sent) == 1, sent
