"""Interoperability with the peers: dcmqi 1.5.7 (executables in the venv) and highdicom 0.28.

a. dcmqi segimage2itkimage reads our LABELMAP files exactly;
b. highdicom reads them exactly;
c. we read dcmqi's LABELMAP files (with and without --useLabelIDAsSegmentNumber, deflate);
d. we read highdicom's LABELMAP files.

Findings recorded here (dcmqi 1.5.7):
* segimage2itkimage writes LABELMAP output as int16 for 16-bit files: Segment Numbers above 32767
  come back negative (65535 -> -1); the bit pattern is intact.
* itkimage2segimage reads label images as int16: a label above 32767 is seen as negative and the
  conversion fails ("Failed to match label from image to the segment metadata").
* itkimage2segimage --segmentationType labelmap --useLabelIDAsSegmentNumber fails for any label
  above 255 when there are few segments ("No input labels found - input segmentation is empty!"):
  it sizes the frame buffers by the segment count, not the largest Segment Number.  Without the flag
  it numbers segments 1..N in ascending label order, which works.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import read_image

from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.model import Geometry
from labelmap.pipeline.convert import itk_to_seg, read_seg, seg_to_itk
from labelmap.pipeline.options import WriteOptions

from _geometries import axial_geometry, oblique_geometry
from _interop import BIN_DIR, dcmqi_read, dcmqi_write, highdicom_read, make_case, world_compare, write_highdicom_seg

pytestmark = pytest.mark.interop

DCMQI_MISSING = not (BIN_DIR / "segimage2itkimage").exists() or not (BIN_DIR / "itkimage2segimage").exists()
needs_dcmqi = pytest.mark.skipif(DCMQI_MISSING, reason="dcmqi executables are not installed in the venv")


def relabel(array: np.ndarray, mapping: dict[int, int], dtype=np.uint16) -> np.ndarray:
    out = np.zeros(array.shape, dtype=dtype)
    for old, new in mapping.items():
        out[array == old] = new
    return out


def labels_for(geometry: Geometry, values, seed: int = 0) -> np.ndarray:
    base = organ_phantom(geometry, len(values), seed=seed)
    dtype = np.uint8 if max(values) <= 255 else np.uint16
    return relabel(base, {i + 1: v for i, v in enumerate(values)}, dtype)


def sparse_labels(geometry: Geometry, values) -> np.ndarray:
    """Labels on slices 1, 2 and 5 of 7: an interior gap of two empty (skipped) slices."""
    arr = np.zeros(geometry.shape, dtype=np.uint8)
    arr[1, 3:8, 4:9] = values[0]
    arr[2, 5:12, 2:6] = values[1]
    arr[5, 10:15, 10:18] = values[2]
    return arr


# our files, written once per case and shared by the dcmqi and highdicom readers
OUR_CASES = {
    "oblique": dict(make=oblique_geometry, values=[1, 2, 3, 4, 5], kw={}),
    "gapped-16bit": dict(make=axial_geometry, values=[1, 7, 300, 1000, 30000], kw={}),
    "gapped-65535": dict(make=oblique_geometry, values=[1, 7, 300, 1000, 65535], kw={}),
    "palette": dict(make=oblique_geometry, values=[1, 2, 3, 9], kw={"palette": True}),
    "deflate": dict(make=axial_geometry, values=[1, 2, 3, 4], kw={"compression": "deflate"}),
    "sparse": dict(make=lambda: oblique_geometry(shape=(7, 22, 21)), values=[1, 2, 3], kw={}, array=sparse_labels),
    "rle-16bit": dict(make=oblique_geometry, values=[1, 4, 1000], kw={"compression": "rle"}),
    "deflate-palette-16bit": dict(
        make=oblique_geometry, values=[2, 260, 999], kw={"compression": "deflate", "palette": True}
    ),
}


@pytest.fixture(scope="module")
def our_files(tmp_path_factory):
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            spec = OUR_CASES[name]
            tmp = tmp_path_factory.mktemp(name)
            geometry = spec["make"]()
            arr = spec.get("array", lambda g, v: labels_for(g, v, seed=len(cache)))(geometry, spec["values"])
            ct_dir, image, md_path, _ = make_case(tmp, geometry, arr, label_values=spec["values"])
            out = tmp / "ours.dcm"
            itk_to_seg([image], [ct_dir], md_path, out, options=WriteOptions(**spec["kw"]))
            cache[name] = (tmp, geometry, arr, out)
        return cache[name]

    return get


# ----------------------------------------------------------------------------- a. dcmqi reads ours
@needs_dcmqi
@pytest.mark.parametrize(
    "case", ["oblique", "gapped-16bit", "palette", "deflate", "deflate-palette-16bit", "rle-16bit", "sparse"]
)
def test_dcmqi_reads_our_seg(our_files, case):
    tmp, geometry, arr, seg = our_files(case)
    array, dgeom, meta = dcmqi_read(seg, tmp / f"dcmqi-{case}")
    world_compare(arr, geometry, array, dgeom)
    labels = sorted(s["labelID"] for s in meta["segmentAttributes"][0])
    assert labels == sorted(OUR_CASES[case]["values"])  # background (PPV) segment is not exported
    # dcmqi crops to the frames' extent: its grid is a sub-grid of ours
    assert dgeom.shape[1:] == geometry.shape[1:]
    np.testing.assert_allclose(dgeom.direction[:, :2], geometry.direction[:, :2], atol=1e-5)


@needs_dcmqi
def test_dcmqi_reads_labels_above_32767_as_int16(our_files):
    """dcmqi limitation: its LABELMAP output is int16, so 65535 comes back as -1 (bits unchanged)."""
    tmp, geometry, arr, seg = our_files("gapped-65535")
    array, dgeom, meta = dcmqi_read(seg, tmp / "dcmqi")
    assert array.dtype == np.int16
    assert array.min() == -1
    world_compare(arr, geometry, array.view(np.uint16), dgeom)


# ----------------------------------------------------------------------------- b. highdicom reads ours
@pytest.mark.parametrize(
    "case",
    ["oblique", "gapped-16bit", "gapped-65535", "palette", "deflate", "deflate-palette-16bit", "rle-16bit", "sparse"],
)
def test_highdicom_reads_our_seg(our_files, case):
    hd = pytest.importorskip("highdicom")
    tmp, geometry, arr, seg = our_files(case)
    array, hgeom = highdicom_read(seg)
    world_compare(arr, geometry, array, hgeom)
    seg_obj = hd.seg.segread(str(seg))
    assert seg_obj.segmentation_type == hd.seg.SegmentationTypeValues.LABELMAP
    numbers = set(int(n) for n in seg_obj.segment_numbers)
    assert set(OUR_CASES[case]["values"]) <= numbers


# ----------------------------------------------------------------------------- c. we read dcmqi's
def _dcmqi_case(tmp: Path, geometry: Geometry, values, *, use_id: bool, compress=None, seed=0):
    arr = labels_for(geometry, values, seed=seed)
    ct_dir, image, md_path, md = make_case(tmp, geometry, arr, label_values=values)
    out = tmp / "dq.dcm"
    dcmqi_write(image, ct_dir, md_path, out, label_id_as_number=use_id, compress=compress)
    return arr, ct_dir, md, out


def _dcmqi_mapping(ds: pydicom.Dataset, md: dict) -> dict[int, int]:
    """label value -> Segment Number as dcmqi assigned it (matched through SegmentLabel)."""
    by_label = {str(s.SegmentLabel): int(s.SegmentNumber) for s in ds.SegmentSequence}
    return {s["labelID"]: by_label[s["SegmentLabel"]] for s in md["segmentAttributes"][0]}


def _check_we_read(tmp, geometry, arr, ct_dir, md, seg, expected_mapping=None):
    ds = pydicom.dcmread(seg)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    mapping = _dcmqi_mapping(ds, md)
    if expected_mapping is not None:
        assert mapping == expected_mapping
    expected = relabel(arr, mapping)
    res = seg_to_itk(seg, tmp / "ours_back", reference=ct_dir)
    back, bgeom = read_image(res.outputs[0])
    assert bgeom.max_deviation(geometry) < 1e-4
    np.testing.assert_array_equal(back, expected)
    meta = json.loads(res.metadata.read_text())
    segs = meta["segmentAttributes"][0]
    assert sorted(s["labelID"] for s in segs) == sorted(mapping.values())  # no background entry
    given = {s["labelID"]: s for s in md["segmentAttributes"][0]}
    for label, number in mapping.items():
        out = next(s for s in segs if s["labelID"] == number)
        assert out["SegmentLabel"] == given[label]["SegmentLabel"]
        assert (
            out["SegmentedPropertyTypeCodeSequence"]["CodeValue"]
            == given[label]["SegmentedPropertyTypeCodeSequence"]["CodeValue"]
        )
        assert out.get("recommendedDisplayRGBValue") == given[label]["recommendedDisplayRGBValue"]
    # without reference: dcmqi's frames (Stack ID / In-Stack Position indexed) land in world space
    decoded = read_seg(seg)
    world_compare(expected, geometry, decoded.volume.array, decoded.volume.geometry)
    return mapping


@needs_dcmqi
@pytest.mark.parametrize("make", [oblique_geometry, axial_geometry], ids=["oblique", "axial"])
def test_we_read_dcmqi_label_id_numbers(tmp_path, make):
    geometry = make()
    values = [2, 40, 255]
    arr, ct_dir, md, seg = _dcmqi_case(tmp_path, geometry, values, use_id=True)
    _check_we_read(tmp_path, geometry, arr, ct_dir, md, seg, expected_mapping={2: 2, 40: 40, 255: 255})


@needs_dcmqi
def test_we_read_dcmqi_sequential_numbers(tmp_path):
    """Without --useLabelIDAsSegmentNumber dcmqi numbers segments 1..N in ascending label order."""
    geometry = oblique_geometry()
    values = [3, 9, 300, 1000]
    arr, ct_dir, md, seg = _dcmqi_case(tmp_path, geometry, values, use_id=False, seed=1)
    assert pydicom.dcmread(seg).BitsAllocated == 8
    _check_we_read(tmp_path, geometry, arr, ct_dir, md, seg, expected_mapping={3: 1, 9: 2, 300: 3, 1000: 4})


@needs_dcmqi
def test_we_read_dcmqi_deflate(tmp_path):
    geometry = axial_geometry()
    values = [1, 2, 5]
    arr, ct_dir, md, seg = _dcmqi_case(tmp_path, geometry, values, use_id=True, compress="deflate", seed=2)
    assert pydicom.dcmread(seg).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    _check_we_read(tmp_path, geometry, arr, ct_dir, md, seg, expected_mapping={1: 1, 2: 2, 5: 5})


@needs_dcmqi
def test_we_read_dcmqi_sparse(tmp_path):
    """dcmqi skips empty slices; we fill them back on the reference grid."""
    geometry = axial_geometry(shape=(7, 22, 21))
    arr = np.zeros(geometry.shape, dtype=np.uint8)
    arr[1, 3:8, 4:9] = 1
    arr[5, 10:15, 10:18] = 2
    ct_dir, image, md_path, md = make_case(tmp_path, geometry, arr, label_values=[1, 2])
    seg = tmp_path / "dq.dcm"
    dcmqi_write(image, ct_dir, md_path, seg, label_id_as_number=True)
    assert int(pydicom.dcmread(seg).NumberOfFrames) == 2
    _check_we_read(tmp_path, geometry, arr, ct_dir, md, seg, expected_mapping={1: 1, 2: 2})


@needs_dcmqi
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="dcmqi 1.5.7: --useLabelIDAsSegmentNumber with a label > 255 and few segments fails "
    "with 'No input labels found' (frame buffer depth from the segment count)",
)
def test_dcmqi_label_id_above_255_limitation(tmp_path):
    geometry = axial_geometry()
    _dcmqi_case(tmp_path, geometry, [1, 7, 300], use_id=True)


@needs_dcmqi
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="dcmqi 1.5.7 reads label images as int16: label 40000 becomes negative and does not "
    "match its metadata entry ('Failed to match label from image to the segment metadata')",
)
def test_dcmqi_label_above_32767_limitation(tmp_path):
    geometry = axial_geometry()
    _dcmqi_case(tmp_path, geometry, [1, 40000], use_id=False)


# ----------------------------------------------------------------------------- d. we read highdicom's
def _highdicom_seg(tmp_path: Path, geometry: Geometry, numbers, **kw) -> tuple[np.ndarray, Path, Path]:
    arr = labels_for(geometry, numbers, seed=3)
    ct_dir, out = write_highdicom_seg(tmp_path, geometry, arr, seg_type="LABELMAP", numbers=numbers, colours=True, **kw)
    return arr, ct_dir, out


@pytest.mark.parametrize(
    "make,numbers,kw",
    [
        (oblique_geometry, [1, 2, 3], {}),
        (axial_geometry, [2, 7, 300], {}),
        (oblique_geometry, [1, 2, 3, 4], {"omit_empty_frames": False}),
    ],
    ids=["oblique", "gapped-16bit", "all-frames"],
)
def test_we_read_highdicom_seg(tmp_path, make, numbers, kw):
    geometry = make()
    arr, ct_dir, path = _highdicom_seg(tmp_path, geometry, numbers, **kw)
    ds = pydicom.dcmread(path)
    assert int(ds.PixelPaddingValue) == 0
    assert 0 in [int(s.SegmentNumber) for s in ds.SegmentSequence]  # highdicom's background segment
    decoded = read_seg(path, reference=ct_dir)
    assert decoded.volume.geometry.max_deviation(geometry) < 1e-4
    np.testing.assert_array_equal(decoded.volume.array, arr)
    assert sorted(s.number for s in decoded.volume.segments) == sorted(numbers)
    assert decoded.background_number == 0
    res = seg_to_itk(path, tmp_path / "back")
    back, bgeom = read_image(res.outputs[0])
    world_compare(arr, geometry, back, bgeom)
    meta = json.loads(res.metadata.read_text())
    assert [s["SegmentLabel"] for s in meta["segmentAttributes"][0]] == [f"Segment {n}" for n in numbers]


def test_sample_metadata_is_valid_for_dcmqi_json_names():
    """Guard: the JSON we hand to dcmqi uses dcmqi's names (labelID, recommendedDisplayRGBValue)."""
    md = sample_metadata([1, 2])
    seg = md["segmentAttributes"][0][0]
    assert {
        "labelID",
        "SegmentedPropertyCategoryCodeSequence",
        "SegmentedPropertyTypeCodeSequence",
        "SegmentAlgorithmType",
        "recommendedDisplayRGBValue",
    } <= set(seg)
