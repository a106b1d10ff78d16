"""The options of a conversion, declared once for the Python API, the CLI and batch runs.

A pipeline function takes one :class:`WriteOptions` or :class:`ReadOptions` (plus a
:class:`Resources`) instead of re-declaring the same ten keywords; the CLI builds
them from its flags and a batch manifest from its columns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from labelmap._util.resources import Resources
from labelmap.geometry import DEFAULT_TOLERANCE_MM

__all__ = ["WriteOptions", "ReadOptions", "Resources", "SegTypeChoice", "Numbering"]

#: Segmentation Type asked for; "auto" picks LABELMAP unless segments overlap or are fractional.
SegTypeChoice = Literal["labelmap", "binary", "fractional", "auto"]
#: "label": Segment Number = label value; "sequential": 1..N; "auto": "label" when the type allows it.
Numbering = Literal["label", "sequential", "auto"]


@dataclass(frozen=True)
class WriteOptions:
    """How a SEG is written.

    Parameters
    ----------
    seg_type
        ``"labelmap"``, ``"binary"``, ``"fractional"`` or ``"auto"``.
    numbering
        How Segment Numbers are chosen (see :data:`Numbering`).
    palette
        LABELMAP only: PALETTE COLOR frames with the segments' colours.
    keep_empty_slices
        Write a frame for every slice, also where no segment has a voxel.
    compression
        A transfer syntax name of :data:`labelmap.dicom.uids.WRITABLE` (``"none"``,
        ``"deflate"``, ``"rle"``, ...).
    deflate_level
        zlib level 1-9 for ``compression="deflate"``.
    fractional_type
        ``"probability"`` or ``"occupancy"`` for FRACTIONAL.
    tol_mm
        How far (mm) a label slice may lie from its source image.
    force_16bit
        LABELMAP: 16-bit frames even when every Segment Number fits in 8 bits.
    """

    seg_type: SegTypeChoice = "labelmap"
    numbering: Numbering = "auto"
    palette: bool = False
    keep_empty_slices: bool = False
    compression: str = "none"
    deflate_level: int = 6
    fractional_type: str = "probability"
    tol_mm: float = DEFAULT_TOLERANCE_MM
    force_16bit: bool = False

    def with_(self, **changes: object) -> WriteOptions:
        """A copy with some options changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ReadOptions:
    """How a SEG is read back into label images.

    Parameters
    ----------
    fmt
        Output format name (``"nrrd"``, ``"nifti"``, ``"segnrrd"``).
    prefix
        Output file name prefix (dcmqi's ``--prefix``).
    merge_segments
        BINARY / FRACTIONAL: the fewest images of non-overlapping segments instead of one per segment.
    tol_mm
        How far (mm) a frame may lie from the reference grid.
    create_dir
        Create the output folder when it does not exist.
    """

    fmt: str = "nrrd"
    prefix: str = ""
    merge_segments: bool = False
    tol_mm: float = DEFAULT_TOLERANCE_MM
    create_dir: bool = True

    def with_(self, **changes: object) -> ReadOptions:
        """A copy with some options changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
