"""Read LABELMAP DICOM SEG datasets back into label volumes.

Frames are placed by their Image Position Patient projected on the plane
normal, never by frame number or dimension index, so files indexed either way
(highdicom: IPP; dcmqi: Stack ID + In-Stack Position) read the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap import kernels
from labelmap._util.arrays import has_duplicates
from labelmap._util.resources import check_grid
from labelmap.errors import SegFormatError, UnsupportedError
from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.model import Geometry, LabelVolume, SegmentDescription, SeriesAttributes
from labelmap.seg.read import OpenedSeg, int_value, open_seg, segment_descriptions, series_attributes
from labelmap.seg.segments import is_background

if TYPE_CHECKING:
    from highdicom.seg import Segmentation
    from pydicom.dataset import Dataset

__all__ = ["DecodedSeg", "decode_labelmap"]


@dataclass(frozen=True, eq=False)
class DecodedSeg:
    """A decoded LABELMAP SEG: the label volume (values = Segment Numbers) and its series attributes."""

    volume: LabelVolume
    series: SeriesAttributes
    segmentation_type: str
    sop_class_uid: str
    background_number: int | None
    filled_slices: int
    name: str = "SEG"
    fill_value: int = 0  # what the filled slices hold (the Pixel Padding Value, else 0)
    bits_allocated: int = 8  # of the stored frames
    notes: tuple[str, ...] = ()  # warnings for the caller's report
    #: what it was read from (the file's absolute path, or the pydicom Dataset given): see :meth:`to_highdicom`
    read_from: str | Dataset | None = None

    def to_highdicom(self, *, lazy_frame_retrieval: bool = False) -> Segmentation:
        """The same SEG as a ``highdicom.seg.Segmentation``, read by highdicom from :attr:`read_from`
        (see :func:`~labelmap.seg.highdicom_interop.to_highdicom`)."""
        from labelmap.seg.highdicom_interop import to_highdicom

        return to_highdicom(self, lazy_frame_retrieval=lazy_frame_retrieval)

    @property
    def segments(self) -> list[SegmentDescription]:
        return list(self.volume.segments)

    @property
    def geometry(self) -> Geometry:
        return self.volume.geometry

    def layers(self) -> list[list[SegmentDescription]]:
        """One layer holding every segment (a LABELMAP never overlaps)."""
        return [self.segments]

    def volume_of(self, numbers: list[int], out: np.ndarray | None = None) -> np.ndarray:
        """The label volume with only the given segments (others background); itself when all are given."""
        array = self.volume.array
        if {s.number for s in self.volume.segments} <= set(numbers):
            return array
        if out is None or out.dtype != array.dtype:
            out = np.empty_like(array)
        np.multiply(array, np.isin(array, numbers), out=out)
        return out

    def iter_segment_volumes(self) -> Iterator[tuple[SegmentDescription, np.ndarray]]:
        """Each segment's own volume, one at a time."""
        for seg in self.volume.segments:
            yield seg, self.volume_of([seg.number])


def _stack_frames(
    frames: np.ndarray, k: np.ndarray, shape: tuple[int, int, int], dtype: Any, fill: int = 0
) -> np.ndarray:
    """The volume holding frame ``i`` at slice ``k[i]``, other slices ``fill``; no copy when the frames
    already are the volume.

    Most files list every slice once, in order: the frame block itself (a file map or the
    inflated buffer) is then returned, saving a 75 MB zero-fill and scatter on a CT-sized grid.
    """
    if len(k) == shape[0]:
        order = np.argsort(k, kind="stable")
        if np.array_equal(k[order], np.arange(shape[0])):
            if np.array_equal(order, np.arange(shape[0])):
                return frames.astype(dtype, copy=False)
            return frames[order].astype(dtype, copy=False)
    check_grid(shape, np.dtype(dtype).itemsize, "label volume")
    volume = np.full(shape, fill, dtype=dtype) if fill else np.zeros(shape, dtype=dtype)
    volume[k] = frames
    return volume


def fill_value(padding: int | None, bits: int) -> int:
    """What a slice without a frame reads as: the Pixel Padding Value when the file has one that fits its
    pixels (dcmqi's rule), else 0."""
    return padding if padding is not None and 0 <= padding < (1 << bits) else 0


def decode_labelmap(
    source: str | os.PathLike[str] | Dataset | OpenedSeg,
    *,
    reference: Geometry | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    threads: int | None = None,
) -> DecodedSeg:
    """Decode a LABELMAP SEG into a volume of its stored pixel values (Segment Numbers).

    One rule for every voxel, as dcmqi reads a LABELMAP: a slice with a frame holds the frame's
    stored values unchanged (pixels equal to the Pixel Padding Value included); a slice without a
    frame holds the Pixel Padding Value when the file has one (that fits its pixels), else 0.
    Without ``reference`` the grid is the smallest one holding every frame (only interior skipped
    slices are filled); with it, the volume lies on the reference grid and every slice without a
    frame is filled.  The segment the Pixel Padding Value designates is not among the segments.
    """
    opened = source if isinstance(source, OpenedSeg) else open_seg(source)
    ds, name = opened.header, opened.name
    seg_type = str(ds.get("SegmentationType", ""))
    if seg_type != "LABELMAP":
        raise UnsupportedError(f"{name}: Segmentation Type {seg_type or '(missing)'} is not LABELMAP")
    segments = segment_descriptions(ds, name)
    background = int_value(ds, "PixelPaddingValue", name, default=None)
    bits = int_value(ds, "BitsAllocated", name, minimum=1)
    frames = opened.pixels.frames(opened.shape, bits)
    numbers = {s.number for s in segments}
    _, counts = kernels.label_presence(frames, source=name, threads=threads)
    present = np.flatnonzero(counts)
    undescribed = [int(v) for v in present if int(v) not in numbers]
    if undescribed:
        frame = int(np.flatnonzero(np.isin(frames, undescribed).reshape(len(frames), -1).any(axis=1))[0])
        raise SegFormatError(
            f"{name}: pixel values {undescribed[:10]} occur in the frames (first in frame {frame + 1}) but no "
            "Segment Sequence item describes them"
        )
    geometry, k = opened.place(reference, tol_mm)
    if has_duplicates(k):
        dup = int(np.flatnonzero(np.bincount(k) > 1)[0])
        first, second = (int(f) + 1 for f in np.flatnonzero(k == dup)[:2])
        raise SegFormatError(
            f"{name}: several frames lie at slice {dup} (frames {first} and {second}); a LABELMAP has one frame "
            "per position"
        )
    fill = fill_value(background, bits)
    out_dtype = np.uint8 if max(numbers | {0, fill}) <= 0xFF else np.uint16
    volume = _stack_frames(frames, k, geometry.shape, out_dtype, fill)
    # dcmqi's rule: only the Pixel Padding Value designates the background; a segment 0 it does not
    # designate (even one typed Background) is a regular segment, exported as labelID 0
    kept = [s for s in segments if s.number != background]
    notes: tuple[str, ...] = ()
    zero = next((s for s in kept if s.number == 0), None)
    if zero is not None:
        typed = " (typed Background)" if is_background(zero) else ""
        notes = (
            f"{name}: segment 0{typed} is a real segment but is not Pixel Padding Value; it is exported as "
            "labelID 0, as dcmqi does (its voxels are 0, like slices without a frame)",
        )
    if background is not None and fill != background and len(k) < geometry.shape[0]:
        notes += (
            f"{name}: Pixel Padding Value {background} does not fit the {bits}-bit pixels; slices without a "
            "frame are filled with 0 instead, as dcmqi does",
        )
    return DecodedSeg(
        volume=LabelVolume(volume, geometry, tuple(kept)),
        series=series_attributes(ds, defaults=False),
        segmentation_type=seg_type,
        sop_class_uid=str(ds.SOPClassUID),
        background_number=background,
        filled_slices=geometry.shape[0] - len(k),
        name=name,
        fill_value=fill,
        bits_allocated=bits,
        notes=notes,
        read_from=opened.read_from,
    )
