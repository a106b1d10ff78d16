"""Synthetic whole-slide images for the tests: real VL Whole Slide Microscopy Image files written with pydicom.

:func:`write_wsi_pyramid` writes one instance per pyramid level (same series, Pyramid UID, Frame of
Reference and Container Identifier), TILED_FULL by default, with small native pixel data made
from one seeded base image (level k = nearest-neighbour downsampling of level 0).  UIDs not given
are derived from ``seed``, so two calls with one seed describe the same slide.  The other helpers
make the odd sources a slide folder holds in the wild: label / overview / thumbnail images
(:func:`write_wsi_associated`), a CT series (:func:`write_ct`), damaged headers
(:func:`edit_header`, :func:`truncate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from labelmap.model import Geometry

from _geometries import axial_geometry, make_ct_series

__all__ = [
    "WSI_SOP_CLASS",
    "edit_header",
    "level_spacings",
    "slide_uids",
    "truncate",
    "write_ct",
    "write_wsi_associated",
    "write_wsi_image",
    "write_wsi_pyramid",
    "wsi_pixels",
]

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
_PREFIX = "1.2.826.0.1.3680043.10.1235."  # a root for the test UIDs (deterministic via entropy sources)


def slide_uids(seed: int = 0) -> dict[str, str]:
    """The UIDs one seed gives a slide: study, series, frame of reference, pyramid, specimen, dimension organization."""
    names = ("study", "series", "frame_of_reference", "pyramid", "specimen", "dimension_organization")
    return {n: generate_uid(_PREFIX, [f"slide-{seed}-{n}"]) for n in names}


def level_spacings(sizes: Sequence[tuple[int, int]], spacing_mm: float) -> list[tuple[float, float]]:
    """Pixel Spacing (between rows, between columns) of each level: level 0's times the size ratio."""
    r0, c0 = sizes[0]
    return [(spacing_mm * r0 / r, spacing_mm * c0 / c) for r, c in sizes]


def _nearest(src: int, dst: int) -> np.ndarray:
    return np.minimum(((np.arange(dst) + 0.5) * src / dst).astype(np.int64), src - 1)


def wsi_pixels(sizes: Sequence[tuple[int, int]], *, photometric: str = "RGB", seed: int = 0) -> list[np.ndarray]:
    """The total pixel matrix of each level :func:`write_wsi_pyramid` writes (rows, cols[, 3]) uint8."""
    rng = np.random.default_rng(seed)
    r0, c0 = sizes[0]
    # smooth "tissue" (a few blobs) plus noise: deterministic, cheap, varied enough to tell tiles apart
    yy, xx = np.mgrid[0:r0, 0:c0].astype(np.float32)
    base = np.full((r0, c0), 230.0, dtype=np.float32)
    for _ in range(4):
        cy, cx = rng.uniform(0, r0), rng.uniform(0, c0)
        radius = rng.uniform(0.1, 0.4) * max(r0, c0)
        base -= 120.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    base += rng.normal(0, 8, size=base.shape).astype(np.float32)
    gray = np.clip(base, 0, 255).astype(np.uint8)
    level0 = np.stack([gray, np.roll(gray, 7, axis=1), np.roll(gray, 13, axis=0)], axis=-1)
    if photometric == "MONOCHROME2":
        level0 = gray
    return [level0[_nearest(r0, r)][:, _nearest(c0, c)] for r, c in sizes]


def _tiles(matrix: np.ndarray, tile: tuple[int, int], planes: int) -> bytes:
    """Frames of ``matrix`` in TILED_FULL order (column fastest, then row, then focal plane), zero-padded."""
    tr, tc = tile
    rows, cols = matrix.shape[:2]
    down, across = -(-rows // tr), -(-cols // tc)
    padded = np.zeros((down * tr, across * tc) + matrix.shape[2:], dtype=np.uint8)
    padded[:rows, :cols] = matrix
    frames = padded.reshape((down, tr, across, tc) + matrix.shape[2:]).swapaxes(1, 2)
    one = np.ascontiguousarray(frames).tobytes()
    return one * planes


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _specimen(ds: Dataset, uids: dict[str, str], container: str) -> None:
    ds.ContainerIdentifier = container
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = "LABELMAP-TEST-LAB"
    ds.IssuerOfTheContainerIdentifierSequence = DicomSequence([issuer])
    ds.ContainerTypeCodeSequence = DicomSequence([_code("433466003", "SCT", "Microscope slide")])
    item = Dataset()
    item.SpecimenIdentifier = f"{container}-S1"
    item.SpecimenUID = uids["specimen"]
    item.IssuerOfTheSpecimenIdentifierSequence = DicomSequence([])
    item.SpecimenPreparationSequence = DicomSequence([])
    item.PrimaryAnatomicStructureSequence = DicomSequence([_code("39607008", "SCT", "Lung")])
    ds.SpecimenDescriptionSequence = DicomSequence([item])


def _optical_path(ds: Dataset) -> None:
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    path.OpticalPathDescription = "Brightfield"
    path.IlluminationTypeCodeSequence = DicomSequence([_code("111744", "DCM", "Brightfield illumination")])
    path.IlluminationColorCodeSequence = DicomSequence([_code("414298005", "SCT", "Full Spectrum")])
    ds.OpticalPathSequence = DicomSequence([path])
    ds.NumberOfOpticalPaths = 1


def _sparse_frames(
    ds: Dataset,
    rows: int,
    cols: int,
    tile: tuple[int, int],
    planes: int,
    spacing: tuple[float, float],
    origin: tuple[float, float, float],
    orientation: Sequence[float],
    uids: dict[str, str],
) -> None:
    """Per-frame Plane Position (Slide) and a Dimension Index on Row/Column (TILED_SPARSE or no type)."""
    tr, tc = tile
    items = []
    down, across = -(-rows // tr), -(-cols // tc)
    for plane in range(planes):
        for i in range(down):
            for j in range(across):
                r, c = i * tr + 1, j * tc + 1
                dc, dr = (c - 1) * spacing[1], (r - 1) * spacing[0]
                pos = Dataset()
                pos.RowPositionInTotalImagePixelMatrix = r
                pos.ColumnPositionInTotalImagePixelMatrix = c
                pos.XOffsetInSlideCoordinateSystem = round(origin[0] + dc * orientation[0] + dr * orientation[3], 9)
                pos.YOffsetInSlideCoordinateSystem = round(origin[1] + dc * orientation[1] + dr * orientation[4], 9)
                pos.ZOffsetInSlideCoordinateSystem = origin[2] + plane
                content = Dataset()
                content.DimensionIndexValues = [i + 1, j + 1]
                frame = Dataset()
                frame.FrameContentSequence = DicomSequence([content])
                frame.PlanePositionSlideSequence = DicomSequence([pos])
                items.append(frame)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(items)
    index = []
    for keyword in ("RowPositionInTotalImagePixelMatrix", "ColumnPositionInTotalImagePixelMatrix"):
        item = Dataset()
        item.DimensionOrganizationUID = uids["dimension_organization"]
        item.DimensionIndexPointer = pydicom.datadict.tag_for_keyword(keyword)
        item.FunctionalGroupPointer = pydicom.datadict.tag_for_keyword("PlanePositionSlideSequence")
        index.append(item)
    ds.DimensionIndexSequence = DicomSequence(index)


def write_wsi_image(  # noqa: PLR0913 - every attribute a test may vary
    path: str | Path,
    matrix: np.ndarray,
    *,
    tile: tuple[int, int] = (256, 256),
    spacing: tuple[float, float] = (0.00025, 0.00025),
    origin: tuple[float, float, float] | None = (20.0, 40.0, 0.0),
    orientation: Sequence[float] = (0, -1, 0, -1, 0, 0),
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "VOLUME", "NONE"),
    uids: dict[str, str] | None = None,
    instance_number: int = 1,
    specimen: bool = True,
    container: str = "SLIDE-1",
    dimension_organization: str | None = "TILED_FULL",
    focal_planes: int = 1,
    pyramid: bool = True,
    concatenation: tuple[str, int, int, int, int] | None = None,
    sop_instance_uid: str | None = None,
    total_frames: int | None = None,
) -> Path:
    """One VL Whole Slide Microscopy Image instance holding ``matrix`` ((rows, cols) or (rows, cols, 3) uint8).

    ``concatenation``: (Concatenation UID, In-concatenation Number, In-concatenation Total Number,
    first frame (0-based), frames in this part): the instance holds only those frames of the level.
    """
    path = Path(path)
    uids = uids or slide_uids()
    rows, cols = matrix.shape[:2]
    rgb = matrix.ndim == 3
    tr, tc = tile
    n_frames = focal_planes * -(-rows // tr) * -(-cols // tc)
    sop_uid = sop_instance_uid or generate_uid(_PREFIX, [uids["series"], str(path.name), str(instance_number)])
    pixels = _tiles(matrix, tile, focal_planes)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = WSI_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = list(image_type)
    ds.SOPClassUID, ds.SOPInstanceUID = WSI_SOP_CLASS, sop_uid
    ds.StudyDate, ds.StudyTime = "20260101", "120000"
    ds.ContentDate, ds.ContentTime = "20260101", "120500"
    ds.AcquisitionDateTime = "20260101120000"
    ds.AccessionNumber, ds.Modality = "ACC-1", "SM"
    ds.Manufacturer, ds.ManufacturerModelName = "labelmap tests", "synthetic scanner"
    ds.DeviceSerialNumber, ds.SoftwareVersions = "0001", "1"
    ds.ReferringPhysicianName = ""
    ds.PatientName, ds.PatientID = "Slide^Patient", "WSI0001"
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, instance_number
    ds.FrameOfReferenceUID = uids["frame_of_reference"]
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.ImageOrientationSlide = [float(v) for v in orientation]
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = tr, tc
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    flavour = list(image_type)[2] if len(image_type) > 2 else "VOLUME"
    ds.BurnedInAnnotation = "YES" if flavour == "LABEL" else "NO"
    ds.LossyImageCompression = "00"
    ds.SpecimenLabelInImage = "YES" if flavour in ("LABEL", "OVERVIEW") else "NO"
    ds.FocusMethod, ds.ExtendedDepthOfField = "AUTO", "NO"
    ds.VolumetricProperties = "VOLUME"
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.ImagedVolumeWidth = round(cols * spacing[1], 6)
    ds.ImagedVolumeHeight = round(rows * spacing[0], 6)
    ds.ImagedVolumeDepth = 1.0
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = cols, rows
    ds.TotalPixelMatrixFocalPlanes = focal_planes
    ds.NumberOfFocalPlanes = focal_planes
    if focal_planes > 1:
        ds.DistanceBetweenFocalPlanes = 1.0
    if origin is not None:
        item = Dataset()
        item.XOffsetInSlideCoordinateSystem = float(origin[0])
        item.YOffsetInSlideCoordinateSystem = float(origin[1])
        item.ZOffsetInSlideCoordinateSystem = float(origin[2])
        ds.TotalPixelMatrixOriginSequence = DicomSequence([item])
    organization = Dataset()
    organization.DimensionOrganizationUID = uids["dimension_organization"]
    ds.DimensionOrganizationSequence = DicomSequence([organization])
    if dimension_organization is not None:
        ds.DimensionOrganizationType = dimension_organization
    if pyramid:
        ds.PyramidUID = uids["pyramid"]
        ds.PyramidLabel = "synthetic pyramid"
    _optical_path(ds)
    if specimen:
        _specimen(ds, uids, container)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    measures.SliceThickness = 0.001
    shared.PixelMeasuresSequence = DicomSequence([measures])
    frame_type = Dataset()
    frame_type.FrameType = list(image_type)
    shared.WholeSlideMicroscopyImageFrameTypeSequence = DicomSequence([frame_type])
    optical = Dataset()
    optical.OpticalPathIdentifier = "1"
    shared.OpticalPathIdentificationSequence = DicomSequence([optical])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    if dimension_organization != "TILED_FULL":
        _sparse_frames(ds, rows, cols, tile, focal_planes, spacing, origin or (0.0, 0.0, 0.0), orientation, uids)
    frame_bytes = tr * tc * (3 if rgb else 1)
    if concatenation is not None:
        concat_uid, number, total, first, count = concatenation
        ds.ConcatenationUID = concat_uid
        ds.SOPInstanceUIDOfConcatenationSource = generate_uid(_PREFIX, [concat_uid, "source"])
        ds.InConcatenationNumber = number
        ds.InConcatenationTotalNumber = total
        ds.ConcatenationFrameOffsetNumber = first
        pixels = pixels[first * frame_bytes : (first + count) * frame_bytes]
        n_frames = count
        if "PerFrameFunctionalGroupsSequence" in ds:
            ds.PerFrameFunctionalGroupsSequence = DicomSequence(
                list(ds.PerFrameFunctionalGroupsSequence)[first : first + count]
            )
    ds.NumberOfFrames = n_frames if total_frames is None else total_frames
    ds.PixelData = pixels + (b"\0" if len(pixels) % 2 else b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_wsi_pyramid(  # noqa: PLR0913 - the knobs of a synthetic slide
    folder: str | Path,
    sizes: Sequence[tuple[int, int]] = ((1001, 777), (501, 389), (251, 195)),
    tile: tuple[int, int] = (256, 256),
    spacing_mm: float = 0.00025,
    origin: tuple[float, float, float] | None = (20.0, 40.0, 0.0),
    orientation: Sequence[float] = (0, -1, 0, -1, 0, 0),
    specimen: bool = True,
    *,
    photometric: str = "RGB",
    seed: int = 0,
    uids: dict[str, str] | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    container: str = "SLIDE-1",
    dimension_organization: str | None = "TILED_FULL",
    focal_planes: int = 1,
    concatenation_parts: int | Sequence[int] = 1,
    tiles: Sequence[tuple[int, int]] | None = None,
    name: str = "level",
) -> list[Path]:
    """Write a VL WSI pyramid into ``folder``: one instance per level, largest first; the file paths.

    Parameters
    ----------
    folder
        Created if needed; files are ``{name}{k}.dcm`` (or ``{name}{k}-part{p}.dcm`` for concatenations).
    sizes
        Total Pixel Matrix (rows, columns) of each level, level 0 first.
    tile
        Rows x Columns of every frame (``tiles`` overrides it per level).
    spacing_mm
        Level 0's pixel spacing; level k's is this times the size ratio per axis.
    origin
        Total Pixel Matrix Origin (X mm, Y mm, Z um) of every level; None leaves the sequence out.
    orientation
        Image Orientation (Slide).
    specimen
        Write the Specimen module (Container Identifier, issuer, type, one Specimen Description).
    photometric
        "RGB" or "MONOCHROME2" (8 bits).
    seed
        Pixels and (unless given) every UID come from it.
    uids, series_uid, frame_of_reference_uid
        Override the UIDs :func:`slide_uids` derives from ``seed``.
    dimension_organization
        "TILED_FULL", "TILED_SPARSE" or None (no Dimension Organization Type: per-frame positions).
    focal_planes
        Total Pixel Matrix Focal Planes (frames repeat per plane).
    concatenation_parts
        Split each level (an int for all, or one per level) into this many concatenated instances.
    """
    folder = Path(folder)
    uids = dict(uids or slide_uids(seed))
    if series_uid is not None:
        uids["series"] = series_uid
    if frame_of_reference_uid is not None:
        uids["frame_of_reference"] = frame_of_reference_uid
    sizes = [tuple(int(v) for v in s) for s in sizes]
    matrices = wsi_pixels(sizes, photometric=photometric, seed=seed)
    spacings = level_spacings(sizes, spacing_mm)
    parts = [concatenation_parts] * len(sizes) if isinstance(concatenation_parts, int) else list(concatenation_parts)
    paths: list[Path] = []
    for k, (matrix, spacing) in enumerate(zip(matrices, spacings)):
        level_tile = tuple(tiles[k]) if tiles is not None else tuple(tile)
        common: dict[str, Any] = dict(
            tile=level_tile,
            spacing=spacing,
            origin=origin,
            orientation=orientation,
            uids=uids,
            specimen=specimen,
            container=container,
            dimension_organization=dimension_organization,
            focal_planes=focal_planes,
        )
        if parts[k] <= 1:
            paths.append(write_wsi_image(folder / f"{name}{k}.dcm", matrix, instance_number=k + 1, **common))
            continue
        rows, cols = matrix.shape[:2]
        n = focal_planes * -(-rows // level_tile[0]) * -(-cols // level_tile[1])
        concat_uid = generate_uid(_PREFIX, [uids["series"], f"concatenation-{k}"])
        bounds = np.linspace(0, n, parts[k] + 1).astype(int)
        for p in range(parts[k]):
            paths.append(
                write_wsi_image(
                    folder / f"{name}{k}-part{p + 1}.dcm",
                    matrix,
                    instance_number=100 * (k + 1) + p,
                    concatenation=(concat_uid, p + 1, parts[k], int(bounds[p]), int(bounds[p + 1] - bounds[p])),
                    **common,
                )
            )
    return paths


def write_wsi_associated(
    folder: str | Path,
    kind: str = "LABEL",
    size: tuple[int, int] = (120, 300),
    *,
    seed: int = 0,
    uids: dict[str, str] | None = None,
    name: str | None = None,
    spacing_mm: float = 0.05,
) -> Path:
    """A LABEL, OVERVIEW or THUMBNAIL image of the slide ``seed`` describes (same series): not a pyramid level.

    Labels and overviews are single frames of their own geometry; a thumbnail is a small whole-slide
    image in one frame (ImageType DERIVED\\PRIMARY\\THUMBNAIL\\RESAMPLED).
    """
    uids = uids or slide_uids(seed)
    matrix = wsi_pixels([size], seed=seed + 1)[0]
    first = "DERIVED" if kind == "THUMBNAIL" else "ORIGINAL"
    last = "RESAMPLED" if kind == "THUMBNAIL" else "NONE"
    return write_wsi_image(
        Path(folder) / (name or f"{kind.lower()}.dcm"),
        matrix,
        tile=size,
        spacing=(spacing_mm, spacing_mm),
        image_type=(first, "PRIMARY", kind, last),
        uids=uids,
        instance_number=90,
        pyramid=kind == "THUMBNAIL",
    )


def write_ct(folder: str | Path, *, seed: int = 0, geometry: Geometry | None = None) -> Path:
    """A small CT series (not a slide) in ``folder / "ct"``; the folder."""
    return make_ct_series(Path(folder), geometry or axial_geometry(shape=(3, 12, 11)), name="ct", seed=seed)


def edit_header(path: str | Path, *, delete: Sequence[str] = (), shared: bool = False, **values: Any) -> Path:
    """Rewrite ``path`` with top-level attributes set (``values``) or deleted (``delete``, keywords).

    With ``shared`` the changes go to the Pixel Measures item of the Shared Functional Groups
    (e.g. ``PixelSpacing``); ``origin=None`` style deletions of sequences use ``delete``.
    """
    ds = pydicom.dcmread(path)
    target = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0] if shared else ds
    for keyword in delete:
        if keyword in target:
            delattr(target, keyword)
    for keyword, value in values.items():
        setattr(target, keyword, value)
    ds.save_as(path)
    return Path(path)


def truncate(path: str | Path, keep: int) -> Path:
    """Cut ``path`` after its first ``keep`` bytes (a copy that stopped part way)."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:keep])
    return Path(path)
