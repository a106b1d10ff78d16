"""Label arrays onto the source series' grid: cropped grids (3D Slicer's crop to the segments'
extent, cropped exports) are padded with background, margins beyond the series are cut off
when they hold no label, and labels beyond the series are refused with where and how far.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelmap.errors import GeometryError
from labelmap.geometry import DEFAULT_TOLERANCE_MM, Placement, place_on_source
from labelmap.model import Geometry, SegmentDescription, SourceSeries

__all__ = ["onto_source"]

_AXES = (("slice", "image"), ("row", "row"), ("column", "column"))  # array axes k, j, i


def _no_image_data(array: np.ndarray) -> bool:
    """One background voxel: 3D Slicer's file of a segmentation without data (its geometry means nothing)."""
    return array.size == 1 and not array.reshape(-1)[0]


def onto_source(
    arrays: Sequence[np.ndarray],
    geometries: Sequence[Geometry],
    source: SourceSeries,
    *,
    names: Sequence[str],
    segments: Sequence[Sequence[SegmentDescription]] = (),
    tol_mm: float = DEFAULT_TOLERANCE_MM,
) -> tuple[Geometry, np.ndarray, list[np.ndarray]]:
    """Put label arrays (reoriented onto the source) on one grid of the source series' lattice.

    Parameters
    ----------
    arrays, geometries
        The label arrays [k, j, i] and their grids (see :func:`labelmap.geometry.reorient`).
    source
        The source series.
    names
        What to call each array in messages.
    segments
        Each array's segment descriptions (their labels name the values in messages).
    tol_mm
        How far (mm) a voxel centre may lie from the series' lattice.

    Returns
    -------
    tuple
        ``(grid, source index of each of its slices, the arrays on it)``; an array already on
        that grid is returned as it is, others are new arrays padded with 0.

    Raises
    ------
    GeometryError, SliceMatchError
        A grid off the series' lattice, or labels outside the series (which values, how many
        voxels, which slices / rows / columns and how far).
    """
    skip = [_no_image_data(a) for a in arrays]
    placement = place_on_source(geometries, source, tol_mm=tol_mm, names=names, skip=skip)
    out = []
    for m, array in enumerate(arrays):
        described = segments[m] if m < len(segments) else ()
        out.append(_onto(array, placement, m, names[m], geometries[m], described, len(source)))
    return placement.geometry, placement.source_index, out


def _onto(
    array: np.ndarray,
    placement: Placement,
    m: int,
    name: str,
    geometry: Geometry,
    segments: Sequence[SegmentDescription],
    n_source: int,
) -> np.ndarray:
    shape = placement.geometry.shape
    offset = placement.offsets[m]
    if offset is None:
        return np.zeros(shape, dtype=array.dtype)
    ok = offset[::-1]  # (k, j, i)
    if ok == (0, 0, 0) and tuple(array.shape) == shape:
        return array
    lo = [min(max(0, -o), n) for o, n in zip(ok, array.shape)]
    hi = [max(min(n, t - o), a) for o, n, t, a in zip(ok, array.shape, shape, lo)]
    inner = tuple(slice(a, b) for a, b in zip(lo, hi))
    if any(b <= a for a, b in zip(lo, hi)):
        outside_parts = [array]
    else:
        (k0, j0, i0), (k1, j1, i1) = lo, hi
        outside_parts = [
            array[:k0],
            array[k1:],
            array[k0:k1, :j0],
            array[k0:k1, j1:],
            array[k0:k1, j0:j1, :i0],
            array[k0:k1, j0:j1, i1:],
        ]
    if any(part.size and np.count_nonzero(part) for part in outside_parts):
        raise _outside_error(array, outside_parts, ok, shape, name, geometry, segments, n_source)
    out = np.zeros(shape, dtype=array.dtype)
    if all(b > a for a, b in zip(lo, hi)):
        out[tuple(slice(a + o, b + o) for a, b, o in zip(lo, hi, ok))] = array[inner]
    return out


def _ranges(values: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7" (at most 6 runs shown)."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:6])
    return text + (", ..." if len(runs) > 6 else "")


def _outside_error(
    array: np.ndarray,
    parts: Sequence[np.ndarray],
    offset: tuple[int, ...],
    shape: tuple[int, ...],
    name: str,
    geometry: Geometry,
    segments: Sequence[SegmentDescription],
    n_slices: int,
) -> GeometryError:
    """Which labels lie outside the series, how many voxels, where and how far."""
    values = np.concatenate([p[p != 0].ravel() for p in parts if p.size])
    found, counts = np.unique(values, return_counts=True)
    label_of = {s.label_id: s.display_label for s in segments}
    shown = [
        f"{v}" + (f" {label_of[v]!r}" if v in label_of else "") + f" ({c} voxel{'s' if c > 1 else ''})"
        for v, c in zip(found[:5].tolist(), counts[:5].tolist())
    ]
    labels = "label value " + ", ".join(shown) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    where = []
    spacing = geometry.spacing[::-1]  # (dk, dj, di)
    for axis, ((what, edge), o, n_target) in enumerate(zip(_AXES, offset, shape)):
        present = np.flatnonzero(array.any(axis=tuple(a for a in range(3) if a != axis)))
        before = [int(x) for x in present if x + o < 0]
        after = [int(x) for x in present if x + o >= n_target]
        for side, idx, far in (("before", before, -(min(before, default=0) + o)), ("past", after, 0)):
            if not idx:
                continue
            if side == "past":
                far = max(idx) + o - (n_target - 1)
            end = "first" if side == "before" else "last"
            where.append(
                f"{what}{'s' if len(idx) > 1 else ''} {_ranges(idx)} (up to {far} {what}{'s' if far > 1 else ''}, "
                f"{far * float(spacing[axis]):.4f} mm, {side} the series' {end} {edge})"
            )
    size = f"{array.shape[2]} x {array.shape[1]} x {array.shape[0]}"
    return GeometryError(
        f"{name}: {int(values.size)} labelled voxel(s) lie outside the source series ({labels}): label "
        + "; ".join(where)
        + f"; the label image is {size} voxels (columns x rows x slices), the series {shape[2]} x {shape[1]} x "
        f"{n_slices}; the labels were not drawn on this series, or reach beyond it - crop them to the series"
    )
