"""The header of a slide SEG (tiled, on a VL Whole Slide Microscopy level) and its sparse per-frame items.

What is copied from the source level and why (see the slide spec note): patient, study and
Frame of Reference (viewers refuse a SEG whose Frame of Reference differs), the Specimen
module's root attributes (viewers require one Container Identifier per pyramid), the Total
Pixel Matrix origin verbatim, Image Orientation (Slide) and Pixel Spacing (a SEG level is
drawn on a source level only when origin and spacing match).  TILED_FULL frames carry no
per-frame items; TILED_SPARSE frames carry Plane Position (Slide) and, for BINARY and
FRACTIONAL, Segment Identification, encoded as bytes (never as pydicom data sets).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelmap.dicom.dataset import WriteDataset, WriteElement, copy_attribute
from labelmap.dicom.uid_source import UidSource
from labelmap.dicom.write import ITEM_BYTES, pad_text, sequence_bytes, short_element, tag_bytes
from labelmap.model import DEFAULT_RGB, SegmentDescription, SeriesAttributes, SlideGeometry
from labelmap.seg.encode import base_dataset, ds_text
from labelmap.seg.palette import apply_palette, palette_lut
from labelmap.seg.segments import new_item, segment_to_dataset
from labelmap.seg.types import SEG_TYPES, SegmentationType

__all__ = ["SlideReference", "slide_dataset", "sparse_items", "dimension_ranks"]

#: Specimen module root attributes copied from the source level (highdicom copies the same).
_SPECIMEN_SEQUENCES = (
    "IssuerOfTheContainerIdentifierSequence",
    "ContainerTypeCodeSequence",
    "SpecimenDescriptionSequence",
)
_SEGMENT_IDENTIFICATION, _REFERENCED_SEGMENT = 0x0062000A, 0x0062000B
_PLANE_POSITION_SLIDE = 0x0048021A
_ROW_POSITION, _COLUMN_POSITION = 0x0048021F, 0x0048021E


@dataclass(frozen=True)
class SlideReference:
    """The source level a SEG level lies on: its header and identity."""

    dataset: Any  # pydicom header of the level (no pixels)
    geometry: SlideGeometry
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str


def _raw_sequence(src: Any, keyword: str) -> bytes | None:
    """The value bytes (items, defined lengths, Explicit VR LE) of a sequence of a pydicom header, or None."""
    if keyword not in src or not hasattr(src, "get_item"):
        return None
    from copy import deepcopy

    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    element = deepcopy(src[keyword])
    _defined_lengths(element)
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, element)
    return fp.getvalue()[12:]  # after tag, VR, reserved bytes and the 4-byte length


def _defined_lengths(element: Any) -> None:
    if element.VR == "SQ":
        element.is_undefined_length = False
        for item in element.value:
            item.is_undefined_length_sequence_item = False
            for inner in item:
                _defined_lengths(inner)


def _copy_sequence(ds: WriteDataset, src: Any, keyword: str) -> bool:
    from labelmap.dicom.dictionary import tag_of

    raw = _raw_sequence(src, keyword)
    if raw is None:
        return False
    tag = tag_of(keyword)
    ds._elements[tag] = WriteElement(tag, "SQ", [], raw)
    return True


def _pixel_measures(reference: SlideReference) -> WriteDataset:
    """Pixel Measures of the source level (its shared group), written as read; from the geometry without one."""
    item = WriteDataset()
    src = reference.dataset
    measures = None
    try:
        measures = src.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    except (AttributeError, IndexError, KeyError, TypeError):
        pass
    if measures is None or not copy_attribute(item, measures, "PixelSpacing") or not _valid(item, "PixelSpacing"):
        # written as read when valid (viewers match levels by spacing); a value too long for DS is rewritten
        item.PixelSpacing = [ds_text(v) for v in reference.geometry.pixel_spacing]
    if measures is not None and copy_attribute(item, measures, "SliceThickness") and not _valid(item, "SliceThickness"):
        del item.SliceThickness
    return item


def _valid(item: WriteDataset, keyword: str) -> bool:
    from labelmap.dicom.dictionary import MULTIPLICITY
    from labelmap.dicom.vr import check

    element = item[keyword]
    return check(element.VR, element.value, vm=MULTIPLICITY.get(keyword, (1, 1))) is None


def slide_dataset(  # noqa: PLR0913 - the header's parts are its parameters
    reference: SlideReference,
    geometry: SlideGeometry,
    *,
    series: SeriesAttributes,
    seg_type: SegmentationType,
    bits: int,
    segments: Sequence[SegmentDescription],
    background: bool,
    sparse: bool,
    frames: int,
    palette: bool = False,
    fractional_type: str = "PROBABILITY",
    overlap: str = "UNDEFINED",
    uids: UidSource | None = None,
) -> WriteDataset:
    """The SEG header of one slide level, Pixel Data and per-frame items excepted.

    Parameters
    ----------
    reference
        The source level the SEG lies on (header, geometry, identity).
    geometry
        The SEG's total pixel matrix and tile size (the reference's, or its matrix with other tiles).
    series
        Series-level attributes.
    seg_type, bits
        Segmentation Type and Bits Allocated of the frames.
    segments
        The segments, numbered (``number``), in any order (written ascending).
    background
        LABELMAP: value 0 occurs (pixels or padding): add segment 0 and Pixel Padding Value 0.
    sparse
        TILED_SPARSE (per-frame positions and a Dimension Index Sequence) instead of TILED_FULL.
    frames
        Number of Frames.
    palette
        LABELMAP: PALETTE COLOR with the segments' colours.
    fractional_type, overlap
        FRACTIONAL's Segmentation Fractional Type; Segments Overlap of BINARY / FRACTIONAL.
    uids
        Mints the new UIDs (None: random ones); one source for every level of a pyramid.

    Returns
    -------
    WriteDataset
        The header; the caller sets the file meta and writes it with :func:`labelmap.dicom.stream.write_frames_file`.
    """
    from labelmap.seg.segments import background_segment

    spec = SEG_TYPES[seg_type]
    src = reference.dataset
    uids = UidSource() if uids is None else uids
    ds = base_dataset(src, series, seg_type, (geometry.tile_rows, geometry.tile_columns), bits, uids)
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PatientOrientation = ""  # Type 2C: no patient-relative orientation on a slide (empty, as allowed)
    if copy_attribute(ds, src, "ContainerIdentifier"):
        for keyword in _SPECIMEN_SEQUENCES:
            _copy_sequence(ds, src, keyword)
    ds.TotalPixelMatrixRows = geometry.rows
    ds.TotalPixelMatrixColumns = geometry.columns
    if not _copy_sequence(ds, src, "TotalPixelMatrixOriginSequence"):
        x, y, z = geometry.origin
        origin = new_item(XOffsetInSlideCoordinateSystem=ds_text(x), YOffsetInSlideCoordinateSystem=ds_text(y))
        if z:
            origin.ZOffsetInSlideCoordinateSystem = ds_text(z)
        ds.TotalPixelMatrixOriginSequence = [origin]
    if not copy_attribute(ds, src, "ImageOrientationSlide") or not _valid(ds, "ImageOrientationSlide"):
        ds.ImageOrientationSlide = [ds_text(v) for v in geometry.orientation]
    ds.TotalPixelMatrixFocalPlanes = 1
    ds.SharedFunctionalGroupsSequence = [new_item(PixelMeasuresSequence=[_pixel_measures(reference)])]
    ds.NumberOfFrames = frames
    dim_uid = uids.uid("DimensionOrganizationUID")
    ds.DimensionOrganizationSequence = [new_item(DimensionOrganizationUID=dim_uid)]
    ds.DimensionOrganizationType = "TILED_SPARSE" if sparse else "TILED_FULL"
    if sparse:
        pointers = [(_REFERENCED_SEGMENT, _SEGMENT_IDENTIFICATION, "ReferencedSegmentNumber")]
        pointers = pointers if spec.segment_identification else []
        pointers += [
            (_ROW_POSITION, _PLANE_POSITION_SLIDE, "RowPositionInTotalImagePixelMatrix"),
            (_COLUMN_POSITION, _PLANE_POSITION_SLIDE, "ColumnPositionInTotalImagePixelMatrix"),
        ]
        ds.DimensionIndexSequence = [
            new_item(
                DimensionOrganizationUID=dim_uid,
                DimensionIndexPointer=index,
                FunctionalGroupPointer=group,
                DimensionDescriptionLabel=label,
            )
            for index, group, label in pointers
        ]
    identity = {
        "ReferencedSOPClassUID": reference.sop_class_uid,
        "ReferencedSOPInstanceUID": reference.sop_instance_uid,
    }
    ds.ReferencedSeriesSequence = [
        new_item(SeriesInstanceUID=reference.series_instance_uid, ReferencedInstanceSequence=[new_item(**identity)])
    ]
    ds.SourceImageSequence = [new_item(**identity)]

    ordered = sorted(segments, key=lambda s: s.number)
    if seg_type == SegmentationType.LABELMAP:
        ds.SegmentsOverlap = "NO"
        items = [(0, background_segment())] if background else []
        items += [(s.number, s) for s in ordered]
        if background:
            ds.PixelPaddingValue = 0
        ds.SegmentSequence = [segment_to_dataset(s, number=n, cielab=not palette, uids=uids) for n, s in items]
        if palette:
            ds.PhotometricInterpretation = "PALETTE COLOR"
            colours: dict[int, tuple[int, int, int]] = {n: s.rgb or DEFAULT_RGB for n, s in items}
            if background:
                colours[0] = (0, 0, 0)
            apply_palette(ds, palette_lut(colours, max(colours) + 1))
        else:
            ds.PhotometricInterpretation = "MONOCHROME2"
    else:
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.SegmentsOverlap = overlap
        ds.SegmentSequence = [segment_to_dataset(s, number=s.number, uids=uids) for s in ordered]
        if seg_type == SegmentationType.FRACTIONAL:
            ds.SegmentationFractionalType = fractional_type
            ds.MaximumFractionalValue = 255
    return ds


def dimension_ranks(present: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks of each tile row and tile column among those holding a written frame.

    ``present`` holds one (tiles_down, tiles_across) bool array per segment; a row or column
    without any frame gets rank 0 (never written).
    """
    any_present = np.logical_or.reduce(np.stack(present), axis=0) if len(present) > 1 else present[0]
    rows, columns = any_present.any(axis=1), any_present.any(axis=0)
    return np.where(rows, np.cumsum(rows), 0), np.where(columns, np.cumsum(columns), 0)


def sparse_items(
    geometry: SlideGeometry, present: Sequence[np.ndarray], segment_numbers: Sequence[int] | None
) -> Iterator[bytes]:
    """The Per-frame Functional Groups items of a TILED_SPARSE SEG, one chunk of bytes per tile row.

    Frames are segment-major (``segment_numbers[s]`` for ``present[s]``; None for LABELMAP: one
    segment loop, no Segment Identification), then tile row, then tile column; each item holds
    Frame Content (Dimension Index Values: [segment,] row rank, column rank) and Plane Position
    (Slide) with the Row / Column Position In Total Image Pixel Matrix and the X / Y / Z offsets
    of the tile's top-left pixel.
    """
    row_rank, column_rank = dimension_ranks(present)
    classic = segment_numbers is not None
    n_dims = 3 if classic else 2
    content_head = tag_bytes(0x00209111) + b"SQ\0\0" + struct.pack("<I", 16 + 4 * n_dims) + ITEM_BYTES
    content_head += struct.pack("<I", 8 + 4 * n_dims) + tag_bytes(0x00209157) + b"UL" + struct.pack("<H", 4 * n_dims)
    across = geometry.tiles_across
    column_text = [struct.pack("<i", geometry.tile_position(0, c)[1]) for c in range(across)]
    encoded: dict[tuple[int, float], bytes] = {}  # (tag, value) -> element: slides are mostly axis-aligned

    def offset(tag: int, value: float) -> bytes:
        key = (tag, value)
        found = encoded.get(key)
        if found is None:
            if len(encoded) > 65536:  # a rotated slide repeats few values: keep the memory bounded
                encoded.clear()
            found = encoded[key] = short_element(tag, b"DS", pad_text(ds_text(value)))
        return found

    for s, mask in enumerate(present):
        number = None if segment_numbers is None else int(segment_numbers[s])
        ident = b""
        if number is not None:
            ident = short_element(_REFERENCED_SEGMENT, b"US", struct.pack("<H", number))
            ident = sequence_bytes(_SEGMENT_IDENTIFICATION, ident)
        for tr in range(mask.shape[0]):
            columns = np.flatnonzero(mask[tr])
            if not columns.size:
                continue
            row_pos = geometry.tile_position(tr, 0)[0]
            row_bytes = short_element(_ROW_POSITION, b"SL", struct.pack("<i", row_pos))
            chunk = []
            for c in columns.tolist():
                dims = ([number] if number is not None else []) + [int(row_rank[tr]), int(column_rank[c])]
                x, y, z = geometry.position(row_pos, geometry.tile_position(tr, c)[1])
                plane = (
                    offset(0x0040072A, x)
                    + offset(0x0040073A, y)
                    + offset(0x0040074A, z)
                    + short_element(_COLUMN_POSITION, b"SL", column_text[c])
                    + row_bytes
                )
                body = content_head + struct.pack(f"<{n_dims}I", *dims) + sequence_bytes(_PLANE_POSITION_SLIDE, plane)
                body += ident
                chunk.append(ITEM_BYTES + struct.pack("<I", len(body)) + body)
            yield b"".join(chunk)
