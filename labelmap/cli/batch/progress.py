"""What a batch shows while it runs: a rich bar on a terminal, a plain line every 10 % or 30 s otherwise.

Failures are printed as they happen (``failed <id>: <error>``); ``--quiet`` shows neither.
Everything goes to stderr, so stdout stays free for the summary line.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from labelmap.cli.batch.jobs import JobResult

__all__ = ["Progress"]


class Progress:
    """Counts finished jobs and shows them; ``update`` per result, ``tick`` while waiting, ``close`` at the end."""

    def __init__(self, total: int, *, quiet: bool = False, tty: bool | None = None, every_s: float = 30.0) -> None:
        self.total, self.quiet, self.every_s = total, quiet, every_s
        self.counts: Counter[str] = Counter()
        self.start = time.monotonic()
        self._last_line, self._last_decile = self.start, 0
        self._bar: Any = None
        self._task: Any = None
        if not quiet and (sys.stderr.isatty() if tty is None else tty):
            self._open_bar()

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def _open_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            # no refresh thread: local workers are forked from this process, and a thread holding the
            # terminal's lock at a fork would leave the child's copy locked; update() and tick() redraw
            auto_refresh=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("batch", total=self.total, counts=self._counts(), rate="")

    def _counts(self) -> str:
        c = self.counts
        return f"{c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped"

    def _rate(self) -> str:
        elapsed = time.monotonic() - self.start
        return f"{self.done / elapsed:.1f} jobs/s" if elapsed > 0 and self.done else ""

    def update(self, result: JobResult) -> None:
        """One more job ended (ok, failed or skipped)."""
        self.counts[result.status] += 1
        if self.quiet:
            return
        if result.status == "failed":
            self._print(f"failed {result.id}: {result.error}")
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, counts=self._counts(), rate=self._rate(), refresh=True)
        else:
            self._maybe_line()

    def tick(self) -> None:
        """Called while waiting: the bar's clock redrawn, or a plain line when 30 s passed without one."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.refresh()
        else:
            self._maybe_line()

    def _maybe_line(self) -> None:
        now = time.monotonic()
        decile = self.done * 10 // max(1, self.total)
        if decile > self._last_decile or now - self._last_line >= self.every_s:
            if self.done < self.total or now - self._last_line >= self.every_s:
                self._print(f"batch: {self.done}/{self.total} done ({self._counts()}) {self._rate()}".rstrip())
            self._last_decile, self._last_line = decile, now

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Remove the bar (the summary line follows)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
