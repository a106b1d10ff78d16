"""``benchmarks/startup.py`` runs end to end on a tiny case: every part of every command gets a positive time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["--version", "--help", "itk2seg none", "itk2seg deflate", "seg2itk"]
PARTS = ["interpreter", "site", "labelmap modules", "other modules", "work (second call", "whole process"]


def test_startup_benchmark_smoke(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--size", "24", "--slices", "3", "--labels", "2"]
    cmd += ["--runs", "1", "--top", "3", "--workdir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| part |"))
    assert [c.strip() for c in header.strip("|").split("|")[1:]] == COMMANDS
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ") and "part" not in line}
    for part in PARTS:
        row = next(line for title, line in rows.items() if title.startswith(part))
        cells = [float(c) for c in row.strip("|").split("|")[1:]]
        # a second --version / --help call through the typer-free launcher takes well under 0.05 ms: shown as 0.0
        assert len(cells) == len(COMMANDS) and all(c > 0 or part.startswith("work") for c in cells), row
        assert all(c >= 0 for c in cells), row
    numpy = [float(c) for c in rows["numpy"].strip("|").split("|")[1:]]
    assert all(n > 0 for n in numpy[2:4]), rows["numpy"]  # the writes import numpy (seg2itk: the numpy-free lane)
    for command in COMMANDS:  # each command lists its slowest modules
        at = lines.index(f"{command}: slowest labelmap modules (own import, ms)")
        assert lines[at + 4].startswith("| labelmap"), lines[at : at + 6]
