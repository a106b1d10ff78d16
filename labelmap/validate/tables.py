"""The IOD modules the validator names, and the attributes each must hold (Type 1, 2, 1C).

A :class:`Module` is the rule text a violation cites plus its (keyword, Type) rows;
:meth:`Module.check` reports the absent and empty ones.  Conditions (Type 1C
"required for FRACTIONAL", "when present") are decided by the rule that checks the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset

from labelmap.validate.report import Violation, violation
from labelmap.validate.values import INVALID, MISSING, get, is_empty

# section names used in rule texts
IOD = "PS3.3 A.51 Segmentation IOD"
FG = "PS3.3 A.51.5 Segmentation Functional Groups"
SEG_IMAGE = "PS3.3 C.8.20.2 Segmentation Image Module"
SEGMENT = "PS3.3 C.8.20.4 Segment Description Macro"
SEG_MACRO = "PS3.3 C.8.20.3 Segmentation Macro"
MF = "PS3.3 C.7.6.16 Multi-frame Functional Groups Module"
DIM = "PS3.3 C.7.6.17 Multi-frame Dimension Module"
PIXEL = "PS3.3 C.7.6.3 Image Pixel Module"
CODE = "PS3.3 8.8 Code Sequence Macro"
CIR = "PS3.3 C.12.2 Common Instance Reference Module"
PALETTE = "PS3.3 C.7.9 Palette Color Lookup Table Module"
ENCODING = "PS3.5 8 Encoding of Pixel Data"
BOTH = "PS3.3 C.7.6.16.1: a functional group macro is either shared or per-frame, not both"
#: The condition of what TILED_FULL files may leave out.
UNLESS_TILED = "Type 1C, required unless Dimension Organization Type is TILED_FULL"
#: Where per-frame attributes sit.
PER_FRAME = "PerFrameFunctionalGroupsSequence"


@dataclass(frozen=True)
class Module:
    """The rule text of one IOD module (or part of one) and its required attributes in order."""

    rule: str
    attributes: tuple[tuple[str, str], ...]  # (keyword, Type: "1", "2" or "1C")

    def check(self, ds: Dataset | None, path: str = "") -> Iterator[Violation]:
        """Attributes absent from ``ds`` (an item at ``path``, if given), undecodable, or empty Type 1."""
        for keyword, type_ in self.attributes:
            value, rule = get(ds, keyword), f"{self.rule}: Type {type_}"
            if value is MISSING:
                yield violation(keyword, "is absent", rule, item=path)
            elif value is INVALID:
                yield violation(keyword, "cannot be decoded", rule, item=path)
            elif type_ == "1" and is_empty(value):
                yield violation(keyword, "is empty", f"{self.rule}: Type 1 (a value is required)", item=path)


def _module(rule: str, keywords: str, type_: str = "1") -> Module:
    """A module whose attributes (space-separated ``keywords``) all have Type ``type_``."""
    return Module(rule, tuple((kw, type_) for kw in keywords.split()))


PATIENT = _module("PS3.3 C.7.1.1 Patient Module", "PatientName PatientID PatientBirthDate PatientSex", "2")
GENERAL_STUDY = Module(
    "PS3.3 C.7.2.1 General Study Module",
    (("StudyInstanceUID", "1"),)
    + tuple((kw, "2") for kw in "StudyDate StudyTime ReferringPhysicianName StudyID AccessionNumber".split()),
)
SERIES = _module(
    "PS3.3 C.7.3.1 General Series / C.8.20.1 Segmentation Series Module", "Modality SeriesInstanceUID SeriesNumber"
)
EQUIPMENT = _module(
    "PS3.3 C.7.5.2 Enhanced General Equipment Module",
    "Manufacturer ManufacturerModelName DeviceSerialNumber SoftwareVersions",
)
IMAGE_TYPE = _module(SEG_IMAGE, "ImageType")
CONTENT = Module(
    "PS3.3 10.9 Content Identification Macro (in the Segmentation Image Module)",
    (("InstanceNumber", "1"), ("ContentLabel", "1"), ("ContentDescription", "2")),
)
CONTENT_DATE = _module(MF, "ContentDate ContentTime")
SOP_COMMON = _module("PS3.3 C.12.1 SOP Common Module", "SOPInstanceUID")
#: The general modules, in the order they are checked.
GENERAL = (PATIENT, GENERAL_STUDY, SERIES, EQUIPMENT, IMAGE_TYPE, CONTENT, CONTENT_DATE, SOP_COMMON)
#: Checked when Frame of Reference UID is present (the module is then in use).
FRAME_OF_REFERENCE = Module(
    "PS3.3 C.7.4.1 Frame of Reference Module", (("FrameOfReferenceUID", "1"), ("PositionReferenceIndicator", "2"))
)

IMAGE_PIXEL = _module(PIXEL, "Rows Columns")
SEGMENTATION_PIXEL = _module(
    SEG_IMAGE,
    "SamplesPerPixel PhotometricInterpretation BitsAllocated BitsStored HighBit PixelRepresentation"
    " LossyImageCompression",
)
#: FRACTIONAL only.
FRACTIONAL = _module(
    f"{SEG_IMAGE}: Type 1C, required for FRACTIONAL", "SegmentationFractionalType MaximumFractionalValue", "1C"
)
#: Dimension Organization Type TILED_FULL only.
TILED_FULL = _module(
    f"{IOD}: the Microscope Slide Layer Tile Organization Module (C.8.12.14) is required for TILED_FULL",
    "TotalPixelMatrixRows TotalPixelMatrixColumns TotalPixelMatrixOriginSequence",
)
#: Items of Referenced Series Sequence and of its Referenced Instance Sequence.
REFERENCED_SERIES = _module(CIR, "SeriesInstanceUID")
REFERENCED_INSTANCE = _module(CIR, "ReferencedSOPClassUID ReferencedSOPInstanceUID")
#: Items of Dimension Organization Sequence and of Dimension Index Sequence.
DIMENSION_ORGANIZATION = _module(DIM, "DimensionOrganizationUID")
DIMENSION_INDEX = _module(DIM, "DimensionIndexPointer")
