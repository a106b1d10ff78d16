"""How much of the machine a job may use, passed down instead of guessed at each site."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Resources", "machine_threads"]


def machine_threads() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Resources:
    """Threads one conversion may use for its parallel parts (inflate, kernels, codecs, header reads).

    The default is every core of the machine; a batch of N worker processes gives each
    job ``Resources(threads=cores // N)`` so that the pool does not oversubscribe it.
    """

    threads: int = 0

    def __post_init__(self) -> None:
        threads = int(self.threads)
        if threads < 0:
            raise ValueError(f"Resources.threads must be 0 (all cores) or positive, got {self.threads}")
        object.__setattr__(self, "threads", threads or machine_threads())
