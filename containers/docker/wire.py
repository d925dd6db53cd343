"""Docker's log wire format and times, as pure code (no I/O of its own): read by the client, tested by properties.

A container's log arrives as an HTTP/1.1 chunked body (Dechunker) holding Docker's multiplexed frames (Demuxer: an
8-byte header per message, no frames for a TTY container), each message prefixed with an RFC 3339 time (split_ts);
LineAssembler joins messages Docker split at 16 KiB back into lines.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import re
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from containers.docker.types import LogLine

MAX_LINE = 64 * 1024  # a longer log line is cut here (and marked), so one runaway line cannot eat memory


def parse_time(value: str | None) -> datetime | None:
    """An engine's RFC 3339 time (inspect's Created, StartedAt...) in UTC; None for Docker's zero time or junk."""
    if not value or value.startswith("0001-01-01"):
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", value)
    if not match:
        return None
    frac = (match.group(2) or ".0")[1:7].ljust(6, "0")
    tz = match.group(3) or "Z"
    text = f"{match.group(1)}.{frac}{'+00:00' if tz == 'Z' else tz}"
    return datetime.fromisoformat(text).astimezone(UTC)


_STREAMS = {0: "stdout", 1: "stdout", 2: "stderr"}
_TS = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ")


def split_ts(payload: bytes) -> tuple[str, bytes]:
    """Docker prefixes every message with an RFC 3339 time; normalise it to 9 fraction digits."""
    # Fast path: Docker's usual fixed form, 2026-01-02T03:04:05.123456789Z (30 bytes) and a space.
    if len(payload) > 30 and payload[30] == 32 and payload[29] == 90 and payload[19] == 46:
        return payload[:30].decode("ascii", "replace"), payload[31:]
    match = _TS.match(payload)
    if not match:
        return "", payload
    frac = (match.group(2) or b"").ljust(9, b"0").decode()
    return f"{match.group(1).decode()}.{frac}Z", payload[match.end() :]


class LineAssembler:
    """Turns frames (stream, payload) into whole lines; Docker splits lines over 16 KiB into several messages."""

    def __init__(self, container: str):
        self.container = container
        self.partial: dict[str, tuple[str, bytearray]] = {}

    def feed(self, stream: str, payload: bytes) -> Iterator[LogLine]:
        # Fast path: one whole line in one message (the usual case) and nothing pending for this stream.
        if stream not in self.partial and payload.endswith(b"\n") and payload.count(b"\n") == 1:
            ts, text = split_ts(payload)
            yield self._line(ts, stream, text)
            return
        for piece in payload.splitlines(keepends=True):
            ts, text = split_ts(piece)
            if stream in self.partial:
                first_ts, buf = self.partial.pop(stream)
                ts = first_ts or ts
                ended = text.endswith(b"\n")
                buf += text[: max(0, MAX_LINE + 1 - len(buf))]  # past the cut, only where the line ends matters
                if ended and not buf.endswith(b"\n"):
                    buf += b"\n"
                text = bytes(buf)
            if not text.endswith(b"\n"):
                self.partial[stream] = (ts, bytearray(text))
                continue
            yield self._line(ts, stream, text)

    def flush(self) -> Iterator[LogLine]:
        for stream, (ts, buf) in list(self.partial.items()):
            yield self._line(ts, stream, bytes(buf))
        self.partial.clear()

    def _line(self, ts: str, stream: str, text: bytes) -> LogLine:
        text = text.rstrip(b"\r\n")
        cut = len(text) > MAX_LINE
        decoded = text[:MAX_LINE].decode("utf-8", errors="replace")
        return LogLine(ts=ts, stream=stream, text=decoded + (" [line cut]" if cut else ""), container=self.container)


def chunks(raw: Any) -> Iterator[bytes]:
    """Whatever bytes have arrived, as soon as they arrive (never waits for a full buffer)."""
    # urllib3's response wraps http.client's; reading the inner one skips a per-call layer. Docker sends one
    # HTTP chunk per log message, and http.client spends several calls on each: with the body untouched so
    # far, the chunked encoding is taken apart here instead, a whole read at a time (bench/logs.py).
    # Docker never compresses logs.
    inner = getattr(raw, "_fp", None)
    if (
        inner is not None
        and getattr(inner, "chunked", False)
        and getattr(inner, "chunk_left", 0) is None
        and hasattr(getattr(inner, "fp", None), "read1")
    ):
        yield from dechunked(inner.fp.read1)
        inner.close()  # the body is consumed: http.client must not read the socket again
        return
    source = inner if inner is not None and hasattr(inner, "read1") else raw
    read = source.read1 if hasattr(source, "read1") else source.read
    while True:
        chunk = read(65536)
        if not chunk:
            return
        yield chunk


class ChunkError(OSError):
    """The HTTP body broke off inside a chunk, or a chunk header was not one."""


class Dechunker:
    """The payload of an HTTP/1.1 chunked body (RFC 9112 7.1), from whatever bytes have arrived.

    ``feed`` returns the payload of every chunk completed so far (b"" if none); ``finished`` turns true at the
    last chunk. Chunk extensions and trailers are skipped. Raises ChunkError when a size line is malformed."""

    def __init__(self) -> None:
        self.buf = b""
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        buf = self.buf + data if self.buf else data
        pos = 0
        out: list[bytes] = []
        while not self.finished:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size_text = buf[pos:eol].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ChunkError(f"bad chunk size line {buf[pos:eol][:40]!r}") from None
            if size == 0:
                self.finished = True  # the last chunk; trailers (none from Docker) are left unread
                break
            start = eol + 2
            if len(buf) < start + size + 2:
                break
            out.append(buf[start : start + size])
            pos = start + size + 2
        self.buf = b"" if self.finished else buf[pos:]
        return b"".join(out)


def dechunked(read1: Callable[[int], bytes]) -> Iterator[bytes]:
    """The payload of a chunked body read with ``read1`` (what has arrived: at least one byte, or b"" at the
    end), one block per read. Raises ChunkError (an OSError) when the body ends early or a size line is bad."""
    decoder = Dechunker()
    while not decoder.finished:
        data = read1(65536)
        if not data:
            raise ChunkError("the response ended inside a chunk")
        payload = decoder.feed(data)
        if payload:
            yield payload


class Demuxer:
    """Docker's multiplexed log stream, split into (stream, payload) frames whatever chunks it is fed in.

    Each frame is an 8-byte header (stream, 0, 0, 0, big-endian size) and then the payload; a TTY container's
    stream has no frames (stdout and stderr are one raw stream)."""

    def __init__(self, tty: bool):
        self.tty = tty
        self.buf = bytearray()

    def feed(self, chunk: bytes) -> Iterator[tuple[str, bytes]]:
        if self.tty:
            if chunk:
                yield "stdout", chunk
            return
        buf = self.buf
        buf += chunk
        pos = 0
        while len(buf) - pos >= 8:
            stream_type, size = struct.unpack_from(">BxxxL", buf, pos)
            if len(buf) - pos - 8 < size:
                break
            yield _STREAMS.get(stream_type, "stdout"), bytes(buf[pos + 8 : pos + 8 + size])
            pos += 8 + size
        if pos:
            del buf[:pos]


def frames(raw: Any, tty: bool) -> Iterator[tuple[str, bytes]]:
    """Demultiplex Docker's log stream read from a blocking response (see Demuxer)."""
    demuxer = Demuxer(tty)
    for chunk in chunks(raw):
        yield from demuxer.feed(chunk)


class NanoTime(datetime):
    """A datetime that keeps the nanoseconds Docker prints (``nanos``: 0-999 beyond the microsecond)."""

    nanos: int = 0

    @classmethod
    def parse(cls, text: str) -> NanoTime:
        """RFC 3339 with up to 9 fraction digits; naive times are UTC. Raises ValueError."""
        match = re.fullmatch(r"(.+?T?[\d:]+)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?", text.strip().replace(" ", "T", 1))
        if not match:
            raise ValueError(text)
        digits = (match.group(2) or "").ljust(9, "0")
        zone = match.group(3) or "Z"
        base = datetime.fromisoformat(f"{match.group(1)}.{digits[:6]}{'+00:00' if zone == 'Z' else zone}")
        value = cls.fromtimestamp(0, UTC).replace(
            year=base.year,
            month=base.month,
            day=base.day,
            hour=base.hour,
            minute=base.minute,
            second=base.second,
            microsecond=base.microsecond,
        ) - (base.utcoffset() or timedelta(0))
        value.nanos = int(digits[6:])
        return value


def docker_time(value: datetime | None) -> str | None:
    """Docker's ``<seconds>.<nanoseconds>`` form, exact (no float rounding)."""
    if value is None:
        return None
    whole = calendar.timegm(value.astimezone(UTC).timetuple())
    return f"{whole}.{value.microsecond:06d}{getattr(value, 'nanos', 0):03d}"


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of an HTTP/1.1 response head; raises ValueError when it is not one."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(parts[1]), headers


def engine_message(body: str) -> str:
    """The ``message`` of an engine's JSON error body, or the body itself."""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(body).get("message") or body)
    return body.strip()[:300]
