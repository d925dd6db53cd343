"""The log reader's own HTTP/1.1 chunked decoder: whatever the chunks and however the bytes arrive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from containers.docker_client import _ChunkError, _dechunked


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
    assert b"".join(_dechunked(_reader(data, cuts))) == b"".join(chunks)


def test_it_yields_what_has_arrived_without_waiting_for_more():
    # A follow must see a line as soon as its chunk is complete, not when the next read returns.
    pieces = [b"5\r\nhello\r\n", b"6\r\n world\r\n0\r\n\r\n"]
    got = []
    stream = _dechunked(lambda _n: pieces.pop(0) if pieces else b"")
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
    with pytest.raises(_ChunkError, match=why) as caught:
        list(_dechunked(_reader(data, [])))
    assert isinstance(caught.value, OSError)  # the wrapper turns it into DockerUnavailable like a reset
