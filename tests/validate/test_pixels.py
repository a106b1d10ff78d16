"""Pixel Data size and items, and the decoded frames (rules/pixels.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import (
    Broken,
    assert_breaks,
    damage_first_fragment,
    drop_segment,
    extra_fragment,
    frame_items,
    lut_descriptor,
    pad_each_frame,
    set_pixel,
)
from pydicom.uid import JPEGLSNearLossless

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "pixel-data-short",
        "labelmap-none",
        lambda d: setattr(d, "PixelData", d.PixelData[:-20]),
        "PixelData",
        says="need",
    ),
    Broken(
        "pixel-data-long",
        "labelmap-none",
        lambda d: setattr(d, "PixelData", d.PixelData + b"\0" * 100),
        "PixelData",
        "warning",
    ),
    Broken("pixel-data-absent", "binary-none", lambda d: delattr(d, "PixelData"), "PixelData", says="absent"),
    Broken("binary-frames-padded", "binary-overlap", pad_each_frame, "PixelData", says="padded to a byte boundary"),
    Broken("binary-pixel-data-short", "binary-none", lambda d: setattr(d, "PixelData", d.PixelData[:-40]), "PixelData"),
    Broken(
        "no-decoder",
        "labelmap-jpegls",
        lambda d: setattr(d.file_meta, "TransferSyntaxUID", JPEGLSNearLossless),
        "PixelData",
        "warning",
        says="no decoder",
    ),
    Broken("rle-fragments", "labelmap-rle", extra_fragment, "PixelData", says="RLE frames"),
    Broken("bad-codestream", "labelmap-jpegls", damage_first_fragment, "PixelData", says="cannot be decoded"),
    Broken(
        "pixel-value-undescribed",
        "labelmap-none",
        lambda d: drop_segment(d, 4),
        "SegmentSequence",
        says="pixel value(s) 4",
    ),
    Broken(
        "background-undescribed",
        "labelmap-none",
        lambda d: drop_segment(d, 0),
        "SegmentSequence",
        says="the Pixel Padding Value",
    ),
    Broken("pixel-77", "labelmap-none", lambda d: set_pixel(d, 1, 77), "SegmentSequence", says="pixel value(s) 77"),
    Broken(
        "lut-too-small",
        "labelmap-palette",
        lambda d: lut_descriptor(d, entries=5),
        "RedPaletteColorLookupTableDescriptor",
        "warning",
        says="pixel value(s) 9",
    ),
    Broken(
        "two-frames-one-position",
        "labelmap-none",
        lambda d: setattr(
            frame_items(d)[1].PlanePositionSequence[0],
            "ImagePositionPatient",
            frame_items(d)[0].PlanePositionSequence[0].ImagePositionPatient,
        ),
        "ImagePositionPatient",
        "warning",
        says="lie at one position",
    ),
    Broken(
        "max-fractional-exceeded",
        "fractional",
        lambda d: setattr(d, "MaximumFractionalValue", 100),
        "MaximumFractionalValue",
        says="hold values up to",
    ),
    Broken(
        "binary-overlap-no",
        "binary-overlap",
        lambda d: setattr(d, "SegmentsOverlap", "NO"),
        "SegmentsOverlap",
        says="segments overlap: 1 and 3 (20 pixels), 2 and 3 (2 pixels)",
    ),
    Broken(
        "binary-overlap-yes",
        "binary-none",
        lambda d: setattr(d, "SegmentsOverlap", "YES"),
        "SegmentsOverlap",
        "warning",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
