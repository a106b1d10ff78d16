"""Process bookkeeping for the batch tests: every process a test starts is stopped by pid, and none may
be left behind (zombies, which init reaps a moment later, do not count)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def env() -> dict[str, str]:
    """The environment for a child Python: this checkout and the tests' helper modules importable."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def alive(procs: dict[int, float]) -> list[int]:
    """The pids of ``procs`` (pid -> create time) that still run as the same process (not zombies)."""
    left = []
    for pid, created in procs.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.Error:
            pass
    return left


def descendants(pid: int) -> dict[int, float]:
    """Every live descendant of ``pid`` (pid -> create time)."""
    found = {}
    try:
        for p in psutil.Process(pid).children(recursive=True):
            try:
                found[p.pid] = p.create_time()
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return found


def wait_gone(procs: dict[int, float], timeout: float = 10.0) -> list[int]:
    """Wait until none of ``procs`` runs; the ones still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(procs)


class Watched:
    """A child process whose descendants are recorded while it runs (a thread polls them), so that a
    test can check afterwards that none outlived it; it is always stopped by pid."""

    def __init__(self, args: list[str], extra_env: dict[str, str] | None = None, **kwargs: object) -> None:
        self.proc = subprocess.Popen(args, env={**env(), **(extra_env or {})}, **kwargs)  # type: ignore[call-overload]
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.seen.update(descendants(self.proc.pid))
            time.sleep(0.03)

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's process group, as a terminal's Ctrl-C does."""
        os.killpg(self.proc.pid, signum)

    def stop(self) -> None:
        """Stop the child (by pid) and every descendant seen."""
        self._stop.set()
        self._thread.join()
        self.seen.update(descendants(self.proc.pid))
        for pid in [self.proc.pid, *self.seen]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def finish(self, timeout: float) -> tuple[int | None, float]:
        """Wait for the child to exit: its exit status (None if it did not) and the seconds waited."""
        start = time.monotonic()
        try:
            rc: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        self._stop.set()
        self._thread.join()
        return rc, time.monotonic() - start


def python(*args: str) -> list[str]:
    """A command line running this interpreter."""
    return [sys.executable, *args]
