"""How a SEG is written: one set of options for the encoders, the pipelines, the CLI and batch runs.

It lives with the encoders (which read it) so that every layer above can pass it down
unchanged; :mod:`labelmap.pipeline.options` offers it next to :class:`ReadOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.model import Numbering, SegType

__all__ = ["WriteOptions", "Numbering"]


@dataclass(frozen=True)
class WriteOptions:
    """How a SEG is written.

    Parameters
    ----------
    seg_type
        ``"labelmap"``, ``"binary"``, ``"fractional"`` or ``"auto"``.
    numbering
        How Segment Numbers are chosen (see :data:`labelmap.model.Numbering`).
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
    keep_absent_segments
        Write a segment whose label has no voxel in the image as an empty segment; by default
        (as dcmqi) it is left out, and the others are numbered as if it were not described.
    source_body_part
        dcmqi's rule for BodyPartExamined: a non-empty value in the source series wins over the
        JSON's; by default the JSON's value wins and the source's is used only when the JSON has none.
    tiled
        Slide SEGs: ``"full"`` (TILED_FULL: every tile, implicit order, no per-frame items) or
        ``"sparse"`` (TILED_SPARSE: empty tiles omitted, each frame's position in its items).
    tile_size
        Slide SEGs: (rows, columns) of the frames; None: the source level's tile size.
    level
        Slide SEGs: the source pyramid level (0 = largest) the labels lie on; None: the level
        whose size equals the label image's.
    pyramid
        Slide SEGs: one SEG per source level from the labels' level down, in one series with a
        Pyramid UID, downsampled by nearest neighbour in the same pass.
    tiled_compression
        Slide SEGs: the transfer syntax (a ``--compression`` name; ``"deflate"`` means Deflated
        Image Frame Compression, raw deflate per frame); None: RLE for LABELMAP and FRACTIONAL,
        native for BINARY.  ``compression`` applies to volumes only.
    deterministic_uids
        Derive every UID the writer mints (SOP Instance, Series Instance, Dimension Organization,
        Tracking, Pyramid ...) from the inputs' content, these options and labelmap's version
        instead of minting random ones, so that rerunning a conversion writes the same UIDs
        (:mod:`labelmap.pipeline.uid_seed`).  A new labelmap version gives new UIDs.
    """

    seg_type: SegType = "labelmap"
    numbering: Numbering = "auto"
    palette: bool = False
    keep_empty_slices: bool = False
    compression: str = "none"
    deflate_level: int = 6
    fractional_type: str = "probability"
    tol_mm: float = DEFAULT_TOLERANCE_MM
    force_16bit: bool = False
    keep_absent_segments: bool = False
    source_body_part: bool = False
    tiled: str = "full"
    tile_size: tuple[int, int] | None = None
    level: int | None = None
    pyramid: bool = False
    tiled_compression: str | None = None
    deterministic_uids: bool = False
