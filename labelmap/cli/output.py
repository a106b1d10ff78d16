"""What a command prints: report lines on stdout, warnings on stderr, a spinner on a terminal."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer

if TYPE_CHECKING:
    from labelmap.pipeline.reports import ReadReport, WriteReport


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
            typer.echo(message)

    def warn(self, messages: list[str]) -> None:
        """One ``warning:`` line on stderr per message."""
        if not self.quiet:
            for m in messages:
                typer.echo(f"warning: {m}", err=True)

    def status(self, message: str) -> AbstractContextManager[object]:
        """A rich spinner on stderr for a long step (only on a terminal, never when quiet)."""
        if self.quiet or not sys.stderr.isatty():
            return contextlib.nullcontext()
        from rich.console import Console

        return Console(stderr=True).status(message)

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


# --------------------------------------------------------------------------- standard streams
class _QuietFd(io.RawIOBase):
    """Writes to a file descriptor; the first failure (a reader that went away: EPIPE, a full disk
    behind ``> /dev/full``: ENOSPC, a closed descriptor: EBADF) is kept and later writes are dropped,
    so printing a report never fails the command whose work is already done."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.failure: OSError | None = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        try:
            return os.isatty(self._fd)
        except OSError:
            return False

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if self.failure is None:
            try:
                return os.write(self._fd, data)
            except OSError as exc:
                self.failure = exc
        return n


def _open_std_fds() -> None:
    """Give closed descriptors 0, 1 and 2 ``/dev/null``: otherwise the next file opened (an output
    temporary) would take the number, and anything written to "stdout" would land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _guarded(stream: TextIO | None, fd: int) -> TextIO:
    """A text stream on ``fd`` that never raises on write (see :class:`_QuietFd`), with ``stream``'s encoding."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    line_buffering = bool(getattr(stream, "line_buffering", False))
    buffered = io.BufferedWriter(_QuietFd(fd))
    return io.TextIOWrapper(
        buffered, encoding=encoding, errors="backslashreplace", line_buffering=line_buffering, write_through=True
    )


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """For a command's own process: stdout and stderr that a closed descriptor, a closed pipe
    (``| head -1``) or a full device cannot break, and no "Exception ignored ... BrokenPipeError"
    at exit.  Streams already replaced (a test's capture, an embedding program) are left alone."""
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
        yield
        return
    _open_std_fds()
    saved: tuple[TextIO | None, TextIO | None] = (sys.stdout, sys.stderr)
    with contextlib.suppress(Exception):
        for stream in saved:
            if stream is not None:
                stream.flush()
    sys.stdout, sys.stderr = _guarded(saved[0], 1), _guarded(saved[1], 2)
    try:
        yield
    finally:
        for guarded in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                guarded.flush()
        # the originals hold nothing unwritten: the interpreter's flush at exit cannot fail; a stream
        # that was None (a descriptor closed at start) is now the guarded one on /dev/null
        sys.stdout = saved[0] if saved[0] is not None else sys.stdout
        sys.stderr = saved[1] if saved[1] is not None else sys.stderr
