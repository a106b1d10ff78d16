"""Unit tests of labelmap.seg.read: opening SEG files and datasets, frame geometry, segment descriptions."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence as DicomSequence

from labelmap.demo.sample import write_ct_series
from labelmap.errors import SegFormatError
from labelmap.pipeline.convert import read_seg
from labelmap.seg.decode import decode_labelmap
from labelmap.seg.encode import save_dataset
from labelmap.seg.read import open_seg

from _geometries import axial_geometry


def test_truncated_file(seg_case, tmp_path):
    ds, *_ = seg_case
    path = tmp_path / "seg.dcm"
    save_dataset(ds, path)
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 300])
    with pytest.raises(SegFormatError):
        read_seg(cut)


def test_not_a_seg(seg_case):
    _, _, _, ct = seg_case
    ct_file = sorted(ct.iterdir())[0]
    with pytest.raises(SegFormatError, match="is not a Segmentation"):
        read_seg(ct_file)
    with pytest.raises(SegFormatError, match="is not a Segmentation"):
        open_seg(pydicom.dcmread(ct_file))


def test_not_dicom_and_missing(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, not DICOM at all\n")
    with pytest.raises(SegFormatError):
        read_seg(text)
    with pytest.raises(SegFormatError, match="file not found"):
        read_seg(tmp_path / "missing.dcm")
    with pytest.raises(SegFormatError, match="folder"):
        read_seg(tmp_path)


def test_duplicate_segment_number(seg_case):
    ds, *_ = seg_case
    ds.SegmentSequence.append(copy.deepcopy(ds.SegmentSequence[1]))
    with pytest.raises(SegFormatError, match="described twice"):
        decode_labelmap(ds)


def test_empty_segment_sequence(seg_case):
    ds, *_ = seg_case
    ds.SegmentSequence = DicomSequence([])
    with pytest.raises(SegFormatError, match="Segment Sequence"):
        decode_labelmap(ds)


def test_frame_count_mismatch(seg_case):
    ds, *_ = seg_case
    ds.NumberOfFrames = 4
    with pytest.raises(SegFormatError, match="Number of Frames is 4"):
        decode_labelmap(ds)


def test_missing_position(seg_case):
    ds, *_ = seg_case
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    with pytest.raises(SegFormatError, match="frame 2 has no PlanePositionSequence"):
        decode_labelmap(ds)


def test_invalid_position_value(seg_case):
    ds, *_ = seg_case
    del ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0].ImagePositionPatient
    with pytest.raises(SegFormatError, match="frame 3 has no valid ImagePositionPatient"):
        decode_labelmap(ds)


def test_reference_mismatch(seg_case, tmp_path):
    ds, _, g, _ = seg_case
    other = tmp_path / "other"
    write_ct_series(other, axial_geometry(shape=(5, 12, 10)), seed=9)
    with pytest.raises(Exception, match="frame 1"):
        read_seg(ds, reference=other)


def test_shared_plane_position_and_sbs_absent(seg_case):
    """SpacingBetweenSlices absent: SliceThickness or the frame gaps give the step."""
    ds, arr, g, _ = seg_case
    del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices
    d = decode_labelmap(ds)
    np.testing.assert_array_equal(d.volume.array, arr[1:4])
    assert d.volume.geometry.max_deviation(g.crop_slices(1, 4)) < 1e-4
