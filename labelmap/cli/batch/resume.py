"""``--resume``: a job whose output is at least as new as every input is not run again.

Outputs are written atomically, so an output that exists is a whole one; a failed job has none and
runs again.  A ``dicom`` folder counts by its own modification time, which changes when files are
added, removed or renamed in it, not when a file inside is rewritten in place (documented).
"""

from __future__ import annotations

import os

from labelmap._util.atomic import is_temporary
from labelmap.cli.batch.jobs import Job

__all__ = ["up_to_date", "output_state"]


def output_state(job: Job) -> tuple[float, int] | None:
    """(oldest modification time, bytes) of the job's output, None when there is none."""
    try:
        st = os.stat(job.output)
    except OSError:
        return None
    if job.command != "seg2itk":
        return (st.st_mtime, st.st_size) if st.st_size > 0 else None
    try:  # seg2itk: an output folder; its label files and meta.json were renamed in together
        entries = [e for e in os.scandir(job.output) if e.is_file() and not is_temporary(e.name)]
    except OSError:
        return None
    if not any(e.name.endswith("meta.json") for e in entries):
        return None
    stats = [e.stat() for e in entries]
    return min(s.st_mtime for s in stats), sum(s.st_size for s in stats)


def up_to_date(job: Job) -> int | None:
    """The output's size when ``job`` need not run again (its output is at least as new as each input),
    else None (no output, an input newer, or an input missing: the run will say which)."""
    state = output_state(job)
    if state is None:
        return None
    mtime, size = state
    for path in job.inputs:
        try:
            if os.stat(path).st_mtime > mtime:
                return None
        except OSError:
            return None
    return size
