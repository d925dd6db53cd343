"""Log reading for pages and the API: time parsing, ANSI stripping, server-side search, bounds and merging.

Following a log live is containers.follow.

Log text is untrusted. It leaves here with ANSI escape sequences and other control characters removed;
templates escape it and the page's script only ever sets ``textContent``.
"""

from __future__ import annotations

import heapq
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import regex
from django.conf import settings

from containers.docker.client import DockerClient
from containers.docker.types import LogLine
from containers.docker.wire import NanoTime

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
    client: DockerClient,
    ref: str,
    query: LogQuery,
    *,
    tail: int | None = None,
    tty: bool | None = None,
    name: str = "",
) -> Iterator[LogLine]:
    """The query's lines as they stream from the engine (searching scans the range); ``tail`` goes to the engine."""
    test = matcher(query.q, query.regex)
    lines = client.logs(
        ref,
        tail=None if test else tail,
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


LINE_OVERHEAD = 40  # bytes a line costs besides its text (timestamp, stream, separators), as in a download


def line_size(line: LogLine) -> int:
    """What the line weighs in an answer: its text in UTF-8 plus the timestamp and stream around it."""
    text = line.text
    return LINE_OVERHEAD + (len(text) if text.isascii() else len(text.encode()))


@dataclass
class LogRead:
    """A bounded read, oldest line first. ``truncated`` is "lines" or "bytes" when older lines were left out
    because the answer reached PORTICO_LOG_MAX_LINES or PORTICO_LOG_MAX_BYTES ("" when it holds all it asked)."""

    lines: list[LogLine]
    truncated: str = ""
    max_lines: int = 0
    max_bytes: int = 0

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def message(self) -> str:
        """Why lines are missing, in English (the API's X-Log-Truncated header); "" when none are."""
        if not self.truncated:
            return ""
        return (
            f"Older lines were left out: an answer holds at most {self.max_lines} lines and {self.max_bytes} bytes "
            "of log. Download the log (.../download?tail=all) for all of it."
        )


class _Window:
    """The newest lines added, at most ``lines`` of them and ``max_bytes`` in all; older ones drop off the front.

    ``tail`` is what the reader asked for: lines beyond it drop without counting as truncation."""

    def __init__(self, tail: int | None, max_lines: int, max_bytes: int):
        self.keep = min(tail, max_lines) if tail is not None else max_lines
        self.asked = tail is not None and tail <= max_lines
        self.max_bytes = max_bytes
        self.lines: deque[LogLine] = deque()
        self.sizes: deque[int] = deque()
        self.size = 0
        self.truncated = ""

    def add(self, line: LogLine) -> None:
        size = line_size(line)
        self.lines.append(line)
        self.sizes.append(size)
        self.size += size
        if len(self.lines) > self.keep:
            self._drop()
            if not self.asked:
                self.truncated = self.truncated or "lines"
        while self.size > self.max_bytes and self.lines:
            self._drop()
            self.truncated = "bytes"

    def _drop(self) -> None:
        self.lines.popleft()
        self.size -= self.sizes.popleft()


def _limits() -> tuple[int, int]:
    return settings.PORTICO_LOG_MAX_LINES, settings.PORTICO_LOG_MAX_BYTES


def read_logs(client: DockerClient, ref: str, query: LogQuery) -> LogRead:
    """The lines ``query`` asks for, oldest first, bounded by PORTICO_LOG_MAX_LINES and PORTICO_LOG_MAX_BYTES
    (the newest are kept; ``truncated`` says so). Memory stays within those bounds however long the log."""
    max_lines, max_bytes = _limits()
    window = _Window(query.tail, max_lines, max_bytes)
    # Without a search the engine sends only the tail; one line beyond the limit tells that more exist.
    engine_tail = window.keep if window.asked else max_lines + 1
    for line in _lines(client, ref, query, tail=engine_tail):
        window.add(line)
    return LogRead(list(window.lines), window.truncated, max_lines, max_bytes)


def iter_logs(client: DockerClient, ref: str, query: LogQuery) -> Iterator[LogLine]:
    """Every line the query asks for, streamed (for downloads: memory stays flat however long the log).

    The engine applies a number of lines itself; only the last N matches of a search need the bounded read."""
    if query.q and query.tail is not None:
        yield from _bounded(read_logs(client, ref, query))
    else:
        yield from _lines(client, ref, query, tail=query.tail)


def _bounded(read: LogRead) -> Iterator[LogLine]:
    yield from read.lines
    if read.truncated:  # a download must not look complete when it is not
        yield LogLine(ts="", stream="portico", text=read.message)


def merged_logs(sources: list[tuple[DockerClient, str]], query: LogQuery) -> LogRead:
    """Lines of several containers interleaved by time (each line names its container), bounded like read_logs;
    the tail and the limits apply to the merged result."""
    reads = [read_logs(client, ref, query) for client, ref in sources]
    # A container whose read was cut has no lines before its first kept one: older lines of the others would
    # make the merged log look complete there, so the merge starts at the latest such cut.
    cutoff = max((read.lines[0].ts for read in reads if read.truncated and read.lines), default="")
    max_lines, max_bytes = _limits()
    window = _Window(query.tail, max_lines, max_bytes)
    for line in heapq.merge(*(read.lines for read in reads), key=lambda line: line.ts):
        if line.ts >= cutoff:
            window.add(line)
    truncated = window.truncated or next((read.truncated for read in reads if read.truncated), "")
    return LogRead(list(window.lines), truncated, max_lines, max_bytes)


def iter_merged(sources: list[tuple[DockerClient, str]], query: LogQuery) -> Iterator[LogLine]:
    """Every line of several containers interleaved by time, streamed (for downloads); a number of lines
    needs the merged result first, so that case is the bounded read."""
    if query.tail is not None:
        yield from _bounded(merged_logs(sources, query))
        return
    streams = [_lines(client, ref, query) for client, ref in sources]
    yield from heapq.merge(*streams, key=lambda line: line.ts)


DOWNLOAD_CHUNK = 64 * 1024  # bytes per write of a download


def as_text(lines: Iterable[LogLine], timestamps: bool = True, with_container: bool = False) -> Iterator[bytes]:
    """Plain text for a download, ``<ts> <stream> [container] text`` per line, in writes of up to 64 KiB."""
    parts: list[bytes] = []
    size = 0
    for line in lines:
        fields = [line.ts] if timestamps and line.ts else []
        fields.append(line.stream)
        if with_container and line.container:
            fields.append(line.container)
        fields.append(line.text)
        data = (" ".join(fields) + "\n").encode()
        if parts and size + len(data) > DOWNLOAD_CHUNK:
            yield b"".join(parts)
            parts, size = [], 0
        parts.append(data)
        size += len(data)
    if parts:
        yield b"".join(parts)
