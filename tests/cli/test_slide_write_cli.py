"""itk2seg / itkimage2segimage on a whole-slide --dicom source: slide SEGs, flags, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from _slides import write_wsi_pyramid

from labelmap.demo.sample import sample_metadata

from _cli import listing, make_case, run_cli

hd = pytest.importorskip("highdicom")

SIZES = ((1001, 777), (501, 389), (251, 195))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("slidecli")
    slide = root / "slide"
    write_wsi_pyramid(slide, sizes=SIZES, tile=(256, 256), photometric="MONOCHROME2")
    labels = np.zeros(SIZES[0], np.uint8)
    labels[100:700, 50:300] = 1
    labels[400:1001, 500:777] = 3
    np.save(root / "labels.npy", labels)
    (root / "m.json").write_text(json.dumps(sample_metadata([1, 3])))
    return {"root": root, "slide": slide, "labels": labels, "npy": root / "labels.npy", "meta": root / "m.json"}


def test_itk2seg_writes_a_tiled_labelmap(case, tmp_path, capsys):
    out = tmp_path / "seg.dcm"
    rc, stdout, err = run_cli(capsys, "itk2seg", case["npy"], "--dicom", case["slide"], "-m", case["meta"], "-o", out)
    assert rc == 0, err
    assert "LABELMAP" in stdout and "RLE Lossless" in stdout
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), case["labels"])


def test_itk2seg_sparse_tile_size_pyramid(case, tmp_path, capsys):
    out = tmp_path / "seg.dcm"
    args = ["--tiled", "sparse", "--tile-size", "128x200", "--pyramid", "--compression", "jpegls"]
    rc, _, err = run_cli(capsys, "itk2seg", case["npy"], "--dicom", case["slide"], "-m", case["meta"], "-o", out, *args)
    assert rc == 0, err
    assert listing(tmp_path) == {"seg.dcm", "seg-L1.dcm", "seg-L2.dcm"}
    for name, (rows, cols) in zip(("seg.dcm", "seg-L1.dcm", "seg-L2.dcm"), SIZES):
        ds = pydicom.dcmread(tmp_path / name, stop_before_pixels=True)
        assert (ds.Rows, ds.Columns, ds.DimensionOrganizationType) == (128, 200, "TILED_SPARSE")
        assert (ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns) == (rows, cols)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), case["labels"])


def test_itk2seg_binary_native_by_default(case, tmp_path, capsys):
    out = tmp_path / "seg.dcm"
    rc, stdout, err = run_cli(
        capsys, "itk2seg", case["npy"], "--dicom", case["slide"], "-m", case["meta"], "-o", out, "--type", "binary"
    )
    assert rc == 0, err
    assert "BINARY" in stdout and "Explicit VR Little Endian" in stdout
    seg = hd.seg.segread(out)
    for number, value in ((1, 1), (2, 3)):
        np.testing.assert_array_equal(
            seg.get_total_pixel_matrix(segment_numbers=[number])[..., 0], case["labels"] == value
        )


def test_itkimage2segimage_routes_a_slide(case, tmp_path, capsys):
    out = tmp_path / "seg.dcm"
    rc, _, err = run_cli(
        capsys,
        "itkimage2segimage",
        "--inputImageList",
        case["npy"],
        "--inputDICOMDirectory",
        case["slide"],
        "--inputMetadata",
        case["meta"],
        "--outputDICOM",
        out,
        "--segmentationType",
        "labelmap",
        "--useLabelIDAsSegmentNumber",
    )
    assert rc == 0, err
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"  # unset --compress: RLE for a slide
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [0, 1, 3]
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), case["labels"])


@pytest.mark.parametrize(
    ("extra", "labels", "message"),
    [
        ((), np.zeros((1000, 777), np.uint8), "no level of the slide has that size; its levels are 0: 1001 x 777"),
        ((), "gapped", "label values 2 occur in the image but have no segment description"),
        (("--tile-size", "0"), None, "--tile-size '0': give N or RxC"),
        (("--type", "binary", "--compression", "jpegls"), None, "cannot code 1-bit BINARY frames"),
        (("--level", "1"), None, "level 1 is 501 x 389"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(case, tmp_path, capsys, extra, labels, message):
    npy = case["npy"]
    if labels is not None:
        array = case["labels"].copy() if isinstance(labels, str) else labels
        if isinstance(labels, str):
            array[0:5, 0:5] = 2
        npy = tmp_path / "bad.npy"
        np.save(npy, array)
    out = tmp_path / "out" / "seg.dcm"
    out.parent.mkdir()
    rc, _, err = run_cli(capsys, "itk2seg", npy, "--dicom", case["slide"], "-m", case["meta"], "-o", out, *extra)
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert listing(out.parent) == set()


def test_slide_flags_with_a_volume_source_are_refused(tmp_path, capsys):
    volume = make_case(tmp_path)
    out = tmp_path / "x.seg.dcm"
    rc, _, err = run_cli(
        capsys, "itk2seg", volume["lab"], "-d", volume["ct"], "-m", volume["meta"], "-o", out, "--tiled", "sparse"
    )
    assert rc == 1 and "--tiled apply to whole-slide sources only" in err and not out.exists()


@pytest.mark.parametrize("family", ["native", "dcmqi"])
def test_a_label_volume_with_a_folder_holding_a_ct_and_a_slide_uses_the_ct(tmp_path, capsys, family):
    """A 3-D label image picks the CT/MR series of a mixed source folder, never its slide."""
    from _cli import dcmqi_write_args

    volume = make_case(tmp_path / "case")
    write_wsi_pyramid(volume["ct"] / "slide", sizes=((64, 48),), tile=(32, 32), photometric="MONOCHROME2")
    out = tmp_path / "seg.dcm"
    if family == "native":
        args = ["itk2seg", volume["lab"], "--dicom", volume["ct"], "-m", volume["meta"], "-o", out]
    else:
        args = dcmqi_write_args(volume, out)
    rc, _, err = run_cli(capsys, *args)
    assert rc == 0, err
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert "TotalPixelMatrixRows" not in ds and ds.NumberOfFrames > 1
    referenced = pydicom.dcmread(next((volume["ct"]).glob("*.dcm")), stop_before_pixels=True)
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == referenced.SeriesInstanceUID
