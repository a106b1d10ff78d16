"""Native (uncompressed) Pixel Data as frames: the sample types of each Bits Allocated, 1-bit streams unpacked."""

from __future__ import annotations

import numpy as np

from labelmap.errors import SegFormatError, UnsupportedError

__all__ = ["dtype_for", "native_frames"]


def dtype_for(bits_allocated: int) -> np.dtype:
    """The NumPy type of one pixel of a frame: uint8 for 1 (unpacked 0/1) and 8 bits, little-endian uint16 for 16.

    Raises
    ------
    UnsupportedError
        For any other Bits Allocated.
    """
    if bits_allocated in (1, 8):
        return np.dtype(np.uint8)
    if bits_allocated == 16:
        return np.dtype("<u2")
    raise UnsupportedError(f"Bits Allocated {bits_allocated} is not supported (1, 8 or 16)")


def native_frames(raw: np.ndarray, n: int, rows: int, columns: int, bits: int) -> np.ndarray:
    """Native Pixel Data bytes (uint8) as (n, rows, columns) frames, as the frame codecs take them.

    1-bit data (LSB first, continuous across frames) is unpacked to one 0/1 byte per pixel;
    8- and 16-bit data is a view of ``raw``.

    Raises
    ------
    SegFormatError
        When ``raw`` is shorter than the frames.
    """
    npx = n * rows * columns
    dtype = dtype_for(bits)
    need = (npx + 7) // 8 if bits == 1 else npx * dtype.itemsize
    if raw.size < need:
        raise SegFormatError(f"Pixel Data holds {raw.size} bytes, {n} {bits}-bit frames need {need}")
    if bits == 1:
        return np.unpackbits(raw[:need], bitorder="little", count=npx).reshape(n, rows, columns)
    return raw[:need].view(dtype).reshape(n, rows, columns)
