"""The command's own stdout / stderr cannot break it: closed descriptors (``>&-``, ``2>&-``), a reader that
goes away (``| head -1``), a full device (``> /dev/full``); and the top level turns every failure (memory,
recursion, the OS, a bug) into one ``error:`` line.  Run as real processes: fds are closed in the child."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from labelmap.cli import run_native

from _cli import listing, make_case, run_cli

BIN = Path(sys.executable).parent
LABELMAP_CONVERT = BIN / "labelmap-convert"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("streams"))


def _closing(*fds: int):
    def preexec():  # runs in the child before exec: the descriptors are really closed
        for fd in fds:
            os.close(fd)

    return preexec


def _run(args, *, close=(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=None):
    return subprocess.run(
        [str(LABELMAP_CONVERT), *map(str, args)],
        stdout=stdout,
        stderr=stderr,
        preexec_fn=_closing(*close),
        timeout=120,
        env=env,
    )


def _commands(case, out: Path) -> dict[str, list]:
    return {
        "itk2seg": ["itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", out / "x.dcm"],
        "seg2itk": ["seg2itk", case["seg"], "-o", out],
        "info": ["info", case["seg"]],
        "validate": ["validate", case["seg"]],
    }


@pytest.mark.parametrize("command", ["itk2seg", "seg2itk", "info", "validate"])
@pytest.mark.parametrize("closed", [(1,), (2,), (1, 2)], ids=["stdout", "stderr", "both"])
def test_closed_descriptors_do_not_fail_a_command(case, tmp_path, command, closed):
    args = _commands(case, tmp_path)[command]
    proc = _run(args, close=closed)
    assert proc.returncode == 0, proc.stderr
    for fd, data in ((1, proc.stdout), (2, proc.stderr)):
        if fd in closed:
            assert data is None or data == b""
    assert b"Traceback" not in (proc.stderr or b"") and b"Exception ignored" not in (proc.stderr or b"")
    if command == "itk2seg":
        from labelmap.validate import check_seg

        assert check_seg(tmp_path / "x.dcm").errors == []
        assert listing(tmp_path) == {"x.dcm"}
    if command == "seg2itk":
        assert listing(tmp_path) == {"1.nrrd", "meta.json"}


@pytest.mark.parametrize("closed", [(1,), (2,)], ids=["stdout", "stderr"])
def test_a_failing_command_with_closed_descriptors_exits_1_cleanly(case, tmp_path, closed):
    proc = _run(["info", tmp_path / "missing.dcm"], close=closed)
    assert proc.returncode == 1
    if closed == (1,):  # the error line still reaches stderr
        assert proc.stderr.decode().splitlines() == [f"error: {tmp_path / 'missing.dcm'}: file not found"]


def test_closed_stdout_never_lands_in_an_output_file(case, tmp_path):
    """With fd 1 closed the next file opened would get descriptor 1; it must not receive the report."""
    proc = _run(_commands(case, tmp_path)["seg2itk"], close=(1,))
    assert proc.returncode == 0
    assert b"wrote" not in (tmp_path / "1.nrrd").read_bytes() and b"wrote" not in (tmp_path / "meta.json").read_bytes()


@pytest.mark.parametrize("command", ["info", "validate", "itk2seg"])
def test_a_reader_that_goes_away_is_no_error(case, tmp_path, command):
    """``labelmap-convert info x.dcm | head -1``: the pipe closes after one line."""
    args = _commands(case, tmp_path)[command]
    proc = subprocess.Popen([str(LABELMAP_CONVERT), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader is gone: later writes get EPIPE
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert first
    assert err == b"", err  # no traceback, no "Exception ignored ... BrokenPipeError"


def test_a_long_report_into_a_closed_pipe(case, tmp_path):
    """Many lines (``validate --json`` of several files) into a pipe closed after the first byte."""
    args = [str(LABELMAP_CONVERT), "validate", "--json", *[str(case["seg"])] * 200]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and err == b"", err


def test_stdout_on_a_full_device(case, tmp_path):
    with open("/dev/full", "wb") as full:
        proc = _run(_commands(case, tmp_path)["itk2seg"], stdout=full)
    assert proc.returncode == 0 and proc.stderr == b""
    assert listing(tmp_path) == {"x.dcm"}


# --------------------------------------------------------------------------- the top level's one line
def test_memory_error_is_one_line(tmp_path):
    """A real MemoryError: the demo's largest sample does not fit under a 600 MiB address-space limit."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (600 << 20, 600 << 20))

    proc = subprocess.run(
        [str(LABELMAP_CONVERT), "demo", "--size", "512", "--slices", "512", "-o", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: out of memory during demo"), proc.stderr
    assert not [p for p in (tmp_path / "d").rglob("*") if p.name.startswith(".")]  # no temporary left
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "exc, words",
    [
        (MemoryError(), "out of memory during seg2itk of '.*base.seg.dcm'"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (OSError(5, "Input/output error", "x.nrrd"), "seg2itk of .*: 'x.nrrd': Input/output error"),
        (PermissionError(13, "Permission denied", "ro/x"), "'ro/x': Permission denied"),
        (ValueError("an unforeseen bug"), "internal error during seg2itk of .*ValueError: an unforeseen bug.*report"),
    ],
)
def test_unexpected_failures_are_one_line(case, tmp_path, capsys, monkeypatch, exc, words):
    import re

    from labelmap.pipeline import convert

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.delenv("LABELMAP_DEBUG", raising=False)
    monkeypatch.setattr(convert, "read_seg", fail)
    monkeypatch.setattr(run_native, "_lean_read", lambda *args: None)  # the full reader fails (not the lane)
    rc, out, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path)
    assert rc == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and re.search(words, err), err
    assert listing(tmp_path) == set()


def test_debug_shows_the_traceback_of_a_bug(case, tmp_path, monkeypatch):
    from labelmap.cli import main
    from labelmap.pipeline import convert

    def fail(*args, **kwargs):
        raise ValueError("an unforeseen bug")

    monkeypatch.setattr(convert, "read_seg", fail)
    monkeypatch.setattr(run_native, "_lean_read", lambda *args: None)  # the full reader fails (not the lane)
    monkeypatch.setenv("LABELMAP_DEBUG", "1")
    with pytest.raises(ValueError, match="unforeseen"):
        main(["seg2itk", str(case["seg"]), "-o", str(tmp_path)])


def test_interrupt_removes_every_temporary(case, tmp_path, capsys, monkeypatch):
    """Ctrl-C while seg2itk writes: one line, the folder as it was."""
    from labelmap.pipeline import convert

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    (tmp_path / "meta.json").write_text("old")
    monkeypatch.setattr(convert, "write_meta_json", interrupted, raising=False)
    import labelmap.formats.dcmqi_json as dcmqi_json

    monkeypatch.setattr(dcmqi_json, "write_meta_json", interrupted)
    rc, out, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path)
    assert rc == 1 and err.startswith("error: interrupted during seg2itk") and len(err.splitlines()) == 1
    assert listing(tmp_path) == {"meta.json"} and (tmp_path / "meta.json").read_text() == "old"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_ends_a_run_like_ctrl_c(case, tmp_path, capsys, monkeypatch, signame):
    """A real SIGTERM (or SIGHUP), delivered while seg2itk writes its files: one line, nothing left behind."""
    import signal
    import time

    signum = getattr(signal, signame)

    import labelmap.formats.dcmqi_json as dcmqi_json

    real = dcmqi_json.write_meta_json

    def terminated(*args, **kwargs):
        real(*args, **kwargs)  # the temporary is written ...
        os.kill(os.getpid(), signum)  # ... then the process is asked to stop
        time.sleep(5)

    monkeypatch.setattr(dcmqi_json, "write_meta_json", terminated)
    inherited = signal.getsignal(signum)
    if inherited == signal.SIG_IGN:  # the suite runs under nohup: a command keeps an ignored SIGHUP ignored
        signal.signal(signum, signal.SIG_DFL)
    try:
        before = signal.getsignal(signum)
        rc, out, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path)
        after = signal.getsignal(signum)
    finally:
        signal.signal(signum, inherited)
    assert rc == 1 and err.startswith("error: interrupted during seg2itk") and len(err.splitlines()) == 1
    assert listing(tmp_path) == set()
    assert after == before  # the handler is the caller's again
