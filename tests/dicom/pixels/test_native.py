"""Native Pixel Data as frames (labelmap.dicom.pixels.native), 1-bit streams unpacked for the codecs."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.encaps import generate_frames

from labelmap.dicom.pixels.codecs import decode_frames, encode_frames
from labelmap.dicom.pixels.encaps import encapsulate_frames
from labelmap.dicom.pixels.native import dtype_for, native_frames
from labelmap.errors import SegFormatError, UnsupportedError


def test_packed_1bit_pixel_data_round_trips_through_j2k():
    """Native 1-bit Pixel Data (continuous across frames) -> frames -> JPEG 2000 -> encapsulated -> back."""
    pytest.importorskip("openjpeg")
    frames = np.random.default_rng(9).integers(0, 1, (4, 40, 33), endpoint=True, dtype=np.uint8)
    packed = np.packbits(frames.ravel(), bitorder="little")
    unpacked = native_frames(packed, 4, 40, 33, 1)
    np.testing.assert_array_equal(unpacked, frames)
    pd, _, _ = encapsulate_frames(encode_frames(unpacked, "j2k", bits_allocated=1))
    back = decode_frames(list(generate_frames(pd, number_of_frames=4)), "j2k", rows=40, columns=33, bits_allocated=1)
    np.testing.assert_array_equal(back, frames)
    with pytest.raises(UnsupportedError, match="1-bit frames cannot be coded as RLE Lossless; use one of none"):
        encode_frames(native_frames(np.array([0x0F, 0], np.uint8), 1, 2, 2, 1), "rle", bits_allocated=1)
    with pytest.raises(SegFormatError, match="4 1-bit frames need 660"):
        native_frames(packed[:-1], 4, 40, 33, 1)
    np.testing.assert_array_equal(native_frames(frames.view(np.uint8).ravel(), 4, 40, 33, 8), frames)


def test_dtype_for():
    assert dtype_for(1) == dtype_for(8) == np.uint8 and dtype_for(16) == np.dtype("<u2")
    with pytest.raises(UnsupportedError, match="Bits Allocated 32 is not supported"):
        dtype_for(32)
    with pytest.raises(SegFormatError, match="2 16-bit frames need 16"):
        native_frames(np.zeros(15, np.uint8), 2, 2, 2, 16)
