"""Each Cython kernel against its plain NumPy reference, odd shapes and edge values included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelmap import kernels
from labelmap.errors import InputError, LabelmapError

from _reference import label_presence as ref_presence
from _reference import remap_labels as ref_remap

SHAPES = [(3, 38, 23), (5, 22, 21), (1, 1, 1), (2, 7, 9), (4, 16, 16)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,hi", [(np.uint8, 255), (np.uint16, 65535), (np.int16, 300), (np.int64, 70), (np.uint32, 1000)])
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
@pytest.mark.parametrize("in_dtype,lut_dtype", [(np.uint8, np.uint8), (np.uint16, np.uint8), (np.uint8, np.uint16), (np.uint16, np.uint16)])
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
