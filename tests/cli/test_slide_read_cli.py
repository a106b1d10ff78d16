"""``seg2itk`` / ``segimage2itkimage`` on slide SEGs: OME-TIFF by default, ``--format nrrd``, ``--level``,
one-line errors with nothing left behind."""

from __future__ import annotations

import numpy as np
import pytest
from _tiled_segs import blobs, hand_seg, highdicom_seg

from _cli import listing, run_cli

pytest.importorskip("highdicom")
tifffile = pytest.importorskip("tifffile")


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slide")
    labels = blobs(1001, 777, 3)
    return highdicom_seg(folder / "s.dcm", labels, "LABELMAP", "TILED_SPARSE"), labels


def test_seg2itk_writes_ome_tiff(slide, tmp_path, capsys):
    seg, labels = slide
    rc, out, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "out")
    assert rc == 0, err
    assert "1.ome.tif" in out and "grid 777x1001x1" in out
    assert listing(tmp_path / "out") == {"1.ome.tif", "meta.json"}
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "1.ome.tif"), labels)


def test_seg2itk_format_nrrd(slide, tmp_path, capsys):
    seg, _ = slide
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "out", "--format", "nrrd", "--prefix", "p")
    assert rc == 0, err
    assert listing(tmp_path / "out") == {"p-1.nrrd", "p-meta.json"}


def test_seg2itk_level_of_a_pyramid_folder(tmp_path, capsys):
    folder = tmp_path / "levels"
    folder.mkdir()
    big, small = blobs(300, 200, 2), blobs(150, 100, 2, seed=2)
    highdicom_seg(folder / "l0.dcm", big, tile=(64, 64))
    highdicom_seg(folder / "l1.dcm", small, tile=(64, 64))
    rc, _, err = run_cli(capsys, "seg2itk", folder, "-o", tmp_path / "out", "--level", "1")
    assert rc == 0, err
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "1.ome.tif"), small)
    rc, _, err = run_cli(capsys, "seg2itk", folder, "-o", tmp_path / "bad", "--level", "5")
    assert rc == 1 and err.count("\n") == 1 and "level 5 does not exist" in err and "0: 200 x 300 px" in err
    assert not (tmp_path / "bad").exists()


def test_segimage2itkimage_on_a_slide(slide, tmp_path, capsys):
    seg, labels = slide
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", out, "-t", "ome-tiff")
    assert rc == 0, err
    assert listing(out) == {"1.ome.tif", "meta.json"}
    np.testing.assert_array_equal(tifffile.imread(out / "1.ome.tif"), labels)
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", out, "-p", "n")
    assert rc == 0, err
    assert {"n-1.nrrd", "n-meta.json"} <= listing(out)


def test_damaged_slide_seg_is_one_line_and_leaves_nothing(tmp_path, capsys):
    frames = np.ones((2, 10, 10), np.uint8)
    seg = hand_seg(tmp_path / "s.dcm", rows=21, columns=22, tile=(10, 10), frames=frames, positions=[(1, 1), (1, 40)])
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "out")
    assert rc == 1 and err.count("\n") == 1
    assert err.startswith("error:") and "s.dcm" in err and "frame 2" in err and "outside" in err
    assert not (tmp_path / "out").exists()


def test_slide_flags_on_the_wrong_seg(slide, tmp_path, capsys):
    seg, _ = slide
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "o1", "--format", "nifti")
    assert rc == 1 and "OME-TIFF" in err and "--format nrrd" in err
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "o2", "--reference", tmp_path)
    assert rc == 1 and "--reference" in err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_row_column_warning_is_one_line(tmp_path, capsys):
    frames = np.ones((2, 10, 10), np.uint8)
    seg = hand_seg(
        tmp_path / "s.dcm",
        rows=10,
        columns=20,
        tile=(10, 10),
        frames=frames,
        positions=[(1, 1), (1, 11)],
        offsets=[(20.0, 40.0), (19.995, 40.0)],  # frame 2's offsets are those of Row/Column (11, 1)
        spacing_mm=0.0005,
    )
    rc, out, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "out")
    assert rc == 0, err
    warnings = [line for line in (out + err).splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "swapped" in warnings[0]


def test_level_on_a_volume_seg_is_refused(tmp_path, capsys):
    from _cli import make_case

    case = make_case(tmp_path / "case")
    rc, _, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path / "out", "--level", "1")
    assert rc == 1 and err.count("\n") == 1 and "--level is for slide SEG pyramids" in err
    rc, _, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path / "out", "--format", "ome-tiff")
    assert rc == 1 and "not a slide SEG" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [(), ("--tiled", "sparse", "--compression", "deflate", "--tile-size", "100")])
def test_round_trip_itk2seg_then_seg2itk(tmp_path, capsys, args):
    import json

    from _slides import write_wsi_pyramid

    from labelmap.demo.sample import sample_metadata

    sizes = ((1001, 777), (501, 389))
    write_wsi_pyramid(tmp_path / "wsi", sizes=sizes, tile=(256, 256), photometric="MONOCHROME2")
    labels = blobs(1001, 777, 3, seed=21)
    np.save(tmp_path / "labels.npy", labels)
    (tmp_path / "m.json").write_text(json.dumps(sample_metadata([1, 2, 3])))
    seg = tmp_path / "segs" / "s.dcm"
    seg.parent.mkdir()
    rc, _, err = run_cli(
        capsys,
        "itk2seg",
        tmp_path / "labels.npy",
        "--dicom",
        tmp_path / "wsi",
        "-m",
        tmp_path / "m.json",
        "-o",
        seg,
        "--pyramid",
        *args,
    )
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "seg2itk", seg.parent, "-o", tmp_path / "l0")
    assert rc == 0, err
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "l0" / "1.ome.tif"), labels)
    meta = json.loads((tmp_path / "l0" / "meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [1, 2, 3]
    rc, _, err = run_cli(capsys, "seg2itk", seg.parent, "-o", tmp_path / "l1", "--level", "1", "--format", "nrrd")
    assert rc == 0, err
    import nrrd

    data, _ = nrrd.read(str(tmp_path / "l1" / "1.nrrd"))
    rows = np.minimum(((np.arange(501) + 0.5) * 1001 / 501).astype(int), 1000)
    cols = np.minimum(((np.arange(389) + 0.5) * 777 / 389).astype(int), 776)
    np.testing.assert_array_equal(data.T, labels[rows][:, cols])  # level 1: nearest neighbour of level 0
