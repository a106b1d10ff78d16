"""seg_to_itk's output stage: every file (label images, meta.json, .seg.nrrd) is written all or nothing,
and no output may replace the SEG being read or a file of the reference series."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _images import write_image

from labelmap.cli import main
from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.errors import OutputError
from labelmap.pipeline import convert
from labelmap.pipeline.convert import seg_to_itk
from labelmap.pipeline.options import ReadOptions

from _cli import listing
from _geometries import axial_geometry, make_ct_series

LABELMAP_CONVERT = Path(sys.executable).parent / "labelmap-convert"
SEGMENTS = 8


@pytest.fixture(scope="module")
def binary8(tmp_path_factory):
    """A BINARY SEG of 8 segments (seg2itk writes 8 label files + meta.json) and its CT."""
    root = tmp_path_factory.mktemp("binary8")
    geometry = axial_geometry(shape=(6, 30, 28))
    ct = make_ct_series(root, geometry, name="ct")
    labels = organ_phantom(geometry, SEGMENTS, seed=3)
    values = sorted(int(v) for v in np.unique(labels) if v)
    assert len(values) == SEGMENTS
    write_image(root / "lab.nrrd", labels, geometry)
    (root / "m.json").write_text(json.dumps(sample_metadata(values)))
    seg = root / "binary.seg.dcm"
    args = ["itk2seg", root / "lab.nrrd", "-d", ct, "-m", root / "m.json", "-o", seg, "--type", "binary", "-q"]
    assert main([str(a) for a in args]) == 0
    return {"root": root, "ct": ct, "seg": seg}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() if (folder / name).is_file() else b"<dir>" for name in listing(folder)}


def _old_outputs(folder: Path) -> dict[str, bytes]:
    """An earlier run's files: they must come through a failed run byte for byte."""
    folder.mkdir(exist_ok=True)
    for name in ("1.nrrd", "2.nrrd", "meta.json"):
        (folder / name).write_bytes(f"old {name}".encode())
    return _snapshot(folder)


def test_eight_files_and_meta_are_written(binary8, tmp_path):
    report = seg_to_itk(binary8["seg"], tmp_path)
    assert [p.name for p in report.outputs] == [f"{k}.nrrd" for k in range(1, SEGMENTS + 1)]
    assert listing(tmp_path) == {*(f"{k}.nrrd" for k in range(1, SEGMENTS + 1)), "meta.json"}


def test_a_collision_on_the_fifth_file_leaves_the_folder_as_it_was(binary8, tmp_path):
    before = _old_outputs(tmp_path)
    (tmp_path / "5.nrrd").mkdir()  # the 5th output name is taken by a folder
    before = _snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"5\.nrrd' is a folder"):
        seg_to_itk(binary8["seg"], tmp_path)
    assert _snapshot(tmp_path) == before


def test_an_interrupt_on_the_fifth_file_leaves_the_folder_as_it_was(binary8, tmp_path, monkeypatch):
    before = _old_outputs(tmp_path)
    real, calls = convert.write_labels, []

    def interrupted(path, volume, **kwargs):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        real(path, volume, **kwargs)

    monkeypatch.setattr(convert, "write_labels", interrupted)
    with pytest.raises(KeyboardInterrupt):
        seg_to_itk(binary8["seg"], tmp_path)
    assert len(calls) == 5 and all(Path(p).name.startswith(".lm-") for p in calls)
    assert _snapshot(tmp_path) == before


def test_a_full_disk_at_the_last_file_leaves_the_folder_as_it_was(binary8, tmp_path):
    """A real write failure: under a file-size limit the label files fit and meta.json does not."""
    out = tmp_path / "out"
    before = _old_outputs(out)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

    proc = subprocess.run(
        [str(LABELMAP_CONVERT), "seg2itk", str(binary8["seg"]), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "meta.json" in lines[0] and "File too large" in lines[0], proc.stderr
    assert ".lm-" not in lines[0]
    assert _snapshot(out) == before


@pytest.mark.parametrize("fmt, name", [("nifti", "1.nii.gz"), ("segnrrd", "binary.seg.nrrd")])
def test_other_formats_are_staged_too(binary8, tmp_path, fmt, name):
    (tmp_path / "meta.json").mkdir()  # meta.json, written last, cannot be: the image must not appear
    with pytest.raises(OutputError, match="meta.json"):
        seg_to_itk(binary8["seg"], tmp_path, options=ReadOptions(fmt=fmt))
    assert listing(tmp_path) == {"meta.json"}
    shutil.rmtree(tmp_path / "meta.json")
    report = seg_to_itk(binary8["seg"], tmp_path, options=ReadOptions(fmt=fmt))
    assert report.outputs[0].name == name
    assert name in listing(tmp_path) and "meta.json" in listing(tmp_path)
    assert not [n for n in listing(tmp_path) if n.startswith(".")]


def test_long_names_get_short_temporaries(binary8, tmp_path):
    prefix = "p" * 240  # 240 + "-meta.json" = 250 bytes, within NAME_MAX; a temp named after it would not be
    report = seg_to_itk(binary8["seg"], tmp_path, options=ReadOptions(prefix=prefix, merge_segments=True))
    assert report.metadata.name == f"{prefix}-meta.json"
    assert not [n for n in listing(tmp_path) if n.startswith(".")]


def test_output_replacing_the_input_seg_is_refused(binary8, tmp_path):
    seg = tmp_path / "p-1.nrrd"  # a SEG whose name is what --prefix p writes first
    shutil.copy(binary8["seg"], seg)
    before = _snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"p-1\.nrrd' is also the input SEG"):
        seg_to_itk(seg, tmp_path, options=ReadOptions(prefix="p"))
    assert _snapshot(tmp_path) == before


def test_output_replacing_a_reference_file_is_refused(binary8, tmp_path):
    """The reference series is given as a folder; one of its files has an output's name."""
    ct = tmp_path / "ct"
    shutil.copytree(binary8["ct"], ct)
    first = sorted(ct.iterdir())[0]
    first.rename(ct / "meta.json")
    before = _snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"meta\.json' is also a file of the reference series"):
        seg_to_itk(binary8["seg"], ct, reference=ct)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("prefix", ["a/b", "..", "../up"])
def test_prefix_stays_inside_the_output_folder(binary8, tmp_path, prefix):
    from labelmap.errors import InputError

    with pytest.raises(InputError, match="folder separator"):
        seg_to_itk(binary8["seg"], tmp_path / "out", options=ReadOptions(prefix=prefix))
    assert listing(tmp_path) == set()


def test_a_failed_run_removes_the_output_folder_it_created(binary8, tmp_path):
    from labelmap.errors import SegFormatError

    (tmp_path / "not-a-seg.dcm").write_bytes(b"\0" * 400)
    with pytest.raises(SegFormatError):
        seg_to_itk(tmp_path / "not-a-seg.dcm", tmp_path / "new" / "deeper", options=ReadOptions(create_dir=True))
    assert listing(tmp_path) == {"not-a-seg.dcm"}
    (tmp_path / "kept").mkdir()
    with pytest.raises(SegFormatError):
        seg_to_itk(tmp_path / "not-a-seg.dcm", tmp_path / "kept" / "new", options=ReadOptions(create_dir=True))
    assert listing(tmp_path) == {"not-a-seg.dcm", "kept"}  # an existing folder is never removed
    report = seg_to_itk(binary8["seg"], tmp_path / "made", options=ReadOptions(create_dir=True))
    assert report.metadata == tmp_path / "made" / "meta.json" and (tmp_path / "made").is_dir()


def test_reference_may_be_a_loaded_series_or_a_geometry(binary8, tmp_path):
    from labelmap.pipeline.convert import load_source

    series = load_source(binary8["ct"])
    from_series = seg_to_itk(binary8["seg"], tmp_path / "a", reference=series)
    from_files = seg_to_itk(binary8["seg"], tmp_path / "b", reference=binary8["ct"])
    assert from_series.shape == from_files.shape
    assert (tmp_path / "a" / "1.nrrd").read_bytes() == (tmp_path / "b" / "1.nrrd").read_bytes()
