"""Per-frame items read one by one: item counts, Frame Content, derivation codes (rules/per_frame_items.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, code_item, frame_items, kinds_found, set_pixel

from labelmap.validate import DEEP_FRAME_LIMIT, check_seg, validate_seg

BROKEN = [
    Broken(
        "derivation-code",
        "labelmap-none",
        lambda d: setattr(
            frame_items(d)[0].DerivationImageSequence[0],
            "DerivationCodeSequence",
            [code_item("113072", "DCM", "Multiplanar reformatting")],
        ),
        "DerivationCodeSequence",
        says="113072",
    ),
    Broken(
        "purpose-code",
        "binary-none",
        lambda d: setattr(
            frame_items(d)[3].DerivationImageSequence[0].SourceImageSequence[0],
            "PurposeOfReferenceCodeSequence",
            [code_item("121320", "DCM", "Uncompressed predecessor")],
        ),
        "PurposeOfReferenceCodeSequence",
        says="frame 4",
    ),
    Broken(
        "frame-content-absent",
        "labelmap-none",
        lambda d: delattr(frame_items(d)[1], "FrameContentSequence"),
        "FrameContentSequence",
        says="frame 2",
    ),
    Broken(
        "two-positions",
        "labelmap-none",
        lambda d: frame_items(d)[0].PlanePositionSequence.append(frame_items(d)[1].PlanePositionSequence[0]),
        "PlanePositionSequence",
        says="2 items",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)


def test_violations_name_the_frame(broken_file):
    """Path and frame number point at the per-frame item at fault."""
    case = next(c for c in BROKEN if c.id == "frame-content-absent")
    (v,) = [v for v in validate_seg(broken_file(case)) if v.keyword == "FrameContentSequence"]
    assert (v.frame, v.path) == (2, "PerFrameFunctionalGroupsSequence[2].FrameContentSequence")


def test_item_checks_need_deep_on_big_files(broken_file):
    """Per-frame items are read with pydicom up to DEEP_FRAME_LIMIT frames or with deep=True; values always."""
    path = broken_file(next(c for c in BROKEN if c.id == "derivation-code"))
    assert DEEP_FRAME_LIMIT >= 1000
    quick = check_seg(path, deep=False)
    assert not quick.per_frame_items_checked and quick.violations == []
    full = check_seg(path, deep=True)
    assert full.per_frame_items_checked and kinds_found(full.violations) == [("DerivationCodeSequence", "error")]
    pixel_77 = Broken("pixel-77", "labelmap-none", lambda d: set_pixel(d, 1, 77), "SegmentSequence")
    assert kinds_found(validate_seg(broken_file(pixel_77), deep=False)) == [("SegmentSequence", "error")]
