"""Unit tests of labelmap.seg.decode: decoding LABELMAP datasets and rejecting damaged ones."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence as DicomSequence

from labelmap.demo.sample import write_ct_series
from labelmap.errors import SegFormatError, UnsupportedError
from labelmap.geometry import match_slices
from labelmap.model import Code, LabelVolume, SegmentDescription
from labelmap.pipeline.convert import load_source, read_seg
from labelmap.seg.decode import decode_labelmap
from labelmap.seg.encode import encode_labelmap, save_dataset
from labelmap.seg.read import open_seg

from _geometries import axial_geometry, oblique_geometry

CATEGORY = Code("123037004", "SCT", "Anatomical Structure")
TISSUE = Code("85756007", "SCT", "Tissue")


def segs(*numbers):
    return tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=TISSUE, label=f"s{n}") for n in numbers
    )


@pytest.fixture
def seg_case(tmp_path):
    """A small oblique LABELMAP: (dataset, array, geometry, ct_dir), slices 0 and 4 empty."""
    g = oblique_geometry(shape=(5, 12, 10))
    ct = tmp_path / "ct"
    write_ct_series(ct, g)
    source = load_source(ct)
    arr = np.zeros(g.shape, np.uint16)
    arr[1, 2:6, 3:7] = 1
    arr[2, 4:9, 1:5] = 300
    arr[3, 0, 0] = 2
    arr[3, 5:7, 5:9] = 300
    ds = encode_labelmap(LabelVolume(arr, g, segs(1, 2, 300)), source, match_slices(g, source))
    return ds, arr, g, ct


def saved(ds, tmp_path, name="seg.dcm"):
    path = tmp_path / name
    save_dataset(ds, path)
    return path


def test_decode_roundtrip_from_dataset_and_file(seg_case, tmp_path):
    ds, arr, g, ct = seg_case
    d = decode_labelmap(ds)
    assert d.volume.geometry.shape == (3, 12, 10)
    np.testing.assert_array_equal(d.volume.array, arr[1:4])
    assert d.volume.geometry.max_deviation(g.crop_slices(1, 4)) < 1e-4
    assert d.background_number == 0
    assert [s.number for s in d.volume.segments] == [1, 2, 300]
    assert d.volume.array.dtype == np.uint16
    path = saved(ds, tmp_path)
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


def test_truncated_pixel_data(seg_case):
    ds, *_ = seg_case
    ds.PixelData = ds.PixelData[:-20]
    with pytest.raises(SegFormatError, match=r"Pixel Data holds \d+ bytes .* needs 720"):
        decode_labelmap(ds)


def test_truncated_file(seg_case, tmp_path):
    ds, *_ = seg_case
    path = saved(ds, tmp_path)
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


def test_two_frames_at_one_position(seg_case):
    ds, *_ = seg_case
    pos = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
    ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient = pos
    with pytest.raises(SegFormatError, match="several frames lie at slice"):
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


def test_other_segmentation_type(seg_case):
    ds, *_ = seg_case
    ds.SegmentationType = "BINARY"
    with pytest.raises(UnsupportedError, match="BINARY"):
        decode_labelmap(ds)


def test_bad_bits_allocated(seg_case):
    ds, *_ = seg_case
    ds.BitsAllocated = 12
    with pytest.raises(SegFormatError, match="Bits Allocated 12"):
        decode_labelmap(ds)


def test_non_zero_pixel_padding_value(tmp_path):
    """A background segment numbered 5 (PPV 5) reads as 0 and is not exported."""
    g = axial_geometry(shape=(2, 6, 6))
    write_ct_series(tmp_path / "ct", g)
    source = load_source(tmp_path / "ct")
    arr = np.full(g.shape, 5, np.uint8)
    arr[0, 1:3, 1:3] = 1
    ds = encode_labelmap(LabelVolume(arr, g, segs(1, 5)), source, np.arange(2))
    assert "PixelPaddingValue" not in ds
    ds.PixelPaddingValue = 5
    d = decode_labelmap(ds)
    expected = np.where(arr == 5, 0, arr)
    np.testing.assert_array_equal(d.volume.array, expected)
    assert [s.number for s in d.volume.segments] == [1]
    assert d.background_number == 5


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
