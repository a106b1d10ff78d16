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

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap.dicom.dictionary import KEYWORDS
from labelmap.dicom.read import LiteDataset, NeedsPydicom, pixel_damage
from labelmap.dicom.uids import is_uid
from labelmap.errors import DicomFormatError, DicomSeriesError
from labelmap.model import SOURCE_ATTRIBUTES, SourceSeries
from labelmap.sources.files import find_dicom_files, find_files
from labelmap.sources.grid import series_geometry
from labelmap.sources.headers import read_source_header
from labelmap.sources.slices import (
    SliceHeader,
    check_image_plane,
    check_not_sheared,
    check_single_slice_step,
    unique_instances,
    where,
)
from labelmap.sources.slide_sniff import WSI_SOP_CLASS

if TYPE_CHECKING:  # headers are parsed without pydicom; it reads only the files the lite parser leaves
    from pydicom.dataset import Dataset

__all__ = ["find_dicom_files", "load_series", "series_geometry", "SliceHeader"]

_GEOMETRY_TAGS: tuple[str, ...] = tuple(
    "SOPClassUID SOPInstanceUID SeriesInstanceUID Modality SeriesNumber SeriesDescription ImagePositionPatient "
    "ImageOrientationPatient PixelSpacing Rows Columns NumberOfFrames SliceThickness SpacingBetweenSlices "
    "GantryDetectorTilt SharedFunctionalGroupsSequence".split()
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


# --------------------------------------------------------------------------- header reading
def _floats(ds: Dataset, keyword: str, n: int) -> np.ndarray | None:
    """``n`` finite numbers, else None (absent, empty or undecodable)."""
    value = ds.get(keyword)
    try:
        numbers = [float(v) for v in (value if not isinstance(value, (str, bytes, float, int)) else [value])]
    except (TypeError, ValueError):  # None, "" or text that is no number
        return None
    # checked as Python floats: three small numpy calls per value cost more than the header's parsing
    return np.array(numbers) if len(numbers) == n and all(map(math.isfinite, numbers)) else None


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


#: what :func:`_read_one` returns for a file that cannot be opened or read (permissions, I/O error)
_UNREADABLE = "unreadable"


def _read_one(path: Path) -> SliceHeader | str | None:
    """Header of one file; None when its first bytes are not DICOM's, :data:`_UNREADABLE` when it cannot be read.

    Files are recognised from their first bytes (:mod:`labelmap.sources.headers`) and read only up
    to Pixel Data, without pydicom; pydicom reads what the lite reader leaves (unusual character
    sets, Big Endian), skipping unwanted elements by seeking.

    Raises
    ------
    DicomSeriesError
        A file that starts as DICOM but is damaged (an element longer than the file, a header cut short).
    """
    try:
        head = read_source_header(path, _READ_TAG_NUMBERS)
        if head is None:
            return None
        return _slice_header(path, head.dataset, head.meta, head.damage)
    except NeedsPydicom:
        pass
    except DicomFormatError as exc:
        raise _damaged(path, exc) from None
    except OSError:
        return _UNREADABLE
    # pydicom decodes the values; first make sure the structure is sound (every element within
    # the file, the wanted ones small), so pydicom never reads far or allocates much
    try:
        if read_source_header(path, _READ_TAG_NUMBERS, lenient=True) is None:
            return None
    except NeedsPydicom:
        pass  # Big Endian: pydicom's alone
    except DicomFormatError as exc:
        raise _damaged(path, exc) from None
    except OSError:
        return _UNREADABLE
    import pydicom

    try:
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=_READ_TAGS, force=True)
            damage = _pixel_data_problem(fp, ds, os.fstat(fp.fileno()).st_size)
    except OSError:
        return _UNREADABLE
    except Exception:  # pydicom raises assorted errors on junk (InvalidDicomError, EOFError ...); never fatal
        return None
    return _slice_header(path, ds, getattr(ds, "file_meta", None), damage)


def _damaged(path: Path, exc: DicomFormatError) -> DicomSeriesError:
    return DicomSeriesError(
        f"DICOM file {str(path)!r} is damaged: {exc.what}; copy it again from the original or remove it "
        "from the source folder",
        tag=exc.tag,
    )


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

    ``paths``: files and/or folders (walked recursively).  Non-DICOM files (recognised from their
    first bytes, never read further) and DICOM files without Image Plane attributes (SR, SEG,
    DICOMDIR, ...) are ignored.  With several series present ``series_uid`` must pick one.
    Byte-identical copies of one instance count once (with a note in ``notes``).

    Raises
    ------
    DicomSeriesError
        No images, an ambiguous or absent series, a damaged file, two different files with one
        SOPInstanceUID, inconsistent slices, zero or non-finite spacing, two slices at one
        position, a gantry-tilted (sheared) stack, multi-frame images.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise DicomSeriesError("no DICOM input given: pass the source series folder or files")
    # headers read one by one: parsing is CPU-bound under the GIL, threads do not pay (benchmarks/)
    files, special = find_files(paths)
    images: list[SliceHeader] = []
    #: DICOM files without image geometry that end before their Pixel Data (truncated copies?)
    #: or that name a series but have no ImagePositionPatient
    incomplete: list[SliceHeader] = []
    non_dicom = non_image = unreadable = slides = 0
    for f in files:
        h = _read_one(f)
        if h is None:
            non_dicom += 1
        elif isinstance(h, str):
            unreadable += 1
        elif h.sop_class_uid == WSI_SOP_CLASS:  # a slide is no volume: labelmap.sources.slide reads it
            slides += 1
        elif _is_single_frame_image(h) or (_is_multiframe_image(h) and h.series_instance_uid):
            images.append(h)
        else:
            non_image += 1
            if h.damage is not None or (h.series_instance_uid and (h.position is None or not h.sop_instance_uid)):
                incomplete.append(h)
    where = _describe_paths(paths)
    notes: list[str] = []
    if unreadable or special:
        parts = [f"{unreadable} unreadable file(s) (permissions?)"] if unreadable else []
        if special:
            parts.append(f"{special} entr(y/ies) that are not regular files (FIFOs, sockets, devices, broken links)")
        notes.append(f"ignored in the DICOM input: {' and '.join(parts)}")
    if slides:
        if not images:
            raise DicomSeriesError(
                f"{where} holds a whole-slide image ({slides} VL Whole Slide Microscopy file(s)), not a CT / MR "
                "series: a label volume needs the series it was drawn on, and a slide's labels are a 2-D image "
                "(.tif, .ome.tif, .png, .npy, 2-D .nrrd) of one pyramid level's size"
            )
        notes.append(f"ignored in the DICOM input: {slides} VL Whole Slide Microscopy file(s) (a slide, not a series)")
    if not images:
        detail = f"{len(files)} file(s) scanned"
        if files:
            detail += f": {non_dicom} not DICOM, {non_image} DICOM without image geometry"
            detail += f", {unreadable} unreadable" if unreadable else ""
        detail += f"; {special} entries that are not regular files" if special else ""
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

    members = [f for h in members for f in (_frames_of(h) if _is_multiframe_image(h) else [h])]
    _check_complete(series_uid, members, incomplete)
    unique = unique_instances(series_uid, members, notes)
    return _build_series(series_uid, unique, notes)


def _frames_of(h: SliceHeader) -> list[SliceHeader]:
    """One header per frame of an Enhanced multi-frame image (positions from its functional groups)."""
    from dataclasses import replace

    from labelmap.sources.enhanced import frame_geometry

    n = h.number_of_frames or 0
    if n < 1:
        raise DicomSeriesError(
            f"NumberOfFrames is {n}: an image needs at least one frame; fix the file or remove it from the "
            "source folder",
            path=h.file,
            keyword="NumberOfFrames",
            tag=KEYWORDS["NumberOfFrames"][0],
        )
    if h.position is not None:
        raise DicomSeriesError(
            f"{h.file!r} is a multi-frame image with one ImagePositionPatient for its {n} frames (SOPClassUID "
            f"{h.sop_class_uid}); multi-frame sources must be Enhanced images (Enhanced CT / MR / PET, with a "
            "position per frame in their Per-frame Functional Groups) - convert it to single-frame files"
        )
    g = frame_geometry(h.file, n, h.dataset)
    return [
        replace(
            h,
            position=g.positions[f],
            orientation=g.orientations[f],
            pixel_spacing=(float(g.spacings[f, 0]), float(g.spacings[f, 1])),
            frame=f + 1,
        )
        for f in range(n)
    ]


def _check_complete(series_uid: str, members: list[SliceHeader], incomplete: list[SliceHeader]) -> None:
    """Refuse a series with a truncated member, or with a truncated file of the same class beside it.

    A file cut before its geometry attributes cannot be placed in the series; left out
    silently, it would surface later as a "missing slice" far from its cause.
    """
    classes = {h.sop_class_uid for h in members}
    near = [h for h in incomplete if h.sop_class_uid in classes and h.series_instance_uid in ("", series_uid)]
    damaged = [h for h in members + near if h.damage is not None]
    unplaced = [h for h in near if h.damage is None and h.series_instance_uid == series_uid]
    unnamed = [h for h in unplaced if not h.sop_instance_uid] + [
        h for h in members if not is_uid(h.sop_instance_uid, strict=False)
    ]
    if unnamed and not damaged:
        h = unnamed[0]
        what = "no SOPInstanceUID" if not h.sop_instance_uid else f"SOPInstanceUID {h.sop_instance_uid!r:.70}"
        raise DicomSeriesError(
            f"DICOM file {h.file!r} of series {series_uid} has {what}, which is not a UID, so the SEG cannot "
            "reference its slice; fix or remove that file"
        )
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


def _frame_of_reference(h: SliceHeader) -> str:
    try:
        return str(h.dataset.get("FrameOfReferenceUID", "") or "")
    except NeedsPydicom:
        return ""


def _build_series(series_uid: str, slices: list[SliceHeader], notes: list[str] | None = None) -> SourceSeries:
    notes = [] if notes is None else notes
    planes = [check_image_plane(h) for h in slices]
    ref, plane = slices[0], planes[0]
    # the checks below on every slice at once; the loop then words the first slice that fails one
    orientations = np.array([p.orientation for p in planes], dtype=np.float64)
    spacings = np.array([p.spacing for p in planes], dtype=np.float64)
    sizes = np.array([(p.rows, p.columns) for p in planes])
    bad = (
        (np.max(np.abs(orientations - orientations[0]), axis=1) > ORIENTATION_TOL)
        | np.any(sizes != sizes[0], axis=1)
        | (np.max(np.abs(spacings - spacings[0]), axis=1) > SPACING_TOL)
    )
    first_bad = int(np.argmax(bad)) if bad.any() else len(slices)
    for h, p in zip(slices[first_bad : first_bad + 1], planes[first_bad : first_bad + 1]):
        if np.max(np.abs(p.orientation - plane.orientation)) > ORIENTATION_TOL:
            raise DicomSeriesError(
                f"slices of series {series_uid} have different orientations: {where(ref)} has "
                f"ImageOrientationPatient {np.round(plane.orientation, 6).tolist()}, {where(h)} has "
                f"{np.round(p.orientation, 6).tolist()}; a source series must be one stack of parallel slices - "
                "remove the files of the other orientation"
            )
        if (p.rows, p.columns) != (plane.rows, plane.columns):
            raise DicomSeriesError(
                f"slices of series {series_uid} differ in size: {where(h)} is {p.rows}x{p.columns} "
                f"(rows x columns), {where(ref)} is {plane.rows}x{plane.columns}"
            )
        if np.max(np.abs(np.subtract(p.spacing, plane.spacing))) > SPACING_TOL:
            raise DicomSeriesError(
                f"slices of series {series_uid} differ in PixelSpacing: {where(h)} has "
                f"{list(p.spacing)}, {where(ref)} has {list(plane.spacing)}"
            )

    orientation = np.asarray(plane.orientation, dtype=np.float64)
    row, col = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(np.dot(row, col)) > 1e-3:
        raise DicomSeriesError(
            f"ImageOrientationPatient {orientation.tolist()} of {ref.file!r} is not two orthogonal unit vectors"
        )
    normal = np.cross(row, col)
    positions = np.array([h.position for h in slices], dtype=np.float64)
    dist = positions @ normal
    # Stable sort on (distance, file name) keeps the result independent of scan order.
    along = dist.tolist()  # Python floats: the same order, without a numpy scalar per comparison
    order = sorted(range(len(slices)), key=lambda m: (along[m], slices[m].file))
    slices = [slices[m] for m in order]
    positions = positions[order]
    close = np.nonzero(np.diff(dist[order]) < POSITION_TOL)[0]
    if close.size:
        a, b = slices[close[0]], slices[close[0] + 1]
        raise DicomSeriesError(
            f"two instances of series {series_uid} lie at the same slice position "
            f"{np.round(a.position, 4).tolist()}: {where(a)} and {where(b)} (SOPInstanceUIDs "
            f"{a.sop_instance_uid} and {b.sop_instance_uid}); remove one of the two files "
            "(several phases or echoes in one series are not supported)"
        )
    check_not_sheared(series_uid, slices, positions, normal)
    if len(slices) == 1:
        check_single_slice_step(slices[0])

    first = slices[0].dataset
    keep = SOURCE_ATTRIBUTES + ("SliceThickness", "SpacingBetweenSlices")
    elements = {first[k].tag: first[k] for k in keep if k in first}
    frame_of_reference = first.get("FrameOfReferenceUID", None)
    other = next((h for h in slices[1:] if _frame_of_reference(h) != _frame_of_reference(slices[0])), None)
    if other is not None:
        notes.append(
            f"slices of series {series_uid} have different FrameOfReferenceUIDs ({where(slices[0])} and "
            f"{where(other)}): their positions may not share one coordinate system; the SEG uses the first's"
        )
    if not is_uid(frame_of_reference, strict=False):
        elements.pop(KEYWORDS["FrameOfReferenceUID"][0], None)
        what = "no FrameOfReferenceUID" if not frame_of_reference else f"FrameOfReferenceUID {frame_of_reference!r:.80}"
        notes.append(
            f"source series {series_uid} has {what} ({slices[0].file}); the SEG gets a new Frame of Reference "
            "UID (as dcmqi does), so it is not tied to the source images' patient coordinate system"
        )
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
        pixel_spacing=plane.spacing,
        rows=plane.rows,
        columns=plane.columns,
        dataset=dataset,
        files=tuple(h.file for h in slices),
        frame_numbers=tuple(h.frame for h in slices),
        notes=tuple(notes),
    )
