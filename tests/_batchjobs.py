"""Job functions and a driver for the batch engine's tests.

The functions run in real Dask worker processes (forked local workers, or ``dask worker`` processes
given this folder on PYTHONPATH), so they live in an importable module.  Run as a script, this module
is a batch in a process of its own that tests interrupt with signals (see :func:`main`).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from labelmap.cli.batch.jobs import Job, JobResult


def make_jobs(folder: Path, n: int, seconds: float = 0.0, start: int = 0) -> list[Job]:
    """``n`` jobs that each sleep ``seconds`` and write ``folder/j<i>.txt``."""
    return [
        Job(i, f"j{i}", "test", (str(seconds),), str(folder / f"j{i}.txt"), (), line=i + 2)
        for i in range(start, start + n)
    ]


def write_job(job: Job, threads: int = 0, retries: int = 0) -> JobResult:
    """Mark the job started (``<output>.started``), sleep ``argv[0]`` seconds, then write ``job.output``
    atomically (its index, pid, threads and retries)."""
    started = time.perf_counter()
    target = Path(job.output)
    target.with_name(target.name + ".started").touch()  # tests wait for jobs to be running
    time.sleep(float(job.argv[0]) if job.argv else 0.0)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    tmp.write_text(f"{job.index} {os.getpid()} {threads} {retries}\n")
    os.replace(tmp, target)
    return JobResult(
        index=job.index,
        id=job.id,
        status="ok",
        seconds=time.perf_counter() - started,
        output=job.output,
        output_bytes=target.stat().st_size,
        attempts=1,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        warnings=[f"threads={threads}", f"retries={retries}"],
    )


def poison_job(job: Job, threads: int = 0, retries: int = 0) -> JobResult:
    """A job whose id starts with ``poison`` kills its worker process (as a segfault would)."""
    if job.id.startswith("poison"):
        os._exit(1)
    return write_job(job, threads, retries)


def hungry_job(job: Job, threads: int = 0, retries: int = 0) -> JobResult:
    """A job whose id starts with ``hungry`` touches ``argv[0]`` MB (past a worker's memory limit)."""
    if job.id.startswith("hungry"):
        import numpy as np

        block = np.ones(int(float(job.argv[0]) * 2**20), dtype=np.uint8)
        time.sleep(5)  # hold it while the nanny looks
        del block
    return write_job(job, threads, retries)


def raising_job(job: Job, threads: int = 0, retries: int = 0) -> JobResult:
    """A job function with a bug: it raises (run_job never does; the engine must still cope)."""
    if job.index % 2:
        raise ZeroDivisionError("a bug in the job function")
    return write_job(job, threads, retries)


def pid_of(result: JobResult) -> int:
    """The worker process that ran a result's job (``host:pid``)."""
    return int(result.worker.rsplit(":", 1)[1])


def main(argv: list[str]) -> int:
    """A batch in this process: ``N SECONDS OUT [--workers K | --scheduler ADDR]``.

    Prints ``ready`` once jobs run (first result), ``result <index> <status> <pid>`` per result and
    ``outcome <signal> <running indexes>`` at the end, all flushed, so a test knows when to signal.
    """
    from labelmap.cli.batch.engine import EngineSpec, run_jobs

    n, seconds, out = int(argv[0]), float(argv[1]), Path(argv[2])
    spec = EngineSpec(workers=2)
    if "--workers" in argv:
        spec = EngineSpec(workers=int(argv[argv.index("--workers") + 1]))
    if "--scheduler" in argv:
        spec = EngineSpec(scheduler=argv[argv.index("--scheduler") + 1])

    def on_result(result: JobResult) -> None:
        print(f"result {result.index} {result.status} {pid_of(result) if result.worker else 0}", flush=True)

    outcome = run_jobs(make_jobs(out, n, seconds), spec, manifest_dir=str(out), on_result=on_result, func=write_job)
    running = ",".join(str(i) for i in sorted(outcome.running_at_stop))
    print(f"outcome {outcome.signal} {running or '-'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
