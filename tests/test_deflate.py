"""The fast deflate helpers produce standard streams that zlib reads back."""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import pytest

from labelmap import _deflate


def _data(n: int = 300_000) -> bytes:
    rng = np.random.default_rng(7)
    return np.repeat(rng.integers(0, 5, n // 50), 50).astype(np.uint8).tobytes()


@pytest.mark.parametrize("level", [1, 6])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_chunked_deflate_is_one_valid_stream(level, threads):
    data = _data()
    pieces = _deflate.deflate_chunks(data, level=level, threads=threads, min_chunk=1000)
    assert len(pieces) == (1 if threads == 1 else threads)
    assert zlib.decompress(b"".join(pieces), -15) == data


def test_gzip_round_trip_and_multi_member():
    data = _data()
    packed = _deflate.gzip_compress(data)
    assert gzip.decompress(packed) == data
    two = gzip.compress(data[:1000]) + gzip.compress(data[1000:])
    assert b"".join(_deflate.gzip_pieces(two, len(data) + 1)) == data


def test_truncated_gzip_is_an_error():
    packed = gzip.compress(_data())
    with pytest.raises(Exception):
        b"".join(_deflate.gzip_pieces(packed[: len(packed) // 2], len(_data())))


def test_raw_round_trip():
    data = _data()
    assert _deflate.inflate_raw(_deflate.deflate_raw(data, level=6)) == data
    assert zlib.decompress(_deflate.deflate_raw(data, level=1), -15) == data


@pytest.mark.parametrize("chunk", [1000, 1 << 20])
def test_gzip_decompress_into_fills_the_array(chunk):
    data = _data()
    out = np.empty(len(data), np.uint8)
    assert _deflate.gzip_decompress_into(gzip.compress(data), out, chunk=chunk) == len(data)
    assert out.tobytes() == data
    assert out.flags.writeable


def test_gzip_decompress_into_reads_members_and_stops_when_full():
    data = _data()
    two = gzip.compress(data[:1234]) + gzip.compress(data[1234:])
    out = np.empty(len(data), np.uint8)
    assert _deflate.gzip_decompress_into(two + b"\0\0junk", out, chunk=500) == len(data)
    assert out.tobytes() == data
    short = np.empty(1000, np.uint8)  # more data than room: the first 1000 bytes
    assert _deflate.gzip_decompress_into(two, short) == 1000
    assert short.tobytes() == data[:1000]


def test_gzip_decompress_into_reports_short_and_truncated_streams():
    data = _data()
    out = np.empty(len(data) + 10, np.uint8)
    assert _deflate.gzip_decompress_into(gzip.compress(data), out) == len(data)  # caller sees it is short
    with pytest.raises(Exception, match="truncated|incomplete|end"):
        _deflate.gzip_decompress_into(gzip.compress(data)[:-500], np.empty(len(data), np.uint8))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_chunked_deflate_of_pieces_equals_their_concatenation(threads):
    data = _data()
    pieces = [data[:7], np.frombuffer(data[7:150_001], np.uint8), memoryview(data[150_001:]), b""]
    out = _deflate.deflate_chunks(pieces, level=6, threads=threads, min_chunk=1000)
    assert zlib.decompress(b"".join(out), -15) == data
