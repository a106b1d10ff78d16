"""The one DICOM dictionary of the byte layer: the attributes the package reads and writes, and
the encoding facts (PS3.5) that the readers, the walker and the writer share.

No IOD lives here: tags are listed by keyword, and the per-frame / pixel tags are those of the
generic multi-frame and image modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

#: keyword -> (tag, VR) for the attributes the converter reads (facts from PS3.6; where the
#: dictionary allows two VRs the first is used for Implicit VR data).
KEYWORDS: dict[str, tuple[int, str]] = {
    "AccessionNumber": (0x00080050, "SH"),
    "AcquisitionNumber": (0x00200012, "IS"),
    "AnatomicRegionModifierSequence": (0x00082220, "SQ"),
    "AnatomicRegionSequence": (0x00082218, "SQ"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "BluePaletteColorLookupTableData": (0x00281203, "OW"),
    "BluePaletteColorLookupTableDescriptor": (0x00281103, "US"),
    "BodyPartExamined": (0x00180015, "CS"),
    "BurnedInAnnotation": (0x00280301, "CS"),
    "ClinicalTrialCoordinatingCenterName": (0x00120060, "LO"),
    "ClinicalTrialSeriesID": (0x00120071, "LO"),
    "ClinicalTrialTimePointID": (0x00120050, "LO"),
    "CodeMeaning": (0x00080104, "LO"),
    "CodeValue": (0x00080100, "SH"),
    "CodingSchemeDesignator": (0x00080102, "SH"),
    "CodingSchemeVersion": (0x00080103, "SH"),
    "ColorSpace": (0x00282002, "CS"),
    "ColumnPositionInTotalImagePixelMatrix": (0x0048021E, "SL"),
    "Columns": (0x00280011, "US"),
    "ContainerIdentifier": (0x00400512, "LO"),
    "ContainerTypeCodeSequence": (0x00400518, "SQ"),
    "ContentCreatorName": (0x00700084, "PN"),
    "ContentDate": (0x00080023, "DA"),
    "ContentDescription": (0x00700081, "LO"),
    "ContentLabel": (0x00700080, "CS"),
    "ContentQualification": (0x00189004, "CS"),
    "ContentTime": (0x00080033, "TM"),
    "DerivationCodeSequence": (0x00089215, "SQ"),
    "DerivationImageSequence": (0x00089124, "SQ"),
    "DeviceSerialNumber": (0x00181000, "LO"),
    "DimensionDescriptionLabel": (0x00209421, "LO"),
    "DimensionIndexPointer": (0x00209165, "AT"),
    "DimensionIndexSequence": (0x00209222, "SQ"),
    "DimensionIndexValues": (0x00209157, "UL"),
    "DimensionOrganizationSequence": (0x00209221, "SQ"),
    "DimensionOrganizationType": (0x00209311, "CS"),
    "DimensionOrganizationUID": (0x00209164, "UI"),
    "ExtendedOffsetTable": (0x7FE00001, "OV"),
    "ExtendedOffsetTableLengths": (0x7FE00002, "OV"),
    "FileMetaInformationGroupLength": (0x00020000, "UL"),
    "FileMetaInformationVersion": (0x00020001, "OB"),
    "FrameContentSequence": (0x00209111, "SQ"),
    "FrameLabel": (0x00209453, "LO"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "FunctionalGroupPointer": (0x00209167, "AT"),
    "GantryDetectorTilt": (0x00181120, "DS"),
    "GreenPaletteColorLookupTableData": (0x00281202, "OW"),
    "GreenPaletteColorLookupTableDescriptor": (0x00281102, "US"),
    "HighBit": (0x00280102, "US"),
    "ICCProfile": (0x00282000, "OB"),
    "ImageComments": (0x00204000, "LT"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "ImageOrientationSlide": (0x00480102, "DS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageType": (0x00080008, "CS"),
    "ImplementationClassUID": (0x00020012, "UI"),
    "ImplementationVersionName": (0x00020013, "SH"),
    "InStackPositionNumber": (0x00209057, "UL"),
    "InstanceCreationDate": (0x00080012, "DA"),
    "InstanceCreationTime": (0x00080013, "TM"),
    "InstanceNumber": (0x00200013, "IS"),
    "IssuerOfPatientID": (0x00100021, "LO"),
    "IssuerOfTheContainerIdentifierSequence": (0x00400513, "SQ"),
    "KVP": (0x00180060, "DS"),
    "Laterality": (0x00200060, "CS"),
    "LongCodeValue": (0x00080119, "UC"),
    "LossyImageCompression": (0x00282110, "CS"),
    "LossyImageCompressionMethod": (0x00282114, "CS"),
    "LossyImageCompressionRatio": (0x00282112, "DS"),
    "Manufacturer": (0x00080070, "LO"),
    "ManufacturerModelName": (0x00081090, "LO"),
    "MaximumFractionalValue": (0x0062000E, "US"),
    "MediaStorageSOPClassUID": (0x00020002, "UI"),
    "MediaStorageSOPInstanceUID": (0x00020003, "UI"),
    "Modality": (0x00080060, "CS"),
    "NumberOfFocalPlanes": (0x00480013, "US"),
    "NumberOfFrames": (0x00280008, "IS"),
    "NumberOfOpticalPaths": (0x00480302, "UL"),
    "PaletteColorLookupTableUID": (0x00281199, "UI"),
    "PatientAge": (0x00101010, "AS"),
    "PatientBirthDate": (0x00100030, "DA"),
    "PatientID": (0x00100020, "LO"),
    "PatientName": (0x00100010, "PN"),
    "PatientOrientation": (0x00200020, "CS"),
    "PatientPosition": (0x00185100, "CS"),
    "PatientSex": (0x00100040, "CS"),
    "PatientSize": (0x00101020, "DS"),
    "PatientWeight": (0x00101030, "DS"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "PixelData": (0x7FE00010, "OB"),
    "PixelMeasuresSequence": (0x00289110, "SQ"),
    "PixelPaddingValue": (0x00280120, "US"),
    "PixelRepresentation": (0x00280103, "US"),
    "PixelSpacing": (0x00280030, "DS"),
    "PlaneOrientationSequence": (0x00209116, "SQ"),
    "PlanePositionSequence": (0x00209113, "SQ"),
    "PlanePositionSlideSequence": (0x0048021A, "SQ"),
    "PositionReferenceIndicator": (0x00201040, "LO"),
    "PurposeOfReferenceCodeSequence": (0x0040A170, "SQ"),
    "PyramidLabel": (0x00200027, "LO"),
    "PyramidUID": (0x00080019, "UI"),
    "RecommendedDisplayCIELabValue": (0x0062000D, "US"),
    "RedPaletteColorLookupTableData": (0x00281201, "OW"),
    "RedPaletteColorLookupTableDescriptor": (0x00281101, "US"),
    "ReferencedFrameNumber": (0x00081160, "IS"),
    "ReferencedInstanceSequence": (0x0008114A, "SQ"),
    "ReferencedSOPClassUID": (0x00081150, "UI"),
    "ReferencedSOPInstanceUID": (0x00081155, "UI"),
    "ReferencedSegmentNumber": (0x0062000B, "US"),
    "ReferencedSeriesSequence": (0x00081115, "SQ"),
    "ReferringPhysicianName": (0x00080090, "PN"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "RescaleType": (0x00281054, "LO"),
    "RowPositionInTotalImagePixelMatrix": (0x0048021F, "SL"),
    "Rows": (0x00280010, "US"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "SamplesPerPixel": (0x00280002, "US"),
    "SegmentAlgorithmName": (0x00620009, "LO"),
    "SegmentAlgorithmType": (0x00620008, "CS"),
    "SegmentDescription": (0x00620006, "ST"),
    "SegmentIdentificationSequence": (0x0062000A, "SQ"),
    "SegmentLabel": (0x00620005, "LO"),
    "SegmentNumber": (0x00620004, "US"),
    "SegmentSequence": (0x00620002, "SQ"),
    "SegmentationAlgorithmIdentificationSequence": (0x00620007, "SQ"),
    "SegmentationFractionalType": (0x00620010, "CS"),
    "SegmentationType": (0x00620001, "CS"),
    "SegmentedBluePaletteColorLookupTableData": (0x00281223, "OW"),
    "SegmentedGreenPaletteColorLookupTableData": (0x00281222, "OW"),
    "SegmentedPropertyCategoryCodeSequence": (0x00620003, "SQ"),
    "SegmentedPropertyTypeCodeSequence": (0x0062000F, "SQ"),
    "SegmentedPropertyTypeModifierCodeSequence": (0x00620011, "SQ"),
    "SegmentedRedPaletteColorLookupTableData": (0x00281221, "OW"),
    "SegmentsOverlap": (0x00620013, "CS"),
    "SeriesDate": (0x00080021, "DA"),
    "SeriesDescription": (0x0008103E, "LO"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "SeriesTime": (0x00080031, "TM"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "SliceLocation": (0x00201041, "DS"),
    "SliceThickness": (0x00180050, "DS"),
    "SoftwareVersions": (0x00181020, "LO"),
    "SourceApplicationEntityTitle": (0x00020016, "AE"),
    "SourceImageSequence": (0x00082112, "SQ"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "SpatialLocationsPreserved": (0x0028135A, "CS"),
    "SpecificCharacterSet": (0x00080005, "CS"),
    "SpecimenDescriptionSequence": (0x00400560, "SQ"),
    "StackID": (0x00209056, "SH"),
    "StudyDate": (0x00080020, "DA"),
    "StudyDescription": (0x00081030, "LO"),
    "StudyID": (0x00200010, "SH"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "StudyTime": (0x00080030, "TM"),
    "TemporalPositionIndex": (0x00209128, "UL"),
    "TotalPixelMatrixColumns": (0x00480006, "UL"),
    "TotalPixelMatrixFocalPlanes": (0x00480303, "UL"),
    "TotalPixelMatrixOriginSequence": (0x00480008, "SQ"),
    "TotalPixelMatrixRows": (0x00480007, "UL"),
    "TrackingID": (0x00620020, "UT"),
    "TrackingUID": (0x00620021, "UI"),
    "TransferSyntaxUID": (0x00020010, "UI"),
    "URNCodeValue": (0x00080120, "UR"),
    "Units": (0x00541001, "CS"),
    "WindowCenter": (0x00281050, "DS"),
    "WindowWidth": (0x00281051, "DS"),
    "XOffsetInSlideCoordinateSystem": (0x0040072A, "DS"),
    "YOffsetInSlideCoordinateSystem": (0x0040073A, "DS"),
    "ZOffsetInSlideCoordinateSystem": (0x0040074A, "DS"),
}
#: tag -> VR and tag -> keyword, for the attributes of :data:`KEYWORDS`.
TAG_VR: dict[int, str] = {tag: vr for tag, vr in KEYWORDS.values()}
KEYWORD_OF: dict[int, str] = {tag: keyword for keyword, (tag, _) in KEYWORDS.items()}

#: Value Multiplicity (PS3.6) of the attributes of :data:`KEYWORDS` that may hold more than one value,
#: as (minimum, maximum or None for "n"); every other attribute holds one value.
MULTIPLICITY: dict[str, tuple[int, int | None]] = {
    **dict.fromkeys(("ImageType",), (2, None)),
    **dict.fromkeys(("PixelSpacing", "PatientOrientation"), (2, 2)),
    **dict.fromkeys(("ImagePositionPatient", "RecommendedDisplayCIELabValue"), (3, 3)),
    **dict.fromkeys(("ImageOrientationPatient", "ImageOrientationSlide"), (6, 6)),
    **dict.fromkeys((f"{c}PaletteColorLookupTableDescriptor" for c in ("Red", "Green", "Blue")), (3, 3)),
    **dict.fromkeys(
        (
            "DimensionIndexValues",
            "LossyImageCompressionMethod",
            "LossyImageCompressionRatio",
            "ReferencedFrameNumber",
            "ReferencedSegmentNumber",
            "SoftwareVersions",
            "SpecificCharacterSet",
            "WindowCenter",
            "WindowWidth",
        ),
        (1, None),
    ),
}

#: Encoding facts (PS3.5 7.1-7.5); tags as (group << 16) | element.
UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
SEQUENCE_DELIMITER_BYTES = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
#: Explicit VRs with a 4-byte length field.
LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
#: Text VRs, and those of them whose text follows Specific Character Set (the others are ASCII).
TEXT_VRS = frozenset(("AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"))
CHARSET_TEXT_VRS = frozenset(("LO", "LT", "PN", "SH", "ST", "UC", "UT"))
#: VRs whose value is bytes.
BYTES_VRS = frozenset(("OB", "OW", "OD", "OF", "OL", "OV", "UN"))
#: Binary number VRs -> struct format code (Little Endian).
NUMBER_CODES = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}

#: Deepest sequence nesting accepted (the SEG per-frame groups need 4); guards against recursion bombs.
MAX_DEPTH = 48

SPECIFIC_CHARACTER_SET = 0x00080005
PER_FRAME_GROUPS = 0x52009230  # Per-frame Functional Groups Sequence
PIXEL_DATA = 0x7FE00010
EXTENDED_OFFSET_TABLES = frozenset((0x7FE00001, 0x7FE00002))


def tag_str(tag: int) -> str:
    """``(gggg,eeee)``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def describe_tag(tag: int) -> str:
    """``Keyword (gggg,eeee)`` for the attributes of :data:`KEYWORDS`, else ``(gggg,eeee)``."""
    keyword = KEYWORD_OF.get(tag)
    return f"{keyword} {tag_str(tag)}" if keyword else tag_str(tag)


def tag_of(key: str | int) -> int:
    """The tag of a keyword of :data:`KEYWORDS` (a tag passes through); LookupError if unknown."""
    if isinstance(key, int):
        return key
    try:
        return KEYWORDS[key][0]
    except KeyError:
        # a programming error, not a damaged file: extend KEYWORDS
        raise LookupError(f"{key!r} is not in labelmap.dicom.dictionary.KEYWORDS") from None


class _Element(Protocol):
    @property
    def value(self) -> Any: ...


E = TypeVar("E", bound=_Element)


class KeywordAccess(Generic[E]):
    """Elements by tag, read by keyword like a pydicom Dataset (``ds.Rows``, ``ds.get``, ``"X" in ds``)."""

    __slots__ = ("_elements",)
    _elements: dict[int, E]

    def __contains__(self, key: str | int) -> bool:
        return tag_of(key) in self._elements

    def __getitem__(self, key: str | int) -> E:
        return self._elements[tag_of(key)]

    def __getattr__(self, keyword: str) -> Any:
        if keyword.startswith("_") or not keyword[:1].isupper():
            raise AttributeError(keyword)
        element = self._elements.get(tag_of(keyword))
        if element is None:
            raise AttributeError(f"data set has no {keyword}")
        return element.value

    def get(self, key: str | int, default: Any = None) -> Any:
        element = self._elements.get(tag_of(key))
        return default if element is None else element.value

    def __iter__(self) -> Iterator[E]:
        return iter([self._elements[t] for t in sorted(self._elements)])

    def __len__(self) -> int:
        return len(self._elements)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._elements)} elements)"
