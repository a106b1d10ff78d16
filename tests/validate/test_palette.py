"""Palette Color Lookup Table and ICC Profile modules (rules/palette.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks, icc_header, lut_data_short, lut_descriptor

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "lut-descriptor-absent",
        "labelmap-palette",
        lambda d: delattr(d, "GreenPaletteColorLookupTableDescriptor"),
        "GreenPaletteColorLookupTableDescriptor",
    ),
    Broken(
        "lut-bits",
        "labelmap-palette",
        lambda d: lut_descriptor(d, bits=12),
        "RedPaletteColorLookupTableDescriptor",
        says="bits per entry is 12",
    ),
    Broken(
        "lut-colours-differ",
        "labelmap-palette",
        lambda d: lut_descriptor(d, red=True, entries=5),
        "RedPaletteColorLookupTableDescriptor",
        says="differ between colours",
    ),
    Broken("lut-data-length", "labelmap-palette", lut_data_short, "RedPaletteColorLookupTableData"),
    Broken("icc-absent", "labelmap-palette", lambda d: delattr(d, "ICCProfile"), "ICCProfile"),
    Broken(
        "icc-not-icc",
        "labelmap-palette",
        lambda d: setattr(d, "ICCProfile", b"\0" * 200),
        "ICCProfile",
        says="not an ICC profile",
    ),
    Broken(
        "icc-output-class",
        "labelmap-palette",
        lambda d: icc_header(d, 12, b"prtr"),
        "ICCProfile",
        says="device class is 'prtr'",
    ),
    Broken(
        "icc-grey",
        "labelmap-palette",
        lambda d: icc_header(d, 16, b"GRAY"),
        "ICCProfile",
        says="colour space is 'GRAY'",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
