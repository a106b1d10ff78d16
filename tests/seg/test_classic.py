"""Classic SEG (BINARY / FRACTIONAL): encoder and decoder units, round trips through
itk_to_seg / seg_to_itk / read_seg, type and numbering choices, the CLI, dciodvfy.

Peers (dcmqi, highdicom) are in test_interop_classic.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from labelmap.cli import main
from labelmap.errors import InputError, MetadataError, OverlapError
from labelmap.model import Geometry
from labelmap.pipeline.convert import itk_to_seg, read_seg, seg_to_itk
from labelmap.pipeline.options import ReadOptions, WriteOptions

from _classic import (
    CLASSIC_SOP,
    LABELMAP_SOP,
    dimension_indices,
    expected_masks,
    fractional_maps,
    frame_positions,
    frame_segments,
    greedy_layers,
    overlapping_arrays,
    painted,
    phantom,
    read_outputs,
    slice_of_position,
    unpack_binary,
    write_inputs,
)
from _geometries import axial_geometry, oblique_geometry
from _interop import flipped_i, world_compare

# ----------------------------------------------------------------------------- data


def frames_expected(masks, keep: bool = False) -> int:
    if keep:
        return len(masks) * masks[0].shape[0]
    return sum(int(m.any(axis=(1, 2)).sum()) for m in masks)


def check_frames_against_masks(ds: pydicom.Dataset, geometry: Geometry, masks) -> None:
    """Every frame, decoded independently of the package, equals its segment's mask at its slice."""
    frames = unpack_binary(ds)
    ks = slice_of_position(geometry, frame_positions(ds))
    numbers = frame_segments(ds)
    for f, (k, n) in enumerate(zip(ks, numbers)):
        np.testing.assert_array_equal(frames[f], masks[n - 1][k], err_msg=f"frame {f + 1} (segment {n}, slice {k})")
    # frames present exactly for (segment, slice) pairs with foreground (or all, with empty ones kept)
    pairs = set(zip(numbers, ks.tolist()))
    assert len(pairs) == len(numbers), "two frames for one (segment, slice)"
    for n, mask in enumerate(masks, start=1):
        for k in np.flatnonzero(mask.any(axis=(1, 2))):
            assert (n, int(k)) in pairs, f"segment {n} slice {k} has foreground but no frame"


def check_segment_outputs(report, masks, geometry) -> None:
    """seg_to_itk without merging: file k holds segment k, voxel value k, exactly, in world coordinates."""
    assert [p.name for p in report.outputs] == [f"{k}.nrrd" for k in range(1, len(masks) + 1)]
    for n, (array, geo) in enumerate(read_outputs(report.outputs), start=1):
        world_compare(masks[n - 1].astype(np.int32) * n, geometry, array, geo)
    meta = json.loads(report.metadata.read_text())
    assert [[s["labelID"] for s in inner] for inner in meta["segmentAttributes"]] == [
        [n] for n in range(1, len(masks) + 1)
    ]


# ----------------------------------------------------------------------------- BINARY single file
@pytest.mark.parametrize(
    "shape, make, flip, image_name",
    [
        ((3, 38, 23), oblique_geometry, False, "lab.nrrd"),
        ((5, 22, 21), oblique_geometry, True, "lab.nii.gz"),
        ((3, 38, 23), axial_geometry, True, "lab.nii.gz"),
        ((5, 22, 21), axial_geometry, False, "lab.nrrd"),
    ],
    ids=["oblique-3x38x23", "oblique-flipped-nifti", "axial-flipped-nifti-3x38x23", "axial-5x22x21"],
)
def test_binary_single_file_round_trip(tmp_path, shape, make, flip, image_name):
    geometry = make(shape=shape)
    assert (shape[1] * shape[2]) % 8 != 0
    arr = phantom(geometry, 3, seed=4)
    labels = [1, 2, 3]
    stored = [flipped_i(arr, geometry)] if flip else None
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [arr], [labels], names=[image_name], stored=stored)
    out = tmp_path / "b.dcm"
    report = itk_to_seg(images, [ct], md_path, out, options=WriteOptions(seg_type="binary"))
    masks = expected_masks([arr], [labels])

    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == CLASSIC_SOP
    assert ds.SegmentationType == "BINARY"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (1, 1, 0)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.SegmentsOverlap == "NO"
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == labels
    assert [str(s.SegmentLabel) for s in ds.SegmentSequence] == [s["SegmentLabel"] for s in md["segmentAttributes"][0]]
    assert report.segmentation_type == "BINARY" and report.bits_allocated == 1
    assert int(ds.NumberOfFrames) == report.frames == frames_expected(masks)
    # dimension index on Referenced Segment Number + Image Position Patient
    pointers = [(int(d.DimensionIndexPointer), int(d.FunctionalGroupPointer)) for d in ds.DimensionIndexSequence]
    assert pointers == [(0x0062000B, 0x0062000A), (0x00200032, 0x00209113)]
    segs = frame_segments(ds)
    assert [d[0] for d in dimension_indices(ds)] == segs
    assert segs == sorted(segs)  # segment-major
    check_frames_against_masks(ds, geometry, masks)

    # read_seg on the source grid: each segment exactly
    decoded = read_seg(out, reference=ct)
    assert decoded.geometry.max_deviation(geometry) < 1e-4
    assert [s.number for s in decoded.segments] == labels
    for seg, volume in decoded.iter_segment_volumes():
        np.testing.assert_array_equal(volume, masks[seg.number - 1] * seg.number)
    assert not decoded.overlap().any()
    # seg_to_itk: one file per segment (dcmqi names and voxel values)
    check_segment_outputs(seg_to_itk(out, tmp_path / "back"), masks, geometry)
    merged = seg_to_itk(out, tmp_path / "merged", options=ReadOptions(merge_segments=True))
    assert len(merged.outputs) == 1
    back, bgeom = read_outputs(merged.outputs)[0]
    world_compare(painted(masks, labels), geometry, back, bgeom)


# ----------------------------------------------------------------------------- several overlapping files
@pytest.fixture
def overlap_case(tmp_path):
    geometry = oblique_geometry(shape=(5, 22, 21))
    arrays, groups = overlapping_arrays(geometry)
    ct, images, md_path, md = write_inputs(tmp_path, geometry, arrays, groups, names=["a.nrrd", "b.nrrd", "c.nrrd"])
    masks = expected_masks(arrays, groups)
    return dict(
        tmp=tmp_path,
        geometry=geometry,
        arrays=arrays,
        groups=groups,
        ct=ct,
        images=images,
        md_path=md_path,
        md=md,
        masks=masks,
    )


def test_three_overlapping_files_binary(overlap_case):
    c = overlap_case
    masks, geometry = c["masks"], c["geometry"]
    out = c["tmp"] / "x.dcm"
    report = itk_to_seg(c["images"], [c["ct"]], c["md_path"], out, options=WriteOptions(seg_type="binary"))
    ds = pydicom.dcmread(out)
    assert ds.SegmentationType == "BINARY"
    assert ds.SegmentsOverlap == "YES"
    # label values repeat across files -> numbered 1..N in file and label order, with a note
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == list(range(1, 7))
    assert any("numbered 1..N" in w for w in report.warnings)
    flat_md = [s for inner in c["md"]["segmentAttributes"] for s in inner]
    assert [str(s.SegmentLabel) for s in ds.SegmentSequence] == [s["SegmentLabel"] for s in flat_md]
    assert report.frames == frames_expected(masks)
    check_frames_against_masks(ds, geometry, masks)

    decoded = read_seg(out, reference=c["ct"])
    want = np.array(
        [[int(np.count_nonzero(a & b)) if i != j else 0 for j, b in enumerate(masks)] for i, a in enumerate(masks)]
    )
    np.testing.assert_array_equal(decoded.overlap().dense(), want)
    layers = greedy_layers(masks)
    assert len(layers) > 1  # the case really needs several merged files
    assert [[s.number for s in g] for g in decoded.layers()] == layers

    check_segment_outputs(seg_to_itk(out, c["tmp"] / "per-seg"), masks, geometry)
    merged = seg_to_itk(out, c["tmp"] / "merged", options=ReadOptions(merge_segments=True))
    assert [p.name for p in merged.outputs] == [f"{k}.nrrd" for k in range(1, len(layers) + 1)]
    for group, (array, geo) in zip(layers, read_outputs(merged.outputs)):
        world_compare(painted(masks, group), geometry, array, geo)
    meta = json.loads(merged.metadata.read_text())
    assert [[s["labelID"] for s in inner] for inner in meta["segmentAttributes"]] == layers
    assert [[s["SegmentLabel"] for s in inner] for inner in meta["segmentAttributes"]] == [
        [flat_md[n - 1]["SegmentLabel"] for n in g] for g in layers
    ]


def test_keep_empty_slices_frame_counts(overlap_case):
    c = overlap_case
    masks, geometry = c["masks"], c["geometry"]
    out = c["tmp"] / "keep.dcm"
    report = itk_to_seg(
        c["images"], [c["ct"]], c["md_path"], out, options=WriteOptions(seg_type="binary", keep_empty_slices=True)
    )
    ds = pydicom.dcmread(out)
    assert report.frames == int(ds.NumberOfFrames) == len(masks) * geometry.shape[0]
    check_frames_against_masks(ds, geometry, masks)
    # every segment has a frame at every slice, in ascending slice order
    ks = slice_of_position(geometry, frame_positions(ds))
    segs = frame_segments(ds)
    for n in range(1, len(masks) + 1):
        assert sorted(k for k, s in zip(ks, segs) if s == n) == list(range(geometry.shape[0]))
    # without the option fewer frames; reading both gives the same masks
    sparse = itk_to_seg(
        c["images"], [c["ct"]], c["md_path"], c["tmp"] / "sparse.dcm", options=WriteOptions(seg_type="binary")
    )
    assert sparse.frames == frames_expected(masks) < report.frames
    decoded = read_seg(out)
    assert decoded.geometry.max_deviation(geometry) < 1e-4
    for seg, volume in decoded.iter_segment_volumes():
        np.testing.assert_array_equal(volume, masks[seg.number - 1] * seg.number)


def test_labelmap_with_overlap_names_pairs(overlap_case):
    c = overlap_case
    masks = c["masks"]
    out = c["tmp"] / "lm.dcm"
    with pytest.raises(OverlapError) as err:
        itk_to_seg(c["images"], [c["ct"]], c["md_path"], out, options=WriteOptions(seg_type="labelmap"))
    text = str(err.value)
    flat_md = [s for inner in c["md"]["segmentAttributes"] for s in inner]
    pairs = [
        (i + 1, j + 1, int(np.count_nonzero(masks[i] & masks[j])))
        for i in range(len(masks))
        for j in range(i + 1, len(masks))
        if np.any(masks[i] & masks[j])
    ]
    assert len(pairs) >= 2
    for a, b, n in pairs:
        assert (
            f"segment {a} {flat_md[a - 1]['SegmentLabel']!r} and segment {b} "
            f"{flat_md[b - 1]['SegmentLabel']!r}: {n} voxels"
        ) in text
    assert err.value.hint == "type_binary"  # the CLI says --type binary
    assert not out.exists()


def test_auto_type_binary_with_overlap_labelmap_without(overlap_case):
    c = overlap_case
    out = c["tmp"] / "auto.dcm"
    report = itk_to_seg(c["images"], [c["ct"]], c["md_path"], out, options=WriteOptions(seg_type="auto"))
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == CLASSIC_SOP and ds.SegmentationType == "BINARY"
    assert report.segmentation_type == "BINARY"
    assert any("overlap" in w and "BINARY" in w for w in report.warnings)
    # files a and c do not overlap each other: LABELMAP
    md = dict(c["md"])
    md["segmentAttributes"] = [c["md"]["segmentAttributes"][0], c["md"]["segmentAttributes"][2]]
    md_path = c["tmp"] / "ac.json"
    md_path.write_text(json.dumps(md))
    out2 = c["tmp"] / "auto2.dcm"
    report2 = itk_to_seg(
        [c["images"][0], c["images"][2]], [c["ct"]], md_path, out2, options=WriteOptions(seg_type="auto")
    )
    ds2 = pydicom.dcmread(out2)
    assert ds2.SOPClassUID == LABELMAP_SOP and ds2.SegmentationType == "LABELMAP"
    assert report2.segmentation_type == "LABELMAP"
    decoded = read_seg(out2, reference=c["ct"])
    masks = [c["masks"][i] for i in (0, 1, 3, 4, 5)]
    np.testing.assert_array_equal(decoded.volume.array, painted(masks, [1, 2, 3, 4, 5]))


# ----------------------------------------------------------------------------- numbering
def test_binary_numbering_label_sequential_auto(tmp_path):
    geometry = axial_geometry(shape=(5, 22, 21))
    base = phantom(geometry, 3, seed=2)
    arr = np.zeros_like(base)
    for old, new in {1: 2, 2: 5, 3: 9}.items():
        arr[base == old] = new
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [arr], [[2, 5, 9]])
    with pytest.raises(MetadataError) as err:
        itk_to_seg(
            images, [ct], md_path, tmp_path / "label.dcm", options=WriteOptions(seg_type="binary", numbering="label")
        )
    text = str(err.value)
    assert "1..3" in text and "[2, 5, 9]" in text and "renumber" in text
    assert not (tmp_path / "label.dcm").exists()

    masks = [arr == v for v in (2, 5, 9)]
    for numbering in ("auto", "sequential"):
        out = tmp_path / f"{numbering}.dcm"
        report = itk_to_seg(images, [ct], md_path, out, options=WriteOptions(seg_type="binary", numbering=numbering))
        ds = pydicom.dcmread(out)
        assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [1, 2, 3]
        assert [str(s.SegmentLabel) for s in ds.SegmentSequence] == [
            s["SegmentLabel"] for s in md["segmentAttributes"][0]
        ]
        if numbering == "auto":
            assert any("1..N" in w for w in report.warnings), report.warnings
        decoded = read_seg(out, reference=ct)
        for seg, volume in decoded.iter_segment_volumes():
            np.testing.assert_array_equal(volume, masks[seg.number - 1] * seg.number)


def test_binary_label_numbering_keeps_labels_1_to_n(tmp_path):
    """Labels exactly 1..N across files (each once): 'label' numbering keeps them, whatever the file order."""
    geometry = axial_geometry(shape=(5, 22, 21))
    arrays, _ = overlapping_arrays(geometry)
    a = arrays[0]  # labels 1, 2
    b = (arrays[1] * 3).astype(np.uint8)  # label 3
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [b, a], [[3], [1, 2]])
    out = tmp_path / "x.dcm"
    itk_to_seg(images, [ct], md_path, out, options=WriteOptions(seg_type="binary", numbering="label"))
    ds = pydicom.dcmread(out)
    by_number = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    assert by_number == {
        3: md["segmentAttributes"][0][0]["SegmentLabel"],
        1: md["segmentAttributes"][1][0]["SegmentLabel"],
        2: md["segmentAttributes"][1][1]["SegmentLabel"],
    }
    check_frames_against_masks(ds, geometry, [a == 1, a == 2, b == 3])


# ----------------------------------------------------------------------------- FRACTIONAL


@pytest.mark.parametrize("fractional_type", ["probability", "occupancy"])
def test_fractional_float_round_trip(tmp_path, fractional_type):
    geometry = oblique_geometry(shape=(4, 19, 13))
    maps = fractional_maps(geometry)
    stored_want = [np.rint(p.astype(np.float64) * 255).astype(np.uint8) for p in maps]
    ct, images, md_path, md = write_inputs(tmp_path, geometry, maps, [[1], [1]])
    out = tmp_path / "f.dcm"
    report = itk_to_seg(
        images, [ct], md_path, out, options=WriteOptions(seg_type="fractional", fractional_type=fractional_type)
    )
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == CLASSIC_SOP
    assert ds.SegmentationType == "FRACTIONAL"
    assert ds.SegmentationFractionalType == fractional_type.upper()
    assert int(ds.MaximumFractionalValue) == 255
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (8, 8, 7, 0)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [1, 2]
    # one frame per (segment, slice) with a non-zero stored value
    assert report.frames == int(ds.NumberOfFrames) == sum(int(s.any(axis=(1, 2)).sum()) for s in stored_want)
    frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    ks = slice_of_position(geometry, frame_positions(ds))
    for f, (k, n) in enumerate(zip(ks, frame_segments(ds))):
        np.testing.assert_array_equal(frames[f], stored_want[n - 1][k])

    decoded = read_seg(out, reference=ct)
    assert decoded.segmentation_type == "FRACTIONAL"
    assert decoded.fractional_type == fractional_type.upper()
    assert decoded.max_fractional_value == 255
    for seg, volume in decoded.iter_segment_volumes():
        assert volume.dtype == np.uint8
        np.testing.assert_array_equal(volume, stored_want[seg.number - 1])
    res = seg_to_itk(out, tmp_path / "back")
    assert [p.name for p in res.outputs] == ["1.nrrd", "2.nrrd"]
    for n, (array, geo) in enumerate(read_outputs(res.outputs), start=1):
        world_compare(stored_want[n - 1], geometry, array, geo)


def test_fractional_uint8_kept_and_float_out_of_range(tmp_path):
    geometry = axial_geometry(shape=(3, 38, 23))
    rng = np.random.default_rng(5)
    values = rng.integers(0, 256, size=geometry.shape).astype(np.uint8)
    values[values < 100] = 0
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [values], [[1]])
    out = tmp_path / "u8.dcm"
    itk_to_seg(images, [ct], md_path, out, options=WriteOptions(seg_type="fractional", fractional_type="occupancy"))
    ds = pydicom.dcmread(out)
    assert ds.SegmentationFractionalType == "OCCUPANCY"
    decoded = read_seg(out, reference=ct)
    np.testing.assert_array_equal(decoded.volume_of([1]), values)

    bad = tmp_path / "bad"
    ct2, images2, md2, _ = write_inputs(bad, geometry, [values.astype(np.float32) / 100.0], [[1]])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        itk_to_seg(images2, [ct2], md2, bad / "f.dcm", options=WriteOptions(seg_type="fractional"))


# ----------------------------------------------------------------------------- dciodvfy
DCIODVFY = shutil.which("dciodvfy")


@pytest.mark.skipif(DCIODVFY is None, reason="dicom3tools dciodvfy is not installed")
@pytest.mark.parametrize("kind", ["binary", "binary-overlap", "fractional"])
def test_dciodvfy_reports_no_errors(tmp_path, kind):
    geometry = oblique_geometry(shape=(5, 22, 21))
    if kind == "fractional":
        maps = fractional_maps(geometry)
        ct, images, md_path, _ = write_inputs(tmp_path, geometry, maps, [[1], [1]])
    elif kind == "binary":
        arr = phantom(geometry, 3, seed=1)
        ct, images, md_path, _ = write_inputs(tmp_path, geometry, [arr], [[1, 2, 3]])
    else:
        arrays, groups = overlapping_arrays(geometry)
        ct, images, md_path, _ = write_inputs(tmp_path, geometry, arrays, groups)
    out = tmp_path / "v.dcm"
    itk_to_seg(
        images, [ct], md_path, out, options=WriteOptions(seg_type="fractional" if kind == "fractional" else "binary")
    )
    proc = subprocess.run([DCIODVFY, str(out)], capture_output=True, text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert not errors, "dciodvfy errors:\n" + "\n".join(errors) + "\nall output:\n" + "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_itk2seg_auto_labelmap_error_and_merge(overlap_case, capsys):
    c = overlap_case
    a, b, cc = c["images"]
    out = c["tmp"] / "x.dcm"
    rc, stdout, stderr = run_cli(capsys, "itk2seg", a, b, cc, "--dicom", c["ct"], "-m", c["md_path"], "-o", out)
    assert rc == 0, stderr
    assert "BINARY" in stdout
    assert "segments overlap" in stderr and "BINARY SEG is written" in stderr
    assert pydicom.dcmread(out).SegmentationType == "BINARY"

    bad = c["tmp"] / "lm.dcm"
    rc, stdout, stderr = run_cli(
        capsys, "itk2seg", a, b, cc, "--dicom", c["ct"], "-m", c["md_path"], "-o", bad, "--type", "labelmap"
    )
    assert rc == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "segment 1 'Liver' and segment 3 'Right kidney': 20 voxels" in lines[0]
    assert "--type binary" in lines[0]
    assert not bad.exists()

    d = c["tmp"] / "d"
    d.mkdir()
    rc, stdout, stderr = run_cli(capsys, "seg2itk", out, "-o", d, "--merge-segments")
    assert rc == 0, stderr
    layers = greedy_layers(c["masks"])
    assert sorted(p.name for p in d.iterdir()) == sorted(
        [f"{k}.nrrd" for k in range(1, len(layers) + 1)] + ["meta.json"]
    )
    for k, group in enumerate(layers, start=1):
        array, geo = read_outputs([d / f"{k}.nrrd"])[0]
        world_compare(painted(c["masks"], group), c["geometry"], array, geo)


def test_cli_itk2seg_fractional_and_binary_keep_empty(tmp_path, capsys):
    geometry = oblique_geometry(shape=(4, 19, 13))
    maps = fractional_maps(geometry)
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, maps, [[1], [1]])
    out = tmp_path / "f.dcm"
    rc, stdout, stderr = run_cli(
        capsys,
        "itk2seg",
        *images,
        "-d",
        ct,
        "-m",
        md_path,
        "-o",
        out,
        "--type",
        "fractional",
        "--fractional-type",
        "occupancy",
    )
    assert rc == 0, stderr
    assert "FRACTIONAL" in stdout
    assert pydicom.dcmread(out).SegmentationFractionalType == "OCCUPANCY"
    rc, stdout, stderr = run_cli(
        capsys,
        "itk2seg",
        *images,
        "-d",
        ct,
        "-m",
        md_path,
        "-o",
        tmp_path / "p.dcm",
        "--type",
        "fractional",
        "--palette",
    )
    assert rc == 1 and "LABELMAP only" in stderr


def test_cli_itkimage2segimage_default_binary_and_skip(overlap_case, capsys):
    c = overlap_case
    a, b, cc = c["images"]
    out = c["tmp"] / "dq-style.dcm"
    rc, stdout, stderr = run_cli(
        capsys,
        "itkimage2segimage",
        "--inputImageList",
        f"{a},{b}",
        "--inputImageList",
        str(cc),
        "--inputDICOMDirectory",
        c["ct"],
        "--inputMetadata",
        c["md_path"],
        "--outputDICOM",
        out,
    )
    assert rc == 0, stderr
    ds = pydicom.dcmread(out)
    assert ds.SegmentationType == "BINARY" and ds.SegmentsOverlap == "YES"
    check_frames_against_masks(ds, c["geometry"], c["masks"])
    out0 = c["tmp"] / "skip0.dcm"
    rc, _, stderr = run_cli(
        capsys,
        "itkimage2segimage",
        "--inputImageList",
        f"{a},{b},{cc}",
        "--inputDICOMDirectory",
        c["ct"],
        "--inputMetadata",
        c["md_path"],
        "--outputDICOM",
        out0,
        "--skip",
        "0",
    )
    assert rc == 0, stderr
    assert int(pydicom.dcmread(out0).NumberOfFrames) == len(c["masks"]) * c["geometry"].shape[0]
    # --useLabelIDAsSegmentNumber with labels repeated across files: refused (BINARY needs 1..N, each once)
    rc, _, stderr = run_cli(
        capsys,
        "itkimage2segimage",
        "--inputImageList",
        f"{a},{b},{cc}",
        "--inputDICOMDirectory",
        c["ct"],
        "--inputMetadata",
        c["md_path"],
        "--outputDICOM",
        c["tmp"] / "ids.dcm",
        "--useLabelIDAsSegmentNumber",
    )
    assert rc == 1 and "label value 1" in stderr


def test_cli_bin2label_refuses_overlap(overlap_case, capsys):
    c = overlap_case
    seg = c["tmp"] / "x.dcm"
    itk_to_seg(c["images"], [c["ct"]], c["md_path"], seg, options=WriteOptions(seg_type="binary"))
    for args in (
        ["bin2label", seg, "-o", c["tmp"] / "lm.dcm"],
        ["bin2labelsegimage", "--inputDICOM", seg, "--outputDICOM", c["tmp"] / "lm.dcm"],
    ):
        rc, stdout, stderr = run_cli(capsys, *args)
        assert rc == 1
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert "segment 1 'Liver' and segment 3 'Right kidney': 20 voxels" in lines[0]
        assert "segment 2 'Spleen' and segment 3 'Right kidney': 2 voxels" in lines[0]
        assert not (c["tmp"] / "lm.dcm").exists()
        assert not [p for p in c["tmp"].iterdir() if p.name.startswith(("lm.dcm", ".lm.dcm"))]


def test_bin2label_round_trip_ours(tmp_path, capsys):
    geometry = oblique_geometry(shape=(5, 22, 21))
    arr = phantom(geometry, 4, seed=7)
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [arr], [[1, 2, 3, 4]])
    seg = tmp_path / "b.dcm"
    itk_to_seg(images, [ct], md_path, seg, options=WriteOptions(seg_type="binary"))
    out = tmp_path / "lm.dcm"
    rc, stdout, stderr = run_cli(capsys, "bin2label", seg, "-o", out)
    assert rc == 0, stderr
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == LABELMAP_SOP and ds.BitsAllocated == 8
    src = pydicom.dcmread(seg)
    for kw in ("StudyInstanceUID", "PatientID", "FrameOfReferenceUID"):
        assert getattr(ds, kw) == getattr(src, kw)
    assert [str(s.SegmentLabel) for s in ds.SegmentSequence if int(s.SegmentNumber)] == [
        str(s.SegmentLabel) for s in src.SegmentSequence
    ]
    decoded = read_seg(out, reference=ct)
    np.testing.assert_array_equal(decoded.volume.array, arr)


def test_volume_of_reused_buffer_clears_what_it_must(overlap_case):
    """A reused buffer is cleared only where the previous call painted; a foreign buffer fully."""
    from labelmap.pipeline.convert import read_seg

    c = overlap_case
    out = c["tmp"] / "reuse.dcm"
    itk_to_seg(c["images"], [c["ct"]], c["md_path"], out, options=WriteOptions(seg_type="binary"))
    decoded = read_seg(out)
    numbers = [s.number for s in decoded.segments]
    expected = [decoded.volume_of([n]).copy() for n in numbers]
    buffer = decoded.volume_of([numbers[0]])
    for n, want in zip(numbers, expected):
        buffer = decoded.volume_of([n], buffer)  # the partial clear path
        np.testing.assert_array_equal(buffer, want)
    foreign = np.full(decoded.geometry.shape, 9, dtype=buffer.dtype)
    np.testing.assert_array_equal(decoded.volume_of([numbers[0]], foreign), decoded.volume_of([numbers[0]]))
