"""run_job: one job in this process; ok with the report's facts, or failed with the CLI's own error line."""

from __future__ import annotations

import errno
import os

import pytest
from _batch import itk2seg_rows, make_collection, write_manifest

from labelmap._util.atomic import target_tag
from labelmap.cli.batch.manifest import read_manifest
from labelmap.cli.batch.runner import _transient, remove_stale, run_job

from _cli import run_cli


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    cases = make_collection(root, 2)
    rows = itk2seg_rows(cases, root, out="deep/er/out")  # folders that do not exist yet
    rows.append(
        {"id": "bad", "labels": "missing.nrrd", "dicom": "case0/ct", "metadata": "meta.json", "output": "x.dcm"}
    )
    return root, cases, read_manifest(write_manifest(root / "m.csv", rows))


def test_an_ok_job_reports_what_it_wrote(plan):
    from labelmap.validate import check_seg

    root, cases, p = plan
    result = run_job(p.jobs[0])
    assert result.status == "ok" and result.error == "" and result.attempts == 1
    out = root / "deep" / "er" / "out" / "case0.seg.dcm"
    assert result.output == str(out) and result.output_bytes == out.stat().st_size
    assert result.segmentation_type == "LABELMAP" and result.frames and result.segments == 3
    assert result.worker.endswith(f":{os.getpid()}") and result.seconds > 0
    assert not check_seg(out).errors


def test_a_failed_job_carries_the_line_the_command_prints(plan, capsys):
    root, _, p = plan
    job = p.jobs[2]
    result = run_job(job)
    rc, _, err = run_cli(capsys, *job.argv[:-1])  # the same command line, printed by the CLI
    assert result.status == "failed" and rc == 1
    assert err == f"error: {result.error}\n" and "missing.nrrd" in result.error
    assert not (root / "x.dcm").exists()


def test_stale_temporaries_of_its_own_target_go_others_stay(plan):
    root, _, p = plan
    job = p.jobs[1]
    folder = os.path.dirname(job.output)
    os.makedirs(folder, exist_ok=True)
    own = os.path.join(folder, f".lm-0123abcd-{target_tag(os.path.basename(job.output))}.tmp.dcm")
    other = os.path.join(folder, f".lm-0123abcd-{target_tag('someone-else.dcm')}.tmp.dcm")
    for path in (own, other):
        open(path, "wb").close()
    assert remove_stale(job) == 1
    assert not os.path.exists(own) and os.path.exists(other)
    os.unlink(other)


def test_seg2itk_jobs_read_back(plan, tmp_path):
    root, cases, p = plan
    seg = p.jobs[0].output
    if not os.path.exists(seg):
        run_job(p.jobs[0])
    manifest = tmp_path / "s.csv"
    manifest.write_text(f"seg,output,reference\n{seg},back,{cases[0]['ct']}\n")
    job = read_manifest(manifest).jobs[0]
    os.makedirs(tmp_path / "back")
    open(tmp_path / "back" / ".lm-00000000-00000000.tmp.nrrd", "wb").close()  # a folder's leftovers all go
    result = run_job(job)
    assert result.status == "ok" and result.segments == 3
    names = sorted(os.listdir(tmp_path / "back"))
    assert "meta.json" in names and not any(n.startswith(".lm-") for n in names)
    assert result.output_bytes == sum(os.path.getsize(tmp_path / "back" / n) for n in names)


def test_only_transient_os_errors_are_retried():
    assert _transient(OSError(errno.ESTALE, "Stale file handle"))
    wrapped = RuntimeError("x")
    wrapped.__cause__ = OSError(errno.EIO, "I/O error")
    assert _transient(wrapped)
    assert not _transient(OSError(errno.ENOENT, "No such file"))
    assert not _transient(ValueError("bad"))
