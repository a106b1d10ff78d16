"""Unit tests of labelmap.seg.decode: decoding LABELMAP datasets and rejecting damaged ones."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydicom.sequence import Sequence as DicomSequence

from labelmap.demo.sample import write_ct_series
from labelmap.errors import SegFormatError, UnsupportedError
from labelmap.model import LabelVolume
from labelmap.pipeline.convert import load_source, read_seg
from labelmap.seg.decode import _stack_frames, decode_labelmap
from labelmap.seg.encode import encode_labelmap, save_dataset

from _geometries import axial_geometry
from _segfiles import segments


def test_decode_roundtrip_from_dataset_and_file(seg_case, tmp_path):
    ds, arr, g, ct = seg_case
    d = decode_labelmap(ds)
    assert d.volume.geometry.shape == (3, 12, 10)
    np.testing.assert_array_equal(d.volume.array, arr[1:4])
    assert d.volume.geometry.max_deviation(g.crop_slices(1, 4)) < 1e-4
    assert d.background_number == 0
    assert [s.number for s in d.volume.segments] == [1, 2, 300]
    assert d.volume.array.dtype == np.uint16
    path = tmp_path / "seg.dcm"
    save_dataset(ds, path)
    d2 = read_seg(path, reference=ct)
    np.testing.assert_array_equal(d2.volume.array, arr)
    assert d2.filled_slices == 2


def test_decode_ignores_frame_order(seg_case):
    """Frames are placed by position, not by their order in the file."""
    ds, arr, g, _ = seg_case
    n = int(ds.NumberOfFrames)
    frames = np.frombuffer(ds.PixelData, "<u2", count=n * 120).reshape(n, 12, 10)
    order = [2, 0, 1]
    shuffled = copy.deepcopy(ds)
    shuffled.PerFrameFunctionalGroupsSequence = DicomSequence([ds.PerFrameFunctionalGroupsSequence[i] for i in order])
    shuffled.PixelData = np.ascontiguousarray(frames[order]).astype("<u2").tobytes()
    d = decode_labelmap(shuffled)
    np.testing.assert_array_equal(d.volume.array, arr[1:4])


def test_undescribed_pixel_value(seg_case):
    ds, *_ = seg_case
    ds.SegmentSequence = DicomSequence([s for s in ds.SegmentSequence if s.SegmentNumber != 2])
    with pytest.raises(SegFormatError, match=r"pixel values \[2\] .* no Segment Sequence item"):
        decode_labelmap(ds)


def test_undescribed_background(seg_case):
    """0 occurs in the frames: without the background item it is undescribed too."""
    ds, *_ = seg_case
    ds.SegmentSequence = DicomSequence([s for s in ds.SegmentSequence if s.SegmentNumber != 0])
    with pytest.raises(SegFormatError, match=r"pixel values \[0\]"):
        decode_labelmap(ds)


def test_two_frames_at_one_position(seg_case):
    ds, *_ = seg_case
    pos = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
    ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient = pos
    with pytest.raises(SegFormatError, match="several frames lie at slice"):
        decode_labelmap(ds)


def test_other_segmentation_type(seg_case):
    ds, *_ = seg_case
    ds.SegmentationType = "BINARY"
    with pytest.raises(UnsupportedError, match="BINARY"):
        decode_labelmap(ds)


def test_non_zero_pixel_padding_value(tmp_path):
    """A background segment numbered 5 (PPV 5): its pixels keep their stored value 5 (dcmqi's rule: stored
    pixels are exported unchanged) and the segment is not exported."""
    g = axial_geometry(shape=(2, 6, 6))
    write_ct_series(tmp_path / "ct", g)
    source = load_source(tmp_path / "ct")
    arr = np.full(g.shape, 5, np.uint8)
    arr[0, 1:3, 1:3] = 1
    ds = encode_labelmap(LabelVolume(arr, g, segments(1, 5)), source, np.arange(2))
    assert "PixelPaddingValue" not in ds
    ds.PixelPaddingValue = 5
    d = decode_labelmap(ds)
    np.testing.assert_array_equal(d.volume.array, arr)
    assert [s.number for s in d.volume.segments] == [1]
    assert d.background_number == 5


def _sparse(tmp_path, padding):
    """A LABELMAP of 5 slices whose middle slice (empty) has no frame, with Pixel Padding Value ``padding``."""
    g = axial_geometry(shape=(5, 6, 6))
    write_ct_series(tmp_path / "ct", g)
    source = load_source(tmp_path / "ct")
    arr = np.zeros(g.shape, np.uint8)
    arr[[0, 1, 3, 4], 1:3, 1:3] = 1
    ds = encode_labelmap(LabelVolume(arr, g, segments(1)), source, np.arange(5))
    assert int(ds.NumberOfFrames) == 4
    if padding is None:
        del ds.PixelPaddingValue
    else:
        ds.PixelPaddingValue = padding
    return ds, arr, tmp_path / "ct"


@pytest.mark.parametrize("padding, fill", [(5, 5), (None, 0), (0, 0), (300, 0)])
def test_slices_without_a_frame_read_as_the_pixel_padding_value(tmp_path, padding, fill):
    """dcmqi's rule: a slice without a frame holds the Pixel Padding Value (when it fits the pixels), else 0;
    slices with a frame hold their stored values; on a reference grid the same fill applies."""
    ds, arr, ct = _sparse(tmp_path, padding)
    d = decode_labelmap(ds)
    expected = arr.copy()
    expected[2] = fill
    np.testing.assert_array_equal(d.volume.array, expected)
    assert (d.filled_slices, d.fill_value) == (1, fill)
    # only the Pixel Padding Value designates the background: segment 0 (typed Background) is otherwise a
    # regular segment, as dcmqi reads it
    assert [s.number for s in d.volume.segments] == ([1] if padding == 0 else [0, 1])
    assert any("Pixel Padding Value 300 does not fit the 8-bit pixels" in n for n in d.notes) == (padding == 300)
    path = tmp_path / "sparse.dcm"
    save_dataset(ds, path)
    on_ct = read_seg(path, reference=ct)
    np.testing.assert_array_equal(on_ct.volume.array, expected)


def test_stack_frames_without_copy_in_order_and_with_gaps():
    frames = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3)
    same = _stack_frames(frames, np.arange(4), (4, 2, 3), np.uint8)
    assert np.shares_memory(same, frames)
    reordered = _stack_frames(frames, np.array([3, 2, 1, 0]), (4, 2, 3), np.uint8)
    np.testing.assert_array_equal(reordered, frames[::-1])
    gapped = _stack_frames(frames, np.array([0, 2, 3, 5]), (6, 2, 3), np.uint16)
    assert gapped.dtype == np.uint16
    np.testing.assert_array_equal(gapped[[0, 2, 3, 5]], frames)
    assert not gapped[[1, 4]].any()
