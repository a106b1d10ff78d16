"""Everything the rules read about one SEG, loaded and derived once: :class:`SegContext`.

:func:`load_context` reads the file (the bulk reader, or pydicom for what it refuses) and
computes the facts several rules need -- frame size and count, valid bit depth, Segment
Numbers, the per-frame plane values, positions -- each in one place.
The context is frozen: rules read it and never write to it.  The file is opened by
:func:`labelmap.seg.read.open_seg` (``lenient``), the converter's one read path, and pixel
access goes through its :class:`~labelmap.seg.pixels.PixelSource`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, NATIVE_SYNTAXES
from labelmap.errors import LabelmapError
from labelmap.seg.perframe import PerFrameTable
from labelmap.seg.pixels import PixelSource
from labelmap.seg.read import open_seg
from labelmap.seg.types import SegmentationType, SegTypeSpec, spec_for
from labelmap.validate.slide_frames import SlideFrames, is_slide, read_slide_frames, tile_ids
from labelmap.validate.values import Absent, as_int, first_item, get, items, text, upper_text

#: Files with more frames get their per-frame items checked by values only (``deep=None``).
DEEP_FRAME_LIMIT = 2000

#: The plane macros: sequence, attribute, values per frame, bulk-table column.
PLANES = (
    ("PlanePositionSequence", "ImagePositionPatient", 3, "positions"),
    ("PlaneOrientationSequence", "ImageOrientationPatient", 6, "orientations"),
    ("PixelMeasuresSequence", "PixelSpacing", 2, "pixel_spacings"),
)


class Unreadable(Exception):
    """The file cannot be read as DICOM (reported as one "cannot be read" violation)."""


@dataclass(frozen=True)
class PlaneValues:
    """One plane macro's values per frame: the per-frame ones, else the shared one."""

    values: np.ndarray  # (frames, width), NaN where neither gives a value
    per_frame: np.ndarray  # (frames,) bool: the frame's own item holds a value
    present: np.ndarray  # (frames,) bool: the frame's own item or the shared one holds a value
    shared_item: bool  # the shared functional groups hold the macro
    shared_size: int  # how many values the shared item holds (0 without one)


@dataclass(frozen=True)
class PixelLayout:
    """Where the frames are: Pixel Data's length, and its items when encapsulated."""

    present: bool
    length: int
    encapsulated: bool  # by the transfer syntax (without one: by the value's undefined length)
    stored_native: bool  # the bulk reader found a native value
    fragments: int = 0
    offsets: int = 0  # Basic Offset Table entries
    error: str | None = None  # the encapsulated items cannot be parsed


@dataclass(frozen=True)
class SegContext:
    """One SEG as the rules see it (read-only)."""

    name: str
    is_dataset: bool  # a pydicom Dataset was given, not a file
    ds: Dataset
    table: PerFrameTable | None  # per-frame values (None: no per-frame items)
    pixel_source: PixelSource  # the frames, decoded as the converter decodes them
    per_frame_items: list | None  # per-frame items read with pydicom, when they are checked one by one
    seg_type: str  # Segmentation Type as written, upper case
    spec: SegTypeSpec | None  # None: not a Segmentation Type; no rule past the SOP check runs
    transfer_syntax: str
    rows: int | None
    columns: int | None
    bits: int | None  # Bits Allocated, when valid for the type
    n_frames: int | None  # Number of Frames, when a positive integer
    shared: Dataset | None  # the Shared Functional Groups item
    tiled_full: bool
    segment_numbers: Mapping[int, int]  # Segment Number -> its Segment Sequence item (1-based), first use
    frame_segments: np.ndarray | None  # BINARY/FRACTIONAL: Referenced Segment Number per frame (0: none)
    planes: Mapping[str, PlaneValues] | None  # by attribute keyword (patient-space files with per-frame items)
    position_ids: np.ndarray | None  # per frame: index of its distinct Image Position Patient (slides: tile)
    pixel_layout: PixelLayout
    slide: bool = False  # a tiled (slide microscopy) SEG
    slide_frames: SlideFrames | None = None  # slides: Plane Position (Slide) per frame

    @property
    def type_spec(self) -> SegTypeSpec:
        """The facts of the Segmentation Type (the rules after the SOP check run only when it is known)."""
        if self.spec is None:
            raise ValueError(f"{self.name}: Segmentation Type {self.seg_type!r} is not known")
        return self.spec


def load_context(source: str | os.PathLike[str] | Dataset, name: str, deep: bool | None) -> SegContext:
    """Read ``source`` and derive the facts; raises :class:`Unreadable` when it is not readable DICOM."""
    try:
        seg = open_seg(source, lenient=True)
    except LabelmapError as exc:
        raise Unreadable(str(exc).replace(f"{name}: ", "", 1)) from None
    ds, table, pixels, pydicom_items = seg.ds, seg.table, seg.pixels.location, seg.items
    ts = text(get(getattr(ds, "file_meta", None), "TransferSyntaxUID"))
    seg_type = upper_text(ds, "SegmentationType")
    spec = spec_for(seg_type) if seg_type in SegmentationType.__members__ else None
    bits = as_int(get(ds, "BitsAllocated"))
    n_frames = as_int(get(ds, "NumberOfFrames"))
    shared = first_item(ds, "SharedFunctionalGroupsSequence")
    slide = is_slide(ds, shared)
    found = [(as_int(get(item, "SegmentNumber")), i) for i, item in enumerate(items(get(ds, "SegmentSequence")), 1)]
    numbers = {number: i for number, i in reversed(found) if number is not None}  # reversed: the first use wins
    planes = _planes(table, shared) if table is not None and not slide else None
    positions = planes["ImagePositionPatient"].values if planes is not None else None
    position_ids = None
    if positions is not None and np.isfinite(positions).all():
        # LABELMAP: one frame per position; BINARY/FRACTIONAL: one frame per (segment, position)
        position_ids = np.unique(np.round(positions, 3), axis=0, return_inverse=True)[1].reshape(-1)
    items_to_check = _items_to_check(name, table, pydicom_items, deep, ts, pixels)
    tiled_full = upper_text(ds, "DimensionOrganizationType") == "TILED_FULL"
    slide_frames = None
    if slide:
        n = table.n_frames if table is not None else None
        from_file = not isinstance(source, Dataset)
        slide_frames = read_slide_frames(name, n, items_to_check, from_file=from_file, transfer_syntax=ts)
        tile = (as_int(get(ds, "Rows")), as_int(get(ds, "Columns")))
        n = n if n is not None else as_int(get(ds, "NumberOfFrames"))
        position_ids = tile_ids(ds, slide_frames, n, tiled_full, tile)
    frame_segments = _frame_segments(table, shared, spec)
    if slide and tiled_full and frame_segments is None and position_ids is not None and spec is not None:
        # TILED_FULL BINARY/FRACTIONAL: frames grouped by segment in ascending Segment Number (C.7.6.17.3)
        ascending = sorted(v for v in numbers if v > 0)
        per_segment = int(position_ids.max()) + 1
        if spec.segment_identification and ascending and len(position_ids) == per_segment * len(ascending):
            frame_segments = np.repeat(np.array(ascending, dtype=np.int64), per_segment)
    return SegContext(
        name=name,
        is_dataset=isinstance(source, Dataset),
        ds=ds,
        table=table,
        pixel_source=seg.pixels,
        per_frame_items=items_to_check,
        seg_type=seg_type,
        spec=spec,
        transfer_syntax=ts,
        rows=as_int(get(ds, "Rows")),
        columns=as_int(get(ds, "Columns")),
        bits=bits if spec is not None and (bits is None or bits in spec.bits) else None,
        n_frames=n_frames if n_frames is not None and n_frames >= 1 else None,
        shared=shared,
        tiled_full=tiled_full,
        segment_numbers=numbers,
        frame_segments=frame_segments,
        planes=planes,
        position_ids=position_ids,
        pixel_layout=_pixel_layout(ds, pixels, ts),
        slide=slide,
        slide_frames=slide_frames,
    )


def _items_to_check(
    name: str, table: Any, pydicom_items: list | None, deep: bool | None, ts: str | None = None, location: Any = None
) -> list | None:
    """The per-frame items to check one by one: all of them up to DEEP_FRAME_LIMIT frames or with ``deep``.

    A Deflated file's items are read from the data set the bulk reader inflated in bounded pieces
    (pydicom would inflate it whole: a deflate bomb of a few MB holds gigabytes); a file of 1 GiB
    or more is not read again (the bulk reader's checks stand).
    """
    n = table.n_frames if table is not None else 0
    wanted = deep if deep is not None else (pydicom_items is not None or n <= DEEP_FRAME_LIMIT)
    if not n or not wanted:
        return None
    if pydicom_items is not None:
        return pydicom_items
    if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        buffer = getattr(location, "buffer", None)
        if buffer is None:
            return None
        from io import BytesIO

        from pydicom.filereader import read_dataset

        try:
            ds = read_dataset(BytesIO(bytes(buffer)), False, True, stop_when=lambda tag, vr, length: tag == 0x7FE00010)
            return items(get(ds, "PerFrameFunctionalGroupsSequence"))
        except Exception:
            return None
    try:
        if os.path.getsize(name) >= 1 << 30:
            return None
    except OSError:
        return None
    try:
        return items(get(pydicom.dcmread(name, stop_before_pixels=True), "PerFrameFunctionalGroupsSequence"))
    except Exception:
        return None  # the bulk reader read it; structure problems were reported there


def _frame_segments(table: Any, shared: Dataset | None, spec: SegTypeSpec | None) -> np.ndarray | None:
    """Per frame, the segment it belongs to: per-frame Segment Identification, else the shared one."""
    if table is None or spec is None or not spec.segment_identification:
        return None
    if table.segment_numbers is not None:
        return table.segment_numbers
    shared_number = as_int(get(first_item(shared, "SegmentIdentificationSequence"), "ReferencedSegmentNumber"))
    return None if shared_number is None else np.full(table.n_frames, shared_number, dtype=np.int64)


def _planes(table: Any, shared: Dataset | None) -> dict[str, PlaneValues]:
    """Position, orientation and pixel spacing per frame, merged from per-frame and shared groups."""
    n = table.n_frames
    out = {}
    for seq, kw, width, column_name in PLANES:
        shared_item = first_item(shared, seq)
        try:  # no shared item: MISSING is not a number
            shared_value = np.array([float(v) for v in np.atleast_1d(get(shared_item, kw))], dtype=float)
        except (TypeError, ValueError):
            shared_value = np.array([])
        column = getattr(table, column_name)
        values = np.full((n, width), np.nan) if column is None else np.array(column, dtype=float).reshape(n, width)
        per_frame = np.asarray(np.isfinite(values).all(axis=1))
        values[~per_frame] = np.nan  # a frame's own values count only when complete
        present = per_frame.copy()
        if shared_item is not None and shared_value.size == width:
            values[~per_frame] = shared_value
            present[:] = True
        out[kw] = PlaneValues(values, per_frame, present, shared_item is not None, int(shared_value.size))
    return out


def _pixel_layout(ds: Dataset, pixels: Any, ts: str) -> PixelLayout:
    try:  # by the transfer syntax; without one, by the value's undefined length
        encapsulated = ts not in NATIVE_SYNTAXES if ts else bool(ds["PixelData"].is_undefined_length)
    except Exception:
        encapsulated = False
    if pixels is not None:
        counts = (len(pixels.fragments), len(pixels.basic_offset_table)) if pixels.encapsulated else (0, 0)
        return PixelLayout(bool(pixels.present), int(pixels.length), encapsulated, not pixels.encapsulated, *counts)
    value = get(ds, "PixelData")
    if isinstance(value, Absent) or value is None:
        return PixelLayout(False, 0, encapsulated, False)
    if not encapsulated:
        return PixelLayout(True, len(value), encapsulated, False)
    from pydicom.encaps import parse_basic_offsets, parse_fragments

    try:
        offsets = len(parse_basic_offsets(value))
        fragments = parse_fragments(value[8 + 4 * offsets :])[0]
    except Exception as exc:
        return PixelLayout(True, len(value), encapsulated, False, error=str(exc))
    return PixelLayout(True, len(value), encapsulated, False, fragments, offsets)
