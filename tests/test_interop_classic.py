"""Classic SEG (BINARY / FRACTIONAL) interoperability with dcmqi 1.5.7 and highdicom 0.28.

a. dcmqi segimage2itkimage and highdicom read our BINARY / FRACTIONAL files exactly;
b. we read dcmqi's BINARY files (--skip 1 / --skip 0, one or several overlapping inputs) the way
   dcmqi's own segimage2itkimage does (names, arrays, geometry, meta.json);
c. we read highdicom's BINARY (also overlapping) and FRACTIONAL files as highdicom does;
d. bin2labelsegimage: ours against dcmqi's on the same dcmqi BINARY input.

Findings (dcmqi 1.5.7, highdicom 0.28.2):
* dcmqi writes SegmentsOverlap UNDEFINED for several input files even when segments overlap (we
  write YES/NO from the voxels); --skip 1 keeps inner empty slices of a segment's z range, we
  write only the (segment, slice) frames holding the segment.  DimensionIndexValues restart per
  segment at its first frame (dcmqi) vs. the rank among all positions (ours, as highdicom).
* dcmqi segimage2itkimage writes int16 per-segment files; we write uint8 (uint16 above 255) with the
  same values.
* dcmqi bin2labelsegimage refuses overlapping input with "Binary segmentation contains overlapping
  segments" (no pairs named, exit 1); ours names the pairs and voxel counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from labelmap.cli import main
from labelmap.demo.sample import organ_phantom
from labelmap.model import Geometry
from labelmap.pipeline.convert import itk_to_seg, read_seg, seg_to_itk
from labelmap.pipeline.options import ReadOptions, WriteOptions

from _classic import (
    CLASSIC_SOP,
    LABELMAP_SOP,
    expected_masks,
    fractional_maps,
    frame_segments,
    greedy_layers,
    overlapping_arrays,
    painted,
    phantom,
    read_outputs,
    write_inputs,
)
from _geometries import axial_geometry, oblique_geometry
from _interop import BIN_DIR, run_dcmqi, volume_geometry, world_compare, write_highdicom_seg

pytestmark = pytest.mark.interop

DCMQI_MISSING = any(not (BIN_DIR / n).exists() for n in ("segimage2itkimage", "itkimage2segimage", "bin2labelsegimage"))
needs_dcmqi = pytest.mark.skipif(DCMQI_MISSING, reason="dcmqi executables are not installed in the venv")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def dcmqi_read_all(seg: Path, out_dir: Path, *extra: str) -> tuple[list[Path], dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dcmqi("segimage2itkimage", "--inputDICOM", str(seg), "--outputDirectory", str(out_dir), *extra)
    images = sorted((p for p in out_dir.iterdir() if p.name != "meta.json"), key=lambda p: int(p.name.split(".")[0]))
    return images, json.loads((out_dir / "meta.json").read_text())


def label_ids(meta: dict) -> list[list[int]]:
    return [[s["labelID"] for s in inner] for inner in meta["segmentAttributes"]]


def compare_outputs(ours: list[Path], theirs: list[Path]) -> None:
    """Same names, same grids (within 1e-4 mm), same voxel values."""
    assert [p.name for p in ours] == [p.name for p in theirs]
    for (a, ga), (b, gb), p in zip(read_outputs(ours), read_outputs(theirs), ours):
        assert a.shape == b.shape, p.name
        assert ga.max_deviation(gb) < 1e-4, f"{p.name}: grids {ga.max_deviation(gb):.6f} mm apart"
        np.testing.assert_array_equal(a.astype(np.int64), b.astype(np.int64), err_msg=p.name)


# ----------------------------------------------------------------------------- shared inputs
@pytest.fixture(scope="module")
def overlap(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classic-overlap")
    geometry = oblique_geometry(shape=(5, 22, 21))
    arrays, groups = overlapping_arrays(geometry)
    ct, images, md_path, md = write_inputs(tmp, geometry, arrays, groups, names=["a.nrrd", "b.nrrd", "c.nrrd"])
    seg = tmp / "ours.dcm"
    itk_to_seg(images, [ct], md_path, seg, options=WriteOptions(seg_type="binary"))
    return dict(
        tmp=tmp,
        geometry=geometry,
        arrays=arrays,
        groups=groups,
        ct=ct,
        images=images,
        md_path=md_path,
        md=md,
        masks=expected_masks(arrays, groups),
        seg=seg,
    )


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One file, odd in-plane size (rows * columns % 8 != 0), oblique."""
    tmp = tmp_path_factory.mktemp("classic-single")
    geometry = oblique_geometry(shape=(3, 38, 23))
    arr = phantom(geometry, 3, seed=4)
    ct, images, md_path, md = write_inputs(tmp, geometry, [arr], [[1, 2, 3]])
    seg = tmp / "ours.dcm"
    itk_to_seg(images, [ct], md_path, seg, options=WriteOptions(seg_type="binary"))
    return dict(
        tmp=tmp,
        geometry=geometry,
        arrays=[arr],
        groups=[[1, 2, 3]],
        ct=ct,
        images=images,
        md_path=md_path,
        md=md,
        masks=expected_masks([arr], [[1, 2, 3]]),
        seg=seg,
    )


@pytest.fixture(scope="module")
def fractional(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classic-fractional")
    geometry = oblique_geometry(shape=(4, 19, 13))
    maps = fractional_maps(geometry)
    ct, images, md_path, md = write_inputs(tmp, geometry, maps, [[1], [1]])
    seg = tmp / "ours.dcm"
    itk_to_seg(images, [ct], md_path, seg, options=WriteOptions(seg_type="fractional"))
    stored = [np.rint(p.astype(np.float64) * 255).astype(np.uint8) for p in maps]
    return dict(tmp=tmp, geometry=geometry, ct=ct, seg=seg, stored=stored)


# ----------------------------------------------------------------------------- a. peers read ours
@needs_dcmqi
@pytest.mark.parametrize("case", ["single", "overlap"])
def test_dcmqi_reads_our_binary(request, case):
    c = request.getfixturevalue(case)
    tag = f"dq-read-{case}"
    theirs, meta = dcmqi_read_all(c["seg"], c["tmp"] / tag)
    ours = seg_to_itk(c["seg"], c["tmp"] / f"{tag}-ours")
    assert [p.name for p in theirs] == [f"{k}.nrrd" for k in range(1, len(c["masks"]) + 1)]
    for n, (array, geo) in enumerate(read_outputs(theirs), start=1):
        assert array.dtype == np.int16
        world_compare(c["masks"][n - 1].astype(np.int32) * n, c["geometry"], array, geo)
    compare_outputs(ours.outputs, theirs)
    assert label_ids(meta) == label_ids(json.loads(ours.metadata.read_text()))
    # merged: same layering (greedy first fit) and contents
    theirs_m, meta_m = dcmqi_read_all(c["seg"], c["tmp"] / f"{tag}-merged", "--mergeSegments")
    ours_m = seg_to_itk(c["seg"], c["tmp"] / f"{tag}-merged-ours", options=ReadOptions(merge_segments=True))
    layers = greedy_layers(c["masks"])
    assert label_ids(meta_m) == layers == label_ids(json.loads(ours_m.metadata.read_text()))
    compare_outputs(ours_m.outputs, theirs_m)
    for group, (array, geo) in zip(layers, read_outputs(theirs_m)):
        world_compare(painted(c["masks"], group), c["geometry"], array, geo)


@pytest.mark.parametrize("case", ["single", "overlap"])
def test_highdicom_reads_our_binary(request, case):
    hd = pytest.importorskip("highdicom")
    c = request.getfixturevalue(case)
    seg = hd.seg.segread(str(c["seg"]))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    assert list(seg.segment_numbers) == list(range(1, len(c["masks"]) + 1))
    volume = seg.get_volume(combine_segments=False)
    array = np.asarray(volume.array)
    assert array.shape[-1] == len(c["masks"])
    geo = volume_geometry(volume.affine, array.shape[:3])
    for n in range(1, len(c["masks"]) + 1):
        world_compare(c["masks"][n - 1].astype(np.int32), c["geometry"], array[..., n - 1].astype(np.int32), geo)
    # per segment, through the source instances
    sources = sorted(c["ct"].iterdir())
    uids = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in sources]
    for n in range(1, len(c["masks"]) + 1):
        mask = seg.get_pixels_by_source_instance(uids, segment_numbers=[n], assert_missing_frames_are_empty=True)
        np.testing.assert_array_equal(mask[..., 0].astype(bool), c["masks"][n - 1])


def test_highdicom_reads_our_fractional(fractional):
    hd = pytest.importorskip("highdicom")
    c = fractional
    seg = hd.seg.segread(str(c["seg"]))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL
    assert seg.segmentation_fractional_type == hd.seg.SegmentationFractionalTypeValues.PROBABILITY
    volume = seg.get_volume(combine_segments=False, rescale_fractional=False)
    array = np.asarray(volume.array)
    geo = volume_geometry(volume.affine, array.shape[:3])
    for n, want in enumerate(c["stored"], start=1):
        world_compare(want, c["geometry"], array[..., n - 1], geo)
    scaled = np.asarray(seg.get_volume(combine_segments=False).array)
    assert scaled.dtype.kind == "f"
    np.testing.assert_allclose(scaled * 255.0, array, atol=1e-3)


# ----------------------------------------------------------------------------- b. we read dcmqi's
@needs_dcmqi
@pytest.mark.parametrize("case", ["single", "overlap"])
@pytest.mark.parametrize("skip", ["1", "0"])
def test_we_read_dcmqi_binary(request, case, skip):
    c = request.getfixturevalue(case)
    tag = f"dq-{case}-skip{skip}"
    seg = c["tmp"] / f"{tag}.dcm"
    run_dcmqi(
        "itkimage2segimage",
        "--inputImageList",
        ",".join(str(p) for p in c["images"]),
        "--inputDICOMDirectory",
        str(c["ct"]),
        "--inputMetadata",
        str(c["md_path"]),
        "--outputDICOM",
        str(seg),
        "--skip",
        skip,
    )
    ds = pydicom.dcmread(seg)
    assert ds.SOPClassUID == CLASSIC_SOP and ds.SegmentationType == "BINARY"
    assert ds.SegmentsOverlap == ("UNDEFINED" if len(c["images"]) > 1 else "NO")
    n_seg = len(c["masks"])
    if skip == "0":
        assert int(ds.NumberOfFrames) == n_seg * c["geometry"].shape[0]
    else:  # per segment: every slice of its z range, inner empty slices kept
        zr = [np.flatnonzero(m.any(axis=(1, 2))) for m in c["masks"]]
        assert int(ds.NumberOfFrames) == sum(int(z[-1] - z[0] + 1) for z in zr)
    assert sorted(set(frame_segments(ds))) == list(range(1, n_seg + 1))

    # per-segment outputs: equal to dcmqi's own
    theirs, meta = dcmqi_read_all(seg, c["tmp"] / f"{tag}-dq")
    ours = seg_to_itk(seg, c["tmp"] / f"{tag}-ours")
    compare_outputs(ours.outputs, theirs)
    our_meta = json.loads(ours.metadata.read_text())
    assert label_ids(our_meta) == label_ids(meta) == [[n] for n in range(1, n_seg + 1)]
    assert [[s["SegmentLabel"] for s in i] for i in our_meta["segmentAttributes"]] == [
        [s["SegmentLabel"] for s in i] for i in meta["segmentAttributes"]
    ]
    for n, (array, geo) in enumerate(read_outputs(ours.outputs), start=1):
        world_compare(c["masks"][n - 1].astype(np.int32) * n, c["geometry"], array, geo)
    # merged outputs: equal to dcmqi's --mergeSegments
    theirs_m, meta_m = dcmqi_read_all(seg, c["tmp"] / f"{tag}-dq-merged", "--mergeSegments")
    ours_m = seg_to_itk(seg, c["tmp"] / f"{tag}-ours-merged", options=ReadOptions(merge_segments=True))
    compare_outputs(ours_m.outputs, theirs_m)
    assert label_ids(json.loads(ours_m.metadata.read_text())) == label_ids(meta_m) == greedy_layers(c["masks"])
    # on the source grid
    decoded = read_seg(seg, reference=c["ct"])
    for s, volume in decoded.iter_segment_volumes():
        np.testing.assert_array_equal(volume, c["masks"][s.number - 1] * s.number)


# ----------------------------------------------------------------------------- c. we read highdicom's
def _highdicom_classic(
    tmp: Path, geometry: Geometry, pixel_array: np.ndarray, seg_type: str, **kw
) -> tuple[Path, Path]:
    numbers = range(1, pixel_array.shape[-1] + 1)
    return write_highdicom_seg(tmp, geometry, pixel_array, seg_type=seg_type, numbers=numbers, **kw)


@pytest.mark.parametrize("kind", ["binary", "binary-overlap", "binary-all-frames"])
def test_we_read_highdicom_binary(tmp_path, kind):
    hd = pytest.importorskip("highdicom")
    geometry = oblique_geometry(shape=(5, 22, 21)) if kind != "binary-all-frames" else axial_geometry(shape=(3, 38, 23))
    if kind == "binary-overlap":
        arrays, groups = overlapping_arrays(geometry)
        masks = expected_masks(arrays, groups)
    else:
        arr = organ_phantom(geometry, 3, seed=6)
        masks = [arr == v for v in (1, 2, 3)]
    stack = np.stack(masks, axis=-1).astype(np.uint8)
    kw = {"omit_empty_frames": False} if kind == "binary-all-frames" else {}
    ct_dir, path = _highdicom_classic(tmp_path, geometry, stack, "BINARY", **kw)
    ds = pydicom.dcmread(path)
    assert ds.SegmentationType == "BINARY"
    if kind == "binary-overlap":
        assert ds.SegmentsOverlap == "YES"
    hseg = hd.seg.segread(str(path))
    hvol = hseg.get_volume(combine_segments=False)
    harr = np.asarray(hvol.array)
    hgeo = volume_geometry(hvol.affine, harr.shape[:3])
    decoded = read_seg(path, reference=ct_dir)
    assert decoded.geometry.max_deviation(geometry) < 1e-4
    for s, volume in decoded.iter_segment_volumes():
        np.testing.assert_array_equal(volume, masks[s.number - 1] * s.number)
        world_compare(harr[..., s.number - 1].astype(np.int32), hgeo, (volume > 0).astype(np.int32), geometry)
    res = seg_to_itk(path, tmp_path / "back", options=ReadOptions(merge_segments=True))
    layers = greedy_layers(masks)
    assert label_ids(json.loads(res.metadata.read_text())) == layers
    for group, (array, geo) in zip(layers, read_outputs(res.outputs)):
        world_compare(painted(masks, group), geometry, array, geo)


def test_we_read_highdicom_fractional(tmp_path):
    hd = pytest.importorskip("highdicom")
    geometry = oblique_geometry(shape=(4, 19, 13))
    maps = fractional_maps(geometry, seed=3)
    stack = np.stack(maps, axis=-1).astype(np.float32)
    ct_dir, path = _highdicom_classic(
        tmp_path,
        geometry,
        stack,
        "FRACTIONAL",
        fractional_type=hd.seg.SegmentationFractionalTypeValues.OCCUPANCY,
        max_fractional_value=255,
    )
    hseg = hd.seg.segread(str(path))
    hvol = hseg.get_volume(combine_segments=False, rescale_fractional=False)
    harr = np.asarray(hvol.array)
    hgeo = volume_geometry(hvol.affine, harr.shape[:3])
    decoded = read_seg(path, reference=ct_dir)
    assert decoded.segmentation_type == "FRACTIONAL" and decoded.fractional_type == "OCCUPANCY"
    for s, volume in decoded.iter_segment_volumes():
        world_compare(harr[..., s.number - 1], hgeo, volume, geometry)
    # highdicom's own stored values are within 1 of round(255 p) (its rounding is its own business)
    for n, p in enumerate(maps, start=1):
        assert np.abs(decoded.volume_of([n]).astype(int) - np.rint(p.astype(np.float64) * 255)).max() <= 1
    res = seg_to_itk(path, tmp_path / "back")
    for n, (array, geo) in enumerate(read_outputs(res.outputs), start=1):
        world_compare(decoded.volume_of([n]), geometry, array, geo)


# ----------------------------------------------------------------------------- d. bin2labelsegimage
def _labelmap_views(path: Path, ct: Path) -> tuple[np.ndarray, np.ndarray, Geometry]:
    """(our reader on the source grid, highdicom's combined volume, highdicom's geometry)."""
    import highdicom as hd

    ours = read_seg(path, reference=ct).volume.array
    hvol = hd.seg.segread(str(path)).get_volume(combine_segments=True, relabel=False)
    harr = np.asarray(hvol.array)
    return ours, harr, volume_geometry(hvol.affine, harr.shape)


@needs_dcmqi
@pytest.mark.parametrize(
    "extra",
    [[], ["--usePalette"], ["--force16Bit"], ["--usePalette", "--force16Bit"]],
    ids=["plain", "palette", "16bit", "palette-16bit"],
)
def test_bin2labelsegimage_matches_dcmqi(tmp_path, capsys, extra):
    pytest.importorskip("highdicom")
    geometry = oblique_geometry(shape=(5, 22, 21))
    arrays = [phantom(geometry, 3, seed=8), None]
    a = arrays[0]
    b = np.zeros_like(a)
    b[(a == 0)] = 0
    b[0, 0:3, 0:3] = 1  # a second, non-overlapping file
    assert not np.any((a > 0) & (b > 0))
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [a, b], [[1, 2, 3], [1]])
    dq_bin = tmp_path / "dq.dcm"
    run_dcmqi(
        "itkimage2segimage",
        "--inputImageList",
        ",".join(map(str, images)),
        "--inputDICOMDirectory",
        str(ct),
        "--inputMetadata",
        str(md_path),
        "--outputDICOM",
        str(dq_bin),
    )
    theirs = tmp_path / "dq-lm.dcm"
    run_dcmqi("bin2labelsegimage", "--inputDICOM", str(dq_bin), "--outputDICOM", str(theirs), *extra)
    ours = tmp_path / "ours-lm.dcm"
    rc, stdout, stderr = run_cli(capsys, "bin2labelsegimage", "--inputDICOM", dq_bin, "--outputDICOM", ours, *extra)
    assert rc == 0, stderr
    d_ours, d_theirs = pydicom.dcmread(ours), pydicom.dcmread(theirs)
    for ds in (d_ours, d_theirs):
        assert ds.SOPClassUID == LABELMAP_SOP and ds.SegmentationType == "LABELMAP"
        assert int(ds.BitsAllocated) == (16 if "--force16Bit" in extra else 8)
        assert ds.PhotometricInterpretation == ("PALETTE COLOR" if "--usePalette" in extra else "MONOCHROME2")
    expected = painted(expected_masks([a, b], [[1, 2, 3], [1]]), [1, 2, 3, 4])
    o_ours, h_ours, hg_ours = _labelmap_views(ours, ct)
    o_theirs, h_theirs, hg_theirs = _labelmap_views(theirs, ct)
    np.testing.assert_array_equal(o_ours, expected)
    np.testing.assert_array_equal(o_theirs, expected)
    world_compare(expected, geometry, h_ours, hg_ours)
    world_compare(expected, geometry, h_theirs, hg_theirs)
    ours_labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in d_ours.SegmentSequence}
    theirs_labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in d_theirs.SegmentSequence}
    assert {k: v for k, v in ours_labels.items() if k} == {k: v for k, v in theirs_labels.items() if k}


@needs_dcmqi
def test_bin2labelsegimage_refuses_overlapping_dcmqi_input(overlap, capsys):
    c = overlap
    dq_bin = c["tmp"] / "dq-overlap.dcm"
    run_dcmqi(
        "itkimage2segimage",
        "--inputImageList",
        ",".join(map(str, c["images"])),
        "--inputDICOMDirectory",
        str(c["ct"]),
        "--inputMetadata",
        str(c["md_path"]),
        "--outputDICOM",
        str(dq_bin),
    )
    theirs = c["tmp"] / "dq-overlap-lm.dcm"
    proc = run_dcmqi("bin2labelsegimage", "--inputDICOM", str(dq_bin), "--outputDICOM", str(theirs), check=False)
    assert proc.returncode != 0 and "overlapping" in (proc.stdout + proc.stderr)
    assert not theirs.exists()
    ours = c["tmp"] / "ours-overlap-lm.dcm"
    rc, stdout, stderr = run_cli(capsys, "bin2labelsegimage", "--inputDICOM", dq_bin, "--outputDICOM", ours)
    assert rc == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    masks = c["masks"]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            n = int(np.count_nonzero(masks[i] & masks[j]))
            if n:
                assert f"segment {i + 1} " in lines[0] and f"segment {j + 1} " in lines[0]
                assert f": {n} voxels" in lines[0]
    assert not ours.exists()
    assert not [p for p in c["tmp"].iterdir() if "ours-overlap-lm" in p.name]


# ----------------------------------------------------------------------------- CLI + dcmqi
@needs_dcmqi
def test_cli_itkimage2segimage_binary_read_by_dcmqi(overlap, capsys):
    c = overlap
    a, b, cc = c["images"]
    out = c["tmp"] / "cli-binary.dcm"
    rc, stdout, stderr = run_cli(
        capsys,
        "itkimage2segimage",
        "--inputImageList",
        f"{a},{b},{cc}",
        "--inputDICOMDirectory",
        c["ct"],
        "--inputMetadata",
        c["md_path"],
        "--outputDICOM",
        out,
    )
    assert rc == 0, stderr
    assert "BINARY" in stdout
    theirs, meta = dcmqi_read_all(out, c["tmp"] / "cli-binary-dq")
    assert label_ids(meta) == [[n] for n in range(1, len(c["masks"]) + 1)]
    for n, (array, geo) in enumerate(read_outputs(theirs), start=1):
        world_compare(c["masks"][n - 1].astype(np.int32) * n, c["geometry"], array, geo)
    d = c["tmp"] / "cli-binary-ours"
    d.mkdir()
    rc, stdout, stderr = run_cli(capsys, "segimage2itkimage", "--inputDICOM", out, "--outputDirectory", d)
    assert rc == 0, stderr
    compare_outputs(sorted((p for p in d.iterdir() if p.suffix == ".nrrd"), key=lambda p: int(p.stem)), theirs)


@needs_dcmqi
def test_dcmqi_reads_our_fractional(fractional):
    """segimage2itkimage writes the stored fractional values, one file per segment, like ours."""
    c = fractional
    theirs, meta = dcmqi_read_all(c["seg"], c["tmp"] / "dq-frac")
    ours = seg_to_itk(c["seg"], c["tmp"] / "dq-frac-ours")
    assert label_ids(meta) == label_ids(json.loads(ours.metadata.read_text())) == [[1], [2]]
    compare_outputs(ours.outputs, theirs)
    for n, (array, geo) in enumerate(read_outputs(theirs), start=1):
        world_compare(c["stored"][n - 1], c["geometry"], array, geo)
