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
    assert _deflate.gzip_decompress(two) == data


def test_truncated_gzip_is_an_error():
    packed = gzip.compress(_data())
    with pytest.raises(Exception):
        _deflate.gzip_decompress(packed[: len(packed) // 2])


def test_raw_round_trip():
    data = _data()
    assert _deflate.inflate_raw(_deflate.deflate_raw(data, level=6)) == data
    assert zlib.decompress(_deflate.deflate_raw(data, level=1), -15) == data
