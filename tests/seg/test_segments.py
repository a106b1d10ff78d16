"""Segment and series values against their VRs (labelmap.seg.segments): JSON field names, code values."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labelmap.errors import MetadataError
from labelmap.model import Code, SegmentDescription, SeriesAttributes
from labelmap.seg.segments import (
    check_metadata_values,
    segment_from_dataset,
    segment_problems,
    segment_to_dataset,
    series_problems,
)

CATEGORY = Code("123037004", "SCT", "Anatomical Structure")
LIVER = Code("10200004", "SCT", "Liver")


def liver(**kw) -> SegmentDescription:
    return SegmentDescription(label_id=1, category=CATEGORY, type=LIVER, **{"label": "Liver", **kw})


@pytest.mark.parametrize(
    ("seg", "field", "says"),
    [
        (liver(label="x" * 70), "SegmentLabel", "70 characters, the DICOM limit (LO) is 64: shorten it"),
        (liver(label="a\\b"), "SegmentLabel", "backslash"),
        (liver(label="a\nb"), "SegmentLabel", "line break"),
        (liver(description="d" * 1025), "SegmentDescription", "limit (ST) is 1024"),
        (liver(algorithm_name="n" * 65), "SegmentAlgorithmName", "limit (LO) is 64"),
        (liver(tracking_uid="not-a-uid"), "TrackingUniqueIdentifier", "leave it out and a new UID is made"),
        (liver(tracking_uid="1.2.03"), "TrackingUniqueIdentifier", "not a UID"),
        (
            replace(liver(), type=Code("10200004", "S" * 17, "Liver")),
            "SegmentedPropertyTypeCodeSequence.CodingSchemeDesignator",
            "limit (SH) is 16",
        ),
        (
            replace(liver(), category=Code("1", "SCT", "m" * 65)),
            "SegmentedPropertyCategoryCodeSequence.CodeMeaning",
            "limit (LO) is 64",
        ),
        (liver(anatomic_region=Code("1\\2", "SCT", "x")), "AnatomicRegionSequence.CodeValue", "backslash"),
        (
            SegmentDescription(label_id=1, category=CATEGORY, type=LIVER, description="a\nb"),
            "SegmentLabel (none given: SegmentDescription stands in)",
            "line break",
        ),
    ],
)
def test_segment_problems_name_the_json_field(seg, field, says):
    found = list(segment_problems(seg))
    assert found and found[0][0] == field and says in str(found[0][1]), found


def test_valid_segments_have_no_problems():
    assert list(segment_problems(liver(description="two\nlines \\ fine in ST", tracking_id="id\n2"))) == []
    # an 18-digit SNOMED CT code and a URN are valid code values (Long / URN Code Value)
    assert list(segment_problems(replace(liver(), type=Code("123456789012345678", "SCT", "Long")))) == []
    assert list(segment_problems(replace(liver(), type=Code("urn:oid:1.2.3", "99X", "URN")))) == []


@pytest.mark.parametrize(
    ("code", "keyword"),
    [
        (Code("10200004", "SCT", "Liver"), "CodeValue"),
        (Code("123456789012345678", "SCT", "Long"), "LongCodeValue"),
        (Code("http://snomed.info/id/10200004", "SCT", "Liver"), "URNCodeValue"),
    ],
)
def test_code_values_go_where_ps33_8_8_says_and_read_back(code, keyword):
    item = segment_to_dataset(replace(liver(), type=code), number=1)
    type_item = item.SegmentedPropertyTypeCodeSequence[0]
    present = [k for k in ("CodeValue", "LongCodeValue", "URNCodeValue") if k in type_item]
    assert present == [keyword]
    assert type_item.CodingSchemeDesignator == code.scheme
    assert segment_from_dataset(item.to_pydicom()).type == code


def test_segment_to_dataset_refuses_a_bad_value_naming_the_segment():
    with pytest.raises(MetadataError) as err:
        segment_to_dataset(liver(label="x" * 65), number=7)
    assert err.value.segment == 7
    assert str(err.value).startswith("segment 7: SegmentLabel of 'xxx")
    assert "65 characters, the DICOM limit (LO) is 64" in str(err.value)


@pytest.mark.parametrize(
    ("series", "key", "says"),
    [
        (SeriesAttributes(series_description="d" * 65), "SeriesDescription", "limit (LO) is 64"),
        (SeriesAttributes(series_number="abc"), "SeriesNumber", "not a whole number"),
        (SeriesAttributes(series_number="4294967296"), "SeriesNumber", "outside the Integer String (IS) range"),
        (SeriesAttributes(instance_number="1234567890123"), "InstanceNumber", "limit (IS) is 12"),
        (SeriesAttributes(content_creator_name="a^b^c^d^e^f"), "ContentCreatorName", "6 name components"),
        (SeriesAttributes(content_creator_name="Doe\\Roe"), "ContentCreatorName", "backslash"),
        (SeriesAttributes(content_creator_name="x" * 65), "ContentCreatorName", "64 per component group"),
        (SeriesAttributes(content_label="SEG-1"), "ContentLabel", "not a Code String"),
        (SeriesAttributes(content_label="A" * 17), "ContentLabel", "limit (CS) is 16"),
        (SeriesAttributes(body_part_examined="abdomen/pelvis"), "BodyPartExamined", "not a Code String"),
        (SeriesAttributes(clinical_trial_series_id="s" * 65), "ClinicalTrialSeriesID", "limit (LO) is 64"),
    ],
)
def test_series_problems(series, key, says):
    found = list(series_problems(series))
    assert found and found[0][0] == key and says in str(found[0][1]), found


def test_lower_case_code_strings_are_no_problem():
    """They are written in upper case (README "Text")."""
    assert list(series_problems(SeriesAttributes(body_part_examined="abdomen", content_label="seg"))) == []


def test_check_metadata_values_message():
    segments = [[liver()], [liver(), liver(label="L" * 70)]]
    with pytest.raises(MetadataError) as err:
        check_metadata_values(SeriesAttributes(), segments, "organs.json")
    assert str(err.value) == (
        "organs.json: segmentAttributes[1][1].SegmentLabel: 70 characters, the DICOM limit (LO) is 64: shorten it"
    )
    with pytest.raises(MetadataError, match=r"^organs.json: SeriesNumber: "):
        check_metadata_values(SeriesAttributes(series_number="x"), segments[:1], "organs.json")
    check_metadata_values(SeriesAttributes(), segments[:1], "organs.json")  # valid: no error
