"""A small read-only DICOM data set parsed without pydicom, for the fast read path.

Importing pydicom costs about 0.1 s, a quarter of a whole LABELMAP -> NRRD conversion.
:func:`parse_dataset` turns Little Endian data set bytes into a :class:`LiteDataset` whose
keyword access (``ds.Rows``, ``ds.get(...)``, ``"X" in ds``, ``ds["X"].value``) follows
pydicom's value rules for the attributes in :data:`KEYWORDS`: text is stripped, multi-valued
text and numbers are lists, empty numbers are ``None``, sequences are lists of data sets.
Anything the reader would get wrong (a character set other than ASCII, Latin-1 or UTF-8) raises
:class:`NeedsPydicom`, and the caller falls back to pydicom.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

__all__ = ["KEYWORDS", "LiteDataset", "LiteElement", "NeedsPydicom", "charset_of", "parse_dataset", "read_element"]

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
    "Columns": (0x00280011, "US"),
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
    "GreenPaletteColorLookupTableData": (0x00281202, "OW"),
    "GreenPaletteColorLookupTableDescriptor": (0x00281102, "US"),
    "HighBit": (0x00280102, "US"),
    "ICCProfile": (0x00282000, "OB"),
    "ImageComments": (0x00204000, "LT"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageType": (0x00080008, "CS"),
    "ImplementationClassUID": (0x00020012, "UI"),
    "ImplementationVersionName": (0x00020013, "SH"),
    "InStackPositionNumber": (0x00209057, "UL"),
    "InstanceCreationDate": (0x00080012, "DA"),
    "InstanceCreationTime": (0x00080013, "TM"),
    "InstanceNumber": (0x00200013, "IS"),
    "IssuerOfPatientID": (0x00100021, "LO"),
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
    "NumberOfFrames": (0x00280008, "IS"),
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
    "PositionReferenceIndicator": (0x00201040, "LO"),
    "PurposeOfReferenceCodeSequence": (0x0040A170, "SQ"),
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
    "StackID": (0x00209056, "SH"),
    "StudyDate": (0x00080020, "DA"),
    "StudyDescription": (0x00081030, "LO"),
    "StudyID": (0x00200010, "SH"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "StudyTime": (0x00080030, "TM"),
    "TemporalPositionIndex": (0x00209128, "UL"),
    "TrackingID": (0x00620020, "UT"),
    "TrackingUID": (0x00620021, "UI"),
    "TransferSyntaxUID": (0x00020010, "UI"),
    "URNCodeValue": (0x00080120, "UR"),
    "Units": (0x00541001, "CS"),
    "WindowCenter": (0x00281050, "DS"),
    "WindowWidth": (0x00281051, "DS"),
}
_TAG_VR = {tag: vr for tag, vr in KEYWORDS.values()}

#: Encoding facts (PS3.5 7.1-7.5) shared by the readers and the bulk writer.
UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
#: Explicit VRs with a 4-byte length field.
LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
_UNDEFINED, _ITEM, _ITEM_DELIM, _SEQ_DELIM = UNDEFINED_LENGTH, ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER
_TEXT_VRS = frozenset(("AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"))
_SINGLE_TEXT = frozenset(("LT", "ST", "UT", "UR"))  # backslash is not a value separator
_NUMBERS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_ENCODINGS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
MAX_DEPTH = 48


class NeedsPydicom(Exception):
    """The data set uses something the lite reader does not decode; read it with pydicom."""


class LiteElement:
    """One element: tag, VR and the value, decoded from its bytes on first use."""

    __slots__ = ("tag", "VR", "_raw", "_value", "_decoded", "_encoding")

    def __init__(self, tag: int, vr: str, raw: bytes | list, encoding: str) -> None:
        self.tag, self.VR, self._raw, self._encoding = tag, vr, raw, encoding
        self._decoded = isinstance(raw, list)
        self._value = raw if self._decoded else None

    @property
    def value(self) -> Any:
        if not self._decoded:
            self._value = _decode(self._raw, self.VR, self._encoding, self.tag)
            self._decoded = True
        return self._value

    def __repr__(self) -> str:
        return f"LiteElement(({self.tag >> 16:04X},{self.tag & 0xFFFF:04X}) {self.VR})"


class LiteDataset:
    """Elements by tag, read by keyword like a pydicom Dataset (read-only)."""

    __slots__ = ("_elements",)

    def __init__(self, elements: dict[int, LiteElement]) -> None:
        self._elements = elements

    @staticmethod
    def _tag(key: str | int) -> int:
        if isinstance(key, int):
            return key
        try:
            return KEYWORDS[key][0]
        except KeyError:
            # a programming error, not a damaged file: extend KEYWORDS
            raise LookupError(f"{key!r} is not in labelmap.dicom.read.KEYWORDS") from None

    def __contains__(self, key: str | int) -> bool:
        return self._tag(key) in self._elements

    def __getitem__(self, key: str | int) -> LiteElement:
        return self._elements[self._tag(key)]

    def __getattr__(self, keyword: str) -> Any:
        if keyword.startswith("_") or not keyword[:1].isupper():
            raise AttributeError(keyword)
        element = self._elements.get(self._tag(keyword))
        if element is None:
            raise AttributeError(f"data set has no {keyword}")
        return element.value

    def get(self, key: str | int, default: Any = None) -> Any:
        element = self._elements.get(self._tag(key))
        return default if element is None else element.value

    def __iter__(self) -> Iterator[LiteElement]:
        return iter(self._elements[t] for t in sorted(self._elements))

    def __len__(self) -> int:
        return len(self._elements)

    def __repr__(self) -> str:
        return f"LiteDataset({len(self._elements)} elements)"


def _decode(raw: bytes, vr: str, encoding: str, tag: int) -> Any:
    if vr in _TEXT_VRS:
        text = raw.decode(encoding if vr in ("LO", "LT", "PN", "SH", "ST", "UC", "UT") else "latin-1", "replace")
        if vr == "UI":
            text = text.rstrip("\x00 ")
        if vr in _SINGLE_TEXT:
            return text.rstrip(" \x00")
        parts = [
            p.strip(" \x00") if vr not in ("LO", "SH", "PN", "UC") else p.rstrip(" \x00").lstrip(" ")
            for p in text.split("\\")
        ]
        return parts[0] if len(parts) == 1 else parts
    if vr in ("DS", "IS"):
        parts = [p.strip(" \x00") for p in raw.decode("latin-1").split("\\")]
        if parts == [""]:
            return None
        try:
            values = [float(p) if vr == "DS" else _int(p) for p in parts]
        except ValueError:
            raise NeedsPydicom(f"{vr} value {raw[:40]!r} of ({tag >> 16:04X},{tag & 0xFFFF:04X})") from None
        return values[0] if len(values) == 1 else values
    if vr == "AT":  # a tag is stored as group, element: two 16-bit numbers
        if len(raw) % 4:
            raise NeedsPydicom(f"AT value of length {len(raw)}")
        pairs = struct.unpack(f"<{len(raw) // 2}H", raw)
        tags = [pairs[i] << 16 | pairs[i + 1] for i in range(0, len(pairs), 2)]
        return None if not tags else tags[0] if len(tags) == 1 else tags
    code = _NUMBERS.get(vr)
    if code is not None:
        size = struct.calcsize(code)
        if len(raw) % size:
            raise NeedsPydicom(f"{vr} value of length {len(raw)}")
        if not raw:
            return None
        values = list(struct.unpack(f"<{len(raw) // size}{code}", raw))
        return values[0] if len(values) == 1 else values
    return raw  # OB, OW, OF, OD, OL, OV, UN: bytes


def _int(text: str) -> int:
    value = float(text)
    if value != int(value):
        raise ValueError(text)
    return int(value)


def parse_dataset(walker: Any, pos: int, end: int, implicit: bool, encoding: str | None = None) -> LiteDataset:
    """The elements from ``pos`` to ``end`` of ``walker.buf`` (a top-level run of elements).

    ``walker`` is a :class:`labelmap.dicom.bulk._Walker`: it reads element headers and
    raises :class:`~labelmap.errors.SegFormatError` with the byte offset on damaged data.
    ``encoding`` None: taken from Specific Character Set (0008,0005) if the run has it.
    """
    elements, _ = _elements(walker, pos, end, end, implicit, encoding, 0)
    return LiteDataset(elements)


def _charset(raw: bytes) -> str:
    terms = [t.strip(" \x00") for t in raw.decode("latin-1").split("\\")]
    name = terms[0] if terms else ""
    if len(terms) > 1 or name not in _ENCODINGS:
        raise NeedsPydicom(f"Specific Character Set {raw!r}")
    return _ENCODINGS[name]


def read_element(
    walker: Any, pos: int, limit: int, implicit: bool, encoding: str | None, depth: int = 0
) -> tuple[LiteElement, int]:
    """The element whose header is at ``pos`` and the offset after it."""
    start = pos
    tag, vr_b, length, vpos = walker.header(pos, limit, implicit)
    if tag >> 16 == 0xFFFE:
        raise walker.error(start, f"unexpected ({tag >> 16:04X},{tag & 0xFFFF:04X}) among data elements")
    known = _TAG_VR.get(tag)
    vr = vr_b.decode("latin-1") if vr_b is not None else (known or "UN")
    if vr == "UN" and known is not None:
        vr = known  # like pydicom: UN of a known tag is read with the dictionary VR
    if vr == "SQ" or length == _UNDEFINED:
        if vr not in ("SQ", "UN"):
            raise walker.error(
                start, f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) with VR {vr} has an undefined length"
            )
        items, end = _sequence(walker, vpos, length, limit, implicit or vr_b == b"UN", encoding, depth + 1)
        return LiteElement(tag, "SQ", items, encoding or "latin-1"), end
    end = walker.value_end(start, tag, vpos, length, limit)
    return LiteElement(tag, vr, bytes(walker.buf[vpos:end]), encoding or "latin-1"), end


def charset_of(element: LiteElement) -> str:
    """The Python codec for a Specific Character Set element (NeedsPydicom if not a simple one)."""
    return _charset(element._raw)


def _elements(
    walker: Any, pos: int, end: int | None, limit: int, implicit: bool, encoding: str | None, depth: int
) -> tuple[dict[int, LiteElement], int]:
    """Elements up to ``end`` (defined length) or to the item delimiter (``end`` None)."""
    out: dict[int, LiteElement] = {}
    while True:
        if end is not None and pos >= end:
            return out, pos
        if end is None:
            tag, _, _, vpos = walker.header(pos, limit, True)
            if tag == _ITEM_DELIM:
                return out, vpos
        element, pos = read_element(walker, pos, limit, implicit, encoding, depth)
        if element.tag == 0x00080005 and depth == 0:
            encoding = _charset(element._raw)
        out[element.tag] = element


def _sequence(
    walker: Any, vpos: int, length: int, limit: int, implicit: bool, encoding: str | None, depth: int
) -> tuple[list[LiteDataset], int]:
    if depth > MAX_DEPTH:
        raise walker.error(vpos, f"sequences nested deeper than {MAX_DEPTH} levels")
    items: list[LiteDataset] = []
    if length != _UNDEFINED:
        end = vpos + length
        if end > limit:
            raise walker._past(vpos, f"sequence value (length {length})", end, limit)
        pos = vpos
        while pos < end:
            item, pos = _item(walker, pos, end, implicit, encoding, depth)
            items.append(item)
        return items, pos
    pos = vpos
    while True:
        tag, _, _, ivpos = walker.header(pos, limit, True)
        if tag == _SEQ_DELIM:
            return items, ivpos
        item, pos = _item(walker, pos, limit, implicit, encoding, depth)
        items.append(item)


def _item(
    walker: Any, pos: int, limit: int, implicit: bool, encoding: str | None, depth: int
) -> tuple[LiteDataset, int]:
    tag, _, length, vpos = walker.header(pos, limit, True)
    if tag != _ITEM:
        raise walker.error(pos, f"expected an item tag (FFFE,E000), found ({tag >> 16:04X},{tag & 0xFFFF:04X})")
    if length == _UNDEFINED:
        elements, end = _elements(walker, vpos, None, limit, implicit, encoding, depth)
        return LiteDataset(elements), end
    end = vpos + length
    if end > limit:
        raise walker._past(pos, f"item (length {length})", end, limit)
    elements, end = _elements(walker, vpos, end, end, implicit, encoding, depth)
    return LiteDataset(elements), end
