"""The batch report: one row per manifest row, in manifest order, as CSV or JSON (by the extension).

Written atomically at the end and on Ctrl-C / SIGTERM (rows that did not run are ``cancelled``).
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Sequence

from labelmap.cli.batch.jobs import REPORT_COLUMNS, STATUSES, Job, JobResult
from labelmap.errors import ManifestError

__all__ = ["default_report_path", "check_report_path", "write_report", "summary", "complete"]


def default_report_path(source: str, shard: tuple[int, int] | None) -> str:
    """``<manifest without .csv>.report.csv`` beside the manifest (``batch.report.csv`` in the current folder
    for templates); a shard gets its own (``...report.2-of-8.csv``) so array tasks do not overwrite each other."""
    stem = os.path.splitext(source)[0] if source != "templates" else os.path.join(os.getcwd(), "batch")
    part = f".{shard[0]}-of-{shard[1]}" if shard else ""
    return f"{stem}.report{part}.csv"


def check_report_path(path: str, inputs: Sequence[str] = ()) -> str:
    """``path`` made absolute after checking its folder exists and is writable and that it is not an input
    (before anything runs: a batch that cannot write its report is not started)."""
    path = os.path.abspath(path)
    if os.path.splitext(path)[1].lower() not in (".csv", ".json"):
        raise ManifestError(f"report {path!r}: name it .csv or .json (the extension chooses the format)")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise ManifestError(f"report {path!r}: its folder does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise ManifestError(f"report {path!r}: its folder is not writable; choose another --report")
    if os.path.isdir(path):
        raise ManifestError(f"report {path!r} is a folder; give a file name")
    if any(os.path.normcase(path) == os.path.normcase(p) for p in inputs):
        raise ManifestError(f"report {path!r} is the manifest itself; choose another --report")
    return path


def complete(jobs: Sequence[Job], results: dict[int, JobResult]) -> list[JobResult]:
    """Every job's result in manifest order; a job without one is ``cancelled``."""
    return [results.get(j.index) or JobResult(j.index, j.id, "cancelled", output=j.output) for j in jobs]


def write_report(path: str, rows: Sequence[JobResult]) -> None:
    """Write the report atomically: CSV (header = :data:`REPORT_COLUMNS`) or JSON (a list of objects)."""
    from labelmap._util.atomic import atomic_path

    with atomic_path(path) as tmp:
        if path.lower().endswith(".json"):
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump([r.to_row() for r in rows], fh, indent=1)
                fh.write("\n")
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS)
                writer.writeheader()
                for r in rows:
                    writer.writerow({k: "" if v is None else v for k, v in r.to_row().items()})


def summary(rows: Sequence[JobResult], seconds: float, report: str) -> str:
    """``batch: 3 ok, 1 failed, 0 skipped, 0 cancelled in 4.2 s; report PATH``."""
    counts = Counter(r.status for r in rows)
    parts = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
    return f"batch: {parts} in {seconds:.1f} s; report {report}"
