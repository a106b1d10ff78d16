"""Open a SEG, the one way: a file (bulk per-frame parsing, no pydicom) or a pydicom Dataset.

:func:`open_seg` gives the top level, the per-frame table (:class:`PerFrameTable`, built from
the bytes of a file or from the items of a Dataset), the Pixel Data as a
:class:`~labelmap.seg.pixels.PixelSource` and, unless ``lenient``, the frames' geometry
(:class:`FrameInfo`, built by :func:`frame_info` from the table whatever the source).  The
decoders and the validator (``lenient=True``) read through it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from labelmap.dicom.read import LiteDataset
from labelmap.dicom.uids import EXPLICIT_VR_BIG_ENDIAN
from labelmap.dicom.values import quiet_pydicom
from labelmap.errors import LabelmapError, ResourceError, SegFormatError, UnsupportedError
from labelmap.geometry import DEFAULT_TOLERANCE_MM, FrameGeometry, place
from labelmap.model import Geometry
from labelmap.seg.header import (
    check_header,
    check_sop_class,
    int_value,
    seg_errors,
    segment_descriptions,
    series_attributes,
)
from labelmap.seg.perframe import PerFrameTable, header_dataset
from labelmap.seg.pixels import DatasetPixels, FilePixels, PixelSource

if TYPE_CHECKING:  # files are read without pydicom; Datasets given by callers use it
    from pydicom.dataset import Dataset

    from labelmap.dicom.bulk import FileHeader

__all__ = ["FrameInfo", "SegFile", "OpenedSeg", "open_seg", "frame_info", "series_attributes", "segment_descriptions"]


@dataclass(frozen=True, eq=False)
class FrameInfo(FrameGeometry):
    """The frames of a SEG: their geometry, segment numbers and source images."""

    segment_numbers: np.ndarray | None = None  # (F,) Referenced Segment Number, None for LABELMAP
    source_instances: tuple[tuple[str | None, str] | None, ...] = ()  # (class UID, instance UID) per frame
    source_frames: tuple[int | None, ...] = ()  # Referenced Frame Number of a multi-frame source, per frame


@dataclass(frozen=True, eq=False)
class SegFile:
    """A SEG as read, before any SEG-level check: what the validator works on.

    ``header`` is the top level: a :class:`~labelmap.dicom.read.LiteDataset` from a file
    (pydicom Dataset when the file needs pydicom), or the Dataset given; :attr:`ds` converts it
    on demand.  ``table`` is None when there are no per-frame items; ``items`` holds them as
    pydicom Datasets when pydicom read them.
    """

    header: Any
    name: str
    table: PerFrameTable | None
    pixels: PixelSource
    items: list | None
    source: FileHeader | None  # the bulk reader's header of a file (builds the pydicom Dataset)

    @property
    def read_from(self) -> str | Dataset:
        """Where the SEG came from: the file's absolute path, or the pydicom Dataset that was given."""
        return os.path.abspath(self.name) if self.source is not None else self.header

    @cached_property
    def ds(self) -> Dataset:
        """The top level as a pydicom Dataset (built, and pydicom imported, on first use)."""
        if self.source is None or not isinstance(self.header, LiteDataset):
            return self.header
        with quiet_pydicom():  # values converted now, once and silently (pydicom warns on damage)
            ds = header_dataset(self.source)
            check_header(ds, self.name)
        return ds


@dataclass(frozen=True, eq=False)
class OpenedSeg(SegFile):
    """A SEG checked to be a Segmentation, with the geometry of its frames."""

    info: FrameInfo

    @property
    def n_frames(self) -> int:
        return len(self.info.positions)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Number of Frames, Rows, Columns) of the Pixel Data."""
        return self.n_frames, self.info.rows, self.info.columns

    def place(self, reference: Geometry | None, tol_mm: float = DEFAULT_TOLERANCE_MM) -> tuple[Geometry, np.ndarray]:
        """The grid (``reference``, or the frames' own) and each frame's slice index in it.

        Raises
        ------
        GeometryError
            When a frame does not fit the reference, or the frames lie on no regular grid.
        """
        return place(self.info, reference, tol_mm=tol_mm, source=self.name)


@overload
def open_seg(source: str | os.PathLike[str] | Dataset, *, lenient: Literal[False] = ...) -> OpenedSeg: ...
@overload
def open_seg(source: str | os.PathLike[str] | Dataset, *, lenient: Literal[True]) -> SegFile: ...
def open_seg(source: str | os.PathLike[str] | Dataset, *, lenient: bool = False) -> SegFile:
    """Open a SEG file or wrap a pydicom Dataset.

    Parameters
    ----------
    source
        A file path, or a pydicom Dataset.
    lenient
        Read whatever can be read, for the validator: no SOP Class, value or geometry checks,
        the top level as a pydicom Dataset, and files the bulk reader refuses but pydicom reads
        (Big Endian, no per-frame items) taken through pydicom.

    Returns
    -------
    OpenedSeg, or SegFile when ``lenient``.

    Raises
    ------
    SegFormatError
        Missing file, a folder, not DICOM, damaged, not a Segmentation; names the file.
    """
    pydicom = sys.modules.get("pydicom")  # not loaded: ``source`` is no pydicom Dataset
    with quiet_pydicom():
        if pydicom is None or not isinstance(source, pydicom.Dataset):
            return _from_file(str(source), lenient=lenient)
        return _from_dataset(source, str(getattr(source, "filename", None) or "SEG dataset"), lenient=lenient)


#: Files the bulk reader refused are retried with pydicom (which reads them whole) only up to this size.
_PYDICOM_RETRY_BYTES = 256 << 20
_DEFLATED = b"1.2.840.10008.1.2.1.99"


def _check_regular(name: str) -> None:
    """A FIFO or a device is refused before it is opened: reading one could block or never end."""
    import stat

    try:
        mode = os.stat(name).st_mode
    except OSError:
        return  # missing, a loop, no permission: the reader names it
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
        raise SegFormatError(f"is {kind}, not a file; expected a DICOM SEG file", path=name)


def _pydicom_may_retry(name: str) -> bool:
    """Whether pydicom may read ``name`` whole: a regular file of bounded size, not deflated
    (pydicom inflates a deflated data set at once, however large it grows)."""
    try:
        if os.path.getsize(name) > _PYDICOM_RETRY_BYTES:
            return False
        with open(name, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return _DEFLATED not in head


def _sop_class_of(name: str) -> str | None:
    """The SOP Class UID of a file the bulk reader refused, for a "not a Segmentation" error: from the
    data set when pydicom may read it, else from the file meta (Media Storage SOP Class UID)."""
    import pydicom

    try:
        if _pydicom_may_retry(name):
            head = pydicom.dcmread(name, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            return str(head.SOPClassUID) if "SOPClassUID" in head else None
        meta = pydicom.filereader.read_file_meta_info(name)
        return str(meta.MediaStorageSOPClassUID) if "MediaStorageSOPClassUID" in meta else None
    except Exception:  # pydicom raises many types on damaged files; the structural error stands
        return None


def _from_file(name: str, *, lenient: bool) -> SegFile:
    from labelmap.seg.perframe import read_seg_header

    _check_regular(name)
    try:
        source, table, location = _lenient_header(name) if lenient else read_seg_header(name)
        header = header_dataset(source) if lenient or source.ds is None else source.ds
    except ResourceError:
        raise  # pydicom would read the whole of what was refused as too large
    except LabelmapError as exc:
        return _through_pydicom(name, exc, lenient=lenient)
    except Exception as exc:  # pragma: no cover - the bulk reader should only raise SegFormatError
        if not lenient:
            raise
        return _through_pydicom(name, SegFormatError(f"{name}: {type(exc).__name__}: {exc}"), lenient=True)
    pixels = FilePixels(name, location, "ExtendedOffsetTable" in header)
    if lenient:
        return SegFile(header, name, table, pixels, None, source)
    if table is None:  # read_seg_header refuses a file without per-frame items
        raise SegFormatError("no Per-frame Functional Groups Sequence (5200,9230); not a multi-frame SEG", path=name)
    check_header(header, name)
    _check_sop_class(header, name)
    return OpenedSeg(header, name, table, pixels, None, source, frame_info(header, table, name))


@seg_errors
def _lenient_header(name: str) -> tuple[FileHeader, PerFrameTable | None, Any]:
    """:func:`read_seg_header` for the validator: a file without per-frame items (a TILED_FULL slide SEG
    may have none) gives no table instead of an error, however large or deflated it is."""
    from labelmap.dicom.bulk import read_multiframe_header
    from labelmap.seg.perframe import FIELD_PATHS

    try:
        header, values, pixel = read_multiframe_header(name, FIELD_PATHS)
    except FileNotFoundError:
        raise SegFormatError("file not found", path=name) from None
    except IsADirectoryError:
        raise SegFormatError("is a folder, expected a DICOM SEG file", path=name) from None
    return header, None if values is None else PerFrameTable.from_values(name, values), pixel


def _through_pydicom(name: str, error: LabelmapError, *, lenient: bool) -> SegFile:
    """A file the bulk reader refused: the validator takes what pydicom reads of a Big Endian file or
    one without per-frame items; otherwise a readable non-SEG file is "not a Segmentation", and
    anything else keeps the bulk reader's ``error``."""
    import pydicom

    if not lenient:
        sop = _sop_class_of(name)
        if sop:
            _check_sop_class({"SOPClassUID": sop}, name)
        raise error
    if not _pydicom_may_retry(name):
        raise error
    try:
        ds = pydicom.dcmread(name)
    except Exception:
        raise error from None
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "") or "").strip() if meta is not None else ""
    complete = "PixelData" in ds and "PerFrameFunctionalGroupsSequence" not in ds
    if ts != EXPLICIT_VR_BIG_ENDIAN and not complete:
        raise error
    return _from_dataset(ds, name, lenient=True)


def _from_dataset(ds: Dataset, name: str, *, lenient: bool) -> SegFile:
    from pydicom.dataset import Dataset

    pixels = DatasetPixels(name, ds)
    if lenient:
        try:
            items = [item for item in ds.get("PerFrameFunctionalGroupsSequence") or () if isinstance(item, Dataset)]
        except Exception:  # undecodable or not a sequence: reported by the validator
            items = []
        table = PerFrameTable.from_items(items, name, lenient=True) if items else None
        return SegFile(ds, name, table, pixels, items, None)
    check_header(ds, name, per_frame=True)
    _check_sop_class(ds, name)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None:
        raise SegFormatError(f"{name}: missing Per-frame Functional Groups Sequence (5200,9230)")
    items = list(per_frame)
    table = PerFrameTable.from_items(items, name)
    return OpenedSeg(ds, name, table, pixels, items, None, frame_info(ds, table, name))


_check_sop_class = check_sop_class


# --------------------------------------------------------------------------- per-frame values
def frame_info(header: Any, table: PerFrameTable, name: str) -> FrameInfo:
    """The frames' geometry, segment numbers and sources: per-frame values, else the shared ones.

    Parameters
    ----------
    header
        The top level (for Number of Frames, Rows, Columns and the Shared Functional Groups).
    table
        The per-frame values, from the bulk reader or :meth:`PerFrameTable.from_items`.
    name
        The SEG, for messages.

    Raises
    ------
    SegFormatError
        A frame count that does not match, a frame without position, orientation, spacing or
        (when any frame has one) segment number.
    UnsupportedError
        Frames of different orientations.
    """
    n_frames = int_value(header, "NumberOfFrames", name, default=1, minimum=1)
    if table.n_frames != n_frames:
        raise SegFormatError(
            f"{name}: Number of Frames is {n_frames} but the Per-frame Functional Groups Sequence has "
            f"{table.n_frames} items"
        )
    rows = int_value(header, "Rows", name, minimum=1, maximum=0xFFFF)
    columns = int_value(header, "Columns", name, minimum=1, maximum=0xFFFF)

    def column_or_shared(column: np.ndarray | None, seq: str, keyword: str, width: int) -> np.ndarray:
        """Each frame's own value, else the shared one."""
        out = np.full((n_frames, width), np.nan) if column is None else np.array(column, dtype=float)
        out = out.reshape(n_frames, width)
        lacking = ~np.isfinite(out).all(axis=1)
        if lacking.any():
            value = _shared_value(header, seq, keyword)
            if value.size != width and keyword == "ImagePositionPatient":
                raise _no_position(header, name, int(np.flatnonzero(lacking)[0]))
            if value.size != width:
                found = f"; the shared one has {value.size} values, expected {width}" if value.size else ""
                raise SegFormatError(f"{name}: no valid {keyword} (neither per-frame nor shared{found})")
            out[lacking] = value
        return out

    positions = column_or_shared(table.positions, "PlanePositionSequence", "ImagePositionPatient", 3)
    orientations = column_or_shared(table.orientations, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
    off = np.max(np.abs(orientations - orientations[0]), axis=1) > 1e-4
    if off.any():
        raise UnsupportedError(
            f"{name}: frame {int(np.flatnonzero(off)[0]) + 1} has a different orientation than frame 1"
        )
    spacings = column_or_shared(table.pixel_spacings, "PixelMeasuresSequence", "PixelSpacing", 2)
    spacing = (float(spacings[0, 0]), float(spacings[0, 1]))
    if not (np.isfinite(spacing).all() and min(spacing) > 0):
        raise SegFormatError(f"{name}: PixelSpacing {list(spacing)} must be two positive finite values")
    slice_spacing = None
    for column, keyword in (
        (table.spacing_between_slices, "SpacingBetweenSlices"),
        (table.slice_thickness, "SliceThickness"),
    ):
        if column is not None and np.isfinite(column[0]):
            value = np.array([float(column[0])])
        else:
            value = _shared_value(header, "PixelMeasuresSequence", keyword)
        if value.size == 1 and np.isfinite(value[0]) and value[0] > 0:
            slice_spacing = float(value[0])
            break
    seg_numbers = None
    if table.segment_numbers is not None:
        seg_numbers = np.asarray(table.segment_numbers, dtype=np.int64)
        if (seg_numbers == 0).any():
            f = int(np.flatnonzero(seg_numbers == 0)[0])
            raise SegFormatError(f"{name}: frame {f + 1} has no Referenced Segment Number")
    sources = tuple(
        (c, u) if u is not None else None for c, u in zip(table.source_class_uids, table.source_instance_uids)
    )
    frames = tuple(table.source_frame_numbers) if table.source_frame_numbers is not None else ()
    return FrameInfo(positions, orientations[0], spacing, rows, columns, slice_spacing, seg_numbers, sources, frames)


def _shared_item(header: Any, seq: str) -> Any:
    shared = header.get("SharedFunctionalGroupsSequence")
    if shared and seq in shared[0] and shared[0][seq].value:
        return shared[0][seq].value[0]
    return None


def _shared_value(header: Any, seq: str, keyword: str) -> np.ndarray:
    """The numbers of ``keyword`` in the shared ``seq`` item (empty when absent or not numbers)."""
    item = _shared_item(header, seq)
    try:
        return np.array([float(v) for v in np.atleast_1d(item.get(keyword))], dtype=float)
    except (AttributeError, TypeError, ValueError):
        return np.array([])


def _no_position(header: Any, name: str, f: int) -> SegFormatError:
    """Frame ``f`` has no position; a Dataset's per-frame items tell a missing group from a bad value."""
    items = header.get("PerFrameFunctionalGroupsSequence")
    if items and f < len(items) and not items[f].get("PlanePositionSequence"):
        if _shared_item(header, "PlanePositionSequence") is None:
            return SegFormatError(f"{name}: frame {f + 1} has no PlanePositionSequence (neither per-frame nor shared)")
    return SegFormatError(f"{name}: frame {f + 1} has no valid ImagePositionPatient")
