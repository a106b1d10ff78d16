"""Tiled SEG fixtures for the read tests: a small VL Whole Slide Microscopy source built with pydicom,
highdicom's tiled SEGs of it, and hand-built SEGs (pydicom) for the damaged cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

WSI_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"


def wsi_dataset(
    rows: int,
    columns: int,
    tile: tuple[int, int] = (256, 256),
    spacing_mm: float = 0.00025,
    origin: tuple[float, float] = (20.0, 40.0),
    orientation: tuple[float, ...] = (0, -1, 0, -1, 0, 0),
) -> Dataset:
    """A VL WSI level (TILED_FULL, RGB, zero pixels) as highdicom needs a source image."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = WSI_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Slide^Test", "P1", "", ""
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = (
        "20260101",
        "1200",
        "",
        "",
        "1",
    )
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = "SM", 1, 1, "test"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.ContainerIdentifier = "SLIDE-1"
    ds.IssuerOfTheContainerIdentifierSequence = []
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "433466003", "SCT", "Microscope slide"
    ds.ContainerTypeCodeSequence = [code]
    specimen = Dataset()
    specimen.SpecimenIdentifier, specimen.SpecimenUID = "S1", generate_uid()
    specimen.IssuerOfTheSpecimenIdentifierSequence, specimen.SpecimenPreparationSequence = [], []
    ds.SpecimenDescriptionSequence = [specimen]
    ds.Rows, ds.Columns = tile
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = rows, columns
    ds.TotalPixelMatrixFocalPlanes = ds.NumberOfFocalPlanes = ds.NumberOfOpticalPaths = 1
    item = Dataset()
    item.XOffsetInSlideCoordinateSystem, item.YOffsetInSlideCoordinateSystem = origin
    ds.TotalPixelMatrixOriginSequence = [item]
    ds.ImageOrientationSlide = list(orientation)
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    n_tiles = -(-rows // tile[0]) * -(-columns // tile[1])
    ds.NumberOfFrames = n_tiles
    measures = Dataset()
    measures.PixelSpacing, measures.SliceThickness = [spacing_mm, spacing_mm], 0.004
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.ImagedVolumeWidth, ds.ImagedVolumeHeight, ds.ImagedVolumeDepth = columns * spacing_mm, rows * spacing_mm, 0.004
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    ds.OpticalPathSequence = [path]
    ds.AcquisitionDateTime = "20260101120000"
    ds.VolumetricProperties, ds.SpecimenLabelInImage, ds.BurnedInAnnotation = "VOLUME", "NO", "NO"
    ds.FocusMethod, ds.ExtendedDepthOfField = "AUTO", "NO"
    ds.PixelData = bytes(n_tiles * tile[0] * tile[1] * 3)
    return ds


def blobs(rows: int, columns: int, labels: int, seed: int = 0, empty_band: bool = True) -> np.ndarray:
    """A label map of rectangles (values 1..labels) on background, with an empty band of rows when asked."""
    rng = np.random.default_rng(seed)
    out = np.zeros((rows, columns), dtype=np.uint8 if labels < 256 else np.uint16)
    for k in range(1, labels + 1):
        for _ in range(3):
            r, c = int(rng.integers(0, rows)), int(rng.integers(0, columns))
            h, w = int(rng.integers(1, max(2, rows // 4))), int(rng.integers(1, max(2, columns // 4)))
            out[r : r + h, c : c + w] = k
    if empty_band and rows > 40:
        out[rows // 3 : rows // 3 + rows // 6] = 0
    return out


def descriptions(numbers):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return [
        hd.seg.SegmentDescription(
            segment_number=int(n),
            segment_label=f"segment {n}",
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type="MANUAL",
        )
        for n in numbers
    ]


def highdicom_seg(
    path: Path,
    labels: np.ndarray,
    seg_type: str = "LABELMAP",
    organization: str = "TILED_FULL",
    tile: tuple[int, int] = (256, 256),
    syntax: str = ExplicitVRLittleEndian,
    source: Dataset | None = None,
    masks: np.ndarray | None = None,
    **kwargs,
) -> Path:
    """highdicom's tiled SEG of ``labels`` (LABELMAP) or of ``masks`` (rows, columns, segments) for BINARY /
    FRACTIONAL (default: one mask per label value); written to ``path``."""
    import highdicom as hd

    source = source or wsi_dataset(labels.shape[0], labels.shape[1], tile)
    numbers = sorted(int(v) for v in np.unique(labels) if v)
    if seg_type == "LABELMAP":
        pixels = labels
    else:
        if masks is None:
            masks = np.stack([labels == n for n in numbers], axis=-1)
            if seg_type == "FRACTIONAL":
                masks = masks.astype(np.float32) * 0.5 + (masks.astype(np.float32) * 0.5 * (labels % 2 == 0)[..., None])
        pixels = masks[None]
        numbers = list(range(1, masks.shape[-1] + 1))
    seg = hd.seg.Segmentation(
        [source],
        pixels,
        seg_type,
        descriptions(numbers),
        hd.UID(),
        1,
        hd.UID(),
        1,
        "labelmap tests",
        "model",
        "1",
        "1",
        tile_pixel_array=True,
        dimension_organization_type=organization,
        omit_empty_frames=organization != "TILED_FULL",
        transfer_syntax_uid=syntax,
        **kwargs,
    )
    seg.save_as(path)
    return Path(path)


def reference_matrix(path: Path, seg_type: str, number: int | None = None) -> np.ndarray:
    """highdicom's own reading of a tiled SEG: the label map, or one segment's mask / stored values."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    if seg_type == "LABELMAP":
        return seg.get_total_pixel_matrix(combine_segments=True)
    return seg.get_total_pixel_matrix(segment_numbers=[number], rescale_fractional=False)[..., 0]


def hand_seg(  # noqa: PLR0913 - each damage is a keyword
    path: Path,
    *,
    rows: int,
    columns: int,
    tile: tuple[int, int],
    frames: np.ndarray,
    positions: list[tuple[int, int]] | None,
    seg_type: str = "LABELMAP",
    offsets: list[tuple[float, float]] | None = None,
    ref_frames: list[int] | None = None,
    organization: str | None = "TILED_SPARSE",
    origin: bool = True,
    total_matrix: bool = True,
    segment_numbers: list[int] | None = None,
    spacing_mm: float = 0.0005,
    deflate_frames: bool = False,
) -> Path:
    """A slide SEG written frame by frame with pydicom: ``frames`` (F, tile rows, tile columns) uint8 at the
    1-based (row, column) ``positions`` (None: no per-frame groups), optional X/Y offsets and Referenced
    Frame Numbers per frame (for the damaged cases)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop = LABELMAP_CLASS if seg_type == "LABELMAP" else SEG_CLASS
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SEG", 1, 1
    ds.SegmentationType = seg_type
    ds.Rows, ds.Columns = tile
    if total_matrix:
        ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixFocalPlanes = rows, columns, 1
    if origin:
        item = Dataset()
        item.XOffsetInSlideCoordinateSystem, item.YOffsetInSlideCoordinateSystem = 20.0, 40.0
        ds.TotalPixelMatrixOriginSequence = [item]
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    if organization:
        ds.DimensionOrganizationType = organization
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    bits = 1 if seg_type == "BINARY" else 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.NumberOfFrames = len(frames)
    numbers = segment_numbers or sorted({int(v) for v in np.unique(frames) if v} or {1})
    if seg_type == "LABELMAP":
        ds.PixelPaddingValue = 0
    if seg_type == "FRACTIONAL":
        ds.SegmentationFractionalType, ds.MaximumFractionalValue = "PROBABILITY", 255
    segs = []
    for n in numbers:
        s = Dataset()
        s.SegmentNumber, s.SegmentLabel, s.SegmentAlgorithmType = n, f"segment {n}", "MANUAL"
        for keyword, value, meaning in (
            ("SegmentedPropertyCategoryCodeSequence", "85756007", "Tissue"),
            ("SegmentedPropertyTypeCodeSequence", "85756007", "Tissue"),
        ):
            c = Dataset()
            c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, "SCT", meaning
            setattr(s, keyword, [c])
        segs.append(s)
    ds.SegmentSequence = segs
    measures = Dataset()
    measures.PixelSpacing, measures.SliceThickness = [spacing_mm, spacing_mm], 0.004
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    if positions is not None:
        items = []
        for f, (r, c) in enumerate(positions):
            item = Dataset()
            plane = Dataset()
            plane.RowPositionInTotalImagePixelMatrix, plane.ColumnPositionInTotalImagePixelMatrix = r, c
            if offsets is not None:
                plane.XOffsetInSlideCoordinateSystem, plane.YOffsetInSlideCoordinateSystem = offsets[f]
                plane.ZOffsetInSlideCoordinateSystem = 0
            item.PlanePositionSlideSequence = [plane]
            if ref_frames is not None:
                src = Dataset()
                src.ReferencedSOPClassUID, src.ReferencedSOPInstanceUID = WSI_CLASS, "1.2.3.4"
                src.ReferencedFrameNumber = ref_frames[f]
                der = Dataset()
                der.SourceImageSequence = [src]
                item.DerivationImageSequence = [der]
            if seg_type != "LABELMAP" and segment_numbers is not None:
                ident = Dataset()
                ident.ReferencedSegmentNumber = segment_numbers[f % len(segment_numbers)]
                item.SegmentIdentificationSequence = [ident]
            items.append(item)
        ds.PerFrameFunctionalGroupsSequence = items
    data = np.ascontiguousarray(frames, dtype=np.uint8)
    if deflate_frames:  # Deflated Image Frame Compression, which pydicom does not know: written as JPEG-LS, renamed
        from pydicom.encaps import encapsulate

        from labelmap.dicom.pixels.codecs import encode_frames

        ds.PixelData = encapsulate(encode_frames(data, "deflate-frame", bits_allocated=bits))
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.80"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        raw = Path(path).read_bytes().replace(b"1.2.840.10008.1.2.4.80", b"1.2.840.10008.1.2.8.1\0", 1)
        Path(path).write_bytes(raw)
        return Path(path)
    if bits == 1:
        raw = np.packbits(data.reshape(-1), bitorder="little").tobytes()
    else:
        raw = data.tobytes()
    ds.PixelData = raw + b"\0" * (len(raw) % 2)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return Path(path)
