"""Unit tests of labelmap.seg.encode.encode_labelmap: the attributes of the LABELMAP IOD we lay out."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from labelmap.demo.sample import write_ct_series
from labelmap.errors import InputError, MetadataError
from labelmap.geometry import match_slices
from labelmap.model import Code, LabelVolume, SegmentDescription, SeriesAttributes
from labelmap.pipeline.convert import load_source
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.encode import encode_labelmap, plan_labelmap, save_dataset

from _geometries import axial_geometry, las_geometry, oblique_geometry, reversed_geometry

CATEGORY = Code("123037004", "SCT", "Anatomical Structure")
TISSUE = Code("85756007", "SCT", "Tissue")


def segs(*numbers, rgb=None):
    return tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=TISSUE, label=f"seg {n}", rgb=rgb)
        for n in numbers
    )


@pytest.fixture
def encode(tmp_path):
    """encode(geometry, array, numbers, **kw) -> Dataset; the source series is written on ``source_geometry``."""
    counter = {"n": 0}

    def run(geometry, array, numbers, *, source_geometry=None, **kw):
        counter["n"] += 1
        ct = tmp_path / f"ct{counter['n']}"
        write_ct_series(ct, source_geometry or geometry)
        source = load_source(ct)
        index = kw.pop("index", None)
        if index is None:
            index = match_slices(geometry, source)
        volume = LabelVolume(array, geometry, segs(*numbers))
        options = WriteOptions(**{k: kw.pop(k) for k in list(kw) if k in WriteOptions.__dataclass_fields__})
        ds = encode_labelmap(volume, source, index, options=options, **kw)
        return ds, source

    return run


def dim_values(item) -> list[int]:
    v = item.FrameContentSequence[0].DimensionIndexValues
    return [int(x) for x in v] if isinstance(v, (list, pydicom.multival.MultiValue)) else [int(v)]


def blobs(geometry, values, *, empty=()):
    arr = np.zeros(geometry.shape, dtype=np.uint16 if max(values) > 255 else np.uint8)
    for n, v in enumerate(values):
        for k in range(geometry.shape[0]):
            if k in empty:
                continue
            arr[k, (2 * n) % geometry.shape[1], n % geometry.shape[2]] = v
            arr[k, 5 + n, 3:6] = v
    return arr


def test_sop_class_and_type(encode):
    g = axial_geometry()
    ds, source = encode(g, blobs(g, [1, 2]), [1, 2])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SegmentationType == "LABELMAP"
    assert ds.Modality == "SEG"
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
    assert ds.SegmentsOverlap == "NO"
    assert ds.LossyImageCompression == "00"
    assert "SegmentationFractionalType" not in ds and "MaximumFractionalValue" not in ds
    assert ds.FrameOfReferenceUID == source.dataset.FrameOfReferenceUID
    assert ds.StudyInstanceUID == source.dataset.StudyInstanceUID
    assert ds.SeriesInstanceUID != source.series_instance_uid


@pytest.mark.parametrize("max_number,bits", [(1, 8), (255, 8), (256, 16), (65535, 16)])
def test_bits_allocated_follows_largest_segment_number(encode, max_number, bits):
    g = axial_geometry(shape=(3, 7, 9))
    values = [1, max_number] if max_number > 1 else [1]
    arr = blobs(g, values)
    ds, _ = encode(g, arr, values)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (bits, bits, bits - 1, 0)
    n = int(ds.NumberOfFrames)
    expected = n * 7 * 9 * bits // 8
    assert len(ds.PixelData) == expected + (expected % 2)
    assert ds["PixelData"].VR == ("OB" if bits == 8 else "OW")
    frames = np.frombuffer(ds.PixelData, dtype=np.uint8 if bits == 8 else "<u2", count=n * 63).reshape(n, 7, 9)
    np.testing.assert_array_equal(frames, arr)


def test_bits_from_segment_numbers_not_pixel_values(encode):
    """An unused segment 300 described in the list still forces 16 bits (every number must be storable)."""
    g = axial_geometry(shape=(2, 6, 6))
    arr = blobs(g, [1])
    ds, _ = encode(g, arr, [1, 300])
    assert ds.BitsAllocated == 16
    assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence) == [0, 1, 300]


def test_odd_pixel_data_is_padded(encode):
    g = axial_geometry(shape=(1, 3, 5))
    arr = np.zeros(g.shape, np.uint8)
    arr[0, 1, 1] = 1
    ds, _ = encode(g, arr, [1])
    assert len(ds.PixelData) == 16 and ds.PixelData[-1] == 0


def test_photometric_monochrome2_with_cielab(encode):
    g = axial_geometry()
    ds, _ = encode(g, blobs(g, [1, 2]), [1, 2])
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert "RedPaletteColorLookupTableData" not in ds and "ICCProfile" not in ds
    for item in ds.SegmentSequence:
        assert len(item.RecommendedDisplayCIELabValue) == 3
    background = [s for s in ds.SegmentSequence if s.SegmentNumber == 0][0]
    assert background.SegmentedPropertyTypeCodeSequence[0].CodeValue == "125040"
    assert ds.PixelPaddingValue == 0


def test_photometric_palette(encode):
    g = axial_geometry()
    ds, _ = encode(g, blobs(g, [1, 5]), [1, 5], palette=True)
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    for c in ("Red", "Green", "Blue"):
        desc = list(ds[f"{c}PaletteColorLookupTableDescriptor"].value)
        assert desc == [6, 0, 16]
        assert len(ds[f"{c}PaletteColorLookupTableData"].value) == 12
    assert len(ds.ICCProfile) > 128 and ds.ICCProfile[36:40] == b"acsp"
    assert all("RecommendedDisplayCIELabValue" not in s for s in ds.SegmentSequence)


def test_no_background_item_when_zero_never_occurs(encode):
    g = axial_geometry(shape=(2, 4, 4))
    arr = np.full(g.shape, 3, np.uint8)
    ds, _ = encode(g, arr, [3])
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [3]
    assert "PixelPaddingValue" not in ds


@pytest.mark.parametrize("make", [axial_geometry, las_geometry, oblique_geometry], ids=["axial", "las", "oblique"])
def test_dimension_index_and_functional_groups(encode, make):
    g = make(shape=(6, 22, 21))
    arr = blobs(g, [1, 2], empty=(0, 3))
    ds, source = encode(g, arr, [1, 2])
    assert int(ds.NumberOfFrames) == 4
    assert len(ds.DimensionIndexSequence) == 1
    dim = ds.DimensionIndexSequence[0]
    assert dim.DimensionIndexPointer == 0x00200032
    assert dim.FunctionalGroupPointer == 0x00209113
    assert dim.DimensionOrganizationUID == ds.DimensionOrganizationSequence[0].DimensionOrganizationUID
    assert "DimensionOrganizationType" not in ds  # a gap: not a regular 3D block
    shared = ds.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose(
        [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing], g.pixel_spacing, atol=1e-9
    )
    np.testing.assert_allclose(float(shared.PixelMeasuresSequence[0].SpacingBetweenSlices), g.spacing[2])
    np.testing.assert_allclose(
        [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient], g.image_orientation, atol=1e-9
    )
    positions = g.slice_positions()
    for f, (item, k) in enumerate(zip(ds.PerFrameFunctionalGroupsSequence, [1, 2, 4, 5])):
        assert dim_values(item) == [f + 1]
        np.testing.assert_allclose(
            [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient], positions[k], atol=1e-6
        )
        assert "SegmentIdentificationSequence" not in item
        ref = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == source.sop_instance_uids[k]
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"


def test_dimension_organization_3d_when_contiguous(encode):
    g = axial_geometry()
    ds, _ = encode(g, blobs(g, [1]), [1])
    assert ds.DimensionOrganizationType == "3D"


@pytest.mark.parametrize("make", [axial_geometry, las_geometry, oblique_geometry], ids=["axial", "las", "oblique"])
def test_patient_orientation_present(encode, make):
    g = make()
    ds, _ = encode(g, blobs(g, [1]), [1])
    assert "PatientOrientation" in ds
    assert len(ds.PatientOrientation) == 2
    if make is axial_geometry:
        assert list(ds.PatientOrientation) == ["L", "P"]


def test_frames_ordered_along_normal(tmp_path):
    """A volume whose k runs against the normal is still written with frames ascending along it."""
    g = axial_geometry()
    rev = reversed_geometry(g)
    arr = np.zeros(g.shape, np.uint8)
    for k in range(g.shape[0]):
        arr[k, 0, : k + 1] = 1  # slice k (of rev) has k+1 labelled pixels
    write_ct_series(tmp_path / "ct", g)
    source = load_source(tmp_path / "ct")
    # source index of rev slice k is the source slice at the same position
    index = np.array([4, 3, 2, 1, 0])
    ds = encode_labelmap(LabelVolume(arr, rev, segs(1)), source, index)
    normal = g.normal
    ipps = [
        np.array([float(v) for v in it.PlanePositionSequence[0].ImagePositionPatient])
        for it in ds.PerFrameFunctionalGroupsSequence
    ]
    assert np.all(np.diff([p @ normal for p in ipps]) > 0)
    frames = np.frombuffer(ds.PixelData, np.uint8, count=5 * 22 * 21).reshape(5, 22, 21)
    np.testing.assert_array_equal(frames.reshape(5, -1).sum(axis=1), [5, 4, 3, 2, 1])
    for item, want in zip(ds.PerFrameFunctionalGroupsSequence, source.sop_instance_uids):
        assert item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID == want
    assert [dim_values(i) for i in ds.PerFrameFunctionalGroupsSequence] == [[1], [2], [3], [4], [5]]


def test_keep_empty_slices_and_empty_volume(encode):
    g = axial_geometry()
    arr = blobs(g, [1], empty=(0, 1, 4))
    ds, _ = encode(g, arr, [1], keep_empty_slices=True)
    assert int(ds.NumberOfFrames) == 5
    ds2, _ = encode(g, arr, [1])
    assert int(ds2.NumberOfFrames) == 2
    empty = np.zeros(g.shape, np.uint8)
    ds3, _ = encode(g, empty, [1])
    assert int(ds3.NumberOfFrames) == 1


def test_plan_labelmap():
    arr = np.zeros((4, 3, 3), np.uint8)
    arr[1, 0, 0] = 2
    arr[3, 1, 1] = 7
    plan = plan_labelmap(arr)
    np.testing.assert_array_equal(plan.frames, [1, 3])
    np.testing.assert_array_equal(plan.values, [0, 2, 7])
    assert plan.has_background
    assert plan.counts[7] == 1


def test_series_attributes_written(encode):
    g = axial_geometry()
    series = SeriesAttributes(
        series_description="My seg",
        series_number="42",
        content_creator_name="Doe^J",
        body_part_examined="CHEST",
        clinical_trial_coordinating_center_name="Site",
    )
    ds, _ = encode(g, blobs(g, [1]), [1], series=series)
    assert ds.SeriesDescription == "My seg"
    assert ds.SeriesNumber == 42
    assert str(ds.ContentCreatorName) == "Doe^J"
    assert ds.BodyPartExamined == "CHEST"
    assert ds.ClinicalTrialCoordinatingCenterName == "Site"


def test_errors(encode, tmp_path):
    g = axial_geometry()
    arr = blobs(g, [1, 2])
    with pytest.raises(MetadataError, match=r"label values \[2\]"):
        encode(g, arr, [1])
    with pytest.raises(InputError, match="unknown compression"):
        encode(g, arr, [1, 2], compression="lzw")
    write_ct_series(tmp_path / "c", g)
    source = load_source(tmp_path / "c")
    dup = segs(1) + segs(1)
    with pytest.raises(MetadataError, match="more than one segment"):
        encode_labelmap(LabelVolume(arr, g, dup + segs(2)), source, np.arange(5))
    with pytest.raises(MetadataError, match="outside 1..65535"):
        encode_labelmap(LabelVolume(arr, g, segs(0, 1, 2)), source, np.arange(5))


@pytest.mark.parametrize(
    "compression,ts",
    [
        ("none", "1.2.840.10008.1.2.1"),
        ("implicit", "1.2.840.10008.1.2"),
        ("deflate", "1.2.840.10008.1.2.1.99"),
        ("rle", "1.2.840.10008.1.2.5"),
    ],
)
def test_transfer_syntaxes_save_and_reload(encode, tmp_path, compression, ts):
    g = oblique_geometry()
    arr = blobs(g, [1, 300])
    ds, _ = encode(g, arr, [1, 300], compression=compression)
    assert ds.file_meta.TransferSyntaxUID == ts
    path = tmp_path / f"{compression}.dcm"
    save_dataset(ds, path)
    back = pydicom.dcmread(path)
    assert back.file_meta.TransferSyntaxUID == ts
    np.testing.assert_array_equal(back.pixel_array.reshape(arr.shape), arr)


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        1.0,
        -0.5,
        512.123456789,
        -123.4567890123,
        1e-5,
        -3.0853665e-220,
        -1.7976931348623157e308,
        2.2250738585072014e-308,
        -0.0001234567891,
    ],
)
def test_ds_text_fits_16_characters(value):
    from labelmap.seg.encode import ds_text

    text = ds_text(value)
    assert len(text) <= 16
    assert abs(float(text) - value) <= abs(value) * 1e-5
