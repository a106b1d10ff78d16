"""How far a long conversion has got: the object a caller passes down to hear it, step by step.

The library never draws anything.  A caller that wants progress passes an object with the two
methods of :class:`Progress` (``Resources(progress=...)``); every pipeline, writer and reader then
reports its steps to it at a coarse grain (per frame band, tile row, output image or 16 MB written,
never per pixel).  With None, the default, no call is made.  The command line draws a rich bar
from these calls (``labelmap/cli/output.py``); :class:`ProgressLog` records them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Progress", "ProgressLog", "Step", "BYTES"]

#: The unit of a step counted in bytes (a file being written): shown in MB.
BYTES = "bytes"


@runtime_checkable
class Progress(Protocol):
    """What a conversion reports while it runs.

    ``step`` starts a new step (the previous one is over); ``advance`` says how much more of the
    current step is done.  Calls come from the thread running the conversion, in order.
    """

    def step(self, name: str, total: int | None = None, unit: str = "frames") -> None:
        """A step begins: ``name`` says what it does (``"writing frames"``), ``total`` how many
        ``unit`` it will do (None: not counted, e.g. reading the source series' headers)."""

    def advance(self, done: int = 0, *, nbytes: int = 0) -> None:
        """``done`` more units of the current step are finished, and ``nbytes`` more bytes were
        written (to the output or its spools)."""


@dataclass
class Step:
    """One step as :class:`ProgressLog` recorded it: its name, total and unit, every cumulative
    count it reached (in order) and the bytes written during it."""

    name: str
    total: int | None
    unit: str
    counts: list[int] = field(default_factory=list)
    nbytes: int = 0

    @property
    def done(self) -> int:
        """Units done when the step ended (0 when it never advanced)."""
        return self.counts[-1] if self.counts else 0


class ProgressLog:
    """A :class:`Progress` that records every step (for tests, or a caller polling from another thread:
    :meth:`snapshot` is safe to call while the conversion runs)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._lock = threading.Lock()

    def step(self, name: str, total: int | None = None, unit: str = "frames") -> None:
        with self._lock:
            self.steps.append(Step(name, None if total is None else int(total), unit))

    def advance(self, done: int = 0, *, nbytes: int = 0) -> None:
        with self._lock:
            if not self.steps:
                raise RuntimeError("advance() before any step()")
            current = self.steps[-1]
            current.counts.append(current.done + int(done))
            current.nbytes += int(nbytes)

    def snapshot(self) -> list[Step]:
        """A copy of the steps so far."""
        with self._lock:
            return [Step(s.name, s.total, s.unit, list(s.counts), s.nbytes) for s in self.steps]

    @property
    def nbytes(self) -> int:
        """Bytes written over every step."""
        with self._lock:
            return sum(s.nbytes for s in self.steps)
