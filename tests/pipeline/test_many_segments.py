"""65,535 segments through every command: a 16-bit label map holding every label once, its dcmqi JSON
with 65,535 entries, as LABELMAP and as BINARY (one 16 x 16 slice per 256 labels, so the BINARY
frames stay small).  Correct results only; speed is for benchmarks/bench_segments.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _images import read_image, write_image

from labelmap.demo.sample import sample_metadata

from _cli import run_cli
from _geometries import axial_geometry, make_ct_series

pytestmark = pytest.mark.slow

N = 65535


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    geometry = axial_geometry(shape=(256, 16, 16))
    ct = make_ct_series(root, geometry, name="ct")
    labels = np.arange(N + 1, dtype=np.uint16).reshape(256, 16, 16)
    lab = root / "all.nrrd"
    write_image(lab, labels, geometry)
    entry = sample_metadata([1])["segmentAttributes"][0][0]
    doc = {"segmentAttributes": [[{**entry, "labelID": i, "SegmentLabel": f"s{i}"} for i in range(1, N + 1)]]}
    meta = root / "all.json"
    meta.write_text(json.dumps(doc))
    return {"root": root, "ct": ct, "labels": labels, "lab": lab, "meta": meta}


def _meta_labels(path) -> dict[int, str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {s["labelID"]: s["SegmentLabel"] for group in doc["segmentAttributes"] for s in group}


def _check_labels(case, out):
    names = _meta_labels(out / "meta.json")
    assert len(names) == N
    assert [names[i] for i in (1, 2, 255, 256, 40000, N)] == ["s1", "s2", "s255", "s256", "s40000", f"s{N}"]
    array, _ = read_image(out / "1.nrrd")
    assert np.array_equal(np.asarray(array), case["labels"])


@pytest.fixture(scope="module")
def labelmap_seg(case):
    seg = case["root"] / "lm.seg.dcm"
    rc = _main("itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", seg, "-q")
    assert rc == 0
    return seg


def _main(*args) -> int:
    from labelmap.cli import main

    return main([str(a) for a in args])


def test_labelmap_to_itk(case, labelmap_seg, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "seg2itk", labelmap_seg, "-o", tmp_path / "out", "-q")
    assert rc == 0, err
    _check_labels(case, tmp_path / "out")


def test_labelmap_dcmqi_reader(case, labelmap_seg, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", labelmap_seg, "--outputDirectory", tmp_path)
    assert rc == 0, err
    _check_labels(case, tmp_path)


def test_info_lists_every_segment(labelmap_seg, capsys):
    rc, out, err = run_cli(capsys, "info", labelmap_seg)
    assert rc == 0, err
    lines = out.splitlines()
    assert f"{N + 1} segments" in lines  # the background (0) has its item too
    rows = {cells[0]: cells for cells in (line.split() for line in lines) if len(cells) >= 6 and cells[0].isdigit()}
    assert rows["1"][1] == "s1" and rows[str(N)][1] == f"s{N}" and rows[str(N)][-1] == "1"
    assert len([n for n in rows if int(n) >= 1]) == N


def test_validate_finds_it_valid(labelmap_seg, capsys):
    rc, out, err = run_cli(capsys, "validate", labelmap_seg)
    assert rc == 0, out + err
    assert ": valid (LABELMAP" in out


def test_binary_then_bin2label(case, tmp_path, capsys):
    binary = tmp_path / "bin.dcm"
    rc, out, err = run_cli(
        capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", binary, "--type", "binary"
    )
    assert rc == 0, err
    assert f"{N} frames, {N} segments" in out
    lm = tmp_path / "lm.dcm"
    rc, out, err = run_cli(capsys, "bin2label", binary, "-o", lm)
    assert rc == 0, err
    assert f"{N} segments" in out
    rc, _, err = run_cli(capsys, "seg2itk", lm, "-o", tmp_path / "out", "-q")
    assert rc == 0, err
    _check_labels(case, tmp_path / "out")
