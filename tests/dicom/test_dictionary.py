"""labelmap.dicom.dictionary: the one table of attributes and encoding facts, checked against
pydicom's data dictionary, and the keyword access both data set classes share."""

from __future__ import annotations

import pytest
from pydicom.datadict import dictionary_VR, keyword_dict

from labelmap.dicom.dictionary import (
    CHARSET_TEXT_VRS,
    KEYWORD_OF,
    KEYWORDS,
    LONG_VRS,
    NUMBER_CODES,
    TAG_VR,
    TEXT_VRS,
    KeywordAccess,
    describe_tag,
    tag_of,
    tag_str,
)


def test_keywords_match_the_dicom_dictionary():
    for keyword, (tag, vr) in KEYWORDS.items():
        assert keyword_dict[keyword] == tag, keyword
        assert vr == dictionary_VR(tag).split(" or ")[0], keyword


def test_reverse_tables_cover_every_keyword():
    assert len(TAG_VR) == len(KEYWORD_OF) == len(KEYWORDS)  # no two keywords share a tag
    assert KEYWORD_OF[0x00280010] == "Rows" and TAG_VR[0x00280010] == "US"


def test_vr_sets_follow_ps3_5():
    assert CHARSET_TEXT_VRS < TEXT_VRS
    assert {b"OB", b"OW", b"SQ", b"UN", b"UT"} <= LONG_VRS and not {b"US", b"CS", b"DS"} & LONG_VRS
    assert NUMBER_CODES["US"] == "H" and NUMBER_CODES["FD"] == "d"


def test_tag_names():
    assert tag_str(0x7FE00010) == "(7FE0,0010)"
    assert describe_tag(0x00620004) == "SegmentNumber (0062,0004)"
    assert describe_tag(0x00091001) == "(0009,1001)"  # private: no keyword


def test_tag_of_refuses_keywords_outside_the_table():
    assert tag_of("Columns") == 0x00280011
    assert tag_of(0x00091001) == 0x00091001  # a tag passes through
    with pytest.raises(LookupError, match="not in labelmap.dicom.dictionary.KEYWORDS"):
        tag_of("PatientComments")


class _Element:
    def __init__(self, value):
        self.value = value


class _Dataset(KeywordAccess[_Element]):
    __slots__ = ()

    def __init__(self, elements):
        self._elements = elements


def test_keyword_access_reads_like_pydicom():
    ds = _Dataset({0x00280011: _Element(7), 0x00280010: _Element(5)})
    assert ds.Rows == 5 and ds["Columns"].value == 7 and ds[0x00280010].value == 5
    assert "Rows" in ds and "BitsAllocated" not in ds
    assert ds.get("BitsAllocated", 8) == 8 and ds.get("Rows") == 5
    assert [e.value for e in ds] == [5, 7]  # in tag order
    assert len(ds) == 2 and repr(ds) == "_Dataset(2 elements)"
    with pytest.raises(AttributeError, match="no BitsAllocated"):
        _ = ds.BitsAllocated
    with pytest.raises(AttributeError):
        _ = ds.lowercase_name  # not a keyword: plain attribute lookup fails
