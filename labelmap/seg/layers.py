"""The input layers every Segmentation type is planned from (:class:`Layer`), and the checks of a
FRACTIONAL input, apart from the classic encoder so a LABELMAP write does not import it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelmap import kernels
from labelmap.errors import InputError, MetadataError
from labelmap.model import SegmentDescription

__all__ = ["Layer", "one_segment", "to_fractional_uint8"]


@dataclass(frozen=True, eq=False)
class Layer:
    """One input label array (already on the source grid) and the segments it holds.

    For BINARY a segment's voxels are ``array == segment.label_id``; for
    FRACTIONAL the layer holds one segment and ``array`` its uint8 values.
    """

    array: np.ndarray
    segments: tuple[SegmentDescription, ...]
    name: str = "label image"
    presence: np.ndarray | None = None  # kernels.label_presence(array)[0], when already known

    def value_presence(self) -> np.ndarray:
        """presence[k, v]: value v occurs in slice k (computed once)."""
        if self.presence is None:
            object.__setattr__(self, "presence", kernels.label_presence(self.array, source=self.name)[0])
        assert self.presence is not None
        return self.presence


def one_segment(name: str, segments: Sequence[SegmentDescription]) -> None:
    """Raise :class:`MetadataError` unless a FRACTIONAL input file describes exactly one segment."""
    if len(segments) != 1:
        raise MetadataError(
            f"{name}: a FRACTIONAL input file holds one segment, but its metadata list has {len(segments)} entries"
        )


def to_fractional_uint8(array: np.ndarray, *, source: str) -> np.ndarray:
    """Probability / occupancy values as stored: floats in [0, 1] -> round(255 p); uint8 (or ints <= 255) kept."""
    arr = np.asarray(array)
    if arr.dtype.kind == "f":
        if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1):
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            raise InputError(
                f"{source}: fractional values must lie in [0, 1], found {lo:g} .. {hi:g} (or NaN); "
                "scale the map or give uint8 0..255"
            )
        # in float64: float32 products can land exactly on .5 and round the wrong way
        return np.ascontiguousarray(np.rint(arr.astype(np.float64, copy=False) * 255.0).astype(np.uint8))
    if arr.dtype.kind in "iub":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InputError(
                f"{source}: integer fractional values must lie in 0..255, found {arr.min()} .. {arr.max()}"
            )
        return np.ascontiguousarray(arr, dtype=np.uint8)
    raise InputError(f"{source}: data type {arr.dtype} cannot hold fractional values")
