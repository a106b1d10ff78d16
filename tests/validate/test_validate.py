"""``labelmap.validate_seg`` and ``labelmap-convert validate``: the Segmentation IOD rules.

1. every file our writer produces validates clean (LABELMAP 8/16-bit, palette, each compression,
   BINARY, FRACTIONAL, bin2label, a Dataset from ``encode_seg``);
2. each rule has a real file that breaks it: a valid file, one attribute changed with pydicom,
   and the violation names that attribute;
3. damaged files give violations (one "cannot be read" when the structure is broken), never a
   traceback;
4. what validate finds in dcmqi 1.5.7 and highdicom 0.28 outputs (documented in README.md);
5. the command: one line per violation, a summary, exit codes, ``--strict``, ``--json``.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGLSLossless, JPEGLSNearLossless, RLELossless

from labelmap.cli import main
from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.dicom.pixels import codecs
from labelmap.errors import UnsupportedError
from labelmap.formats.dcmqi_json import load_metadata
from labelmap.formats.images import write_image
from labelmap.model import LabelVolume
from labelmap.pipeline.convert import binary_to_labelmap, encode_seg, itk_to_seg, load_source, read_labels
from labelmap.validate import DEEP_FRAME_LIMIT, Violation, check_seg, validate_seg

from _classic import fractional_maps, overlapping_arrays, write_inputs
from _geometries import axial_geometry
from _interop import BIN_DIR, make_case, run_dcmqi, write_highdicom_seg

DCMQI_MISSING = any(not (BIN_DIR / n).exists() for n in ("itkimage2segimage", "bin2labelsegimage"))
needs_dcmqi = pytest.mark.skipif(DCMQI_MISSING, reason="dcmqi executables are not installed in the venv")
LABEL_VALUES = [1, 2, 4, 9]

#: The one finding on every dcmqi 1.5.7 and highdicom 0.28 file (README "Validating a SEG").
PATIENT_ORIENTATION = ("PatientOrientation", "warning")


# --------------------------------------------------------------------------- inputs and our files
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """CT (6 x 24 x 20), a gapped label map (1, 2, 4, 9; first/last slice empty) and its JSON."""
    root = tmp_path_factory.mktemp("validate")
    geometry = axial_geometry(shape=(6, 24, 20))
    labels = organ_phantom(geometry, 4, seed=1, max_label=9)
    assert sorted(int(v) for v in np.unique(labels) if v) == LABEL_VALUES
    ct, image, meta, _ = make_case(root, geometry, labels)
    return SimpleNamespace(root=root, geometry=geometry, labels=labels, ct=ct, image=image, meta=meta)


@pytest.fixture(scope="module")
def made(inputs):
    """``made(kind) -> Path``: our writer's output of that kind (written once per module)."""
    cache: dict[str, Path] = {}
    root = inputs.root

    def write(kind: str) -> Path:
        path = root / f"{kind}.dcm"
        seg_type, _, variant = kind.partition("-")
        if seg_type == "labelmap" and variant in codecs.SYNTAXES:
            if not codecs.is_available(variant):
                pytest.skip(f"codec for {variant} not installed")
            try:
                itk_to_seg([inputs.image], [inputs.ct], inputs.meta, path, compression=variant)
            except UnsupportedError as exc:  # e.g. JPEG 2000 of frames < 32 px without imagecodecs
                pytest.skip(str(exc))
        elif kind == "labelmap-palette":
            itk_to_seg([inputs.image], [inputs.ct], inputs.meta, path, palette=True)
        elif kind == "labelmap-keep-empty":
            itk_to_seg([inputs.image], [inputs.ct], inputs.meta, path, keep_empty_slices=True)
        elif kind in ("labelmap-16bit", "labelmap-16bit-palette"):
            labels = inputs.labels.astype(np.uint16)
            labels[labels == 9] = 300
            image, meta = root / "labels16.nrrd", root / "meta16.json"
            write_image(image, labels, inputs.geometry)
            meta.write_text(json.dumps(sample_metadata([1, 2, 4, 300])))
            itk_to_seg([image], [inputs.ct], meta, path, palette=kind.endswith("palette"), compression="deflate")
        elif seg_type == "binary" and variant in ("none", "deflate", "implicit", "j2k"):
            try:
                itk_to_seg(
                    [inputs.image],
                    [inputs.ct],
                    inputs.meta,
                    path,
                    seg_type="binary",
                    numbering="sequential",
                    compression=variant,
                )
            except UnsupportedError as exc:
                pytest.skip(str(exc))
        elif kind == "binary-overlap":  # 5 x 22 x 21: 462 pixels per frame, not a multiple of 8
            geometry = axial_geometry()
            arrays, groups = overlapping_arrays(geometry)
            ct, images, meta, _ = write_inputs(root / "overlap", geometry, arrays, groups)
            itk_to_seg(images, [ct], meta, path, seg_type="binary")
        elif kind == "fractional":
            geometry = axial_geometry(shape=(4, 19, 13))
            ct, images, meta, _ = write_inputs(root / "fractional", geometry, fractional_maps(geometry), [[1], [1]])
            itk_to_seg(images, [ct], meta, path, seg_type="fractional", fractional_type="occupancy")
        elif kind in ("bin2label", "bin2label-palette-rle"):
            palette = kind != "bin2label"
            binary_to_labelmap(made("binary-none"), path, palette=palette, compression="rle" if palette else "none")
        else:  # pragma: no cover - a typo in a test table
            raise KeyError(kind)
        return path

    def made(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = write(kind)
        return cache[kind]

    return made


def kinds_found(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.keyword, v.severity) for v in violations]


def show(violations: list[Violation]) -> str:
    return "\n".join(v.format("SEG") for v in violations) or "(none)"


# --------------------------------------------------------------------------- 1. our files are clean
OURS = [
    "labelmap-none",
    "labelmap-implicit",
    "labelmap-deflate",
    "labelmap-rle",
    "labelmap-jpegls",
    "labelmap-j2k",
    "labelmap-palette",
    "labelmap-keep-empty",
    "labelmap-16bit",
    "labelmap-16bit-palette",
    "binary-none",
    "binary-implicit",
    "binary-deflate",
    "binary-j2k",
    "binary-overlap",
    "fractional",
    "bin2label",
    "bin2label-palette-rle",
]


#: Known defect of our writer: labelmap/seg/palette.py writes a display-class ('mntr') ICC profile, where
#: PS3.3 C.11.15.1.1 wants an input-device one ('scnr', as DCMTK/dcmqi write). Drop this when it is fixed.
KNOWN_OWN: dict = {}  # kinds of our own files with an expected violation (none)


@pytest.mark.parametrize("kind", OURS)
def test_our_files_validate_clean(made, kind):
    result = check_seg(made(kind))
    assert kinds_found(result.violations) == KNOWN_OWN.get(kind, []), show(result.violations) + (
        "\n(palette.py fixed? then remove KNOWN_OWN)" if kind in KNOWN_OWN else ""
    )
    assert result.per_frame_items_checked  # small files: every per-frame item was read too
    assert result.segmentation_type == kind.split("-")[0].replace("bin2label", "labelmap").upper()


def test_our_datasets_validate_clean(inputs):
    """A pydicom Dataset (encode_seg, nothing written) validates like a file."""
    volume = read_labels(inputs.image)
    meta = load_metadata(inputs.meta)
    source = load_source(inputs.ct)
    for seg_type, compression in (("labelmap", "none"), ("labelmap", "rle"), ("binary", "none")):
        ds, _ = encode_seg(
            LabelVolume(volume.array, volume.geometry, meta.segments[0]),
            source,
            seg_type=seg_type,
            numbering="sequential" if seg_type == "binary" else "auto",
            compression=compression,
        )
        assert validate_seg(ds) == [], show(validate_seg(ds))


def test_big_files_check_values_without_reading_items(tmp_path):
    """Past DEEP_FRAME_LIMIT frames only the bulk reader's per-frame values are checked (unless deep=True)."""
    geometry = axial_geometry(shape=(60, 32, 32))
    labels = organ_phantom(geometry, 40, seed=3)
    ct, image, meta, _ = make_case(tmp_path, geometry, labels)
    path = tmp_path / "big.dcm"
    itk_to_seg([image], [ct], meta, path, seg_type="binary", numbering="sequential", keep_empty_slices=True)
    result = check_seg(path)
    assert result.frames == 40 * 60 > DEEP_FRAME_LIMIT
    assert result.violations == [] and not result.per_frame_items_checked
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence[2100].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 41
    ds.save_as(path)
    (v,) = validate_seg(path)
    assert (v.keyword, v.frame, v.segment) == ("ReferencedSegmentNumber", 2101, 41)


def test_the_16bit_file_is_16bit(made):
    ds = pydicom.dcmread(made("labelmap-16bit"), stop_before_pixels=True)
    assert (ds.BitsAllocated, ds.PhotometricInterpretation) == (16, "MONOCHROME2")
    assert max(int(s.SegmentNumber) for s in ds.SegmentSequence) == 300


# --------------------------------------------------------------------------- 2. one broken rule per file
def _frames(ds: Dataset) -> list[Dataset]:
    return list(ds.PerFrameFunctionalGroupsSequence)


def _segment(ds: Dataset, number: int) -> Dataset:
    return next(s for s in ds.SegmentSequence if int(s.SegmentNumber) == number)


def _drop_segment(ds: Dataset, number: int) -> None:
    ds.SegmentSequence = [s for s in ds.SegmentSequence if int(s.SegmentNumber) != number]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _set_pixel(ds: Dataset, frame: int, value: int) -> None:
    """Set one pixel of a native 8-bit frame (the middle of the first row)."""
    data = bytearray(ds.PixelData)
    data[frame * int(ds.Rows) * int(ds.Columns) + int(ds.Columns) // 2] = value
    ds.PixelData = bytes(data)


def _unpacked(ds: Dataset) -> np.ndarray:
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    return np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little")[: n * r * c].reshape(n, r, c)


def _pad_each_frame(ds: Dataset) -> None:
    """Old MeVisLab layout: every 1-bit frame starts on a byte boundary."""
    data = b"".join(np.packbits(f.reshape(-1), bitorder="little").tobytes() for f in _unpacked(ds))
    ds.PixelData = data + b"\0" * (len(data) % 2)


def _binary_as(ds: Dataset, syntax: str) -> None:
    """Re-encode 1-bit frames with a syntax that has no 1-bit form here (JPEG-LS at 2 bits, RLE at 8)."""
    frames = _unpacked(ds)
    if syntax == JPEGLSLossless:
        jpeg_ls = pytest.importorskip("jpeg_ls")
        fragments = [
            bytes(jpeg_ls.encode_buffer(f.tobytes(), f.shape[0], f.shape[1], 1, 2, lossy_error=0)) for f in frames
        ]
    else:
        from pydicom.pixels import get_encoder

        encoder = get_encoder(RLELossless)
        fragments = [
            encoder.encode(
                np.ascontiguousarray(f),
                encoding_plugin="pydicom",
                rows=f.shape[0],
                columns=f.shape[1],
                samples_per_pixel=1,
                bits_allocated=8,
                bits_stored=8,
                pixel_representation=0,
                photometric_interpretation="MONOCHROME2",
                number_of_frames=1,
            )
            for f in frames
        ]
    ds.PixelData = encapsulate(fragments, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax


def _damage_first_fragment(ds: Dataset) -> None:
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames[0] = frames[0][:12]
    ds.PixelData = encapsulate(frames, has_bot=True)


def _extra_fragment(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData + b"\xfe\xff\x00\xe0\x02\x00\x00\x00\x00\x00"


def _no_derivation(ds: Dataset) -> None:
    for f in _frames(ds):
        del f.DerivationImageSequence
    del ds.ReferencedSeriesSequence


def _shared(ds: Dataset) -> Dataset:
    return ds.SharedFunctionalGroupsSequence[0]


def _icc_header(ds: Dataset, offset: int, value: bytes) -> None:
    ds.ICCProfile = ds.ICCProfile[:offset] + value + ds.ICCProfile[offset + len(value) :]


def _lut_data_short(ds: Dataset) -> None:
    ds.RedPaletteColorLookupTableData = ds.RedPaletteColorLookupTableData[:-4]


def _lut_descriptor(ds: Dataset, red=None, bits=None, entries=None) -> None:
    for colour in ("Red", "Green", "Blue") if red is None else ("Red",):
        desc = [int(v) for v in getattr(ds, f"{colour}PaletteColorLookupTableDescriptor")]
        if bits is not None:
            desc[2] = bits
        if entries is not None:
            desc[0] = entries
            data = getattr(ds, f"{colour}PaletteColorLookupTableData")
            setattr(ds, f"{colour}PaletteColorLookupTableData", data[: 2 * entries])
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", desc)


@dataclass(frozen=True)
class Broken:
    """A rule, the file kind it is broken on, the change, and the violation expected."""

    id: str
    base: str
    change: Callable[[Dataset], None]
    keyword: str
    severity: str = "error"
    says: str = ""  # a piece of the message


BROKEN = [
    # SOP class, type, modality, file meta
    Broken(
        "labelmap-in-seg-storage",
        "labelmap-none",
        lambda d: (
            setattr(d, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.66.4"),
            setattr(d.file_meta, "MediaStorageSOPClassUID", "1.2.840.10008.5.1.4.1.1.66.4"),
        ),
        "SOPClassUID",
        says="Segmentation Type is LABELMAP",
    ),
    Broken(
        "binary-in-labelmap-storage",
        "binary-none",
        lambda d: (
            setattr(d, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.66.7"),
            setattr(d.file_meta, "MediaStorageSOPClassUID", "1.2.840.10008.5.1.4.1.1.66.7"),
        ),
        "SOPClassUID",
        says="Segmentation Type is BINARY",
    ),
    Broken("unknown-type", "labelmap-none", lambda d: setattr(d, "SegmentationType", "MASK"), "SegmentationType"),
    Broken("modality", "labelmap-none", lambda d: setattr(d, "Modality", "CT"), "Modality", says="expected SEG"),
    Broken(
        "media-storage-uid",
        "labelmap-none",
        lambda d: setattr(d.file_meta, "MediaStorageSOPInstanceUID", "1.2.3.4"),
        "MediaStorageSOPInstanceUID",
    ),
    Broken(
        "bad-uid",
        "labelmap-none",
        lambda d: setattr(d, "SeriesInstanceUID", "1.2.03.4"),
        "SeriesInstanceUID",
        says="not a valid UID",
    ),
    # module attributes (Type 1 / Type 2)
    Broken("patient-id-absent", "labelmap-none", lambda d: delattr(d, "PatientID"), "PatientID", says="absent"),
    Broken(
        "study-uid-empty",
        "labelmap-none",
        lambda d: setattr(d, "StudyInstanceUID", ""),
        "StudyInstanceUID",
        says="empty",
    ),
    Broken("series-number", "binary-none", lambda d: delattr(d, "SeriesNumber"), "SeriesNumber"),
    Broken("manufacturer", "labelmap-none", lambda d: delattr(d, "Manufacturer"), "Manufacturer"),
    Broken("software-versions", "fractional", lambda d: setattr(d, "SoftwareVersions", ""), "SoftwareVersions"),
    Broken("image-type", "labelmap-none", lambda d: setattr(d, "ImageType", ["DERIVED", "SECONDARY"]), "ImageType"),
    Broken(
        "content-label",
        "labelmap-none",
        lambda d: setattr(d, "ContentLabel", "my label"),
        "ContentLabel",
        says="not a valid CS",
    ),
    Broken("content-description", "binary-none", lambda d: delattr(d, "ContentDescription"), "ContentDescription"),
    Broken("content-date", "labelmap-none", lambda d: delattr(d, "ContentDate"), "ContentDate"),
    Broken(
        "patient-orientation",
        "labelmap-none",
        lambda d: delattr(d, "PatientOrientation"),
        "PatientOrientation",
        "warning",
    ),
    Broken(
        "position-reference",
        "labelmap-none",
        lambda d: delattr(d, "PositionReferenceIndicator"),
        "PositionReferenceIndicator",
    ),
    # Image Pixel / Segmentation Image
    Broken("bits-allocated", "labelmap-none", lambda d: setattr(d, "BitsAllocated", 12), "BitsAllocated"),
    Broken(
        "binary-8-bit",
        "binary-none",
        lambda d: (setattr(d, "BitsAllocated", 8), setattr(d, "BitsStored", 8), setattr(d, "HighBit", 7)),
        "BitsAllocated",
        says="expected 1",
    ),
    Broken("bits-stored", "labelmap-none", lambda d: setattr(d, "BitsStored", 7), "BitsStored"),
    Broken("high-bit", "labelmap-16bit", lambda d: setattr(d, "HighBit", 7), "HighBit", says="expected 15"),
    Broken("samples-per-pixel", "labelmap-none", lambda d: setattr(d, "SamplesPerPixel", 3), "SamplesPerPixel"),
    Broken(
        "monochrome1",
        "labelmap-none",
        lambda d: setattr(d, "PhotometricInterpretation", "MONOCHROME1"),
        "PhotometricInterpretation",
    ),
    Broken(
        "palette-binary",
        "binary-none",
        lambda d: setattr(d, "PhotometricInterpretation", "PALETTE COLOR"),
        "PhotometricInterpretation",
        says="for BINARY",
    ),
    Broken(
        "pixel-representation", "labelmap-none", lambda d: setattr(d, "PixelRepresentation", 1), "PixelRepresentation"
    ),
    Broken(
        "lossy-flag-bad", "labelmap-none", lambda d: setattr(d, "LossyImageCompression", "02"), "LossyImageCompression"
    ),
    Broken(
        "lossy-flag-01",
        "binary-none",
        lambda d: setattr(d, "LossyImageCompression", "01"),
        "LossyImageCompression",
        "warning",
    ),
    Broken("rows", "labelmap-none", lambda d: delattr(d, "Rows"), "Rows"),
    Broken(
        "number-of-frames",
        "labelmap-none",
        lambda d: setattr(d, "NumberOfFrames", int(d.NumberOfFrames) + 1),
        "NumberOfFrames",
        says="Per-frame Functional Groups Sequence has",
    ),
    # Segments Overlap
    Broken(
        "labelmap-overlap-yes",
        "labelmap-none",
        lambda d: setattr(d, "SegmentsOverlap", "YES"),
        "SegmentsOverlap",
        says="in a LABELMAP",
    ),
    Broken("overlap-value", "binary-none", lambda d: setattr(d, "SegmentsOverlap", "MAYBE"), "SegmentsOverlap"),
    Broken(
        "binary-overlap-no",
        "binary-overlap",
        lambda d: setattr(d, "SegmentsOverlap", "NO"),
        "SegmentsOverlap",
        says="segments overlap: 1 and 3 (20 pixels), 2 and 3 (2 pixels)",
    ),
    Broken(
        "binary-overlap-yes",
        "binary-none",
        lambda d: setattr(d, "SegmentsOverlap", "YES"),
        "SegmentsOverlap",
        "warning",
    ),
    # FRACTIONAL
    Broken(
        "fractional-type-absent",
        "fractional",
        lambda d: delattr(d, "SegmentationFractionalType"),
        "SegmentationFractionalType",
    ),
    Broken(
        "fractional-type-value",
        "fractional",
        lambda d: setattr(d, "SegmentationFractionalType", "CHANCE"),
        "SegmentationFractionalType",
    ),
    Broken(
        "max-fractional-absent", "fractional", lambda d: delattr(d, "MaximumFractionalValue"), "MaximumFractionalValue"
    ),
    Broken(
        "max-fractional-exceeded",
        "fractional",
        lambda d: setattr(d, "MaximumFractionalValue", 100),
        "MaximumFractionalValue",
        says="hold values up to",
    ),
    Broken(
        "fractional-type-in-labelmap",
        "labelmap-none",
        lambda d: setattr(d, "SegmentationFractionalType", "PROBABILITY"),
        "SegmentationFractionalType",
        "warning",
    ),
    # Segment Sequence
    Broken("segment-sequence-absent", "labelmap-none", lambda d: delattr(d, "SegmentSequence"), "SegmentSequence"),
    Broken(
        "pixel-value-undescribed",
        "labelmap-none",
        lambda d: _drop_segment(d, 4),
        "SegmentSequence",
        says="pixel value(s) 4",
    ),
    Broken(
        "background-undescribed",
        "labelmap-none",
        lambda d: _drop_segment(d, 0),
        "SegmentSequence",
        says="the Pixel Padding Value",
    ),
    Broken("pixel-77", "labelmap-none", lambda d: _set_pixel(d, 1, 77), "SegmentSequence", says="pixel value(s) 77"),
    Broken("ppv-without-item", "labelmap-none", lambda d: _drop_segment(d, 0), "PixelPaddingValue", "warning"),
    Broken(
        "ppv-range", "labelmap-none", lambda d: setattr(d, "PixelPaddingValue", 300), "PixelPaddingValue", says="8-bit"
    ),
    Broken(
        "ppv-in-binary",
        "binary-none",
        lambda d: d.add_new("PixelPaddingValue", "US", 0),
        "PixelPaddingValue",
        "warning",
    ),
    Broken(
        "duplicate-number",
        "labelmap-none",
        lambda d: setattr(_segment(d, 9), "SegmentNumber", 4),
        "SegmentNumber",
        says="also used by",
    ),
    Broken(
        "binary-numbers-gap",
        "binary-none",
        lambda d: setattr(_segment(d, 4), "SegmentNumber", 5),
        "SegmentNumber",
        says="expected 1..4",
    ),
    Broken(
        "frame-segment-undescribed",
        "binary-none",
        lambda d: setattr(_frames(d)[2].SegmentIdentificationSequence[0], "ReferencedSegmentNumber", 7),
        "ReferencedSegmentNumber",
        says="7 (frame 3)",
    ),
    Broken("segment-label", "labelmap-none", lambda d: delattr(_segment(d, 2), "SegmentLabel"), "SegmentLabel"),
    Broken(
        "algorithm-type",
        "labelmap-none",
        lambda d: setattr(_segment(d, 2), "SegmentAlgorithmType", "AI"),
        "SegmentAlgorithmType",
    ),
    Broken(
        "algorithm-name",
        "binary-none",
        lambda d: delattr(_segment(d, 1), "SegmentAlgorithmName"),
        "SegmentAlgorithmName",
        says="AUTOMATIC",
    ),
    Broken(
        "two-categories",
        "labelmap-none",
        lambda d: _segment(d, 1).SegmentedPropertyCategoryCodeSequence.append(_code("1", "SCT", "x")),
        "SegmentedPropertyCategoryCodeSequence",
        says="2 items",
    ),
    Broken(
        "code-meaning",
        "labelmap-none",
        lambda d: delattr(_segment(d, 1).SegmentedPropertyTypeCodeSequence[0], "CodeMeaning"),
        "CodeMeaning",
    ),
    Broken("tracking-uid", "labelmap-none", lambda d: setattr(_segment(d, 1), "TrackingID", "T1"), "TrackingUID"),
    Broken(
        "cielab-vm",
        "labelmap-none",
        lambda d: setattr(_segment(d, 1), "RecommendedDisplayCIELabValue", [1, 2]),
        "RecommendedDisplayCIELabValue",
    ),
    # palette
    Broken(
        "cielab-with-palette",
        "labelmap-palette",
        lambda d: setattr(_segment(d, 1), "RecommendedDisplayCIELabValue", [1, 2, 3]),
        "RecommendedDisplayCIELabValue",
        says="PALETTE COLOR",
    ),
    Broken(
        "lut-descriptor-absent",
        "labelmap-palette",
        lambda d: delattr(d, "GreenPaletteColorLookupTableDescriptor"),
        "GreenPaletteColorLookupTableDescriptor",
    ),
    Broken(
        "lut-bits",
        "labelmap-palette",
        lambda d: _lut_descriptor(d, bits=12),
        "RedPaletteColorLookupTableDescriptor",
        says="bits per entry is 12",
    ),
    Broken(
        "lut-colours-differ",
        "labelmap-palette",
        lambda d: _lut_descriptor(d, red=True, entries=5),
        "RedPaletteColorLookupTableDescriptor",
        says="differ between colours",
    ),
    Broken("lut-data-length", "labelmap-palette", _lut_data_short, "RedPaletteColorLookupTableData"),
    Broken(
        "lut-too-small",
        "labelmap-palette",
        lambda d: _lut_descriptor(d, entries=5),
        "RedPaletteColorLookupTableDescriptor",
        "warning",
        says="pixel value(s) 9",
    ),
    Broken("icc-absent", "labelmap-palette", lambda d: delattr(d, "ICCProfile"), "ICCProfile"),
    Broken(
        "icc-not-icc",
        "labelmap-palette",
        lambda d: setattr(d, "ICCProfile", b"\0" * 200),
        "ICCProfile",
        says="not an ICC profile",
    ),
    Broken(
        "icc-output-class",
        "labelmap-palette",
        lambda d: _icc_header(d, 12, b"prtr"),
        "ICCProfile",
        says="device class is 'prtr'",
    ),
    Broken(
        "icc-grey",
        "labelmap-palette",
        lambda d: _icc_header(d, 16, b"GRAY"),
        "ICCProfile",
        says="colour space is 'GRAY'",
    ),
    # functional groups: per-frame values
    Broken(
        "labelmap-segment-id",
        "labelmap-none",
        lambda d: (
            setattr(_frames(d)[1], "SegmentIdentificationSequence", [Dataset()])
            or setattr(_frames(d)[1].SegmentIdentificationSequence[0], "ReferencedSegmentNumber", 1)
        ),
        "SegmentIdentificationSequence",
        says="of a LABELMAP",
    ),
    Broken(
        "binary-segment-id-absent",
        "binary-none",
        lambda d: delattr(_frames(d)[2], "SegmentIdentificationSequence"),
        "ReferencedSegmentNumber",
        says="frame 3",
    ),
    Broken(
        "orientation",
        "labelmap-none",
        lambda d: setattr(_shared(d).PlaneOrientationSequence[0], "ImageOrientationPatient", [1, 0, 0, 1, 0, 0]),
        "ImageOrientationPatient",
        says="orthogonal",
    ),
    Broken(
        "orientation-absent-derived",
        "labelmap-none",
        lambda d: delattr(_shared(d), "PlaneOrientationSequence"),
        "ImageOrientationPatient",
        "warning",
    ),
    Broken(
        "orientation-absent",
        "labelmap-none",
        lambda d: (_no_derivation(d), delattr(_shared(d), "PlaneOrientationSequence")),
        "ImageOrientationPatient",
        says="neither per-frame nor shared",
    ),
    Broken(
        "position-absent",
        "binary-none",
        lambda d: delattr(_frames(d)[1], "PlanePositionSequence"),
        "ImagePositionPatient",
        "warning",
        says="frame 2",
    ),
    Broken(
        "pixel-spacing",
        "labelmap-none",
        lambda d: setattr(_shared(d).PixelMeasuresSequence[0], "PixelSpacing", [0.9, -0.7]),
        "PixelSpacing",
    ),
    Broken(
        "two-frames-one-position",
        "labelmap-none",
        lambda d: setattr(
            _frames(d)[1].PlanePositionSequence[0],
            "ImagePositionPatient",
            _frames(d)[0].PlanePositionSequence[0].ImagePositionPatient,
        ),
        "ImagePositionPatient",
        "warning",
        says="lie at one position",
    ),
    Broken(
        "shared-frame-content",
        "labelmap-none",
        lambda d: setattr(_shared(d), "FrameContentSequence", [Dataset()]),
        "FrameContentSequence",
        says="Shared",
    ),
    Broken(
        "two-shared-items",
        "binary-none",
        lambda d: d.SharedFunctionalGroupsSequence.append(Dataset()),
        "SharedFunctionalGroupsSequence",
    ),
    Broken(
        "macro-shared-and-per-frame",
        "labelmap-none",
        lambda d: setattr(_frames(d)[0], "PixelMeasuresSequence", _shared(d).PixelMeasuresSequence),
        "PixelMeasuresSequence",
        says="both",
    ),
    # references
    Broken(
        "common-instance-reference",
        "labelmap-none",
        lambda d: delattr(d, "ReferencedSeriesSequence"),
        "ReferencedSeriesSequence",
    ),
    Broken(
        "unlisted-source",
        "binary-none",
        lambda d: d.ReferencedSeriesSequence[0].ReferencedInstanceSequence.pop(0),
        "ReferencedInstanceSequence",
        "warning",
    ),
    Broken(
        "frame-of-reference",
        "labelmap-none",
        lambda d: (_no_derivation(d), delattr(d, "FrameOfReferenceUID")),
        "FrameOfReferenceUID",
        says="no frame has a Derivation Image",
    ),
    # per-frame items (read with pydicom)
    Broken(
        "derivation-code",
        "labelmap-none",
        lambda d: setattr(
            _frames(d)[0].DerivationImageSequence[0],
            "DerivationCodeSequence",
            [_code("113072", "DCM", "Multiplanar reformatting")],
        ),
        "DerivationCodeSequence",
        says="113072",
    ),
    Broken(
        "purpose-code",
        "binary-none",
        lambda d: setattr(
            _frames(d)[3].DerivationImageSequence[0].SourceImageSequence[0],
            "PurposeOfReferenceCodeSequence",
            [_code("121320", "DCM", "Uncompressed predecessor")],
        ),
        "PurposeOfReferenceCodeSequence",
        says="frame 4",
    ),
    Broken(
        "frame-content-absent",
        "labelmap-none",
        lambda d: delattr(_frames(d)[1], "FrameContentSequence"),
        "FrameContentSequence",
        says="frame 2",
    ),
    Broken(
        "two-positions",
        "labelmap-none",
        lambda d: _frames(d)[0].PlanePositionSequence.append(_frames(d)[1].PlanePositionSequence[0]),
        "PlanePositionSequence",
        says="2 items",
    ),
    # dimensions
    Broken(
        "dimension-organization",
        "labelmap-none",
        lambda d: delattr(d, "DimensionOrganizationSequence"),
        "DimensionOrganizationSequence",
    ),
    Broken(
        "dimension-index-absent",
        "binary-none",
        lambda d: delattr(d, "DimensionIndexSequence"),
        "DimensionIndexSequence",
    ),
    Broken(
        "dimension-values-length",
        "labelmap-none",
        lambda d: setattr(_frames(d)[0].FrameContentSequence[0], "DimensionIndexValues", [1, 1]),
        "DimensionIndexValues",
        says="holds 2 values",
    ),
    Broken(
        "dimension-values-absent",
        "binary-none",
        lambda d: delattr(_frames(d)[4].FrameContentSequence[0], "DimensionIndexValues"),
        "DimensionIndexValues",
        says="frame 5",
    ),
    Broken(
        "dimension-values-duplicate",
        "labelmap-none",
        lambda d: setattr(_frames(d)[1].FrameContentSequence[0], "DimensionIndexValues", 1),
        "DimensionIndexValues",
        "warning",
    ),
    Broken(
        "labelmap-index-on-segment",
        "labelmap-none",
        lambda d: (
            setattr(d.DimensionIndexSequence[0], "DimensionIndexPointer", 0x0062000B),
            setattr(d.DimensionIndexSequence[0], "FunctionalGroupPointer", 0x0062000A),
        ),
        "DimensionIndexPointer",
        says="in a LABELMAP",
    ),
    Broken(
        "functional-group-pointer",
        "binary-none",
        lambda d: setattr(d.DimensionIndexSequence[1], "FunctionalGroupPointer", 0x00209111),
        "FunctionalGroupPointer",
        says="PlanePositionSequence",
    ),
    Broken(
        "dimension-organization-uid",
        "labelmap-none",
        lambda d: setattr(d.DimensionIndexSequence[0], "DimensionOrganizationUID", "1.2.3"),
        "DimensionOrganizationUID",
    ),
    # Pixel Data and transfer syntax
    Broken(
        "pixel-data-short",
        "labelmap-none",
        lambda d: setattr(d, "PixelData", d.PixelData[:-20]),
        "PixelData",
        says="need",
    ),
    Broken(
        "pixel-data-long",
        "labelmap-none",
        lambda d: setattr(d, "PixelData", d.PixelData + b"\0" * 100),
        "PixelData",
        "warning",
    ),
    Broken("pixel-data-absent", "binary-none", lambda d: delattr(d, "PixelData"), "PixelData", says="absent"),
    Broken("binary-frames-padded", "binary-overlap", _pad_each_frame, "PixelData", says="padded to a byte boundary"),
    Broken("binary-pixel-data-short", "binary-none", lambda d: setattr(d, "PixelData", d.PixelData[:-40]), "PixelData"),
    Broken(
        "lossy-syntax",
        "labelmap-jpegls",
        lambda d: setattr(d.file_meta, "TransferSyntaxUID", JPEGLSNearLossless),
        "TransferSyntaxUID",
        says="lossy",
    ),
    Broken(
        "no-decoder",
        "labelmap-jpegls",
        lambda d: setattr(d.file_meta, "TransferSyntaxUID", JPEGLSNearLossless),
        "PixelData",
        "warning",
        says="no decoder",
    ),
    Broken(
        "binary-jpegls",
        "binary-none",
        lambda d: _binary_as(d, JPEGLSLossless),
        "TransferSyntaxUID",
        says="no 1-bit form",
    ),
    Broken("binary-rle", "binary-none", lambda d: _binary_as(d, RLELossless), "TransferSyntaxUID", "warning"),
    Broken("rle-fragments", "labelmap-rle", _extra_fragment, "PixelData", says="RLE frames"),
    Broken("bad-codestream", "labelmap-jpegls", _damage_first_fragment, "PixelData", says="cannot be decoded"),
]


@pytest.fixture
def broken_file(made, tmp_path):
    def build(case: Broken) -> Path:
        ds = pydicom.dcmread(made(case.base))
        case.change(ds)
        out = tmp_path / f"{case.id}.dcm"
        ds.save_as(out)
        return out

    return build


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    violations = validate_seg(broken_file(case))
    hits = [
        v for v in violations if v.keyword == case.keyword and v.severity == case.severity and case.says in v.message
    ]
    assert hits, f"expected {case.severity} on {case.keyword} ({case.says!r}); got:\n{show(violations)}"
    for v in violations:
        assert "could not finish" not in v.message, show(violations)
        assert v.rule.startswith(("PS3.", "decoding")), v
        if v.tag is not None:
            assert re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", v.tag), v


def test_violations_name_the_place(broken_file):
    """Path, frame and segment number point at the item at fault."""
    case = next(c for c in BROKEN if c.id == "algorithm-name")
    (v,) = [v for v in validate_seg(broken_file(case)) if v.keyword == "SegmentAlgorithmName"]
    assert (v.tag, v.path, v.segment) == ("(0062,0009)", "SegmentSequence[1].SegmentAlgorithmName", 1)
    assert v.rule.startswith("PS3.3 C.8.20.2 Segmentation Image Module")
    case = next(c for c in BROKEN if c.id == "frame-content-absent")
    (v,) = [v for v in validate_seg(broken_file(case)) if v.keyword == "FrameContentSequence"]
    assert (v.frame, v.path) == (2, "PerFrameFunctionalGroupsSequence[2].FrameContentSequence")


def test_item_checks_need_deep_on_big_files(broken_file):
    """Per-frame items are read with pydicom up to DEEP_FRAME_LIMIT frames or with deep=True; values always."""
    path = broken_file(next(c for c in BROKEN if c.id == "derivation-code"))
    assert DEEP_FRAME_LIMIT >= 1000
    quick = check_seg(path, deep=False)
    assert not quick.per_frame_items_checked and quick.violations == []
    full = check_seg(path, deep=True)
    assert full.per_frame_items_checked and kinds_found(full.violations) == [("DerivationCodeSequence", "error")]
    path = broken_file(next(c for c in BROKEN if c.id == "pixel-77"))
    assert kinds_found(validate_seg(path, deep=False)) == [("SegmentSequence", "error")]


def test_dataset_input_is_checked_like_a_file(made):
    ds = pydicom.dcmread(made("binary-none"))
    ds.SegmentsOverlap = "MAYBE"
    del ds.SegmentSequence[0].SegmentLabel
    assert kinds_found(validate_seg(ds)) == [("SegmentsOverlap", "error"), ("SegmentLabel", "error")]


# --------------------------------------------------------------------------- 3. damaged files
def test_damaged_files_give_one_clear_violation(made, inputs, tmp_path):
    data = made("labelmap-none").read_bytes()
    cases = {
        "truncated.dcm": data[: len(data) // 2],
        "truncated-pixels.dcm": data[:-64],
        "header-only.dcm": data[:300],
        "empty.dcm": b"",
        "text.dcm": b"not a dicom file\n" * 40,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        violations = validate_seg(tmp_path / name)
        assert kinds_found(violations) == [("File", "error")], (name, show(violations))
        assert violations[0].message.startswith("cannot be read: "), violations[0]
    assert "file not found" in validate_seg(tmp_path / "missing.dcm")[0].message
    assert "folder" in validate_seg(tmp_path)[0].message
    ct = sorted(inputs.ct.glob("*.dcm"))[0]
    assert kinds_found(validate_seg(ct)) == [("SOPClassUID", "error")]


@pytest.mark.parametrize("base", ["labelmap-none", "labelmap-deflate", "labelmap-rle", "binary-none", "fractional"])
def test_random_damage_never_raises(made, tmp_path, base):
    data = made(base).read_bytes()
    rng = random.Random(f"validate-{base}")
    for n in range(40):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 4, 16))):
            damaged[rng.randrange(132, len(damaged))] = rng.randrange(256)
        if n % 5 == 0:
            damaged = damaged[: rng.randrange(132, len(damaged))]
        path = tmp_path / f"damaged-{n}.dcm"
        path.write_bytes(bytes(damaged))
        for v in validate_seg(path):
            assert "could not finish" not in v.message, (n, v)


# --------------------------------------------------------------------------- 4. peers
@needs_dcmqi
def test_dcmqi_outputs(inputs, made, tmp_path):
    """dcmqi 1.5.7: LABELMAP (plain, deflated), BINARY, bin2labelsegimage (palette, RLE): only Patient Orientation."""
    common = [
        "--inputImageList",
        str(inputs.image),
        "--inputDICOMDirectory",
        str(inputs.ct),
        "--inputMetadata",
        str(inputs.meta),
    ]
    outputs = {
        "labelmap": ["--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"],
        "labelmap-deflate": ["--segmentationType", "labelmap", "--compress", "deflate"],
        "binary": [],
    }
    for name, extra in outputs.items():
        run_dcmqi("itkimage2segimage", *common, "--outputDICOM", str(tmp_path / f"{name}.dcm"), *extra)
    for name, extra in {"b2l-palette": ["--usePalette"], "b2l-rle": ["--compress", "rle"]}.items():
        run_dcmqi(
            "bin2labelsegimage",
            "--inputDICOM",
            str(tmp_path / "binary.dcm"),
            "--outputDICOM",
            str(tmp_path / f"{name}.dcm"),
            *extra,
        )
    for name in [*outputs, "b2l-palette", "b2l-rle"]:
        result = check_seg(tmp_path / f"{name}.dcm")
        assert kinds_found(result.violations) == [PATIENT_ORIENTATION], (name, show(result.violations))
        assert result.segmentation_type == ("BINARY" if name == "binary" else "LABELMAP")


def test_highdicom_outputs(inputs, tmp_path):
    """highdicom 0.28: LABELMAP (grey, colours, JPEG-LS), BINARY, FRACTIONAL: only Patient Orientation;
    a PALETTE COLOR LABELMAP without an icc_profile argument also lacks the ICC Profile the IOD requires."""
    hd = pytest.importorskip("highdicom")
    geometry, labels = inputs.geometry, inputs.labels
    masks = np.stack([labels == v for v in LABEL_VALUES], axis=-1).astype(np.uint8)
    made = {}
    variants = {
        "labelmap": dict(pixel_array=labels, seg_type="LABELMAP", numbers=LABEL_VALUES),
        "labelmap-colours": dict(pixel_array=labels, seg_type="LABELMAP", numbers=LABEL_VALUES, colours=True),
        "binary": dict(pixel_array=masks, seg_type="BINARY", numbers=[1, 2, 3, 4]),
        "fractional": dict(pixel_array=masks.astype(np.float32) * 0.5, seg_type="FRACTIONAL", numbers=[1, 2, 3, 4]),
    }
    if codecs.is_available("jpegls"):
        variants["labelmap-jpegls"] = dict(
            pixel_array=labels, seg_type="LABELMAP", numbers=LABEL_VALUES, transfer_syntax_uid=JPEGLSLossless
        )
    lut = hd.PaletteColorLUTTransformation.from_colors(
        ["black", "red", "green", "blue", "yellow", "white", "cyan", "magenta", "orange", "purple"]
    )
    variants["labelmap-palette"] = dict(
        pixel_array=labels, seg_type="LABELMAP", numbers=LABEL_VALUES, palette_color_lut_transformation=lut
    )
    from labelmap.seg.palette import srgb_icc_profile

    icc = srgb_icc_profile()
    icc = icc[:12] + b"scnr" + icc[16:]  # highdicom, like C.11.15.1.1, takes input-device profiles only
    variants["labelmap-palette-icc"] = dict(
        pixel_array=labels,
        seg_type="LABELMAP",
        numbers=LABEL_VALUES,
        palette_color_lut_transformation=lut,
        icc_profile=icc,
    )
    for name, kw in variants.items():
        (tmp_path / name).mkdir()
        made[name] = write_highdicom_seg(tmp_path / name, geometry, kw.pop("pixel_array"), **kw)[1]
    for name, path in made.items():
        found = kinds_found(validate_seg(path))
        expected = [PATIENT_ORIENTATION] + ([("ICCProfile", "error")] if name == "labelmap-palette" else [])
        assert found == expected, (name, show(validate_seg(path)))


# --------------------------------------------------------------------------- 5. the command
def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


LINE = re.compile(
    r"^(?P<name>.+?): (?P<severity>error|warning): (?:(?P<tag>\([0-9A-F]{4},[0-9A-F]{4}\)) )?"
    r"(?P<path>\S+): (?P<message>.+) — (?P<rule>.+)$"
)


def test_cli_valid_file(made, capsys):
    rc, out, err = run_cli(capsys, "validate", made("labelmap-none"))
    assert (rc, err) == (0, "")
    assert out.splitlines() == [f"{made('labelmap-none')}: valid (LABELMAP, 4 frames, per-frame items read)"]


def test_cli_errors_exit_1_with_one_line_each(broken_file, made, capsys):
    bad = broken_file(next(c for c in BROKEN if c.id == "modality"))
    rc, out, err = run_cli(capsys, "validate", made("binary-none"), bad)
    assert (rc, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == f"{made('binary-none')}: valid (BINARY, 14 frames, per-frame items read)"
    match = LINE.match(lines[1])
    assert match, lines[1]
    assert match["name"] == str(bad) and match["severity"] == "error" and match["tag"] == "(0008,0060)"
    assert match["path"] == "Modality" and match["message"] == "is CT, expected SEG"
    assert match["rule"].startswith("PS3.3 C.7.3.1 General Series")
    assert lines[-1] == f"{bad}: 1 error (LABELMAP, 4 frames, per-frame items read)"


def test_cli_warnings_pass_unless_strict(broken_file, capsys):
    path = broken_file(next(c for c in BROKEN if c.id == "patient-orientation"))
    rc, out, _ = run_cli(capsys, "validate", path)
    assert rc == 0 and out.splitlines()[-1].startswith(f"{path}: valid with 1 warning")
    assert LINE.match(out.splitlines()[0])["severity"] == "warning"
    rc, _, _ = run_cli(capsys, "validate", "--strict", path)
    assert rc == 1


def test_cli_json(broken_file, made, capsys):
    bad = broken_file(next(c for c in BROKEN if c.id == "binary-overlap-no"))
    rc, out, _ = run_cli(capsys, "validate", "--json", made("fractional"), bad)
    assert rc == 1
    doc = json.loads(out)
    assert (doc["errors"], doc["warnings"], doc["valid"]) == (1, 0, False)
    good, broken = doc["files"]
    assert (good["segmentation_type"], good["violations"], good["per_frame_items_checked"]) == ("FRACTIONAL", [], True)
    (v,) = broken["violations"]
    assert v["keyword"] == "SegmentsOverlap" and v["tag"] == "(0062,0013)" and v["severity"] == "error"
    assert set(v) == {"keyword", "tag", "message", "rule", "severity", "path", "frame", "segment"}


def test_cli_damaged_file_as_subprocess(made, tmp_path):
    """A damaged file: exit 1, the violation on stdout, nothing on stderr (no traceback)."""
    path = tmp_path / "truncated.dcm"
    data = made("labelmap-deflate").read_bytes()
    path.write_bytes(data[: len(data) - 50])
    exe = shutil.which("labelmap-convert", path=str(Path(sys.executable).parent))
    proc = subprocess.run([exe, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr == ""
    first, summary = proc.stdout.splitlines()
    assert first.startswith(f"{path}: error: File: cannot be read: ")
    assert summary == f"{path}: 1 error"
