"""The VR rule (rules/vr.py): every text value against PS3.5 6.2, in files written by another tool (pydicom)."""

from __future__ import annotations

import warnings

import pydicom
import pytest
from _validate import Broken, assert_breaks, segment_item, show
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from labelmap.validate import validate_seg


def raw(ds, keyword_tag: int, vr: str, value: bytes) -> None:
    """Put ``value`` into ``ds`` as it is (pydicom would refuse to convert it)."""
    ds[keyword_tag] = RawDataElement(Tag(keyword_tag), vr, len(value), value, 0, False, True)


def type_code(ds, number: int = 1):
    return segment_item(ds, number).SegmentedPropertyTypeCodeSequence[0]


BROKEN = [
    Broken(
        "long-lo",
        "labelmap-none",
        lambda d: setattr(d, "SeriesDescription", "x" * 70),
        "SeriesDescription",
        says="70 characters, the DICOM limit (LO) is 64",
    ),
    Broken(
        "long-label",
        "binary-none",
        lambda d: setattr(segment_item(d, 1), "SegmentLabel", "L" * 65),
        "SegmentLabel",
        says="65 characters",
    ),
    Broken(
        "lower-case-cs",
        "labelmap-none",
        lambda d: setattr(d, "BodyPartExamined", "abdomen"),
        "BodyPartExamined",
        says="lower-case",
    ),
    Broken(
        "bad-tracking-uid",
        "labelmap-none",
        lambda d: (setattr(segment_item(d, 1), "TrackingID", "t1"), setattr(segment_item(d, 1), "TrackingUID", "t-1")),
        "TrackingUID",
        says="not a UID",
    ),
    Broken(
        "bad-referenced-uid",
        "labelmap-none",
        lambda d: setattr(
            d.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0], "ReferencedSOPInstanceUID", "1.2.03"
        ),
        "ReferencedSOPInstanceUID",
        says="not a UID",
    ),
    Broken(
        "code-value-17",
        "labelmap-none",
        lambda d: setattr(type_code(d), "CodeValue", "12345678901234567"),
        "CodeValue",
        says="17 characters, the DICOM limit (SH) is 16",
    ),
    Broken(
        "designator-17",
        "fractional",
        lambda d: setattr(type_code(d), "CodingSchemeDesignator", "S" * 17),
        "CodingSchemeDesignator",
        says="limit (SH) is 16",
    ),
    Broken(
        "backslash-label",
        "labelmap-none",
        lambda d: setattr(segment_item(d, 1), "SegmentLabel", "liver\\spleen"),
        "SegmentLabel",
        says="backslash",
    ),
    Broken(
        "newline-label",
        "labelmap-none",
        lambda d: setattr(segment_item(d, 1), "SegmentLabel", "liver\nleft"),
        "SegmentLabel",
        says="line break",
    ),
    Broken(
        "bad-is",
        "labelmap-none",
        lambda d: raw(d, 0x00200011, "IS", b"abc "),
        "SeriesNumber",
        says="is not a whole number",
    ),
    Broken(
        "big-is",
        "labelmap-none",
        lambda d: raw(d, 0x00200013, "IS", b"99999999999 "),
        "InstanceNumber",
        says="outside the Integer String (IS) range",
    ),
    Broken(
        "pn-components",
        "labelmap-none",
        lambda d: setattr(d, "ContentCreatorName", "a^b^c^d^e^f"),
        "ContentCreatorName",
        says="6 name components",
    ),
    Broken(
        "bad-date",
        "labelmap-none",
        lambda d: setattr(d, "StudyDate", "2024-01-01"),
        "StudyDate",
        says="limit (DA) is 8",
    ),
    Broken(
        "too-many-values",
        "labelmap-none",
        lambda d: setattr(d, "PatientID", ["A", "B"]),
        "PatientID",
        says="holds one value",
    ),
    Broken(
        "non-ascii-without-charset",
        "labelmap-none",
        lambda d: (delattr(d, "SpecificCharacterSet"), setattr(segment_item(d, 1), "SegmentLabel", "Läsion")),
        "SegmentLabel",
        says="no Specific Character Set",
    ),
]


@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_vr_violations_are_errors(broken_file, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values it is asked to write
        path = broken_file(case)
    found = validate_seg(path)
    assert_breaks(found, case)
    hit = next(v for v in found if v.keyword == case.keyword and case.says in v.message)
    assert hit.rule.startswith("PS3.5 6."), hit
    assert hit.tag is not None


def test_every_kind_we_write_has_no_vr_violation(made):
    for kind in ("labelmap-none", "labelmap-deflate", "labelmap-palette", "binary-none", "fractional", "bin2label"):
        found = [v for v in validate_seg(made(kind)) if v.rule.startswith("PS3.5 6.")]
        assert found == [], show(found)


def test_per_frame_items_are_checked_when_deep(made, tmp_path):
    import pydicom

    ds = pydicom.dcmread(made("labelmap-none"))
    item = ds.PerFrameFunctionalGroupsSequence[1].DerivationImageSequence[0].SourceImageSequence[0]
    item.ReferencedSOPInstanceUID = "1.2.3.abc"
    path = tmp_path / "frame.dcm"
    ds.save_as(path)
    found = [v for v in validate_seg(path, deep=True) if v.keyword == "ReferencedSOPInstanceUID" and v.frame == 2]
    assert found and "not a UID" in found[0].message, show(validate_seg(path, deep=True))
    assert found[0].path.startswith("PerFrameFunctionalGroupsSequence[2].DerivationImageSequence[1].")


CODE_MACRO = [
    Broken(
        "short-long-code",
        "labelmap-none",
        lambda d: (delattr(type_code(d), "CodeValue"), setattr(type_code(d), "LongCodeValue", "10200004")),
        "LongCodeValue",
        says="16 characters or fewer",
    ),
    Broken(
        "two-code-values",
        "labelmap-none",
        lambda d: setattr(type_code(d), "URNCodeValue", "urn:oid:1.2"),
        "URNCodeValue",
        says="is present with CodeValue",
    ),
]


@pytest.mark.parametrize("case", CODE_MACRO, ids=[c.id for c in CODE_MACRO])
def test_code_value_placement(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)


def test_empty_element_of_an_unknown_vr_does_not_stop_the_rule(made, tmp_path):
    """A damaged VR ('LK') on an empty value: pydicom cannot convert it; the rule goes on (found by random damage)."""
    ds = pydicom.dcmread(made("labelmap-rle"))
    ds.PositionReferenceIndicator = ""
    path = tmp_path / "lk.dcm"
    ds.save_as(path)
    data = bytearray(path.read_bytes())
    at = data.find(b"\x20\x00\x40\x10LO\x00\x00")
    assert at > 0
    data[at + 4 : at + 6] = b"LK"
    path.write_bytes(bytes(data))
    found = validate_seg(path)
    assert not any("could not finish" in v.message for v in found), [show(v) for v in found]
