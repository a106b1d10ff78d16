"""One image (or frame) of a source series, and the checks its Image Plane attributes must pass.

Every rule here ends in a one-line :class:`~labelmap.errors.DicomSeriesError` naming the file and
the attribute: missing, zero or non-finite spacing or orientation, a one-slice series without a
usable thickness, two different files with one SOP Instance UID, a gantry-tilted (sheared) stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelmap.dicom.dictionary import KEYWORDS
from labelmap.dicom.read import NeedsPydicom
from labelmap.errors import DicomSeriesError

__all__ = [
    "SHEAR_TOL_DEG",
    "SHEAR_TOL_MM",
    "Plane",
    "SliceHeader",
    "check_image_plane",
    "check_not_sheared",
    "check_single_slice_step",
    "unique_instances",
    "where",
]


@dataclass
class SliceHeader:
    """What load_series needs from one image file."""

    file: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    modality: str
    series_number: str | None
    series_description: str | None
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    rows: int | None
    columns: int | None
    number_of_frames: int | None
    dataset: Any  # pydicom Dataset, or a lite.LiteDataset when read without pydicom
    #: why the file is incomplete (truncated before or inside its Pixel Data), else None
    damage: str | None = None
    #: the frame (1-based) of a multi-frame image this header stands for, else None
    frame: int | None = None


def unique_instances(series_uid: str, members: list[SliceHeader], notes: list[str]) -> list[SliceHeader]:
    """One header per SOPInstanceUID (and frame): byte-identical copies count once (noted), different
    files are an error."""
    unique: dict[tuple[str, int | None], SliceHeader] = {}
    copies = 0
    for h in members:
        first = unique.setdefault((h.sop_instance_uid, h.frame), h)
        if first is h:
            continue
        if not _same_bytes(first.file, h.file):
            raise DicomSeriesError(
                f"two different files of series {series_uid} have the same SOPInstanceUID {h.sop_instance_uid}: "
                f"{first.file!r} and {h.file!r}; a SOP Instance UID names one image, so the SEG could not tell "
                "them apart - remove the wrong file (or give it a new SOPInstanceUID)"
            )
        copies += 1
    if copies:
        notes.append(
            f"{copies} file(s) of series {series_uid} are byte-identical copies of another file (same "
            "SOPInstanceUID) and were counted once"
        )
    return list(unique.values())


def _same_bytes(a: str, b: str) -> bool:
    """Whether two files hold the same bytes (the same file reached twice included)."""
    import filecmp

    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def where(h: SliceHeader) -> str:
    """The file of a slice, and its frame for a multi-frame image."""
    return repr(h.file) if h.frame is None else f"{h.file!r} frame {h.frame}"


def _raw(h: SliceHeader, keyword: str) -> str:
    """The value of ``keyword`` in ``h`` as a short text for messages ("missing" when absent)."""
    try:
        value = h.dataset.get(keyword)
    except Exception:  # a lite value that does not decode
        return "undecodable"
    if value is None or value == "":
        return "missing" if keyword not in h.dataset else "empty"
    text = "\\".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    return repr(text[:60])


def _bad_attribute(h: SliceHeader, keyword: str, what: str) -> DicomSeriesError:
    return DicomSeriesError(
        f"{what}; fix the header of this file or remove it from the source folder",
        path=h.file,
        keyword=keyword,
        tag=KEYWORDS[keyword][0],
    )


@dataclass(frozen=True, eq=False)
class Plane:
    """The checked Image Plane attributes of one slice."""

    orientation: np.ndarray
    spacing: tuple[float, float]
    rows: int
    columns: int


def check_image_plane(h: SliceHeader) -> Plane:
    """Refuse a slice whose Image Plane attributes cannot place its pixels (absent, zero or non-finite)."""
    if h.orientation is None:
        raw = _raw(h, "ImageOrientationPatient")
        raise _bad_attribute(h, "ImageOrientationPatient", f"is {raw}: six finite direction cosines are needed")
    if h.pixel_spacing is None or not all(v > 0 for v in h.pixel_spacing):
        raw = _raw(h, "PixelSpacing")
        raise _bad_attribute(h, "PixelSpacing", f"is {raw}: pixel spacing must be two positive, finite numbers (mm)")
    for keyword, value in (("Rows", h.rows), ("Columns", h.columns)):
        if value is None or value <= 0:
            raise _bad_attribute(h, keyword, f"is {_raw(h, keyword)}: the image size must be positive")
    assert h.rows is not None and h.columns is not None  # checked just above
    return Plane(h.orientation, (float(h.pixel_spacing[0]), float(h.pixel_spacing[1])), h.rows, h.columns)


def check_single_slice_step(h: SliceHeader) -> None:
    """A single slice gets its thickness from SpacingBetweenSlices or SliceThickness: refuse zero or non-finite."""
    values = {k: _float_or_none(h.dataset, k) for k in ("SpacingBetweenSlices", "SliceThickness")}
    if any(v is not None and v > 0 and np.isfinite(v) for v in values.values()):
        return
    for keyword in ("SliceThickness", "SpacingBetweenSlices"):
        if _raw(h, keyword) not in ("missing", "empty"):
            raise _bad_attribute(
                h,
                keyword,
                f"is {_raw(h, keyword)} in a series of one slice, whose thickness it gives: it must be a "
                "positive, finite number (mm)",
            )


def _float_or_none(ds: Any, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError, NeedsPydicom):
        return float("nan")


#: A stack whose last slice lies further than this (mm) sideways of the first one's normal is sheared ...
SHEAR_TOL_MM = 0.01
#: ... when the shear angle is also above this (degrees): rounding of long stacks is not gantry tilt.
SHEAR_TOL_DEG = 0.01


def check_not_sheared(series_uid: str, slices: list[SliceHeader], positions: np.ndarray, normal: np.ndarray) -> None:
    """Refuse a gantry-tilted stack: slice positions that step sideways of the slice normal (a sheared grid).

    Neither NRRD / NIfTI label files (read as orthogonal grids) nor the frames of a SEG that
    claims to keep the source's pixel positions can hold such a grid without resampling.
    """
    if len(slices) < 2:
        return
    span = positions[-1] - positions[0]
    along = float(span @ normal)
    lateral = float(np.linalg.norm(span - along * normal))
    angle = float(np.degrees(np.arctan2(lateral, along)))
    if lateral <= SHEAR_TOL_MM or angle <= SHEAR_TOL_DEG:
        return
    tilt = next((v for v in (_float_or_none(h.dataset, "GantryDetectorTilt") for h in slices) if v), None)
    declared = f" (GantryDetectorTilt (0018,1120) is {tilt:g} degrees)" if tilt is not None else ""
    raise DicomSeriesError(
        f"series {series_uid} is gantry-tilted: its slices are sheared by {angle:.2f} degrees{declared}, each "
        f"one shifted {lateral / (len(slices) - 1):.4f} mm sideways of the slice normal ({slices[0].file!r} to "
        f"{slices[-1].file!r}); labelmap needs slices stacked along their normal (an orthogonal grid): resample "
        "the series first (e.g. 3D Slicer's DICOM import with 'Acquisition geometry regularization' set to "
        "harden the transform, then export the volume as a DICOM series) and make the labels on it"
    )
