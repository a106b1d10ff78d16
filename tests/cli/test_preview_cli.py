"""``labelmap-convert preview`` and ``seg2itk --preview`` on the command line: outputs, report lines, and
one-line errors that leave no file behind."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from labelmap.errors import MissingDependencyError

from _cli import make_case, run_cli
from _segfiles import run_cli_error


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("preview"))


def text_chunks(path) -> dict:
    with Image.open(path) as im:
        im.load()
        return dict(im.text)


def test_preview_writes_a_png_and_says_so(case, tmp_path, capsys):
    out = tmp_path / "p.png"
    rc, stdout, stderr = run_cli(capsys, "preview", case["seg"], "-o", out)
    assert rc == 0, stderr
    assert stdout.startswith(f"wrote {out} (") and "4 slices" in stdout and "segments" in stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    legend = json.loads(text_chunks(out)["labelmap:legend"])
    assert [e["number"] for e in legend if e["drawn"]] == [1, 2, 4, 9]
    assert not [p.name for p in tmp_path.iterdir() if p.name != "p.png"]  # no temporary left


def test_preview_options(case, tmp_path, capsys):
    out = tmp_path / "p.png"
    args = ["preview", case["seg"], "-o", out, "-r", case["ct"], "--slices", "0,2-3", "--window", "-100,300", "-q"]
    rc, stdout, stderr = run_cli(capsys, *args)
    assert (rc, stdout, stderr) == (0, "", "")
    chunks = text_chunks(out)
    assert [t["slice"] for t in json.loads(chunks["labelmap:tiles"])["tiles"]] == [0, 2, 3]
    facts = json.loads(chunks["labelmap:seg"])
    assert facts["window"] == [-100.0, 300.0] and facts["window_from"] == "--window"
    rc, _, _ = run_cli(capsys, "preview", case["seg"], "-o", out, "--slices", "all", "-q")
    assert rc == 0
    assert len(json.loads(text_chunks(out)["labelmap:tiles"])["tiles"]) == int(case["labels"].any(axis=(1, 2)).sum())


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--slices", "abc"], "'abc' is not a slice index or range"),
        (["--slices", "5-2"], "runs backwards"),
        (["--slices", "0"], "draw at least one slice"),
        (["--slices", "1,40"], "slice 40 is outside"),
        (["--window", "40"], "two numbers"),
        (["--window", "40,0"], "positive"),
        (["--fractional", "blend"], "--fractional"),
    ],
)
def test_bad_options_are_one_line_errors(case, tmp_path, capsys, extra, fragment):
    line = run_cli_error(capsys, ["preview", case["seg"], "-o", tmp_path / "p.png", *extra], tmp_path)
    assert fragment in line


def test_not_a_seg(case, tmp_path, capsys):
    ct_file = sorted(case["ct"].iterdir())[0]
    line = run_cli_error(capsys, ["preview", ct_file, "-o", tmp_path / "p.png"], tmp_path)
    assert "not a Segmentation" in line and str(ct_file) in line
    line = run_cli_error(capsys, ["preview", case["lab"], "-o", tmp_path / "p.png"], tmp_path)
    assert str(case["lab"]) in line


def test_reference_of_another_series(case, tmp_path, capsys):
    from labelmap.demo.sample import write_ct_series

    other = tmp_path / "other"
    write_ct_series(other, case["geometry"], seed=7)  # same grid, another series
    line = run_cli_error(capsys, ["preview", case["seg"], "-o", tmp_path / "p.png", "-r", other], tmp_path)
    assert "was made from series" in line and "--reference" in line and line.startswith(f"error: {other}: ")


def test_reference_folder_with_several_series_takes_the_segs(case, tmp_path, capsys):
    import shutil

    from labelmap.demo.sample import write_ct_series

    both = tmp_path / "both"
    write_ct_series(both / "other", case["geometry"], seed=7)
    shutil.copytree(case["ct"], both / "ct")
    out = tmp_path / "p.png"
    rc, _, stderr = run_cli(capsys, "preview", case["seg"], "-o", out, "-r", both, "-q")
    assert rc == 0, stderr
    from labelmap.pipeline.convert import load_source

    uid = load_source(case["ct"]).series_instance_uid
    assert json.loads(text_chunks(out)["labelmap:seg"])["reference_series"] == uid


def test_seg2itk_preview_beside_the_outputs(case, tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, stdout, stderr = run_cli(capsys, "seg2itk", case["seg"], "-o", out_dir, "--preview")
    assert rc == 0, stderr
    assert (out_dir / "base.preview.png").is_file()  # base.seg.dcm -> base
    assert "base.preview.png" in stdout
    rc, _, stderr = run_cli(capsys, "seg2itk", case["seg"], "-o", out_dir, "--preview", "-p", "liver", "-q")
    assert rc == 0, stderr
    assert (out_dir / "liver.preview.png").is_file() and (out_dir / "liver-1.nrrd").is_file()
    with Image.open(out_dir / "liver.preview.png") as im:
        assert im.size[0] > 0 and np.asarray(im).ndim == 3


def test_missing_pillow_names_the_pip_line(case, tmp_path, monkeypatch, capsys):
    from labelmap.pipeline.preview_draw import require_pillow

    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'labelmap\[preview\]'"):
        require_pillow()
    line = run_cli_error(capsys, ["preview", case["seg"], "-o", tmp_path / "p.png"], tmp_path)
    assert "pip install pillow" in line


def test_seg2itk_preview_of_a_slide_seg(tmp_path, capsys):
    from _slide_segs import tiled_seg

    seg = tiled_seg(tmp_path / "tissue.dcm")
    rc, stdout, stderr = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "out", "--preview", "--tile-size", "9")
    assert rc == 1 and "--tile-size" in stderr  # a flag of preview, not of seg2itk
    rc, stdout, stderr = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "out", "--preview")
    assert rc == 0, stderr
    png = tmp_path / "out" / "tissue.preview.png"
    assert png.is_file() and "tissue.preview.png" in stdout
    assert json.loads(text_chunks(png)["labelmap:seg"])["slide"] is True
    line = run_cli_error(capsys, ["preview", seg, "-o", tmp_path / "p.png", "--tile-size", "9"], tmp_path / "none")
    assert "--tile-size 9" in line


def test_threads_do_not_change_the_picture(case, tmp_path, capsys):
    from _slide_segs import tiled_seg

    slide = tiled_seg(tmp_path / "slide.dcm")
    for seg in (case["seg"], slide):
        pictures = []
        for threads in ("0", "1", "3"):
            out = tmp_path / f"t{threads}.png"
            rc, _, stderr = run_cli(capsys, "preview", seg, "-o", out, "--threads", threads, "-q")
            assert rc == 0, stderr
            pictures.append(out.read_bytes())
        assert pictures[0] == pictures[1] == pictures[2]
