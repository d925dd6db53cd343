"""Streamed answers the containers pages and the API share: log downloads and live follows (server-sent events).

Both transports call these, so a follow takes its slot, checks its containers and answers alike from either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from containers.engines import EngineRef, client_for
from containers.follow import FollowBody, slots
from containers.logs import LogQuery, as_text, iter_logs


def download_response(request: HttpRequest, name: str, chunks: Iterator[bytes]) -> StreamingHttpResponse:
    """A streamed text/plain attachment named after ``name`` (64 KiB writes; memory stays flat).

    Under ASGI Django would read a blocking iterator whole before sending it, so there it becomes an async one
    whose reads run in the event loop's thread pool, one write at a time."""
    content = _in_threads(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/plain; charset=utf-8")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "logs"
    response["Content-Disposition"] = f'attachment; filename="{safe}.log"'
    return response


async def _in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    end = b""  # as_text never yields an empty write
    try:
        while chunk := await asyncio.to_thread(next, chunks, end):
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


def sse_response(request: HttpRequest, body: FollowBody) -> StreamingHttpResponse:
    """A text/event-stream response that proxies must not buffer; async under ASGI (no thread per stream)."""
    content = body if isinstance(request, ASGIRequest) else body.sync()
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def open_follow(request: HttpRequest, sources: list[tuple[EngineRef, str]], tail: int = 0) -> FollowBody:
    """Take one of the user's stream slots and check every container now (unknown: ContainerNotFound, engine
    down: DockerUnavailable), so those answer before the stream starts; raises TooManyStreams without a slot."""
    user_key = f"user-{request.user.pk}" if request.user.is_authenticated else None
    slot = slots.acquire(user_key)
    try:
        follows = []
        for engine, ref in sources:
            client = client_for(engine)
            detail = client.container(ref)
            follows.append(client.follow(detail.id, name=detail.name, tty=detail.tty, tail=tail))
    except BaseException:
        slot.release()
        raise
    return FollowBody(follows, slot)


def container_download(
    request: HttpRequest, engine: EngineRef, ref: str, query: LogQuery, timestamps: bool
) -> StreamingHttpResponse:
    """A container's log as a text file named after it, every line ``query`` selects (streamed). The container is
    inspected now, so an unknown one (ContainerNotFound) or a dead engine (DockerUnavailable) answers at once."""
    client = client_for(engine)
    detail = client.container(ref)
    return download_response(request, detail.name, as_text(iter_logs(client, detail.id, query), timestamps))
