"""Plane Position, Plane Orientation and Pixel Measures (rules/geometry.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, frame_items, no_derivation, shared_groups

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "orientation",
        "labelmap-none",
        lambda d: setattr(shared_groups(d).PlaneOrientationSequence[0], "ImageOrientationPatient", [1, 0, 0, 1, 0, 0]),
        "ImageOrientationPatient",
        says="orthogonal",
    ),
    Broken(
        "orientation-absent-derived",
        "labelmap-none",
        lambda d: delattr(shared_groups(d), "PlaneOrientationSequence"),
        "ImageOrientationPatient",
        "warning",
    ),
    Broken(
        "orientation-absent",
        "labelmap-none",
        lambda d: (no_derivation(d), delattr(shared_groups(d), "PlaneOrientationSequence")),
        "ImageOrientationPatient",
        says="neither per-frame nor shared",
    ),
    Broken(
        "position-absent",
        "binary-none",
        lambda d: delattr(frame_items(d)[1], "PlanePositionSequence"),
        "ImagePositionPatient",
        "warning",
        says="frame 2",
    ),
    Broken(
        "pixel-spacing",
        "labelmap-none",
        lambda d: setattr(shared_groups(d).PixelMeasuresSequence[0], "PixelSpacing", [0.9, -0.7]),
        "PixelSpacing",
    ),
    Broken(
        "macro-shared-and-per-frame",
        "labelmap-none",
        lambda d: setattr(frame_items(d)[0], "PixelMeasuresSequence", shared_groups(d).PixelMeasuresSequence),
        "PixelMeasuresSequence",
        says="both",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
