"""The documents hold: every relative link in README.md and docs/*.md points at a file that exists,
every ``labelmap-convert <command>`` that docs/*.md names is a command of the CLI, and the helper
script docs/sup243_repro.py (the inputs of docs/sup243-findings.md) runs on a small demo case."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from labelmap.cli import main
from labelmap.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
REPRO = ROOT / "docs" / "sup243_repro.py"

#: ``[text](target)``; the target ends at the first space or closing parenthesis.
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
#: ``labelmap-convert`` followed by its first word (a command, or an option such as --help).
COMMAND = re.compile(r"labelmap-convert\s+([A-Za-z0-9_-]+)")


def _commands() -> set[str]:
    """Names of the commands registered with the typer app (those added after import too)."""
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    return names - {""}


def _relative_links(path: Path) -> list[str]:
    targets = LINK.findall(path.read_text(encoding="utf-8"))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_there_are_documents():
    assert DOCS, "docs/*.md is empty"
    assert any(p.name == "sup243-findings.md" for p in DOCS)


@pytest.mark.parametrize("path", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(path):
    missing = [t for t in _relative_links(path) if not (path.parent / t.split("#")[0]).exists()]
    assert missing == [], f"{path.name}: links to missing files: {missing}"


def test_readme_links_the_findings():
    assert "docs/sup243-findings.md" in _relative_links(ROOT / "README.md")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_named_commands_exist(path):
    named = {m for m in COMMAND.findall(path.read_text(encoding="utf-8")) if not m.startswith("-")}
    unknown = sorted(named - _commands())
    assert unknown == [], f"{path.name} names labelmap-convert commands that do not exist: {unknown}"


def test_the_command_pattern_sees_commands():
    """The check above is not vacuous: the findings name several commands, all of them real."""
    text = (ROOT / "docs" / "sup243-findings.md").read_text(encoding="utf-8")
    named = set(COMMAND.findall(text))
    assert {"demo", "validate", "itk2seg", "seg2itk"} <= named <= _commands()


# ----------------------------------------------------------------------------- docs/sup243_repro.py
def _repro(*args) -> str:
    done = subprocess.run(
        [sys.executable, str(REPRO), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "d"
    assert main(["demo", "--output-dir", str(out), "--size", "32", "--slices", "10", "--organs", "4", "-q"]) == 0
    return out


def test_repro_gap_and_at_z(demo, tmp_path):
    """``gap`` empties one slice; a LABELMAP of it omits that frame and our reader puts 0 there."""
    import nrrd

    assert nrrd.read(str(demo / "labels.nrrd"))[0][:, :, 5].any()  # the slice had labels
    assert "slice 5 of 10 emptied" in _repro("gap", demo, tmp_path / "gap.nrrd", "--slice", 5)
    seg = tmp_path / "gap.seg.dcm"
    assert main(["itk2seg", str(tmp_path / "gap.nrrd"), "-d", str(demo / "ct"), "-m", str(demo / "labels.json"),
                 "-o", str(seg), "-q"]) == 0  # fmt: skip
    assert main(["seg2itk", str(seg), "--reference", str(demo / "ct"), "-o", str(tmp_path / "back"), "-q"]) == 0
    z = -200.0 + 5 * 2.0  # the demo's origin and slice spacing (see its labels.nrrd header)
    out = _repro("at-z", tmp_path / "back" / "1.nrrd", z)
    assert out.strip().endswith("values [0]"), out
    assert pydicom.dcmread(seg, stop_before_pixels=True).NumberOfFrames < 8  # the demo SEG has 8 frames


def test_repro_gapped_palette_lut(demo, tmp_path):
    """``gapped`` renumbers labels 1-3 as 2, 999, 65535; ``lut`` reads the 65,536-entry palette back."""
    _repro("gapped", demo, tmp_path / "gapped")
    meta = json.loads((tmp_path / "gapped.json").read_text())
    present = [e["labelID"] for e in meta["segmentAttributes"][0]]
    assert set(present) <= {2, 999, 65535} and present
    seg = tmp_path / "p.seg.dcm"
    assert main(["itk2seg", str(tmp_path / "gapped.nrrd"), "-d", str(demo / "ct"), "-m", str(tmp_path / "gapped.json"),
                 "-o", str(seg), "--palette", "-q"]) == 0  # fmt: skip
    out = _repro("lut", seg, "--json", tmp_path / "gapped.json", "--values", 3)
    lines = out.splitlines()
    assert "descriptor [0, 0, 16] (entries 65536" in lines[0]
    colour = {e["labelID"]: e["recommendedDisplayRGBValue"] for e in meta["segmentAttributes"][0]}
    if 2 in colour:  # value 2's LUT entry is the JSON's colour
        assert f"LUT {colour[2]}" in lines[3], out


@pytest.mark.slow  # ~5 s: a child process importing highdicom
def test_repro_highdicom(demo, tmp_path):
    """``highdicom`` writes two LABELMAPs; the palette one lacks the ICC Profile (finding B4)."""
    pytest.importorskip("highdicom")
    from labelmap.validate import validate_seg

    _repro("highdicom", demo, tmp_path)
    grey = validate_seg(tmp_path / "hd-labelmap.dcm")
    palette = validate_seg(tmp_path / "hd-palette-noicc.dcm")
    assert [v.severity for v in grey] == ["warning"]  # Patient Orientation (finding B6)
    assert ("ICCProfile", "error") in [(v.keyword, v.severity) for v in palette]
    pixels = np.asarray(pydicom.dcmread(tmp_path / "hd-labelmap.dcm").pixel_array)
    assert pixels.max() > 0
