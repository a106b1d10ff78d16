"""labelmap.kernels.rle: byte-identical to the reference encoder, decoded by pydicom and pylibjpeg-rle."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from _checks import misuse, spy_parts
from hypothesis import given, settings
from hypothesis import strategies as st

from labelmap import kernels
from labelmap._util.resources import Resources
from labelmap.kernels import rle as kernel_rle

import _reference as ref
from _reference import runs as _runs

SHAPES = [(3, 38, 23), (5, 22, 21), (1, 1, 1), (2, 7, 9), (4, 16, 16)]


# --- RLE Lossless encoding (PS3.5 Annex G): byte-identical to the reference, decoded by pydicom and pylibjpeg-rle ---

RLE_SHAPES = [(21, 22), (23, 38), (1, 1), (1, 200), (3, 130), (2, 257), (4, 300), (2, 2), (1, 3)]


def _rle_frames(pattern: str, shape, dtype, seed: int = 0) -> np.ndarray:
    """Three frames of ``shape`` in one of a few byte patterns (uint16: both byte planes vary)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    big = dtype == np.uint16
    hi = 65535 if big else 255
    full = (3, rows, cols)
    if pattern == "constant":
        out = np.full(full, 0x1234 if big else 7)
        out[1] = 0
        out[2] = hi
    elif pattern == "alternating":
        out = np.zeros(full, dtype=np.int64)
        out[..., 1::2] = 0x0105 if big else 5
        out[1] = np.where(np.arange(cols) % 2, 3, 0x0203 if big else 4)  # uint16: the high bytes alternate too
        out[2] = (np.arange(cols) // 2) % 2 * (0x1700 if big else 9)  # runs of 2 only
    elif pattern == "random":
        out = rng.integers(0, hi, full, endpoint=True)
    elif pattern == "few":
        out = rng.integers(0, 3, full) * (0x0101 if big else 1)  # short runs and pairs everywhere
    elif pattern == "runs":
        out = _runs(full, np.int64, hi, seed, max_run=300)
    elif pattern == "labels":
        # blobs on background; uint16 values above 255 that share their high byte
        yy, xx = np.mgrid[:rows, :cols]
        out = np.zeros(full, dtype=np.int64)
        values = [1, 2, 200, 255] if not big else [256, 300, 511, 0x1234, 65535]
        for f in range(3):
            for v in values:
                cy, cx, r = rng.integers(0, rows), rng.integers(0, cols), rng.integers(1, 12)
                out[f][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    else:  # pragma: no cover
        raise ValueError(pattern)
    return np.asarray(out).astype(dtype)


def _decode_pydicom(stream: bytes, rows: int, cols: int, dtype) -> np.ndarray:
    import warnings

    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import RLELossless

    bits = 8 * np.dtype(dtype).itemsize
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The number of bytes of compressed pixel data matches")
        warnings.filterwarnings("error", message="The decoded RLE segment")  # "non-conformant padding"
        arr, _ = get_decoder(RLELossless).as_array(
            encapsulate([stream]),
            decoding_plugin="pydicom",
            rows=rows,
            columns=cols,
            samples_per_pixel=1,
            bits_allocated=bits,
            bits_stored=bits,
            pixel_representation=0,
            photometric_interpretation="MONOCHROME2",
            number_of_frames=1,
        )
    return np.asarray(arr).astype(dtype).reshape(rows, cols)


def _decode_pylibjpeg(stream: bytes, rows: int, cols: int, dtype) -> np.ndarray:
    from rle.rle import decode_frame

    bits = 8 * np.dtype(dtype).itemsize
    decoded = decode_frame(stream, rows * cols, bits, "<")
    return np.frombuffer(decoded, dtype=np.dtype(dtype).newbyteorder("<")).reshape(rows, cols)


def _decode_ours(stream: bytes, rows: int, cols: int, dtype) -> np.ndarray:
    from labelmap.dicom.pixels.codecs.rle import decoder

    out = decoder(rows, cols, 8 * np.dtype(dtype).itemsize)(stream)
    assert out.dtype == np.dtype(dtype).newbyteorder("<") and out.shape == (rows, cols)
    return out


def _check_rle(frames: np.ndarray, encoded: list[bytes]) -> None:
    """Byte-identical to the reference, within the capacity bound, and decoded exactly by both decoders."""
    n, rows, cols = frames.shape
    assert len(encoded) == n
    cap = kernels.rle_capacity(rows, cols, frames.dtype.itemsize)
    for frame, stream in zip(frames, encoded):
        assert isinstance(stream, bytes)
        assert stream == ref.rle_encode_frame(frame)
        assert len(stream) % 2 == 0 and len(stream) <= cap
        np.testing.assert_array_equal(_decode_pydicom(stream, rows, cols, frames.dtype), frame)
        np.testing.assert_array_equal(_decode_pylibjpeg(stream, rows, cols, frames.dtype), frame)
        np.testing.assert_array_equal(_decode_ours(stream, rows, cols, frames.dtype), frame)


@pytest.mark.parametrize("shape", RLE_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pattern", ["constant", "alternating", "random", "few", "runs", "labels"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rle_encode_matches_reference_and_decoders(shape, pattern, dtype):
    pytest.importorskip("rle")
    frames = _rle_frames(pattern, shape, dtype, seed=shape[0] * 31 + shape[1])
    _check_rle(frames, kernels.rle_encode_frames(frames))


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 300),
    n_values=st.integers(1, 4),
    max_run=st.sampled_from([1, 2, 3, 5, 130, 400]),
    big=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_rle_encode_property(rows, cols, n_values, max_run, big, seed):
    pytest.importorskip("rle")
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if big else np.uint8
    # few distinct values in runs of 1..max_run: pairs, triples and 128-crossings next to literals
    palette = rng.integers(0, 65536 if big else 256, n_values)
    idx = _runs((2, rows, cols), np.int64, n_values - 1, seed % 1000, max_run=max_run)
    frames = palette[idx].astype(dtype)
    _check_rle(frames, kernels.rle_encode_frames(frames))


def _segment(row, dtype=np.uint8) -> bytes:
    """The first (only, for uint8) segment of a one-row frame, without its padding."""
    (stream,) = kernels.rle_encode_frames(np.asarray([[row]], dtype=dtype))
    import struct

    count, first, second = struct.unpack_from("<3I", stream)
    return stream[first : second if count > 1 else len(stream)]


def test_rle_packbits_details():
    # runs of 3 or more replicate; a run of 2 replicates unless between literals
    assert _segment([1, 2, 3]) == bytes([2, 1, 2, 3])
    assert _segment([1, 2]) == bytes([1, 1, 2, 0])  # padded to even length with a zero byte
    assert _segment([5, 5]) == bytes([255, 5])
    assert _segment([1, 1, 2, 3]) == bytes([255, 1, 1, 2, 3, 0])  # run of 2 first: replicate
    assert _segment([1, 2, 2, 3]) == bytes([3, 1, 2, 2, 3, 0])  # between literals: merged (pydicom: 0 1 255 2 0 3)
    assert _segment([1, 2, 2]) == bytes([0, 1, 255, 2])  # at the row end: replicate
    assert _segment([1, 2, 2, 3, 3, 3]) == bytes([0, 1, 255, 2, 254, 3])  # followed by a replicate run
    assert _segment([1, 2, 2, 3, 3, 4]) == bytes([5, 1, 2, 2, 3, 3, 4, 0])  # two pairs inside a literal
    # replicate runs of at most 128; a byte left over starts the next literal run
    assert _segment([7] * 128) == bytes([129, 7])
    assert _segment([7] * 129) == bytes([129, 7, 0, 7])
    assert _segment([7] * 129 + [1, 2]) == bytes([129, 7, 2, 7, 1, 2])  # pydicom: 129 7 0 7 1 1 2 0
    assert _segment([7] * 130) == bytes([129, 7, 255, 7])
    assert _segment([7] * 300) == bytes([129, 7, 129, 7, 213, 7])
    # literal runs of at most 128
    row = np.arange(130) % 256
    assert _segment(row) == bytes([127, *row[:128], 1, 128, 129])
    # no run crosses a row end
    (stream,) = kernels.rle_encode_frames(np.full((1, 2, 3), 9, np.uint8))
    assert stream[64:] == bytes([254, 9, 254, 9])


def test_rle_header_and_16_bit_planes():
    import struct

    frame = np.array([[[0x1234, 0x1234, 0x1299, 0x0199]]], dtype=np.uint16)
    (stream,) = kernels.rle_encode_frames(frame)
    header = struct.unpack_from("<16I", stream)
    assert header[0] == 2 and header[1] == 64 and header[3:] == (0,) * 13
    high, low = stream[64 : header[2]], stream[header[2] :]
    assert high == bytes([254, 0x12, 0, 0x01])  # most significant bytes first
    assert low == bytes([255, 0x34, 255, 0x99])
    (stream8,) = kernels.rle_encode_frames(np.zeros((1, 1, 1), np.uint8))
    assert struct.unpack_from("<16I", stream8) == (1, 64) + (0,) * 14
    assert stream8[64:] == bytes([0, 0])


def test_rle_worst_case_fits_capacity():
    # literal-only rows (every byte differs from its neighbours) reach the bound exactly
    for cols in (1, 2, 127, 128, 129, 256, 300):
        row = np.arange(cols) % 251
        frames = np.stack([np.tile(row, (3, 1))] * 2).astype(np.uint8)
        (a, b) = kernels.rle_encode_frames(frames)
        need = 64 + 3 * (cols + (cols + 127) // 128)
        assert len(a) == need + need % 2 and a == b
        assert len(a) <= kernels.rle_capacity(3, cols, 1)
        wide = (frames.astype(np.uint16) << 8) | frames
        assert len(kernels.rle_encode_frames(wide)[0]) <= kernels.rle_capacity(3, cols, 2)
    # "x y y" rows: a literal byte and a pair at the row end, 4 bytes for 3 pixels
    frames = np.tile(np.array([1, 2, 2], np.uint8), (1, 5, 1))
    (stream,) = kernels.rle_encode_frames(frames)
    assert len(stream) == kernels.rle_capacity(5, 3, 1) - 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rle_threads_and_input_forms_give_the_same_bytes(monkeypatch, dtype):
    frames = _rle_frames("labels", (23, 38), dtype, seed=5)
    frames = np.concatenate([frames] * 3)  # 9 frames
    one = kernels.rle_encode_frames(frames, threads=1)
    assert one == [ref.rle_encode_frame(f) for f in frames]
    calls = spy_parts(monkeypatch, kernel_rle)
    for threads in (2, 3, 4, 9, 20, 0, None):
        assert kernels.rle_encode_frames(frames, threads=threads) == one
    assert set(calls) == {1}  # small input: one thread whatever is allowed
    monkeypatch.setattr(kernel_rle, "_RLE_SPLIT_BYTES", 0)  # split small input too
    calls.clear()
    for threads in (2, 3, 4, 9, 20, 0, None):
        assert kernels.rle_encode_frames(frames, threads=threads) == one
    cores = Resources().threads
    assert calls == [2, 3, 4, 9, 9, min(cores, 9), min(cores, 9)]
    # one frame, a non-contiguous view, the other byte order
    assert kernels.rle_encode_frames(frames[4:5]) == [one[4]]
    wide = np.zeros((9, 23, 76), dtype=dtype)
    wide[:, :, ::2] = frames
    assert kernels.rle_encode_frames(wide[:, :, ::2]) == one
    assert kernels.rle_encode_frames(frames.astype(frames.dtype.newbyteorder("S"))) == one
    assert kernels.rle_encode_frames(frames[:0]) == []


def test_rle_bool_frames_and_errors():
    mask = np.zeros((1, 4, 5), dtype=bool)
    mask[0, 1:3, 1:4] = True
    assert kernels.rle_encode_frames(mask) == kernels.rle_encode_frames(mask.astype(np.uint8))
    with misuse(TypeError, "uint8 or uint16"):
        kernels.rle_encode_frames(np.zeros((1, 2, 2), np.uint32))
    with misuse(TypeError, "uint8 or uint16"):
        kernels.rle_encode_frames(np.zeros((1, 2, 2), np.int16))
    with misuse(TypeError, "uint8 or uint16"):
        kernels.rle_encode_frames(np.zeros((1, 2, 2), np.float32))
    with misuse(ValueError, "frames, rows, columns"):
        kernels.rle_encode_frames(np.zeros((1, 1, 2, 2), np.uint8))
    # one frame is (1, rows, columns): codecs.encode_frames adds the axis, not the kernel wrapper
    with misuse(ValueError, "frames, rows, columns"):
        kernels.rle_encode_frames(np.zeros((2, 3), np.uint8))
    with misuse(ValueError, "no pixel"):
        kernels.rle_encode_frames(np.zeros((2, 0, 3), np.uint8))


# --- RLE Lossless decoding by labelmap's own kernel ---


def _stream(*segments: bytes) -> bytes:
    offsets, pos = [], 64
    for seg in segments:
        offsets.append(pos)
        pos += len(seg)
    return struct.pack("<16I", len(segments), *offsets, *[0] * (15 - len(segments))) + b"".join(segments)


def test_rle_decoder_reads_every_packbits_header_kind():
    """Literal runs (0..127), replicate runs (-1..-127), the no-op -128 and trailing pad bytes."""
    from labelmap.dicom.pixels.codecs.rle import decoder

    # row of 10: literal 3 (1,2,3), no-op, replicate 7 x 9; then a pad byte after the frame's end
    segment = bytes([2, 1, 2, 3, 0x80, (256 - 6), 9, 0])
    np.testing.assert_array_equal(decoder(1, 10, 8)(_stream(segment)), [[1, 2, 3, 9, 9, 9, 9, 9, 9, 9]])
    high, low = bytes([(256 - 3), 1]), bytes([3, 0, 1, 2, 0xFF])
    np.testing.assert_array_equal(decoder(2, 2, 16)(_stream(high, low)), [[256, 257], [258, 511]])


def test_rle_decoder_matches_pydicoms_encoder_on_random_frames():
    """Frames encoded by pydicom's own RLE encoder (runs of 2 replicated) decode to the input."""
    from pydicom.pixels.encoders.native import _encode_segment

    from labelmap.dicom.pixels.codecs.rle import decoder

    rng = np.random.default_rng(5)
    for rows, cols, bits in ((21, 22, 8), (23, 38, 16), (1, 300, 8), (3, 130, 16)):
        dtype = np.uint8 if bits == 8 else np.dtype("<u2")
        frame = np.repeat(rng.integers(0, 4 if bits == 8 else 70000 // 2, (rows, cols // 2 + 1)), 2, axis=1)[:, :cols]
        frame = frame.astype(dtype)
        raw, n = frame.tobytes(), bits // 8
        stream = _stream(*(bytes(_encode_segment(raw[plane::n], cols)) for plane in reversed(range(n))))
        np.testing.assert_array_equal(decoder(rows, cols, bits)(stream), frame)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ((bytes([(256 - 20), 1]),), "does not decode to exactly 2 x 5 pixels"),
        ((bytes([30]) + bytes(31),), "does not decode to exactly 2 x 5 pixels"),
        ((bytes([2, 1, 2, 3]),), "does not decode to exactly 2 x 5 pixels"),
        ((bytes([2, 1]),), "does not decode to exactly 2 x 5 pixels"),
        ((b"",), "segment offsets .* not increasing"),
    ],
)
def test_rle_decoder_refuses_damaged_frames(segments, message):
    """A run past the frame's end, too few bytes for it, a literal cut by the segment's end, an empty segment."""
    from labelmap.dicom.pixels.codecs.rle import decoder
    from labelmap.errors import SegFormatError

    with pytest.raises(SegFormatError, match=message):
        decoder(2, 5, 8)(_stream(*segments))


def test_rle_decoder_releases_the_gil_on_threads():
    """Frames decoded on two threads give the same frames as one by one."""
    from concurrent.futures import ThreadPoolExecutor

    from labelmap.dicom.pixels.codecs.rle import decoder

    frames = _rle_frames("labels", (256, 256), np.uint8, seed=3)
    streams = kernels.rle_encode_frames(np.concatenate([frames] * 4))
    dec = decoder(256, 256, 8)
    with ThreadPoolExecutor(2) as pool:
        out = list(pool.map(dec, streams))
    for a, b in zip(out, np.concatenate([frames] * 4)):
        np.testing.assert_array_equal(a, b)
