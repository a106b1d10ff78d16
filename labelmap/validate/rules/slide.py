"""Tiled (slide microscopy) SEGs: the Microscope Slide Layer Tile Organization Module and tiled frames.

PS3.3 C.8.12.14 (total pixel matrix, origin, Image Orientation (Slide), focal planes), C.7.6.17.3
(TILED_FULL: every tile present in an implicit order, frame count, no per-frame positions needed;
TILED_SPARSE: a Plane Position (Slide) per frame), and what the readers need beyond the standard
(highdicom 0.28, Slim / dicom-microscopy-viewer), reported as warnings.  Rules run only on slide
SEGs (a total pixel matrix, Image Orientation (Slide), a TILED_* organization or slide positions).
Per-frame positions come from the pydicom items when the context read them, else from the bulk
reader (no pydicom per frame).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, DEFLATED_IMAGE_FRAME
from labelmap.seg.types import SegmentationType
from labelmap.validate.context import SegContext
from labelmap.validate.report import Severity, Violation, frames_text, values_text, violation
from labelmap.validate.slide_frames import COLUMN_POSITION, POSITION, ROW_POSITION, SlideFrames
from labelmap.validate.tables import ENCODING, FG, PER_FRAME
from labelmap.validate.values import MISSING, as_int, first_item, floats, get, items, text

TILE_ORG = "PS3.3 C.8.12.14 Microscope Slide Layer Tile Organization Module"
TILED = "PS3.3 C.7.6.17.3 Spatial Location and Optical Path of Tiled Images"
PLANE_SLIDE = "PS3.3 C.8.12.6.1 Plane Position (Slide) Macro"
VIEWER = "Slim / dicom-microscopy-viewer"
_POS, _ROW, _COL = POSITION, ROW_POSITION, COLUMN_POSITION
_SEGMENT_NUMBER = 0x0062000B
_OPTICAL = ("NumberOfOpticalPaths", "OpticalPathSequence", "OpticalPathIdentificationSequence")


@dataclass(frozen=True)
class Matrix:
    """The total pixel matrix as declared (None where a value is absent or unusable)."""

    rows: int | None
    columns: int | None
    spacing: tuple[float, float] | None  # shared Pixel Spacing (mm between rows, between columns)
    origin: tuple[float, float, float] | None  # X mm, Y mm, Z um of pixel (1, 1)
    orientation: np.ndarray | None  # 6 direction cosines, checked orthonormal


def check(ctx: SegContext) -> Iterator[Violation]:
    if not ctx.slide:
        return
    frames = ctx.slide_frames
    matrix = yield from _tile_organization(ctx, frames)
    if ctx.tiled_full:
        yield from _tiled_full(ctx, matrix, frames)
    else:
        yield from _tiled_sparse(ctx, matrix, frames)
    yield from _viewers(ctx)
    yield from _fragments(ctx)


# --------------------------------------------------------------------------- the module
def _tile_organization(ctx: SegContext, frames: SlideFrames | None) -> Generator[Violation, None, Matrix]:
    """The module's attributes and values; returns what later rules use."""
    ds, full = ctx.ds, ctx.tiled_full
    bad = violation
    required = f"{TILE_ORG}: Type 1"
    module_present = any(
        get(ds, kw) is not MISSING
        for kw in ("TotalPixelMatrixRows", "TotalPixelMatrixColumns", "TotalPixelMatrixOriginSequence")
    )
    size: list[int | None] = []
    for kw in ("TotalPixelMatrixRows", "TotalPixelMatrixColumns"):
        value = get(ds, kw)
        number = as_int(value)
        if value is MISSING:
            if not full and module_present:  # TILED_FULL: reported by the functional groups rule
                yield bad(kw, "is absent", required)
            size.append(None)
        elif number is None or number < 1:
            yield bad(kw, f"is {text(value) or 'empty'}, expected a positive integer", required)
            size.append(None)
        else:
            size.append(number)
    if not module_present and not full:
        yield bad(
            "TotalPixelMatrixRows",
            "is absent (no Microscope Slide Layer Tile Organization Module): frame positions cannot be checked "
            "against the matrix, and highdicom and dicom-microscopy-viewer do not treat the SEG as tiled",
            f"{TILE_ORG} (Type C in A.51: may be present for TILED_SPARSE; every tiled reader needs it)",
            "warning",
        )
    origin = None
    origin_items = items(get(ds, "TotalPixelMatrixOriginSequence"))
    if origin_items:
        item = origin_items[0]
        xy = []
        for kw in ("XOffsetInSlideCoordinateSystem", "YOffsetInSlideCoordinateSystem"):
            value = floats(get(item, kw), 1)
            if value is None:
                state = "is absent" if get(item, kw) is MISSING else "is not a number"
                yield bad(kw, state, f"{TILE_ORG}: Type 1 (mm)", item="TotalPixelMatrixOriginSequence[1]")
            xy.append(None if value is None else float(value[0]))
        z = floats(get(item, "ZOffsetInSlideCoordinateSystem"), 1)
        if xy[0] is not None and xy[1] is not None:
            origin = (xy[0], xy[1], 0.0 if z is None else float(z[0]))
        if len(origin_items) > 1:
            yield bad(
                "TotalPixelMatrixOriginSequence", f"holds {len(origin_items)} items, expected 1", f"{TILE_ORG}: 1 item"
            )
    elif get(ds, "TotalPixelMatrixOriginSequence") is not MISSING or (module_present and not full):
        yield bad("TotalPixelMatrixOriginSequence", "is absent or empty", f"{TILE_ORG}: Type 1, one item")
    orientation = None
    raw = get(ds, "ImageOrientationSlide")
    positions = get(ctx.shared, _POS) is not MISSING or (frames is not None and bool(frames.present.any()))
    needs_orientation = full or module_present or positions
    if raw is MISSING:
        if needs_orientation:
            yield bad(
                "ImageOrientationSlide",
                "is absent",
                f"{TILE_ORG}: Type 1C, required for TILED_FULL and when Plane Position (Slide) is present",
            )
    else:
        values = floats(raw, 6)
        rule = f"{TILE_ORG}: Image Orientation (Slide), two orthogonal unit direction cosines"
        if values is None:
            yield bad("ImageOrientationSlide", f"is {values_text(np.atleast_1d(raw))}, expected 6 numbers", rule)
        elif (
            abs(np.linalg.norm(values[:3]) - 1) > 1e-3
            or abs(np.linalg.norm(values[3:]) - 1) > 1e-3
            or abs(float(values[:3] @ values[3:])) > 1e-3
        ):
            yield bad("ImageOrientationSlide", f"{values.tolist()} are not two orthogonal unit vectors", rule)
        else:
            orientation = values
    planes = get(ds, "TotalPixelMatrixFocalPlanes")
    if full and planes is MISSING:
        yield bad("TotalPixelMatrixFocalPlanes", "is absent", f"{TILE_ORG}: Type 1C, required for TILED_FULL")
    elif planes is not MISSING:
        number = as_int(planes)
        if number is None or number < 1:
            yield bad("TotalPixelMatrixFocalPlanes", f"is {text(planes) or 'empty'}, expected >= 1", TILE_ORG)
        elif number > 1:
            yield bad(
                "TotalPixelMatrixFocalPlanes",
                f"is {number}: dicom-microscopy-viewer shows one focal plane only",
                f"{TILE_ORG}; {VIEWER} shows a single focal plane",
                "warning",
            )
    spacing = yield from _pixel_measures(ctx)
    return Matrix(size[0], size[1], spacing, origin, orientation)


def _pixel_measures(ctx: SegContext) -> Generator[Violation, None, tuple[float, float] | None]:
    """Shared Pixel Measures with two positive spacings: every tiled reader places frames with it."""
    measures = first_item(ctx.shared, "PixelMeasuresSequence")
    path = "SharedFunctionalGroupsSequence[1].PixelMeasuresSequence[1].PixelSpacing"
    if measures is None:
        yield violation(
            "PixelMeasuresSequence",
            "is absent from the Shared Functional Groups: highdicom cannot read a TILED_FULL SEG without it, and "
            "viewers match SEG and slide levels by its Pixel Spacing",
            f"{FG} (Table A.51-2) and {VIEWER}: Pixel Measures shared by every tile",
            "warning",
            path="SharedFunctionalGroupsSequence[1].PixelMeasuresSequence",
        )
        return None
    raw = get(measures, "PixelSpacing")
    values = floats(raw, 2)
    if values is None or (values <= 0).any():
        found = "is absent" if raw is MISSING else f"is {values_text(np.atleast_1d(raw))}"
        yield violation(
            "PixelSpacing",
            f"{found}, expected two positive spacings (mm)",
            "PS3.3 C.7.6.16.2.1 Pixel Measures Macro: Pixel Spacing, Type 1",
            path=path,
        )
        return None
    return (float(values[0]), float(values[1]))


def _where(f: int, keyword: str = "RowPositionInTotalImagePixelMatrix") -> str:
    return f"{PER_FRAME}[{f}].{_POS}[1].{keyword}"


def _expected_xyz(matrix: Matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    if matrix.spacing is None or matrix.origin is None or matrix.orientation is None:
        return None
    o = matrix.orientation
    dc = (cols - 1)[:, None] * matrix.spacing[1] * o[None, :3]
    dr = (rows - 1)[:, None] * matrix.spacing[0] * o[None, 3:]
    out = np.asarray(matrix.origin, float)[None, :] + dc + dr
    out[:, 2] = matrix.origin[2] + 1000.0 * (dc[:, 2] + dr[:, 2])  # Z in micrometres
    return out


# --------------------------------------------------------------------------- TILED_FULL
def _tiled_full(ctx: SegContext, matrix: Matrix, frames: SlideFrames | None) -> Iterator[Violation]:
    """Frame count, and what TILED_FULL leaves implicit must not contradict the implicit order."""
    tr, tc = ctx.rows, ctx.columns
    planes = as_int(get(ctx.ds, "TotalPixelMatrixFocalPlanes")) or 1
    labelmap = ctx.spec is not None and ctx.spec.type is SegmentationType.LABELMAP
    numbers = sorted(n for n in ctx.segment_numbers if labelmap or n > 0)
    n_seg = 1 if labelmap else len(numbers)
    if not (matrix.rows and matrix.columns and tr and tc) or planes < 1:
        return
    across, down = -(-matrix.columns // tc), -(-matrix.rows // tr)
    n_tiles = across * down
    expected = n_seg * planes * n_tiles
    n = ctx.n_frames
    if n is not None and n_seg and n != expected:
        what = "" if labelmap else f"{n_seg} segment(s) x "
        yield violation(
            "NumberOfFrames",
            f"is {n}, expected {what}{planes} focal plane(s) x {down} x {across} tiles = {expected} "
            f"({matrix.rows} x {matrix.columns} matrix, {tr} x {tc} frames)",
            f"{TILED}: TILED_FULL frames cover every tile of the matrix once per "
            + ("focal plane" if labelmap else "segment and focal plane"),
        )
    index = items(get(ctx.ds, "DimensionIndexSequence"))
    if index:
        pointers = {as_int(get(item, "DimensionIndexPointer")) for item in index}
        wanted = {_ROW: "Row", _COL: "Column Position In Total Image Pixel Matrix"}
        if not labelmap and n_seg > 1:
            wanted[_SEGMENT_NUMBER] = "Referenced Segment Number"
        lacking = [name for tag, name in wanted.items() if tag not in pointers]
        if lacking:
            yield violation(
                "DimensionIndexSequence",
                f"is present in a TILED_FULL SEG but does not index {' and '.join(lacking)}: highdicom refuses "
                "to read it",
                f"{TILED}: the implicit TILED_FULL dimensions (tile row and column"
                + ("" if labelmap or n_seg < 2 else ", segment")
                + "); omit the sequence or list them all",
            )
    if frames is None or n is None or len(frames.present) != n or not frames.present.any():
        return
    k = np.arange(n, dtype=np.int64)
    t = k % n_tiles
    rows, cols = (t // across) * tr + 1, (t % across) * tc + 1
    where = np.flatnonzero(frames.present)
    yield violation(
        _POS,
        f"is present in {frames_text(where + 1)} of a TILED_FULL SEG; readers place its frames by the implicit "
        "order and ignore it",
        f"{TILED}: TILED_FULL frames need no Plane Position (Slide)",
        "warning",
        path=f"{PER_FRAME}[{where[0] + 1}].{_POS}",
        frame=int(where[0]) + 1,
    )
    wrong = np.flatnonzero(frames.has_row_column & ((frames.rows != rows) | (frames.columns != cols)))
    if wrong.size:
        f = int(wrong[0])
        yield violation(
            "RowPositionInTotalImagePixelMatrix",
            f"Row/Column {frames.rows[f]}/{frames.columns[f]} in {frames_text(wrong + 1)} contradict the TILED_FULL "
            f"order, which puts frame {f + 1} at {rows[f]}/{cols[f]}",
            f"{TILED}: TILED_FULL frames run along rows of tiles, left to right, top to bottom",
            path=_where(f + 1),
            frame=f + 1,
        )
    if not labelmap and n_seg and ctx.frame_segments is not None and len(ctx.frame_segments) == n:
        implicit = np.asarray(numbers, np.int64)[np.minimum(k // (n_tiles * planes), n_seg - 1)]
        found = ctx.frame_segments
        wrong = np.flatnonzero((found != 0) & (found != implicit))
        if wrong.size:
            f = int(wrong[0])
            yield violation(
                "ReferencedSegmentNumber",
                f"is {found[f]} in {frames_text(wrong + 1)}; the TILED_FULL order puts segment {implicit[f]} there",
                f"{TILED}: TILED_FULL frames are grouped by segment in ascending Segment Number",
                path=f"{PER_FRAME}[{f + 1}].SegmentIdentificationSequence[1].ReferencedSegmentNumber",
                frame=f + 1,
            )


# --------------------------------------------------------------------------- TILED_SPARSE
def _tiled_sparse(ctx: SegContext, matrix: Matrix, frames: SlideFrames | None) -> Iterator[Violation]:
    """Each frame's Plane Position (Slide): present, inside the matrix, on the tile grid, matching X/Y."""
    n = ctx.n_frames
    shared_position = get(ctx.shared, _POS) is not MISSING
    if frames is None or n is None or len(frames.present) != n:
        if ctx.table is None and not shared_position and n:
            yield violation(
                _POS,
                "is absent: a TILED_SPARSE SEG has no Per-frame Functional Groups to place its frames",
                f"{FG} (Table A.51-2): Plane Position (Slide) per frame unless TILED_FULL",
                path=f"{PER_FRAME}[*].{_POS}",
            )
        return
    lacking = np.flatnonzero(~frames.present)
    if lacking.size and not (shared_position and n == 1):
        yield violation(
            _POS,
            f"is absent in {frames_text(lacking + 1)}: the frame cannot be placed on the slide",
            f"{FG} (Table A.51-2): Plane Position (Slide) per frame unless TILED_FULL ({PLANE_SLIDE})",
            path=f"{PER_FRAME}[{lacking[0] + 1}].{_POS}",
            frame=int(lacking[0]) + 1,
        )
    no_rc = np.flatnonzero(frames.present & ~frames.has_row_column)
    if no_rc.size:
        yield violation(
            "RowPositionInTotalImagePixelMatrix",
            f"or Column Position is absent or not an integer in {frames_text(no_rc + 1)}",
            f"{PLANE_SLIDE}: Row and Column Position In Total Image Pixel Matrix, Type 1",
            path=_where(int(no_rc[0]) + 1),
            frame=int(no_rc[0]) + 1,
        )
    ok = frames.has_row_column
    rows, cols = frames.rows, frames.columns
    limit_rows = matrix.rows if matrix.rows else np.iinfo(np.int64).max
    limit_cols = matrix.columns if matrix.columns else np.iinfo(np.int64).max
    outside = np.flatnonzero(ok & ((rows < 1) | (cols < 1) | (rows > limit_rows) | (cols > limit_cols)))
    if outside.size:
        f = int(outside[0])
        size = f" of {matrix.rows} x {matrix.columns}" if matrix.rows and matrix.columns else ""
        yield violation(
            "RowPositionInTotalImagePixelMatrix",
            f"Row/Column {rows[f]}/{cols[f]} in {frames_text(outside + 1)} lies outside the total pixel matrix{size} "
            "(positions are 1-based, at most Total Pixel Matrix Rows/Columns)",
            f"{PLANE_SLIDE}: the frame's top left pixel in the total pixel matrix",
            path=_where(f + 1),
            frame=f + 1,
        )
    inside = ok.copy()
    inside[outside] = False
    tr, tc = ctx.rows, ctx.columns
    if tr and tc:
        off = np.flatnonzero(inside & (((rows - 1) % tr != 0) | ((cols - 1) % tc != 0)))
        if off.size:
            f = int(off[0])
            yield violation(
                "RowPositionInTotalImagePixelMatrix",
                f"Row/Column {rows[f]}/{cols[f]} in {frames_text(off + 1)} is off the {tr} x {tc} tile grid "
                "(positions 1, 1 + Rows, 1 + 2 x Rows ...): viewers drop or misplace off-grid frames",
                f"{TILED} (TILED_SPARSE frames may sit anywhere); {VIEWER} draws frames on the tile grid "
                "anchored at (1, 1)",
                "warning",
                path=_where(f + 1),
                frame=f + 1,
            )
    expected = _expected_xyz(matrix, rows, cols)
    if expected is not None and matrix.spacing is not None:
        tol = 0.1 * min(matrix.spacing)  # a tenth of a pixel
        have = inside & np.isfinite(frames.xyz[:, :2]).all(axis=1)
        diff = np.abs(frames.xyz[:, :2] - expected[:, :2]).max(axis=1)
        wrong = np.flatnonzero(have & (diff > tol))
        if wrong.size:
            f = int(wrong[0])
            swapped = _expected_xyz(matrix, cols[wrong], rows[wrong])
            swap = swapped is not None and bool(
                (np.abs(frames.xyz[wrong, :2] - swapped[:, :2]).max(axis=1) <= tol).all()
            )
            yield violation(
                "XOffsetInSlideCoordinateSystem",
                f"X/Y {frames.xyz[f, 0]:.6f}/{frames.xyz[f, 1]:.6f} mm in {frames_text(wrong + 1)} is "
                f"{diff[f] / min(matrix.spacing):.1f} pixel(s) from where Row/Column {rows[f]}/{cols[f]} lies "
                f"({expected[f, 0]:.6f}/{expected[f, 1]:.6f} mm by the origin, orientation and spacing); readers "
                "that place frames by X/Y and those that use Row/Column disagree"
                + ("; the offsets match Row and Column swapped (as in highdicom's 2020 files)" if swap else ""),
                f"{PLANE_SLIDE}: X/Y offsets of the frame's top left pixel, consistent with its Row/Column",
                "warning",
                path=_where(f + 1, "XOffsetInSlideCoordinateSystem"),
                frame=f + 1,
            )
    index = items(get(ctx.ds, "DimensionIndexSequence"))
    pointers = {as_int(get(item, "DimensionIndexPointer")) for item in index}
    if index and not {_ROW, _COL} <= pointers:
        yield violation(
            "DimensionIndexSequence",
            "does not index Row and Column Position In Total Image Pixel Matrix",
            f"{TILED}: tiled frames are indexed by their position in the matrix (highdicom writes and reads "
            "these dimensions)",
            "warning",
        )
    yield from _duplicates(ctx, ok, rows, cols)


def _duplicates(ctx: SegContext, ok: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> Iterator[Violation]:
    """Two frames of one segment (of a label map: any two frames) at one position."""
    segments = ctx.frame_segments
    seg = segments if segments is not None and len(segments) == len(ok) else np.zeros(len(ok), np.int64)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return
    keys = np.stack([seg[idx], rows[idx], cols[idx]], axis=1)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = keys[first[np.flatnonzero(counts > 1)[0]]]
        where = idx[(keys == dup).all(axis=1)] + 1
        of = f" of segment {dup[0]}" if segments is not None else ""
        yield violation(
            "RowPositionInTotalImagePixelMatrix",
            f"{frames_text(where)}{of} lie at Row/Column {dup[1]}/{dup[2]}",
            f"{TILED}: overlapping frames are allowed in TILED_SPARSE, but readers keep one of them",
            "warning",
            path=_where(int(where[0])),
            frame=int(where[0]),
        )


# --------------------------------------------------------------------------- what viewers need
def _viewers(ctx: SegContext) -> Iterator[Violation]:
    ds = ctx.ds
    warn = partial(violation, severity="warning")
    if get(ds, "FrameOfReferenceUID") is MISSING:
        yield warn(
            "FrameOfReferenceUID",
            "is absent: dicom-microscopy-viewer shows a SEG only on a slide of the same Frame of Reference",
            f"PS3.3 C.7.4.1 Frame of Reference Module; {VIEWER} needs the slide's Frame of Reference UID",
        )
    numbers = [as_int(get(item, "SegmentNumber")) for item in items(get(ds, "SegmentSequence"))]
    known = [v for v in numbers if v is not None]
    if known != sorted(known):
        yield warn(
            "SegmentSequence",
            f"is not sorted by Segment Number ({values_text(known)}): dicom-microscopy-viewer maps frames to "
            "segments in item order",
            f"{TILED}: TILED_FULL frames follow ascending Segment Number; {VIEWER} reads segments in item order",
        )
    for kw in _OPTICAL:
        if get(ds, kw) is not MISSING or get(ctx.shared, kw) is not MISSING:
            yield warn(
                kw,
                "is present, but a SEG has no Optical Path module (readers take the file for a slide image)",
                "PS3.3 A.51 Segmentation IOD: no Optical Path or Multi-Resolution Navigation module",
            )
    ts = ctx.transfer_syntax
    if ts == DEFLATED_IMAGE_FRAME:
        yield warn(
            "TransferSyntaxUID",
            "is Deflated Image Frame Compression: few readers know it yet (pydicom 3.0, highdicom 0.28, "
            "dicom-microscopy-viewer and Weasis do not); write RLE or JPEG-LS for them",
            "PS3.5 A.4.13 Deflated Image Frame Compression (2025a)",
        )
    elif ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        yield warn(
            "TransferSyntaxUID",
            "is Deflated Explicit VR Little Endian: the whole data set is one deflate stream, so no tile can be "
            "read without inflating everything before it",
            f"{ENCODING}: tiled images keep frames addressable (Deflated Image Frame Compression, RLE, JPEG-LS)",
        )


def _fragments(ctx: SegContext) -> Iterator[Violation]:
    """Zero-length fragments: readers count frames by fragments and lose one per empty item."""
    layout = ctx.pixel_layout
    if not layout.encapsulated or not layout.present or layout.error is not None:
        return
    location = ctx.pixel_source.location
    lengths: list[int] = []
    if location is not None and getattr(location, "encapsulated", False):
        lengths = [int(length) for _, length in location.fragments]
    else:
        value = get(ctx.ds, "PixelData")
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value)
            from pydicom.encaps import generate_fragments

            try:
                offsets = len(_basic_offsets(value))
                lengths = [len(f) for f in generate_fragments(value[8 + 4 * offsets :])]
            except Exception:
                return
    empty = [i + 1 for i, length in enumerate(lengths) if length == 0]
    if empty:
        severity: Severity = "error"
        yield violation(
            "PixelData",
            f"holds {len(empty)} zero-length fragment(s) (fragment {values_text(empty, 5)}): readers that count "
            "frames by fragments (dicom-microscopy-viewer) misplace every later tile",
            "PS3.5 A.4: each frame is encoded in one or more fragments of compressed data; an empty tile is "
            "an encoded empty frame, never an empty fragment",
            severity,
        )


def _basic_offsets(value: bytes) -> list[int]:
    from pydicom.encaps import parse_basic_offsets

    return list(parse_basic_offsets(value))
