"""Shared and Per-frame Functional Groups Sequences (rules/functional_groups.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, shared_groups
from pydicom.dataset import Dataset

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "number-of-frames",
        "labelmap-none",
        lambda d: setattr(d, "NumberOfFrames", int(d.NumberOfFrames) + 1),
        "NumberOfFrames",
        says="Per-frame Functional Groups Sequence has",
    ),
    Broken(
        "shared-frame-content",
        "labelmap-none",
        lambda d: setattr(shared_groups(d), "FrameContentSequence", [Dataset()]),
        "FrameContentSequence",
        says="Shared",
    ),
    Broken(
        "two-shared-items",
        "binary-none",
        lambda d: d.SharedFunctionalGroupsSequence.append(Dataset()),
        "SharedFunctionalGroupsSequence",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
