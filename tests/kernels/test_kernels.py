"""Each Cython kernel against its plain NumPy reference, odd shapes and edge values included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelmap import kernels
from labelmap.errors import InputError, LabelmapError

import _reference as ref
from _reference import label_presence as ref_presence
from _reference import remap_labels as ref_remap

SHAPES = [(3, 38, 23), (5, 22, 21), (1, 1, 1), (2, 7, 9), (4, 16, 16)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "dtype,hi", [(np.uint8, 255), (np.uint16, 65535), (np.int16, 300), (np.int64, 70), (np.uint32, 1000)]
)
def test_label_presence_matches_reference(shape, dtype, hi):
    rng = np.random.default_rng(hash((shape, hi)) % 2**32)
    arr = rng.integers(0, hi + 1, size=shape).astype(dtype)
    arr.flat[0] = hi  # make sure the largest value occurs
    presence, counts = kernels.label_presence(arr)
    ref_p, ref_c = ref_presence(arr.astype(np.int64))
    assert presence.dtype == bool
    np.testing.assert_array_equal(presence, ref_p)
    np.testing.assert_array_equal(counts, ref_c)


def test_label_presence_sparse_slices():
    arr = np.zeros((6, 21, 22), dtype=np.uint16)
    arr[2, 3, 4] = 300
    arr[4, :, :] = 7
    presence, counts = kernels.label_presence(arr)
    assert presence.shape == (6, 301)
    assert np.flatnonzero(presence[:, 1:].any(axis=1)).tolist() == [2, 4]
    assert counts[300] == 1 and counts[7] == 21 * 22
    assert counts.sum() == arr.size


def test_label_presence_non_contiguous_input():
    base = np.arange(5 * 22 * 21, dtype=np.uint16).reshape(5, 22, 21) % 17
    view = base[:, ::-1, ::2]
    presence, counts = kernels.label_presence(view)
    ref_p, ref_c = ref_presence(np.ascontiguousarray(view))
    np.testing.assert_array_equal(presence, ref_p)
    np.testing.assert_array_equal(counts, ref_c)


@given(hnp.arrays(np.uint16, hnp.array_shapes(min_dims=3, max_dims=3, max_side=9), elements=st.integers(0, 600)))
@settings(max_examples=60, deadline=None)
def test_label_presence_property(arr):
    presence, counts = kernels.label_presence(arr)
    ref_p, ref_c = ref_presence(arr)
    np.testing.assert_array_equal(presence, ref_p)
    np.testing.assert_array_equal(counts, ref_c)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "in_dtype,lut_dtype", [(np.uint8, np.uint8), (np.uint16, np.uint8), (np.uint8, np.uint16), (np.uint16, np.uint16)]
)
def test_remap_matches_reference(shape, in_dtype, lut_dtype):
    rng = np.random.default_rng(1)
    hi = 255 if in_dtype == np.uint8 else 4000
    arr = rng.integers(0, hi + 1, size=shape).astype(in_dtype)
    lut = rng.integers(0, np.iinfo(lut_dtype).max + 1, size=hi + 1).astype(lut_dtype)
    out = kernels.remap_labels(arr, lut)
    assert out.dtype == lut_dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, ref_remap(arr, lut))


def test_remap_rejects_short_lut():
    arr = np.array([[[0, 5]]], dtype=np.uint8)
    with pytest.raises(InputError, match="outside the lookup table"):
        kernels.remap_labels(arr, np.arange(3, dtype=np.uint8))


@pytest.mark.parametrize(
    "arr,match",
    [
        (np.array([[[0.0, 1.5]]]), "non-integer value 1.5"),
        (np.array([[[0, -2]]], dtype=np.int16), "negative label -2"),
        (np.array([[[0, 70000]]], dtype=np.int32), "above 65535"),
        (np.array([[[0.0, np.nan]]]), "NaN"),
        (np.array([[["a"]]]), "data type"),
    ],
)
def test_as_label_array_errors_name_the_source(arr, match):
    with pytest.raises(InputError, match=match) as info:
        kernels.as_label_array(arr, source="labels.nrrd")
    assert "labels.nrrd" in str(info.value)
    assert isinstance(info.value, LabelmapError) and isinstance(info.value, ValueError)


def test_as_label_array_picks_smallest_dtype():
    assert kernels.as_label_array(np.array([[[0, 255]]], dtype=np.int64)).dtype == np.uint8
    assert kernels.as_label_array(np.array([[[0, 256]]], dtype=np.int32)).dtype == np.uint16
    assert kernels.as_label_array(np.array([[[0.0, 3.0]]], dtype=np.float32)).dtype == np.uint8
    assert kernels.as_label_array(np.array([[[True, False]]])).dtype == np.uint8


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
    np.testing.assert_array_equal(kernels.unpack_frames(packed, 2, 3, 3)[0], 0)
    np.testing.assert_array_equal(kernels.unpack_frames(packed, 2, 3, 3)[1], 1)


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
    with pytest.raises(InputError, match=match):
        kernels.pack_label_frames(np.zeros((3, 4, 5), np.uint8), slices, values)


@pytest.mark.parametrize("shape", SHAPES + [(7, 3, 5), (0, 4, 4)])
@pytest.mark.parametrize("kind", ["bool", "uint8", "int16"])
def test_pack_masks_matches_packbits(shape, kind):
    rng = np.random.default_rng(sum(shape))
    masks = rng.random(shape) < 0.3
    arr = {"bool": masks, "uint8": masks.astype(np.uint8), "int16": masks.astype(np.int16) * -7}[kind]
    packed = kernels.pack_masks(arr)
    np.testing.assert_array_equal(packed, ref.pack_stream(masks))
    np.testing.assert_array_equal(kernels.unpack_frames(packed, *shape), masks.astype(np.uint8))


def test_pack_masks_non_contiguous():
    masks = (np.arange(5 * 22 * 42).reshape(5, 22, 42) % 3 == 0)[:, :, ::2]
    np.testing.assert_array_equal(kernels.pack_masks(masks), ref.pack_stream(masks))


@pytest.mark.parametrize("shape", SHAPES)
def test_unpack_frames_matches_unpackbits(shape):
    rng = np.random.default_rng(7)
    n = (shape[0] * shape[1] * shape[2] + 7) // 8
    packed = rng.integers(0, 256, size=n + 1).astype(np.uint8)  # one byte of padding
    out = kernels.unpack_frames(packed, *shape)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, ref.unpack_frames(packed, *shape))
    np.testing.assert_array_equal(kernels.unpack_frames(packed.tobytes(), *shape), out)


def test_unpack_frames_too_short_names_byte_counts():
    with pytest.raises(InputError, match="need 110 bytes .* only 109 bytes"):
        kernels.unpack_frames(np.zeros(109, np.uint8), 1, 38, 23)
    with pytest.raises(InputError, match="uint8"):
        kernels.unpack_frames(np.zeros(200, np.int16), 1, 38, 23)


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
    with pytest.raises(InputError, match=r"frame_values\[0\] = 256 is outside 0..255"):
        kernels.paint_frames(packed, [0], [256], np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(InputError, match="uint8 or uint16"):
        kernels.paint_frames(packed, [0], [1], np.zeros((1, 4, 4), np.int16))
    with pytest.raises(InputError, match="C-contiguous"):
        kernels.paint_frames(packed, [0], [1], np.zeros((1, 4, 8), np.uint8)[:, :, ::2])
    with pytest.raises(InputError, match="need 3 bytes"):
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
    masks = kernels.unpack_frames(packed, n_frames, shape[1], shape[2])
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
    got = kernels.frame_overlap(packed, positions, segments, 4, npx)
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
    got = kernels.frame_overlap(packed, positions, segments, 6, rows * cols)
    assert got.dtype == np.int64 and got.shape == (6, 6)
    np.testing.assert_array_equal(got, got.T)
    assert not got.diagonal().any()
    np.testing.assert_array_equal(got, ref.frame_overlap(packed, positions, segments, 6, rows * cols))


def test_frame_overlap_errors():
    with pytest.raises(InputError, match=r"frame_segments\[1\] = 3 is outside 0..2"):
        kernels.frame_overlap(np.zeros(10, np.uint8), [0, 0], [0, 3], 3, 8)
    with pytest.raises(InputError, match="need 3 bytes .* only 2"):
        kernels.frame_overlap(np.zeros(2, np.uint8), [0, 0, 1], [0, 1, 2], 3, 7)


@given(
    npx=st.integers(1, 30),
    n_frames=st.integers(0, 12),
    n_segments=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=80, deadline=None)
def test_frame_overlap_property(npx, n_frames, n_segments, seed):
    rng = np.random.default_rng(seed)
    masks = rng.random((n_frames, 1, npx)) < rng.random()
    positions = rng.integers(0, 3, size=n_frames)
    segments = rng.integers(0, n_segments, size=n_frames)
    packed = kernels.pack_masks(masks)
    got = kernels.frame_overlap(packed, positions, segments, n_segments, npx)
    np.testing.assert_array_equal(got, ref.frame_overlap(packed, positions, segments, n_segments, npx))


def _random_files(rng, shape, n_files, n_values, n_segments):
    vols, luts = [], []
    for _ in range(n_files):
        vols.append(rng.integers(0, n_values, size=shape).astype(np.uint8 if n_values < 256 else np.uint16))
        lut = rng.integers(-1, n_segments, size=n_values).astype(np.int32)
        lut[0] = -1
        luts.append(lut)
    return vols, luts


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n_files", [1, 2, 3, 5])
def test_label_overlap_and_merge_match_reference(shape, n_files):
    rng = np.random.default_rng(hash((shape, n_files)) % 2**32)
    vols, luts = _random_files(rng, shape, n_files, 6, 7)
    got = kernels.label_overlap(vols, luts, n_segments=7)
    np.testing.assert_array_equal(got, ref.label_overlap(vols, luts, 7))
    values = rng.integers(1, 400, size=7)
    merged, overlap = kernels.merge_labels(vols, luts, values, n_segments=7)
    assert merged.dtype == (np.uint16 if values.max() > 255 else np.uint8) and merged.shape == shape
    np.testing.assert_array_equal(merged, ref.merge_labels(vols, luts, values))
    np.testing.assert_array_equal(overlap, got)


def test_label_overlap_triple_and_shared_index():
    a = np.array([[[1, 1, 0, 2]]], np.uint8)
    b = np.array([[[3, 0, 3, 3]]], np.uint16)
    c = np.array([[[5, 5, 5, 0]]], np.uint8)
    luts = [np.array([-1, 0, 1]), np.array([-1, -1, -1, 1]), np.array([-1, -1, -1, -1, -1, 2])]
    # voxel 0: 0, 1, 2; voxel 1: 0, 2; voxel 2: 1, 2; voxel 3: 1 (file a) and 1 (file b) -> no pair
    expected = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    np.testing.assert_array_equal(kernels.label_overlap([a, b, c], luts), expected)
    merged, overlap = kernels.merge_labels([a, b, c], luts, values=[10, 20, 30])
    assert merged.dtype == np.uint8
    assert merged.ravel().tolist() == [30, 30, 30, 20]
    np.testing.assert_array_equal(overlap, expected)
    merged, _ = kernels.merge_labels([a, b, c], luts, out_dtype=np.uint16)
    assert merged.dtype == np.uint16 and merged.ravel().tolist() == [3, 3, 3, 2]


def test_label_overlap_chunks(monkeypatch):
    monkeypatch.setattr(kernels, "_CHUNK", 37)
    rng = np.random.default_rng(3)
    vols, luts = _random_files(rng, (3, 38, 23), 3, 5, 6)
    np.testing.assert_array_equal(kernels.label_overlap(vols, luts, 6), ref.label_overlap(vols, luts, 6))
    merged, _ = kernels.merge_labels(vols, luts, np.arange(6) + 1, n_segments=6)
    np.testing.assert_array_equal(merged, ref.merge_labels(vols, luts, np.arange(6) + 1))


def test_label_overlap_errors():
    a = np.zeros((2, 3, 4), np.uint8)
    a[0, 0, 0] = 4
    with pytest.raises(InputError, match="label image 1: label 4 is outside its lookup table of 3"):
        kernels.label_overlap([a], [np.array([-1, 0, 1])])
    with pytest.raises(InputError, match="label image 2 has shape"):
        kernels.label_overlap([a, np.zeros((2, 4, 3), np.uint8)], [np.arange(5) - 1] * 2)
    with pytest.raises(InputError, match="2 label images but 1 lookup"):
        kernels.label_overlap([a, a], [np.arange(5) - 1])
    with pytest.raises(InputError, match="-1 \\(none\\)"):
        kernels.label_overlap([a], [np.arange(5) - 2])
    with pytest.raises(InputError, match="n_segments is 2"):
        kernels.label_overlap([a], [np.arange(5) - 1], n_segments=2)
    with pytest.raises(InputError, match=r"values\[0\] = 256 is outside 0..255"):
        kernels.merge_labels([a], [np.arange(5) - 1], values=[256, 1, 2, 3], out_dtype=np.uint8)


@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
    n_files=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_merge_labels_property(shape, n_files, seed):
    rng = np.random.default_rng(seed)
    vols, luts = _random_files(rng, shape, n_files, 4, 4)
    merged, overlap = kernels.merge_labels(vols, luts, n_segments=4)
    np.testing.assert_array_equal(overlap, ref.label_overlap(vols, luts, 4))
    np.testing.assert_array_equal(merged, ref.merge_labels(vols, luts, np.arange(1, 5)))


@pytest.mark.parametrize(
    "pairs,n,expected",
    [
        ([(0, 1), (1, 2)], 3, [0, 1, 0]),  # chain a-b, b-c
        ([], 4, [0, 0, 0, 0]),
        ([(0, 1), (0, 2), (1, 2)], 3, [0, 1, 2]),  # triangle
        ([(0, 1), (2, 3), (1, 2)], 4, [0, 1, 0, 1]),
        ([(0, 2), (1, 2), (0, 3)], 4, [0, 0, 1, 1]),
        ([(0, 3), (1, 3), (2, 3)], 4, [0, 0, 0, 1]),
        ([], 0, []),
    ],
)
def test_greedy_layers_examples(pairs, n, expected):
    ov = np.zeros((n, n), dtype=np.int64)
    for a, b in pairs:
        ov[a, b] = ov[b, a] = 5
    assert kernels.greedy_layers(ov).tolist() == expected
    assert kernels.greedy_layers(ov.astype(bool)).tolist() == expected
    # only one triangle given: still symmetric
    assert kernels.greedy_layers(np.triu(ov)).tolist() == expected


@given(n=st.integers(0, 12), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_greedy_layers_property(n, seed):
    rng = np.random.default_rng(seed)
    ov = rng.random((n, n)) < rng.random()
    layers = kernels.greedy_layers(ov)
    np.testing.assert_array_equal(layers, ref.greedy_layers(ov))
    sym = (ov | ov.T) & ~np.eye(n, dtype=bool)
    for a in range(n):
        for b in range(n):
            if sym[a, b]:
                assert layers[a] != layers[b]


def test_greedy_layers_rejects_non_square():
    with pytest.raises(InputError, match="square"):
        kernels.greedy_layers(np.zeros((2, 3)))


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
    with pytest.raises(InputError, match="need 3 bytes, but out holds only 2"):
        kernels.pack_label_frames(labels, [0, 1], [0, 0], out=np.zeros(2, np.uint8), bit_offset=3)
    with pytest.raises(InputError, match="1-D uint8"):
        kernels.pack_label_frames(labels, [0], [0], out=np.zeros(4, np.int16))
    with pytest.raises(InputError, match="needs an out buffer"):
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
    with pytest.raises(InputError, match="need"):
        short = packed[: kernels.packed_length(8, shape[1] * shape[2])]  # one frame short of frame 8
        kernels.paint_frames_subset(short, [8], [0], [1], shape[1] * shape[2], out)
    with pytest.raises(InputError, match="npx is 5"):
        kernels.paint_frames_subset(packed, [0], [0], [1], 5, out)


# --- narrowing 16- / 32- / 64-bit integers to uint8 -------------------------

NARROW_DTYPES = ["uint16", "int16", "uint32", "int32", "uint64", "int64"]
NARROW_SHAPES = [(21, 22), (23, 38, 3), (1,), (7,), (0,), (3, 0, 5), (40_000,)]


@pytest.mark.parametrize("dtype", NARROW_DTYPES)
@pytest.mark.parametrize("shape", NARROW_SHAPES)
def test_narrow_to_uint8_matches_reference_when_values_fit(dtype, shape):
    rng = np.random.default_rng(sum(shape) + len(dtype))
    arr = rng.integers(0, 256, size=shape).astype(dtype)
    if arr.size >= 2:
        arr.flat[0], arr.flat[-1] = 255, 0  # both ends of the range
    out, fits = kernels.narrow_to_uint8(arr)
    ref_out, ref_fits = ref.narrow_to_uint8(arr)
    assert fits is True and ref_fits
    assert out.dtype == np.uint8 and out.shape == arr.shape
    np.testing.assert_array_equal(out, ref_out)


def _bad_values(dtype):
    info = np.iinfo(dtype)
    bad = [256, int(info.max)]
    if info.min < 0:
        bad += [-1, int(info.min)]
    return bad


@pytest.mark.parametrize("dtype", NARROW_DTYPES)
@pytest.mark.parametrize("shape", [(21, 22), (23, 38, 3), (1,), (70_001,)])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_narrow_to_uint8_reports_values_that_do_not_fit(dtype, shape, where):
    # 70_001 values span several kernel blocks: a bad value in a later block is still seen
    for bad in _bad_values(dtype):
        arr = (np.arange(int(np.prod(shape))) % 256).astype(dtype).reshape(shape)
        index = {"first": 0, "middle": arr.size // 2, "last": arr.size - 1}[where]
        arr.flat[index] = bad
        assert ref.narrow_to_uint8(arr)[1] is False
        assert kernels.narrow_to_uint8(arr)[1] is False, (dtype, shape, where, bad)


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint32", "int32"])
def test_narrow_to_uint8_edge_values(dtype):
    fits = np.array([0, 1, 254, 255], dtype=dtype)
    out, ok = kernels.narrow_to_uint8(fits)
    assert ok and out.tolist() == [0, 1, 254, 255]
    for bad in _bad_values(dtype):
        assert kernels.narrow_to_uint8(np.array([0, bad, 255], dtype=dtype))[1] is False
    assert kernels.narrow_to_uint8(np.array([], dtype=dtype))[1] is True


def test_narrow_to_uint8_into_out_and_odd_inputs():
    values = (np.arange(23 * 38 * 3) % 256).astype(np.uint16)
    target = np.full(values.size + 10, 7, dtype=np.uint8)
    out, ok = kernels.narrow_to_uint8(values, target[5:-5])
    assert ok and out.base is target
    np.testing.assert_array_equal(target[5:-5], values)
    assert target[:5].tolist() == [7] * 5 and target[-5:].tolist() == [7] * 5  # nothing outside
    # other byte order, non-contiguous input, 2-D out for 1-D values
    swapped = values.astype(">u2")
    np.testing.assert_array_equal(kernels.narrow_to_uint8(swapped)[0], values)
    strided = values.reshape(23, 38, 3)[:, ::3, 1]
    np.testing.assert_array_equal(kernels.narrow_to_uint8(strided)[0], strided)
    out2 = np.empty((38, 69), dtype=np.uint8)
    assert kernels.narrow_to_uint8(values, out2)[1]
    np.testing.assert_array_equal(out2.ravel(), values)
    assert kernels.narrow_to_uint8(np.array([0, -5], dtype=">i2"))[1] is False


def test_narrow_to_uint8_errors():
    with pytest.raises(InputError, match="16-, 32- or 64-bit"):
        kernels.narrow_to_uint8(np.zeros(3, dtype=np.uint8))
    with pytest.raises(InputError, match="16-, 32- or 64-bit"):
        kernels.narrow_to_uint8(np.zeros(3, dtype=np.float32))
    values = np.zeros(6, dtype=np.uint16)
    with pytest.raises(InputError, match="uint8"):
        kernels.narrow_to_uint8(values, np.zeros(6, dtype=np.uint16))
    with pytest.raises(InputError, match="6 values"):
        kernels.narrow_to_uint8(values, np.zeros(5, dtype=np.uint8))
    with pytest.raises(InputError, match="C-contiguous"):
        kernels.narrow_to_uint8(values, np.zeros(12, dtype=np.uint8)[::2])
    frozen = np.zeros(6, dtype=np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(InputError, match="writeable"):
        kernels.narrow_to_uint8(values, frozen)


@st.composite
def _narrow_inputs(draw):
    dtype = np.dtype(draw(st.sampled_from(NARROW_DTYPES)))
    low = -3 if dtype.kind == "i" else 0
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=40))
    return draw(hnp.arrays(dtype, shape, elements=st.integers(low, 300)))


@given(_narrow_inputs())
@settings(max_examples=80, deadline=None)
def test_narrow_to_uint8_property(arr):
    out, fits = kernels.narrow_to_uint8(arr)
    ref_out, ref_fits = ref.narrow_to_uint8(arr)
    assert fits == ref_fits
    if fits:
        np.testing.assert_array_equal(out, ref_out)


# --- label presence: long runs (the kernel skips whole words) and the two-thread split ---


def _runs(shape, dtype, hi, seed, max_run=40):
    """A label array made of runs of random length 1..max_run (crossing word boundaries everywhere)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    lengths = rng.integers(1, max_run + 1, size=2 * n // (max_run + 1) + 8)
    values = rng.integers(0, hi + 1, size=lengths.size)
    return np.resize(np.repeat(values, lengths), n).astype(dtype).reshape(shape)  # resize: repeats if short


@pytest.mark.parametrize("shape", [(3, 38, 23), (5, 22, 21), (2, 1, 1), (4, 1, 17), (6, 64, 64), (2, 3, 5)])
@pytest.mark.parametrize("dtype,hi", [(np.uint8, 255), (np.uint8, 2), (np.uint16, 65535), (np.uint16, 3)])
@pytest.mark.parametrize("max_run", [1, 9, 40, 300])
def test_label_presence_runs_match_reference(shape, dtype, hi, max_run):
    arr = _runs(shape, dtype, hi, seed=shape[1] * 7 + max_run, max_run=max_run)
    arr.flat[-1] = hi  # a run ending exactly at the last voxel
    presence, counts = kernels.label_presence(arr)
    ref_p, ref_c = ref_presence(arr.astype(np.int64))
    np.testing.assert_array_equal(presence, ref_p)
    np.testing.assert_array_equal(counts, ref_c)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_label_presence_constant_and_single_change_rows(dtype):
    # every row one value, or one change at each possible position of a 3-word row
    npx = 24 // np.dtype(dtype).itemsize + 5
    rows = [np.full(npx, 9, dtype=dtype)]
    for p in range(1, npx):
        row = np.full(npx, 4, dtype=dtype)
        row[p:] = 200
        rows.append(row)
    arr = np.stack(rows).reshape(len(rows), 1, npx)
    presence, counts = kernels.label_presence(arr)
    ref_p, ref_c = ref_presence(arr.astype(np.int64))
    np.testing.assert_array_equal(presence, ref_p)
    np.testing.assert_array_equal(counts, ref_c)


@pytest.mark.parametrize("shape", [(2, 21, 22), (3, 38, 23), (7, 22, 21), (1, 38, 23)])
@pytest.mark.parametrize("dtype,hi", [(np.uint8, 255), (np.uint16, 1000)])
def test_label_presence_two_threads_match_reference(monkeypatch, shape, dtype, hi):
    monkeypatch.setattr(kernels, "_PRESENCE_SPLIT_BYTES", 0)  # split even small arrays
    arr = _runs(shape, dtype, hi, seed=shape[0])
    presence, counts = kernels.label_presence(arr)
    ref_p, ref_c = ref_presence(arr.astype(np.int64))
    np.testing.assert_array_equal(presence, ref_p)
    np.testing.assert_array_equal(counts, ref_c)


def test_label_presence_large_array_uses_two_threads(monkeypatch):
    calls = []
    real = kernels._presence_two_threads
    monkeypatch.setattr(kernels, "_presence_two_threads", lambda *a: (calls.append(1), real(*a)))
    arr = _runs((9, 1024, 2048), np.uint8, 30, seed=3, max_run=500)  # 18 MB
    presence, counts = kernels.label_presence(arr)
    assert calls == [1]
    assert counts.sum() == arr.size
    np.testing.assert_array_equal(counts, np.bincount(arr.ravel(), minlength=counts.size))
    for k in (0, 4, 5, 8):
        assert np.flatnonzero(presence[k]).tolist() == np.unique(arr[k]).tolist()


def test_as_label_array_keeps_8_and_16_bit_as_they_are():
    # uint8 / uint16 already hold only Segment Numbers: returned as is (no scan, no copy)
    for dtype in (np.uint8, np.uint16):
        arr = np.arange(24, dtype=dtype).reshape(2, 3, 4)
        assert kernels.as_label_array(arr) is arr
    assert kernels.as_label_array(np.array([[[0, 300]]], dtype=np.int32)).dtype == np.uint16


@pytest.mark.parametrize("values", [[], [3], [5, 1, 5, 2, 2, 9], list(range(10, 0, -1)), [7, 7, 7]])
def test_np_unique_and_duplicates_match_numpy(values):
    from labelmap._util.arrays import has_duplicates, unique

    arr = np.asarray(values, dtype=np.int64)
    np.testing.assert_array_equal(unique(arr), np.unique(arr))
    assert has_duplicates(arr) == (len(np.unique(arr)) != len(arr))


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

    frame = np.array([[0x1234, 0x1234, 0x1299, 0x0199]], dtype=np.uint16)
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
    for threads in (2, 3, 4, 9, 20, 0, None):
        assert kernels.rle_encode_frames(frames, threads=threads) == one
    monkeypatch.setattr(kernels, "_RLE_SPLIT_BYTES", 0)  # the automatic split on small input
    assert kernels.rle_encode_frames(frames) == one
    # a 2-D frame, a non-contiguous view, the other byte order
    assert kernels.rle_encode_frames(frames[4]) == [one[4]]
    wide = np.zeros((9, 23, 76), dtype=dtype)
    wide[:, :, ::2] = frames
    assert kernels.rle_encode_frames(wide[:, :, ::2]) == one
    assert kernels.rle_encode_frames(frames.astype(frames.dtype.newbyteorder("S"))) == one
    assert kernels.rle_encode_frames(frames[:0]) == []


def test_rle_bool_frames_and_errors():
    mask = np.zeros((1, 4, 5), dtype=bool)
    mask[0, 1:3, 1:4] = True
    assert kernels.rle_encode_frames(mask) == kernels.rle_encode_frames(mask.astype(np.uint8))
    with pytest.raises(InputError, match="uint8 or uint16"):
        kernels.rle_encode_frames(np.zeros((1, 2, 2), np.uint32))
    with pytest.raises(InputError, match="uint8 or uint16"):
        kernels.rle_encode_frames(np.zeros((1, 2, 2), np.int16))
    with pytest.raises(InputError, match="uint8 or uint16"):
        kernels.rle_encode_frames(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(InputError, match="frames, rows, columns"):
        kernels.rle_encode_frames(np.zeros((1, 1, 2, 2), np.uint8))
    with pytest.raises(InputError, match="no pixel"):
        kernels.rle_encode_frames(np.zeros((2, 0, 3), np.uint8))
