"""Read the headers of a source image series (never its pixels).

:func:`load_series` scans files and folders, keeps the DICOM images (files with
Image Plane attributes), picks one series by SeriesInstanceUID, checks that its
slices form a stack (one orientation, one in-plane size and spacing, no two
slices at one position) and sorts them along the slice normal
``row x column`` (never by InstanceNumber or file name).

:func:`series_geometry` turns the sorted stack into the regular grid it spans,
refusing stacks with missing slices or positions that are not on a line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap.dicom.dictionary import KEYWORDS
from labelmap.dicom.read import LiteDataset, NeedsPydicom, pixel_damage
from labelmap.errors import DicomFormatError, DicomSeriesError
from labelmap.model import SOURCE_ATTRIBUTES, Geometry, SourceSeries

if TYPE_CHECKING:  # headers are parsed without pydicom; it reads only the files the lite parser leaves
    from pydicom.dataset import Dataset

__all__ = ["find_dicom_files", "load_series", "series_geometry", "SliceHeader"]

_GEOMETRY_TAGS: tuple[str, ...] = tuple(
    "SOPClassUID SOPInstanceUID SeriesInstanceUID Modality SeriesNumber SeriesDescription ImagePositionPatient "
    "ImageOrientationPatient PixelSpacing Rows Columns NumberOfFrames SliceThickness".split()
)

_READ_TAGS: list[str] = list(dict.fromkeys(_GEOMETRY_TAGS + SOURCE_ATTRIBUTES))
#: the same as tag numbers, for the lite reader (which skips every other element)
_READ_TAG_NUMBERS: frozenset[int] = frozenset(KEYWORDS[k][0] for k in _READ_TAGS)

#: Orientation cosines may differ by this much between slices of one series.
ORIENTATION_TOL = 1e-4
#: Pixel spacing may differ by this much (mm) between slices of one series.
SPACING_TOL = 1e-4
#: Two slices closer than this (mm) along the normal are at the same position.
POSITION_TOL = 1e-3

#: Non-image storage classes that carry NumberOfFrames (segmentations, registrations, ...).
_NON_SOURCE_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.66"
_NON_SOURCE_MODALITIES = {"SEG", "RTSTRUCT", "SR", "REG", "KO", "PR", "RTPLAN", "RTDOSE"}


# --------------------------------------------------------------------------- file discovery
def find_dicom_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Every regular file under ``paths`` (folders walked recursively in sorted order, files kept as given).

    Non-DICOM files are not filtered here; :func:`load_series` ignores them.
    A path that does not exist raises :class:`DicomSeriesError`.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [f for f in (Path(root) / name for name in sorted(names)) if f.is_file()]
        elif path.is_file():
            files.append(path)
        else:
            raise DicomSeriesError(
                f"DICOM input {str(path)!r} does not exist; give the folder or files of the source image series"
            )
    return list(dict.fromkeys(files))


# --------------------------------------------------------------------------- header reading
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


def _floats(ds: Dataset, keyword: str, n: int) -> np.ndarray | None:
    """``n`` finite numbers, else None (absent, empty or undecodable)."""
    value = ds.get(keyword)
    try:
        arr = np.array([float(v) for v in (value if not isinstance(value, (str, bytes, float, int)) else [value])])
    except (TypeError, ValueError):  # None, "" or text that is no number
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def _int_or_none(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(ds.get(keyword))
    except (TypeError, ValueError):  # None, "" or text that is no number
        return None


def _pixel_data_problem(fp: Any, ds: Dataset, size: int) -> str | None:
    """:func:`~labelmap.dicom.read.pixel_damage` of a file read by pydicom with ``stop_before_pixels``.

    ``fp`` is positioned where pydicom stopped; deflated data sets are not checked.
    """
    pos = fp.tell()
    if pos >= size:
        return "it ends before its Pixel Data"
    try:
        syntax = ds.file_meta.TransferSyntaxUID
        if syntax.is_deflated:
            return None
        implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    except (AttributeError, ValueError):
        return None
    return pixel_damage(fp.read(12), pos, size, implicit, little)


def _read_one(path: Path) -> SliceHeader | None:
    """Header of one file, or None when it is not DICOM (or unreadable).

    Usual files (Explicit or Implicit VR Little Endian, simple character sets) are parsed by
    :func:`labelmap.dicom.read.read_image_header` (300 CT headers: 0.03 s instead of 0.15 s
    with pydicom); anything else, damaged files included, goes to pydicom as before.
    """
    from labelmap.dicom.read import read_image_header

    try:
        meta, lite, damage = read_image_header(path, _READ_TAG_NUMBERS)
        return _slice_header(path, lite, meta, damage)
    except (DicomFormatError, NeedsPydicom, OSError):
        pass
    if not _has_dicm_prefix(path):
        return None  # pydicom (without force) refuses it too; spares its import for a stray file
    import pydicom

    try:
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=_READ_TAGS)
            damage = _pixel_data_problem(fp, ds, os.fstat(fp.fileno()).st_size)
    except Exception:  # pydicom raises assorted errors on junk (InvalidDicomError, EOFError ...); never fatal
        return None
    return _slice_header(path, ds, getattr(ds, "file_meta", None), damage)


def _has_dicm_prefix(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _slice_header(path: Path, ds: Any, meta: Any, damage: str | None) -> SliceHeader | None:
    """A SliceHeader from a pydicom Dataset or a lite data set (None if its values do not decode)."""
    try:
        sop_class = str(ds.get("SOPClassUID", "") or "")
        if not sop_class and meta is not None:  # a copy truncated before SOPClassUID still names it in the meta
            sop_class = str(meta.get("MediaStorageSOPClassUID", "") or "")
        spacing = _floats(ds, "PixelSpacing", 2)
        series_number, series_description = ds.get("SeriesNumber"), ds.get("SeriesDescription")
        return SliceHeader(
            file=str(path),
            sop_class_uid=sop_class,
            sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
            series_instance_uid=str(ds.get("SeriesInstanceUID", "") or ""),
            modality=str(ds.get("Modality", "") or ""),
            series_number=None if series_number in (None, "") else str(series_number),
            series_description=None if series_description in (None, "") else str(series_description),
            position=_floats(ds, "ImagePositionPatient", 3),
            orientation=_floats(ds, "ImageOrientationPatient", 6),
            pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
            rows=_int_or_none(ds, "Rows"),
            columns=_int_or_none(ds, "Columns"),
            number_of_frames=_int_or_none(ds, "NumberOfFrames"),
            dataset=ds,
            damage=damage,
        )
    except NeedsPydicom:
        raise  # a lite value pydicom decodes leniently: read the file with pydicom
    except Exception:
        return None


def _is_multiframe_image(h: SliceHeader) -> bool:
    if h.number_of_frames is None or h.rows is None or h.columns is None:
        return False
    if h.sop_class_uid.startswith(_NON_SOURCE_SOP_PREFIX) or h.modality.upper() in _NON_SOURCE_MODALITIES:
        return False
    # Enhanced / legacy-converted multi-frame images keep their geometry in functional groups;
    # an old-style multi-frame file with top-level IPP and NumberOfFrames > 1 is multi-frame too.
    return h.position is None or h.number_of_frames > 1


def _is_single_frame_image(h: SliceHeader) -> bool:
    named = bool(h.sop_instance_uid and h.series_instance_uid)
    return named and h.position is not None and (h.number_of_frames or 0) <= 1


# --------------------------------------------------------------------------- series selection
def _describe_paths(paths: Sequence[str | os.PathLike]) -> str:
    shown = ", ".join(repr(str(p)) for p in paths[:3])
    return shown + f" and {len(paths) - 3} more" if len(paths) > 3 else shown


def _series_summary(uid: str, members: list[SliceHeader]) -> str:
    first = members[0]
    n_instances = len({h.sop_instance_uid for h in members})
    number = first.series_number if first.series_number is not None else "?"
    parts = [f"SeriesInstanceUID {uid}", f"Modality {first.modality or '?'}", f"SeriesNumber {number}"]
    if first.series_description:
        parts.append(f"SeriesDescription {first.series_description!r}")
    multi = any((h.number_of_frames or 0) > 1 or h.position is None for h in members)
    parts.append(f"{n_instances} {'multi-frame instance(s)' if multi else 'slice(s)'}")
    return "  - " + ", ".join(parts)


def load_series(paths: Sequence[str | os.PathLike], *, series_uid: str | None = None) -> SourceSeries:
    """Headers of one single-frame image series found under ``paths``, sorted along the slice normal.

    ``paths``: files and/or folders (walked recursively).  Non-DICOM files and DICOM files
    without Image Plane attributes (SR, SEG, DICOMDIR, ...) are ignored.  With several series
    present ``series_uid`` must pick one.  Raises :class:`DicomSeriesError` for no images,
    an ambiguous or absent series, multi-frame images, inconsistent slices or two slices at
    one position.  Instances with the same SOPInstanceUID are counted once.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise DicomSeriesError("no DICOM input given: pass the source series folder or files")
    # headers read one by one: parsing is CPU-bound under the GIL, threads do not pay (benchmarks/)
    files = find_dicom_files(paths)
    images: list[SliceHeader] = []
    #: DICOM files without image geometry that end before their Pixel Data (truncated copies?)
    #: or that name a series but have no ImagePositionPatient
    incomplete: list[SliceHeader] = []
    non_dicom = non_image = 0
    for h in map(_read_one, files):
        if h is None:
            non_dicom += 1
        elif _is_single_frame_image(h) or (_is_multiframe_image(h) and h.series_instance_uid):
            images.append(h)
        else:
            non_image += 1
            if h.damage is not None or (h.series_instance_uid and h.position is None):
                incomplete.append(h)
    where = _describe_paths(paths)
    if not images:
        detail = f"{len(files)} file(s) scanned"
        if files:
            detail += f": {non_dicom} not DICOM, {non_image} DICOM without image geometry"
        raise DicomSeriesError(
            f"no DICOM images were found in {where} ({detail}); give the folder holding the source series "
            "(CT, MR, ...) the labels were drawn on"
        )

    groups: dict[str, list[SliceHeader]] = {}
    for h in images:
        groups.setdefault(h.series_instance_uid, []).append(h)
    listing = "\n".join(_series_summary(uid, m) for uid, m in groups.items())
    if series_uid is None:
        if len(groups) > 1:
            raise DicomSeriesError(
                f"{len(groups)} image series were found in {where}; pass --series-uid UID "
                f"(series_uid=...) or only that series' files to choose one:\n{listing}"
            )
        series_uid = next(iter(groups))
    elif series_uid not in groups:
        raise DicomSeriesError(f"series {series_uid} was not found in {where}; the image series there are:\n{listing}")
    members = groups[series_uid]

    multi = next((h for h in members if _is_multiframe_image(h)), None)
    if multi is not None:
        raise DicomSeriesError(
            f"series {series_uid} holds multi-frame images ({multi.file!r}: NumberOfFrames "
            f"{multi.number_of_frames}, SOPClassUID {multi.sop_class_uid}); multi-frame source series are not "
            "supported yet - only single-frame series (one slice per file)"
        )

    _check_complete(series_uid, members, incomplete)

    # One instance per SOPInstanceUID (the same file copied twice is harmless).
    unique: dict[str, SliceHeader] = {}
    for h in members:
        unique.setdefault(h.sop_instance_uid, h)
    return _build_series(series_uid, list(unique.values()))


def _check_complete(series_uid: str, members: list[SliceHeader], incomplete: list[SliceHeader]) -> None:
    """Refuse a series with a truncated member, or with a truncated file of the same class beside it.

    A file cut before its geometry attributes cannot be placed in the series; left out
    silently, it would surface later as a "missing slice" far from its cause.
    """
    classes = {h.sop_class_uid for h in members}
    near = [h for h in incomplete if h.sop_class_uid in classes and h.series_instance_uid in ("", series_uid)]
    damaged = [h for h in members + near if h.damage is not None]
    unplaced = [h for h in near if h.damage is None and h.series_instance_uid == series_uid]
    if unplaced and not damaged:
        h = unplaced[0]
        more = f" (and {len(unplaced) - 1} more file(s))" if len(unplaced) > 1 else ""
        raise DicomSeriesError(
            f"DICOM file {h.file!r} of series {series_uid} has no usable ImagePositionPatient{more}, so its "
            "slice cannot be placed; fix or remove that file"
        )
    if damaged:
        h = damaged[0]
        more = f" (and {len(damaged) - 1} more damaged file(s))" if len(damaged) > 1 else ""
        raise DicomSeriesError(
            f"DICOM file {h.file!r} is damaged: {h.damage} (truncated copy?){more}; "
            "copy it again from the original or remove it from the source folder"
        )


def _build_series(series_uid: str, slices: list[SliceHeader]) -> SourceSeries:
    ref = slices[0]
    if ref.orientation is None:
        raise DicomSeriesError(f"{ref.file!r} has no usable ImageOrientationPatient")
    if ref.pixel_spacing is None:
        raise DicomSeriesError(f"{ref.file!r} has no usable PixelSpacing")
    if ref.rows is None or ref.columns is None:
        raise DicomSeriesError(f"{ref.file!r} has no Rows/Columns")
    for h in slices[1:]:
        if h.orientation is None:
            raise DicomSeriesError(f"{h.file!r} has no usable ImageOrientationPatient")
        if np.max(np.abs(h.orientation - ref.orientation)) > ORIENTATION_TOL:
            raise DicomSeriesError(
                f"slices of series {series_uid} have different orientations: {ref.file!r} has "
                f"ImageOrientationPatient {np.round(ref.orientation, 6).tolist()}, {h.file!r} has "
                f"{np.round(h.orientation, 6).tolist()}; a source series must be one stack of parallel slices - "
                "remove the files of the other orientation"
            )
        if h.rows != ref.rows or h.columns != ref.columns:
            raise DicomSeriesError(
                f"slices of series {series_uid} differ in size: {h.file!r} is {h.rows}x{h.columns} "
                f"(rows x columns), {ref.file!r} is {ref.rows}x{ref.columns}"
            )
        if h.pixel_spacing is None or np.max(np.abs(np.subtract(h.pixel_spacing, ref.pixel_spacing))) > SPACING_TOL:
            raise DicomSeriesError(
                f"slices of series {series_uid} differ in PixelSpacing: {h.file!r} has "
                f"{None if h.pixel_spacing is None else list(h.pixel_spacing)}, {ref.file!r} has "
                f"{list(ref.pixel_spacing)}"
            )

    orientation = ref.orientation.astype(np.float64)
    row, col = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(np.dot(row, col)) > 1e-3:
        raise DicomSeriesError(
            f"ImageOrientationPatient {orientation.tolist()} of {ref.file!r} is not two orthogonal unit vectors"
        )
    normal = np.cross(row, col)
    positions = np.array([h.position for h in slices], dtype=np.float64)
    dist = positions @ normal
    # Stable sort on (distance, file name) keeps the result independent of scan order.
    order = sorted(range(len(slices)), key=lambda m: (dist[m], slices[m].file))
    slices = [slices[m] for m in order]
    positions = positions[order]
    close = np.nonzero(np.diff(dist[order]) < POSITION_TOL)[0]
    if close.size:
        a, b = slices[close[0]], slices[close[0] + 1]
        raise DicomSeriesError(
            f"two instances of series {series_uid} lie at the same slice position "
            f"{np.round(a.position, 4).tolist()}: {a.file!r} and {b.file!r} (SOPInstanceUIDs "
            f"{a.sop_instance_uid} and {b.sop_instance_uid}); remove one of the two files "
            "(several phases or echoes in one series are not supported)"
        )

    first = slices[0].dataset
    elements = {first[k].tag: first[k] for k in SOURCE_ATTRIBUTES if k in first}
    if isinstance(first, LiteDataset):  # read without pydicom: keep the lite elements (encoded bytes)
        dataset: Any = LiteDataset(elements)
    else:
        from pydicom.dataset import Dataset

        dataset = Dataset()
        dataset.update(elements)
    positions.setflags(write=False)
    orientation.setflags(write=False)
    return SourceSeries(
        series_instance_uid=series_uid,
        sop_class_uids=tuple(h.sop_class_uid for h in slices),
        sop_instance_uids=tuple(h.sop_instance_uid for h in slices),
        positions=positions,
        orientation=orientation,
        pixel_spacing=(float(ref.pixel_spacing[0]), float(ref.pixel_spacing[1])),
        rows=int(ref.rows),
        columns=int(ref.columns),
        dataset=dataset,
        files=tuple(h.file for h in slices),
        frame_numbers=tuple(None for _ in slices),
    )


# --------------------------------------------------------------------------- geometry
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
