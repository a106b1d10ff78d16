"""What a conversion produced, returned to the caller (the CLI prints it, a batch run stores it).

Warnings travel here and nowhere else: the library never logs or prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WriteReport", "ReadReport", "PreviewReport"]


def _plain(value: Any) -> Any:
    """``value`` with paths as strings and tuples as lists, for JSON."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Report:
    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable values (paths as strings, tuples as lists)."""
        return {k: _plain(v) for k, v in vars(self).items()}


@dataclass
class WriteReport(_Report):
    """What a SEG write produced."""

    output: Path
    segmentation_type: str
    frames: int
    segments: int
    bits_allocated: int
    transfer_syntax: str
    size_bytes: int
    seconds: float
    skipped_slices: int
    warnings: list[str] = field(default_factory=list)
    #: slide pyramids: the files of the levels below ``output`` (level 1, 2, ...)
    pyramid_levels: list[Path] = field(default_factory=list)


@dataclass
class ReadReport(_Report):
    """What a SEG read produced."""

    outputs: list[Path]
    metadata: Path
    shape: tuple[int, int, int]
    segments: int
    filled_slices: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class PreviewReport(_Report):
    """What a preview (``labelmap-convert preview``) drew: the PNG, its size in pixels and bytes, the slices."""

    output: Path
    width: int
    height: int
    size_bytes: int
    slices: list[int]  # 0-based slice indices drawn (a slide: [0])
    segments: int  # in the legend
    seconds: float
    warnings: list[str] = field(default_factory=list)
