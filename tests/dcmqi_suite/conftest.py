"""dcmqi's own segmentation test suite, run through labelmap's dcmqi-compatible commands.

The input data and baselines are dcmqi's (``data/segmentations``, ``doc/examples``), so they are
found through ``LABELMAP_DCMQI_SOURCE``: a dcmqi checkout, or a bare clone / mirror (the files are
then taken from its ``HEAD`` with ``git archive``).  Without it every test here is skipped.

Like CTest, a test that reads another test's output runs that test first (once per session, see
:class:`Suite`), so any single test can be run alone.  ``LABELMAP_DCMQI_SUITE_BACKEND=dcmqi`` runs
dcmqi's own executables (from this Python's bin folder) instead: a check of the ported comparisons.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ENV = "LABELMAP_DCMQI_SOURCE"
BACKEND_ENV = "LABELMAP_DCMQI_SUITE_BACKEND"
_WANTED = ("data/segmentations", "doc/examples")


def _extract(git_dir: Path, dest: Path) -> Path | None:
    """``data/segmentations`` and ``doc/examples`` of ``git_dir``'s HEAD, unpacked under ``dest``."""
    git = shutil.which("git")
    if git is None:
        return None
    proc = subprocess.run(
        [git, f"--git-dir={git_dir}", "archive", "--format=tar", "HEAD", *_WANTED], capture_output=True, timeout=300
    )
    if proc.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def dcmqi_source(tmp_root: Path) -> Path | None:
    """The folder holding dcmqi's ``data/segmentations`` and ``doc/examples``, or None when not configured."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    root = Path(value)
    if all((root / part).is_dir() for part in _WANTED):
        return root
    for git_dir in (root, root / ".git", root / "repo"):
        if (git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir():
            return _extract(git_dir, tmp_root)
    return None


@dataclass
class Run:
    """One command's exit status and output."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"labelmap-convert {' '.join(self.argv)}\nexit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )


@dataclass
class Suite:
    """dcmqi's folders as CMake names them, and the runs done so far (CTest's TEST_DEPENDS)."""

    source: Path
    temp: Path  # MODULE_TEMP_DIR
    runs: dict[str, Run] = field(default_factory=dict)
    backend: str = "labelmap"  # or "dcmqi": its executables, to check the comparisons themselves

    @property
    def baseline(self) -> Path:  # BASELINE
        return self.source / "data" / "segmentations"

    @property
    def examples(self) -> Path:  # ${CMAKE_SOURCE_DIR}/doc/examples
        return self.source / "doc" / "examples"

    @property
    def dicom_dir(self) -> Path:  # DICOM_DIR
        return self.baseline / "ct-3slice"

    def dicom_list(self) -> str:
        return ",".join(str(self.dicom_dir / f"0{i}.dcm") for i in (1, 2, 3))

    def run(self, *argv: object) -> Run:
        """``labelmap-convert argv...`` in this process (with the dcmqi backend: dcmqi's executable)."""
        from labelmap.cli import main

        args = [str(a) for a in argv]
        if self.backend == "dcmqi":
            exe = Path(sys.executable).parent / args[0]
            proc = subprocess.run([str(exe), *args[1:]], capture_output=True, text=True, timeout=300)
            return Run(args, proc.returncode, proc.stdout, proc.stderr)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        return Run(args, code, out.getvalue(), err.getvalue())

    def once(self, name: str, *argv: object) -> Run:
        """Run test ``name``'s command the first time it is asked for; later calls return that run."""
        if name not in self.runs:
            self.runs[name] = self.run(*argv)
        return self.runs[name]


@pytest.fixture(scope="session")
def suite(tmp_path_factory) -> Suite:
    source = dcmqi_source(tmp_path_factory.mktemp("dcmqi-source"))
    if source is None:
        pytest.skip(f"dcmqi's test data not found: set {ENV} to a dcmqi checkout or git mirror")
    temp = tmp_path_factory.mktemp("seg")
    return Suite(source=source, temp=temp, backend=os.environ.get(BACKEND_ENV, "labelmap"))
