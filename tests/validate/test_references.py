"""Derivation Image, Common Instance Reference, Frame of Reference conditions (rules/references.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, no_derivation

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "common-instance-reference",
        "labelmap-none",
        lambda d: delattr(d, "ReferencedSeriesSequence"),
        "ReferencedSeriesSequence",
    ),
    Broken(
        "unlisted-source",
        "binary-none",
        lambda d: d.ReferencedSeriesSequence[0].ReferencedInstanceSequence.pop(0),
        "ReferencedInstanceSequence",
        "warning",
    ),
    Broken(
        "frame-of-reference",
        "labelmap-none",
        lambda d: (no_derivation(d), delattr(d, "FrameOfReferenceUID")),
        "FrameOfReferenceUID",
        says="no frame has a Derivation Image",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
