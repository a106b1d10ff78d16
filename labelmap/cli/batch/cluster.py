"""The clusters a batch runs on: a loopback local cluster it starts (and alone stops), or an existing
cluster it connects to after a preflight (a worker, the shared folder, the same versions).

Used by :mod:`labelmap.cli.batch.engine`; ``distributed`` is passed in (imported there, lazily).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelmap.errors import ClusterError, InputError

if TYPE_CHECKING:
    from labelmap.cli.batch.engine import EngineSpec

__all__ = [
    "Session",
    "Stopped",
    "start_local",
    "connect",
    "one_line",
    "PIP_LINE",
    "WORKER_PRELOAD",
    "IN_FLIGHT_PER_THREAD",
]

#: What installs the engine's optional dependencies.
PIP_LINE = 'pip install "labelmap[batch]"'
#: The module every local worker preloads (signals, warm imports).
WORKER_PRELOAD = "labelmap.cli.batch.worker"
#: Jobs kept in flight per worker thread: enough that no worker waits for the client, few enough
#: that Ctrl-C has little to cancel and a 126,000-row batch keeps the client's memory flat.
IN_FLIGHT_PER_THREAD = 10
#: Packages that must match between this machine and a remote cluster (dask's required list).
_MATCHING_PACKAGES = ("dask", "distributed", "msgpack", "cloudpickle", "tornado", "toolz")


class Session:
    """A client and, for a local batch, the cluster it started (which it alone closes)."""

    def __init__(self, client: Any, cluster: Any = None, threads_per_job: int = 0) -> None:
        self.client = client
        self.cluster = cluster
        self.threads_per_job = threads_per_job
        self._seen: dict[int, float] = {}  # local worker pid -> create time (to kill only our own)
        # Local jobs check this file before they start: once it exists no job starts, so a stop has no
        # race between asking the scheduler what runs and cancelling the rest.
        self.stop_flag = ""
        if cluster is not None:
            self._flag_dir = tempfile.mkdtemp(prefix="labelmap-batch-")
            self.stop_flag = os.path.join(self._flag_dir, "stop")

    def raise_stop_flag(self) -> None:
        """From now on no local job starts (those already running go on)."""
        if self.stop_flag:
            try:
                with open(self.stop_flag, "w"):
                    pass
            except OSError:  # pragma: no cover - the flag's own temporary folder
                pass

    @property
    def local(self) -> bool:
        return self.cluster is not None

    def worker_pids(self) -> list[int]:
        """The local worker processes now (remembered, so that close can make sure they are gone)."""
        if self.cluster is None:
            return []
        pids = []
        for _ in range(3):  # the event loop thread may change the dict while we read it
            try:
                nannies = list(self.cluster.workers.values())
                break
            except RuntimeError:
                continue
        else:
            nannies = []
        for nanny in nannies:
            pid = getattr(getattr(nanny, "process", None), "pid", None)
            if pid:
                pids.append(pid)
                if pid not in self._seen:
                    self._seen[pid] = _create_time(pid)
        return pids

    def kill_workers(self) -> None:
        """SIGKILL every local worker process at once (the second Ctrl-C)."""
        for pid in self.worker_pids():
            _kill(pid)

    def in_flight(self, previous: int = IN_FLIGHT_PER_THREAD) -> int:
        """How many jobs to keep submitted: :data:`IN_FLIGHT_PER_THREAD` per worker thread
        (``previous`` while the scheduler does not answer)."""
        if self.client.status != "running":
            return previous
        try:
            threads = sum(self.client.nthreads(callback_timeout=2).values())
        except Exception:
            return previous
        return IN_FLIGHT_PER_THREAD * max(1, threads)

    def started(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` a worker has started (running, or done but not yet collected).

        Locally the in-process scheduler answers in one step of its event loop (a consistent
        snapshot; with one task per worker thread, processing means running).  On an existing cluster
        the scheduler's processing and in-memory keys are asked (processing may include a task queued
        on a worker, so the answer errs towards "may have run")."""
        try:
            if self.local:
                states = self.client.run_on_scheduler(_task_states, keys)
                return {k for k, state in states.items() if state in ("processing", "memory", "erred")}
            wanted = set(keys)
            found = {k for ks in self.client.processing().values() for k in ks if k in wanted}
            return found | {k for k, where in self.client.who_has(keys).items() if where}
        except Exception:
            return set(keys)  # no answer: cancel nothing that may have started

    def close(self) -> None:
        """Close the client; stop the cluster only if this batch started it, then make sure no worker
        process of it is left (a nanny may have restarted one after a kill)."""
        self.worker_pids()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.client.close(timeout=5)
            except Exception:
                pass
            if self.cluster is not None:
                try:
                    self.cluster.close(timeout=10)
                except Exception:
                    pass
        for pid, created in self._seen.items():
            if _create_time(pid) == created and created:
                _kill(pid)
        if self.stop_flag:
            shutil.rmtree(self._flag_dir, ignore_errors=True)


def _create_time(pid: int) -> float:
    """The process's start time (0.0 when gone): a pid is only killed if it is still the same process."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return 0.0


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _task_states(keys: list[str], dask_scheduler: Any) -> dict[str, str]:
    """On the scheduler (``client.run_on_scheduler``): the state of each of ``keys`` it knows."""
    tasks = dask_scheduler.tasks
    return {k: tasks[k].state for k in keys if k in tasks}


def _labelmap_version() -> str:
    """On a worker (``client.run``): its labelmap version."""
    import labelmap

    return str(labelmap.__version__)


def start_local(dd: Any, spec: EngineSpec, workers: int) -> Session:
    """A loopback LocalCluster of ``workers`` forked processes, 1 thread each, no dashboard."""
    memory_limit: Any = spec.memory_limit or "auto"
    if spec.memory_limit and spec.memory_limit != "auto":
        from dask.utils import parse_bytes

        try:
            memory_limit = parse_bytes(spec.memory_limit)
        except (ValueError, TypeError):
            raise InputError(
                f"memory limit {spec.memory_limit!r} is not a size; give one such as 4GB or 500MB"
            ) from None
    from labelmap.cli.batch.worker import warm_up

    warm_up()  # once, here: the forked workers (and restarted ones) inherit the converter imported
    # Python 3.12+ warns on every fork of a process with threads (the client's event loop runs in one);
    # the worker process only runs the forking thread's code, and a nanny forks again on a restart.
    warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = dd.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=memory_limit,
            preload=[WORKER_PRELOAD],
            silence_logs=logging.CRITICAL,
        )
        try:
            client = dd.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
    from labelmap._util.resources import machine_threads

    threads = spec.threads_per_job or max(1, machine_threads() // workers)
    return Session(client, cluster, threads)


def _scheduler_address(spec: EngineSpec, timeout: float, waiting: Callable[[], bool]) -> str:
    """The scheduler's address: given, or read from the scheduler file (waiting up to ``timeout`` s for
    it to appear, as a scheduler started by the same job script may still be starting)."""
    if spec.scheduler:
        return spec.scheduler
    path = Path(str(spec.scheduler_file))
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"no scheduler file after {timeout:g} s; start the cluster with "
                f"`dask scheduler --scheduler-file {path}` or give --scheduler ADDRESS",
                path=path,
            )
        if waiting():
            raise Stopped
        time.sleep(0.1)
    try:
        address = json.loads(path.read_text(encoding="utf-8"))["address"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterError(
            f"not a Dask scheduler file ({type(exc).__name__}: {exc}); it should hold the JSON "
            "`dask scheduler --scheduler-file` writes",
            path=path,
        ) from None
    return str(address)


def _probe(address: str, timeout: float) -> None:
    """Fail at once, in one line, when nothing listens at a TCP address (Dask would retry until its
    connect timeout)."""
    match = re.fullmatch(r"(tcp|tls)://\[?([^\]]*?)\]?:(\d+)/?", address.strip())
    if not match:
        if "://" not in address and ":" in address:
            return _probe("tcp://" + address, timeout)
        return  # another protocol (ucx, inproc): Dask itself says
    host, port = match.group(2), int(match.group(3))
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 10.0)):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, socket.timeout):
            reason = f"no answer within {min(timeout, 10.0):g} s"
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address}: {reason}; check the address and that "
            "`dask scheduler` is running there"
        ) from None


class Stopped(Exception):
    """A signal arrived while waiting for an existing cluster (its file, its first worker)."""


def connect(
    dd: Any,
    spec: EngineSpec,
    manifest_dir: str,
    connect_timeout: float,
    worker_wait: float,
    waiting: Callable[[], bool] = lambda: False,
) -> Session:
    """A client of an existing cluster that passed the preflight (see :func:`_preflight`).

    ``waiting`` is called about twice a second during the waits (for the scheduler file, for a worker):
    True means a signal arrived, and :class:`Stopped` is raised."""
    address = _scheduler_address(spec, connect_timeout, waiting)
    _probe(address, connect_timeout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Client warns about version mismatches: the preflight says it
        try:
            client = dd.Client(address, timeout=connect_timeout, set_as_default=False)
        except Exception as exc:
            raise ClusterError(
                f"cannot connect to the Dask scheduler at {address}: {one_line(exc)}; check the address"
            ) from None
        try:
            _preflight(client, address, manifest_dir, worker_wait, waiting)
            if spec.worker_resource:
                _check_resource(client, address, spec.worker_resource)
        except BaseException:
            client.close()
            raise
    return Session(client, None, spec.threads_per_job)


def _preflight(client: Any, address: str, manifest_dir: str, worker_wait: float, waiting: Callable[[], bool]) -> None:
    """An existing cluster must have a worker, see the manifest's folder and run the same labelmap,
    dask and distributed as this machine.

    Raises
    ------
    ClusterError
        The first check that fails, in one line with what to do.
    """
    deadline = time.monotonic() + worker_wait
    while True:
        try:
            client.wait_for_workers(1, timeout=max(0.01, min(0.5, deadline - time.monotonic())))
            break
        except Exception:
            if waiting():
                raise Stopped from None
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"no Dask worker joined the scheduler at {address} within {worker_wait:g} s; start "
                    f"workers with `dask worker {address}`"
                ) from None
    seen = client.run(os.path.isdir, manifest_dir, on_error="return")
    blind = sorted(w for w, ok in seen.items() if ok is not True)
    if blind:
        raise ClusterError(
            f"{len(blind)} of {len(seen)} Dask workers ({blind[0]}) cannot see the manifest's folder; "
            "workers read and write the same paths as this machine, so they need the shared filesystem "
            "mounted at the same place",
            path=manifest_dir,
        )
    import labelmap

    ours = str(labelmap.__version__)
    for worker, version in sorted(client.run(_labelmap_version, on_error="return").items()):
        if isinstance(version, BaseException):
            raise ClusterError(
                f"Dask worker {worker} cannot run labelmap ({one_line(version)}); install labelmap "
                f"{ours} with {PIP_LINE} on every worker"
            )
        if version != ours:
            raise ClusterError(
                f"Dask worker {worker} runs labelmap {version} but this machine has {ours}; install the "
                "same version on every worker"
            )
    _check_versions(client, address)


def _check_resource(client: Any, address: str, name: str) -> None:
    """Jobs restricted to a resource no worker offers would wait for ever: refuse them now."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    if not any(name in (w.get("resources") or {}) for w in workers.values()):
        raise ClusterError(
            f"no Dask worker at {address} offers the resource {name!r}; start workers with "
            f"`dask worker {address} --resources {name}=1` or leave out --worker-resource"
        )


def _check_versions(client: Any, address: str) -> None:
    """``client.get_versions(check=True)`` (which only warns) as one error naming the first package
    whose version differs between this machine and the scheduler or a worker."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            versions = client.get_versions(check=True)
        except ValueError as exc:
            raise ClusterError(f"the Dask cluster at {address}: {one_line(exc)}") from None

    def wanted(packages: dict[str, Any]) -> dict[str, str]:
        found = {p: str(packages.get(p)) for p in _MATCHING_PACKAGES}
        found["python"] = ".".join(str(packages.get("python", "")).split(".")[:2])  # 3.11.7 ~ 3.11.9
        return found

    ours = wanted(versions["client"]["packages"])
    others = [(f"scheduler {address}", versions["scheduler"]["packages"])]
    others += [(f"worker {w}", v["packages"]) for w, v in sorted(versions["workers"].items()) if v]
    for name, packages in others:
        theirs = wanted(packages)
        for package in ("python", *_MATCHING_PACKAGES):
            if name.startswith("scheduler") and package == "msgpack":
                continue  # dask does not compare it for the scheduler either
            if theirs[package] != ours[package]:
                raise ClusterError(
                    f"the Dask {name} has {package} {theirs[package]} but this machine has "
                    f"{ours[package]}; install the same versions everywhere"
                )


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())
