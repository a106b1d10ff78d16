"""The header of a slide SEG and where its frames lie in the total pixel matrix.

:func:`read_slide_header` reads a tiled SEG's top level and per-frame positions with the bulk
reader (never a pydicom Dataset per frame) and gives a :class:`SlideHeader`: the
:class:`~labelmap.model.SlideGeometry`, the type and segments, each frame's 0-based matrix
row / column and layer, and one warning line about inconsistent positions.  TILED_FULL frames
follow the implicit order (tile column, tile row, focal plane, segment ascending); TILED_SPARSE
(or no Dimension Organization Type) frames are placed by their Plane Position (Slide)
Row/Column.  :meth:`SlideHeader.band_frames` lists the frames overlapping each band of tile
rows, built once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap.errors import DicomFormatError, SegFormatError, UnsupportedError
from labelmap.model import SegmentDescription, SeriesAttributes, SlideGeometry
from labelmap.seg.perframe import int_value, seg_error
from labelmap.seg.types import SEG_SOP_CLASSES

if TYPE_CHECKING:
    from labelmap.dicom.pixel_index import FrameLocations

__all__ = ["SLIDE_FIELDS", "SlideHeader", "read_slide_header", "slide_geometry", "DEFAULT_ORIENTATION"]

_PLANE_SLIDE = 0x0048021A
_F_ROW, _F_COL, _F_X, _F_Y, _F_SEGMENT, _F_REF_FRAME, _F_SPACING = range(7)
#: per-frame field paths read by the bulk reader -> column
SLIDE_FIELDS: dict[tuple[int, ...], int] = {
    (_PLANE_SLIDE, 0x0048021F): _F_ROW,  # Plane Position (Slide) > Row Position In Total Image Pixel Matrix
    (_PLANE_SLIDE, 0x0048021E): _F_COL,  # ... > Column Position In Total Image Pixel Matrix
    (_PLANE_SLIDE, 0x0040072A): _F_X,  # ... > X Offset In Slide Coordinate System (mm)
    (_PLANE_SLIDE, 0x0040073A): _F_Y,  # ... > Y Offset In Slide Coordinate System (mm)
    (0x0062000A, 0x0062000B): _F_SEGMENT,  # Segment Identification > Referenced Segment Number
    (0x00089124, 0x00082112, 0x00081160): _F_REF_FRAME,  # Derivation Image > Source Image > Referenced Frame Number
    (0x00289110, 0x00280030): _F_SPACING,  # Pixel Measures > Pixel Spacing
}
#: Image Orientation (Slide) assumed when a file has none (the model's default: highdicom's sm_image).
DEFAULT_ORIENTATION = (0.0, -1.0, 0.0, -1.0, 0.0, 0.0)
#: X/Y offsets may differ from the Row/Column placement by this fraction of a pixel.
POSITION_TOLERANCE_PX = 0.5


@dataclass(frozen=True, eq=False)
class SlideHeader:
    """A slide SEG's header: geometry, type, segments and where each frame goes.

    ``frame_rows`` / ``frame_columns`` are each frame's 0-based top-left pixel in the matrix,
    ``frame_layers`` its layer (0 for LABELMAP; else the index of its segment in ``segments``,
    which are sorted by number).
    """

    name: str
    header: Any  # the top level: LiteDataset (pydicom Dataset for unusual character sets)
    geometry: SlideGeometry
    seg_type: str
    segments: tuple[SegmentDescription, ...]
    bits: int
    n_frames: int
    organization: str  # "TILED_FULL", "TILED_SPARSE" or "" (absent: sparse semantics)
    frame_rows: np.ndarray
    frame_columns: np.ndarray
    frame_layers: np.ndarray
    series: SeriesAttributes
    pixel_padding_value: int | None = None
    warnings: tuple[str, ...] = ()
    pixels: FrameLocations | None = None  # where the frames are (set by read_slide_header)

    @property
    def layers(self) -> int:
        """1 for LABELMAP; one per segment for BINARY / FRACTIONAL."""
        return 1 if self.seg_type == "LABELMAP" else len(self.segments)

    @property
    def tiled_full(self) -> bool:
        return self.organization == "TILED_FULL"

    @cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        """(frames sorted by (layer, band, frame number), start of each (layer, band) in it)."""
        tr, bands = self.geometry.tile_rows, self.geometry.tiles_down
        first = self.frame_rows // tr
        last = np.minimum((self.frame_rows + tr - 1) // tr, bands - 1)
        span = last - first + 1
        frames = np.repeat(np.arange(self.n_frames, dtype=np.int64), span)
        offsets = np.arange(len(frames)) - np.repeat(np.cumsum(span) - span, span)
        band = np.repeat(first, span) + offsets
        key = np.repeat(self.frame_layers.astype(np.int64), span) * bands + band
        order = np.lexsort((frames, key))
        starts = np.searchsorted(key[order], np.arange(self.layers * bands + 1))
        return frames[order], starts

    def band_frames(self, layer: int, band: int) -> np.ndarray:
        """Frame indices (0-based, in frame order) overlapping rows of ``band`` (tile row) in ``layer``."""
        if self.tiled_full:  # the implicit order: one frame per tile, contiguous
            ta = self.geometry.tiles_across
            first = (layer * self.geometry.tiles_down + band) * ta
            return np.arange(first, first + ta, dtype=np.int64)
        frames, starts = self._index
        k = layer * self.geometry.tiles_down + band
        return frames[starts[k] : starts[k + 1]]


def read_slide_header(path: str | os.PathLike[str]) -> SlideHeader:
    """Read a slide SEG's header, frame positions and where its frames are (never the Pixel Data itself).

    Raises
    ------
    SegFormatError
        Not a readable SEG, not tiled (no Total Pixel Matrix), inconsistent frame counts or
        positions, frames outside the matrix; one line naming the file and the frame.
    UnsupportedError
        Several focal planes.
    """
    from labelmap.dicom.bulk import read_header_before_pixels, read_multiframe_header
    from labelmap.dicom.pixel_index import frames_in_buffer, locate_frames
    from labelmap.dicom.read import NeedsPydicom
    from labelmap.seg.perframe import header_dataset

    name = str(path)
    try:
        try:
            source, values, pixel_pos = read_header_before_pixels(path, SLIDE_FIELDS)
            pixel_info = None
        except NeedsPydicom:  # a Deflated data set: inflated in bounded pieces, pixel data kept
            source, values, pixel_info = read_multiframe_header(path, SLIDE_FIELDS)
        ds = source.ds if source.ds is not None else header_dataset(source)
        head = _parse(ds, name, values)
        eot = ds.get("ExtendedOffsetTable")
        eot = bytes(eot) if isinstance(eot, (bytes, bytearray, memoryview)) else None
        if pixel_info is None:
            pixels = locate_frames(name, pixel_pos, source.implicit, source.transfer_syntax, head.n_frames, eot)
        else:
            pixels = frames_in_buffer(pixel_info, head.n_frames, eot)
    except FileNotFoundError:
        raise SegFormatError("file not found", path=name) from None
    except IsADirectoryError:
        raise SegFormatError("is a folder, expected a DICOM SEG file", path=name) from None
    except DicomFormatError as exc:
        raise seg_error(exc) from None
    except NeedsPydicom as exc:  # a value the header reader does not decode, in a file that is damaged anyway
        raise SegFormatError(f"cannot be read as a slide SEG header ({exc})", path=name) from None
    except OSError as exc:
        raise SegFormatError(f"cannot be read ({exc.strerror or exc})", path=name) from None
    return replace(head, pixels=pixels)


def slide_geometry(ds: Any, name: str, warnings: list[str] | None = None) -> SlideGeometry:
    """The :class:`SlideGeometry` of a tiled image's top level (Total Pixel Matrix, tile size, spacing, origin).

    Raises
    ------
    SegFormatError
        No Total Pixel Matrix Rows/Columns (not a tiled image), no Pixel Spacing.
    """
    if "TotalPixelMatrixRows" not in ds or "TotalPixelMatrixColumns" not in ds:
        raise SegFormatError(
            f"{name}: no Total Pixel Matrix Rows/Columns (0048,0007)/(0048,0006): not a tiled slide image"
        )
    rows = int_value(ds, "TotalPixelMatrixRows", name, minimum=1)
    columns = int_value(ds, "TotalPixelMatrixColumns", name, minimum=1)
    tile_rows = int_value(ds, "Rows", name, minimum=1, maximum=0xFFFF)
    tile_columns = int_value(ds, "Columns", name, minimum=1, maximum=0xFFFF)
    spacing = _shared(ds, "PixelMeasuresSequence", "PixelSpacing")
    if spacing is None or len(spacing) != 2 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
        raise SegFormatError(
            f"{name}: no valid Pixel Spacing in the Shared Functional Groups' Pixel Measures Sequence "
            f"(found {spacing}); a slide SEG needs the source level's pixel spacing"
        )
    notes = warnings if warnings is not None else []
    origin = (0.0, 0.0, 0.0)
    items = ds.get("TotalPixelMatrixOriginSequence")
    item = items[0] if items else None
    try:
        if item is not None and "XOffsetInSlideCoordinateSystem" in item and "YOffsetInSlideCoordinateSystem" in item:
            z = item.get("ZOffsetInSlideCoordinateSystem")
            origin = (
                float(item.XOffsetInSlideCoordinateSystem),
                float(item.YOffsetInSlideCoordinateSystem),
                float(z) if z not in (None, "") else 0.0,
            )
        else:
            notes.append(f"{name}: no Total Pixel Matrix Origin Sequence (0048,0008); origin taken as (0, 0) mm")
    except (TypeError, ValueError):
        raise SegFormatError(f"{name}: Total Pixel Matrix Origin Sequence holds values that are not numbers") from None
    orientation = ds.get("ImageOrientationSlide")
    try:
        orientation = tuple(float(v) for v in orientation) if orientation is not None else None
    except (TypeError, ValueError):
        orientation = None
    if orientation is None or len(orientation) != 6 or not all(np.isfinite(orientation)):
        notes.append(f"{name}: no valid Image Orientation (Slide) (0048,0102); taken as {list(DEFAULT_ORIENTATION)}")
        orientation = DEFAULT_ORIENTATION
    return SlideGeometry(rows, columns, tile_rows, tile_columns, (spacing[0], spacing[1]), origin, orientation)


def _shared(ds: Any, seq: str, keyword: str) -> list[float] | None:
    shared = ds.get("SharedFunctionalGroupsSequence")
    try:
        item = shared[0].get(seq)[0] if shared and shared[0].get(seq) else None
        value = item.get(keyword) if item is not None else None
        return None if value is None else [float(v) for v in np.atleast_1d(value)]
    except (TypeError, ValueError, IndexError, AttributeError):
        return None


def _parse(ds: Any, name: str, values: Any) -> SlideHeader:
    from labelmap.seg.read import segment_descriptions, series_attributes

    sop = str(ds.get("SOPClassUID", ""))
    if sop not in SEG_SOP_CLASSES:
        raise SegFormatError(
            f"{name}: SOP Class UID {sop or '(missing)'} is not a Segmentation "
            f"({', '.join(f'{v} {k}' for k, v in SEG_SOP_CLASSES.items())})"
        )
    seg_type = str(ds.get("SegmentationType", "") or "")
    if seg_type not in ("LABELMAP", "BINARY", "FRACTIONAL"):
        raise SegFormatError(
            f"{name}: Segmentation Type {seg_type or '(missing)'} is not LABELMAP, BINARY or FRACTIONAL"
        )
    warnings: list[str] = []
    geometry = slide_geometry(ds, name, warnings)
    planes = int_value(ds, "TotalPixelMatrixFocalPlanes", name, default=1, minimum=1)
    if planes != 1:
        raise UnsupportedError(f"{name}: {planes} focal planes; labelmap reads slide SEGs of one focal plane")
    bits = int_value(ds, "BitsAllocated", name, minimum=1)
    expected_bits = {"LABELMAP": (8, 16), "BINARY": (1,), "FRACTIONAL": (8,)}[seg_type]
    if bits not in expected_bits:
        raise SegFormatError(
            f"{name}: a {seg_type} SEG has Bits Allocated {' or '.join(map(str, expected_bits))}, found {bits}"
        )
    n_frames = int_value(ds, "NumberOfFrames", name, default=1, minimum=1)
    padding = int_value(ds, "PixelPaddingValue", name, default=None)
    described = segment_descriptions(ds, name)
    if seg_type == "LABELMAP":
        segments = tuple(s for s in described if s.number != padding)
    else:
        segments = tuple(sorted(described, key=lambda s: s.number))
    n_layers = 1 if seg_type == "LABELMAP" else len(segments)
    organization = str(ds.get("DimensionOrganizationType", "") or "").strip().upper()
    if values is not None and values.n_frames != n_frames:
        raise SegFormatError(
            f"{name}: Number of Frames is {n_frames} but the Per-frame Functional Groups Sequence has "
            f"{values.n_frames} items"
        )
    if organization == "TILED_FULL":
        expected = n_layers * geometry.n_tiles
        if n_frames != expected:
            what = "" if seg_type == "LABELMAP" else f"{n_layers} segment(s) x "
            raise SegFormatError(
                f"{name}: a TILED_FULL SEG of {what}{geometry.n_tiles} tiles ({geometry.tiles_down} x "
                f"{geometry.tiles_across} of {geometry.tile_rows} x {geometry.tile_columns} on {geometry.rows} x "
                f"{geometry.columns}) needs {expected} frames, but Number of Frames is {n_frames}"
            )
        tile = np.arange(n_frames, dtype=np.int64) % geometry.n_tiles
        rows = (tile // geometry.tiles_across) * geometry.tile_rows
        columns = (tile % geometry.tiles_across) * geometry.tile_columns
        layers = np.arange(n_frames, dtype=np.int64) // geometry.n_tiles
    else:
        rows, columns, layers = _sparse_positions(ds, name, values, n_frames, geometry, seg_type, segments)
        if values is not None:
            note = _cross_check(name, values, rows, columns, geometry)
            if note:
                warnings.append(note)
    return SlideHeader(
        name=name,
        header=ds,
        geometry=geometry,
        seg_type=seg_type,
        segments=segments,
        bits=bits,
        n_frames=n_frames,
        organization=organization,
        frame_rows=rows,
        frame_columns=columns,
        frame_layers=layers,
        series=series_attributes(ds, defaults=False),
        pixel_padding_value=padding,
        warnings=tuple(warnings),
    )


def _int_column(values: Any, field_id: int, n_frames: int, fmt: str) -> np.ndarray | None:
    """A per-frame binary integer (first value) per frame; None when no frame has it; -2**62 where absent."""
    if values is None or not values.columns[field_id]:
        return None
    size = np.dtype(fmt).itemsize
    out = np.full(n_frames, -(1 << 62), dtype=np.int64)
    entries = values.columns[field_id]
    if all(len(v) == size for _, v in entries):
        idx = np.fromiter((f for f, _ in entries), dtype=np.int64, count=len(entries))
        out[idx] = np.frombuffer(b"".join(bytes(v) for _, v in entries), dtype=fmt)
        return out
    for f, v in entries:
        if len(v) >= size:
            out[f] = int(np.frombuffer(bytes(v[:size]), dtype=fmt)[0])
    return out


def _ds_column(values: Any, field_id: int, n_frames: int) -> np.ndarray | None:
    """The first number of a per-frame DS (or IS) value per frame, NaN where absent or not a number."""
    if values is None or not values.columns[field_id]:
        return None
    out = np.full(n_frames, np.nan)
    for f, v in values.columns[field_id]:
        text = bytes(v).split(b"\\")[0].strip(b" \x00")
        try:
            out[f] = float(text)
        except ValueError:
            pass
    return out


def _shared_position(ds: Any) -> tuple[int, int] | None:
    shared = ds.get("SharedFunctionalGroupsSequence")
    try:
        items = shared[0].get("PlanePositionSlideSequence") if shared else None
        if items:
            return int(items[0].RowPositionInTotalImagePixelMatrix), int(items[0].ColumnPositionInTotalImagePixelMatrix)
    except (AttributeError, TypeError, ValueError, IndexError):
        pass
    return None


def _shared_segment(ds: Any) -> int | None:
    shared = ds.get("SharedFunctionalGroupsSequence")
    try:
        items = shared[0].get("SegmentIdentificationSequence") if shared else None
        return int(items[0].ReferencedSegmentNumber) if items else None
    except (AttributeError, TypeError, ValueError, IndexError):
        return None


def _sparse_positions(
    ds: Any,
    name: str,
    values: Any,
    n_frames: int,
    geometry: SlideGeometry,
    seg_type: str,
    segments: tuple[SegmentDescription, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each frame's 0-based (row, column) from its Plane Position (Slide), and its layer."""
    rows = _int_column(values, _F_ROW, n_frames, "<i4")
    columns = _int_column(values, _F_COL, n_frames, "<i4")
    absent = -(1 << 62)
    shared = _shared_position(ds)
    if rows is None or columns is None:
        if shared is None:
            raise SegFormatError(
                f"{name}: frames have no Plane Position (Slide) Sequence (0048,021A) Row/Column Position and "
                "Dimension Organization Type is not TILED_FULL; cannot place the frames"
            )
        rows = np.full(n_frames, shared[0], dtype=np.int64) if rows is None else rows
        columns = np.full(n_frames, shared[1], dtype=np.int64) if columns is None else columns
    missing = (rows == absent) | (columns == absent)
    if missing.any():
        if shared is None:
            f = int(np.flatnonzero(missing)[0])
            raise SegFormatError(
                f"{name}: frame {f + 1} has no Row/Column Position In Total Image Pixel Matrix in its Plane "
                "Position (Slide) Sequence"
            )
        rows = np.where(rows == absent, shared[0], rows)
        columns = np.where(columns == absent, shared[1], columns)
    outside = (rows < 1) | (columns < 1) | (rows > geometry.rows) | (columns > geometry.columns)
    if outside.any():
        f = int(np.flatnonzero(outside)[0])
        raise SegFormatError(
            f"{name}: frame {f + 1} at Row/Column Position ({int(rows[f])}, {int(columns[f])}) lies outside the "
            f"total pixel matrix ({geometry.rows} x {geometry.columns}); "
            f"{int(outside.sum())} frame(s) outside in all",
            frame=f + 1,
        )
    if seg_type == "LABELMAP":
        layers = np.zeros(n_frames, dtype=np.int64)
    else:
        numbers = _int_column(values, _F_SEGMENT, n_frames, "<u2")
        shared_number = _shared_segment(ds)
        if numbers is None:
            if shared_number is None and len(segments) != 1:
                raise SegFormatError(
                    f"{name}: frames have no Segment Identification Sequence (0062,000A) Referenced Segment Number"
                )
            numbers = np.full(n_frames, shared_number if shared_number is not None else segments[0].number)
        elif (numbers == absent).any():
            if shared_number is None:
                f = int(np.flatnonzero(numbers == absent)[0])
                raise SegFormatError(f"{name}: frame {f + 1} has no Referenced Segment Number", frame=f + 1)
            numbers = np.where(numbers == absent, shared_number, numbers)
        index = {s.number: i for i, s in enumerate(segments)}
        lookup = np.full(int(numbers.max()) + 1, -1, dtype=np.int64)
        for number, i in index.items():
            if number < len(lookup):
                lookup[number] = i
        layers = lookup[numbers]
        if (layers < 0).any():
            f = int(np.flatnonzero(layers < 0)[0])
            raise SegFormatError(
                f"{name}: frame {f + 1} references segment {int(numbers[f])}, which the Segment Sequence does not "
                "describe",
                frame=f + 1,
            )
    return rows.astype(np.int64) - 1, columns.astype(np.int64) - 1, layers


def _cross_check(name: str, values: Any, rows: np.ndarray, columns: np.ndarray, geometry: SlideGeometry) -> str | None:
    """One warning line when frames' X/Y offsets or Referenced Frame Numbers disagree with their Row/Column."""
    n = len(rows)
    problems: list[str] = []
    x = _ds_column(values, _F_X, n)
    y = _ds_column(values, _F_Y, n)
    if x is not None and y is not None:
        have = np.isfinite(x) & np.isfinite(y)
        ex, ey = _expected_xy(geometry, rows, columns)
        tol = POSITION_TOLERANCE_PX * min(geometry.pixel_spacing)
        off = have & ((np.abs(x - ex) > tol) | (np.abs(y - ey) > tol))
        if off.any():
            f = int(np.flatnonzero(off)[0])
            sx, sy = _expected_xy(geometry, columns, rows)  # what a Row/Column swap would give
            swapped = bool(np.all((np.abs(x - sx) <= tol) & (np.abs(y - sy) <= tol) | ~off))
            cause = " (Row and Column Position swapped, as in old highdicom files)" if swapped else ""
            problems.append(
                f"{int(off.sum())} of {n} frames have X/Y offsets that disagree with their Row/Column Position{cause}"
                f", e.g. frame {f + 1} at Row/Column ({int(rows[f]) + 1}, {int(columns[f]) + 1}) should be at "
                f"X/Y ({ex[f]:.6f}, {ey[f]:.6f}) mm but says ({x[f]:.6f}, {y[f]:.6f})"
            )
    refs = _int_column_text(values, _F_REF_FRAME, n)
    if refs is not None:
        aligned = (rows % geometry.tile_rows == 0) & (columns % geometry.tile_columns == 0) & (refs > 0)
        tile = (rows // geometry.tile_rows) * geometry.tiles_across + columns // geometry.tile_columns
        wrong = aligned & ((refs - 1) % geometry.n_tiles != tile)
        if wrong.any():
            f = int(np.flatnonzero(wrong)[0])
            problems.append(
                f"{int(wrong.sum())} of {n} frames reference a source frame other than the tile at their Row/Column "
                f"(same tile grid assumed), e.g. frame {f + 1} at ({int(rows[f]) + 1}, {int(columns[f]) + 1}) "
                f"references frame {int(refs[f])}, expected {int(tile[f]) + 1}"
            )
    if not problems:
        return None
    return f"{name}: " + "; ".join(problems) + "; frames are placed by their Row/Column Position"


def _expected_xy(geometry: SlideGeometry, rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slide X/Y (mm) of 0-based matrix pixels, as :meth:`SlideGeometry.position` (vectorised)."""
    o = geometry.orientation
    dc = columns * geometry.pixel_spacing[1]
    dr = rows * geometry.pixel_spacing[0]
    return geometry.origin[0] + dc * o[0] + dr * o[3], geometry.origin[1] + dc * o[1] + dr * o[4]


def _int_column_text(values: Any, field_id: int, n_frames: int) -> np.ndarray | None:
    """An IS value's first number per frame (0 where absent)."""
    column = _ds_column(values, field_id, n_frames)
    if column is None:
        return None
    return np.where(np.isfinite(column), column, 0).astype(np.int64)
