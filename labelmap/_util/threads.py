"""Split one job into parts on threads: for kernels and codecs that release the GIL."""

from __future__ import annotations

from collections.abc import Callable

from labelmap._util.resources import Resources

__all__ = ["parts_for", "run_parts"]


def parts_for(threads: int | None, nbytes: int, min_bytes: int, limit: int) -> int:
    """How many parts to split a job of ``nbytes`` bytes into: 1 below ``min_bytes`` (a thread would
    cost more than it saves), else ``threads`` (None, 0 or less: every core, see :class:`Resources`),
    at most ``limit`` (e.g. the frames to share out)."""
    if nbytes < min_bytes or limit <= 1:
        return 1
    return max(1, min(Resources(threads=max(0, threads or 0)).threads, limit))


def run_parts(work: Callable[[int], object], parts: int, name: str) -> None:
    """Call ``work(i)`` for i in 0 .. parts-1: part 0 on this thread, each other on its own thread.

    The first exception of any part is raised once every thread has been joined.
    """
    if parts <= 1:
        work(0)
        return
    import threading  # only when parts run at once: a one-part job (and an import) need no threads

    failure: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # pragma: no cover - re-raised below
            failure.append(exc)

    others = [threading.Thread(target=worker, args=(i,), name=name) for i in range(1, parts)]
    for t in others:
        t.start()
    try:
        work(0)
    finally:
        for t in others:
            t.join()
    if failure:
        raise failure[0]
