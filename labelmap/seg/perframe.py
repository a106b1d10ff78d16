"""The SEG per-frame items: what the readers take from them, and how the writer builds them.

Reading: :func:`read_seg_header` has the bulk reader (:mod:`labelmap.dicom.bulk`) capture the
raw values of :data:`FIELD_PATHS` from every Per-frame Functional Groups item and decodes them
into a :class:`PerFrameTable`, one row per frame.  Writing: a :class:`PerFrameSpec` holds the
few values that differ between frames and gives the whole sequence as bytes (the bulk writer)
or as pydicom Datasets (API users).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap.dicom.dictionary import PER_FRAME_GROUPS
from labelmap.errors import SegFormatError
from labelmap.seg.header import (  # re-exported: the numpy-free half lives there
    _F_BETWEEN,
    _F_DIM,
    _F_ORIENT,
    _F_POSITION,
    _F_SEGMENT,
    _F_SOP_CLASS,
    _F_SOP_FRAME,
    _F_SOP_UID,
    _F_SPACING,
    _F_THICK,
    FIELD_PATHS,
    check_header,
    int_value,
    seg_error,
    seg_errors,
)

if TYPE_CHECKING:  # the write path never loads the bulk reader, nor pydicom
    from pydicom.dataset import FileDataset
    from pydicom.sequence import Sequence as DicomSequence

    from labelmap.dicom.bulk import FileHeader, FrameValues, PixelDataInfo

__all__ = [
    "FIELD_PATHS",
    "PerFrameSpec",
    "PerFrameTable",
    "header_dataset",
    "read_seg_header",
    "seg_error",
    "seg_errors",
    "check_header",
    "int_value",
]


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True, eq=False)
class PerFrameTable:
    """What the converter needs from the Per-frame Functional Groups Sequence, one row per frame.

    Absent values: NaN in the float arrays, 0 in ``segment_numbers`` (segment numbers start
    at 1), ``None`` in the UID lists, ``()`` in ``dimension_index_values``.  A column is
    ``None`` as a whole when no frame has the attribute in its per-frame item (it is then
    usually in the Shared Functional Groups Sequence).  Only the first occurrence inside a
    frame counts (e.g. the first source image of the first derivation image).

    Built from a file by :meth:`from_values` (bulk reader captures), from pydicom per-frame
    items by :meth:`from_items`.
    """

    n_frames: int
    positions: np.ndarray  # (F, 3) float64 ImagePositionPatient
    segment_numbers: np.ndarray | None  # (F,) int64 ReferencedSegmentNumber
    orientations: np.ndarray | None  # (F, 6) float64 ImageOrientationPatient
    pixel_spacings: np.ndarray | None  # (F, 2) float64 PixelSpacing
    slice_thickness: np.ndarray | None  # (F,) float64 SliceThickness
    spacing_between_slices: np.ndarray | None  # (F,) float64 SpacingBetweenSlices
    source_instance_uids: list[str | None]  # DerivationImage > SourceImage > ReferencedSOPInstanceUID
    source_class_uids: list[str | None]  # DerivationImage > SourceImage > ReferencedSOPClassUID
    dimension_index_values: list[tuple[int, ...]] | None  # FrameContent > DimensionIndexValues
    #: DerivationImage > SourceImage > ReferencedFrameNumber (the first one; a multi-frame source's frame)
    source_frame_numbers: list[int | None] | None = None

    @classmethod
    def from_values(cls, name: str, values: FrameValues) -> PerFrameTable:
        """Decode the raw values the bulk reader captured for :data:`FIELD_PATHS`.

        Raises
        ------
        SegFormatError
            A value that does not decode (naming the file, the frame and the attribute).
        """
        n_frames, cols = values.n_frames, values.columns
        positions = _ds_column(name, "ImagePositionPatient", cols[_F_POSITION], n_frames, 3)
        if positions is None:
            positions = np.full((n_frames, 3), np.nan)
        segment_numbers = None
        entries = cols[_F_SEGMENT]
        if entries:
            if len(entries) == n_frames and all(len(v) == 2 for _, v in entries):
                segment_numbers = np.frombuffer(b"".join(v for _, v in entries), dtype="<u2").astype(np.int64)
            else:
                segment_numbers = np.zeros(n_frames, dtype=np.int64)
                for frame, value in entries:
                    if len(value) == 0:
                        continue
                    if len(value) != 2:
                        raise SegFormatError(
                            f"ReferencedSegmentNumber has {len(value)} bytes, expected 2", path=name, frame=frame + 1
                        )
                    segment_numbers[frame] = value[0] | value[1] << 8
        dims = _int_column(name, "DimensionIndexValues", cols[_F_DIM], n_frames, "<u4") if cols[_F_DIM] else None
        return cls(
            n_frames=n_frames,
            positions=positions,
            segment_numbers=segment_numbers,
            orientations=_ds_column(name, "ImageOrientationPatient", cols[_F_ORIENT], n_frames, 6),
            pixel_spacings=_ds_column(name, "PixelSpacing", cols[_F_SPACING], n_frames, 2),
            slice_thickness=_ds_column(name, "SliceThickness", cols[_F_THICK], n_frames, 1),
            spacing_between_slices=_ds_column(name, "SpacingBetweenSlices", cols[_F_BETWEEN], n_frames, 1),
            source_instance_uids=_uid_column(cols[_F_SOP_UID], n_frames),
            source_class_uids=_uid_column(cols[_F_SOP_CLASS], n_frames),
            dimension_index_values=dims,
            source_frame_numbers=_frame_number_column(cols[_F_SOP_FRAME], n_frames) if cols[_F_SOP_FRAME] else None,
        )

    @classmethod
    def from_items(cls, items: list, name: str, *, lenient: bool = False) -> PerFrameTable:
        """The table of pydicom per-frame items: what :meth:`from_values` gives from a file's bytes.

        Parameters
        ----------
        items
            Per-frame Functional Groups Sequence items (pydicom Datasets).
        name
            The SEG, for messages.
        lenient
            Values that cannot be used become absent instead of raising (for the validator).

        Raises
        ------
        SegFormatError
            Unless ``lenient``: a value with the wrong count of numbers, or a bad segment number.
        """
        from pydicom.dataset import Dataset

        n = len(items)

        def first(item: Any, path: tuple[str, ...]) -> Any:
            """The value at ``path`` in the first items of its sequences; ``_ABSENT`` when absent or undecodable."""
            node = item
            try:
                for seq in path[:-1]:
                    got = node[seq].value if seq in node else None
                    node = next((i for i in got if isinstance(i, Dataset)), None) if got is not None else None
                    if node is None:
                        return _ABSENT
                return node[path[-1]].value if path[-1] in node else _ABSENT
            except Exception:  # an undecodable value counts as absent (the validator reports it)
                return _ABSENT

        def floats(path: tuple[str, ...], width: int) -> np.ndarray | None:
            out = np.full((n, width), np.nan)
            seen = False
            for f, item in enumerate(items):
                value = first(item, path)
                if _is_empty(value):
                    continue
                seen = True
                try:
                    numbers = [float(v) for v in np.atleast_1d(value)]
                except (TypeError, ValueError):
                    if lenient:
                        continue
                    raise SegFormatError(
                        f"{name}: frame {f + 1}: {path[-1]} {value!r} is not a decimal string"
                    ) from None
                if len(numbers) == width:
                    out[f] = numbers
                elif not lenient:
                    raise SegFormatError(
                        f"{name}: frame {f + 1}: {path[-1]} has {len(numbers)} values, expected {width}"
                    )
            if not seen:
                return None
            return out if width > 1 else out[:, 0]

        numbers = np.zeros(n, dtype=np.int64)
        seen_numbers = seen_dims = False
        dims: list[tuple[int, ...]] = []
        uids: list[str | None] = []
        classes: list[str | None] = []
        frame_numbers: list[int | None] = []
        source = ("DerivationImageSequence", "SourceImageSequence")
        for f, item in enumerate(items):
            number = first(item, ("SegmentIdentificationSequence", "ReferencedSegmentNumber"))
            if number is not _ABSENT:
                seen_numbers = True
                if lenient or number in (None, ""):
                    with suppress(TypeError, ValueError):  # no usable number: 0 (absent)
                        numbers[f] = int(number)
                else:
                    keyword = "ReferencedSegmentNumber"
                    where = f" of frame {f + 1}"
                    numbers[f] = int_value({keyword: number}, keyword, name, where=where, minimum=1, maximum=0xFFFF)
            values = first(item, ("FrameContentSequence", "DimensionIndexValues"))
            if values is _ABSENT or values is None:
                dims.append(())
            else:
                seen_dims = True
                try:
                    dims.append(tuple(int(v) for v in np.atleast_1d(values)))
                except (TypeError, ValueError):
                    dims.append(())
            for column, keyword in ((uids, "ReferencedSOPInstanceUID"), (classes, "ReferencedSOPClassUID")):
                value = first(item, (*source, keyword))
                column.append(str(value).strip() or None if value not in (_ABSENT, None) else None)
            value = first(item, (*source, "ReferencedFrameNumber"))
            frame_numbers.append(None if value in (_ABSENT, None) else _frame_number(str(np.atleast_1d(value)[0])))
        positions = floats(("PlanePositionSequence", "ImagePositionPatient"), 3)
        return cls(
            n_frames=n,
            positions=positions if positions is not None else np.full((n, 3), np.nan),
            segment_numbers=numbers if seen_numbers else None,
            orientations=floats(("PlaneOrientationSequence", "ImageOrientationPatient"), 6),
            pixel_spacings=floats(("PixelMeasuresSequence", "PixelSpacing"), 2),
            slice_thickness=floats(("PixelMeasuresSequence", "SliceThickness"), 1),
            spacing_between_slices=floats(("PixelMeasuresSequence", "SpacingBetweenSlices"), 1),
            source_instance_uids=uids,
            source_class_uids=classes,
            source_frame_numbers=frame_numbers if any(v is not None for v in frame_numbers) else None,
            dimension_index_values=dims if seen_dims else None,
        )


_ABSENT: Any = object()


def _is_empty(value: Any) -> bool:
    if value is None or value is _ABSENT:
        return True
    if isinstance(value, bytes):
        return not value.strip(b" \0")
    if isinstance(value, str):
        return not value.strip(" \0")
    try:
        return len(value) == 0
    except TypeError:
        return False


def _ds_column(name: str, label: str, entries: list, n_frames: int, width: int) -> np.ndarray | None:
    """Decode DS values of ``width`` numbers per frame; NaN for frames without (or with empty) value."""
    if not entries:
        return None
    out = np.full((n_frames, width), np.nan)
    frames = [f for f, _ in entries]
    values = [v for _, v in entries]
    parts = b"\\".join(values).split(b"\\")
    if len(parts) == width * len(values):
        try:
            out[frames] = np.array(parts).astype(np.float64).reshape(len(values), width)
            return out if width > 1 else out[:, 0]
        except ValueError:
            pass  # empty or bad strings: per-frame below gives the exact message
    for frame, value in entries:
        text = value.replace(b"\x00", b" ").strip()
        if not text:
            continue
        items = text.split(b"\\")
        if len(items) != width:
            raise SegFormatError(f"{label} has {len(items)} values, expected {width}", path=name, frame=frame + 1)
        try:
            out[frame] = [float(x) for x in items]
        except ValueError:
            raise SegFormatError(f"{label} {text!r} is not a decimal string", path=name, frame=frame + 1) from None
    return out if width > 1 else out[:, 0]


def _frame_number(text: str) -> int | None:
    """The first number of a Referenced Frame Number (IS) value; None when it is not a positive integer
    (the validator reports it)."""
    try:
        number = int(text.split("\\")[0].strip(" \x00"))
    except ValueError:
        return None
    return number if number > 0 else None


def _frame_number_column(entries: list, n_frames: int) -> list[int | None]:
    out: list[int | None] = [None] * n_frames
    for frame, value in entries:
        out[frame] = _frame_number(value.decode("ascii", "replace"))
    return out


def _uid_column(entries: list, n_frames: int) -> list[str | None]:
    out: list[str | None] = [None] * n_frames
    for frame, value in entries:
        out[frame] = value.decode("ascii", "replace").rstrip("\x00 ")
    return out


def _int_column(name: str, label: str, entries: list, n_frames: int, dtype: str) -> list:
    """Per frame: a tuple of the binary integers of the value (or () when absent)."""
    size = np.dtype(dtype).itemsize
    out: list = [()] * n_frames
    lengths = {len(v) for _, v in entries}
    if len(lengths) == 1 and (n := lengths.pop()) and n % size == 0:
        arr = np.frombuffer(b"".join(v for _, v in entries), dtype=dtype).reshape(len(entries), n // size)
        for (frame, _), row in zip(entries, map(tuple, arr.tolist())):
            out[frame] = row
        return out
    for frame, value in entries:
        if len(value) % size:
            raise SegFormatError(
                f"{label} has {len(value)} bytes, not a multiple of {size}", path=name, frame=frame + 1
            )
        out[frame] = tuple(np.frombuffer(value, dtype=dtype).tolist())
    return out


@seg_errors
def read_seg_header(path: str | os.PathLike[str]) -> tuple[FileHeader, PerFrameTable, PixelDataInfo]:
    """Read a SEG file's header: (top level without per-frame groups and Pixel Data, table, pixel location).

    See :func:`labelmap.dicom.bulk.read_multiframe_header`; the Pixel Data value is never read.

    Raises
    ------
    SegFormatError
        The file is missing, damaged (naming the byte offset and what was expected) or has no
        per-frame groups.
    """
    from labelmap.dicom.bulk import read_multiframe_header

    name = str(path)
    try:
        header, values, pixel = read_multiframe_header(path, FIELD_PATHS)
    except FileNotFoundError:
        raise SegFormatError("file not found", path=name) from None
    except IsADirectoryError:
        raise SegFormatError("is a folder, expected a DICOM SEG file", path=name) from None
    if values is None:
        raise SegFormatError("no Per-frame Functional Groups Sequence (5200,9230); not a multi-frame SEG", path=name)
    return header, PerFrameTable.from_values(name, values), pixel


@seg_errors
def header_dataset(header: FileHeader) -> FileDataset:
    """``header.to_pydicom()``, its errors as :class:`SegFormatError`."""
    return header.to_pydicom()


# --------------------------------------------------------------------------- writing
def _code(value: str, scheme: str, meaning: str) -> bytes:
    """The elements of a Code Sequence item."""
    from labelmap.dicom.write import pad_text, short_element

    return (
        short_element(0x00080100, b"SH", pad_text(value))
        + short_element(0x00080102, b"SH", pad_text(scheme))
        + short_element(0x00080104, b"LO", pad_text(meaning))
    )


def _source_codes() -> tuple[bytes, bytes]:
    """The Derivation Code (CID 7203) and Purpose of Reference (CID 7202) of every source image reference,
    encoded (here, not at import: a read never encodes and never imports the writer)."""
    from labelmap.dicom.write import sequence_bytes

    return (
        sequence_bytes(0x00089215, _code("113076", "DCM", "Segmentation")),
        sequence_bytes(0x0040A170, _code("121322", "DCM", "Source image for image processing operation")),
    )


@dataclass(eq=False)
class PerFrameSpec:
    """Values of every per-frame item: slice, segment and dimension index of each frame.

    ``position_text[k]`` are the ImagePositionPatient DS strings of slice k;
    ``sources[k]`` the (SOP Class UID, SOP Instance UID, frame number or None) of its source
    image or None; a frame number (of a multi-frame source) is written as Referenced Frame Number.
    """

    frame_slices: np.ndarray
    frame_segments: np.ndarray | None
    dimension_values: np.ndarray  # (F, 1) or (F, 2) uint32
    position_text: Sequence[Sequence[str]]
    sources: Sequence[tuple[str, str, int | None] | None]

    def to_sequence(self) -> DicomSequence:
        """The Per-frame Functional Groups Sequence as pydicom Datasets, read back from :meth:`encode`."""
        from pydicom.filereader import read_dataset

        return read_dataset(BytesIO(self.encode()), False, True).PerFrameFunctionalGroupsSequence

    def encode(self) -> bytes:
        """The whole (5200,9230) element, Explicit VR Little Endian, defined lengths."""
        from labelmap.dicom.write import ITEM_BYTES, pad_text, sequence_bytes, short_element, tag_bytes

        derivation_code, purpose = _source_codes()
        per_slice: dict[int, tuple[bytes, bytes]] = {}
        dims = np.ascontiguousarray(self.dimension_values, dtype="<u4")
        n_dims = dims.shape[1]
        # FrameContentSequence, its one item and DimensionIndexValues up to the values
        content = tag_bytes(0x00209111) + b"SQ\0\0" + struct.pack("<I", 16 + 4 * n_dims) + ITEM_BYTES
        content += struct.pack("<I", 8 + 4 * n_dims) + tag_bytes(0x00209157) + b"UL" + struct.pack("<H", 4 * n_dims)
        dim_bytes = dims.tobytes()
        stride = 4 * n_dims
        segments = self.frame_segments.tolist() if self.frame_segments is not None else None
        per_segment = {  # SegmentIdentificationSequence of each segment number
            n: sequence_bytes(0x0062000A, short_element(0x0062000B, b"US", struct.pack("<H", n)))
            for n in set(segments or ())
        }
        items = []
        for f, k in enumerate(self.frame_slices.tolist()):
            head = per_slice.get(k)
            if head is None:
                src = self.sources[k]
                derivation = b""
                if src is not None:
                    source_item = (
                        short_element(0x00081150, b"UI", pad_text(src[0], b"\0"))
                        + short_element(0x00081155, b"UI", pad_text(src[1], b"\0"))
                        + (b"" if src[2] is None else short_element(0x00081160, b"IS", pad_text(str(src[2]))))
                        + short_element(0x0028135A, b"CS", b"YES ")
                        + purpose
                    )
                    derivation = sequence_bytes(0x00089124, sequence_bytes(0x00082112, source_item) + derivation_code)
                position = sequence_bytes(
                    0x00209113, short_element(0x00200032, b"DS", pad_text("\\".join(self.position_text[k])))
                )
                head = per_slice[k] = (derivation, position)
            body = head[0] + content + dim_bytes[f * stride : (f + 1) * stride] + head[1]
            if segments is not None:
                body += per_segment[segments[f]]
            items.append(ITEM_BYTES + struct.pack("<I", len(body)) + body)
        value = b"".join(items)
        return tag_bytes(PER_FRAME_GROUPS) + b"SQ\0\0" + struct.pack("<I", len(value)) + value
