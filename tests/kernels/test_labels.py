"""labelmap.kernels.labels against plain NumPy references: presence, remap, narrowing, label files."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import misuse, spy_parts
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelmap import kernels
from labelmap._util.resources import Resources
from labelmap.errors import InputError, LabelmapError
from labelmap.kernels import labels as kernel_labels

import _reference as ref
from _reference import label_presence as ref_presence
from _reference import remap_labels as ref_remap
from _reference import runs as _runs

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
    with misuse(ValueError, "outside the lookup table"):
        kernels.remap_labels(arr, np.arange(3, dtype=np.uint8))


@pytest.mark.parametrize(
    "arr,match",
    [
        (np.array([[[0.0, 1.5]]]), "non-integer value 1.5"),
        (np.array([[[0, -2]]], dtype=np.int16), "negative label -2"),
        (np.array([[[0, 70000]]], dtype=np.int32), "above 65535"),
        (np.array([[[0.0, np.nan]]]), "NaN"),
        (np.array([0.0, -np.inf]), "infinite"),
        (np.array([[["a"]]]), "data type"),
    ],
)
def test_as_label_array_errors_name_the_source(arr, match):
    with pytest.raises(InputError, match=match) as info:
        kernels.as_label_array(arr, source="labels.nrrd")
    assert "labels.nrrd" in str(info.value)
    assert isinstance(info.value, LabelmapError) and isinstance(info.value, ValueError)
    # advice that depends on the front end's flags is a hint code, never a flag in the text
    assert "--" not in info.value.what
    assert info.value.hint == ("type_fractional" if "1.5" in match else None)


def test_as_label_array_picks_smallest_dtype():
    assert kernels.as_label_array(np.array([[[0, 255]]], dtype=np.int64)).dtype == np.uint8
    assert kernels.as_label_array(np.array([[[0, 256]]], dtype=np.int32)).dtype == np.uint16
    assert kernels.as_label_array(np.array([[[0.0, 3.0]]], dtype=np.float32)).dtype == np.uint8
    assert kernels.as_label_array(np.array([[[True, False]]])).dtype == np.uint8


# --- label presence: long runs (the kernel skips whole words) and the two-thread split ---


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
def test_label_presence_threads_match_reference(monkeypatch, shape, dtype, hi):
    monkeypatch.setattr(kernel_labels, "_PRESENCE_SPLIT_BYTES", 0)  # split even small arrays
    arr = _runs(shape, dtype, hi, seed=shape[0])
    ref_p, ref_c = ref_presence(arr.astype(np.int64))
    for threads in (None, 2, 3, 8):
        presence, counts = kernels.label_presence(arr, threads=threads)
        np.testing.assert_array_equal(presence, ref_p)
        np.testing.assert_array_equal(counts, ref_c)


def test_label_presence_large_array_uses_every_core(monkeypatch):
    calls = spy_parts(monkeypatch, kernel_labels)
    arr = _runs((9, 1024, 2048), np.uint8, 30, seed=3, max_run=500)  # 18 MB
    presence, counts = kernels.label_presence(arr)
    kernels.label_presence(arr, threads=3)
    kernels.label_presence(arr[:, :100], threads=3)  # below the size threshold: one thread, no split
    assert calls == [min(Resources().threads, 9), 3]
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
    with misuse(TypeError, "16-, 32- or 64-bit"):
        kernels.narrow_to_uint8(np.zeros(3, dtype=np.uint8))
    with misuse(TypeError, "16-, 32- or 64-bit"):
        kernels.narrow_to_uint8(np.zeros(3, dtype=np.float32))
    values = np.zeros(6, dtype=np.uint16)
    with misuse(TypeError, "uint8"):
        kernels.narrow_to_uint8(values, np.zeros(6, dtype=np.uint16))
    with misuse(ValueError, "6 values"):
        kernels.narrow_to_uint8(values, np.zeros(5, dtype=np.uint8))
    with misuse(ValueError, "C-contiguous"):
        kernels.narrow_to_uint8(values, np.zeros(12, dtype=np.uint8)[::2])
    frozen = np.zeros(6, dtype=np.uint8)
    frozen.flags.writeable = False
    with misuse(ValueError, "writeable"):
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
def test_label_overlap_matches_reference(shape, n_files):
    rng = np.random.default_rng(hash((shape, n_files)) % 2**32)
    vols, luts = _random_files(rng, shape, n_files, 6, 7)
    got = kernels.label_overlap(vols, luts, n_segments=7).dense()
    np.testing.assert_array_equal(got, ref.label_overlap(vols, luts, 7))


def test_label_overlap_triple_and_shared_index():
    a = np.array([[[1, 1, 0, 2]]], np.uint8)
    b = np.array([[[3, 0, 3, 3]]], np.uint16)
    c = np.array([[[5, 5, 5, 0]]], np.uint8)
    luts = [np.array([-1, 0, 1]), np.array([-1, -1, -1, 1]), np.array([-1, -1, -1, -1, -1, 2])]
    # voxel 0: 0, 1, 2; voxel 1: 0, 2; voxel 2: 1, 2; voxel 3: 1 (file a) and 1 (file b) -> no pair
    expected = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    np.testing.assert_array_equal(kernels.label_overlap([a, b, c], luts).dense(), expected)


def test_label_overlap_chunks(monkeypatch):
    monkeypatch.setattr(kernel_labels, "_CHUNK", 37)
    rng = np.random.default_rng(3)
    vols, luts = _random_files(rng, (3, 38, 23), 3, 5, 6)
    np.testing.assert_array_equal(kernels.label_overlap(vols, luts, 6).dense(), ref.label_overlap(vols, luts, 6))


def test_label_overlap_errors():
    a = np.zeros((2, 3, 4), np.uint8)
    a[0, 0, 0] = 4
    with misuse(ValueError, "label image 1: label 4 is outside its lookup table of 3"):
        kernels.label_overlap([a], [np.array([-1, 0, 1])])
    with misuse(ValueError, "label image 2 has shape"):
        kernels.label_overlap([a, np.zeros((2, 4, 3), np.uint8)], [np.arange(5) - 1] * 2)
    with misuse(ValueError, "2 label images but 1 lookup"):
        kernels.label_overlap([a, a], [np.arange(5) - 1])
    with misuse(ValueError, "-1 \\(none\\)"):
        kernels.label_overlap([a], [np.arange(5) - 2])
    with misuse(ValueError, "n_segments is 2"):
        kernels.label_overlap([a], [np.arange(5) - 1], n_segments=2)


@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
    n_files=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_label_overlap_property(shape, n_files, seed):
    rng = np.random.default_rng(seed)
    vols, luts = _random_files(rng, shape, n_files, 4, 4)
    np.testing.assert_array_equal(
        kernels.label_overlap(vols, luts, n_segments=4).dense(), ref.label_overlap(vols, luts, 4)
    )


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
    sparse = kernels.Overlap.from_keys(n, [a * n + b for a, b in pairs], [5] * len(pairs))
    assert kernels.greedy_layers(sparse).tolist() == expected


@given(n=st.integers(0, 12), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_greedy_layers_property(n, seed):
    rng = np.random.default_rng(seed)
    ov = rng.random((n, n)) < rng.random()
    layers = kernels.greedy_layers(ov)
    np.testing.assert_array_equal(layers, ref.greedy_layers(ov))
    a, b = np.nonzero(np.triu(ov | ov.T, 1))
    sparse = kernels.Overlap.from_keys(n, a * n + b, np.ones(a.size, np.int64))
    np.testing.assert_array_equal(kernels.greedy_layers(sparse), layers)
    sym = (ov | ov.T) & ~np.eye(n, dtype=bool)
    for a in range(n):
        for b in range(n):
            if sym[a, b]:
                assert layers[a] != layers[b]


def test_greedy_layers_rejects_non_square():
    with misuse(ValueError, "square"):
        kernels.greedy_layers(np.zeros((2, 3)))


def test_label_overlap_memory_follows_pairs():
    """Two files of 65,535 labels each, overlapping on one voxel: one pair, not a 34 GB matrix."""
    n = 65_535
    a = np.arange(1, n + 1, dtype=np.uint16).reshape(1, 255, 257)
    b = np.zeros_like(a)
    b[0, 0, 0] = 7
    luts = [np.arange(-1, n, dtype=np.int64), np.full(8, -1, np.int64)]
    luts[1][7] = n  # file b's label 7 is segment n (0-based), after file a's n segments
    got = kernels.label_overlap([a, b], luts, n_segments=n + 1)
    assert got.pairs.tolist() == [[0, n]] and got.counts.tolist() == [1]
    layers = kernels.greedy_layers(got)
    assert layers.shape == (n + 1,) and layers[n] == 1 and not layers[:n].any()
