"""Following logs live over server-sent events, on the event loop: no server thread waits while a log is quiet.

Portico is served under ASGI (docs/architecture.md says why). A follow response's body is ``FollowBody``, an
async iterator: the engine is read with ``AsyncLogFollow`` (asyncio), so an open stream costs a socket and a
coroutine, not one of the threads that pages need. When the client leaves, the server tells Django at once
(``http.disconnect``) and the body is cancelled: the engine connection is closed and the slot given back.
Under a WSGI server (the test client, ``live_server``) ``FollowBody.sync()`` runs the same coroutine on a loop of
its own, holding that request's thread as WSGI must.

Slots: at most PORTICO_MAX_LOG_STREAMS_PER_USER open follows per user across every process of this Portico (a
lock file per slot in VAR_DIR, held with flock while the stream is open: the kernel frees it if a process
dies), and PORTICO_MAX_LOG_STREAMS per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.conf import settings

from containers.docker.client import AsyncLogFollow, DockerError
from containers.docker.types import LogLine
from containers.logs import clean_text
from core.errors import OperationError

SSE_BATCH = 500  # lines sent in one write at most


class TooManyStreams(OperationError):
    """No follow slot is free (for this user, or in this process); ``message`` says which and what to do."""

    status = 429


class Slot:
    """One open follow: a place in the process's count and, for a user, a held lock file. ``release()`` is idempotent."""

    def __init__(self, slots: StreamSlots):
        self._slots = slots
        self.handle: int | None = None
        self.released = False

    def release(self) -> None:
        """Give the place back and drop the lock (closing the file drops its flock); safe from any thread."""
        handle = self._slots._give_back(self)
        if handle is not None:
            with contextlib.suppress(OSError):
                os.close(handle)


class StreamSlots:
    """Follow slots of this process (``open`` counts them) and of each user across processes (lock files)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def acquire(self, user_key: str | None) -> Slot:
        """A slot for one follow of ``user_key`` (None: no per-user cap); raises TooManyStreams."""
        with self._lock:
            if self.open >= settings.PORTICO_MAX_LOG_STREAMS:
                raise TooManyStreams(
                    "Portico is following as many logs as it may at once (PORTICO_MAX_LOG_STREAMS); "
                    "try again in a moment."
                )
            self.open += 1
        slot = Slot(self)
        if user_key is None:
            return slot
        try:
            slot.handle = self._user_lock(user_key)
        except BaseException:
            slot.release()
            raise
        return slot

    def _user_lock(self, user_key: str) -> int:
        cap = settings.PORTICO_MAX_LOG_STREAMS_PER_USER
        folder = settings.VAR_DIR / "log-streams"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for n in range(cap):
            handle = os.open(folder / f"{user_key}.{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            return handle
        raise TooManyStreams(
            f"Too many open log streams: you may have at most {cap} open at once. Stop following one "
            "(or close a tab that follows a log), then try again."
        )

    def _give_back(self, slot: Slot) -> int | None:
        """Count the slot out once; returns its lock file to close (None when there is none or it was done)."""
        with self._lock:
            if slot.released:
                return None
            slot.released = True
            self.open = max(0, self.open - 1)
            handle, slot.handle = slot.handle, None
            return handle


slots = StreamSlots()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _line_event(line: LogLine) -> bytes:
    # The same JSON as _sse would write, assembled by hand: this runs for every line (bench/logs.py). The stream
    # name is stdout or stderr (containers.docker.wire's frame table); everything else is encoded.
    ts, text, name = json.dumps(line.ts), json.dumps(clean_text(line.text)), json.dumps(line.container)
    return f'event: line\ndata: {{"ts": {ts}, "stream": "{line.stream}", "text": {text}, "container": {name}}}\n\n'.encode()


class FollowBody:
    """The body of a follow response: ``line`` events (``{"ts","stream","text","container"}``), a comment every
    heartbeat, and one ``end`` event with a message when the stream ends (a container stopped, the engine went
    away, or no line came for PORTICO_LOG_IDLE_SECONDS). ``close()`` (from any thread) stops the readers and
    gives the slot back; it runs however the response ends.
    """

    def __init__(
        self, follows: list[AsyncLogFollow], slot: Slot, *, heartbeat: float = 10.0, idle: float | None = None
    ):
        self.follows = follows
        self.slot = slot
        self.heartbeat = heartbeat
        self.idle = idle if idle is not None else settings.PORTICO_LOG_IDLE_SECONDS
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _pump(
        self,
        follow: AsyncLogFollow,
        queue: asyncio.Queue[list[LogLine] | AsyncLogFollow],
        opened: asyncio.Future[None],
    ) -> None:
        try:
            try:
                try:
                    await follow.open()
                finally:
                    opened.set_result(None)
                async for batch in follow.batches():
                    await queue.put(batch)  # a full queue means a slow client: wait for it
            except DockerError as exc:
                follow.end_reason = follow.end_reason or exc.reason
            await queue.put(follow)  # the follow itself says it has ended
        finally:
            await follow.aclose()

    async def _events(self) -> AsyncIterator[bytes]:
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[LogLine] | AsyncLogFollow] = asyncio.Queue(maxsize=64)
        try:
            opened = [self._loop.create_future() for _ in self.follows]
            self._tasks = [
                asyncio.create_task(self._pump(follow, queue, done))
                for follow, done in zip(self.follows, opened, strict=True)
            ]
            # "connected" means the engine follows now: a line printed after it is not missed.
            await asyncio.gather(*opened)
            yield b": connected\n\n"
            running = len(self.follows)
            reasons: list[str] = []
            last_line = self._loop.time()
            while running:
                quiet = self._loop.time() - last_line
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(0.0, min(self.heartbeat, self.idle - quiet)))
                except TimeoutError:
                    if self._loop.time() - last_line >= self.idle:
                        reasons.append(
                            f"no new lines for {int(self.idle)} s; the stream was closed (follow again to resume)"
                        )
                        break
                    yield b": keep-alive\n\n"
                    continue
                # Whatever else is queued goes out in the same write (bench/logs.py measures the rate).
                events: list[bytes] = []
                while True:
                    if isinstance(item, AsyncLogFollow):
                        running -= 1
                        reason = item.end_reason or "the log stream ended"
                        reasons.append(f"{item.name}: {reason}" if len(self.follows) > 1 else reason)
                    else:
                        last_line = self._loop.time()
                        events.extend(_line_event(line) for line in item)
                    if not running or len(events) >= SSE_BATCH:
                        break
                    try:
                        item = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                if events:
                    yield b"".join(events)
            yield _sse("end", {"message": "; ".join(reasons) or "the log stream ended"})
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5)
            self.slot.release()

    def close(self) -> None:
        """Stop the readers and give the slot back; safe from any thread and more than once."""
        self.slot.release()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    def sync(self) -> SyncFollow:
        """The same body for a WSGI server: the coroutine runs on a loop of its own in the request's thread."""
        return SyncFollow(self)


class SyncFollow:
    """Iterates a FollowBody from blocking code; ``close()`` from another thread stops a read that waits."""

    def __init__(self, body: FollowBody):
        self._body = body
        self._loop = asyncio.new_event_loop()
        self._events = body.__aiter__()
        self._step: asyncio.Future[bytes] | None = None
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        self._step = asyncio.ensure_future(self._events.__anext__(), loop=self._loop)
        try:
            return self._loop.run_until_complete(self._step)
        except (StopAsyncIteration, asyncio.CancelledError):
            self._finish()
            raise StopIteration from None
        except BaseException:
            self._finish()
            raise
        finally:
            self._step = None

    def close(self) -> None:
        """End the stream; a read running in another thread is cancelled and finishes there."""
        if self._loop.is_running():
            step = self._step
            if step is not None:
                self._loop.call_soon_threadsafe(step.cancel)
            return
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._events.aclose())  # type: ignore[attr-defined]
        self._body.close()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()
