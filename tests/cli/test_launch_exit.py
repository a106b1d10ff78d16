"""The launched conversions pause the garbage collector and, as the program itself, end without the
interpreter's teardown: the same files, output and exit codes; a caller's collector state is kept."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _cli import make_case, run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict:
    return make_case(tmp_path_factory.mktemp("exit"))


def _program(*args, script: bool = False) -> subprocess.CompletedProcess:
    """``python -m labelmap.cli args`` (or the console script's code in a file named labelmap-convert)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if script:
        return subprocess.run([sys.executable, str(script), *map(str, args)], env=env, capture_output=True, text=True)
    return subprocess.run(
        [sys.executable, "-m", "labelmap.cli", *map(str, args)], env=env, capture_output=True, text=True
    )


def test_in_process_calls_keep_the_collector_state(case, tmp_path, capsys):
    write = ["itk2seg", case["lab"], "--dicom", case["ct"], "-m", case["meta"], "-q"]
    assert gc.isenabled()
    rc, _, _ = run_cli(capsys, *write, "-o", tmp_path / "a.dcm")
    assert rc == 0 and gc.isenabled() and (tmp_path / "a.dcm").is_file()
    gc.disable()
    try:
        rc, _, err = run_cli(capsys, *write, "--dicom", tmp_path / "missing", "-o", tmp_path / "b.dcm")
        assert rc == 1 and "error:" in err and not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("as_script", [False, True])
def test_the_program_ends_with_its_output_flushed(case, tmp_path, as_script):
    script = None
    if as_script:  # what pip writes for the console entry point
        script = tmp_path / "labelmap-convert"
        script.write_text(
            "import sys\nfrom labelmap.cli import main\nif __name__ == '__main__':\n    sys.exit(main())\n"
        )
    out = tmp_path / "seg.dcm"
    done = _program("itk2seg", case["lab"], "--dicom", case["ct"], "-m", case["meta"], "-o", out, script=script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (LABELMAP") and done.stdout.endswith("\n")
    read = _program("seg2itk", out, "-o", tmp_path / "read", script=script)
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith("wrote ") and sorted(os.listdir(tmp_path / "read")) == ["1.nrrd", "meta.json"]
    failed = _program("seg2itk", tmp_path / "none.dcm", "-o", tmp_path / "r2", script=script)
    assert failed.returncode == 1 and failed.stderr.startswith("error:") and failed.stdout == ""


def test_the_teardown_is_skipped_after_a_conversion_only(case, tmp_path):
    """An exit handler of the process does not run after a launched conversion (the interpreter's teardown is
    skipped), and does after anything else (here --version, which ends as ever)."""
    code = (
        "import atexit, runpy, sys; atexit.register(lambda: print('teardown', file=sys.stderr)); "
        "sys.argv = ['labelmap-convert', *sys.argv[1:]]; runpy.run_module('labelmap.cli', run_name='__main__', "
        "alter_sys=True)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["seg2itk", str(case["seg"]), "-o", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("wrote ") and "teardown" not in done.stderr, done
    version = subprocess.run([sys.executable, "-c", code, "--version"], env=env, capture_output=True, text=True)
    assert version.returncode == 0 and "teardown" in version.stderr
