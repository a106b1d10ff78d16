"""How much of the machine a job may use, passed down instead of guessed at each site."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labelmap._util.progress import Progress

__all__ = [
    "MEMORY_LIMIT_ENV",
    "Resources",
    "available_memory",
    "check_grid",
    "check_memory",
    "format_bytes",
    "machine_threads",
]


def machine_threads() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Resources:
    """Threads one conversion may use for its parallel parts (inflate, kernels, codecs, header reads),
    and who hears how far it has got.

    The default is every core of the machine; a batch of N worker processes gives each
    job ``Resources(threads=cores // N)`` (the CLI's ``--threads``) so that the pool does not
    oversubscribe it.  The pipelines hand ``threads`` to the label scans (the planner's and the
    LABELMAP decoder's presence), the tile and RLE kernels, the frame codecs, slide label reads
    and the deflating writer; the result never depends on it.
    ``progress`` (a :class:`~labelmap._util.progress.Progress`, e.g. the command line's bar) is
    told each step and how much of it is done; None (the default): nothing is reported.
    """

    threads: int = 0
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        threads = int(self.threads)
        if threads < 0:
            raise ValueError(f"Resources.threads must be 0 (all cores) or positive, got {self.threads}")
        object.__setattr__(self, "threads", threads or machine_threads())


# --------------------------------------------------------------------------- memory
#: Environment variable capping the memory one job may allocate (bytes, or with a K/M/G/T suffix).
MEMORY_LIMIT_ENV = "LABELMAP_MEMORY_LIMIT"
#: Allocations below this size are not checked (reading /proc costs more than they risk).
_CHECK_FROM = 32 << 20
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    """Address space this process may still map under RLIMIT_AS (None: unlimited or unknown)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - not Unix
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - used)


def _env_limit() -> int | None:
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return None
    unit = text[-1] if text[-1] in _UNITS else ""
    try:
        value = float(text[: len(text) - len(unit)])
    except ValueError:
        return None
    return int(value * _UNITS[unit]) if value > 0 else None


def available_memory() -> int:
    """Bytes one more allocation may take: the least of MemAvailable, the address space left under
    RLIMIT_AS and the ``LABELMAP_MEMORY_LIMIT`` environment variable (whichever are known)."""
    known = [v for v in (_meminfo_available(), _address_space_left(), _env_limit()) if v is not None]
    return min(known) if known else 1 << 62


def format_bytes(n: float) -> str:
    """``n`` bytes for people: 17.2 TB, 23.4 GiB style (binary units, one decimal)."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(
    nbytes: int | float, what: str, *, path: str | os.PathLike | None = None, keyword: str | None = None
) -> None:
    """Refuse an allocation of ``nbytes`` before making it when the machine cannot hold it.

    ``what`` describes the allocation ("frame grid 512 x 512 x 4000"); the message adds
    the size and what is available, so a hostile header fails at once with one line instead
    of a MemoryError (or the kernel's OOM killer) later.

    Raises
    ------
    ResourceError
        ``nbytes`` exceeds :func:`available_memory`.
    """
    if nbytes < _CHECK_FROM:
        return
    have = available_memory()
    if nbytes > have:
        from labelmap.errors import ResourceError

        raise ResourceError(
            f"{what} would need {format_bytes(nbytes)}; this machine has {format_bytes(have)} available "
            f"(the least of free memory, the address-space limit and {MEMORY_LIMIT_ENV})",
            path=path,
            keyword=keyword,
        )


def check_grid(
    shape: tuple[int, ...], itemsize: int, what: str, *, path: str | os.PathLike | None = None, copies: int = 1
) -> None:
    """:func:`check_memory` for ``copies`` arrays of ``shape`` with ``itemsize``-byte items; the
    message names the grid as ``what`` followed by the dimensions (``label volume 4000 x 512 x 512``)."""
    n = copies * itemsize
    for d in shape:
        n *= max(int(d), 0)
    if n >= _CHECK_FROM:
        check_memory(n, f"{what} {' x '.join(str(int(d)) for d in shape)}", path=path)
