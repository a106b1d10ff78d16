"""labelmap.pipeline.slide.seg_to_slide: a slide SEG's total pixel matrix written as OME-TIFF / 2-D NRRD
by bands, named as for volumes, with dcmqi's meta.json; pyramid levels; all or nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _tiled_segs import blobs, hand_seg, highdicom_seg, reference_matrix, wsi_dataset

from labelmap.errors import InputError, SegFormatError
from labelmap.pipeline.slide import seg_to_slide

pytest.importorskip("highdicom")
tifffile = pytest.importorskip("tifffile")


def _ome_spacing_um(path):
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata or ""
    import re

    x = float(re.search(r'PhysicalSizeX="([^"]+)"', xml).group(1))
    y = float(re.search(r'PhysicalSizeY="([^"]+)"', xml).group(1))
    return y, x


@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE"])
def test_labelmap_to_one_ome_tiff(tmp_path, organization):
    labels = blobs(1001, 777, 4)
    source = wsi_dataset(1001, 777, spacing_mm=0.0005)
    seg = highdicom_seg(tmp_path / "s.dcm", labels, "LABELMAP", organization, source=source)
    report = seg_to_slide(seg, tmp_path / "out")
    assert [p.name for p in report.outputs] == ["1.ome.tif"] and report.metadata.name == "meta.json"
    assert report.shape == (1, 1001, 777) and report.segments == 4 and report.warnings == []
    np.testing.assert_array_equal(tifffile.imread(report.outputs[0]), labels)
    assert _ome_spacing_um(report.outputs[0]) == pytest.approx((0.5, 0.5))
    meta = json.loads(report.metadata.read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.ome.tif", "meta.json"]


def test_binary_one_file_per_segment_or_merged(tmp_path):
    labels = blobs(300, 517, 3, seed=4)
    masks = np.stack([labels == 1, labels == 2, labels == 3, labels >= 2], axis=-1)  # 4 overlaps 2 and 3
    seg = highdicom_seg(tmp_path / "b.dcm", labels, "BINARY", "TILED_SPARSE", masks=masks, tile=(128, 128))
    report = seg_to_slide(seg, tmp_path / "each", prefix="p")
    assert [p.name for p in report.outputs] == ["p-1.ome.tif", "p-2.ome.tif", "p-3.ome.tif", "p-4.ome.tif"]
    assert report.metadata.name == "p-meta.json"
    for k, path in enumerate(report.outputs):
        np.testing.assert_array_equal(tifffile.imread(path), masks[..., k] * (k + 1))
    merged = seg_to_slide(seg, tmp_path / "merged", merge_segments=True)
    assert len(merged.outputs) == 2  # 1, 2, 3 do not overlap; 4 overlaps 2 and 3
    first = tifffile.imread(merged.outputs[0])
    np.testing.assert_array_equal(first, labels)
    np.testing.assert_array_equal(tifffile.imread(merged.outputs[1]), masks[..., 3] * 4)
    meta = json.loads(merged.metadata.read_text())
    assert [[s["labelID"] for s in group] for group in meta["segmentAttributes"]] == [[1, 2, 3], [4]]


def test_fractional_keeps_stored_values(tmp_path):
    labels = blobs(200, 230, 2, seed=9)
    seg = highdicom_seg(tmp_path / "f.dcm", labels, "FRACTIONAL", "TILED_FULL", tile=(64, 64))
    report = seg_to_slide(seg, tmp_path / "out")
    for k, path in enumerate(report.outputs):
        np.testing.assert_array_equal(tifffile.imread(path), reference_matrix(seg, "FRACTIONAL", k + 1))


def test_nrrd_carries_the_spacing(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    labels = blobs(21, 22, 3)
    source = wsi_dataset(21, 22, (10, 10), spacing_mm=0.0004)
    seg = highdicom_seg(tmp_path / "s.dcm", labels, "LABELMAP", "TILED_SPARSE", source=source, tile=(10, 10))
    report = seg_to_slide(seg, tmp_path / "out", fmt="nrrd")
    assert [p.name for p in report.outputs] == ["1.nrrd"]
    data, header = nrrd.read(str(report.outputs[0]))
    assert data.T.shape == (21, 22)
    np.testing.assert_array_equal(data.T, labels)
    assert np.allclose(np.abs(np.asarray(header["space directions"], dtype=float)).max(axis=0), 0.0004)


def test_pyramid_levels(tmp_path):
    big, small = blobs(512, 384, 3), blobs(256, 192, 3, seed=1)
    folder = tmp_path / "pyramid"
    folder.mkdir()
    highdicom_seg(folder / "a.dcm", small, tile=(64, 64))
    highdicom_seg(folder / "b.dcm", big, tile=(64, 64))
    (folder / "notes.txt").write_text("not DICOM")
    report = seg_to_slide(folder, tmp_path / "l0")
    np.testing.assert_array_equal(tifffile.imread(report.outputs[0]), big)
    report = seg_to_slide(folder, tmp_path / "l1", level=1)
    np.testing.assert_array_equal(tifffile.imread(report.outputs[0]), small)
    with pytest.raises(InputError, match=r"level 2 does not exist; the SEG has 2 level\(s\): 0: 384 x 512 px"):
        seg_to_slide(folder, tmp_path / "l2", level=2)
    assert not (tmp_path / "l2").exists()


def test_damaged_seg_leaves_nothing(tmp_path):
    frames = np.ones((2, 10, 10), np.uint8)
    seg = hand_seg(tmp_path / "s.dcm", rows=21, columns=22, tile=(10, 10), frames=frames, positions=[(1, 1), (30, 1)])
    with pytest.raises(SegFormatError, match="frame 2 .* outside"):
        seg_to_slide(seg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_position_warning_is_reported(tmp_path):
    frames = np.ones((2, 10, 10), np.uint8)
    seg = hand_seg(
        tmp_path / "s.dcm",
        rows=10,
        columns=20,
        tile=(10, 10),
        frames=frames,
        positions=[(1, 1), (1, 11)],
        offsets=[(20.0, 40.0), (20.0, 30.0)],
    )
    report = seg_to_slide(seg, tmp_path / "out")
    assert len(report.warnings) == 1 and "1 of 2 frames" in report.warnings[0]


def test_round_trip_of_a_bad_format(tmp_path):
    labels = blobs(30, 30, 1)
    seg = highdicom_seg(tmp_path / "s.dcm", labels, tile=(16, 16))
    with pytest.raises(InputError, match="ome-tiff or nrrd"):
        seg_to_slide(seg, tmp_path / "out", fmt="nifti")
