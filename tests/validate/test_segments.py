"""Segment Sequence: Segment Description macro and Segment Numbers (rules/segments.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, code_item, drop_segment, segment_item

from labelmap.validate import validate_seg

BROKEN = [
    Broken("segment-sequence-absent", "labelmap-none", lambda d: delattr(d, "SegmentSequence"), "SegmentSequence"),
    Broken("ppv-without-item", "labelmap-none", lambda d: drop_segment(d, 0), "PixelPaddingValue", "warning"),
    Broken(
        "duplicate-number",
        "labelmap-none",
        lambda d: setattr(segment_item(d, 9), "SegmentNumber", 4),
        "SegmentNumber",
        says="also used by",
    ),
    Broken(
        "binary-numbers-gap",
        "binary-none",
        lambda d: setattr(segment_item(d, 4), "SegmentNumber", 5),
        "SegmentNumber",
        says="expected 1..4",
    ),
    Broken("segment-label", "labelmap-none", lambda d: delattr(segment_item(d, 2), "SegmentLabel"), "SegmentLabel"),
    Broken(
        "algorithm-type",
        "labelmap-none",
        lambda d: setattr(segment_item(d, 2), "SegmentAlgorithmType", "AI"),
        "SegmentAlgorithmType",
    ),
    Broken(
        "algorithm-name",
        "binary-none",
        lambda d: delattr(segment_item(d, 1), "SegmentAlgorithmName"),
        "SegmentAlgorithmName",
        says="AUTOMATIC",
    ),
    Broken(
        "two-categories",
        "labelmap-none",
        lambda d: segment_item(d, 1).SegmentedPropertyCategoryCodeSequence.append(code_item("1", "SCT", "x")),
        "SegmentedPropertyCategoryCodeSequence",
        says="2 items",
    ),
    Broken(
        "code-meaning",
        "labelmap-none",
        lambda d: delattr(segment_item(d, 1).SegmentedPropertyTypeCodeSequence[0], "CodeMeaning"),
        "CodeMeaning",
    ),
    Broken("tracking-uid", "labelmap-none", lambda d: setattr(segment_item(d, 1), "TrackingID", "T1"), "TrackingUID"),
    Broken(
        "cielab-vm",
        "labelmap-none",
        lambda d: setattr(segment_item(d, 1), "RecommendedDisplayCIELabValue", [1, 2]),
        "RecommendedDisplayCIELabValue",
    ),
    Broken(
        "cielab-with-palette",
        "labelmap-palette",
        lambda d: setattr(segment_item(d, 1), "RecommendedDisplayCIELabValue", [1, 2, 3]),
        "RecommendedDisplayCIELabValue",
        says="PALETTE COLOR",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)


def test_violations_name_the_segment(broken_file):
    """Path and segment number point at the item at fault."""
    case = next(c for c in BROKEN if c.id == "algorithm-name")
    (v,) = [v for v in validate_seg(broken_file(case)) if v.keyword == "SegmentAlgorithmName"]
    assert (v.tag, v.path, v.segment) == ("(0062,0009)", "SegmentSequence[1].SegmentAlgorithmName", 1)
    assert v.rule.startswith("PS3.3 C.8.20.2 Segmentation Image Module")
