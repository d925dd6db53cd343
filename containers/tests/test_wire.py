"""Docker's log wire format (containers.docker.wire): the chunked decoder, the frames, the lines and the times,
whatever the messages and however the bytes arrive."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from containers.docker.wire import MAX_LINE, ChunkError, Demuxer, LineAssembler, NanoTime, dechunked, docker_time


def _encode(chunks: list[bytes], extension: bool = False) -> bytes:
    ext = b";name=value" if extension else b""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks if c)
    return body + b"0\r\n\r\n"


def _reader(data: bytes, cuts: list[int]):
    """read1 that hands out ``data`` in the pieces ``cuts`` makes, then b"" (the connection closed)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]

    def read1(_size: int) -> bytes:
        return pieces.pop(0) if pieces else b""

    return read1


@given(
    chunks=st.lists(st.binary(min_size=0, max_size=300), max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=30),
    extension=st.booleans(),
)
def test_any_split_of_any_chunked_body_gives_back_the_payload(chunks, cuts, extension):
    data = _encode(chunks, extension)
    assert b"".join(dechunked(_reader(data, cuts))) == b"".join(chunks)


def test_it_yields_what_has_arrived_without_waiting_for_more():
    # A follow must see a line as soon as its chunk is complete, not when the next read returns.
    pieces = [b"5\r\nhello\r\n", b"6\r\n world\r\n0\r\n\r\n"]
    got = []
    stream = dechunked(lambda _n: pieces.pop(0) if pieces else b"")
    got.append(next(stream))
    assert got == [b"hello"] and len(pieces) == 1
    assert list(stream) == [b" world"]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"5\r\nhel", "ended inside a chunk"),
        (b"5\r\nhello\r\n", "ended inside a chunk"),
        (b"zz\r\nhello\r\n0\r\n\r\n", "bad chunk size"),
    ],
)
def test_a_broken_body_is_an_oserror_naming_the_fault(data, why):
    with pytest.raises(ChunkError, match=why) as caught:
        list(dechunked(_reader(data, [])))
    assert isinstance(caught.value, OSError)  # the wrapper turns it into DockerUnavailable like a reset


def _frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=200)


@given(
    lines=st.lists(st.tuples(st.sampled_from([1, 2]), _TEXT, st.integers(1, 5)), max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=50_000), max_size=30),
    nanos=st.integers(0, 999_999_999),
)
def test_any_split_of_any_framed_log_gives_back_its_lines(lines, cuts, nanos):
    # Each line goes out as one or more messages (Docker splits long lines), all with the first message's time.
    ts = f"2026-01-02T03:04:05.{nanos:09d}Z"
    data = b""
    for stream, text, parts in lines:
        raw = (text + "\n").encode()
        step = max(1, len(raw) // parts)
        pieces = [raw[i : i + step] for i in range(0, len(raw), step)]
        data += b"".join(_frame(stream, f"{ts} ".encode() + piece) for piece in pieces)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    demuxer, assembler = Demuxer(tty=False), LineAssembler("web")
    got = []
    for a, b in zip(points, points[1:], strict=False):
        for stream, payload in demuxer.feed(data[a:b]):
            got.extend(assembler.feed(stream, payload))
    got.extend(assembler.flush())
    assert [(x.stream, x.text, x.ts, x.container) for x in got] == [
        ("stdout" if stream == 1 else "stderr", text, ts, "web") for stream, text, _parts in lines
    ]


def test_a_runaway_line_is_cut_and_marked_and_the_next_line_still_comes():
    assembler = LineAssembler("web")
    body = b"x" * (MAX_LINE + 10) + b"\n"
    pieces = [body[i : i + 16384] for i in range(0, len(body), 16384)] + [b"next\n"]
    got = [line for piece in pieces for line in assembler.feed("stdout", piece)]
    assert [line.text for line in got] == ["x" * MAX_LINE + " [line cut]", "next"]


@given(
    moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    nanos=st.integers(0, 999),
)
def test_docker_time_keeps_every_nanosecond_of_a_parsed_time(moment, nanos):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}{nanos:03d}Z"
    parsed = NanoTime.parse(text)
    assert parsed == moment.replace(tzinfo=UTC) and parsed.nanos == nanos
    seconds, _, fraction = docker_time(parsed).partition(".")
    assert (
        int(seconds) == int(moment.replace(tzinfo=UTC).timestamp())
        and fraction == f"{moment.microsecond:06d}{nanos:03d}"
    )
