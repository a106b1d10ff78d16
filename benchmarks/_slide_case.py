"""The cached slide cases of the slide benchmarks: a VL WSI source level, dcmqi JSON, labels as .npy / TIFF.

The WSI source (one level, TILED_FULL) has a scanner's headers and one tiny JPEG-LS fragment repeated for
every tile: the SEG writers (ours and highdicom's) read the source's headers, never its pixels.  The
benchmarks do not import ``tests/``, so this module keeps its own minimal WSI writer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # as part of the asv package (benchmarks.bench_slide) or as a script's neighbour (slide.py)
    from . import _slide_data
except ImportError:
    import _slide_data  # type: ignore[no-redef]

#: pixel spacing of the synthetic slide (mm): 0.25 um, a 40x scan
SPACING_MM = 0.00025


def write_wsi(
    slide: _slide_data.SyntheticSlide,
    folder: str | os.PathLike,
    *,
    tile: int = _slide_data.BAND,
    spacing_mm: float = SPACING_MM,
    origin: tuple[float, float, float] = (20.0, 40.0, 0.0),
    orientation: tuple[float, ...] = (0.0, -1.0, 0.0, -1.0, 0.0, 0.0),
) -> Path:
    """A VL Whole Slide Microscopy image (one level, TILED_FULL) of the slide's size; reused when present.

    The headers are a scanner's (patient/study, slide Frame of Reference, specimen, total pixel matrix,
    origin, Image Orientation (Slide), Pixel Measures); every frame is the same 8-bit JPEG-LS
    Lossless fragment of a constant tile (about 100 bytes), so the file stays small for any size.
    """
    import jpeg_ls
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless, generate_uid

    folder = Path(folder)
    path = folder / "level-0.dcm"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)

    def uid(what: str) -> str:
        return generate_uid(entropy_srcs=[slide.name, what])

    rows, cols = slide.shape
    across, down = -(-cols // tile), -(-rows // tile)
    n_frames = across * down
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.6"
    ds.SOPInstanceUID = uid("sop")
    ds.StudyDate = ds.ContentDate = ds.AcquisitionDateTime = "20261206"
    ds.StudyTime = ds.ContentTime = "120000"
    ds.AcquisitionDateTime = "20261206120000"
    ds.AccessionNumber = "BENCH1"
    ds.Modality = "SM"
    ds.Manufacturer = "labelmap benchmarks"
    ds.ManufacturerModelName = "synthetic"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "1"
    ds.ReferringPhysicianName = ""
    ds.PatientName = "Bench^Slide"
    ds.PatientID = "BENCH-SLIDE"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = uid("for")
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.VolumetricProperties = "VOLUME"
    ds.BurnedInAnnotation = "NO"
    ds.SpecimenLabelInImage = "NO"
    ds.FocusMethod = "AUTO"
    ds.ExtendedDepthOfField = "NO"
    ds.ImagedVolumeWidth = cols * spacing_mm
    ds.ImagedVolumeHeight = rows * spacing_mm
    ds.ImagedVolumeDepth = 0.001
    ds.TotalPixelMatrixColumns = cols
    ds.TotalPixelMatrixRows = rows
    ds.TotalPixelMatrixFocalPlanes = 1
    item = Dataset()
    item.XOffsetInSlideCoordinateSystem = origin[0]
    item.YOffsetInSlideCoordinateSystem = origin[1]
    ds.TotalPixelMatrixOriginSequence = [item]
    ds.ImageOrientationSlide = list(orientation)
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.NumberOfFrames = n_frames
    ds.Rows = ds.Columns = tile
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.ContainerIdentifier = "BENCH-SLIDE-1"
    ds.IssuerOfTheContainerIdentifierSequence = []
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "433466003", "SCT", "Microscope slide"
    ds.ContainerTypeCodeSequence = [code]
    spec = Dataset()
    spec.SpecimenIdentifier = "BENCH-SPECIMEN-1"
    spec.SpecimenUID = uid("specimen")
    spec.IssuerOfTheSpecimenIdentifierSequence = []
    spec.SpecimenPreparationSequence = []
    ds.SpecimenDescriptionSequence = [spec]
    measures = Dataset()
    measures.PixelSpacing = [spacing_mm, spacing_mm]
    measures.SliceThickness = 0.001
    ftype = Dataset()
    ftype.FrameType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.WholeSlideMicroscopyImageFrameTypeSequence = [ftype]
    ds.SharedFunctionalGroupsSequence = [shared]
    path_item = Dataset()
    path_item.OpticalPathIdentifier = "1"
    illum = Dataset()
    illum.CodeValue, illum.CodingSchemeDesignator, illum.CodeMeaning = "111744", "DCM", "Brightfield illumination"
    path_item.IlluminationTypeCodeSequence = [illum]
    ds.OpticalPathSequence = [path_item]
    ds.NumberOfOpticalPaths = 1

    frame = bytes(jpeg_ls.encode(np.full((tile, tile), 230, np.uint8)))
    ds.PixelData = encapsulate([frame] * n_frames, has_bot=False)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = JPEGLSLossless
    ds.file_meta = meta
    tmp = _slide_data._atomic(path)
    pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
    os.replace(tmp, path)
    return path


def _code(value: str, scheme: str, meaning: str) -> dict:
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


def metadata() -> dict:
    """dcmqi-style segment metadata for the slide's classes: 1 stroma, 2..6 glands, 7..20 nuclei."""
    tissue = _code("85756007", "SCT", "Tissue")
    segments = []
    for v in range(1, _slide_data.N_CLASSES + 1):
        if v == 1:
            name, ptype = "Stroma", _code("55918008", "SCT", "Stroma")
        elif v < _slide_data.GLAND_LABELS[1]:
            name, ptype = f"Gland type {v - 1}", _code("91723000", "SCT", "Anatomical structure")
        else:
            name, ptype = f"Nucleus class {v - _slide_data.NUCLEUS_LABELS[0] + 1}", _code("84640000", "SCT", "Nucleus")
        segments.append(
            {
                "labelID": v,
                "SegmentLabel": name,
                "SegmentDescription": name,
                "SegmentAlgorithmType": "AUTOMATIC",
                "SegmentAlgorithmName": "synthetic",
                "SegmentedPropertyCategoryCodeSequence": tissue,
                "SegmentedPropertyTypeCodeSequence": ptype,
                "recommendedDisplayRGBValue": [(37 * v) % 256, (91 * v) % 256, (151 * v) % 256],
            }
        )
    return {
        "ContentCreatorName": "Bench",
        "ClinicalTrialSeriesID": "1",
        "ClinicalTrialTimePointID": "1",
        "ClinicalTrialCoordinatingCenterName": "bench",
        "SeriesDescription": "Synthetic slide classes",
        "SeriesNumber": "300",
        "InstanceNumber": "1",
        "BodyPartExamined": "",
        "segmentAttributes": [segments],
    }


def write_metadata(path: str | os.PathLike) -> Path:
    """:func:`metadata` as a JSON file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metadata(), indent=2))
    return path


# --------------------------------------------------------------------------- cases
#: Environment variable naming the folder where slide cases are cached (default benchmarks/.data).
DATA_ENV = "LABELMAP_SLIDE_DATA"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The slide-case cache: ``override``, else $LABELMAP_SLIDE_DATA, else benchmarks/.data."""
    if override:
        return Path(override).resolve()
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).resolve() if env else Path(__file__).resolve().parent / ".data"


@dataclass(frozen=True)
class SlideCase:
    """Paths of one cached slide case (made on first use by :func:`make_case`)."""

    root: Path
    slide: _slide_data.SyntheticSlide
    npy_dtype: str = "uint16"

    @property
    def npy(self) -> Path:
        """The labels as ``.npy`` of ``npy_dtype`` (``labels.npy`` for uint16, ``labels-uint8.npy``)."""
        return self.root / ("labels.npy" if self.npy_dtype == "uint16" else f"labels-{self.npy_dtype}.npy")

    @property
    def tiff(self) -> Path:
        return self.root / "labels.tif"

    @property
    def wsi(self) -> Path:
        """The folder holding the source level (what ``--dicom`` gets)."""
        return self.root / "wsi"

    @property
    def wsi_level0(self) -> Path:
        return self.wsi / "level-0.dcm"

    @property
    def metadata(self) -> Path:
        return self.root / "meta.json"


def make_case(
    workdir: str | os.PathLike | None,
    rows: int,
    columns: int,
    *,
    seed: int = _slide_data.SEED,
    npy: bool = True,
    npy_dtype: str = "uint16",
    tiff: bool = False,
) -> SlideCase:
    """The slide case ``rows`` x ``columns`` under ``workdir``: the WSI source, metadata, and the labels as
    ``.npy`` (of ``npy_dtype``) and/or tiled uint16 TIFF; each file is reused when present (written under a
    temporary name first)."""
    slide = _slide_data.SyntheticSlide(rows, columns, seed)
    case = SlideCase(data_dir(workdir) / slide.name, slide, npy_dtype)
    case.root.mkdir(parents=True, exist_ok=True)
    write_wsi(slide, case.wsi)
    if not case.metadata.exists():
        write_metadata(case.metadata)
    if npy:
        _slide_data.write_npy(slide, case.npy, npy_dtype)
    if tiff:
        _slide_data.write_tiff(slide, case.tiff)
    return case
