"""The native commands: itk2seg / seg2itk round trips and their options, --quiet, demo."""

from __future__ import annotations

import json
import os

import numpy as np
import pydicom
import pytest
from _images import read_image

from labelmap.demo.sample import sample_metadata

from _cli import LABEL_VALUES, LABELMAP_SOP_CLASS, SHAPE, make_case, run_cli

DEFLATED = "1.2.840.10008.1.2.1.99"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A small CT series, a gapped label map (first/last slice empty), its dcmqi JSON and a SEG of them."""
    return make_case(tmp_path_factory.mktemp("cli"))


# --------------------------------------------------------------------------- 1. native round trip
@pytest.mark.parametrize("fmt, ext", [("nrrd", ".nrrd"), ("nifti", ".nii.gz")])
def test_itk2seg_seg2itk_round_trip_full_grid(case, tmp_path, capsys, fmt, ext):
    out = tmp_path / "out"
    out.mkdir()
    rc, stdout, err = run_cli(
        capsys, "seg2itk", case["seg"], "-o", out, "-f", fmt, "--prefix", "pre", "--reference", case["ct"]
    )
    assert rc == 0, err
    assert sorted(os.listdir(out)) == sorted([f"pre-1{ext}", "pre-meta.json"])
    assert f"pre-1{ext}" in stdout and "pre-meta.json" in stdout
    array, geometry = read_image(out / f"pre-1{ext}")
    assert array.shape == SHAPE
    assert np.array_equal(array, case["labels"])  # label numbering: Segment Number = label value
    assert geometry.max_deviation(case["geometry"]) <= 1e-4
    meta = json.loads((out / "pre-meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == LABEL_VALUES


def test_seg2itk_without_reference_spans_frames_only(case, tmp_path, capsys):
    rc, stdout, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path)) == ["1.nrrd", "meta.json"]  # dcmqi names without prefix
    array, geometry = read_image(tmp_path / "1.nrrd")
    assert array.shape == (SHAPE[0] - 2,) + SHAPE[1:]  # empty first and last slice were skipped
    assert np.array_equal(array, case["labels"][1:-1])


def test_itk2seg_options_palette_keep_empty_renumber_deflate(case, tmp_path, capsys):
    seg = tmp_path / "opt.dcm"
    rc, stdout, err = run_cli(
        capsys,
        "itk2seg",
        case["lab"],
        "--dicom",
        case["ct"],
        "--metadata",
        case["meta"],
        "--output",
        seg,
        "--palette",
        "--keep-empty-slices",
        "--renumber",
        "--compression",
        "deflate",
    )
    assert rc == 0, err
    assert "wrote" in stdout and str(seg) in stdout and "LABELMAP" in stdout
    ds = pydicom.dcmread(seg)
    assert ds.SOPClassUID == LABELMAP_SOP_CLASS
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    assert int(ds.NumberOfFrames) == SHAPE[0]  # a frame for every slice, empty ones included
    assert str(ds.file_meta.TransferSyntaxUID) == DEFLATED
    numbers = sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber) != 0)
    assert numbers == [1, 2, 3, 4]

    out = tmp_path / "back"
    out.mkdir()
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", out)
    assert rc == 0, err
    array, geometry = read_image(out / "1.nrrd")
    assert array.shape == SHAPE  # all slices have frames: full grid without --reference
    expected = np.zeros_like(case["labels"])
    for n, v in enumerate(LABEL_VALUES, start=1):
        expected[case["labels"] == v] = n
    assert np.array_equal(array, expected)
    meta = json.loads((out / "meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [1, 2, 3, 4]
    assert [s["SegmentLabel"] for s in meta["segmentAttributes"][0]] == [
        s["SegmentLabel"] for s in sample_metadata(LABEL_VALUES)["segmentAttributes"][0]
    ]


def test_quiet_prints_nothing_on_stdout(case, tmp_path, capsys):
    rc, stdout, err = run_cli(
        capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", tmp_path / "q.dcm", "--quiet"
    )
    assert rc == 0 and stdout == "" and err == ""
    out = tmp_path / "o"
    out.mkdir()
    rc, stdout, err = run_cli(capsys, "seg2itk", tmp_path / "q.dcm", "-o", out, "-r", case["ct"], "-q")
    assert rc == 0 and stdout == "" and err == ""  # the "filled with background" warning is silenced too
    assert (out / "1.nrrd").exists()


# --------------------------------------------------------------------------- 4. demo
def test_demo_small(tmp_path, capsys):
    out = tmp_path / "demo"
    rc, stdout, err = run_cli(capsys, "demo", "--output-dir", out, "--size", 64, "--slices", 20, "--organs", 8)
    assert rc == 0, err
    assert "identical" in stdout and "DIFFER" not in stdout
    assert (out / "labels.nrrd").exists() and (out / "labels-deflate.seg.dcm").exists()
