"""JPEG 2000 Lossless frames through ``pylibjpeg-openjpeg`` (reversible 5-3 wavelet, one layer, no MCT).

BINARY (1-bit) frames are coded as 1-bit greyscale images (precision 1, as highdicom does),
from and to uint8 0/1 arrays.  pylibjpeg-openjpeg always uses 6 resolutions, so frames below
32 pixels in a dimension are encoded by ``imagecodecs`` (same lossless codestream).  Its
encoder crashes (segfault) when called from two threads at once: encoding is always serial.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelmap.dicom.pixels.codecs import has_module
from labelmap.dicom.pixels.native import dtype_for
from labelmap.errors import SegFormatError, UnsupportedError

__all__ = ["DEPENDENCIES", "BITS", "encode", "decoder"]

DEPENDENCIES: tuple[tuple[str, str], ...] = (("openjpeg", "pylibjpeg-openjpeg"),)
BITS = (1, 8, 16)

#: smallest frame dimension pylibjpeg-openjpeg can encode (it always uses 6 resolutions)
_OPENJPEG_MIN_SIDE = 32


def encode(frames: np.ndarray, bits: int, threads: int | None) -> list[bytes]:
    """The JPEG 2000 Lossless codestream (precision ``bits``) of each (F, rows, columns) frame, serially.

    Raises
    ------
    UnsupportedError
        For frames under 32 pixels in a dimension when imagecodecs is not installed.
    """
    import openjpeg

    _, rows, columns = frames.shape
    if min(rows, columns) >= _OPENJPEG_MIN_SIDE:
        return [
            bytes(openjpeg.encode(frame, bits_stored=bits, photometric_interpretation=2, use_mct=False))
            for frame in (np.ascontiguousarray(f.astype(bool) if bits == 1 else f) for f in frames)
        ]
    if not has_module("imagecodecs"):
        raise UnsupportedError(
            f"JPEG 2000 encoding of {rows} x {columns} frames: pylibjpeg-openjpeg needs at least "
            f"{_OPENJPEG_MIN_SIDE} pixels in each dimension; pip install imagecodecs, or choose another compression"
        )
    import imagecodecs

    return [
        bytes(imagecodecs.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True, mct=False, bitspersample=bits))
        for f in map(np.ascontiguousarray, frames)
    ]


def decoder(rows: int, columns: int, bits: int) -> Callable[[bytes], np.ndarray]:
    """A function decoding one JPEG 2000 codestream to a (rows, columns) frame (1-bit: values 0 and 1 only)."""
    import openjpeg

    dtype = dtype_for(bits)

    def dec(data: bytes) -> np.ndarray:
        try:
            out = np.asarray(openjpeg.decode(bytes(data)))
        except Exception as exc:
            raise SegFormatError(f"cannot decode a JPEG 2000 frame ({exc})") from None
        if out.shape != (rows, columns):
            raise SegFormatError(f"a JPEG 2000 frame is {out.shape}, expected {rows} x {columns}")
        if out.dtype.kind == "i" and out.size and out.min() < 0:
            raise SegFormatError("a JPEG 2000 frame holds negative values")
        if bits == 1 and out.size and out.max() > 1:
            raise SegFormatError("a 1-bit JPEG 2000 frame decoded to values other than 0 and 1")
        return out.astype(dtype, copy=False)

    return dec
