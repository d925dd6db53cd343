"""Log reading for pages and the API: time parsing, ANSI stripping, server-side search, merging and SSE follow.

Log text is untrusted. It leaves here with ANSI escape sequences and other control characters removed;
templates escape it and the page's script only ever sets ``textContent``.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import regex
from django.conf import settings

from containers.docker_client import DockerClient, DockerError, LogFollow, LogLine, NanoTime

MAX_PATTERN = 200  # characters in a search pattern
REGEX_LINE_TIMEOUT = 0.05  # seconds one line may take to match
SEARCH_BUDGET = 10.0  # seconds a whole search may take before it stops and says so
MAX_TAIL = 200_000

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class LogQueryError(ValueError):
    """Bad log query input; ``field`` names the parameter."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def clean_text(text: str) -> str:
    """Drop ANSI colour/cursor sequences and other control characters (tabs stay)."""
    if text.isprintable():  # the usual line: nothing to strip (checked in C, much faster than the regexes)
        return text
    return _CONTROL.sub("", _ANSI.sub("", text))


_RELATIVE = re.compile(r"(\d+)\s*(s|m|h|d)")


def parse_time(value: str | None, field: str) -> datetime | None:
    """``2026-01-02T03:04:05Z``, a date, UNIX seconds, or a relative age such as ``15m``, ``2h``, ``1d``."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    match = _RELATIVE.fullmatch(text)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    try:
        return NanoTime.parse(text)
    except ValueError:
        raise LogQueryError(
            field, "Use an ISO time (2026-01-02T03:04:05Z), UNIX seconds, or an age like 15m, 2h, 1d."
        ) from None


def matcher(q: str, use_regex: bool) -> Callable[[str], bool] | None:
    """A case-insensitive line test for ``q`` (substring, or a bounded regex); None when ``q`` is empty."""
    if not q:
        return None
    if len(q) > MAX_PATTERN:
        raise LogQueryError("q", f"Search text is limited to {MAX_PATTERN} characters.")
    if not use_regex:
        needle = q.casefold()
        return lambda text: needle in text.casefold()
    try:
        pattern = regex.compile(q, regex.IGNORECASE | regex.V0)
    except regex.error as exc:
        raise LogQueryError("q", f"Not a valid regular expression: {exc}") from None

    def test(text: str) -> bool:
        try:
            return pattern.search(text, timeout=REGEX_LINE_TIMEOUT) is not None
        except TimeoutError:
            raise LogQueryError("q", "This regular expression is too costly (it backtracks); simplify it.") from None

    return test


@dataclass
class LogQuery:
    """What to read: the last ``tail`` lines (of the matches when searching) in [since, until]."""

    tail: int | None = 200
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""
    regex: bool = False
    stream: str = ""  # "", stdout or stderr

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> LogQuery:
        """From a QueryDict or dict of strings; raises LogQueryError naming the field."""
        raw_tail = str(params.get("tail", "") or "").strip()
        if raw_tail in ("", None):
            tail: int | None = 200
        elif raw_tail == "all":
            tail = None
        elif raw_tail.isdigit() and int(raw_tail) <= MAX_TAIL:
            tail = int(raw_tail)
        else:
            raise LogQueryError("tail", f"Use a number of lines from 0 to {MAX_TAIL}, or 'all'.")
        stream = str(params.get("stream", "") or "").strip()
        if stream not in ("", "stdout", "stderr", "both"):
            raise LogQueryError("stream", "Use stdout, stderr or leave it empty for both.")
        query = cls(
            tail=tail,
            since=parse_time(params.get("since"), "since"),
            until=parse_time(params.get("until"), "until"),
            q=str(params.get("q", "") or ""),
            regex=str(params.get("regex", "")).lower() in ("1", "true", "on", "yes"),
            stream="" if stream == "both" else stream,
        )
        if query.since and query.until and query.since > query.until:
            raise LogQueryError("until", "'until' is before 'since'.")
        matcher(query.q, query.regex)  # validate now, not halfway through a stream
        return query


def _lines(
    client: DockerClient, ref: str, query: LogQuery, *, tty: bool | None = None, name: str = ""
) -> Iterator[LogLine]:
    test = matcher(query.q, query.regex)
    lines = client.logs(
        ref,
        # When searching, the time range is scanned and the tail applies to the matches.
        tail=None if test else query.tail,
        since=query.since,
        until=query.until,
        stdout=query.stream != "stderr",
        stderr=query.stream != "stdout",
        tty=tty,
        name=name,
    )
    started = time.monotonic()
    for line in lines:
        line.text = clean_text(line.text)
        if test is not None:
            if time.monotonic() - started > SEARCH_BUDGET:
                raise LogQueryError("q", f"The search took over {SEARCH_BUDGET:.0f} s: narrow the time range.")
            if not test(line.text):
                continue
        yield line


def read_logs(client: DockerClient, ref: str, query: LogQuery) -> list[LogLine]:
    """The lines ``query`` asks for, oldest first; memory is bounded by ``tail`` even when scanning everything."""
    kept: deque[LogLine] = deque(maxlen=query.tail) if query.tail is not None else deque()
    kept.extend(_lines(client, ref, query))
    return list(kept)


def iter_logs(client: DockerClient, ref: str, query: LogQuery) -> Iterator[LogLine]:
    """Like read_logs, but streamed (for downloads); without a search the engine applies the tail itself."""
    if query.q and query.tail is not None:
        yield from read_logs(client, ref, query)
    else:
        yield from _lines(client, ref, query)


def merged_logs(sources: list[tuple[DockerClient, str]], query: LogQuery) -> list[LogLine]:
    """Lines of several containers interleaved by time (each line names its container); the tail applies overall."""
    per_container = [read_logs(client, ref, query) for client, ref in sources]
    merged = heapq.merge(*per_container, key=lambda line: line.ts)
    kept: deque[LogLine] = deque(maxlen=query.tail) if query.tail is not None else deque()
    kept.extend(merged)
    return list(kept)


def as_text(lines: Iterable[LogLine], timestamps: bool = True, with_container: bool = False) -> Iterator[str]:
    """Plain text lines for a download: ``<ts> <stream> [container] text``."""
    for line in lines:
        parts = [line.ts] if timestamps else []
        parts.append(line.stream)
        if with_container:
            parts.append(line.container)
        parts.append(line.text)
        yield " ".join(parts) + "\n"


# --- following over server-sent events -------------------------------------------------


class StreamSlots:
    """At most PORTICO_MAX_LOG_STREAMS open follows per process: each one holds a server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def acquire(self) -> bool:
        with self._lock:
            if self.open >= settings.PORTICO_MAX_LOG_STREAMS:
                return False
            self.open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open = max(0, self.open - 1)


slots = StreamSlots()


SSE_BATCH = 500  # lines sent in one write at most


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class SseLogStream:
    """The body of a follow response: one reader thread per container feeds a bounded queue; this iterates it.

    Sends ``line`` events (``{"ts","stream","text","container"}``), a comment every heartbeat (so a closed
    browser is noticed), and one ``end`` event with a message when the stream ends: a container stopped, the
    engine went away, or no line came for PORTICO_LOG_IDLE_SECONDS. ``close()`` (called by the server when the
    client leaves) stops the readers and frees the slot.
    """

    _DONE = object()

    def __init__(self, follows: list[LogFollow], *, heartbeat: float = 15.0, idle: float | None = None):
        self.follows = follows
        self.heartbeat = heartbeat
        self.idle = idle if idle is not None else settings.PORTICO_LOG_IDLE_SECONDS
        # Log lines, and one (_DONE, follow) per reader when its follow has ended.
        self._queue: queue.Queue[LogLine | tuple[object, LogFollow]] = queue.Queue(maxsize=1000)
        self._closed = False
        self._released = False
        self._threads: list[threading.Thread] = []
        self._gen: Generator[bytes, None, None] | None = None

    def _put(self, item: LogLine | tuple[object, LogFollow]) -> bool:
        # A full queue means the client reads slowly: wait, but give up once the stream is closed.
        while not self._closed:
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, follow: LogFollow) -> None:
        try:
            for line in follow:
                if not self._put(line):
                    return
        except DockerError as exc:
            follow.end_reason = follow.end_reason or exc.reason
        finally:
            self._put((self._DONE, follow))

    def _events(self) -> Generator[bytes, None, None]:
        for follow in self.follows:
            thread = threading.Thread(target=self._read, args=(follow,), daemon=True, name="portico-log-follow")
            thread.start()
            self._threads.append(thread)
        yield b": connected\n\n"
        running = len(self.follows)
        reasons: list[str] = []
        last_line = time.monotonic()
        while running and not self._closed:
            try:
                item = self._queue.get(timeout=min(self.heartbeat, self.idle))
            except queue.Empty:
                if time.monotonic() - last_line >= self.idle:
                    reasons.append(
                        f"no new lines for {int(self.idle)} s; the stream was closed (follow again to resume)"
                    )
                    break
                yield b": keep-alive\n\n"
                continue
            # Whatever else is queued goes out in the same write: one send per line capped a fast container at
            # a few hundred lines per second (bench/logs.py measures it). Each line is still its own event.
            batch: list[bytes] = []
            while True:
                if isinstance(item, tuple):  # (_DONE, follow): one reader has finished
                    running -= 1
                    follow = item[1]
                    reason = follow.end_reason or "the log stream ended"
                    reasons.append(f"{follow.name}: {reason}" if len(self.follows) > 1 else reason)
                else:
                    last_line = time.monotonic()
                    batch.append(
                        _sse(
                            "line",
                            {
                                "ts": item.ts,
                                "stream": item.stream,
                                "text": clean_text(item.text),
                                "container": item.container,
                            },
                        )
                    )
                if not running or len(batch) >= SSE_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                yield b"".join(batch)
        yield _sse("end", {"message": "; ".join(reasons) or "the log stream ended"})

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._gen is None:
            self._gen = self._events()
        try:
            return next(self._gen)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """Stop every reader and give the slot back; safe to call more than once."""
        self._closed = True
        for follow in self.follows:
            with contextlib.suppress(Exception):
                follow.close()
        if self._gen is not None:
            with contextlib.suppress(Exception):
                self._gen.close()
        if not self._released:
            self._released = True
            slots.release()
