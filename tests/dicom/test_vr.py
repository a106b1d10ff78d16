"""The VR rules of PS3.5 6.2 (labelmap.dicom.vr): lengths, repertoires, formats, multiplicity."""

from __future__ import annotations

import pytest

from labelmap.dicom.vr import VRS, check, code_value_keyword, is_urn, normalise_cs

VALID = [
    ("LO", "x" * 64),
    ("LO", "Liver (left lobe) ü 肝臓"),
    ("LO", "  padded  "),
    ("SH", "1234567890123456"),
    ("SH", "肝" * 16),  # 16 characters, 48 UTF-8 bytes: the limit counts characters
    ("CS", "ABDOMEN"),
    ("CS", "HEAD_NECK 2"),
    ("CS", ["DERIVED", "PRIMARY"]),
    ("ST", "two\r\nlines\tand a \\ backslash"),
    ("LT", "x" * 10240),
    ("UT", "tracking\nid"),
    ("PN", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    ("PN", "Family^Given^Middle^Prefix^Suffix"),
    ("IS", "300"),
    ("IS", " -2147483648"),
    ("IS", 2147483647),
    ("DS", "-1.5e-3"),
    ("DS", ["0.7", "0.9"]),
    ("DA", "20240229"),
    ("TM", "235959.123456"),
    ("TM", "12"),
    ("DT", "20240101120000.5+0100"),
    ("UI", "1.2.840.10008.5.1.4.1.1.66.7"),
    ("UI", "2.25.0"),
    ("UC", "123456789012345678"),
    ("UR", "http://snomed.info/id/123456789012345678"),
    ("AS", "045Y"),
    ("LO", ""),
    ("LO", None),
]


@pytest.mark.parametrize(("vr", "value"), VALID)
def test_valid_values(vr, value):
    vm = (1, None) if isinstance(value, list) else (1, 1)
    assert check(vr, value, vm=vm) is None


INVALID = [
    ("LO", "x" * 70, "70 characters, the DICOM limit (LO) is 64: shorten it"),
    ("SH", "12345678901234567", "17 characters, the DICOM limit (SH) is 16"),
    ("ST", "x" * 1025, "1025 characters, the DICOM limit (ST) is 1024"),
    ("LT", "x" * 10241, "limit (LT) is 10240"),
    ("LO", "liver\\spleen", "backslash"),
    ("LO", "liver\nspleen", "holds a line break (LF)"),
    ("LO", "tab\there", "holds a tab"),
    ("SH", "x\x07", "U+0007"),
    ("PN", "a^b^c^d^e^f", "6 name components"),
    ("PN", "a=b=c=d", "4 component groups"),
    ("PN", "x" * 65, "65 characters, the DICOM limit (PN) is 64 per component group"),
    ("PN", "Smith\\Jones", "backslash"),
    ("CS", "abdomen", "lower-case"),
    ("CS", "ABDOMEN-PELVIS", "is not a Code String"),
    ("CS", "A" * 17, "17 characters (bytes), the DICOM limit (CS) is 16"),
    ("CS", "ÄBDOMEN", "ASCII characters only"),
    ("IS", "abc", "not a whole number"),
    ("IS", "99999999999", "outside the Integer String (IS) range"),
    ("IS", "1234567890123", "13 characters (bytes), the DICOM limit (IS) is 12"),
    ("IS", "1.5", "not a whole number"),
    ("DS", "12345678901234567", "limit (DS) is 16"),
    ("DS", "nan", "not a decimal number"),
    ("DA", "2024-01-01", "limit (DA) is 8"),
    ("DA", "20240230", "not a calendar date"),
    ("TM", "246000", "not a time"),
    ("UI", "1.2.03.4", "not a UID"),
    ("UI", "abc", "not a UID"),
    ("UI", "1.2.3.", "not a UID"),
    ("UI", "1." + "2" * 63, "65 characters (bytes), the DICOM limit (UI) is 64"),
    ("UR", "urn:a b", "not a URI"),
    ("AE", "   ", "only spaces"),
]


@pytest.mark.parametrize(("vr", "value", "says"), INVALID)
def test_invalid_values(vr, value, says):
    problem = check(vr, value)
    assert problem is not None and says in str(problem), problem


def test_multiplicity():
    assert "at most 2" in str(check("DS", ["1", "2", "3"], vm=(2, 2)))
    assert "at least 2" in str(check("CS", "DERIVED", vm=(2, None)))
    assert check("CS", "DERIVED\\PRIMARY", vm=(2, None)) is None
    assert "holds one value" in str(check("LO", "a\\b"))
    assert check("LO", "a\\b", vm=(1, None)) is None
    assert check("LO", "a\\b", vm=None) is None  # multiplicity unknown: each value is checked
    assert "backslash" in str(check("LO", ["a", "b\\c"], vm=(1, None)))  # a backslash inside one of several values
    assert check("ST", "a\\b") is None  # ST holds one value: a backslash is text


def test_table_covers_the_text_vrs():
    from labelmap.dicom.dictionary import TEXT_VRS

    assert set(VRS) == set(TEXT_VRS) | {"DS", "IS"}
    assert {vr for vr, spec in VRS.items() if spec.charset} == {"LO", "LT", "PN", "SH", "ST", "UC", "UT"}


def test_cs_normalisation_only_changes_case():
    assert normalise_cs("abdomen") == "ABDOMEN"
    assert normalise_cs("Head_Neck") == "HEAD_NECK"
    assert normalise_cs("ABDOMEN") is None  # valid already
    assert normalise_cs("abdomen/pelvis") is None  # not only the case: refused
    assert normalise_cs("a" * 17) is None
    assert normalise_cs("straße") is None  # upper-cases to STRASSE: a different value


@pytest.mark.parametrize(
    ("value", "keyword"),
    [
        ("85756007", "CodeValue"),
        ("1234567890123456", "CodeValue"),
        ("123456789012345678", "LongCodeValue"),  # an 18-digit SNOMED CT identifier
        ("urn:oid:1.2.3", "URNCodeValue"),
        ("http://snomed.info/id/1", "URNCodeValue"),
        ("https://example.org/x", "URNCodeValue"),
        ("T-D0050", "CodeValue"),
    ],
)
def test_code_value_keyword(value, keyword):
    assert code_value_keyword(value) == keyword
    assert is_urn(value) is (keyword == "URNCodeValue")


def test_unpaired_surrogate_is_no_character():
    """A JSON string "\\ud800" decodes to a lone surrogate, which no character set can encode."""
    assert "unpaired surrogate" in str(check("LO", "x\ud800"))
    assert "unpaired surrogate" in str(check("UT", "\udfff"))
