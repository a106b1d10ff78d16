"""labelmap.sources.series: finding, sorting and checking a source CT series."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from labelmap.demo.sample import write_ct_series
from labelmap.errors import DicomSeriesError
from labelmap.model import Geometry
from labelmap.sources.series import find_dicom_files, load_series, series_geometry

from _geometries import axial_geometry, las_geometry, make_ct_series, oblique_geometry, reversed_geometry


def _write_non_image(path: Path) -> None:
    """A DICOM file with only SOP Common + series attributes (like an SR or KO): no image geometry."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _scatter(tmp_path: Path, geometry: Geometry, seed: int = 1, **kw) -> tuple[Path, list[str]]:
    """Write a series, then move its files into shuffled nested folders with junk mixed in."""
    written = write_ct_series(tmp_path / "staging", geometry, **kw)
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in written]
    root = tmp_path / "scattered"
    rng = random.Random(seed)
    names = list(written)
    rng.shuffle(names)
    moved = []
    for n, f in enumerate(names):
        sub = root / f"d{n % 3}" / (f"e{n % 2}" if n % 4 else "")
        sub.mkdir(parents=True, exist_ok=True)
        target = sub / f"IMG{rng.randrange(10**6):06d}_{n}"
        shutil.move(str(f), target)
        moved.append(target)
    (root / "README.txt").write_text("not a DICOM file\n")
    (root / "d1" / "notes.dat").write_bytes(b"\x00" * 300)
    _write_non_image(root / "d2" / "report.dcm")
    return root, uids


def _assert_geometry_close(actual: Geometry, expected: Geometry, tol: float = 1e-4) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.origin, expected.origin, atol=tol)
    np.testing.assert_allclose(actual.direction, expected.direction, atol=tol)
    np.testing.assert_allclose(actual.spacing, expected.spacing, atol=tol)


@pytest.mark.parametrize(
    "geometry",
    [axial_geometry(), oblique_geometry(), axial_geometry(shape=(7, 16, 12), spacing=(0.45, 1.3, 4.0)), las_geometry()],
    ids=["axial", "oblique", "anisotropic", "las"],
)
def test_load_series_sorted_and_geometry(tmp_path, geometry):
    root, uids = _scatter(tmp_path, geometry)
    series = load_series([root])
    n = geometry.shape[0]
    assert len(series) == n
    assert series.positions.shape == (n, 3)
    assert series.positions.dtype == np.float64
    dist = series.positions @ np.cross(series.orientation[:3], series.orientation[3:])
    assert np.all(np.diff(dist) > 0)
    np.testing.assert_allclose(series.positions, geometry.slice_positions(), atol=1e-4)
    np.testing.assert_allclose(series.orientation, geometry.image_orientation, atol=1e-6)
    assert series.pixel_spacing == pytest.approx(tuple(geometry.pixel_spacing))
    assert (series.rows, series.columns) == geometry.shape[1:]
    # every geometry here has k along +normal, so slice k of the writer comes k-th
    assert series.sop_instance_uids == tuple(uids)
    assert series.sop_class_uids == (pydicom.uid.CTImageStorage,) * n
    assert series.frame_numbers == (None,) * n
    assert len(series.files) == n
    for k, f in enumerate(series.files):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        assert ds.SOPInstanceUID == series.sop_instance_uids[k]
        assert int(ds.InstanceNumber) == k + 1
    _assert_geometry_close(series_geometry(series), geometry)
    assert series.dataset.PatientName == "Sample^Patient"
    assert series.dataset.PatientID == "LM0001"
    assert "FrameOfReferenceUID" in series.dataset
    assert "StudyInstanceUID" in series.dataset
    assert "Modality" not in series.dataset  # the SEG gets its own series attributes


def test_reversed_slice_order(tmp_path):
    forward = axial_geometry()
    backward = reversed_geometry(forward)  # k along -normal
    assert np.dot(backward.slice_direction, backward.normal) < 0
    root, _ = _scatter(tmp_path, backward)
    series = load_series([root])
    assert np.all(np.diff(series.positions @ np.cross(series.orientation[:3], series.orientation[3:])) > 0)
    geometry = series_geometry(series)
    _assert_geometry_close(geometry, forward)
    np.testing.assert_allclose(geometry.origin, backward.slice_positions()[-1], atol=1e-6)
    # the instance written last (slice k = N-1 of the backward grid) comes first
    first = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    assert int(first.InstanceNumber) == backward.shape[0]


def test_files_as_list_and_duplicate_instance(tmp_path):
    written = write_ct_series(tmp_path / "a", axial_geometry())
    copy = tmp_path / "copy.dcm"
    shutil.copy(written[2], copy)  # the same instance twice counts once
    series = load_series([*written[::-1], copy])
    assert len(series) == len(written)
    assert find_dicom_files([tmp_path / "a"]) == sorted(written)


def test_single_slice(tmp_path):
    g = axial_geometry(shape=(1, 8, 9), spacing=(0.5, 0.6, 3.0))
    series = load_series([make_ct_series(tmp_path, g)])
    geometry = series_geometry(series)
    _assert_geometry_close(geometry, g)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomSeriesError, match="no DICOM images were found") as info:
        load_series([tmp_path / "empty"])
    assert "empty" in str(info.value)


def test_missing_path(tmp_path):
    with pytest.raises(DicomSeriesError, match="does not exist"):
        load_series([tmp_path / "nope"])


def test_only_non_dicom(tmp_path):
    d = tmp_path / "junk"
    d.mkdir()
    (d / "a.txt").write_text("hello")
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    _write_non_image(d / "sr.dcm")
    with pytest.raises(DicomSeriesError, match="no DICOM images were found") as info:
        load_series([d])
    msg = str(info.value)
    assert "3 file(s) scanned" in msg and "2 not DICOM" in msg and "1 DICOM without image geometry" in msg


def test_two_series(tmp_path):
    make_ct_series(tmp_path, axial_geometry(), name="s1", series_number=1)
    make_ct_series(tmp_path, axial_geometry(shape=(3, 10, 10)), name="s2", series_number=7)
    a = load_series([tmp_path / "s1"])
    b = load_series([tmp_path / "s2"])
    assert a.series_instance_uid != b.series_instance_uid
    with pytest.raises(DicomSeriesError) as info:
        load_series([tmp_path])
    msg = str(info.value)
    assert a.series_instance_uid in msg and b.series_instance_uid in msg
    assert "--series-uid" in msg
    assert "SeriesNumber 7" in msg and "3 slice(s)" in msg and "Modality CT" in msg
    # series_uid selects
    chosen = load_series([tmp_path], series_uid=b.series_instance_uid)
    assert chosen.sop_instance_uids == b.sop_instance_uids
    assert series_geometry(chosen).shape == (3, 10, 10)
    with pytest.raises(DicomSeriesError, match="was not found") as info:
        load_series([tmp_path], series_uid="1.2.3.4")
    assert a.series_instance_uid in str(info.value)


def test_missing_slice(tmp_path):
    g = axial_geometry(shape=(8, 10, 10))
    d = make_ct_series(tmp_path, g)
    (d / "CT000004.dcm").unlink()  # slice k = 3
    series = load_series([d])
    with pytest.raises(DicomSeriesError) as info:
        series_geometry(series)
    msg = str(info.value)
    assert "between slice 2 and slice 3" in msg
    assert "5.0000 mm" in msg and "expected 2.5000 mm" in msg
    assert "missing" in msg


def test_irregular_spacing_and_tolerance(tmp_path):
    g = axial_geometry(shape=(4, 8, 8))
    d = make_ct_series(tmp_path, g)
    f = d / "CT000003.dcm"
    ds = pydicom.dcmread(f)
    ds.ImagePositionPatient = [float(v) for v in ds.ImagePositionPatient[:2]] + [
        float(ds.ImagePositionPatient[2]) + 0.05
    ]
    ds.save_as(f)
    series = load_series([d])
    with pytest.raises(DicomSeriesError, match="not regularly spaced"):
        series_geometry(series)
    assert series_geometry(series, tol_mm=0.1).shape == (4, 8, 8)


def test_not_on_a_line(tmp_path):
    g = axial_geometry(shape=(5, 8, 8))
    d = make_ct_series(tmp_path, g)
    for name in ("CT000002.dcm", "CT000004.dcm"):  # zig-zag: equal step lengths, but not collinear
        f = d / name
        ds = pydicom.dcmread(f)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x + 0.5, y, z]
        ds.save_as(f)
    series = load_series([d])
    with pytest.raises(DicomSeriesError, match="not on a straight line") as info:
        series_geometry(series)
    assert "slice 1" in str(info.value) or "slice 3" in str(info.value)


def test_duplicate_position(tmp_path):
    g = axial_geometry(shape=(4, 8, 8))
    d = make_ct_series(tmp_path, g)
    ds = pydicom.dcmread(d / "CT000002.dcm")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(d / "extra.dcm")
    with pytest.raises(DicomSeriesError, match="same slice position") as info:
        load_series([d])
    msg = str(info.value)
    assert "CT000002.dcm" in msg and "extra.dcm" in msg


def test_mixed_orientation(tmp_path):
    g = axial_geometry(shape=(4, 8, 8))
    d = make_ct_series(tmp_path, g)
    f = d / "CT000003.dcm"
    ds = pydicom.dcmread(f)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.9998, 0.0199987]
    ds.save_as(f)
    with pytest.raises(DicomSeriesError, match="different orientations") as info:
        load_series([d])
    assert "CT000003.dcm" in str(info.value)


def test_mixed_size(tmp_path):
    d = make_ct_series(tmp_path, axial_geometry(shape=(3, 8, 8)))
    f = d / "CT000002.dcm"
    ds = pydicom.dcmread(f)
    ds.PixelSpacing = [0.95, 0.7]
    ds.save_as(f)
    with pytest.raises(DicomSeriesError, match="PixelSpacing") as info:
        load_series([d])
    assert "CT000002.dcm" in str(info.value)


def test_multiframe_without_functional_groups_refused(tmp_path):
    """Enhanced CT is supported (tests/sources/test_enhanced.py); one without per-frame groups is damaged."""
    d = make_ct_series(tmp_path, axial_geometry(shape=(2, 4, 4)))
    for f in sorted(d.iterdir()):
        ds = pydicom.dcmread(f)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
        del ds.ImagePositionPatient
        ds.NumberOfFrames = 2
        ds.save_as(f)
    with pytest.raises(DicomSeriesError, match="NumberOfFrames 2 but 0 Per-frame Functional Groups items"):
        load_series([d])


# --------------------------------------------------------------------------- lite header reading
def _both_ways(path: Path):
    """SliceHeader through the lite reader, and through pydicom as the fallback reads it."""
    import os

    from labelmap.dicom.read import read_image_header
    from labelmap.sources import series as dsr

    meta, lite, damage = read_image_header(path)
    by_lite = dsr._slice_header(path, lite, meta, damage)
    with open(path, "rb") as fp:
        full = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=dsr._READ_TAGS)
        full_damage = dsr._pixel_data_problem(fp, full, os.fstat(fp.fileno()).st_size)
    by_pydicom = dsr._slice_header(path, full, full.file_meta, full_damage)
    return by_lite, by_pydicom


def _same_header(a, b) -> None:
    for name in (
        "file",
        "sop_class_uid",
        "sop_instance_uid",
        "series_instance_uid",
        "modality",
        "series_number",
        "series_description",
        "pixel_spacing",
        "rows",
        "columns",
        "number_of_frames",
        "damage",
    ):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("position", "orientation"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("geometry", [oblique_geometry(), las_geometry()], ids=["oblique", "las"])
def test_lite_headers_equal_pydicom_headers(tmp_path, geometry):
    files = write_ct_series(tmp_path / "ct", geometry)
    for f in files[:3]:
        _same_header(*_both_ways(f))
    series = load_series([tmp_path / "ct"])
    assert series.dataset.PatientName == "Sample^Patient"  # copied attributes come from pydicom


def test_lite_headers_of_implicit_vr_and_truncated_files(tmp_path):
    files = write_ct_series(tmp_path / "ct", axial_geometry(shape=(3, 21, 22)))
    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(tmp_path / "implicit.dcm", implicit_vr=True, little_endian=True, enforce_file_format=True)
    _same_header(*_both_ways(tmp_path / "implicit.dcm"))
    data = files[1].read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:-100])  # inside the Pixel Data
    lite, full = _both_ways(cut)
    _same_header(lite, full)
    assert lite.damage and "Pixel Data holds" in lite.damage


def test_unusual_character_set_headers_fall_back_to_pydicom(tmp_path):
    from labelmap.dicom.read import NeedsPydicom, read_image_header
    from labelmap.sources.series import _read_one

    files = write_ct_series(tmp_path / "ct", axial_geometry(shape=(3, 21, 22)))
    ds = pydicom.dcmread(files[0])
    ds.SpecificCharacterSet = "ISO_IR 144"
    ds.SeriesDescription = "Грудь"
    ds.save_as(files[0], enforce_file_format=True)
    with pytest.raises(NeedsPydicom):
        read_image_header(files[0])
    h = _read_one(files[0])
    assert h is not None and h.series_description == "Грудь"
    assert isinstance(h.dataset, pydicom.Dataset)


@pytest.mark.parametrize("implicit", [False, True])
def test_lite_header_with_wanted_tags_skips_the_rest(tmp_path, implicit):
    """Only the wanted elements are kept; sequences of defined and undefined length in between
    are skipped; the kept values equal the full parse."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from labelmap.dicom.read import read_image_header
    from labelmap.sources import series as dsr

    files = write_ct_series(tmp_path / "ct", oblique_geometry())
    ds = pydicom.dcmread(files[0])
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "1", "DCM", "x"
    ds.ProcedureCodeSequence = Sequence([item])
    ds.ReferencedImageSequence = Sequence([item])
    path = tmp_path / "seq.dcm"
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    raw = path.read_bytes()
    # make the second sequence undefined length, as some scanners write them
    tag = b"\x08\x00\x40\x11"
    pos = raw.index(tag)
    head = 8 if implicit else 12
    (length,) = np.frombuffer(raw[pos + head - 4 : pos + head], dtype="<u4")
    body = raw[pos + head : pos + head + int(length)]
    undefined = raw[: pos + head - 4] + b"\xff\xff\xff\xff" + body + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    path.write_bytes(undefined + raw[pos + head + int(length) :])

    meta_all, full, _ = read_image_header(path)
    meta, some, damage = read_image_header(path, dsr._READ_TAG_NUMBERS)
    assert damage is None and len(some) < len(full)
    assert {e.tag for e in some} == {e.tag for e in full} & dsr._READ_TAG_NUMBERS
    for element in some:
        assert element.value == full[element.tag].value
    _same_header(dsr._slice_header(path, some, meta, damage), _both_ways(path)[1])
