"""The frames of an Enhanced (multi-frame) CT / MR / PET source image as slices.

An Enhanced image (PS3.3 C.7.6.16, Multi-frame Functional Groups) keeps its geometry in functional
groups instead of top-level Image Plane attributes: Plane Position (Patient) per frame, Plane
Orientation (Patient) and Pixel Measures shared by all frames or given per frame.
:func:`frame_geometry` reads them with the bulk per-frame reader (:mod:`labelmap.dicom.bulk`, which
never reads the Pixel Data) and returns one position, orientation and pixel spacing per frame; the
series then treats each frame as a slice, and the SEG references it by SOP Instance UID and
Referenced Frame Number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelmap.dicom.read import NeedsPydicom
from labelmap.errors import DicomFormatError, DicomSeriesError

__all__ = ["FrameGeometry", "frame_geometry"]

_POSITION, _ORIENTATION, _SPACING = range(3)
#: per-frame field paths (sequence, leaf) -> column
_FIELDS: dict[tuple[int, ...], int] = {
    (0x00209113, 0x00200032): _POSITION,  # PlanePositionSequence > ImagePositionPatient
    (0x00209116, 0x00200037): _ORIENTATION,  # PlaneOrientationSequence > ImageOrientationPatient
    (0x00289110, 0x00280030): _SPACING,  # PixelMeasuresSequence > PixelSpacing
}
_NAMES = {
    _POSITION: "PlanePositionSequence > ImagePositionPatient",
    _ORIENTATION: "PlaneOrientationSequence > ImageOrientationPatient",
    _SPACING: "PixelMeasuresSequence > PixelSpacing",
}
_SIZES = {_POSITION: 3, _ORIENTATION: 6, _SPACING: 2}


@dataclass(frozen=True, eq=False)
class FrameGeometry:
    """Per frame f (0-based): ``positions[f]`` (3), ``orientations[f]`` (6), ``spacings[f]`` (2), in mm."""

    positions: np.ndarray
    orientations: np.ndarray
    spacings: np.ndarray


def _numbers(raw: bytes) -> list[float] | None:
    try:
        return [float(v) for v in raw.decode("latin-1").strip(" \0").split("\\")]
    except ValueError:
        return None


def _shared_value(shared: Any, sequence: str, keyword: str) -> Any:
    """``shared > sequence[0] > keyword`` of the Shared Functional Groups item, or None."""
    try:
        items = shared.get(sequence) if shared is not None else None
        return items[0].get(keyword) if items else None
    except (AttributeError, IndexError, TypeError, NeedsPydicom):
        return None


def _as_floats(value: Any) -> list[float] | None:
    if value is None or value == "":
        return None
    try:
        return [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    except (TypeError, ValueError):
        return None


def frame_geometry(path: str | os.PathLike, number_of_frames: int, dataset: Any) -> FrameGeometry:
    """Position, orientation and pixel spacing of every frame of an Enhanced image file.

    Parameters
    ----------
    path
        The multi-frame file.
    number_of_frames
        Its NumberOfFrames.
    dataset
        Its top-level header (holding SharedFunctionalGroupsSequence), lite or pydicom.

    Returns
    -------
    FrameGeometry
        One row per frame.

    Raises
    ------
    DicomSeriesError
        A damaged file, a count of per-frame items that differs from NumberOfFrames, or a frame
        without a usable position, orientation or pixel spacing (naming the frame and attribute).
    """
    from labelmap.dicom.bulk import read_multiframe_header

    name = str(path)
    try:
        _, values, _ = read_multiframe_header(path, _FIELDS)
    except DicomFormatError as exc:
        raise DicomSeriesError(
            f"DICOM file {name!r} is damaged: {exc.what}; copy it again from the original or remove it", tag=exc.tag
        ) from None
    except OSError as exc:
        raise DicomSeriesError(f"DICOM file {name!r} cannot be read: {exc.strerror or exc}") from None
    n = number_of_frames
    found = 0 if values is None else values.n_frames
    if found != n:
        raise DicomSeriesError(
            f"multi-frame image {name!r} has NumberOfFrames {n} but {found} Per-frame Functional Groups items; "
            "a frame without its own functional groups cannot be placed - the file is damaged"
        )
    assert values is not None  # found == n > 0
    columns: dict[int, np.ndarray] = {}
    for field, (sequence, keyword) in {
        _POSITION: ("PlanePositionSequence", "ImagePositionPatient"),
        _ORIENTATION: ("PlaneOrientationSequence", "ImageOrientationPatient"),
        _SPACING: ("PixelMeasuresSequence", "PixelSpacing"),
    }.items():
        size = _SIZES[field]
        out = np.full((n, size), np.nan)
        shared = _as_floats(_shared_value(_shared_groups(dataset), sequence, keyword))
        if shared is not None and len(shared) == size:
            out[:] = shared
        for frame, raw in values.columns[field]:
            got = _numbers(raw)
            if got is not None and len(got) == size:
                out[frame] = got
        bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
        if bad.size:
            f = int(bad[0])
            more = f" (nor {bad.size - 1} more frame(s))" if bad.size > 1 else ""
            raise DicomSeriesError(
                f"no usable {_NAMES[field]} in the Shared or Per-frame Functional Groups{more}, so the frame "
                "cannot be placed; fix the file or give the series as single-frame files",
                path=name,
                keyword=keyword,
                frame=f + 1,
            )
        columns[field] = out
    return FrameGeometry(columns[_POSITION], columns[_ORIENTATION], columns[_SPACING])


def _shared_groups(dataset: Any) -> Any:
    """The one item of SharedFunctionalGroupsSequence (wrapped so ``.get(sequence)`` reads below it)."""
    try:
        items = dataset.get("SharedFunctionalGroupsSequence")
        return items[0] if items else None
    except (AttributeError, IndexError, TypeError, NeedsPydicom):
        return None
