"""Loading a SEG for validation (validate/context.py): what cannot be read, Datasets, big files."""

from __future__ import annotations

import pydicom
from _validate import kinds_found, show

from labelmap.demo.sample import organ_phantom
from labelmap.pipeline.convert import itk_to_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.validate import DEEP_FRAME_LIMIT, check_seg, validate_seg

from _geometries import axial_geometry
from _interop import make_case


def test_big_files_check_values_without_reading_items(tmp_path):
    """Past DEEP_FRAME_LIMIT frames only the bulk reader's per-frame values are checked (unless deep=True)."""
    geometry = axial_geometry(shape=(60, 32, 32))
    labels = organ_phantom(geometry, 40, seed=3)
    ct, image, meta, _ = make_case(tmp_path, geometry, labels)
    path = tmp_path / "big.dcm"
    itk_to_seg(
        [image],
        [ct],
        meta,
        path,
        options=WriteOptions(seg_type="binary", numbering="sequential", keep_empty_slices=True),
    )
    result = check_seg(path)
    assert result.frames == 40 * 60 > DEEP_FRAME_LIMIT
    assert result.violations == [] and not result.per_frame_items_checked
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence[2100].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 41
    ds.save_as(path)
    (v,) = validate_seg(path)
    assert (v.keyword, v.frame, v.segment) == ("ReferencedSegmentNumber", 2101, 41)


def test_dataset_input_is_checked_like_a_file(made):
    ds = pydicom.dcmread(made("binary-none"))
    ds.SegmentsOverlap = "MAYBE"
    del ds.SegmentSequence[0].SegmentLabel
    assert kinds_found(validate_seg(ds)) == [("SegmentsOverlap", "error"), ("SegmentLabel", "error")]


def test_damaged_files_give_one_clear_violation(made, inputs, tmp_path):
    data = made("labelmap-none").read_bytes()
    cases = {
        "truncated.dcm": data[: len(data) // 2],
        "truncated-pixels.dcm": data[:-64],
        "header-only.dcm": data[:300],
        "empty.dcm": b"",
        "text.dcm": b"not a dicom file\n" * 40,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        violations = validate_seg(tmp_path / name)
        assert kinds_found(violations) == [("File", "error")], (name, show(violations))
        assert violations[0].message.startswith("cannot be read: "), violations[0]
    assert "file not found" in validate_seg(tmp_path / "missing.dcm")[0].message
    assert "folder" in validate_seg(tmp_path)[0].message
    ct = sorted(inputs.ct.glob("*.dcm"))[0]
    assert kinds_found(validate_seg(ct)) == [("SOPClassUID", "error")]
