"""One batch job, run in a worker process: the itk2seg / seg2itk command line in process, never a raise.

Whatever happens inside (a bad input, a full disk, a bug) becomes a :class:`JobResult` whose
``error`` is the line the command would print after ``error: ``; only the worker's own death
(a segfault, the memory limit) escapes, and the engine reports that.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import time
from pathlib import Path
from typing import Any

from labelmap.cli.batch.jobs import Job, JobResult

__all__ = ["run_job", "remove_stale", "TRANSIENT_ERRNOS"]

#: OS errors worth another attempt (network file systems): everything else is deterministic.
TRANSIENT_ERRNOS = frozenset(
    code for code in (errno.ESTALE, errno.EIO, errno.ETIMEDOUT, errno.EAGAIN, getattr(errno, "EREMOTEIO", None)) if code
)


def remove_stale(job: Job) -> int:
    """Remove what a killed earlier run of ``job`` left beside its target: its temporaries (SIGKILL
    skips their cleanup).  An itk2seg target's own temporaries are found by their tag; a seg2itk
    output folder belongs to its job, so every temporary in it goes.  Returns how many were removed."""
    from labelmap._util.atomic import stale_temporaries

    removed = 0
    for path in stale_temporaries(job.output, every=job.command == "seg2itk"):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _transient(exc: BaseException | None) -> bool:
    """An OS error a retry may get past (a stale NFS handle, an I/O timeout)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _fill(result: JobResult, report: Any) -> None:
    """Copy what the command's report says into the result row."""
    result.warnings = list(getattr(report, "warnings", []) or [])
    if hasattr(report, "segmentation_type"):  # WriteReport
        result.segmentation_type = str(report.segmentation_type)
        result.frames = int(report.frames)
        result.segments = int(report.segments)
        result.transfer_syntax = str(report.transfer_syntax)
        result.output_bytes = int(report.size_bytes) + sum(_size(p) for p in getattr(report, "pyramid_levels", []))
    elif hasattr(report, "outputs"):  # ReadReport
        result.segments = int(report.segments)
        result.output_bytes = sum(_size(p) for p in [*report.outputs, report.metadata])


def _size(path: object) -> int:
    try:
        return os.stat(str(path)).st_size
    except OSError:
        return 0


def run_job(job: Job, threads: int = 0, retries: int = 0) -> JobResult:
    """Run ``job`` here and say how it ended; never raises for the job's own failure.

    Parameters
    ----------
    job
        The job; its paths must be visible here (a shared file system).
    threads
        Threads its kernels and codecs may use (``--threads``); 0 = every core of this machine.
    retries
        Extra attempts after a transient OS error (ESTALE, EIO, ETIMEDOUT); other errors are not retried.

    Returns
    -------
    JobResult
        Status ``ok`` (with the report's type, frames, segments, syntax, size and warnings) or
        ``failed`` (with the one-line error).
    """
    from labelmap.cli.app import execute

    start = time.perf_counter()
    result = JobResult(index=job.index, id=job.id, status="failed", output=job.output)
    result.worker = f"{socket.gethostname()}:{os.getpid()}"
    argv = list(job.argv) + (["--threads", str(threads)] if threads > 0 and _takes_threads(job.command) else [])
    try:
        remove_stale(job)
        if job.command == "itk2seg":  # a manifest's output folders are created (single itk2seg requires them)
            Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        while True:
            result.attempts += 1
            outcome = execute(argv)
            if outcome.code == 0 or result.attempts > retries or not _transient(outcome.exc):
                break
            time.sleep(min(5.0, 0.5 * 2 ** (result.attempts - 1)))
        if outcome.code == 0:
            result.status = "ok"
            _fill(result, outcome.value)
        else:
            result.error = outcome.error or f"{job.command} ended with exit status {outcome.code}"
    except Exception as exc:  # never let a job's failure reach Dask as an exception
        result.error = _one_line(exc)
    result.seconds = time.perf_counter() - start
    return result


@functools.lru_cache(maxsize=4)
def _takes_threads(command: str) -> bool:
    """Whether ``command`` has a ``--threads`` flag (every converting command has; kept as a check so a
    worker of another labelmap version never fails every job on it)."""
    from labelmap.cli.app import _command

    sub = _command().commands.get(command)
    return sub is not None and any(getattr(p, "name", None) == "threads" for p in sub.params)


def _one_line(exc: BaseException) -> str:
    """A failure outside the command (creating the output folder) as one line."""
    if isinstance(exc, OSError):
        where = f"{exc.filename!r}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}; check the path, its permissions and the free disk space"
    return f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
