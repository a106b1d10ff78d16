"""A signal before the first job ran (while the manifest is read, the cluster starts, workers fork): the
batch still ends in order - exit 128 + signal, a report whose rows are all cancelled, no traceback, no
internal error, no process left behind."""

from __future__ import annotations

import csv
import signal

import pytest

pytest.importorskip("distributed")

from _batch import itk2seg_rows, make_collection, write_manifest
from _procs import Watched, python, wait_gone


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("early")
    return write_manifest(root / "m.csv", itk2seg_rows(make_collection(root, 2), root))


@pytest.mark.parametrize(("signum", "after"), [(signal.SIGTERM, 0.8), (signal.SIGINT, 0.8), (signal.SIGTERM, 1.6)])
def test_a_signal_while_the_batch_starts(manifest, tmp_path, signum, after):
    import time

    report = tmp_path / "r.csv"
    args = python("-m", "labelmap.cli", "batch", str(manifest), "--workers", "2", "--report", str(report))
    w = Watched(args, stdout=-1, stderr=-1, text=True, start_new_session=True)
    try:
        time.sleep(after)
        w.signal_group(signum)
        rc, _ = w.finish(30)
        out, err = w.proc.communicate()
    finally:
        w.stop()
    assert wait_gone(w.seen, timeout=5) == [], "processes left behind"
    assert "Traceback" not in err and "internal error" not in err, err
    if rc == 0 or (rc == -int(signum) and " 0 cancelled" in out):
        return  # the batch had finished both jobs (and said so) before the signal: nothing to check
    assert rc == 128 + int(signum), (rc, out, err)
    if report.exists():  # a signal during start-up, before the manifest was read, leaves none
        with open(report, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["id"] for r in rows] == ["case0", "case1"]
        assert {r["status"] for r in rows} <= {"ok", "cancelled"}
