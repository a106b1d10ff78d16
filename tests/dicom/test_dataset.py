"""labelmap.dicom.dataset: the writers' data set (keyword access, raw copies, pydicom form)."""

from __future__ import annotations

import re

import pydicom
import pytest

from labelmap.dicom.dataset import WriteDataset, copy_attribute
from labelmap.dicom.dictionary import KEYWORDS
from labelmap.dicom.read import LiteDataset, LiteElement
from labelmap.dicom.uid_source import UidSource


def test_keyword_attributes_follow_the_tag_table():
    ds = WriteDataset()
    ds.Rows = 21
    ds.ImageType = ["DERIVED", "PRIMARY"]
    item = WriteDataset()
    item.CodeValue = "1"
    ds.SegmentedPropertyCategoryCodeSequence = (item,)  # any iterable becomes a list
    assert ds.Rows == 21 and ds.get("Columns", 7) == 7 and "Rows" in ds and 0x00280010 in ds
    assert ds["Rows"].tag == KEYWORDS["Rows"][0] and ds["Rows"].VR == "US"
    assert ds.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "1"
    assert [e.tag for e in ds] == sorted(e.tag for e in ds) == ds.keys()
    del ds.Rows
    assert "Rows" not in ds and len(ds) == 2
    with pytest.raises(AttributeError):
        _ = ds.Columns
    with pytest.raises(LookupError, match="NotAKeyword"):
        ds.NotAKeyword = 1


def test_raw_copies_keep_the_source_bytes_and_value():
    source = LiteDataset(
        {
            0x00100010: LiteElement(0x00100010, "PN", b"Doe^Jane ", "latin-1"),
            0x00101030: LiteElement(0x00101030, "DS", b"70.50 ", "latin-1"),
        }
    )
    ds = WriteDataset()
    assert copy_attribute(ds, source, "PatientName") and copy_attribute(ds, source, "PatientWeight")
    assert not copy_attribute(ds, source, "PatientID")
    assert ds["PatientWeight"].raw == b"70.50 " and ds.PatientWeight == 70.5
    back = ds.to_pydicom()
    assert str(back.PatientName) == "Doe^Jane" and float(back.PatientWeight) == 70.5
    pyd = pydicom.Dataset()
    pyd.PatientID = "P1"
    assert copy_attribute(ds, pyd, "PatientID") and ds["PatientID"].raw is None and ds.PatientID == "P1"


def test_to_pydicom_keeps_every_element():
    ds = WriteDataset()
    ds.SOPInstanceUID = UidSource().uid("SOPInstanceUID")
    ds.DimensionIndexPointer = 0x00200032
    ds.RecommendedDisplayCIELabValue = [1, 2, 3]
    ds.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    out = ds.to_pydicom()
    assert out.SOPInstanceUID == ds.SOPInstanceUID
    assert out.DimensionIndexPointer == 0x00200032
    assert list(out.RecommendedDisplayCIELabValue) == [1, 2, 3]
    assert out["PixelData"].is_undefined_length and out["PixelData"].VR == "OB"


def test_new_uids_are_valid_and_distinct():
    source = UidSource()
    uids = {source.uid("SOPInstanceUID") for _ in range(100)}
    assert len(uids) == 100
    for uid in uids:
        assert len(uid) <= 64 and re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", uid)
