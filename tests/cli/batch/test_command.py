"""The batch command without running jobs: planning, --dry-run, --write-manifest, --shard, --resume, bad calls."""

from __future__ import annotations

import os
import time

import pytest
from _batch import itk2seg_rows, make_collection, write_manifest

from labelmap.cli.batch.command import _split_positional
from labelmap.cli.batch.jobs import Job, JobResult
from labelmap.cli.batch.report import check_report_path, complete, default_report_path, summary, write_report
from labelmap.cli.batch.resume import up_to_date
from labelmap.errors import ManifestError

from _cli import run_cli


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmd")
    cases = make_collection(root, 5)
    manifest = write_manifest(root / "m.csv", itk2seg_rows(cases, root))
    return root, cases, manifest


def test_dry_run_plans_without_converting(collection, capsys):
    root, _, manifest = collection
    rc, out, err = run_cli(capsys, "batch", manifest, "--dry-run", "--compression", "rle")
    assert rc == 0 and err == ""
    assert "5 itk2seg jobs" in out and "5 to run" in out and str(root / "m.report.csv") in out
    assert "--compression rle --quiet" in out
    assert not (root / "out").exists() and not (root / "m.report.csv").exists()


def test_flags_before_the_manifest_are_still_job_flags(collection, capsys):
    _, _, manifest = collection
    rc, out, _ = run_cli(capsys, "batch", "--type", "binary", manifest, "--dry-run", "--shard", "2/2")
    assert rc == 0 and "2 itk2seg jobs" in out and "(shard 2/2)" in out and "--type binary" in out
    assert "case1:" in out and "case3:" in out and "case0:" not in out
    assert _split_positional(["--type", "binary", "m.csv", "--palette"]) == (
        ["m.csv"],
        ["--type", "binary", "--palette"],
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dry-run"], "give a MANIFEST.csv, or templates"),
        (["{m}", "{m}", "--dry-run"], "one manifest per batch"),
        (["{m}", "--labels", "x{id}", "--dry-run"], "not both"),
        (["{m}", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "exclude each other"),
        (["{m}", "--shard", "3/2"], "K must be between 1 and N"),
        (["{m}", "--shard", "x"], "give K/N"),
        (["{m}", "--write-manifest", "w.csv"], "--write-manifest writes the jobs that templates"),
        (["{m}", "--report", "r.txt"], "name it .csv or .json"),
        (["{m}", "--report", "/nonexistent/r.csv"], "its folder does not exist"),
        (["{m}", "--report", "{m}"], "is the manifest itself"),
        (["{m}", "--type", "nope"], "batch-wide itk2seg flags '--type nope'"),
        (["{m}", "--output", "x.dcm"], "not both: --output is a template"),
        (["{m}", "--dicom", "/x"], "not both: --dicom is a template"),
    ],
)
def test_a_batch_that_cannot_run_exits_1_with_one_line(collection, capsys, args, expected):
    _, _, manifest = collection
    rc, out, err = run_cli(capsys, "batch", *(a.replace("{m}", str(manifest)) for a in args))
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err


def test_write_manifest_from_templates(collection, capsys, monkeypatch):
    root, _, _ = collection
    monkeypatch.chdir(root)
    args = [
        "--labels",
        "case{id}/lab.nrrd",
        "--dicom",
        "case{id}/ct",
        "--metadata",
        "meta.json",
        "--output",
        "o/{id}.dcm",
    ]
    rc, out, _ = run_cli(capsys, "batch", *args, "--write-manifest", "found.csv")
    assert rc == 0 and "wrote found.csv (5 itk2seg rows)" in out
    rc, out, _ = run_cli(capsys, "batch", "found.csv", "--dry-run")
    assert rc == 0 and "5 itk2seg jobs" in out and str(root / "o" / "2.dcm") in out


def _job(root, name, inputs):
    return Job(0, name, "itk2seg", ("itk2seg",), str(root / f"{name}.dcm"), tuple(str(p) for p in inputs))


def test_resume_compares_the_output_with_every_input(tmp_path):
    a, b = tmp_path / "a.nrrd", tmp_path / "ct"
    a.write_bytes(b"x")
    b.mkdir()
    job = _job(tmp_path, "o", [a, b])
    assert up_to_date(job) is None  # no output yet
    out = tmp_path / "o.dcm"
    out.write_bytes(b"seg!")
    old = time.time() - 100
    os.utime(a, (old, old))
    os.utime(b, (old, old))
    assert up_to_date(job) == 4
    (b / "new.dcm").write_bytes(b"")  # a file added to the series folder changes the folder's time
    assert up_to_date(job) is None
    os.utime(b, (old, old))
    assert up_to_date(job) == 4
    a.unlink()  # a missing input: run it (and let the job say what is missing)
    assert up_to_date(job) is None
    out.write_bytes(b"")
    assert up_to_date(_job(tmp_path, "o", [])) is None  # an empty output is no output


def test_seg2itk_resume_needs_the_folder_and_its_meta_json(tmp_path):
    seg = tmp_path / "s.dcm"
    seg.write_bytes(b"x")
    old = time.time() - 100
    os.utime(seg, (old, old))
    job = Job(0, "s", "seg2itk", ("seg2itk",), str(tmp_path / "out"), (str(seg),))
    assert up_to_date(job) is None
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "1.nrrd").write_bytes(b"abc")
    assert up_to_date(job) is None
    (tmp_path / "out" / "meta.json").write_bytes(b"{}")
    assert up_to_date(job) == 5


def test_report_rows_in_manifest_order_csv_and_json(tmp_path):
    import csv
    import json

    jobs = [Job(i, f"j{i}", "itk2seg", ("itk2seg",), f"/o/{i}.dcm", ()) for i in range(3)]
    done = {
        2: JobResult(2, "j2", "ok", seconds=1.23456, output_bytes=10, warnings=["a", "b"], frames=3),
        0: JobResult(0, "j0", "failed", error="bad input"),
    }
    rows = complete(jobs, done)
    assert [(r.id, r.status) for r in rows] == [("j0", "failed"), ("j1", "cancelled"), ("j2", "ok")]
    write_report(str(tmp_path / "r.csv"), rows)
    with open(tmp_path / "r.csv", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert [g["status"] for g in got] == ["failed", "cancelled", "ok"]
    assert got[2]["warnings"] == "a | b" and got[2]["seconds"] == "1.235" and got[0]["error"] == "bad input"
    write_report(str(tmp_path / "r.json"), rows)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data[2]["frames"] == 3 and data[1]["status"] == "cancelled" and data[1]["frames"] is None
    assert summary(rows, 2.0, "R") == "batch: 1 ok, 1 failed, 0 skipped, 1 cancelled in 2.0 s; report R"


def test_report_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_report_path("/x/m.csv", None) == "/x/m.report.csv"
    assert default_report_path("/x/m.csv", (2, 8)) == "/x/m.report.2-of-8.csv"
    assert default_report_path("templates", None) == str(tmp_path / "batch.report.csv")
    assert check_report_path("r.json") == str(tmp_path / "r.json")
    with pytest.raises(ManifestError, match="is a folder"):
        (tmp_path / "d.csv").mkdir()
        check_report_path("d.csv")


def test_an_output_that_appeared_while_stopping_is_ok_not_cancelled(tmp_path):
    from labelmap.cli.batch.command import _finished_while_stopping

    jobs = [Job(i, f"j{i}", "itk2seg", ("itk2seg",), str(tmp_path / f"{i}.dcm"), ()) for i in range(3)]
    (tmp_path / "0.dcm").write_bytes(b"old")
    old = time.time() - 100
    os.utime(tmp_path / "0.dcm", (old, old))  # from an earlier run: not this batch's work
    since = time.time() - 1
    (tmp_path / "1.dcm").write_bytes(b"whole")
    rows = complete(jobs, {})
    _finished_while_stopping(rows, jobs, since=since)
    assert [(r.status, r.output_bytes) for r in rows] == [("cancelled", None), ("ok", 5), ("cancelled", None)]
    assert "finished while the batch was stopping" in rows[1].warnings[0]
