"""``labelmap-convert batch`` end to end in a process of its own: Ctrl-C (SIGINT to the process group, as a
terminal sends it) and SIGTERM mid-batch, and a worker killed mid-batch.  Checked: the exit status, the
report (every row, cancelled ones included), every output a valid SEG of its own series, no temporaries,
no process left behind, no traceback or log line on stderr."""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import pydicom
from _procs import Watched, python, wait_gone

from _cli import LABELMAP_SOP_CLASS, make_case


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Two small cases (each its own CT series) to alternate between manifest rows."""
    root = tmp_path_factory.mktemp("cases")
    found = []
    for name in ("a", "b"):
        (root / name).mkdir()
        case = make_case(root / name)
        ct = next(p for p in sorted(case["ct"].iterdir()) if p.is_file())
        case["series_uid"] = pydicom.dcmread(ct, stop_before_pixels=True).SeriesInstanceUID
        found.append(case)
    return found


def _manifest(folder: Path, cases: list[dict], n: int) -> Path:
    """A manifest of ``n`` rows alternating between the cases, outputs in ``folder/out``."""
    path = folder / "jobs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "labels", "dicom", "metadata", "output"])
        for i in range(n):
            c = cases[i % 2]
            w.writerow([f"r{i}", c["lab"], c["ct"], c["meta"], f"out/r{i}.seg.dcm"])
    return path


def _start(manifest: Path, *flags: str) -> Watched:
    args = python("-m", "labelmap.cli", "batch", str(manifest), *flags)
    return Watched(args, stdout=-1, stderr=-1, text=True, start_new_session=True)


def _wait_for_outputs(w: Watched, out: Path, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("r*.seg.dcm"))) < count:
        assert w.proc.poll() is None, f"the batch ended early: {w.proc.communicate()}"
        assert time.monotonic() < deadline, "no outputs in time"
        time.sleep(0.02)


def _ended(w: Watched, timeout: float = 30.0) -> tuple[int | None, str, str, float]:
    rc, waited = w.finish(timeout)
    out, err = w.proc.communicate() if rc is not None else ("", "")
    w.stop()
    return rc, out, err, waited


def _report(manifest: Path) -> list[dict[str, str]]:
    with open(manifest.with_name("jobs.report.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _check_outputs(rows: list[dict[str, str]], cases: list[dict], folder: Path) -> None:
    """Every ok row's output is a LABELMAP SEG of its own case's series; no other row has an output;
    no temporaries anywhere."""
    for i, row in enumerate(rows):
        assert row["id"] == f"r{i}"  # manifest order
        out = Path(row["output"])
        if row["status"] == "ok":
            ds = pydicom.dcmread(out)
            assert ds.SOPClassUID == LABELMAP_SOP_CLASS
            assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == cases[i % 2]["series_uid"]
            if row["frames"]:
                assert int(row["frames"]) == int(ds.NumberOfFrames)
            else:  # its worker was signalled too (SIGTERM to the group) before the result came back
                assert "finished while the batch was stopping" in row["warnings"]
        else:
            assert not out.exists(), row
    assert not [p for p in folder.rglob("*") if p.name.startswith(".lm-") or p.name.endswith(".part")]


def _clean_stderr(err: str) -> None:
    assert "Traceback" not in err and "distributed." not in err and "Exception" not in err, err


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)]
)
def test_a_signal_to_the_process_group_mid_batch(tmp_path, cases, signum, status):
    manifest = _manifest(tmp_path, cases, 300)
    w = _start(manifest, "--workers", "2")
    try:
        _wait_for_outputs(w, tmp_path / "out", 4)
        w.signal_group(signum)
        rc, out, err, waited = _ended(w)
    finally:
        w.stop()
    assert rc == status, (rc, out, err)
    assert waited < 10
    _clean_stderr(err)
    assert wait_gone(w.seen, timeout=5) == [], "processes left behind"
    rows = _report(manifest)
    assert len(rows) == 300
    statuses = [r["status"] for r in rows]
    assert statuses.count("ok") >= 4 and statuses.count("cancelled") >= 1
    assert set(statuses) <= {"ok", "cancelled"}
    _check_outputs(rows, cases, tmp_path)


@pytest.mark.slow
def test_sigterm_to_the_batch_process_alone(tmp_path, cases):
    """What Kubernetes sends: SIGTERM to the main process only (its workers do not see it)."""
    manifest = _manifest(tmp_path, cases, 300)
    w = _start(manifest, "--workers", "2")
    try:
        _wait_for_outputs(w, tmp_path / "out", 4)
        w.proc.send_signal(signal.SIGTERM)
        rc, out, err, waited = _ended(w)
    finally:
        w.stop()
    assert rc == 143 and waited < 10, (rc, out, err)
    _clean_stderr(err)
    assert wait_gone(w.seen, timeout=5) == []
    rows = _report(manifest)
    assert len(rows) == 300 and {r["status"] for r in rows} == {"ok", "cancelled"}
    _check_outputs(rows, cases, tmp_path)


@pytest.mark.slow  # fast: test_engine's and test_cluster's killed workers
def test_a_killed_worker_mid_batch_loses_no_job(tmp_path, cases):
    manifest = _manifest(tmp_path, cases, 40)
    w = _start(manifest, "--workers", "2")
    try:
        _wait_for_outputs(w, tmp_path / "out", 2)
        workers = [p for p in w.seen if p != w.proc.pid]
        assert workers
        import os

        os.kill(workers[0], signal.SIGKILL)
        rc, out, err, waited = _ended(w, timeout=60)
    finally:
        w.stop()
    assert rc == 0, (rc, out, err)
    _clean_stderr(err)
    assert wait_gone(w.seen, timeout=5) == []
    rows = _report(manifest)
    assert [r["status"] for r in rows] == ["ok"] * 40
    _check_outputs(rows, cases, tmp_path)
