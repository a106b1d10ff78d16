"""labelmap.kernels.bits against plain NumPy references: 1-bit pack, paint, frame overlap."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import misuse
from hypothesis import given, settings
from hypothesis import strategies as st

from labelmap import kernels

import _reference as ref

SHAPES = [(3, 38, 23), (5, 22, 21), (1, 1, 1), (2, 7, 9), (4, 16, 16)]


# --- 1-bit frame streams -----------------------------------------------------


def _present_frames(labels):
    """(slice, value) for every nonzero value present in each slice, in value-major order."""
    pairs = [(k, int(v)) for v in np.unique(labels) if v for k in range(labels.shape[0]) if (labels[k] == v).any()]
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,hi", [(np.uint8, 5), (np.uint16, 700), (np.int32, 3)])
def test_pack_label_frames_matches_packbits(shape, dtype, hi):
    rng = np.random.default_rng(hash((shape, hi)) % 2**32)
    labels = rng.integers(0, hi + 1, size=shape).astype(dtype)
    n_frames = int(rng.integers(1, 12))
    slices = rng.integers(0, shape[0], size=n_frames)
    values = rng.integers(0, hi + 1, size=n_frames)
    packed = kernels.pack_label_frames(labels, slices, values)
    expected = ref.pack_label_frames(labels, slices, values)
    assert packed.dtype == np.uint8
    assert (
        packed.size == (n_frames * shape[1] * shape[2] + 7) // 8 == kernels.packed_length(n_frames, shape[1] * shape[2])
    )
    np.testing.assert_array_equal(packed, expected)


def test_pack_label_frames_straddles_bytes():
    # npx = 874: frame 1 starts at bit 874 = byte 109, bit 2
    labels = np.zeros((3, 38, 23), dtype=np.uint8)
    labels[1, 0, 0] = 4
    labels[1, -1, -1] = 4
    packed = kernels.pack_label_frames(labels, [0, 1, 1], [1, 4, 0])
    assert packed.size == (3 * 874 + 7) // 8
    assert packed[109] == 0b100  # first pixel of frame 1
    bits = np.flatnonzero(np.unpackbits(packed, bitorder="little"))
    assert bits[:2].tolist() == [874, 874 + 873]
    assert bits.size == 2 + 872  # frame 2 (== 0) is all but two pixels
    np.testing.assert_array_equal(packed, ref.pack_label_frames(labels, [0, 1, 1], [1, 4, 0]))


def test_pack_label_frames_value_above_dtype_is_empty_frame():
    labels = np.full((1, 3, 3), 44, dtype=np.uint8)  # uint8; 300 % 256 == 44 must not match
    packed = kernels.pack_label_frames(labels, [0, 0], [300, 44])
    np.testing.assert_array_equal(ref.unpack_frames(packed, 2, 3, 3)[0], 0)
    np.testing.assert_array_equal(ref.unpack_frames(packed, 2, 3, 3)[1], 1)


def test_pack_label_frames_no_frames():
    assert kernels.pack_label_frames(np.ones((2, 3, 3), np.uint8), [], []).size == 0


@pytest.mark.parametrize(
    "slices,values,match",
    [
        ([0, 3], [1, 1], r"frame_slices\[1\] = 3 is outside 0..2"),
        ([-1], [1], r"frame_slices\[0\] = -1"),
        ([0], [-2], r"frame_values\[0\] = -2"),
        ([0], [70000], r"frame_values\[0\] = 70000"),
        ([0, 1], [1], "2 entries but frame_values has 1"),
        ([0.5], [1], "expected integers"),
    ],
)
def test_pack_label_frames_rejects_bad_frames(slices, values, match):
    with misuse(TypeError if "integers" in match else ValueError, match):
        kernels.pack_label_frames(np.zeros((3, 4, 5), np.uint8), slices, values)


@pytest.mark.parametrize("shape", SHAPES + [(7, 3, 5), (0, 4, 4)])
@pytest.mark.parametrize("kind", ["bool", "uint8", "int16"])
def test_pack_masks_matches_packbits(shape, kind):
    rng = np.random.default_rng(sum(shape))
    masks = rng.random(shape) < 0.3
    arr = {"bool": masks, "uint8": masks.astype(np.uint8), "int16": masks.astype(np.int16) * -7}[kind]
    packed = kernels.pack_masks(arr)
    np.testing.assert_array_equal(packed, ref.pack_stream(masks))
    np.testing.assert_array_equal(ref.unpack_frames(packed, *shape), masks.astype(np.uint8))


def test_pack_masks_non_contiguous():
    masks = (np.arange(5 * 22 * 42).reshape(5, 22, 42) % 3 == 0)[:, :, ::2]
    np.testing.assert_array_equal(kernels.pack_masks(masks), ref.pack_stream(masks))


def test_packed_too_short_names_byte_counts():
    with misuse(ValueError, "need 110 bytes .* only 109 bytes"):
        kernels.frame_overlap(np.zeros(109, np.uint8), [0], [0], 1, 38 * 23)
    with misuse(TypeError, "uint8"):
        kernels.frame_overlap(np.zeros(200, np.int16), [0], [0], 1, 38 * 23)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("out_dtype", [np.uint8, np.uint16])
def test_paint_frames_matches_reference(shape, out_dtype):
    rng = np.random.default_rng(hash(shape) % 2**32)
    n_frames = int(rng.integers(1, 10))
    masks = rng.random((n_frames,) + shape[1:]) < 0.4
    packed = kernels.pack_masks(masks)
    slices = rng.integers(0, shape[0], size=n_frames)
    values = rng.integers(1, np.iinfo(out_dtype).max + 1, size=n_frames)
    start = rng.integers(0, 3, size=shape).astype(out_dtype)
    out = start.copy()
    assert kernels.paint_frames(packed, slices, values, out) is out
    np.testing.assert_array_equal(out, ref.paint_frames(packed, slices, values, start))


def test_paint_frames_errors():
    packed = np.zeros(20, np.uint8)
    with misuse(ValueError, r"frame_values\[0\] = 256 is outside 0..255"):
        kernels.paint_frames(packed, [0], [256], np.zeros((1, 4, 4), np.uint8))
    with misuse(TypeError, "uint8 or uint16"):
        kernels.paint_frames(packed, [0], [1], np.zeros((1, 4, 4), np.int16))
    with misuse(ValueError, "C-contiguous"):
        kernels.paint_frames(packed, [0], [1], np.zeros((1, 4, 8), np.uint8)[:, :, ::2])
    with misuse(ValueError, "need 3 bytes"):
        kernels.paint_frames(packed[:2], [0, 0, 0], [1, 1, 1], np.zeros((1, 2, 3), np.uint8))


@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)),
    n_frames=st.integers(0, 7),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=80, deadline=None)
def test_pack_unpack_paint_property(shape, n_frames, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=shape).astype(np.uint8)
    slices = rng.integers(0, shape[0], size=n_frames)
    values = rng.integers(0, 4, size=n_frames)
    packed = kernels.pack_label_frames(labels, slices, values)
    np.testing.assert_array_equal(packed, ref.pack_label_frames(labels, slices, values))
    masks = ref.unpack_frames(packed, n_frames, shape[1], shape[2])
    np.testing.assert_array_equal(kernels.pack_masks(masks), packed)
    for f in range(n_frames):
        np.testing.assert_array_equal(masks[f], labels[slices[f]] == values[f])
    out = np.zeros(shape, np.uint16)
    kernels.paint_frames(packed, slices, values + 1, out)
    np.testing.assert_array_equal(out, ref.paint_frames(packed, slices, values + 1, np.zeros(shape, np.uint16)))


# --- overlap ---------------------------------------------------------------------


def test_frame_overlap_triple_and_duplicates():
    # position 5: segments 0, 1, 2 all cover pixel 0; 0 and 1 also share pixels 1..2
    npx = 13
    masks = np.zeros((6, 1, npx), dtype=bool)
    masks[0, 0, :3] = True  # seg 0 @ 5
    masks[1, 0, :3] = True  # seg 1 @ 5
    masks[2, 0, 0] = True  # seg 2 @ 5
    masks[3, 0, :] = True  # seg 2 @ 9 (alone there)
    masks[4, 0, :2] = True  # seg 0 @ 5 again: duplicate frame, counts once
    masks[5, 0, :] = True  # seg 3 @ -1 (different position from everything)
    packed = kernels.pack_masks(masks)
    positions, segments = [5, 5, 5, 9, 5, -1], [0, 1, 2, 2, 0, 3]
    got = kernels.frame_overlap(packed, positions, segments, 4, npx).dense()
    expected = np.zeros((4, 4), np.int64)
    expected[0, 1] = expected[1, 0] = 3
    expected[0, 2] = expected[2, 0] = 1
    expected[1, 2] = expected[2, 1] = 1
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, ref.frame_overlap(packed, positions, segments, 4, npx))


@pytest.mark.parametrize("shape", [(3, 38, 23), (5, 22, 21), (1, 1, 1), (4, 16, 16)])
def test_frame_overlap_matches_reference(shape):
    rng = np.random.default_rng(hash(shape) % 2**32)
    n_frames, (_, rows, cols) = 3 * shape[0] + 2, shape
    masks = rng.random((n_frames, rows, cols)) < 0.35
    positions = rng.integers(-2, shape[0], size=n_frames) * 10
    segments = rng.integers(0, 5, size=n_frames)
    packed = kernels.pack_masks(masks)
    sparse = kernels.frame_overlap(packed, positions, segments, 6, rows * cols)
    assert (sparse.pairs[:, 0] < sparse.pairs[:, 1]).all() and (sparse.counts > 0).all()
    got = sparse.dense()
    assert got.dtype == np.int64 and got.shape == (6, 6)
    np.testing.assert_array_equal(got, got.T)
    assert not got.diagonal().any()
    np.testing.assert_array_equal(got, ref.frame_overlap(packed, positions, segments, 6, rows * cols))


def test_frame_overlap_errors():
    with misuse(ValueError, r"frame_segments\[1\] = 3 is outside 0..2"):
        kernels.frame_overlap(np.zeros(10, np.uint8), [0, 0], [0, 3], 3, 8)
    with misuse(ValueError, "need 3 bytes .* only 2"):
        kernels.frame_overlap(np.zeros(2, np.uint8), [0, 0, 1], [0, 1, 2], 3, 7)


@given(
    npx=st.integers(1, 30), n_frames=st.integers(0, 12), n_segments=st.integers(1, 5), seed=st.integers(0, 2**32 - 1)
)
@settings(max_examples=80, deadline=None)
def test_frame_overlap_property(npx, n_frames, n_segments, seed):
    rng = np.random.default_rng(seed)
    masks = rng.random((n_frames, 1, npx)) < rng.random()
    positions = rng.integers(0, 3, size=n_frames)
    segments = rng.integers(0, n_segments, size=n_frames)
    packed = kernels.pack_masks(masks)
    got = kernels.frame_overlap(packed, positions, segments, n_segments, npx).dense()
    np.testing.assert_array_equal(got, ref.frame_overlap(packed, positions, segments, n_segments, npx))


def test_pack_label_frames_repeated_and_unsorted_frames():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 3, size=(3, 38, 23)).astype(np.uint16)
    slices = [2, 0, 2, 2, 1, 2, 0, 2]
    values = [1, 0, 1, 2, 1, 1, 2, 0]  # (2, 1) three times
    np.testing.assert_array_equal(
        kernels.pack_label_frames(labels, slices, values), ref.pack_label_frames(labels, slices, values)
    )


@pytest.mark.parametrize("shape", [(3, 38, 23), (5, 22, 21), (1, 1, 1)])
def test_pack_label_frames_into_buffer_at_bit_offsets(shape):
    # two label images packed back to back into one (even-length) buffer, as for a multi-layer SEG
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, size=shape).astype(np.uint8)
    b = rng.integers(0, 400, size=shape).astype(np.uint16)
    sa, va = rng.integers(0, shape[0], 5), rng.integers(0, 3, 5)
    sb, vb = rng.integers(0, shape[0], 4), rng.integers(0, 400, 4)
    npx = shape[1] * shape[2]
    n = kernels.packed_length(9, npx)
    buf = np.zeros(n + n % 2, dtype=np.uint8)
    assert kernels.pack_label_frames(a, sa, va, out=buf) is buf
    kernels.pack_label_frames(b, sb, vb, out=buf, bit_offset=5 * npx)
    masks = np.concatenate([[a[s] == v for s, v in zip(sa, va)], [b[s] == v for s, v in zip(sb, vb)]])
    expected = ref.pack_stream(masks)
    np.testing.assert_array_equal(buf[:n], expected)
    assert not buf[n:].any()


def test_pack_label_frames_buffer_errors():
    labels = np.zeros((2, 3, 3), np.uint8)
    with misuse(ValueError, "need 3 bytes, but out holds only 2"):
        kernels.pack_label_frames(labels, [0, 1], [0, 0], out=np.zeros(2, np.uint8), bit_offset=3)
    with misuse(TypeError, "1-D uint8"):
        kernels.pack_label_frames(labels, [0], [0], out=np.zeros(4, np.int16))
    with misuse(ValueError, "needs an out buffer"):
        kernels.pack_label_frames(labels, [0], [0], bit_offset=8)


@pytest.mark.parametrize("shape", [(3, 38, 23), (5, 22, 21), (1, 1, 1)])
def test_paint_frames_subset_matches_reference(shape):
    rng = np.random.default_rng(8)
    n_stream = 9
    masks = rng.random((n_stream,) + shape[1:]) < 0.5
    packed = kernels.pack_masks(masks)
    frames = np.array([7, 2, 8, 2])
    slices = rng.integers(0, shape[0], size=frames.size)
    values = np.array([3, 300, 9, 1])
    out = np.zeros(shape, np.uint16)
    kernels.paint_frames_subset(packed, frames, slices, values, shape[1] * shape[2], out)
    expected = np.zeros(shape, np.uint16)
    for f, s, v in zip(frames, slices, values):
        expected[s][masks[f]] = v
    np.testing.assert_array_equal(out, expected)
    with misuse(ValueError, "need"):
        short = packed[: kernels.packed_length(8, shape[1] * shape[2])]  # one frame short of frame 8
        kernels.paint_frames_subset(short, [8], [0], [1], shape[1] * shape[2], out)
    with misuse(ValueError, "npx is 5"):
        kernels.paint_frames_subset(packed, [0], [0], [1], 5, out)


def test_frame_overlap_memory_follows_pairs():
    """20,000 segments, two of which overlap: two pairs of memory, not a 3.2 GB matrix."""
    n, npx = 20_000, 16
    masks = np.zeros((n, 1, npx), dtype=bool)
    masks[:, 0, 0] = True  # every frame sets pixel 0, but each at its own position ...
    positions = np.arange(n)
    positions[1] = 0  # ... except segment 1, which shares position 0 with segment 0
    got = kernels.frame_overlap(kernels.pack_masks(masks), positions, np.arange(n), n, npx)
    assert got.pairs.tolist() == [[0, 1]] and got.counts.tolist() == [1]
    assert got.count(1, 0) == 1 and got.count(0, 2) == 0 and got.any()
