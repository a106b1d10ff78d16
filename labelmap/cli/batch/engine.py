"""Run a batch's jobs on Dask: a loopback local cluster by default, or an existing cluster by address.

Only jobs (paths and flags, about 1 KB) travel to workers and only :class:`JobResult` rows come back;
workers read and write a shared filesystem.  The engine keeps about ten jobs per worker thread in
flight and releases each result at once (a result held on a worker would be recomputed if that worker
died), turns infrastructure failures (a worker that died 4 times, a lost connection) into failed rows,
and owns SIGINT / SIGTERM / SIGHUP while it runs: the first stops the batch (queued jobs cancelled,
running local jobs awaited), a second kills the local workers at once.

Local workers are forked from this process (``distributed.worker.multiprocessing-method: fork``):
they inherit distributed and the converter already imported, so a cluster is ready in about 0.2 s
where spawned or forkserver workers take 0.6-0.9 s on two cores (measured; see the README's Batch
section).  :mod:`labelmap.cli.batch.worker` then resets the signals every forked worker inherits.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from labelmap.cli.batch.cluster import PIP_LINE, Session, Stopped, connect, one_line, start_local
from labelmap.cli.batch.jobs import Job, JobResult
from labelmap.errors import InputError, MissingDependencyError

__all__ = ["EngineSpec", "EngineOutcome", "run_jobs", "default_workers", "load_distributed", "PIP_LINE"]

#: How local worker processes start (see the module docstring for the measurement behind it).
START_METHOD = "fork"
#: Tasks a local worker is sent per thread: 1.0 = only the one it runs (see :func:`run_jobs`).
LOCAL_SATURATION = 1.0
#: Seconds between ``on_tick`` calls (the contract is at least once a second) and between checks for
#: a signal while waiting for a result.
_TICK = 0.5
_POLL = 0.1
#: A job in flight when the client lost its scheduler.
_LOST = (
    "lost the connection to the Dask scheduler (it stopped, or the network failed); the job may have run: "
    "run the batch again with --resume"
)


@dataclass(frozen=True)
class EngineSpec:
    """Where and how a batch runs.

    Parameters
    ----------
    workers
        Local cluster processes; None = :func:`default_workers`.
    scheduler
        The address of an existing cluster's scheduler (``tcp://host:port``).
    scheduler_file
        An existing cluster's scheduler file (``dask scheduler --scheduler-file F``).
    memory_limit
        Per local worker (``"4GB"``); None = dask's ``auto`` (the machine's memory / workers).
    worker_resource
        On an existing cluster, run jobs only on workers offering this Dask resource
        (``submit(..., resources={NAME: 1})``); a local cluster's workers are all the batch's own.
    threads_per_job
        Kernel threads per job; 0 = local: ``max(1, cores // workers)``, remote: the job decides.
    retries
        Handed to the job function (transient OSError only).
    """

    workers: int | None = None
    scheduler: str | None = None
    scheduler_file: str | None = None
    memory_limit: str | None = None
    worker_resource: str | None = None
    threads_per_job: int = 0
    retries: int = 0

    @property
    def remote(self) -> bool:
        """True when the batch runs on an existing cluster."""
        return bool(self.scheduler or self.scheduler_file)


@dataclass(frozen=True)
class EngineOutcome:
    """How :func:`run_jobs` ended.

    Parameters
    ----------
    signal
        None when every job ran; the signal number (SIGINT, SIGTERM, SIGHUP) that stopped the batch.
    running_at_stop
        Indexes of jobs still running on a remote cluster when the batch stopped: they may complete
        there (Dask cannot stop a running task), so their outputs may appear later.
    """

    signal: int | None = None
    running_at_stop: frozenset[int] = frozenset()


def default_workers(cores: int | None = None) -> int:
    """Local worker processes when ``--workers`` is not given: one per core.

    Measured on 2 cores (README, Batch): 2 workers x 1 kernel thread beat 1 x 2 on small cases, where
    a job is mostly single-threaded Python, and tie on the 512x512x300 reference, where one job's
    kernels already use both cores.
    """
    from labelmap._util.resources import machine_threads

    return max(1, cores if cores is not None else machine_threads())


def load_distributed() -> Any:
    """Import ``distributed`` with its logging silenced (no log lines or tracebacks at shutdown or on a
    worker's death: the batch reports those itself).

    Raises
    ------
    MissingDependencyError
        dask / distributed are not installed (the message names the pip line).
    """
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")  # read when dask's config loads
    try:
        import dask  # noqa: F401  (distributed needs it; a missing one is named here)
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            f"batch needs dask.distributed, which is not installed ({exc}); install it with {PIP_LINE}"
        ) from None
    if os.environ["DASK_LOGGING__DISTRIBUTED"] == "critical":  # unless the user asked for logs
        _silence_logs()
    return distributed


def _silence_logs() -> None:
    """Every ``distributed.*`` logger (its config gives some, such as ``distributed.client``, their
    own level) and the event loop's to CRITICAL: forked workers inherit these levels."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in ("distributed", "tornado")]
    for name in ("distributed", "tornado", "asyncio", *names):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# --------------------------------------------------------------------------- signals
class _Signals:
    """SIGINT / SIGTERM / SIGHUP while the batch runs: the handlers only record, the loop acts.

    SIGHUP ignored when the batch started stays ignored (``nohup``); SIGINT and SIGTERM are always
    handled, also when a non-interactive shell started the batch in the background with SIGINT ignored
    (``kill -INT`` then still stops it in order).  A second signal
    calls :attr:`on_second` (kill the local workers) right in the handler, whatever the loop waits on.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.on_second: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def __enter__(self) -> _Signals:
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers; the caller handles signals then
        names = ("SIGINT", "SIGTERM", "SIGHUP")
        for signum in (getattr(signal, n) for n in names if hasattr(signal, n)):
            current = signal.getsignal(signum)
            if current == signal.SIG_IGN and signum == getattr(signal, "SIGHUP", None):
                continue  # nohup's choice is kept; SIGINT is handled even when a background start ignored it
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:  # a worker forked a moment ago, before its preload reset this
            if signum != signal.SIGINT:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self.count >= 2 and self.on_second is not None:
            try:
                self.on_second()
            except Exception:  # pragma: no cover - a handler must never raise into the loop
                pass


# --------------------------------------------------------------------------- the run
def _guarded(func: Callable[..., JobResult], stop_flag: str, job: Job, threads: int, retries: int) -> JobResult | None:
    """On a worker: run the job, unless the batch was stopped before it started (None: cancelled)."""
    if stop_flag and os.path.exists(stop_flag):
        return None
    return func(job, threads, retries)


def run_jobs(
    jobs: Iterable[Job],
    spec: EngineSpec,
    *,
    manifest_dir: str,
    on_result: Callable[[JobResult], None],
    on_tick: Callable[[], None] | None = None,
    func: Callable[..., JobResult] | None = None,
    worker_wait: float = 60.0,
    connect_timeout: float = 10.0,
    grace: float = 10.0,
) -> EngineOutcome:
    """Run every job on Dask and hand each result to ``on_result`` as it arrives.

    Parameters
    ----------
    jobs
        The jobs to run (any iterable; consumed as the batch goes, in order).
    spec
        Local cluster or an existing one, and how jobs run (:class:`EngineSpec`).
    manifest_dir
        The manifest's folder: every worker of an existing cluster must see it.
    on_result
        Called in this thread once per job that ended ``ok`` or ``failed``, in completion order.  Jobs
        without a result after an interrupt are the caller's ``cancelled`` rows.
    on_tick
        Called at least once a second while the batch waits (progress).
    func
        The job function, ``func(job, threads, retries) -> JobResult``; default
        :func:`labelmap.cli.batch.runner.run_job` (the engine's tests pass others).
    worker_wait
        Seconds an existing cluster has to show a worker.
    connect_timeout
        Seconds to reach an existing cluster's scheduler (or for its scheduler file to appear).
    grace
        Seconds the first signal waits for running local jobs before the cluster is closed anyway.

    Returns
    -------
    EngineOutcome
        ``signal`` None when every job ran; else the signal that stopped the batch.

    Raises
    ------
    InputError
        Settings that cannot go together (workers with a scheduler, a memory limit that is no size).
    ClusterError
        An existing cluster that cannot be reached or fails its preflight: nothing ran.
    MissingDependencyError
        dask.distributed is not installed.
    """
    pending = iter(jobs)
    first = next(pending, None)
    _check_spec(spec)
    if first is None:
        return EngineOutcome()
    workers = spec.workers or default_workers()
    config: dict[str, Any] = {"distributed.worker.multiprocessing-method": START_METHOD}
    if not spec.remote:
        # one job per worker thread at a time: a worker that dies then takes only its running job
        # with it, so a poison job never gets an innocent neighbour counted as suspicious
        config["distributed.scheduler.worker-saturation"] = LOCAL_SATURATION
    with _Signals() as signals:  # from here a signal ends the batch in order (also during the imports)
        if func is None:
            from labelmap.cli.batch.runner import run_job

            func = run_job
        dd = load_distributed()
        if signals.signum is not None:
            return EngineOutcome(signals.signum)
        import dask

        with dask.config.set(config):
            if spec.remote:
                try:
                    session = connect(dd, spec, manifest_dir, connect_timeout, worker_wait, _waiting(signals, on_tick))
                except Stopped:
                    return EngineOutcome(signals.signum)
            else:
                try:
                    session = start_local(dd, spec, workers)
                except Exception:
                    if signals.signum is not None:  # a signal while the workers were starting (it reaches them)
                        return EngineOutcome(signals.signum)
                    raise
            signals.on_second = session.kill_workers
            batch = _Batch(session, func, spec, signals, on_result, on_tick, grace)
            try:
                return batch.run(itertools.chain([first], pending))
            finally:
                session.close()
                if session.local:  # jobs the stop did not wait for were killed with their workers
                    _remove_temporaries([job for _, job in batch.inflight.values()])


def _waiting(signals: _Signals, on_tick: Callable[[], None] | None) -> Callable[[], bool]:
    """While waiting for an existing cluster: tick the progress; True once a signal arrived."""

    def waiting() -> bool:
        if on_tick is not None:
            on_tick()
        return signals.signum is not None

    return waiting


def _remove_temporaries(jobs: list[Job]) -> None:
    """Remove what killed jobs left beside their targets (SIGKILL skips a writer's own cleanup)."""
    if not jobs:
        return
    from labelmap.cli.batch.runner import remove_stale

    for job in jobs:
        try:
            remove_stale(job)
        except Exception:  # pragma: no cover - best effort: the job's next run removes them too
            pass


def _check_spec(spec: EngineSpec) -> None:
    """Settings that cannot go together (the command checks its flags too; the API may not)."""
    if spec.scheduler and spec.scheduler_file:
        raise InputError("give either a scheduler address or a scheduler file, not both")
    if spec.remote and spec.workers is not None:
        raise InputError("--workers starts a local cluster; it cannot be combined with an existing cluster")
    if spec.remote and spec.memory_limit is not None:
        raise InputError("--memory-limit applies to local workers; an existing cluster sets its own")
    if spec.workers is not None and spec.workers < 1:
        raise InputError(f"workers must be 1 or more, got {spec.workers}")
    if spec.threads_per_job < 0 or spec.retries < 0:
        raise InputError("threads per job and retries must be 0 or more")


class _Batch:
    """The submit / collect loop of one run."""

    def __init__(
        self,
        session: Session,
        func: Callable[..., JobResult],
        spec: EngineSpec,
        signals: _Signals,
        on_result: Callable[[JobResult], None],
        on_tick: Callable[[], None] | None,
        grace: float,
    ) -> None:
        self.session, self.func, self.spec, self.signals = session, func, spec, signals
        self.on_result, self.on_tick, self.grace = on_result, on_tick, grace
        self.prefix = f"labelmap-{uuid.uuid4().hex[:12]}-"
        self.inflight: dict[str, tuple[Any, Job]] = {}
        self.done: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.limit = session.in_flight()
        self.stopping = False
        self.last_tick = 0.0

    def run(self, jobs: Iterator[Job]) -> EngineOutcome:
        self.pending = jobs
        self._refill()
        while self.inflight:
            if self.signals.signum is not None:
                return self._stop(self.signals.signum)
            self._collect()
            self._refill()
        self._tick(force=True)
        if self.signals.signum is not None:  # a signal with the last result: nothing is left to stop
            return EngineOutcome(self.signals.signum)
        return EngineOutcome()

    # -- submitting
    def _refill(self) -> None:
        while len(self.inflight) < self.limit and not self.stopping and self.signals.signum is None:
            job = next(self.pending, None)
            if job is None:
                return
            # locally every worker is ours: a resource would only stop the scheduler from queueing
            resources = {self.spec.worker_resource: 1} if self.spec.worker_resource and self.spec.remote else None
            future = self.session.client.submit(
                _guarded,
                self.func,
                self.session.stop_flag,
                job,
                self.session.threads_per_job,
                self.spec.retries,
                key=f"{self.prefix}{job.index}",
                pure=False,
                resources=resources,
            )
            self.inflight[future.key] = (future, job)
            future.add_done_callback(lambda f, done=self.done: done.put(f.key))

    # -- collecting
    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_tick >= _TICK:
            self.last_tick = now
            if not self.stopping and not self.session.local:
                self.limit = self.session.in_flight(self.limit)  # workers come and go on a shared cluster
            self.session.worker_pids()
            if self.on_tick is not None:
                self.on_tick()

    def _collect(self, block: bool = True) -> bool:
        """Hand the finished jobs' results to ``on_result`` (True); False when none finished within a
        short wait (so that signals and ticks are seen) or at once when not ``block``."""
        self._tick()
        try:
            keys = [self.done.get(timeout=_POLL) if block else self.done.get_nowait()]
        except queue.Empty:
            return False
        while True:  # whatever else finished meanwhile: fetched from the workers in one round trip
            try:
                keys.append(self.done.get_nowait())
            except queue.Empty:
                break
        entries = [e for e in (self.inflight.pop(k, None) for k in keys) if e is not None]  # None: cancelled
        values = self._gather([f for f, _ in entries if f.status == "finished"])
        for future, job in entries:
            result = self._result(future, job, values)
            try:
                future.release()
            except Exception:
                pass
            if result is not None:
                self.on_result(result)
        return True

    def _gather(self, futures: list[Any]) -> dict[str, Any]:
        """The values of several finished futures in one request (one at a time costs a round trip
        each: with small jobs that is a tenth of the batch); empty when that fails."""
        if len(futures) < 2:
            return {}
        try:
            values = self.session.client.gather(futures, errors="raise")
        except Exception:
            return {}
        return {f.key: v for f, v in zip(futures, values)}

    def _result(self, future: Any, job: Job, values: dict[str, Any]) -> JobResult | None:
        """The job's result, or a failed row for an infrastructure failure; None for a job we
        cancelled."""
        status = future.status
        if status == "cancelled":
            if self.stopping:
                return None
            if getattr(self.session.client, "status", "running") != "running":
                return _failed(job, _LOST)
            return _failed(job, "cancelled by the Dask cluster (its scheduler restarted or cancelled it)")
        try:
            value = values[future.key] if future.key in values else future.result(timeout=60)
        except BaseException as exc:  # noqa: BLE001 - anything a cluster can raise becomes a row
            if isinstance(exc, KeyboardInterrupt):
                raise
            return _failed(job, _reason(exc), attempts=_deaths(exc))
        if value is None and self.stopping:
            return None  # it saw the stop flag and did not start
        if not isinstance(value, JobResult):
            return _failed(job, f"internal error: the job function returned {type(value).__name__}, not a JobResult")
        return value

    # -- stopping
    def _stop(self, signum: int) -> EngineOutcome:
        """First signal: no job starts any more (local: the stop flag; then the scheduler's queue is
        cancelled); locally, wait (at most ``grace`` seconds, or until a second signal) for the jobs
        that had started; on an existing cluster, report them (they run on) and return at once."""
        self.stopping = True
        self.session.raise_stop_flag()
        while self._collect(block=False):
            pass  # results that already arrived
        started = self.session.started(list(self.inflight)) if self.inflight else set()
        unstarted = [f for key, (f, _) in self.inflight.items() if key not in started]
        if unstarted:
            try:
                self.session.client.cancel(unstarted)
            except Exception:
                pass
            for future in unstarted:
                self.inflight.pop(future.key, None)
        if not self.session.local:
            while self._collect(block=False):
                pass
            return EngineOutcome(signum, frozenset(job.index for _, job in self.inflight.values()))
        deadline = time.monotonic() + self.grace
        while self.inflight and self.signals.count < 2 and time.monotonic() < deadline:
            self._collect()
        return EngineOutcome(signum)


def _failed(job: Job, error: str, attempts: int = 0) -> JobResult:
    return JobResult(index=job.index, id=job.id, status="failed", output=job.output, attempts=attempts, error=error)


def _deaths(exc: BaseException) -> int:
    """How many workers died running the job (0 if that was not the failure)."""
    if type(exc).__name__ != "KilledWorker":
        return 0
    allowed = getattr(exc, "allowed_failures", None)
    if isinstance(allowed, int):
        return allowed + 1
    match = re.search(r"on (\d+) different workers", str(exc))
    return int(match.group(1)) if match else 0


def _reason(exc: BaseException) -> str:
    """One line for an infrastructure failure (the job function itself never raises for a job's
    failure; anything else it raises is a bug)."""
    name = type(exc).__name__
    deaths = _deaths(exc)
    if deaths:
        return f"the worker running this job died {deaths} times (out of memory or a crash)"
    if name in ("CommClosedError", "StreamClosedError") or isinstance(exc, (ConnectionError, EOFError)):
        return f"lost the connection to the Dask worker running this job ({one_line(exc) or name})"
    if name == "CancelledError":
        return "cancelled by the Dask cluster"
    if isinstance(exc, TimeoutError):
        return "the Dask cluster did not return this job's result within 60 s"
    return f"internal error: {name}: {one_line(exc)}"
