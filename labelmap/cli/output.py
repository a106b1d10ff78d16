"""What a command prints: report lines on stdout, warnings on stderr, a spinner on a terminal."""

from __future__ import annotations

import contextlib
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

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
            f"wrote {report.output} ({report.segmentation_type}, {report.frames} frames, {report.segments} segments, "
            f"{report.bits_allocated}-bit, {report.transfer_syntax}, {size_text(report.size_bytes)}) "
            f"in {report.seconds:.2f} s"
        )

    def wrote_labels(self, report: ReadReport) -> None:
        """The warnings and the one-line summary of a SEG read into label images."""
        self.warn(report.warnings)
        names = ", ".join(str(p) for p in report.outputs)
        self.echo(
            f"wrote {names} and {report.metadata} ({report.segments} segments, grid "
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

    if path.is_dir():
        raise OutputError(f"{flag} {str(path)!r} is a folder; give a file name such as {str(path / 'seg.dcm')!r}")
