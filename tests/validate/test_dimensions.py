"""Multi-frame Dimension Module and Dimension Index Values (rules/dimensions.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, frame_items

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "dimension-organization",
        "labelmap-none",
        lambda d: delattr(d, "DimensionOrganizationSequence"),
        "DimensionOrganizationSequence",
    ),
    Broken(
        "dimension-index-absent",
        "binary-none",
        lambda d: delattr(d, "DimensionIndexSequence"),
        "DimensionIndexSequence",
    ),
    Broken(
        "dimension-values-length",
        "labelmap-none",
        lambda d: setattr(frame_items(d)[0].FrameContentSequence[0], "DimensionIndexValues", [1, 1]),
        "DimensionIndexValues",
        says="holds 2 values",
    ),
    Broken(
        "dimension-values-absent",
        "binary-none",
        lambda d: delattr(frame_items(d)[4].FrameContentSequence[0], "DimensionIndexValues"),
        "DimensionIndexValues",
        says="frame 5",
    ),
    Broken(
        "dimension-values-duplicate",
        "labelmap-none",
        lambda d: setattr(frame_items(d)[1].FrameContentSequence[0], "DimensionIndexValues", 1),
        "DimensionIndexValues",
        "warning",
    ),
    Broken(
        "labelmap-index-on-segment",
        "labelmap-none",
        lambda d: (
            setattr(d.DimensionIndexSequence[0], "DimensionIndexPointer", 0x0062000B),
            setattr(d.DimensionIndexSequence[0], "FunctionalGroupPointer", 0x0062000A),
        ),
        "DimensionIndexPointer",
        says="in a LABELMAP",
    ),
    Broken(
        "functional-group-pointer",
        "binary-none",
        lambda d: setattr(d.DimensionIndexSequence[1], "FunctionalGroupPointer", 0x00209111),
        "FunctionalGroupPointer",
        says="PlanePositionSequence",
    ),
    Broken(
        "dimension-organization-uid",
        "labelmap-none",
        lambda d: setattr(d.DimensionIndexSequence[0], "DimensionOrganizationUID", "1.2.3"),
        "DimensionOrganizationUID",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
