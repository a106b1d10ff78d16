"""The fast deflate helpers produce standard streams that zlib reads back."""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import pytest

from labelmap._util import deflate as _deflate


def _data(n: int = 300_000) -> bytes:
    rng = np.random.default_rng(7)
    return np.repeat(rng.integers(0, 5, n // 50), 50).astype(np.uint8).tobytes()


@pytest.mark.parametrize("level", [1, 2, 3, 4, 6, 8, 9])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_chunked_deflate_is_one_valid_stream(level, threads):
    data = _data()
    pieces = _deflate.deflate_chunks(data, level=level, threads=threads, min_chunk=1000)
    # the chunking, not the thread count, decides the bytes: the same file on every machine
    assert len(pieces) == 2
    assert pieces == _deflate.deflate_chunks(data, level=level, threads=1, min_chunk=1000)
    assert zlib.decompress(b"".join(pieces), -15) == data


def test_gzip_round_trip_and_multi_member():
    data = _data()
    packed = _deflate.gzip_compress(data)
    assert gzip.decompress(packed) == data
    two = gzip.compress(data[:1000]) + gzip.compress(data[1000:])
    assert b"".join(_deflate.gzip_pieces(two, len(data) + 1)) == data


def test_truncated_gzip_is_an_error():
    packed = gzip.compress(_data())
    with pytest.raises((_deflate._zng or _deflate._izlib or zlib).error):
        b"".join(_deflate.gzip_pieces(packed[: len(packed) // 2], len(_data())))


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


def _fill_all(filler, size):
    """Read a GzipFiller to its end through one reused buffer of ``size`` bytes."""
    buf = bytearray(size)
    out, sizes = [], []
    while True:
        n = filler.readinto(buf)
        if not n:
            return b"".join(out), sizes
        out.append(bytes(buf[:n]))
        sizes.append(n)


def _streams():
    data = _data()
    one = gzip.compress(data)
    two = gzip.compress(data[:1234]) + gzip.compress(b"") + gzip.compress(data[1234:])
    return data, {"one": one, "members": two, "junk": two + b"junk", "zeros": one + b"\0\0\0"}


@pytest.mark.parametrize("size", [999, 4096, 1 << 20])
@pytest.mark.parametrize("reader", ["c", "none"])
def test_gzip_filler_fills_whole_buffers(monkeypatch, size, reader):
    if reader == "none":
        monkeypatch.setattr(_deflate, "_READER", None)
    data, streams = _streams()
    for name, blob in streams.items():
        got, sizes = _fill_all(_deflate.GzipFiller(blob, len(data) + 100), size)
        assert got == data, name
        assert all(n == size for n in sizes[:-1]) and 0 < sizes[-1] <= size  # only the last is short
        limited, _ = _fill_all(_deflate.GzipFiller(blob, 5000), size)
        assert limited == data[:5000]


@pytest.mark.parametrize("reader", ["c", "none"])
def test_gzip_filler_errors_like_gzip_pieces(monkeypatch, reader):
    if reader == "none":
        monkeypatch.setattr(_deflate, "_READER", None)
    data = _data()
    packed = gzip.compress(data)
    backend_error = (_deflate._zng or _deflate._izlib or zlib).error  # what gzip_pieces raises
    with pytest.raises(backend_error, match="truncated|end"):
        _fill_all(_deflate.GzipFiller(packed[:-500], len(data)), 4096)
    # enough bytes before the stream breaks off: no error, as gzip_pieces
    assert _fill_all(_deflate.GzipFiller(packed[:-500], 1000), 4096)[0] == data[:1000]
    assert _fill_all(_deflate.GzipFiller(packed[:-3], len(data)), 4096)[0] == data  # only the trailer cut
    bad = bytearray(packed)
    bad[-6] ^= 1  # damaged CRC
    with pytest.raises(backend_error):
        _fill_all(_deflate.GzipFiller(bytes(bad), len(data)), 4096)
    with pytest.raises(backend_error):
        b"".join(_deflate.gzip_pieces(bytes(bad), len(data)))
    assert _fill_all(_deflate.GzipFiller(b"", 100), 10)[0] == b""
    assert _fill_all(_deflate.GzipFiller(packed, 0), 10)[0] == b""


class _FlakyReader:
    """A C reader that fails after ``budget`` bytes: GzipFiller must go on from there with gzip_pieces."""

    budget = 0

    def __init__(self, data):
        self._inner = _deflate._READER_REAL(data)
        self._left = _FlakyReader.budget

    def readinto(self, view):
        if self._left <= 0:
            raise OSError("simulated reader failure")
        n = self._inner.readinto(memoryview(view)[: self._left])
        self._left -= n
        return n


@pytest.mark.skipif(_deflate._READER is None, reason="no C gzip reader installed")
@pytest.mark.parametrize("budget", [0, 1, 999, 1000, 1001, 123_457])
@pytest.mark.parametrize("size", [1000, 65536])
def test_gzip_filler_continues_after_a_reader_failure(monkeypatch, budget, size):
    monkeypatch.setattr(_deflate, "_READER_REAL", _deflate._READER, raising=False)
    monkeypatch.setattr(_deflate, "_READER", _FlakyReader)
    monkeypatch.setattr(_FlakyReader, "budget", budget)
    data, streams = _streams()
    for name, blob in streams.items():
        filler = _deflate.GzipFiller(blob, len(data))
        got, sizes = _fill_all(filler, size)
        assert got == data, (name, budget)
        assert filler.position == len(data)
        assert all(n == size for n in sizes[:-1])


def test_gzip_filler_c_reader_skips_zero_padding_between_members():
    # the one case where the C reader is more lenient than gzip_pieces (which stops at the zeros)
    if _deflate._READER is None:
        pytest.skip("no C gzip reader installed")
    data = _data()
    blob = gzip.compress(data[:1000]) + b"\0\0" + gzip.compress(data[1000:])
    assert _fill_all(_deflate.GzipFiller(blob, len(data)), 4096)[0] == data
    assert b"".join(_deflate.gzip_pieces(blob, len(data))) == data[:1000]


@pytest.mark.parametrize("chunk", [1000, 1 << 20])
def test_gzip_decompress_into_without_the_c_reader(monkeypatch, chunk):
    monkeypatch.setattr(_deflate, "_READER", None)
    test_gzip_decompress_into_fills_the_array(chunk)
    test_gzip_decompress_into_reads_members_and_stops_when_full()
    test_gzip_decompress_into_reports_short_and_truncated_streams()


def test_level_1_run_strategy_is_valid_and_compact():
    """Level 1 is the run-only strategy: on label-map-like data (runs of equal bytes) it is
    compact, and still a valid raw deflate stream."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, size=400).astype(np.uint8)
    data = np.repeat(values, rng.integers(50, 3000, size=400)).tobytes()
    one = b"".join(_deflate.deflate_chunks(data, level=1, threads=1))
    assert zlib.decompress(one, -15) == data
    assert len(one) < len(data) // 20


def test_gzip_filler_survives_a_reader_it_cannot_construct(monkeypatch):
    """Should the backend's private reader change its signature, the plain path reads."""
    import gzip

    def broken(*args, **kwargs):
        raise TypeError("new signature")

    data = bytes(range(256)) * 400
    monkeypatch.setattr(_deflate, "_READER", broken)
    out = np.empty(len(data), dtype=np.uint8)
    assert _deflate.gzip_decompress_into(gzip.compress(data), out) == len(data)
    assert out.tobytes() == data


def test_gzip_members_carry_no_time_stamp():
    """Same labels, same bytes: the gzip header's MTIME field (bytes 4-7) is zero on every path."""
    data = np.arange(5000, dtype=np.uint16).tobytes()
    for fast in (True, False):
        blob = _deflate.gzip_compress(data, fast=fast)
        assert blob[:2] == b"\x1f\x8b" and blob[4:8] == b"\0\0\0\0"
        assert gzip.decompress(blob) == data
