"""Transfer syntax: lossless, known, 1-bit capable (rules/syntax.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, binary_as
from pydicom.uid import JPEGLSLossless, JPEGLSNearLossless, RLELossless

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "lossy-syntax",
        "labelmap-jpegls",
        lambda d: setattr(d.file_meta, "TransferSyntaxUID", JPEGLSNearLossless),
        "TransferSyntaxUID",
        says="lossy",
    ),
    Broken(
        "binary-jpegls",
        "binary-none",
        lambda d: binary_as(d, JPEGLSLossless),
        "TransferSyntaxUID",
        says="no 1-bit form",
    ),
    Broken("binary-rle", "binary-none", lambda d: binary_as(d, RLELossless), "TransferSyntaxUID", "warning"),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
