"""The regular grid a sorted source series spans (for ``seg2itk --reference``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelmap.errors import DicomSeriesError
from labelmap.model import Geometry, SourceSeries

__all__ = ["series_geometry"]


def _positive_thickness(ds: Any) -> float | None:
    """SpacingBetweenSlices, else SliceThickness, of a header when positive."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(ds.get(keyword) or 0)
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    return None


def _single_slice_thickness(series: SourceSeries) -> float:
    thickness = _positive_thickness(series.dataset) if hasattr(series.dataset, "get") else None
    if thickness is None and series.files:
        try:
            import pydicom

            tags = ["SliceThickness", "SpacingBetweenSlices"]
            thickness = _positive_thickness(
                pydicom.dcmread(series.files[0], stop_before_pixels=True, specific_tags=tags)
            )
        except Exception:  # a header pydicom cannot read: 1 mm
            pass
    return thickness or 1.0


def series_geometry(series: SourceSeries, *, tol_mm: float = 0.01) -> Geometry:
    """The regular grid spanned by a sorted series.

    Origin = first sorted position; direction columns = row cosines, column cosines and the
    unit vector from the first to the last position (not necessarily the normal: a gantry
    tilt makes the stack sheared); spacing = (PixelSpacing[1], PixelSpacing[0], mean slice step);
    shape = (slices, rows, columns).  Raises :class:`DicomSeriesError` when a slice step differs
    from the others by more than ``tol_mm`` (e.g. a missing slice) or the positions are not on
    a straight line.  A single slice gets the normal as k direction and SliceThickness (else 1 mm).
    """
    positions = np.asarray(series.positions, dtype=np.float64)
    orientation = np.asarray(series.orientation, dtype=np.float64)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    n = positions.shape[0]
    if n == 0:
        raise DicomSeriesError(f"series {series.series_instance_uid} has no slices")
    spacing_ij = (float(series.pixel_spacing[1]), float(series.pixel_spacing[0]))
    shape = (n, int(series.rows), int(series.columns))
    if n == 1:
        direction = np.column_stack([row, col, normal / np.linalg.norm(normal)])
        return Geometry(positions[0], direction, np.array([*spacing_ij, _single_slice_thickness(series)]), shape)

    steps = np.diff(positions, axis=0)
    step_len = np.linalg.norm(steps, axis=1)
    expected = float(np.median(step_len))
    if expected <= 0:
        raise DicomSeriesError(f"series {series.series_instance_uid}: slices do not advance along the normal")
    bad = np.nonzero(np.abs(step_len - expected) > tol_mm)[0]
    if bad.size:
        m = int(bad[0])
        ratio = step_len[m] / expected
        hint = f"; about {int(round(ratio)) - 1} slice(s) seem to be missing there" if ratio > 1.5 else ""
        raise DicomSeriesError(
            f"series {series.series_instance_uid} is not regularly spaced: the gap between slice "
            f"{m} and slice {m + 1} (0-based, sorted along the normal) is {step_len[m]:.4f} mm, expected "
            f"{expected:.4f} mm (tolerance {tol_mm} mm){hint} "
            f"[files {series.files[m] if series.files else '?'!r} and "
            f"{series.files[m + 1] if series.files else '?'!r}]"
        )
    total = positions[-1] - positions[0]
    length = float(np.linalg.norm(total))
    k_dir = total / length
    mean_step = length / (n - 1)
    ideal = positions[0] + np.arange(n)[:, None] * (mean_step * k_dir)[None, :]
    off = np.linalg.norm(positions - ideal, axis=1)
    worst = int(np.argmax(off))
    if off[worst] > tol_mm:
        raise DicomSeriesError(
            f"series {series.series_instance_uid}: slice positions are not on a straight line; slice "
            f"{worst} is {off[worst]:.4f} mm away from the line through the first and last slice "
            f"(tolerance {tol_mm} mm)"
        )
    direction = np.column_stack([row, col, k_dir])
    return Geometry(positions[0], direction, np.array([*spacing_ij, mean_step]), shape)
