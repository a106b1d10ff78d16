"""What a command prints: report lines on stdout, warnings on stderr, a progress bar or a spinner on a terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelmap.cli.runtime import echo
from labelmap.cli.streams import guarded_streams as guarded_streams

if TYPE_CHECKING:
    from labelmap._util.progress import Progress
    from labelmap.pipeline.reports import ReadReport, WriteReport

#: Environment variable: seconds a conversion runs before its progress bar appears (default 1.0).
PROGRESS_AFTER_ENV = "LABELMAP_PROGRESS_AFTER"
_PROGRESS_AFTER_S = 1.0


def size_text(n: float) -> str:
    """``n`` bytes for people: ``512 B``, ``1.5 MB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def shown(path: object) -> str:
    """A path for a report line: as it is, or quoted (``repr``) when it holds a line break or another
    control character, so one report stays one line."""
    text = str(path)
    return text if text.isprintable() else repr(text)


class Printer:
    """Prints for one command run; ``quiet`` keeps everything but errors off the terminal.

    A plain class, not a dataclass: it is built at every CLI start and the dataclass
    machinery would add to ``--help``'s start-up.
    """

    __slots__ = ("quiet",)

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def echo(self, message: str) -> None:
        """A line on stdout."""
        if not self.quiet:
            echo(message)

    def warn(self, messages: list[str]) -> None:
        """One ``warning:`` line on stderr per message."""
        if not self.quiet:
            for m in messages:
                echo(f"warning: {m}", err=True)

    def status(self, message: str) -> AbstractContextManager[object]:
        """A rich spinner on stderr for a long step (only on a terminal, never when quiet)."""
        if self.quiet or not sys.stderr.isatty():
            return contextlib.nullcontext()
        from rich.console import Console

        return Console(stderr=True).status(message)

    def progress(self, title: str, *, tty: bool | None = None) -> AbstractContextManager[Progress | None]:
        """A progress bar on stderr for one conversion, drawn from the steps it reports, or None.

        None (so the library reports nothing) when quiet or when stderr is not a terminal (``tty``
        overrides that test); otherwise a :class:`~labelmap._util.progress.Progress` whose bar
        appears once the run has lasted ``LABELMAP_PROGRESS_AFTER`` seconds (default 1) and is
        erased when the block ends.
        """
        if self.quiet or not (sys.stderr.isatty() if tty is None else tty):
            return contextlib.nullcontext()
        return _bar(title, progress_after())

    def wrote_seg(self, report: WriteReport) -> None:
        """The warnings and the one-line summary of a SEG write."""
        self.warn(report.warnings)
        self.echo(
            f"wrote {shown(report.output)} ({report.segmentation_type}, {report.frames} frames, "
            f"{report.segments} segments, "
            f"{report.bits_allocated}-bit, {report.transfer_syntax}, {size_text(report.size_bytes)}) "
            f"in {report.seconds:.2f} s"
        )

    def wrote_labels(self, report: ReadReport) -> None:
        """The warnings and the one-line summary of a SEG read into label images."""
        self.warn(report.warnings)
        names = ", ".join(shown(p) for p in report.outputs)
        self.echo(
            f"wrote {names} and {shown(report.metadata)} ({report.segments} segments, grid "
            f"{report.shape[2]}x{report.shape[1]}x{report.shape[0]}) in {report.seconds:.2f} s"
        )


# --------------------------------------------------------------------------- progress bar
def progress_after() -> float:
    """Seconds before a progress bar appears: ``LABELMAP_PROGRESS_AFTER`` (a number >= 0), else 1."""
    text = os.environ.get(PROGRESS_AFTER_ENV, "").strip()
    try:
        value = float(text) if text else _PROGRESS_AFTER_S
    except ValueError:
        return _PROGRESS_AFTER_S
    return value if value >= 0 else _PROGRESS_AFTER_S


@contextlib.contextmanager
def _bar(title: str, after: float) -> Iterator[Progress]:
    bar = _Bar(title, after)
    try:
        yield bar
    finally:
        bar.close()


def _count_text(completed: float, total: float | None, unit: str) -> str:
    """``1,234/5,000 frames``, ``12.0/45.5 MB``, ``3 images`` (no total), or empty (nothing done, no total)."""
    from labelmap._util.progress import BYTES

    if unit == BYTES:
        mb = 1024 * 1024
        return f"{completed / mb:,.1f}/{total / mb:,.1f} MB" if total is not None else f"{completed / mb:,.1f} MB"
    if total is not None:
        return f"{int(completed):,}/{int(total):,} {unit}"
    return f"{int(completed):,} {unit}" if completed else ""


class _Bar:
    """The command line's :class:`~labelmap._util.progress.Progress`.

    Until ``after`` seconds have passed it only keeps the current step (name, total, unit, count,
    bytes): a short run imports and draws nothing.  Then a timer thread starts a rich display of
    that step (spinner, step, bar, count of total, MB written, elapsed since the start, remaining),
    which later steps replace; :meth:`close` erases it.
    """

    def __init__(self, title: str, after: float) -> None:
        self._start = time.monotonic()
        self._step: list[Any] = [title, None, "", 0, 0]  # name, total, unit, done, bytes
        self._rich: Any = None
        self._task: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._timer = threading.Timer(after, self._show)
        self._timer.daemon = True
        self._timer.start()

    def step(self, name: str, total: int | None = None, unit: str = "frames") -> None:
        with self._lock:
            self._step = [name, total, unit, 0, 0]
            if self._rich is not None:
                self._rich.remove_task(self._task)
                self._task = self._rich.add_task(name, total=total, unit=unit, nbytes=0)

    def advance(self, done: int = 0, *, nbytes: int = 0) -> None:
        with self._lock:
            self._step[3] += done
            self._step[4] += nbytes
            if self._rich is not None:
                self._rich.update(self._task, completed=self._step[3], nbytes=self._step[4])

    def _show(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._rich = _rich_progress(self._start)
            name, total, unit, done, nbytes = self._step
            self._task = self._rich.add_task(name, total=total, unit=unit, nbytes=nbytes, completed=done)
            self._rich.start()

    def close(self) -> None:
        """Stop the timer, and erase the bar if it was drawn."""
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._rich is not None:
                self._rich.stop()


def _rich_progress(start: float) -> Any:
    """A transient rich Progress on stderr with the columns of :class:`_Bar`; ``start``: the run's start."""
    from rich.console import Console
    from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    from labelmap._util.progress import BYTES

    class Count(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(_count_text(task.completed, task.total, task.fields.get("unit", "")))

    class Written(ProgressColumn):
        def render(self, task: Any) -> Text:
            n = task.fields.get("nbytes", 0)
            shown = n and task.fields.get("unit") != BYTES
            return Text(f"{size_text(n)} written" if shown else "")

    class Elapsed(ProgressColumn):  # of the whole run (a step's own elapsed time restarts with it)
        def render(self, task: Any) -> Text:
            seconds = int(time.monotonic() - start)
            return Text(f"{seconds // 60}:{seconds % 60:02d}", style="progress.elapsed")

    return RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        Count(),
        Written(),
        Elapsed(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def check_output_file(path: Path, flag: str) -> None:
    """Refuse an output file path that names an existing folder (the final rename would fail with a traceback).

    Raises
    ------
    OutputError
        ``path`` is a folder; the message names ``flag``.
    """
    from labelmap.errors import OutputError

    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):  # a name too long, a loop of links: the write reports it, naming the output
        return
    if is_dir:
        raise OutputError(f"{flag} {str(path)!r} is a folder; give a file name such as {str(path / 'seg.dcm')!r}")
