"""Helpers for tests that drive the command line in-process."""

from __future__ import annotations

import os
from pathlib import Path

from labelmap.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``labelmap-convert args...`` in this process: (exit code, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def listing(directory: Path) -> set[str]:
    """Every entry (hidden ones included) below ``directory``; empty when it does not exist."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), directory))
    return found
