"""The pipelines' shared vocabulary: option objects, JSON reports, warnings as report notes, hint codes."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from labelmap.errors import InputError, OverlapError, SliceMatchError
from labelmap.formats.dcmqi_json import load_metadata
from labelmap.model import Geometry
from labelmap.pipeline.bin2label import binary_to_labelmap
from labelmap.pipeline.convert import encode_seg, itk_to_seg, load_source, read_labels, seg_to_itk
from labelmap.pipeline.options import ReadOptions, WriteOptions

from _classic import write_inputs
from _geometries import axial_geometry


def _blob_labels(geometry: Geometry) -> np.ndarray:
    arr = np.zeros(geometry.shape, np.uint8)
    arr[1:3, 4:9, 5:10] = 1
    arr[2:4, 10:15, 3:8] = 2
    return arr


def test_reports_are_json(tmp_path):
    geometry = axial_geometry()
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, [_blob_labels(geometry)])
    report = itk_to_seg(images, [ct], md_path, tmp_path / "x.dcm", options=WriteOptions(compression="deflate"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["output"] == str(tmp_path / "x.dcm")
    assert (data["segmentation_type"], data["segments"], data["warnings"]) == ("LABELMAP", 2, [])
    back = seg_to_itk(tmp_path / "x.dcm", tmp_path / "back", options=ReadOptions(prefix="p"))
    data = json.loads(json.dumps(back.to_dict()))
    assert data["outputs"] == [str(tmp_path / "back" / "p-1.nrrd")]
    assert data["shape"] == [3, 22, 21]  # the slices with frames (no reference grid given)


def test_warnings_are_report_notes_not_log_records(tmp_path, caplog):
    """An empty label map kept with keep_absent_segments: one empty frame, said in the report (the library
    logs nothing).  (Without the option an empty label map is an error, as in dcmqi.)"""
    geometry = axial_geometry()
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, [np.zeros(geometry.shape, np.uint8)], [[1]])
    with caplog.at_level(logging.DEBUG, logger="labelmap"):
        report = itk_to_seg(images, [ct], md_path, tmp_path / "x.dcm", options=WriteOptions(keep_absent_segments=True))
    assert report.frames == 1
    assert any("holds no labels; writing one empty frame" in w for w in report.warnings)
    assert any("labels 1)" in w and "written as empty segments" in w for w in report.warnings)
    assert "holds no labels" in report.warnings[0]  # in the order the CLI printed them before
    assert not caplog.records


def test_options_reach_binary_to_labelmap(tmp_path):
    geometry = axial_geometry()
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, [_blob_labels(geometry)])
    binary = tmp_path / "b.dcm"
    itk_to_seg(images, [ct], md_path, binary, options=WriteOptions(seg_type="binary"))
    report = binary_to_labelmap(binary, tmp_path / "lm.dcm", options=WriteOptions(force_16bit=True, palette=True))
    assert (report.segmentation_type, report.bits_allocated, report.warnings) == ("LABELMAP", 16, [])


def test_library_errors_carry_hint_codes_not_flags(tmp_path):
    geometry = axial_geometry()
    a = _blob_labels(geometry)
    b = np.zeros_like(a)
    b[1:3, 4:9, 5:10] = 1  # overlaps label 1 of a
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, [a, b])
    out = tmp_path / "x.dcm"
    cases = [
        (OverlapError, "type_binary", dict(images=images, options=WriteOptions(seg_type="labelmap"))),
        (
            InputError,
            "palette_labelmap_only",
            dict(images=images, options=WriteOptions(seg_type="binary", palette=True)),
        ),
        (InputError, "metadata", dict(images=images[:1], metadata=None)),
    ]
    for error, hint, kw in cases:
        with pytest.raises(error) as caught:
            itk_to_seg(kw["images"], [ct], kw.get("metadata", md_path), out, options=kw.get("options", WriteOptions()))
        assert caught.value.hint == hint
        assert "--" not in str(caught.value)
    assert not out.exists()


def test_slice_without_source_image_is_a_slice_match_error(tmp_path):
    geometry = axial_geometry()
    ct, _, _, _ = write_inputs(tmp_path / "ct", geometry, [], ct=True)
    moved = replace(geometry, origin=np.asarray(geometry.origin) + [0.0, 0.0, 1.0])  # between two CT slices
    _, images, md_path, _ = write_inputs(tmp_path, moved, [_blob_labels(moved)], ct=False)
    with pytest.raises(SliceMatchError) as caught:
        itk_to_seg(images, [ct], md_path, tmp_path / "x.dcm")
    assert caught.value.hint == "tolerance"
    assert "does not match any source image" in str(caught.value)


def test_decoder_notes_reach_the_read_report(tmp_path):
    """A LABELMAP whose segment 0 is a real segment without Pixel Padding Value: a note, not a log line."""
    geometry = axial_geometry()
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, [_blob_labels(geometry)])
    source = load_source(ct)
    labels = read_labels(images[0])
    volume = replace(labels, segments=load_metadata(md_path).segments[0])
    ds, _ = encode_seg(volume, source)
    zero, one = ds.SegmentSequence[0], ds.SegmentSequence[1]
    assert int(zero.SegmentNumber) == 0
    zero.SegmentedPropertyTypeCodeSequence = copy.deepcopy(one.SegmentedPropertyTypeCodeSequence)
    del ds.PixelPaddingValue
    seg = tmp_path / "zero.dcm"
    ds.save_as(seg, enforce_file_format=True)
    report = seg_to_itk(seg, tmp_path / "back")
    assert any("segment 0 is a real segment" in w for w in report.warnings)
