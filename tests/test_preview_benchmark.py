"""``benchmarks/preview.py`` runs end to end on a tiny case (its table has every row)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_preview_benchmark_smoke(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "preview.py"), "--size", "48", "--slices", "8", "--labels", "3"]
    cmd += ["--runs", "1", "--workdir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "command" not in line]
    assert len(rows) == 4 and all(line.count("|") == 6 for line in rows), done.stdout
