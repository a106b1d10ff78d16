"""Tiled (slide) SEG rules (rules/slide.py): each case is a clean hand-built tiled SEG with one change.

The files come from tests/_slide_segs.py: a 30 x 40 total pixel matrix in 10 x 10 tiles
(12 tiles; LABELMAP TILED_FULL = 12 frames, BINARY/FRACTIONAL = 3 segments x 12), TILED_SPARSE
omitting the empty tiles, geometry computed in the test module, not by labelmap.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _slide_segs import SHAPE, TILE, per_frame_positions, position, sample_labels, tiled_seg
from _validate import assert_breaks, show
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from labelmap.validate import check_seg, validate_seg


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "<type>-<full|sparse>[-rle]"
    change: object  # (Dataset) -> None
    keyword: str
    severity: str = "error"
    says: str = ""


def _file(root: Path, kind: str, change=None, **kw) -> Path:
    seg_type, organization, *rest = kind.split("-")
    return tiled_seg(
        root / f"{kind}.dcm",
        seg_type=seg_type,
        organization="TILED_FULL" if organization == "full" else "TILED_SPARSE",
        rle="rle" in rest,
        change=change,
        **kw,
    )


def drop_last_frame(ds: Dataset) -> None:
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    ds.NumberOfFrames = n - 1
    ds.PixelData = bytes(ds.PixelData)[: (n - 1) * r * c]


def per_frame_full(ds: Dataset, shift: int = 0) -> None:
    """Per-frame Plane Position (Slide) on a LABELMAP TILED_FULL file, in (or off by ``shift``) the implicit order."""
    items = []
    across = -(-int(ds.TotalPixelMatrixColumns) // int(ds.Columns))
    for k in range(int(ds.NumberOfFrames)):
        item, pos = Dataset(), Dataset()
        pos.RowPositionInTotalImagePixelMatrix = (k // across) * int(ds.Rows) + 1
        pos.ColumnPositionInTotalImagePixelMatrix = (k % across) * int(ds.Columns) + 1 + (shift if k == 5 else 0)
        item.PlanePositionSlideSequence = [pos]
        content = Dataset()
        content.DimensionIndexValues = [k // across + 1, k % across + 1]
        item.FrameContentSequence = [content]
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = items


def index_rows_columns(ds: Dataset) -> None:
    """A Dimension Index Sequence of Row and Column Position only (highdicom refuses it on multi-segment files)."""
    out = []
    for kw in ("RowPositionInTotalImagePixelMatrix", "ColumnPositionInTotalImagePixelMatrix"):
        item = Dataset()
        item.DimensionIndexPointer = pydicom.datadict.tag_for_keyword(kw)
        item.FunctionalGroupPointer = pydicom.datadict.tag_for_keyword("PlanePositionSlideSequence")
        item.DimensionOrganizationUID = ds.DimensionOrganizationSequence[0].DimensionOrganizationUID
        out.append(item)
    ds.DimensionIndexSequence = out


def set_position(frame: int, **values) -> object:
    def change(ds: Dataset) -> None:
        pos = per_frame_positions(ds)[frame]
        for kw, value in values.items():
            setattr(pos, kw, value)

    return change


def swap_xy(ds: Dataset) -> None:
    pos = per_frame_positions(ds)[2]
    pos.XOffsetInSlideCoordinateSystem, pos.YOffsetInSlideCoordinateSystem = (
        pos.YOffsetInSlideCoordinateSystem,
        pos.XOffsetInSlideCoordinateSystem,
    )


def duplicate_frame(ds: Dataset) -> None:
    first = per_frame_positions(ds)[0]
    second = per_frame_positions(ds)[1]
    second.RowPositionInTotalImagePixelMatrix = first.RowPositionInTotalImagePixelMatrix
    second.ColumnPositionInTotalImagePixelMatrix = first.ColumnPositionInTotalImagePixelMatrix
    x, y, _ = position(int(first.RowPositionInTotalImagePixelMatrix), int(first.ColumnPositionInTotalImagePixelMatrix))
    second.XOffsetInSlideCoordinateSystem, second.YOffsetInSlideCoordinateSystem = f"{x:.10f}", f"{y:.10f}"


def empty_fragment(ds: Dataset) -> None:
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames[3] = b""
    ds.PixelData = encapsulated(frames)


def encapsulated(frames: list[bytes]) -> bytes:
    """Encapsulated Pixel Data of one fragment per frame, empty ones kept (pydicom's encapsulate refuses them);
    without the sequence delimiter, which pydicom writes."""
    offsets, at = [], 0
    for f in frames:
        offsets.append(at)
        at += 8 + len(f)
    out = [b"\xfe\xff\x00\xe0" + struct.pack("<I", 4 * len(frames)) + struct.pack(f"<{len(frames)}I", *offsets)]
    out += [b"\xfe\xff\x00\xe0" + struct.pack("<I", len(f)) + f for f in frames]
    return b"".join(out)


def drop(keyword: str, where: str = "") -> object:
    def change(ds: Dataset) -> None:
        target = ds.SharedFunctionalGroupsSequence[0] if where == "shared" else ds
        if where == "origin":
            target = ds.TotalPixelMatrixOriginSequence[0]
        if where == "frame":
            target = ds.PerFrameFunctionalGroupsSequence[4]
        if where == "position":
            target = per_frame_positions(ds)[4]
        delattr(target, keyword)

    return change


def unsort_segments(ds: Dataset) -> None:
    ds.SegmentSequence = list(reversed(list(ds.SegmentSequence)))


CASES = [
    # TILED_FULL
    Case(
        "full-frames-short",
        "labelmap-full",
        drop_last_frame,
        "NumberOfFrames",
        says="expected 1 focal plane(s) x 3 x 4",
    ),
    Case(
        "full-binary-frames-short",
        "binary-full",
        lambda d: setattr(d, "NumberOfFrames", 24),
        "NumberOfFrames",
        says="3 segment(s) x 1 focal plane(s) x 3 x 4 tiles = 36",
    ),
    Case(
        "full-focal-planes-absent", "labelmap-full", drop("TotalPixelMatrixFocalPlanes"), "TotalPixelMatrixFocalPlanes"
    ),
    Case(
        "full-focal-planes-2",
        "labelmap-full",
        lambda d: setattr(d, "TotalPixelMatrixFocalPlanes", 2),
        "NumberOfFrames",
        says="2 focal plane(s)",
    ),
    Case("full-orientation-absent", "labelmap-full", drop("ImageOrientationSlide"), "ImageOrientationSlide"),
    Case(
        "full-orientation-skew",
        "labelmap-full",
        lambda d: setattr(d, "ImageOrientationSlide", [0, -1, 0, -1, 0.5, 0]),
        "ImageOrientationSlide",
        says="orthogonal unit",
    ),
    Case(
        "full-origin-x-absent",
        "labelmap-full",
        drop("XOffsetInSlideCoordinateSystem", "origin"),
        "XOffsetInSlideCoordinateSystem",
    ),
    Case("full-matrix-rows-absent", "labelmap-full", drop("TotalPixelMatrixRows"), "TotalPixelMatrixRows"),
    Case(
        "full-matrix-rows-zero",
        "labelmap-full",
        lambda d: setattr(d, "TotalPixelMatrixRows", 0),
        "TotalPixelMatrixRows",
        says="positive integer",
    ),
    Case("full-per-frame-positions", "labelmap-full", per_frame_full, "PlanePositionSlideSequence", "warning"),
    Case(
        "full-per-frame-positions-wrong",
        "labelmap-full",
        lambda d: per_frame_full(d, shift=3),
        "RowPositionInTotalImagePixelMatrix",
        says="contradict the TILED_FULL order, which puts frame 6 at 11/11",
    ),
    Case(
        "full-index-rows-columns-only",
        "binary-full",
        index_rows_columns,
        "DimensionIndexSequence",
        says="Referenced Segment Number",
    ),
    Case(
        "full-index-segment-only",
        "labelmap-full",
        lambda d: (index_rows_columns(d), d.DimensionIndexSequence.pop()),
        "DimensionIndexSequence",
        says="Column Position",
    ),
    Case(
        "full-pixel-measures-absent",
        "labelmap-full",
        drop("PixelMeasuresSequence", "shared"),
        "PixelMeasuresSequence",
        "warning",
    ),
    Case(
        "full-pixel-spacing-zero",
        "labelmap-full",
        lambda d: setattr(d.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0], "PixelSpacing", [0, 0.0004]),
        "PixelSpacing",
    ),
    Case("full-zero-length-fragment", "labelmap-full-rle", empty_fragment, "PixelData", says="zero-length fragment"),
    Case("full-frame-of-reference", "labelmap-full", drop("FrameOfReferenceUID"), "FrameOfReferenceUID", "warning"),
    Case("full-segments-unsorted", "binary-full", unsort_segments, "SegmentSequence", "warning", says="not sorted"),
    Case(
        "full-optical-paths",
        "labelmap-full",
        lambda d: setattr(d, "NumberOfOpticalPaths", 1),
        "NumberOfOpticalPaths",
        "warning",
    ),
    Case(
        "full-deflated-dataset",
        "labelmap-full",
        lambda d: setattr(d.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2.1.99"),
        "TransferSyntaxUID",
        "warning",
        says="one deflate stream",
    ),
    # TILED_SPARSE
    Case(
        "sparse-row-past-matrix",
        "labelmap-sparse",
        set_position(3, RowPositionInTotalImagePixelMatrix=31),
        "RowPositionInTotalImagePixelMatrix",
        says="31/",
    ),
    Case(
        "sparse-column-zero",
        "binary-sparse",
        set_position(0, ColumnPositionInTotalImagePixelMatrix=0),
        "RowPositionInTotalImagePixelMatrix",
        says="outside the total pixel matrix of 30 x 40",
    ),
    Case(
        "sparse-off-grid",
        "labelmap-sparse",
        set_position(2, RowPositionInTotalImagePixelMatrix=6),
        "RowPositionInTotalImagePixelMatrix",
        "warning",
        says="off the 10 x 10 tile grid",
    ),
    Case(
        "sparse-xy-swapped", "fractional-sparse", swap_xy, "XOffsetInSlideCoordinateSystem", "warning", says="frame 3"
    ),
    Case(
        "sparse-position-absent",
        "labelmap-sparse",
        drop("PlanePositionSlideSequence", "frame"),
        "PlanePositionSlideSequence",
        says="frame 5",
    ),
    Case(
        "sparse-row-absent",
        "labelmap-sparse",
        drop("RowPositionInTotalImagePixelMatrix", "position"),
        "RowPositionInTotalImagePixelMatrix",
        says="frame 5",
    ),
    Case(
        "sparse-segment-identification-absent",
        "binary-sparse",
        drop("SegmentIdentificationSequence", "frame"),
        "ReferencedSegmentNumber",
        says="frame 5",
    ),
    Case(
        "sparse-index-without-positions",
        "labelmap-sparse",
        lambda d: setattr(d, "DimensionIndexSequence", d.DimensionIndexSequence[:1]),
        "DimensionIndexSequence",
        "warning",
        says="does not index Row and Column",
    ),
    Case(
        "sparse-duplicate",
        "labelmap-sparse",
        duplicate_frame,
        "RowPositionInTotalImagePixelMatrix",
        "warning",
        says="lie at",
    ),
    Case(
        "sparse-no-matrix",
        "labelmap-sparse",
        lambda d: [
            delattr(d, kw)
            for kw in ("TotalPixelMatrixRows", "TotalPixelMatrixColumns", "TotalPixelMatrixOriginSequence")
        ],
        "TotalPixelMatrixRows",
        "warning",
        says="cannot be checked",
    ),
    Case(
        "sparse-no-orientation", "binary-sparse", drop("ImageOrientationSlide"), "ImageOrientationSlide", says="absent"
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_damaged_tiled_seg(tmp_path, case):
    path = _file(tmp_path, case.kind, case.change)
    assert_breaks(validate_seg(path), case)


@pytest.mark.parametrize(
    "kind",
    [
        "labelmap-full",
        "labelmap-full-rle",
        "labelmap-sparse",
        "binary-full",
        "binary-sparse",
        "fractional-full",
        "fractional-sparse-rle",
    ],
)
@pytest.mark.parametrize("orientation", [(0, -1, 0, -1, 0, 0), (1, 0, 0, 0, 1, 0)], ids=["rotated", "identity"])
def test_clean_tiled_segs_have_no_findings(tmp_path, kind, orientation):
    path = _file(tmp_path, kind, orientation=orientation)
    result = check_seg(path)
    assert result.violations == [], show(result.violations)
    assert is_slide_file(path)


def is_slide_file(path: Path) -> bool:
    from labelmap.validate.context import load_context

    return load_context(path, str(path), None).slide


@pytest.mark.parametrize("deep", [True, False], ids=["pydicom-items", "bulk-reader"])
def test_positions_read_without_pydicom_items(tmp_path, deep):
    """Past DEEP_FRAME_LIMIT (here: deep=False) the positions come from the bulk reader, with the same findings."""

    def damage(ds: Dataset) -> None:
        set_position(3, RowPositionInTotalImagePixelMatrix=31)(ds)
        set_position(1, RowPositionInTotalImagePixelMatrix=6)(ds)
        swap_xy(ds)

    path = _file(tmp_path, "binary-sparse", damage)
    result = check_seg(path, deep=deep)
    assert result.per_frame_items_checked is deep
    found = sorted((v.keyword, v.severity, v.frame) for v in result.violations)
    assert found == [
        ("RowPositionInTotalImagePixelMatrix", "error", 4),
        ("RowPositionInTotalImagePixelMatrix", "warning", 2),
        ("XOffsetInSlideCoordinateSystem", "warning", 2),  # frame 2 moved, frame 3 swapped
    ], show(result.violations)
    assert "frames 2, 3" in next(v.message for v in result.violations if v.keyword.startswith("XOffset"))


def test_a_dataset_is_checked_like_its_file(tmp_path):
    path = _file(tmp_path, "labelmap-sparse", set_position(3, RowPositionInTotalImagePixelMatrix=31))
    from_file = [(v.keyword, v.severity, v.message) for v in validate_seg(path)]
    from_dataset = [(v.keyword, v.severity, v.message) for v in validate_seg(pydicom.dcmread(path))]
    assert from_file == from_dataset and from_file


def test_rotated_offsets_checked_in_both_orientations(tmp_path):
    """X/Y against Row/Column follows Image Orientation (Slide): offsets right for one are wrong for the other."""
    right = _file(tmp_path, "labelmap-sparse", orientation=(1, 0, 0, 0, 1, 0))
    assert validate_seg(right) == []
    ds = pydicom.dcmread(right)
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    ds.save_as(tmp_path / "wrong.dcm")
    found = [v for v in validate_seg(tmp_path / "wrong.dcm") if v.keyword == "XOffsetInSlideCoordinateSystem"]
    assert found and found[0].severity == "warning", show(validate_seg(tmp_path / "wrong.dcm"))


def test_huge_matrix_with_few_frames_is_quick(tmp_path):
    """A TILED_FULL SEG claiming 10^6 x 10^6 pixels in 12 frames: one frame-count error, nothing sized by the claim."""

    def huge(ds: Dataset) -> None:
        ds.TotalPixelMatrixRows = ds.TotalPixelMatrixColumns = 1_000_000

    path = _file(tmp_path, "labelmap-full", huge)
    start = time.perf_counter()
    found = validate_seg(path)
    assert time.perf_counter() - start < 5
    errors = [v for v in found if v.severity == "error"]
    assert [v.keyword for v in errors] == ["NumberOfFrames"], show(found)
    assert "10000000000" in errors[0].message


def test_volume_segs_get_no_slide_findings(tmp_path):
    """The slide rules stay silent on a patient-space SEG (the whole validator suite covers the rest)."""
    from labelmap.validate.context import load_context

    path = _file(tmp_path, "labelmap-full")
    ds = pydicom.dcmread(path)
    for kw in (
        "TotalPixelMatrixRows",
        "TotalPixelMatrixColumns",
        "TotalPixelMatrixOriginSequence",
        "ImageOrientationSlide",
        "TotalPixelMatrixFocalPlanes",
        "DimensionOrganizationType",
    ):
        delattr(ds, kw)
    assert not load_context(ds, "ds", None).slide


def test_sample_labels_fit_the_tiles():
    labels = sample_labels()
    assert labels.shape == SHAPE and not labels[: TILE[0], : TILE[1]].any() and len(np.unique(labels)) == 4


def test_large_compressed_frames_are_not_decoded_whole(tmp_path, monkeypatch):
    """A slide SEG decoding to more than DECODE_LIMIT bytes: values unchecked (one warning), items still checked."""
    from labelmap.validate.rules import pixels

    monkeypatch.setattr(pixels, "DECODE_LIMIT", 1000)
    path = _file(tmp_path, "labelmap-full-rle", drop_last_frame_rle)
    found = validate_seg(path)
    assert [(v.keyword, v.severity) for v in found] == [("NumberOfFrames", "error"), ("PixelData", "warning")], show(
        found
    )
    assert "not checked" in found[1].message


def drop_last_frame_rle(ds: Dataset) -> None:
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    ds.NumberOfFrames = len(frames) - 1
    ds.PixelData = encapsulated(frames[:-1])


def deflate_frames(value: int | None = None) -> object:
    """Native frames re-encoded as Deflated Image Frame Compression (raw deflate, one fragment each);
    ``value`` put in one pixel of frame 6.  pydicom 3.0 cannot write that syntax: the file is saved as
    RLE and its Transfer Syntax UID patched afterwards (:func:`with_deflate_frame_syntax`)."""

    def change(ds: Dataset) -> None:
        n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
        frames = np.frombuffer(bytes(ds.PixelData)[: n * r * c], np.uint8).reshape(n, r, c).copy()
        if value is not None:
            frames[5, 3, 3] = value
        fragments = []
        for frame in frames:
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = packer.compress(frame.tobytes()) + packer.flush()
            fragments.append(data + b"\0" * (len(data) % 2))
        ds.PixelData = encapsulated(fragments)
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = pydicom.uid.RLELossless

    return change


def with_deflate_frame_syntax(path: Path) -> Path:
    data = path.read_bytes()
    old, new = pydicom.uid.RLELossless.encode() + b"\0", DEFLATE_FRAME.encode() + b"\0"
    at = data.index(old)
    data = data[: at - 2] + struct.pack("<H", len(new)) + new + data[at + len(old) :]
    group = data.index(b"\x02\x00\x00\x00UL")
    (length,) = struct.unpack_from("<I", data, group + 8)
    path.write_bytes(data[: group + 8] + struct.pack("<I", length + len(new) - len(old)) + data[group + 12 :])
    return path


DEFLATE_FRAME = "1.2.840.10008.1.2.8.1"


@pytest.mark.parametrize("value", [None, 7], ids=["clean", "undescribed-value"])
def test_deflated_image_frames_are_decoded_and_noted(tmp_path, value):
    """Deflated Image Frame Compression: one 'few readers' warning, and the frames are decoded (a pixel value
    without a Segment Sequence item is found)."""
    path = with_deflate_frame_syntax(_file(tmp_path, "labelmap-full", deflate_frames(value)))
    found = validate_seg(path)
    expected = [("TransferSyntaxUID", "warning")] + ([("SegmentSequence", "error")] if value else [])
    assert sorted((v.keyword, v.severity) for v in found) == sorted(expected), show(found)
    assert "few readers" in next(v.message for v in found if v.keyword == "TransferSyntaxUID")


def test_row_column_swap_is_named(tmp_path):
    """Offsets that fit Row and Column swapped (highdicom's 2020 SM SEGs) are named as such."""

    def swap(ds: Dataset) -> None:
        for pos in per_frame_positions(ds):
            row, col = int(pos.RowPositionInTotalImagePixelMatrix), int(pos.ColumnPositionInTotalImagePixelMatrix)
            if row != col and col <= int(ds.TotalPixelMatrixRows):
                pos.RowPositionInTotalImagePixelMatrix, pos.ColumnPositionInTotalImagePixelMatrix = col, row
                x, y, _ = position(row, col)  # the offsets stay those of the unswapped position
                pos.XOffsetInSlideCoordinateSystem, pos.YOffsetInSlideCoordinateSystem = f"{x:.10f}", f"{y:.10f}"

    found = validate_seg(_file(tmp_path, "labelmap-sparse", swap))
    offsets = [v for v in found if v.keyword == "XOffsetInSlideCoordinateSystem"]
    assert offsets and "match Row and Column swapped" in offsets[0].message, show(found)


def overlap_segments(ds: Dataset) -> None:
    """Segment 2 takes one pixel of segment 1 (TILED_FULL: frame t and frame t + tiles are one tile)."""
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    bits = np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little")[: n * r * c].reshape(n, r, c)
    tiles = n // len(ds.SegmentSequence)
    k, y, x = np.argwhere(bits[:tiles])[0]
    bits[tiles + k, y, x] = 1
    data = np.packbits(bits.reshape(-1), bitorder="little").tobytes()
    ds.PixelData = data + b"\0" * (len(data) % 2)


@pytest.mark.parametrize(
    "kind,change,severity,says",
    [
        ("binary-full", overlap_segments, "error", "segments overlap: 1 and 2 (1 pixels)"),
        ("binary-full", lambda d: setattr(d, "SegmentsOverlap", "YES"), "warning", "no two segments share"),
        ("binary-sparse", lambda d: setattr(d, "SegmentsOverlap", "YES"), "warning", "no two segments share"),
    ],
    ids=["full-overlap-said-no", "full-yes-without-overlap", "sparse-yes-without-overlap"],
)
def test_binary_tiles_compared_for_segments_overlap(tmp_path, kind, change, severity, says):
    """Frames of one tile are compared like frames of one position in a volume (the tile ids of the context)."""
    found = validate_seg(_file(tmp_path, kind, change))
    hits = [v for v in found if v.keyword == "SegmentsOverlap" and v.severity == severity and says in v.message]
    assert hits, show(found)
