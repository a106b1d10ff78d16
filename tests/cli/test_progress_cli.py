"""The progress bar of a conversion: drawn on a terminal (a real pseudo-terminal, COLUMNS=120) once the run
has lasted LABELMAP_PROGRESS_AFTER seconds, never when stderr is a pipe, never with --quiet."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _slides import write_wsi_pyramid

import labelmap
from labelmap.cli.output import PROGRESS_AFTER_ENV, Printer, _count_text, progress_after
from labelmap.demo.sample import sample_metadata

SIZE = (1001, 777)
BAR = "\u2501"  # rich's bar character
COUNT = re.compile(r"\d[\d,]*/[\d,]+ (frames|tiles|images)|\d+\.\d/\d+\.\d MB")
ROOT = str(Path(labelmap.__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress_cli")
    write_wsi_pyramid(root / "slide", sizes=(SIZE,), tile=(256, 256), photometric="MONOCHROME2")
    labels = np.zeros(SIZE, np.uint8)
    labels[100:700, 50:300] = 1
    labels[400:1001, 500:777] = 3
    np.save(root / "labels.npy", labels)
    (root / "m.json").write_text(json.dumps(sample_metadata([1, 3])))
    return root


def _env(after: str | None) -> dict[str, str]:
    env = dict(os.environ, COLUMNS="120", LINES="40", TERM="xterm-256color")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    env.pop(PROGRESS_AFTER_ENV, None)
    if after is not None:
        env[PROGRESS_AFTER_ENV] = after
    return env


def _on_terminal(args: list, after: str | None) -> tuple[int, str, str]:
    """Run ``labelmap-convert args`` with stderr on a pseudo-terminal: (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labelmap.cli", *map(str, args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=_env(after),
        )
    finally:
        os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has gone
                    break
                if not data:
                    break
                seen += data
            elif proc.poll() is not None:
                break
        out = proc.stdout.read() if proc.stdout else b""
        return proc.wait(timeout=60), out.decode(), seen.decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        os.close(master)


def _piped(args: list, after: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labelmap.cli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=_env(after),
        timeout=120,
    )


def _write(case: Path, out: Path, *extra: str) -> list:
    return ["itk2seg", case / "labels.npy", "--dicom", case / "slide", "-m", case / "m.json", "-o", out, *extra]


def test_a_terminal_shows_the_bar_with_counts(case, tmp_path):
    rc, out, term = _on_terminal(_write(case, tmp_path / "seg.dcm", "--type", "binary"), after="0")
    assert rc == 0, term
    assert out.startswith("wrote ") and "BINARY" in out
    assert BAR in term and "\x1b[" in term
    assert "making frames" in term or "writing the SEG" in term
    assert COUNT.search(term), term


def test_a_slide_read_on_a_terminal_counts_tiles(case, tmp_path):
    seg = tmp_path / "seg.dcm"
    assert _piped(_write(case, seg, "--type", "binary"), after=None).returncode == 0
    rc, out, term = _on_terminal(["seg2itk", seg, "-o", tmp_path / "out"], after="0")
    assert rc == 0, term
    assert BAR in term and re.search(r"\d[\d,]*/32 tiles", term), term


@pytest.mark.slow
def test_dcmqi_command_on_a_terminal(case, tmp_path):
    args = ["itkimage2segimage", "--inputImageList", case / "labels.npy", "--inputDICOMDirectory", case / "slide"]
    args += ["--inputMetadata", case / "m.json", "--outputDICOM", tmp_path / "seg.dcm"]
    rc, out, term = _on_terminal(args, after="0")
    assert rc == 0, term
    assert BAR in term and COUNT.search(term), term


def test_piped_stderr_gets_no_bar(case, tmp_path):
    done = _piped(_write(case, tmp_path / "seg.dcm", "--type", "binary"), after="0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("wrote ")
    assert done.stderr == b""  # no escape sequence, no bar, nothing at all
    assert b"\x1b" not in done.stdout and BAR.encode() not in done.stdout


def test_quiet_on_a_terminal_shows_nothing(case, tmp_path):
    rc, out, term = _on_terminal(_write(case, tmp_path / "seg.dcm", "--quiet"), after="0")
    assert rc == 0 and (tmp_path / "seg.dcm").exists()
    assert out == "" and term == ""


def test_a_run_shorter_than_the_delay_draws_nothing(case, tmp_path):
    rc, out, term = _on_terminal(_write(case, tmp_path / "seg.dcm"), after="60")
    assert rc == 0 and out.startswith("wrote ")
    assert term == ""


@pytest.mark.slow
def test_a_long_run_shows_the_bar_after_a_second(tmp_path):
    """The default delay on a write that takes seconds: a BINARY slide SEG of 10 segments on 6000 x 6000."""
    size = (6000, 6000)
    write_wsi_pyramid(tmp_path / "slide", sizes=(size,), tile=(256, 256), photometric="MONOCHROME2")
    labels = np.zeros(size, np.uint8)
    for v in range(1, 11):
        labels[v * 400 : v * 400 + 1500, v * 300 : v * 300 + 2000] = v
    np.save(tmp_path / "labels.npy", labels)
    (tmp_path / "m.json").write_text(json.dumps(sample_metadata(list(range(1, 11)))))
    args = _write(tmp_path, tmp_path / "seg.dcm", "--type", "binary", "--compression", "deflate")
    rc, out, term = _on_terminal(args, after=None)
    assert rc == 0, term
    seconds = float(re.search(r" in ([\d.]+) s$", out.strip()).group(1))
    if seconds < 1.5:
        pytest.skip(f"the write took {seconds} s here: too quick to need a bar")
    assert BAR in term and COUNT.search(term), (seconds, term)


# --------------------------------------------------------------------------- the Printer's side
def test_printer_progress_is_none_when_quiet_or_not_a_terminal():
    with Printer(quiet=True).progress("x", tty=True) as bar:
        assert bar is None
    with Printer().progress("x", tty=False) as bar:
        assert bar is None


def test_printer_progress_on_a_terminal_hears_steps(monkeypatch):
    monkeypatch.setenv(PROGRESS_AFTER_ENV, "60")  # the bar never starts: nothing is drawn
    with Printer().progress("writing", tty=True) as bar:
        assert bar is not None
        bar.step("making frames", 4, "frames")
        bar.advance(2, nbytes=100)
        bar.step("writing the SEG", 10, "bytes")
        bar.advance(10, nbytes=10)


def test_printer_progress_draws_the_current_step(monkeypatch):
    """In process, on a terminal stand-in: after the delay the bar shows the step reported before it
    started, then follows later steps; closing erases it (rich's transient display)."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv(PROGRESS_AFTER_ENV, "0")
    monkeypatch.setenv("TERM", "xterm-256color")  # rich redraws nothing on a dumb terminal
    monkeypatch.setenv("COLUMNS", "120")
    with Printer().progress("writing", tty=True) as bar:
        assert bar is not None
        bar.step("making frames", 40, "frames")
        bar.advance(10, nbytes=3 << 20)
        deadline = time.monotonic() + 10
        while "3.0 MB written" not in terminal.text and time.monotonic() < deadline:
            time.sleep(0.05)
        bar.step("writing the SEG", 8 << 20, "bytes")
        bar.advance(4 << 20, nbytes=4 << 20)
    assert "making frames" in terminal.text and "10/40 frames" in terminal.text and "3.0 MB written" in terminal.text
    assert BAR in terminal.text
    assert terminal.text.endswith("\x1b[2K")  # erased at the end


def test_progress_after(monkeypatch):
    for text, value in (("", 1.0), ("0", 0.0), ("2.5", 2.5), ("-1", 1.0), ("soon", 1.0)):
        monkeypatch.setenv(PROGRESS_AFTER_ENV, text)
        assert progress_after() == value
    monkeypatch.delenv(PROGRESS_AFTER_ENV)
    assert progress_after() == 1.0


def test_count_text():
    assert _count_text(1234, 5000, "frames") == "1,234/5,000 frames"
    assert _count_text(3, None, "images") == "3 images"
    assert _count_text(0, None, "frames") == ""
    assert _count_text(12 << 20, 45 << 20, "bytes") == "12.0/45.0 MB"


class _Terminal:
    """A stderr that says it is a terminal and keeps what is written to it."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no descriptor")

    encoding = "utf-8"


def test_batch_jobs_never_draw(case, tmp_path, monkeypatch):
    """A batch worker runs each row's command line with --quiet: even on a terminal, with no delay, no bar."""
    from labelmap.cli.batch.manifest import read_manifest
    from labelmap.cli.batch.runner import run_job

    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "labels,dicom,metadata,output,options\n"
        f"{case / 'labels.npy'},{case / 'slide'},{case / 'm.json'},{tmp_path / 'seg.dcm'},--type binary\n"
    )
    (job,) = read_manifest(manifest).jobs
    assert job.argv[-1] == "--quiet"
    terminal = _Terminal()
    monkeypatch.setenv(PROGRESS_AFTER_ENV, "0")
    monkeypatch.setattr(sys, "stderr", terminal)
    with Printer().progress("check", tty=None) as bar:  # this stderr does count as a terminal
        assert bar is not None
    terminal.text = ""
    result = run_job(job)
    assert result.status == "ok", result.error
    assert terminal.text == ""
