"""Batch progress: a rich bar on a terminal (under a pseudo-terminal), plain lines when piped, none with --quiet."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest
from _batch import itk2seg_rows, make_collection, write_manifest

from labelmap.cli.batch.jobs import JobResult
from labelmap.cli.batch.progress import Progress

pytest.importorskip("distributed")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "labelmap.cli", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LABELMAP_DEBUG", None)
    env.update(COLUMNS="120", TERM="xterm-256color")
    return env


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("prog")
    cases = make_collection(root, 4)
    rows = itk2seg_rows(cases, root)
    rows.append(
        {"id": "broken", "labels": "nope.nrrd", "dicom": "case0/ct", "metadata": "meta.json", "output": "o.dcm"}
    )
    return write_manifest(root / "m.csv", rows)


def _run_on_pty(args: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal; (exit status, everything it printed)."""
    main, child = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=_env(), close_fds=True)
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the batch for too long")
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_bar_and_the_failure_line(manifest):
    rc, text = _run_on_pty(_cli("batch", str(manifest), "--workers", "1", "--report", str(manifest.parent / "t.csv")))
    assert rc == 2
    assert "\x1b[" in text and "━" in text  # rich drew its bar
    assert "failed broken: " in text and "nope.nrrd" in text
    assert "batch: 4 ok, 1 failed, 0 skipped, 0 cancelled in" in text and "Traceback" not in text


def test_piped_output_gets_plain_lines_and_quiet_none(manifest):
    args = _cli("batch", str(manifest), "--workers", "1", "--report", str(manifest.parent / "p.csv"))
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 2 and "\x1b[" not in proc.stderr + proc.stdout
    assert "batch: 1/5 done" in proc.stderr and "failed broken: " in proc.stderr
    assert proc.stdout.startswith("batch: 4 ok, 1 failed") and "Traceback" not in proc.stderr
    quiet = subprocess.run([*args, "--quiet"], capture_output=True, text=True, env=_env(), timeout=300)
    assert quiet.returncode == 2 and quiet.stderr == ""
    assert quiet.stdout.startswith("batch: 4 ok, 1 failed")  # a failed batch still says so


def test_plain_lines_every_tenth_and_after_a_quiet_spell(capsys, monkeypatch):
    progress = Progress(20, tty=False, every_s=30.0)
    for i in range(20):
        progress.update(JobResult(i, f"j{i}", "ok"))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[1] for line in lines] == [f"{n}/20" for n in range(2, 20, 2)]
    clock = [1000.0]
    monkeypatch.setattr("labelmap.cli.batch.progress.time.monotonic", lambda: clock[0])
    slow = Progress(100, tty=False, every_s=30.0)
    slow.update(JobResult(0, "a", "skipped"))
    slow.tick()
    assert capsys.readouterr().err == ""
    clock[0] += 31
    slow.tick()
    assert "batch: 1/100 done (0 ok, 0 failed, 1 skipped)" in capsys.readouterr().err
