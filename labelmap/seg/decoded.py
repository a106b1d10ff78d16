"""What reading a SEG gives, whatever its Segmentation Type: one protocol the decoders' results satisfy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from labelmap.model import Geometry, SegmentDescription, SeriesAttributes

if TYPE_CHECKING:
    from highdicom.seg import Segmentation

__all__ = ["DecodedSegmentation"]


class DecodedSegmentation(Protocol):
    """A decoded SEG: segments on a grid, read one volume at a time.

    LABELMAP results (:class:`~labelmap.seg.decode.DecodedSeg`) are one layer holding every
    segment; BINARY / FRACTIONAL results (:class:`~labelmap.seg.decode_classic.ClassicSeg`)
    group non-overlapping segments into layers first-fit.
    """

    @property
    def name(self) -> str: ...

    @property
    def segmentation_type(self) -> str:
        """ "LABELMAP", "BINARY" or "FRACTIONAL"."""
        ...

    @property
    def series(self) -> SeriesAttributes: ...

    @property
    def filled_slices(self) -> int: ...  # slices of the grid without a frame (background)

    @property
    def notes(self) -> tuple[str, ...]: ...  # warnings for the caller's report

    @property
    def segments(self) -> list[SegmentDescription]: ...

    @property
    def geometry(self) -> Geometry: ...

    @property
    def read_from(self) -> Any:
        """What the SEG was read from: the file's absolute path, or the pydicom Dataset given."""
        ...

    def to_highdicom(self, *, lazy_frame_retrieval: bool = False) -> Segmentation:
        """The same SEG as highdicom reads it from :attr:`read_from` (a ``highdicom.seg.Segmentation``)."""
        ...

    def volume_of(self, numbers: list[int], out: np.ndarray | None = None) -> np.ndarray:
        """A volume holding the given segments (voxel = Segment Number; FRACTIONAL: the stored value)."""
        ...

    def layers(self) -> list[list[SegmentDescription]]:
        """Groups of segments that do not overlap, each storable as one label volume."""
        ...

    def iter_segment_volumes(self) -> Iterator[tuple[SegmentDescription, np.ndarray]]:
        """Each segment's own volume, one at a time (a buffer may be reused: copy to keep it)."""
        ...
