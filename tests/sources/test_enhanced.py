"""Enhanced (multi-frame) CT / MR sources: each frame a slice, referenced by Referenced Frame Number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import write_image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from labelmap.demo.sample import organ_phantom, sample_metadata, write_ct_series
from labelmap.errors import DicomSeriesError
from labelmap.pipeline.convert import itk_to_seg, read_seg
from labelmap.sources.series import load_series, series_geometry
from labelmap.validate import validate_seg

from _geometries import axial_geometry, oblique_geometry

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def _item(**values) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def enhanced_from_series(
    files: list[Path], target: Path, *, sop_class: str = ENHANCED_CT, per_frame_orientation: bool = False, order=None
) -> Path:
    """One Enhanced multi-frame file holding the slices of a single-frame series (frames in ``order``)."""
    slices = [pydicom.dcmread(f) for f in files]
    order = list(range(len(slices))) if order is None else list(order)
    first = slices[0]
    ds = Dataset()
    for element in first:
        if element.keyword not in (
            "ImagePositionPatient",
            "ImageOrientationPatient",
            "PixelSpacing",
            "SliceThickness",
            "SliceLocation",
            "InstanceNumber",
            "SOPInstanceUID",
            "SOPClassUID",
            "PixelData",
        ):
            ds.add(element)
    ds.file_meta = first.file_meta
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "MR" if sop_class == ENHANCED_MR else "CT"
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(order)
    orientation = _item(ImageOrientationPatient=first.ImageOrientationPatient)
    measures = _item(PixelSpacing=first.PixelSpacing, SliceThickness=first.SliceThickness)
    shared = _item(PixelMeasuresSequence=[measures])
    if not per_frame_orientation:
        shared.PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    items = []
    for k in order:
        item = _item(PlanePositionSequence=[_item(ImagePositionPatient=slices[k].ImagePositionPatient)])
        item.FrameContentSequence = [_item(StackID="1", InStackPositionNumber=k + 1)]
        if per_frame_orientation:
            item.PlaneOrientationSequence = [_item(ImageOrientationPatient=slices[k].ImageOrientationPatient)]
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = items
    ds.PixelData = b"".join(slices[k].PixelData for k in order)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


GEOMETRY = axial_geometry(shape=(5, 12, 10))


@pytest.mark.parametrize("geometry", [GEOMETRY, oblique_geometry()], ids=["axial", "oblique"])
@pytest.mark.parametrize("per_frame_orientation", [False, True], ids=["shared", "per-frame"])
def test_enhanced_ct_frames_are_slices(tmp_path, geometry, per_frame_orientation):
    files = write_ct_series(tmp_path / "single", geometry)
    single = load_series([tmp_path / "single"])
    order = [3, 0, 4, 1, 2][: len(files)] if len(files) == 5 else None  # frames stored out of order
    path = enhanced_from_series(
        files, tmp_path / "enh" / "ct.dcm", per_frame_orientation=per_frame_orientation, order=order
    )
    series = load_series([tmp_path / "enh"])
    np.testing.assert_allclose(series.positions, single.positions)
    np.testing.assert_allclose(series.orientation, single.orientation)
    assert series.pixel_spacing == single.pixel_spacing
    uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
    assert series.sop_instance_uids == (uid,) * len(files) and series.sop_class_uids == (ENHANCED_CT,) * len(files)
    # frame f + 1 holds slice order[f]: sorted slice k comes from frame order.index(k) + 1
    expected = tuple(order.index(k) + 1 for k in range(len(files))) if order else tuple(range(1, len(files) + 1))
    assert series.frame_numbers == expected
    assert series.files == (str(path),) * len(files)
    g = series_geometry(series)
    assert g.shape == geometry.shape
    assert g.max_deviation(series_geometry(single)) < 1e-4


def _labels(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    labels = organ_phantom(GEOMETRY, 2, seed=3)
    lab = tmp_path / "lab.nrrd"
    write_image(lab, labels, GEOMETRY)
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps(sample_metadata(sorted(int(v) for v in np.unique(labels) if v))))
    return lab, meta, labels


@pytest.mark.parametrize("seg_type", ["labelmap", "binary"])
def test_seg_on_an_enhanced_ct_references_its_frames(tmp_path, seg_type):
    from labelmap.pipeline.options import WriteOptions

    files = write_ct_series(tmp_path / "single", GEOMETRY)
    order = [2, 4, 0, 1, 3]
    ct = enhanced_from_series(files, tmp_path / "enh" / "ct.dcm", order=order)
    ct_uid = pydicom.dcmread(ct, stop_before_pixels=True).SOPInstanceUID
    lab, meta, labels = _labels(tmp_path)
    out = tmp_path / "out.seg.dcm"
    itk_to_seg([lab], [tmp_path / "enh"], meta, out, options=WriteOptions(seg_type=seg_type))
    seg = pydicom.dcmread(out)
    assert [v for v in validate_seg(out) if v.severity == "error"] == []
    refs = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [ct_uid]
    for item in seg.PerFrameFunctionalGroupsSequence:
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert source.ReferencedSOPInstanceUID == ct_uid and source.ReferencedSOPClassUID == ENHANCED_CT
        z = float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        k = int(np.argmin(np.abs(GEOMETRY.slice_positions()[:, 2] - z)))
        assert int(source.ReferencedFrameNumber) == order.index(k) + 1
    decoded = read_seg(out, reference=[tmp_path / "enh"])
    if seg_type == "labelmap":
        np.testing.assert_array_equal(decoded.volume.array, labels)
    assert decoded.geometry.max_deviation(GEOMETRY) < 1e-4


def test_enhanced_mr_with_two_echoes_at_one_position_is_refused(tmp_path):
    files = write_ct_series(tmp_path / "single", GEOMETRY)
    enhanced_from_series(files, tmp_path / "enh" / "mr.dcm", sop_class=ENHANCED_MR, order=[0, 1, 2, 3, 4, 0])
    with pytest.raises(DicomSeriesError, match=r"same slice position.*mr.dcm' frame 1 and .*mr.dcm' frame 6"):
        load_series([tmp_path / "enh"])


def test_enhanced_frame_without_position_is_one_error(tmp_path):
    files = write_ct_series(tmp_path / "single", GEOMETRY)
    path = enhanced_from_series(files, tmp_path / "enh" / "ct.dcm")
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence
    ds.save_as(path)
    with pytest.raises(DicomSeriesError) as info:
        load_series([tmp_path / "enh"])
    assert info.value.frame == 3 and info.value.keyword == "ImagePositionPatient"
    assert "ct.dcm: ImagePositionPatient, frame 3: no usable PlanePositionSequence" in str(info.value)


def test_enhanced_frame_count_mismatch_is_one_error(tmp_path):
    files = write_ct_series(tmp_path / "single", GEOMETRY)
    path = enhanced_from_series(files, tmp_path / "enh" / "ct.dcm")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 7
    ds.save_as(path)
    with pytest.raises(DicomSeriesError, match="NumberOfFrames 7 but 5 Per-frame Functional Groups items"):
        load_series([tmp_path / "enh"])


def test_legacy_multi_frame_with_one_position_is_refused(tmp_path):
    files = write_ct_series(tmp_path / "single", GEOMETRY)
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(tmp_path / "mf" / "x.dcm" if (tmp_path / "mf").mkdir() is None else None)
    with pytest.raises(DicomSeriesError, match="one ImagePositionPatient for its 2 frames.*Enhanced"):
        load_series([tmp_path / "mf"])


def test_highdicom_reads_the_seg_by_source_frame(tmp_path):
    """highdicom indexes a SEG by the Referenced Frame Numbers of its source: the frames of the
    Enhanced CT give back the label slices (BINARY: one segment per call)."""
    hd = pytest.importorskip("highdicom")
    from labelmap.pipeline.options import WriteOptions

    files = write_ct_series(tmp_path / "single", GEOMETRY)
    order = [2, 4, 0, 1, 3]
    ct = enhanced_from_series(files, tmp_path / "enh" / "ct.dcm", order=order)
    ct_uid = pydicom.dcmread(ct, stop_before_pixels=True).SOPInstanceUID
    lab, meta, labels = _labels(tmp_path)
    out = tmp_path / "out.seg.dcm"
    itk_to_seg([lab], [tmp_path / "enh"], meta, out, options=WriteOptions(seg_type="binary"))
    seg = hd.seg.segread(out)
    frames = list(range(1, len(order) + 1))
    numbers = sorted(int(v) for v in np.unique(labels) if v)
    pixels = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=ct_uid,
        source_frame_numbers=frames,
        segment_numbers=numbers,
        combine_segments=True,
        assert_missing_frames_are_empty=True,
    )
    for f in frames:
        np.testing.assert_array_equal(pixels[f - 1], labels[order[f - 1]])


def test_enhanced_with_zero_frames_is_one_error(tmp_path):
    files = write_ct_series(tmp_path / "single", GEOMETRY)
    path = enhanced_from_series(files, tmp_path / "enh" / "ct.dcm")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 0
    del ds.PerFrameFunctionalGroupsSequence
    ds.save_as(path)
    with pytest.raises(DicomSeriesError, match="ct.dcm: NumberOfFrames .*: NumberOfFrames is 0"):
        load_series([tmp_path / "enh"])


# --------------------------------------------------------------------------- bin2label keeps frame numbers
def _frame_refs(path) -> list[tuple[float, str, int | None]]:
    """(z of the frame, referenced instance, its Referenced Frame Number) per frame of a SEG."""
    out = []
    for item in pydicom.dcmread(path).PerFrameFunctionalGroupsSequence:
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        number = source.get("ReferencedFrameNumber", None)
        z = float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        out.append((z, source.ReferencedSOPInstanceUID, None if number is None else int(number)))
    return out


@pytest.mark.parametrize("keep_empty_slices", [False, True])
def test_bin2label_keeps_referenced_frame_numbers(tmp_path, keep_empty_slices):
    """bin2label on a BINARY SEG of an Enhanced CT: each Source Image item keeps its Referenced Frame Number."""
    from labelmap.pipeline.bin2label import binary_to_labelmap
    from labelmap.pipeline.options import WriteOptions

    files = write_ct_series(tmp_path / "single", GEOMETRY)
    order = [2, 4, 0, 1, 3]  # frame f + 1 holds slice order[f]
    ct = enhanced_from_series(files, tmp_path / "enh" / "ct.dcm", order=order)
    ct_uid = pydicom.dcmread(ct, stop_before_pixels=True).SOPInstanceUID
    lab, meta, labels = _labels(tmp_path)
    binary = tmp_path / "binary.dcm"
    itk_to_seg([lab], [tmp_path / "enh"], meta, binary, options=WriteOptions(seg_type="binary"))
    out = tmp_path / "labelmap.dcm"
    binary_to_labelmap(binary, out, options=WriteOptions(keep_empty_slices=keep_empty_slices))

    assert [v for v in validate_seg(out) if v.severity == "error"] == []
    refs = _frame_refs(out)
    assert sorted({z for z, _, _ in refs}) == sorted({z for z, _, _ in _frame_refs(binary)})  # one grid
    z_of = GEOMETRY.slice_positions()[:, 2]
    for z, uid, number in refs:
        k = int(np.argmin(np.abs(z_of - z)))
        assert uid == ct_uid and number == order.index(k) + 1
    # the same frame numbers as the BINARY's frames at the same positions
    binary_numbers = {round(z, 4): number for z, _, number in _frame_refs(binary)}
    assert all(binary_numbers.get(round(z, 4), number) == number for z, _, number in refs)
    ds = pydicom.dcmread(out)
    instances = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID) for r in instances] == [(ENHANCED_CT, ct_uid)]
    decoded = read_seg(out, reference=[tmp_path / "enh"])
    np.testing.assert_array_equal(decoded.volume.array, labels)
