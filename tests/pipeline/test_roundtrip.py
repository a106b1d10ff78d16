"""Round trips label image -> itk_to_seg -> SEG -> seg_to_itk, checked voxel by voxel and attribute by attribute."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import read_image

from labelmap.demo.sample import organ_phantom, phantom_label_values, sample_metadata
from labelmap.errors import MetadataError
from labelmap.formats.dcmqi_json import load_metadata
from labelmap.model import DEFAULT_RGB, Geometry
from labelmap.pipeline.convert import itk_to_seg, read_seg, seg_to_itk
from labelmap.pipeline.options import ReadOptions, WriteOptions

from _geometries import axial_geometry, las_geometry, oblique_geometry
from _interop import flipped_i, make_case, permuted, world_compare

LABELMAP_SOP = "1.2.840.10008.5.1.4.1.1.66.7"


def enriched_metadata(label_values) -> dict:
    """sample_metadata plus the optional fields dcmqi knows (region, modifier, tracking, MANUAL, no colour)."""
    md = sample_metadata(label_values)
    segs = md["segmentAttributes"][0]
    segs[0]["AnatomicRegionSequence"] = {
        "CodeValue": "818981001",
        "CodingSchemeDesignator": "SCT",
        "CodeMeaning": "Abdomen",
    }
    segs[0]["AnatomicRegionModifierSequence"] = {
        "CodeValue": "24028007",
        "CodingSchemeDesignator": "SCT",
        "CodeMeaning": "Right",
    }
    segs[0]["TrackingIdentifier"] = "organ-1"
    segs[0]["TrackingUniqueIdentifier"] = "2.25.123456789012345678901234567890"
    if len(segs) > 1:
        segs[1]["SegmentAlgorithmType"] = "MANUAL"
        del segs[1]["SegmentAlgorithmName"]
        del segs[1]["recommendedDisplayRGBValue"]  # dcmqi default colour
    return md


def relabel(array: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    out = np.zeros_like(array)
    for old, new in mapping.items():
        out[array == old] = new
    return out


@dataclass
class Roundtrip:
    tmp: Path
    geometry: Geometry
    array: np.ndarray  # expected labels (source orientation, after numbering)
    ct_dir: Path
    metadata: dict
    seg_path: Path
    ds: pydicom.Dataset
    report: object
    mapping: dict[int, int]  # label value -> Segment Number


def run(
    tmp_path: Path,
    geometry: Geometry,
    array: np.ndarray,
    *,
    label_values=None,
    flip: bool = False,
    stored: tuple | None = None,
    image_name: str = "labels.nrrd",
    numbering: str = "label",
    **kw,
) -> Roundtrip:
    if label_values is None:
        label_values = [int(v) for v in np.unique(array) if v != 0]
    md = enriched_metadata(label_values)
    image_array = image_geometry = None
    if flip:
        image_array, image_geometry = flipped_i(array, geometry)
    if stored is not None:  # (perm, flips): the file stores the same voxels with permuted / flipped axes
        image_array, image_geometry = permuted(array, geometry, *stored)
    ct_dir, image, md_path, md = make_case(
        tmp_path,
        geometry,
        array,
        metadata=md,
        image_name=image_name,
        image_array=image_array,
        image_geometry=image_geometry,
    )
    out = tmp_path / "out.dcm"
    report = itk_to_seg([image], [ct_dir], md_path, out, options=WriteOptions(numbering=numbering, **kw))
    if numbering == "sequential":
        mapping = {v: i + 1 for i, v in enumerate(sorted(label_values))}
    else:
        mapping = {v: v for v in label_values}
    expected = relabel(array, mapping) if numbering == "sequential" else array
    return Roundtrip(tmp_path, geometry, expected, ct_dir, md, out, pydicom.dcmread(out), report, mapping)


# ----------------------------------------------------------------------------- checks
_SEG_FIELDS = (
    "category",
    "type",
    "type_modifier",
    "anatomic_region",
    "anatomic_region_modifier",
    "algorithm_type",
    "algorithm_name",
    "description",
    "tracking_id",
    "tracking_uid",
)


def check_metadata(rt: Roundtrip, meta_json: Path) -> None:
    given = {s.label_id: s for s in load_metadata(rt.metadata).segments[0]}
    back = load_metadata(meta_json)
    assert len(back.segments) == 1
    got = {s.label_id: s for s in back.segments[0]}
    assert sorted(got) == sorted(rt.mapping[v] for v in given), "labelIDs in meta.json"
    for label, seg in given.items():
        other = got[rt.mapping[label]]
        for f in _SEG_FIELDS:
            assert getattr(other, f) == getattr(seg, f), f"label {label}: {f}"
        assert other.display_label == seg.display_label
        assert tuple(other.rgb or DEFAULT_RGB) == tuple(seg.rgb or DEFAULT_RGB), f"label {label}: colour"
    src_series = load_metadata(rt.metadata).series
    assert back.series.series_description == src_series.series_description
    assert back.series.content_creator_name == src_series.content_creator_name
    assert back.series.series_number == src_series.series_number


def check_dataset(rt: Roundtrip, *, keep_empty: bool = False) -> None:
    ds = rt.ds
    assert ds.SOPClassUID == LABELMAP_SOP
    assert ds.file_meta.MediaStorageSOPClassUID == LABELMAP_SOP
    assert ds.SegmentationType == "LABELMAP"
    assert ds.SegmentsOverlap == "NO"
    assert ds.Modality == "SEG"
    non_empty = int(np.count_nonzero(rt.array.reshape(rt.array.shape[0], -1).any(axis=1)))
    expected_frames = rt.array.shape[0] if keep_empty else non_empty
    assert int(ds.NumberOfFrames) == expected_frames == rt.report.frames
    assert len(ds.PerFrameFunctionalGroupsSequence) == expected_frames
    max_number = max(rt.mapping.values())
    bits = 8 if max_number <= 255 else 16
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (bits, bits, bits - 1)
    assert ds.PixelRepresentation == 0 and ds.SamplesPerPixel == 1
    assert ds.PixelPaddingValue == 0
    numbers = [int(item.SegmentNumber) for item in ds.SegmentSequence]
    assert 0 in numbers, "background segment 0 missing"
    assert sorted(n for n in numbers if n) == sorted(rt.mapping.values())
    background = ds.SegmentSequence[numbers.index(0)]
    assert background.SegmentedPropertyTypeCodeSequence[0].CodeValue == "125040"
    for item in ds.PerFrameFunctionalGroupsSequence:
        assert "SegmentIdentificationSequence" not in item
    assert "SegmentIdentificationSequence" not in ds.SharedFunctionalGroupsSequence[0]

    # per-frame Derivation Image references the CT instance at the frame's position
    ct = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(rt.ct_dir.iterdir())]
    by_pos = [(np.array([float(v) for v in c.ImagePositionPatient]), c) for c in ct]
    referenced = set()
    for item in ds.PerFrameFunctionalGroupsSequence:
        ipp = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
        dist = [np.linalg.norm(p - ipp) for p, _ in by_pos]
        s = int(np.argmin(dist))
        assert dist[s] < 1e-3, f"frame at {ipp} has no CT slice"
        src = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert src.ReferencedSOPInstanceUID == by_pos[s][1].SOPInstanceUID
        assert src.ReferencedSOPClassUID == by_pos[s][1].SOPClassUID
        assert item.DerivationImageSequence[0].DerivationCodeSequence[0].CodeValue == "113076"
        referenced.add(src.ReferencedSOPInstanceUID)
    assert len(ds.ReferencedSeriesSequence) == 1
    series_item = ds.ReferencedSeriesSequence[0]
    assert series_item.SeriesInstanceUID == ct[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in series_item.ReferencedInstanceSequence} == referenced
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyID",
        "AccessionNumber",
        "FrameOfReferenceUID",
    ):
        assert ds[keyword].value == ct[0][keyword].value, keyword
    assert ds.SeriesInstanceUID != ct[0].SeriesInstanceUID
    # frames ascend along the normal
    normal = np.cross(
        *np.array(
            [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient]
        ).reshape(2, 3)
    )
    proj = [
        np.dot([float(v) for v in it.PlanePositionSequence[0].ImagePositionPatient], normal)
        for it in ds.PerFrameFunctionalGroupsSequence
    ]
    assert np.all(np.diff(proj) > 0)


def check_read_back(rt: Roundtrip, *, keep_empty: bool = False) -> None:
    # with the source series as reference: the full grid, bit-exact
    res = seg_to_itk(rt.seg_path, rt.tmp / "back_ref", reference=rt.ct_dir)
    arr, geom = read_image(res.outputs[0])
    assert geom.max_deviation(rt.geometry) < 1e-4
    np.testing.assert_array_equal(arr, rt.array)
    assert np.issubdtype(arr.dtype, np.integer)
    check_metadata(rt, res.metadata)
    # without reference: the frames' extent, same voxels in world space
    res2 = seg_to_itk(rt.seg_path, rt.tmp / "back_noref")
    arr2, geom2 = read_image(res2.outputs[0])
    world_compare(rt.array, rt.geometry, arr2, geom2)
    if keep_empty:
        assert geom2.max_deviation(rt.geometry) < 1e-4
        np.testing.assert_array_equal(arr2, rt.array)
    check_metadata(rt, res2.metadata)


def full_check(rt: Roundtrip, *, keep_empty: bool = False) -> None:
    check_dataset(rt, keep_empty=keep_empty)
    check_read_back(rt, keep_empty=keep_empty)


# ----------------------------------------------------------------------------- cases
def phantom(geometry: Geometry, n: int = 5, *, seed: int = 0, max_label=None, empty_slices=True):
    arr = organ_phantom(geometry, n, seed=seed, max_label=max_label, empty_slices=empty_slices)
    return arr, [int(v) for v in phantom_label_values(n, max_label)]


@pytest.mark.parametrize(
    "geometry",
    [
        pytest.param(axial_geometry(shape=(3, 38, 23)), id="axial-23x38x3"),
        pytest.param(axial_geometry(), id="axial-21x22x5"),
        pytest.param(oblique_geometry(), id="oblique"),
        pytest.param(las_geometry(), id="las"),
        pytest.param(axial_geometry(spacing=(0.45, 1.3, 4.0), shape=(4, 30, 17)), id="anisotropic"),
    ],
)
def test_roundtrip_geometries(tmp_path, geometry):
    arr, values = phantom(geometry, 4, empty_slices=geometry.shape[0] > 3)
    rt = run(tmp_path, geometry, arr, label_values=values)
    assert rt.ds.BitsAllocated == 8
    full_check(rt)


@pytest.mark.parametrize("base", [axial_geometry, oblique_geometry], ids=["axial", "oblique"])
def test_roundtrip_flipped_nifti(tmp_path, base):
    """The NIfTI stores the i axis reversed; the SEG follows the source series orientation."""
    geometry = base()
    arr, values = phantom(geometry, 4, seed=3)
    flipped, fgeom = flipped_i(arr, geometry)
    assert not np.array_equal(flipped, arr)
    rt = run(tmp_path, geometry, arr, label_values=values, flip=True, image_name="labels.nii.gz")
    iop = [
        float(v) for v in rt.ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    ]
    np.testing.assert_allclose(iop, geometry.image_orientation, atol=1e-6)
    full_check(rt)
    # and the flipped file itself: same voxels in world space as the result
    res = seg_to_itk(rt.seg_path, tmp_path / "nii", options=ReadOptions(fmt="nifti"), reference=rt.ct_dir)
    back, bgeom = read_image(res.outputs[0])
    world_compare(flipped, fgeom, back, bgeom)


@pytest.mark.parametrize(
    "perm,flips,ext",
    [
        ((0, 1, 2), (False, False, True), "nii.gz"),  # k against the normal
        ((2, 0, 1), (True, False, True), "nrrd"),  # sagittal-like storage
        ((1, 0, 2), (False, True, False), "nii.gz"),  # rows and columns swapped
    ],
    ids=["k-flipped", "permuted", "transposed"],
)
def test_roundtrip_reoriented_storage(tmp_path, perm, flips, ext):
    geometry = oblique_geometry()
    arr, values = phantom(geometry, 4, seed=12)
    rt = run(tmp_path, geometry, arr, label_values=values, stored=(perm, flips), image_name=f"labels.{ext}")
    full_check(rt)


def test_roundtrip_empty_label_image(tmp_path):
    """No label voxel at all: refused as dcmqi refuses it, naming the file; with keep_absent_segments one
    empty frame and the segment, empty."""
    geometry = axial_geometry()
    arr = np.zeros(geometry.shape, np.uint8)
    md = enriched_metadata([1])
    ct_dir, image, md_path, _ = make_case(tmp_path, geometry, arr, metadata=md)
    out = tmp_path / "empty.dcm"
    with pytest.raises(MetadataError, match=rf"{image.name}: none of the 1 labels .*no input labels found"):
        itk_to_seg([image], [ct_dir], md_path, out)
    assert not out.exists()
    report = itk_to_seg([image], [ct_dir], md_path, out, options=WriteOptions(keep_absent_segments=True))
    assert report.frames == 1
    assert any("written as empty segments" in w for w in report.warnings)
    decoded = read_seg(out, reference=ct_dir)
    np.testing.assert_array_equal(decoded.volume.array, arr)
    assert [s.number for s in decoded.volume.segments] == [1]


def test_roundtrip_gapped_16bit(tmp_path):
    geometry = axial_geometry()
    arr, _ = phantom(geometry, 5, seed=4)
    values = [1, 7, 300, 1000, 65535]
    arr = relabel(arr, {i + 1: v for i, v in enumerate(values)}).astype(np.uint16)
    rt = run(tmp_path, geometry, arr, label_values=values)
    assert rt.ds.BitsAllocated == 16
    assert rt.report.bits_allocated == 16
    full_check(rt)
    decoded = read_seg(rt.seg_path)
    assert decoded.volume.array.dtype == np.uint16


def test_roundtrip_gapped_8bit_keeps_numbers(tmp_path):
    geometry = axial_geometry()
    arr, _ = phantom(geometry, 3, seed=5)
    values = [2, 40, 255]
    arr = relabel(arr, {1: 2, 2: 40, 3: 255}).astype(np.uint8)
    rt = run(tmp_path, geometry, arr, label_values=values)
    assert rt.ds.BitsAllocated == 8
    assert sorted(int(s.SegmentNumber) for s in rt.ds.SegmentSequence) == [0, 2, 40, 255]
    full_check(rt)


def test_roundtrip_sequential_numbering(tmp_path):
    geometry = oblique_geometry()
    arr, _ = phantom(geometry, 4, seed=6)
    values = [3, 9, 300, 4000]
    arr = relabel(arr, {i + 1: v for i, v in enumerate(values)}).astype(np.uint16)
    rt = run(tmp_path, geometry, arr, label_values=values, numbering="sequential")
    assert rt.mapping == {3: 1, 9: 2, 300: 3, 4000: 4}
    assert rt.ds.BitsAllocated == 8  # Segment Numbers 1..4 fit in 8 bits
    by_number = {int(s.SegmentNumber): s.SegmentLabel for s in rt.ds.SegmentSequence}
    given = {s["labelID"]: s["SegmentLabel"] for s in rt.metadata["segmentAttributes"][0]}
    for label, number in rt.mapping.items():
        assert by_number[number] == given[label]
    full_check(rt)
    meta = json.loads((rt.tmp / "back_ref" / "meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [1, 2, 3, 4]


def sparse_phantom(geometry: Geometry) -> tuple[np.ndarray, list[int]]:
    """Labels only on slices 1, 2 and 5 of 7 (slices 0, 3, 4, 6 empty)."""
    arr = np.zeros(geometry.shape, dtype=np.uint8)
    arr[1, 3:8, 4:9] = 1
    arr[2, 5:12, 2:6] = 2
    arr[2, 0, 0] = 1
    arr[5, 10:15, 10:18] = 3
    return arr, [1, 2, 3]


def test_roundtrip_sparse_slices_skipped(tmp_path):
    geometry = oblique_geometry(shape=(7, 22, 21))
    arr, values = sparse_phantom(geometry)
    rt = run(tmp_path, geometry, arr, label_values=values)
    assert int(rt.ds.NumberOfFrames) == 3
    assert rt.report.skipped_slices == 4
    full_check(rt)
    decoded = read_seg(rt.seg_path)  # no reference: slices 1..5, interior gap filled
    assert decoded.volume.geometry.shape[0] == 5
    assert decoded.filled_slices == 2
    ref = read_seg(rt.seg_path, reference=rt.ct_dir)
    assert ref.filled_slices == 4


def test_roundtrip_keep_empty_slices(tmp_path):
    geometry = axial_geometry(shape=(7, 22, 21))
    arr, values = sparse_phantom(geometry)
    rt = run(tmp_path, geometry, arr, label_values=values, keep_empty_slices=True)
    assert int(rt.ds.NumberOfFrames) == 7
    assert rt.report.skipped_slices == 0
    full_check(rt, keep_empty=True)


def test_roundtrip_palette(tmp_path):
    geometry = oblique_geometry()
    arr, values = phantom(geometry, 4, seed=7)
    rt = run(tmp_path, geometry, arr, label_values=values, palette=True)
    ds = rt.ds
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    for colour in ("Red", "Green", "Blue"):
        desc = [int(v) for v in ds[f"{colour}PaletteColorLookupTableDescriptor"].value]
        assert desc[1] == 0 and desc[0] >= max(values) + 1
        assert f"{colour}PaletteColorLookupTableData" in ds
    assert "ICCProfile" in ds
    for item in ds.SegmentSequence:
        assert "RecommendedDisplayCIELabValue" not in item
    # LUT entries hold the segment colours
    lut = np.frombuffer(ds.RedPaletteColorLookupTableData, dtype="<u2")
    for seg in rt.metadata["segmentAttributes"][0]:
        rgb = seg.get("recommendedDisplayRGBValue", DEFAULT_RGB)
        assert lut[seg["labelID"]] // 257 == rgb[0]
    assert lut[0] == 0
    full_check(rt)


def test_roundtrip_deflate(tmp_path):
    geometry = axial_geometry()
    arr, values = phantom(geometry, 5, seed=8)
    rt = run(tmp_path, geometry, arr, label_values=values, compression="deflate")
    assert rt.ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    full_check(rt)


def test_roundtrip_rle(tmp_path):
    geometry = oblique_geometry()
    arr, _ = phantom(geometry, 3, seed=10)
    arr = relabel(arr, {1: 1, 2: 33, 3: 1000}).astype(np.uint16)
    rt = run(tmp_path, geometry, arr, label_values=[1, 33, 1000], compression="rle")
    assert rt.ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    full_check(rt)


def test_world_compare_detects_errors():
    """Guard for the helper every round trip relies on."""
    geometry = oblique_geometry()
    arr, _ = phantom(geometry, 3, seed=11)
    world_compare(arr, geometry, arr, geometry)
    flipped, fgeom = flipped_i(arr, geometry)
    world_compare(arr, geometry, flipped, fgeom)
    with pytest.raises(AssertionError):
        world_compare(arr, geometry, flipped, geometry)
    with pytest.raises(AssertionError):
        world_compare(arr, geometry, arr[1:], geometry)  # wrong origin for the crop
    world_compare(arr, geometry, arr[1:4], geometry.crop_slices(1, 4))
    bad = arr.copy()
    bad[2, 5, 5] = 99
    with pytest.raises(AssertionError):
        world_compare(arr, geometry, bad, geometry)


def test_roundtrip_deflate_16bit_palette(tmp_path):
    geometry = oblique_geometry()
    arr, _ = phantom(geometry, 3, seed=9)
    values = [5, 700, 40000]
    arr = relabel(arr, {1: 5, 2: 700, 3: 40000}).astype(np.uint16)
    rt = run(tmp_path, geometry, arr, label_values=values, compression="deflate", palette=True)
    assert rt.ds.BitsAllocated == 16
    full_check(rt)


def test_roundtrip_single_slice(tmp_path):
    geometry = axial_geometry(shape=(1, 12, 10))
    arr = np.zeros(geometry.shape, dtype=np.uint8)
    arr[0, 2:5, 3:7] = 1
    rt = run(tmp_path, geometry, arr, label_values=[1])
    full_check(rt)


def test_roundtrip_subset_of_series(tmp_path):
    """Labels cover slices 2..4 of a 7-slice series: the SEG references those CT instances."""
    geometry = axial_geometry(shape=(7, 22, 21))
    arr = np.zeros(geometry.shape, dtype=np.uint8)
    arr[2, 3:8, 4:9] = 1
    arr[3, 5:12, 2:6] = 2
    arr[4, 10:15, 10:18] = 1
    label_geometry = geometry.crop_slices(2, 5)
    ct_dir, image, md_path, md = make_case(
        tmp_path, geometry, arr, label_values=[1, 2], image_array=arr[2:5], image_geometry=label_geometry
    )
    out = tmp_path / "sub.dcm"
    itk_to_seg([image], [ct_dir], md_path, out)
    rt = Roundtrip(tmp_path, geometry, arr, ct_dir, md, out, pydicom.dcmread(out), None, {1: 1, 2: 2})
    rt.report = type("R", (), {"frames": 3})()
    full_check(rt)
