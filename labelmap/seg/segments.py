"""Segment Description macro (PS3.3 C.8.20.4) <-> :class:`SegmentDescription`; the background segment."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from labelmap._util.color import check_triplet, cielab_to_rgb, rgb_to_cielab
from labelmap.descriptions import DEFAULT_RGB, Code, SegmentDescription, SeriesAttributes
from labelmap.dicom.dataset import WriteDataset, WriteElement
from labelmap.errors import MetadataError

if TYPE_CHECKING:  # readers are given pydicom items or lite data sets
    from pydicom.dataset import Dataset

    from labelmap.dicom.uid_source import UidSource  # (a writer's: uuid and platform are not a reader's to load)
    from labelmap.dicom.vr import Problem

__all__ = [
    "new_item",
    "segment_to_dataset",
    "segment_from_dataset",
    "background_segment",
    "is_background",
    "segment_problems",
    "series_problems",
    "check_metadata_values",
]

ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")
BACKGROUND_TYPE = Code("125040", "DCM", "Background")
BACKGROUND_CATEGORY = Code("309825002", "SCT", "Spatial and Relational Concept")
_CODE_FIELDS = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")
#: A private block in a Segment Sequence item carrying the names of the 3D Slicer terminology lists
#: the segment's codes come from (DICOM has no attribute for them): creator (0063,0010), then
#: (0063,1001) UT category-and-type context and (0063,1002) UT anatomic context (README, 3D Slicer).
PRIVATE_CREATOR_TAG = 0x00630010
PRIVATE_CREATOR = "LABELMAP SLICER TERMINOLOGY"
_CONTEXT_TAGS = (("terminology_context", 0x00631001), ("anatomic_context", 0x00631002))

# ---------------------------------------------------------------------------
# model <-> DICOM Segment Sequence item


def new_item(**values: Any) -> WriteDataset:
    """A writer's data set (e.g. a sequence item) holding ``values`` by keyword."""
    ds = WriteDataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def _code_item(code: Code) -> WriteDataset:
    """A Code Sequence item; a code value longer than 16 characters goes to Long Code Value and a
    URN / URL to URN Code Value, as PS3.3 Table 8.8-1a asks (Coding Scheme Designator kept)."""
    item = WriteDataset()
    from labelmap.dicom.vr import code_value_keyword  # the VR rules: for writing and checking, not reading

    setattr(item, code_value_keyword(code.value), code.value)
    item.CodingSchemeDesignator, item.CodeMeaning = code.scheme, code.meaning
    return item


# ---------------------------------------------------------------------------
# VR checks of the values a segment and a series description put into the SEG, named by the
# dcmqi JSON key of each field (the writer checks every value again, by DICOM keyword)

#: (JSON key, SegmentDescription field, VR) of the text fields of a segment.
_SEGMENT_TEXT = (
    ("SegmentLabel", "label", "LO"),
    ("SegmentDescription", "description", "ST"),
    ("SegmentAlgorithmName", "algorithm_name", "LO"),
    ("TrackingIdentifier", "tracking_id", "UT"),
    ("TrackingUniqueIdentifier", "tracking_uid", "UI"),
)
#: (JSON key, SegmentDescription field) of the codes of a segment.
_SEGMENT_CODES = (
    ("SegmentedPropertyCategoryCodeSequence", "category"),
    ("SegmentedPropertyTypeCodeSequence", "type"),
    ("SegmentedPropertyTypeModifierCodeSequence", "type_modifier"),
    ("AnatomicRegionSequence", "anatomic_region"),
    ("AnatomicRegionModifierSequence", "anatomic_region_modifier"),
)
#: (JSON key = DICOM keyword, SeriesAttributes field, VR) of the series fields.
_SERIES_TEXT = (
    ("SeriesDescription", "series_description", "LO"),
    ("SeriesNumber", "series_number", "IS"),
    ("InstanceNumber", "instance_number", "IS"),
    ("ContentCreatorName", "content_creator_name", "PN"),
    ("ContentLabel", "content_label", "CS"),
    ("ContentDescription", "content_description", "LO"),
    ("BodyPartExamined", "body_part_examined", "CS"),
    ("ClinicalTrialSeriesID", "clinical_trial_series_id", "LO"),
    ("ClinicalTrialTimePointID", "clinical_trial_time_point_id", "LO"),
    ("ClinicalTrialCoordinatingCenterName", "clinical_trial_coordinating_center_name", "LO"),
)
_FIXES = {"TrackingUniqueIdentifier": "leave it out and a new UID is made, or give a valid UID"}


def _problem(vr: str, value: Any, key: str) -> Problem | None:
    from labelmap.dicom.vr import Problem, check, normalise_cs

    if vr == "CS" and isinstance(value, str) and normalise_cs(value) is not None:
        return None  # written in upper case (documented normalisation)
    found = check(vr, value)
    return found if found is None or key not in _FIXES else Problem(found.what, _FIXES[key])


def segment_problems(seg: SegmentDescription) -> Iterator[tuple[str, Problem]]:
    """The values of ``seg`` that break their VR, as (dcmqi JSON field, problem).

    The field is e.g. ``SegmentLabel`` or ``SegmentedPropertyTypeCodeSequence.CodeMeaning``.  A
    code value longer than 16 characters is no problem (it goes to Long Code Value).
    """
    for key, field, vr in _SEGMENT_TEXT:
        value = getattr(seg, field)
        if key == "SegmentLabel" and not value:  # dcmqi's label: the description, else the type's meaning
            value = seg.display_label
            key = "SegmentLabel (none given: " + ("SegmentDescription" if seg.description else "the type's CodeMeaning")
            key += " stands in)"
        found = _problem(vr, value, key.partition(" ")[0])
        if found is not None:
            yield key, found
    for key, field in _SEGMENT_CODES:
        code = getattr(seg, field)
        found_code = None if code is None else _code_problem(code)
        if found_code is not None:
            yield f"{key}.{found_code[0]}", found_code[1]


@lru_cache(maxsize=1024)
def _code_problem(code: Code) -> tuple[str, Problem] | None:
    """The first part of ``code`` that breaks its VR, or None (codes repeat across segments: cached)."""
    from labelmap.dicom.vr import code_value_keyword

    value_vr = {"CodeValue": "SH", "LongCodeValue": "UC", "URNCodeValue": "UR"}[code_value_keyword(code.value)]
    for part, vr, value in (
        ("CodeValue", value_vr, code.value),
        ("CodingSchemeDesignator", "SH", code.scheme),
        ("CodeMeaning", "LO", code.meaning),
    ):
        found = _problem(vr, value, part)
        if found is not None:
            return part, found
    return None


def series_problems(series: SeriesAttributes) -> Iterator[tuple[str, Problem]]:
    """The series values that break their VR, as (dcmqi JSON key, problem); lower-case Code Strings
    are not problems (the writer upper-cases them)."""
    for key, field, vr in _SERIES_TEXT:
        found = _problem(vr, getattr(series, field), key)
        if found is not None:
            yield key, found


def check_metadata_values(
    series: SeriesAttributes, segments: Sequence[Sequence[SegmentDescription]], name: str
) -> None:
    """Check the values of a parsed dcmqi JSON against their VRs before anything is read or written.

    Parameters
    ----------
    series, segments
        The JSON's series attributes and ``segmentAttributes`` (one inner sequence per list, in
        the JSON's order).
    name
        The JSON's name for the message (``organs.json``).

    Raises
    ------
    MetadataError
        The first value that breaks its VR, naming the JSON field:
        ``organs.json: segmentAttributes[0][2].SegmentLabel: 70 characters, the DICOM limit (LO) is 64: shorten it``.
    """
    for key, found in series_problems(series):
        raise MetadataError(f"{name}: {key}: {found}")
    for i, inner in enumerate(segments):
        for j, seg in enumerate(inner):
            for key, found in segment_problems(seg):
                raise MetadataError(f"{name}: segmentAttributes[{i}][{j}].{key}: {found}")


def segment_to_dataset(
    seg: SegmentDescription, *, number: int, cielab: bool = True, uids: UidSource | None = None
) -> WriteDataset:
    """One Segment Sequence item for ``seg`` as Segment Number ``number`` (a writer's data set;
    ``.to_pydicom()`` gives pydicom's form).

    Modifiers are nested in their parent code items.  ``cielab=False`` leaves
    out RecommendedDisplayCIELabValue (PALETTE COLOR LABELMAP files).  A Tracking ID without a
    Tracking UID gets one from ``uids`` (None: a random one), the same for this Segment Number
    on every call with the same source (every level of a pyramid).
    """
    if not 0 <= int(number) <= 65535:  # 0 only for a LABELMAP background segment
        raise MetadataError(f"segment number must be in 0..65535, got {number}")
    if seg.algorithm_type not in ALGORITHM_TYPES:
        raise MetadataError(
            f"segment {number} ({seg.display_label!r}): SegmentAlgorithmType {seg.algorithm_type!r} "
            "is not AUTOMATIC, SEMIAUTOMATIC or MANUAL"
        )
    if seg.algorithm_type != "MANUAL" and not seg.algorithm_name:
        raise MetadataError(
            f"segment {number} ({seg.display_label!r}): SegmentAlgorithmName is required when "
            f"SegmentAlgorithmType is {seg.algorithm_type}"
        )
    for key, found in segment_problems(seg):
        raise MetadataError(f"{key} of {seg.display_label[:40]!r}: {found}", segment=int(number))
    ds = WriteDataset()
    ds.SegmentNumber = int(number)
    ds.SegmentLabel = seg.display_label
    if seg.description:
        ds.SegmentDescription = seg.description
    ds.SegmentAlgorithmType = seg.algorithm_type
    if seg.algorithm_name:
        ds.SegmentAlgorithmName = seg.algorithm_name
    ds.SegmentedPropertyCategoryCodeSequence = [_code_item(seg.category)]
    type_item = _code_item(seg.type)
    if seg.type_modifier is not None:
        type_item.SegmentedPropertyTypeModifierCodeSequence = [_code_item(seg.type_modifier)]
    ds.SegmentedPropertyTypeCodeSequence = [type_item]
    if seg.anatomic_region is not None:
        region = _code_item(seg.anatomic_region)
        if seg.anatomic_region_modifier is not None:
            region.AnatomicRegionModifierSequence = [_code_item(seg.anatomic_region_modifier)]
        ds.AnatomicRegionSequence = [region]
    if seg.tracking_id or seg.tracking_uid:  # each is Type 1C on the other
        if seg.tracking_uid:
            ds.TrackingUID = seg.tracking_uid
        else:
            if uids is None:
                from labelmap.dicom.uid_source import UidSource

                uids = UidSource()
            ds.TrackingUID = uids.uid("TrackingUID", key=number)
        ds.TrackingID = seg.tracking_id or ds.TrackingUID
    _write_contexts(ds, seg)
    if cielab:
        if seg.cielab is not None:
            lab = check_triplet(seg.cielab, "CIELab colour", 65535)
        else:
            lab = rgb_to_cielab(seg.rgb if seg.rgb is not None else DEFAULT_RGB)
        ds.RecommendedDisplayCIELabValue = list(lab)
    return ds


def _write_contexts(ds: WriteDataset, seg: SegmentDescription) -> None:
    """The Slicer terminology context names, in the private block (printable ASCII names only)."""
    named = [(tag, getattr(seg, attr)) for attr, tag in _CONTEXT_TAGS if getattr(seg, attr)]
    named = [(tag, text) for tag, text in named if text.isascii() and text.isprintable()]
    if named:
        ds._elements[PRIVATE_CREATOR_TAG] = WriteElement(PRIVATE_CREATOR_TAG, "LO", PRIVATE_CREATOR)
        for tag, text in named:
            ds._elements[tag] = WriteElement(tag, "UT", text)


def _read_contexts(item: Any) -> dict[str, str | None]:
    """The Slicer terminology context names of our private block, when the item has it."""

    def text(tag: int) -> str | None:
        value = item.get(tag)
        value = getattr(value, "value", value)  # pydicom gives the element for a tag
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return value.strip(" \x00") or None if isinstance(value, str) else None

    if text(PRIVATE_CREATOR_TAG) != PRIVATE_CREATOR:
        return {}
    return {attr: text(tag) for attr, tag in _CONTEXT_TAGS}


def _code_from(seq_owner: Dataset, keyword: str, number: Any, required: bool) -> Code | None:
    seq = seq_owner.get(keyword)
    if seq is None or len(seq) == 0:
        if required:
            raise MetadataError(
                f"segment {number}: required attribute {keyword} is missing or empty in the Segment Sequence item"
            )
        return None
    item = seq[0]
    values = []
    for f in _CODE_FIELDS:
        v = item.get(f)
        if v is None and f == "CodeValue":
            # Long / URN code values (PS3.3 8.8) stand in for CodeValue.
            v = item.get("LongCodeValue") or item.get("URNCodeValue")
        if v is None or str(v) == "":
            raise MetadataError(f"segment {number}: {keyword} item has no {f}")
        values.append(str(v))
    return Code(values[0], values[1], values[2])


def segment_from_dataset(item: Dataset) -> SegmentDescription:
    """A Segment Sequence item -> SegmentDescription (label_id = number = SegmentNumber).

    Modifiers are read from inside their parent code item, or from the item's
    top level as some old writers put them.
    """
    number = item.get("SegmentNumber")
    if number is None:
        raise MetadataError("a Segment Sequence item has no SegmentNumber")
    number = int(number)
    alg = item.get("SegmentAlgorithmType")
    if not alg:
        raise MetadataError(f"segment {number}: required attribute SegmentAlgorithmType is missing")
    alg = str(alg)
    category = _code_from(item, "SegmentedPropertyCategoryCodeSequence", number, True)
    type_ = _code_from(item, "SegmentedPropertyTypeCodeSequence", number, True)

    def modifier(parent: str, keyword: str) -> Code | None:
        """The modifier inside the parent code item, else at the item's top level (as some old writers put it)."""
        inner = _code_from(item.get(parent)[0], keyword, number, False) if item.get(parent) else None
        return inner if inner is not None else _code_from(item, keyword, number, False)

    type_modifier = modifier("SegmentedPropertyTypeCodeSequence", "SegmentedPropertyTypeModifierCodeSequence")
    region = _code_from(item, "AnatomicRegionSequence", number, False)
    region_modifier = modifier("AnatomicRegionSequence", "AnatomicRegionModifierSequence")

    lab = item.get("RecommendedDisplayCIELabValue")
    cielab = rgb = None
    if lab is not None and len(lab) == 3:
        try:
            cielab = check_triplet([int(v) for v in lab], "CIELab colour", 65535)
        except (TypeError, ValueError) as exc:
            raise MetadataError(f"segment {number}: RecommendedDisplayCIELabValue {exc}") from None
        rgb = cielab_to_rgb(cielab)

    def text(keyword: str) -> str | None:
        v = item.get(keyword)
        return str(v) if v not in (None, "") else None

    tracking_uid = item.get("TrackingUID")
    return SegmentDescription(
        label_id=number,
        category=category,  # type: ignore[arg-type]
        type=type_,  # type: ignore[arg-type]
        algorithm_type=alg,
        number=number,
        label=text("SegmentLabel"),
        description=text("SegmentDescription"),
        algorithm_name=text("SegmentAlgorithmName"),
        type_modifier=type_modifier,
        anatomic_region=region,
        anatomic_region_modifier=region_modifier,
        rgb=rgb,
        cielab=cielab,
        tracking_id=text("TrackingID"),
        tracking_uid=str(tracking_uid) if tracking_uid else None,
        **_read_contexts(item),
    )


# ---------------------------------------------------------------------------
# background


def background_segment() -> SegmentDescription:
    """dcmqi's background segment description (label 0)."""
    return SegmentDescription(
        label_id=0,
        category=BACKGROUND_CATEGORY,
        type=BACKGROUND_TYPE,
        algorithm_type="MANUAL",
        number=0,
        label="Background",
        rgb=(0, 0, 0),
        cielab=(0, 32768, 32768),
    )


def is_background(seg: SegmentDescription) -> bool:
    """True when the segment's type is (DCM, 125040) "Background"."""
    return seg.type.value == BACKGROUND_TYPE.value and seg.type.scheme == BACKGROUND_TYPE.scheme
