"""Read classic Segmentation Storage (BINARY, FRACTIONAL) frames back onto a grid.

Frames are placed by position; per-segment volumes are produced one at a time
(never one full volume per segment held together), and ``layers`` groups
non-overlapping segments first-fit in segment order, as dcmqi's
``--mergeSegments`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from labelmap._util.resources import check_grid

if TYPE_CHECKING:
    from highdicom.seg import Segmentation
    from pydicom.dataset import Dataset

from labelmap import kernels
from labelmap._util.arrays import has_duplicates, unique
from labelmap.errors import SegFormatError, UnsupportedError
from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.model import Geometry, SegmentDescription, SeriesAttributes
from labelmap.seg.read import OpenedSeg, int_value, open_seg, segment_descriptions, series_attributes

__all__ = ["ClassicSeg", "decode_classic"]


@dataclass(eq=False)
class ClassicSeg:
    """A decoded BINARY / FRACTIONAL SEG: frames placed on a grid, segments described."""

    name: str
    segmentation_type: str
    geometry: Geometry
    segments: list[SegmentDescription]  # sorted by number
    frame_slices: np.ndarray  # (F,) slice index of each frame
    frame_segments: np.ndarray  # (F,) Segment Number of each frame
    packed: np.ndarray | None  # BINARY: 1-bit stream
    frames: np.ndarray | None  # FRACTIONAL: (F, R, C) uint8
    series: SeriesAttributes
    fractional_type: str | None = None
    max_fractional_value: int | None = None
    filled_slices: int = 0
    notes: tuple[str, ...] = ()  # warnings for the caller's report
    #: what it was read from (the file's absolute path, or the pydicom Dataset given): see :meth:`to_highdicom`
    read_from: str | Dataset | None = None
    _last: tuple = field(default=(None, None), repr=False)  # (buffer, slices painted into it last)

    @property
    def npx(self) -> int:
        return self.geometry.shape[1] * self.geometry.shape[2]

    def to_highdicom(self, *, lazy_frame_retrieval: bool = False) -> Segmentation:
        """The same SEG as a ``highdicom.seg.Segmentation``, read by highdicom from :attr:`read_from`
        (see :func:`~labelmap.seg.highdicom_interop.to_highdicom`)."""
        from labelmap.seg.highdicom_interop import to_highdicom

        return to_highdicom(self, lazy_frame_retrieval=lazy_frame_retrieval)

    def overlap(self) -> kernels.Overlap:
        """Overlapping pairs of segments and their voxels, indices in ``segments`` order."""
        index = {s.number: i for i, s in enumerate(self.segments)}
        seg_idx = np.array([index[int(n)] for n in self.frame_segments], dtype=np.int64)
        packed = self.packed
        if packed is None:
            assert self.frames is not None
            packed = kernels.pack_masks(self.frames)
        return kernels.frame_overlap(packed, self.frame_slices, seg_idx, len(self.segments), self.npx)

    def layers(self) -> list[list[SegmentDescription]]:
        """Greedy first-fit groups of non-overlapping segments, in segment order."""
        if not self.segments:
            return []
        layer_of = kernels.greedy_layers(self.overlap())
        return [[s for s, m in zip(self.segments, layer_of) if m == g] for g in range(int(layer_of.max()) + 1)]

    def volume_of(self, numbers: list[int], out: np.ndarray | None = None) -> np.ndarray:
        """A volume holding the given segments: BINARY voxels = Segment Number, FRACTIONAL = stored value.

        For several FRACTIONAL segments, later segments overwrite earlier ones.
        """
        top = max(numbers) if numbers else 0
        dtype = np.uint8 if (self.frames is not None or top <= 0xFF) else np.uint16
        if out is None or out.dtype != dtype:
            check_grid(self.geometry.shape, np.dtype(dtype).itemsize, "segment volume")
            out = np.zeros(self.geometry.shape, dtype=dtype)
        elif self._last[0] is out:  # a reused buffer: clear only the slices the previous call painted
            out[self._last[1]] = 0
        else:
            out[...] = 0
        wanted = np.isin(self.frame_segments, numbers)
        self._last = (out, unique(self.frame_slices[wanted]))
        if self.packed is not None:
            frames = np.flatnonzero(wanted)
            kernels.paint_frames_subset(
                self.packed, frames, self.frame_slices[frames], self.frame_segments[frames], self.npx, out
            )
        else:
            assert self.frames is not None
            flat = out.reshape(out.shape[0], -1)
            for f in np.flatnonzero(wanted):
                frame = self.frames[f].reshape(-1)
                np.copyto(flat[self.frame_slices[f]], frame, where=frame != 0)
        return out

    def iter_segment_volumes(self) -> Iterator[tuple[SegmentDescription, np.ndarray]]:
        """Each segment's own volume, one at a time (the buffer is reused: copy to keep it)."""
        buffer: np.ndarray | None = None
        for seg in self.segments:
            buffer = self.volume_of([seg.number], buffer)
            yield seg, buffer


def decode_classic(
    source: str | os.PathLike[str] | Dataset | OpenedSeg,
    *,
    reference: Geometry | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
) -> ClassicSeg:
    """Decode a BINARY or FRACTIONAL SEG into frames placed on a grid (the frames' own, or ``reference``)."""
    opened = source if isinstance(source, OpenedSeg) else open_seg(source)
    ds, name = opened.header, opened.name
    seg_type = str(ds.get("SegmentationType", ""))
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise UnsupportedError(f"{name}: Segmentation Type {seg_type or '(missing)'} is not BINARY or FRACTIONAL")
    info = opened.info
    if info.segment_numbers is None:
        raise SegFormatError(f"{name}: frames have no Segment Identification Sequence (0062,000A)")
    segments = sorted(segment_descriptions(ds, name), key=lambda s: s.number)
    described = {s.number for s in segments}
    undescribed = sorted(set(int(n) for n in info.segment_numbers) - described)
    if undescribed:
        raise SegFormatError(
            f"{name}: frames reference segment number(s) {undescribed[:10]} that the Segment Sequence does not describe"
        )
    geometry, k = opened.place(reference, tol_mm)
    bits = int_value(ds, "BitsAllocated", name)
    packed = frames = frac_type = mfv = None
    if seg_type == "BINARY":
        if bits != 1:
            raise SegFormatError(f"{name}: a BINARY SEG must have Bits Allocated 1, found {bits}")
        packed = opened.pixels.binary_stream(opened.shape)
    else:
        if bits != 8:
            raise SegFormatError(f"{name}: a FRACTIONAL SEG must have Bits Allocated 8, found {bits}")
        frames = np.asarray(opened.pixels.frames(opened.shape, bits))
        frac_type = str(ds.get("SegmentationFractionalType", "PROBABILITY"))
        mfv = int_value(ds, "MaximumFractionalValue", name, default=255, minimum=1, maximum=255)
    # the same (segment, slice) twice would make the result depend on frame order
    key = info.segment_numbers.astype(np.int64) * (geometry.shape[0] + 1) + k
    if has_duplicates(key):
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        f1 = int(first[np.flatnonzero(counts > 1)[0]])
        f2 = int(np.flatnonzero(key == key[f1])[1])
        raise SegFormatError(
            f"{name}: frames {f1 + 1} and {f2 + 1} both hold segment {int(info.segment_numbers[f1])} at slice "
            f"{int(k[f1])}; a segment has one frame per position"
        )
    return ClassicSeg(
        name=name,
        segmentation_type=seg_type,
        geometry=geometry,
        segments=segments,
        frame_slices=k.astype(np.int64),
        frame_segments=info.segment_numbers.astype(np.int64),
        packed=packed,
        frames=frames,
        series=series_attributes(ds, defaults=False),
        fractional_type=frac_type,
        max_fractional_value=mfv,
        filled_slices=geometry.shape[0] - len(unique(k)),
        read_from=opened.read_from,
    )
