"""Unit tests of labelmap.seg.pixels: the Pixel Data of a SEG, checked against its frame count and bit depth."""

from __future__ import annotations

import pytest

from labelmap.errors import SegFormatError
from labelmap.seg.decode import decode_labelmap


def test_truncated_pixel_data(seg_case):
    ds, *_ = seg_case
    ds.PixelData = ds.PixelData[:-20]
    with pytest.raises(SegFormatError, match=r"Pixel Data holds \d+ bytes .* needs 720"):
        decode_labelmap(ds)


def test_bad_bits_allocated(seg_case):
    ds, *_ = seg_case
    ds.BitsAllocated = 12
    with pytest.raises(SegFormatError, match="Bits Allocated 12"):
        decode_labelmap(ds)
