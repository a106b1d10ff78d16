"""labelmap.demo.sample: synthetic CT series, organ phantom and dcmqi metadata."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from labelmap.demo.sample import ORGANS, organ_phantom, phantom_label_values, sample_metadata, write_ct_series

from _geometries import axial_geometry, oblique_geometry

# keys dcmqi's seg-schema.json allows in a segment object (additionalProperties: false)
_SEGMENT_KEYS = {
    "labelID",
    "SegmentLabel",
    "SegmentDescription",
    "SegmentAlgorithmType",
    "SegmentAlgorithmName",
    "SegmentedPropertyCategoryCodeSequence",
    "SegmentedPropertyTypeCodeSequence",
    "SegmentedPropertyTypeModifierCodeSequence",
    "AnatomicRegionSequence",
    "AnatomicRegionModifierSequence",
    "recommendedDisplayRGBValue",
    "RecommendedDisplayCIELabValue",
    "TrackingIdentifier",
    "TrackingUniqueIdentifier",
}
_TOP_KEYS = {
    "@schema",
    "ContentCreatorName",
    "ClinicalTrialSeriesID",
    "ClinicalTrialTimePointID",
    "ClinicalTrialCoordinatingCenterName",
    "SeriesDescription",
    "SeriesNumber",
    "InstanceNumber",
    "BodyPartExamined",
    "ContentLabel",
    "ContentDescription",
    "segmentAttributesFileMapping",
    "segmentAttributes",
}


# --------------------------------------------------------------------------- organ_phantom
def test_phantom_deterministic_and_complete():
    g = axial_geometry(shape=(6, 30, 28))
    a = organ_phantom(g, 40, seed=3)
    b = organ_phantom(g, 40, seed=3)
    c = organ_phantom(g, 40, seed=4)
    assert a.dtype == np.uint16 and a.shape == g.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(np.unique(a), np.arange(0, 41))
    assert not a[0].any() and not a[-1].any()
    assert a[1:-1].any()


def test_phantom_tiny_and_crowded():
    g = axial_geometry(shape=(3, 6, 6))
    a = organ_phantom(g, 10, seed=0)
    np.testing.assert_array_equal(np.unique(a), np.arange(0, 11))
    assert not a[0].any() and not a[2].any()
    with pytest.raises(ValueError):
        organ_phantom(g, 10_000)


def test_phantom_without_empty_slices():
    g = axial_geometry(shape=(4, 20, 20))
    a = organ_phantom(g, 60, empty_slices=False, seed=1)
    np.testing.assert_array_equal(np.unique(a), np.arange(0, 61))
    assert a[0].any() or a[-1].any()


def test_phantom_gapped_16bit():
    g = axial_geometry(shape=(5, 24, 24))
    values = phantom_label_values(12, 65535)
    assert values[0] == 1 and values[-1] == 65535 and np.all(np.diff(values) > 0)
    assert np.any(np.diff(values) > 1)
    a = organ_phantom(g, 12, max_label=65535, seed=2)
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(np.unique(a)[1:], values)
    with pytest.raises(ValueError):
        organ_phantom(g, 3, max_label=70000)  # does not fit uint16
    with pytest.raises(ValueError):
        phantom_label_values(10, 5)
    a8 = organ_phantom(g, 5, dtype=np.uint8)
    assert a8.dtype == np.uint8 and a8.max() == 5


def test_phantom_on_oblique_grid():
    a = organ_phantom(oblique_geometry(shape=(5, 20, 18)), 8, seed=5)
    assert len(np.unique(a)) == 9


# --------------------------------------------------------------------------- sample_metadata
def test_sample_metadata_shape():
    values = [1, 7, 300, 1000, 65535]
    meta = sample_metadata(values)
    json.dumps(meta)  # plain JSON types only
    assert set(meta) <= _TOP_KEYS
    assert len(meta["segmentAttributes"]) == 1
    segments = meta["segmentAttributes"][0]
    assert [s["labelID"] for s in segments] == values
    for s in segments:
        assert set(s) <= _SEGMENT_KEYS
        assert s["SegmentAlgorithmType"] == "AUTOMATIC"
        assert s["SegmentAlgorithmName"] == "labelmap-demo"
        assert s["SegmentedPropertyCategoryCodeSequence"]["CodeValue"] == "123037004"
        for key in ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"):
            code = s[key]
            assert set(code) == {"CodeValue", "CodingSchemeDesignator", "CodeMeaning"}
            assert code["CodingSchemeDesignator"] == "SCT" and code["CodeValue"].isdigit()
        rgb = s["recommendedDisplayRGBValue"]
        assert len(rgb) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in rgb)
    assert segments[0]["SegmentLabel"] == "Liver"
    assert segments[0]["SegmentedPropertyTypeCodeSequence"]["CodeValue"] == "10200004"
    right_kidney = segments[2]
    assert right_kidney["SegmentedPropertyTypeCodeSequence"]["CodeValue"] == "64033007"
    assert right_kidney["SegmentedPropertyTypeModifierCodeSequence"]["CodeValue"] == "24028007"


def test_sample_metadata_many_labels_distinct():
    n = 2 * len(ORGANS) + 5
    segments = sample_metadata(range(1, n + 1))["segmentAttributes"][0]
    assert len(segments) == n
    labels = [s["SegmentLabel"] for s in segments]
    assert len(set(labels)) == n
    assert labels[len(ORGANS)] == "Liver 2"
    colours = {tuple(s["recommendedDisplayRGBValue"]) for s in segments}
    assert len(colours) == n


# --------------------------------------------------------------------------- write_ct_series
def test_write_ct_series_attributes(tmp_path):
    g = oblique_geometry(shape=(3, 10, 12))
    files = write_ct_series(tmp_path / "ct", g, patient_name="Doe^Jane", patient_id="X1", series_number=5)
    assert [f.name for f in files] == ["CT000001.dcm", "CT000002.dcm", "CT000003.dcm"]
    datasets = [pydicom.dcmread(f) for f in files]
    ds = datasets[0]
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.preamble is not None
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage == ds.file_meta.MediaStorageSOPClassUID
    assert ds.Modality == "CT" and ds.PatientName == "Doe^Jane" and ds.PatientID == "X1"
    assert int(ds.SeriesNumber) == 5
    assert (ds.Rows, ds.Columns) == (10, 12)
    np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], g.pixel_spacing, atol=1e-9)
    np.testing.assert_allclose([float(v) for v in ds.ImageOrientationPatient], g.image_orientation, atol=1e-9)
    assert float(ds.SliceThickness) == pytest.approx(2.5)
    for k, d in enumerate(datasets):
        np.testing.assert_allclose([float(v) for v in d.ImagePositionPatient], g.slice_positions()[k], atol=1e-6)
        assert d.SeriesInstanceUID == ds.SeriesInstanceUID and d.FrameOfReferenceUID == ds.FrameOfReferenceUID
    assert len({d.SOPInstanceUID for d in datasets}) == 3
    px = ds.pixel_array
    assert px.dtype == np.int16 and px.shape == (10, 12)
    assert px.min() == -1000 and 20 <= px[5, 6] <= 60
    for kw in (
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyID",
        "PositionReferenceIndicator",
        "Manufacturer",
        "InstanceNumber",
        "RescaleIntercept",
        "RescaleSlope",
        "PatientBirthDate",
        "PatientSex",
        "KVP",
        "AcquisitionNumber",
        "ImageType",
    ):
        assert kw in ds, kw


def test_write_ct_series_deterministic_and_pixels(tmp_path):
    g = axial_geometry(shape=(2, 6, 5))
    arr = np.arange(60, dtype=np.int16).reshape(2, 6, 5) - 30
    f1 = write_ct_series(tmp_path / "a", g, seed=7, pixel_array=arr)
    f2 = write_ct_series(tmp_path / "b", g, seed=7, pixel_array=arr)
    f3 = write_ct_series(tmp_path / "c", g, seed=8)
    uids = lambda fs: [pydicom.dcmread(f).SOPInstanceUID for f in fs]  # noqa: E731
    assert uids(f1) == uids(f2)
    assert set(uids(f1)).isdisjoint(uids(f3))
    for k, f in enumerate(f1):
        np.testing.assert_array_equal(pydicom.dcmread(f).pixel_array, arr[k])
    given = write_ct_series(
        tmp_path / "d", g, series_uid="1.2.3.4", study_uid="1.2.3", frame_of_reference_uid="1.2.3.9"
    )
    ds = pydicom.dcmread(given[0])
    assert (ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID) == ("1.2.3.4", "1.2.3", "1.2.3.9")
    with pytest.raises(ValueError):
        write_ct_series(tmp_path / "e", g, pixel_array=np.zeros((1, 6, 5)))
