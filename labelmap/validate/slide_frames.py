"""What the context knows of a slide (tiled) SEG: whether it is one, its frames' Plane Position (Slide), tile ids.

Positions come from the pydicom per-frame items when the context read them, else from the bulk
reader (no pydicom per frame, any number of frames).  Tile ids let the pixel rules compare frames
that lie on one tile (BINARY Segments Overlap), as Image Position Patient does for volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from labelmap.dicom.uids import EXPLICIT_VR_BIG_ENDIAN
from labelmap.validate.values import MISSING, as_int, first_item, floats, get, items, upper_text

POSITION = "PlanePositionSlideSequence"
ROW_POSITION, COLUMN_POSITION = 0x0048021F, 0x0048021E  # ... In Total Image Pixel Matrix
#: (sequence, leaf) tag paths below a per-frame item, for the bulk reader
_FIELDS: dict[tuple[int, ...], int] = {
    (0x0048021A, ROW_POSITION): 0,
    (0x0048021A, COLUMN_POSITION): 1,
    (0x0048021A, 0x0040072A): 2,  # X Offset In Slide Coordinate System (mm)
    (0x0048021A, 0x0040073A): 3,  # Y (mm)
    (0x0048021A, 0x0040074A): 4,  # Z (um)
}
_OFFSETS = ("XOffsetInSlideCoordinateSystem", "YOffsetInSlideCoordinateSystem", "ZOffsetInSlideCoordinateSystem")


@dataclass(frozen=True)
class SlideFrames:
    """Plane Position (Slide) of each frame: Row/Column (1-based) and X/Y (mm), Z (um); 0/NaN when absent."""

    present: np.ndarray  # (F,) bool: the frame has a Plane Position (Slide) item
    rows: np.ndarray  # (F,) int64 (0 where absent or not an integer)
    columns: np.ndarray  # (F,) int64
    has_row_column: np.ndarray  # (F,) bool: both Row and Column Position are integers
    xyz: np.ndarray  # (F, 3) float, NaN where absent


def is_slide(ds: Dataset, shared: Dataset | None) -> bool:
    """A SEG of a slide: a total pixel matrix, Image Orientation (Slide), TILED_*, or slide positions indexed."""
    if any(get(ds, kw) is not MISSING for kw in ("TotalPixelMatrixRows", "TotalPixelMatrixColumns")):
        return True
    if get(ds, "ImageOrientationSlide") is not MISSING or get(shared, POSITION) is not MISSING:
        return True
    if upper_text(ds, "DimensionOrganizationType") in ("TILED_FULL", "TILED_SPARSE"):
        return True
    pointers = {as_int(get(item, "DimensionIndexPointer")) for item in items(get(ds, "DimensionIndexSequence"))}
    return bool(pointers & {ROW_POSITION, COLUMN_POSITION})


def read_slide_frames(
    name: str, n: int | None, per_frame_items: list | None, *, from_file: bool, transfer_syntax: str
) -> SlideFrames | None:
    """Plane Position (Slide) of ``n`` frames (None: no per-frame items, or they cannot be read)."""
    if not n:
        return None
    present = np.zeros(n, bool)
    rows = np.zeros(n, np.int64)
    cols = np.zeros(n, np.int64)
    has_rc = np.zeros(n, bool)
    xyz = np.full((n, 3), np.nan)
    if per_frame_items is not None and len(per_frame_items) == n:
        for f, item in enumerate(per_frame_items):
            pos = first_item(item, POSITION)
            if pos is None:
                continue
            present[f] = True
            r = as_int(get(pos, "RowPositionInTotalImagePixelMatrix"))
            c = as_int(get(pos, "ColumnPositionInTotalImagePixelMatrix"))
            if r is not None and c is not None:
                rows[f], cols[f], has_rc[f] = r, c, True
            for k, kw in enumerate(_OFFSETS):
                value = floats(get(pos, kw), 1)
                if value is not None:
                    xyz[f, k] = value[0]
        return SlideFrames(present, rows, cols, has_rc, xyz)
    if not from_file or transfer_syntax == EXPLICIT_VR_BIG_ENDIAN:
        return None
    from labelmap.dicom.bulk import read_multiframe_header

    try:
        _, values, _ = read_multiframe_header(name, _FIELDS)
    except Exception:
        return None  # the context read this file; a failure here leaves the positions unchecked
    if values is None or values.n_frames != n:
        return None
    integers = []
    for column in (0, 1):
        got: dict[int, int] = {}
        for f, raw in values.columns[column]:
            if len(raw) == 4:
                got[f] = int.from_bytes(raw, "little", signed=True)
        integers.append(got)
    for f in set(integers[0]) & set(integers[1]):
        rows[f], cols[f], has_rc[f] = integers[0][f], integers[1][f], True
    for column in range(5):
        for f, _ in values.columns[column]:
            present[f] = True
    for k in range(3):
        for f, raw in values.columns[2 + k]:
            try:
                xyz[f, k] = float(raw.replace(b"\0", b" ").strip() or "nan")
            except ValueError:
                pass
    return SlideFrames(present, rows, cols, has_rc, xyz)


def tile_ids(ds: Dataset, frames: SlideFrames | None, n: int | None, tiled_full: bool, tile: Any) -> np.ndarray | None:
    """Per frame, an id of the tile (and focal plane) it covers; None when frames cannot be placed.

    TILED_FULL: the implicit order (frame k covers tile k modulo tiles x focal planes) when the frame
    count fits; otherwise the distinct Row/Column Positions of the frames.
    """
    if not n:
        return None
    if tiled_full:
        rows, cols = as_int(get(ds, "TotalPixelMatrixRows")), as_int(get(ds, "TotalPixelMatrixColumns"))
        planes = as_int(get(ds, "TotalPixelMatrixFocalPlanes")) or 1
        tr, tc = tile
        if not (rows and cols and tr and tc) or rows < 1 or cols < 1 or planes < 1:
            return None
        per_segment = -(-rows // tr) * -(-cols // tc) * planes
        if n % per_segment:
            return None
        return np.arange(n, dtype=np.int64) % per_segment
    if frames is None or not frames.has_row_column.all():
        return None
    keys = np.stack([frames.rows, frames.columns], axis=1)
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)
