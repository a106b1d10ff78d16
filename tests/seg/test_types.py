"""Segmentation Types (labelmap.seg.types): the facts table and the transfer syntaxes each may use."""

from __future__ import annotations

import pytest

from labelmap.dicom.uids import WRITABLE
from labelmap.seg.types import (
    LABEL_MAP_SEGMENTATION_STORAGE,
    SEG_TYPES,
    SEGMENTATION_STORAGE,
    SegmentationType,
    allowed_syntaxes,
    spec_for,
)


def _names(seg_type: str) -> tuple[str, ...]:
    return tuple(ts.name for ts in allowed_syntaxes(spec_for(seg_type)))


def test_allowed_syntaxes_follow_from_bits_and_codecs():
    assert _names("LABELMAP") == WRITABLE == _names("fractional")
    assert _names("BINARY") == ("none", "implicit", "deflate", "j2k")
    with pytest.raises(ValueError, match="unknown Segmentation Type"):
        spec_for("SURFACE")


def test_spec_table():
    assert spec_for("binary") is SEG_TYPES[SegmentationType.BINARY] is spec_for(SegmentationType.BINARY)
    assert spec_for("BINARY").one_bit and not spec_for("FRACTIONAL").one_bit
    assert spec_for("LABELMAP").sop_class == LABEL_MAP_SEGMENTATION_STORAGE
    assert spec_for("FRACTIONAL").sop_class == SEGMENTATION_STORAGE == spec_for("BINARY").sop_class
    assert spec_for("LABELMAP").sop_class_name == "Label Map Segmentation Storage"
