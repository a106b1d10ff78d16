"""The unit of a batch: one manifest row as a command line, and what running it came to.

Both travel between the client and Dask workers, so they hold only strings and numbers (a
job is about 1 KB pickled; a result a few hundred bytes): never arrays, never open files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "JobResult", "STATUSES", "REPORT_COLUMNS"]

#: A job's possible ends, in the report's ``status`` column.
STATUSES = ("ok", "failed", "skipped", "cancelled")

#: The report's columns, in order.
REPORT_COLUMNS = (
    "id",
    "status",
    "seconds",
    "output",
    "output_bytes",
    "attempts",
    "worker",
    "error",
    "warnings",
    "segmentation_type",
    "frames",
    "segments",
    "transfer_syntax",
)


@dataclass(frozen=True)
class Job:
    """One manifest row, ready to run anywhere that sees the same paths.

    Parameters
    ----------
    index
        0-based position among the manifest's rows: the report keeps this order.
    id
        The row's ``id`` (``row<line>`` when the manifest has none); unique in the batch.
    command
        ``"itk2seg"`` or ``"seg2itk"``.
    argv
        The whole command line without the program name (``("itk2seg", labels..., "--dicom", ...,
        "--output", ..., batch-wide flags..., row options..., "--quiet")``): later flags win.
    output
        Absolute target: the SEG file (itk2seg) or the output folder (seg2itk).
    inputs
        Absolute input paths whose modification times ``--resume`` compares with the output's.
    line
        The row's line in the manifest file (header = 1), 0 for a discovered job.
    """

    index: int
    id: str
    command: str
    argv: tuple[str, ...]
    output: str
    inputs: tuple[str, ...]
    line: int = 0


@dataclass
class JobResult:
    """How one job ended: one report row.  ``error`` is the one line the command would print after
    ``error: ``; ``warnings`` its warning lines."""

    index: int
    id: str
    status: str
    seconds: float = 0.0
    output: str = ""
    output_bytes: int | None = None
    attempts: int = 0
    worker: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    segmentation_type: str = ""
    frames: int | None = None
    segments: int | None = None
    transfer_syntax: str = ""

    def to_row(self) -> dict[str, Any]:
        """The report row: :data:`REPORT_COLUMNS` -> value (warnings joined with `` | ``)."""
        row = {name: getattr(self, name) for name in REPORT_COLUMNS}
        row["seconds"] = round(self.seconds, 3)
        row["warnings"] = " | ".join(self.warnings)
        return row
