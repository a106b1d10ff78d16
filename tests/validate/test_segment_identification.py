"""Segment Identification of BINARY/FRACTIONAL frames (rules/segment_identification.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, frame_items
from pydicom.dataset import Dataset

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "labelmap-segment-id",
        "labelmap-none",
        lambda d: (
            setattr(frame_items(d)[1], "SegmentIdentificationSequence", [Dataset()])
            or setattr(frame_items(d)[1].SegmentIdentificationSequence[0], "ReferencedSegmentNumber", 1)
        ),
        "SegmentIdentificationSequence",
        says="of a LABELMAP",
    ),
    Broken(
        "binary-segment-id-absent",
        "binary-none",
        lambda d: delattr(frame_items(d)[2], "SegmentIdentificationSequence"),
        "ReferencedSegmentNumber",
        says="frame 3",
    ),
    Broken(
        "frame-segment-undescribed",
        "binary-none",
        lambda d: setattr(frame_items(d)[2].SegmentIdentificationSequence[0], "ReferencedSegmentNumber", 7),
        "ReferencedSegmentNumber",
        says="7 (frame 3)",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
