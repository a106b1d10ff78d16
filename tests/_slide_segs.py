"""Tiled (slide) SEG files built by hand with pydicom, so that validator and hostile tests can damage them.

:func:`tiled_seg` writes a LABELMAP, BINARY or FRACTIONAL SEG of a small total pixel matrix as
TILED_FULL or TILED_SPARSE, native or RLE, with the geometry computed here independently of
labelmap (the slide mapping of PS3.3 C.8.12.14: X/Y in mm, Z in um, Image Orientation (Slide)
= direction of increasing column, then of increasing row).  Keyword arguments change one thing
at a time; the file it writes without them validates clean.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

LABELMAP_SOP = "1.2.840.10008.5.1.4.1.1.66.7"
SEG_SOP = "1.2.840.10008.5.1.4.1.1.66.4"
WSI_SOP = "1.2.840.10008.5.1.4.1.1.77.1.6"

SHAPE = (30, 40)  # rows, columns of the total pixel matrix
TILE = (10, 10)
SPACING = (0.0005, 0.0004)  # mm between rows, between columns
ORIGIN = (20.0, 40.0, 0.0)  # X mm, Y mm, Z um of pixel (1, 1)
ORIENTATION = (0.0, -1.0, 0.0, -1.0, 0.0, 0.0)


def sample_labels(shape=SHAPE, values=(1, 2, 3)) -> np.ndarray:
    """A label map with a few blocks (one tile left empty: sparse files omit it)."""
    rows, cols = shape
    out = np.zeros(shape, np.uint8)
    out[2 : rows // 2, 3 : cols // 2] = values[0]
    out[rows // 2 : rows - 1, cols // 3 : cols - 2] = values[1]
    out[1:4, cols - 7 : cols - 1] = values[2]
    out[: min(rows, 10), :10] = 0  # tile (0, 0) empty
    return out


def position(row: int, col: int, spacing=SPACING, origin=ORIGIN, orientation=ORIENTATION) -> tuple[float, ...]:
    """Slide (X mm, Y mm, Z um) of the 1-based total pixel matrix pixel (row, col)."""
    o = np.array(orientation, float)
    offset = (col - 1) * spacing[1] * o[:3] + (row - 1) * spacing[0] * o[3:]
    return (origin[0] + offset[0], origin[1] + offset[1], origin[2] + 1000.0 * offset[2])


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _segment(number: int, label: str) -> Dataset:
    item = Dataset()
    item.SegmentNumber = number
    item.SegmentLabel = label
    item.SegmentAlgorithmType = "MANUAL"
    if number == 0:
        item.SegmentedPropertyCategoryCodeSequence = [_code("91723000", "SCT", "Anatomical Stucture")]
        item.SegmentedPropertyTypeCodeSequence = [_code("125040", "DCM", "Background")]
    else:
        item.SegmentedPropertyCategoryCodeSequence = [_code("91723000", "SCT", "Anatomical Stucture")]
        item.SegmentedPropertyTypeCodeSequence = [_code("85756007", "SCT", "Tissue")]
    return item


def _plane_position(row: int, col: int, spacing, origin, orientation) -> Dataset:
    x, y, z = position(row, col, spacing, origin, orientation)
    item = Dataset()
    item.RowPositionInTotalImagePixelMatrix = row
    item.ColumnPositionInTotalImagePixelMatrix = col
    item.XOffsetInSlideCoordinateSystem = f"{x:.10f}"[:16]
    item.YOffsetInSlideCoordinateSystem = f"{y:.10f}"[:16]
    item.ZOffsetInSlideCoordinateSystem = f"{z:.6f}"[:16]
    return item


def _tiles(plane: np.ndarray, tile) -> list[tuple[int, int, np.ndarray]]:
    """(Row Position, Column Position, zero-padded tile) in TILED_FULL order."""
    tr, tc = tile
    rows, cols = plane.shape
    out = []
    for r0 in range(0, rows, tr):
        for c0 in range(0, cols, tc):
            t = np.zeros(tile, plane.dtype)
            part = plane[r0 : r0 + tr, c0 : c0 + tc]
            t[: part.shape[0], : part.shape[1]] = part
            out.append((r0 + 1, c0 + 1, t))
    return out


def tiled_seg(
    path: Path,
    *,
    seg_type: str = "LABELMAP",
    organization: str = "TILED_FULL",
    labels: np.ndarray | None = None,
    tile=TILE,
    spacing=SPACING,
    origin=ORIGIN,
    orientation=ORIENTATION,
    rle: bool = False,
    source: Dataset | None = None,
    change: Callable[[Dataset], object] | None = None,
) -> Path:
    """Write a tiled SEG of ``labels`` (default :func:`sample_labels`) to ``path``; ``change(ds)`` edits it last.

    LABELMAP: one frame per tile holding the labels; BINARY/FRACTIONAL: one segment per label
    value (1..N), frames in TILED_FULL order (tile column fastest, then tile row, then segment).
    TILED_SPARSE omits empty frames and writes a Plane Position (Slide) per frame.  ``source``
    (a VL WSI data set) gives patient, study, Frame of Reference and references.
    """
    labels = sample_labels() if labels is None else labels
    seg_type = seg_type.upper()
    values = sorted(int(v) for v in np.unique(labels) if v)
    rows, cols = labels.shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = LABELMAP_SOP if seg_type == "LABELMAP" else SEG_SOP
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = RLELossless if rle else ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Slide^Test", "S1", "", "O"
    ds.StudyInstanceUID = source.StudyInstanceUID if source is not None else generate_uid()
    ds.StudyDate, ds.StudyTime, ds.ReferringPhysicianName, ds.StudyID, ds.AccessionNumber = (
        "20260101",
        "1200",
        "",
        "1",
        "",
    )
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "SEG", generate_uid(), 300
    ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber, ds.SoftwareVersions = "t", "t", "1", "1"
    ds.InstanceNumber, ds.ContentLabel, ds.ContentDescription = 1, "TISSUE", ""
    ds.ContentCreatorName = ""
    ds.ContentDate, ds.ContentTime = "20260101", "120000"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PatientOrientation = ""
    ds.FrameOfReferenceUID = source.FrameOfReferenceUID if source is not None else generate_uid()
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.SegmentationType = seg_type
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    bits = 1 if seg_type == "BINARY" else 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.LossyImageCompression = "00"
    ds.Rows, ds.Columns = tile
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = rows, cols
    ds.TotalPixelMatrixFocalPlanes = 1
    origin_item = Dataset()
    origin_item.XOffsetInSlideCoordinateSystem = origin[0]
    origin_item.YOffsetInSlideCoordinateSystem = origin[1]
    if origin[2]:
        origin_item.ZOffsetInSlideCoordinateSystem = origin[2]
    ds.TotalPixelMatrixOriginSequence = [origin_item]
    ds.ImageOrientationSlide = list(orientation)
    ds.DimensionOrganizationType = organization
    organization_uid = generate_uid()
    ds.DimensionOrganizationSequence = [Dataset()]
    ds.DimensionOrganizationSequence[0].DimensionOrganizationUID = organization_uid
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [f"{spacing[0]:.10g}", f"{spacing[1]:.10g}"]
    measures.SliceThickness = "0.001"
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    if seg_type == "LABELMAP":
        ds.SegmentSequence = [_segment(0, "Background")] + [_segment(v, f"label {v}") for v in values]
        ds.PixelPaddingValue = 0
        planes = [(None, labels.astype(np.uint8))]
    else:
        ds.SegmentSequence = [_segment(v, f"label {v}") for v in values]
        if seg_type == "FRACTIONAL":
            ds.SegmentationFractionalType, ds.MaximumFractionalValue = "PROBABILITY", 255
        planes = [(v, ((labels == v) * (255 if seg_type == "FRACTIONAL" else 1)).astype(np.uint8)) for v in values]
    ds.SegmentsOverlap = "NO"
    if source is not None:
        series = Dataset()
        series.SeriesInstanceUID = source.SeriesInstanceUID
        instance = Dataset()
        instance.ReferencedSOPClassUID, instance.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
        series.ReferencedInstanceSequence = [instance]
        ds.ReferencedSeriesSequence = [series]
    frames: list[np.ndarray] = []
    per_frame: list[Dataset] = []
    sparse = organization != "TILED_FULL"
    for number, plane in planes:
        for r, c, t in _tiles(plane, tile):
            if sparse and not t.any():
                continue
            frames.append(t)
            if sparse:
                item = Dataset()
                content = Dataset()
                index = [] if number is None else [values.index(number) + 1]
                content.DimensionIndexValues = [*index, r, c]  # ranks are fixed below
                item.FrameContentSequence = [content]
                item.PlanePositionSlideSequence = [_plane_position(r, c, spacing, origin, orientation)]
                if number is not None:
                    ident = Dataset()
                    ident.ReferencedSegmentNumber = number
                    item.SegmentIdentificationSequence = [ident]
                item.DerivationImageSequence = DicomSequence([])
                per_frame.append(item)
    if sparse:
        # Dimension Index Values are 1-based ranks of the positions written
        for k in (-2, -1):
            distinct = sorted({int(i.FrameContentSequence[0].DimensionIndexValues[k]) for i in per_frame})
            for i in per_frame:
                v = list(i.FrameContentSequence[0].DimensionIndexValues)
                v[k] = distinct.index(int(v[k])) + 1
                i.FrameContentSequence[0].DimensionIndexValues = v
        pointers = [] if seg_type == "LABELMAP" else [("ReferencedSegmentNumber", "SegmentIdentificationSequence")]
        pointers += [
            ("RowPositionInTotalImagePixelMatrix", "PlanePositionSlideSequence"),
            ("ColumnPositionInTotalImagePixelMatrix", "PlanePositionSlideSequence"),
        ]
        index_items = []
        for pointer, group in pointers:
            item = Dataset()
            item.DimensionIndexPointer = pydicom.datadict.tag_for_keyword(pointer)
            item.FunctionalGroupPointer = pydicom.datadict.tag_for_keyword(group)
            item.DimensionOrganizationUID = organization_uid
            index_items.append(item)
        ds.DimensionIndexSequence = index_items
        ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.NumberOfFrames = len(frames)
    stack = np.stack(frames) if frames else np.zeros((0, *tile), np.uint8)
    if bits == 1:
        data = np.packbits(stack.reshape(-1), bitorder="little").tobytes()
        ds.PixelData = data + b"\0" * (len(data) % 2)
        ds["PixelData"].VR = "OB"
    elif rle:
        from pydicom.pixels import get_encoder

        encoder = get_encoder(RLELossless)
        kw = dict(rows=tile[0], columns=tile[1], samples_per_pixel=1, bits_allocated=8, bits_stored=8)
        kw.update(pixel_representation=0, photometric_interpretation="MONOCHROME2", number_of_frames=1)
        fragments = [encoder.encode(np.ascontiguousarray(f), encoding_plugin="pydicom", **kw) for f in stack]
        ds.PixelData = encapsulate(fragments, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.PixelData = stack.tobytes() + b"\0" * (stack.size % 2)
        ds["PixelData"].VR = "OB"
    if change is not None:
        change(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def per_frame_positions(ds: Dataset) -> list[Dataset]:
    """The Plane Position (Slide) item of each frame."""
    return [item.PlanePositionSlideSequence[0] for item in ds.PerFrameFunctionalGroupsSequence]
