"""``labelmap-convert info``: the summary it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from _cli import LABEL_VALUES, LABELMAP_SOP_CLASS, SHAPE, make_case, run_cli

DEFLATED = "1.2.840.10008.1.2.1.99"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A small CT series, a gapped label map (first/last slice empty), its dcmqi JSON and a SEG of them."""
    return make_case(tmp_path_factory.mktemp("cli"))


# --------------------------------------------------------------------------- 3. info
def test_info_summary(case, capsys):
    rc, stdout, err = run_cli(capsys, "info", case["seg"])
    assert rc == 0, err
    assert LABELMAP_SOP_CLASS in stdout
    assert "LABELMAP" in stdout
    assert re.search(rf"Frames\s+{SHAPE[0] - 2}\b", stdout)
    labels = case["labels"]
    for value in LABEL_VALUES:
        # a table row starts with the Segment Number and ends with the voxel count
        rows = [line for line in stdout.splitlines() if re.match(rf"^\W*{value}\W", line)]
        assert rows, f"no row for segment {value}:\n{stdout}"
        cells = [c.strip() for c in re.split(r"[│|]", rows[0]) if c.strip()]
        assert int(cells[-1].replace(",", "")) == int((labels == value).sum())
    assert "Liver" in stdout and "10200004" in stdout


def test_info_odd_names_are_printed_verbatim(case, tmp_path, capsys):
    """Rich markup in file names / segment labels is shown as text; header lines are not hard-wrapped."""
    meta = json.loads(case["meta"].read_text())
    meta["segmentAttributes"][0][0]["SegmentLabel"] = "Les [b]"
    md = _write(tmp_path / "odd.json", json.dumps(meta))
    seg = tmp_path / "seg[bold].dcm"
    rc, _, err = run_cli(capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", md, "-o", seg, "-q")
    assert rc == 0, err
    rc, stdout, err = run_cli(capsys, "info", seg)
    assert rc == 0, err
    assert "seg[bold].dcm" in stdout
    assert "Les [b]" in stdout
    sop = [line for line in stdout.splitlines() if "SOP Class" in line]
    assert len(sop) == 1 and sop[0].rstrip().endswith("(Label Map Segmentation Storage)")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path
