"""Image Pixel attributes, Segments Overlap, Pixel Padding Value, fractional attributes (rules/image_pixel.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks

from labelmap.validate import validate_seg

BROKEN = [
    Broken("bits-allocated", "labelmap-none", lambda d: setattr(d, "BitsAllocated", 12), "BitsAllocated"),
    Broken(
        "binary-8-bit",
        "binary-none",
        lambda d: (setattr(d, "BitsAllocated", 8), setattr(d, "BitsStored", 8), setattr(d, "HighBit", 7)),
        "BitsAllocated",
        says="expected 1",
    ),
    Broken("bits-stored", "labelmap-none", lambda d: setattr(d, "BitsStored", 7), "BitsStored"),
    Broken("high-bit", "labelmap-16bit", lambda d: setattr(d, "HighBit", 7), "HighBit", says="expected 15"),
    Broken("samples-per-pixel", "labelmap-none", lambda d: setattr(d, "SamplesPerPixel", 3), "SamplesPerPixel"),
    Broken(
        "monochrome1",
        "labelmap-none",
        lambda d: setattr(d, "PhotometricInterpretation", "MONOCHROME1"),
        "PhotometricInterpretation",
    ),
    Broken(
        "palette-binary",
        "binary-none",
        lambda d: setattr(d, "PhotometricInterpretation", "PALETTE COLOR"),
        "PhotometricInterpretation",
        says="for BINARY",
    ),
    Broken(
        "pixel-representation", "labelmap-none", lambda d: setattr(d, "PixelRepresentation", 1), "PixelRepresentation"
    ),
    Broken(
        "lossy-flag-bad", "labelmap-none", lambda d: setattr(d, "LossyImageCompression", "02"), "LossyImageCompression"
    ),
    Broken(
        "lossy-flag-01",
        "binary-none",
        lambda d: setattr(d, "LossyImageCompression", "01"),
        "LossyImageCompression",
        "warning",
    ),
    Broken("rows", "labelmap-none", lambda d: delattr(d, "Rows"), "Rows"),
    Broken(
        "labelmap-overlap-yes",
        "labelmap-none",
        lambda d: setattr(d, "SegmentsOverlap", "YES"),
        "SegmentsOverlap",
        says="in a LABELMAP",
    ),
    Broken("overlap-value", "binary-none", lambda d: setattr(d, "SegmentsOverlap", "MAYBE"), "SegmentsOverlap"),
    Broken(
        "ppv-range", "labelmap-none", lambda d: setattr(d, "PixelPaddingValue", 300), "PixelPaddingValue", says="8-bit"
    ),
    Broken(
        "ppv-in-binary",
        "binary-none",
        lambda d: d.add_new("PixelPaddingValue", "US", 0),
        "PixelPaddingValue",
        "warning",
    ),
    Broken(
        "fractional-type-absent",
        "fractional",
        lambda d: delattr(d, "SegmentationFractionalType"),
        "SegmentationFractionalType",
    ),
    Broken(
        "fractional-type-value",
        "fractional",
        lambda d: setattr(d, "SegmentationFractionalType", "CHANCE"),
        "SegmentationFractionalType",
    ),
    Broken(
        "max-fractional-absent", "fractional", lambda d: delattr(d, "MaximumFractionalValue"), "MaximumFractionalValue"
    ),
    Broken(
        "fractional-type-in-labelmap",
        "labelmap-none",
        lambda d: setattr(d, "SegmentationFractionalType", "PROBABILITY"),
        "SegmentationFractionalType",
        "warning",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
