"""RLE Lossless (PS3.5 Annex G): encoded and decoded by labelmap's kernels.

Encoding (:func:`labelmap.kernels.rle_encode_frames`, Cython, no GIL): one byte segment per
8-bit frame, two for 16-bit (most significant byte first), as Annex G requires; each row
PackBits-coded on its own, runs of 3 or more as replicate runs, a run of 2 inside a literal
run merged into it (G.3.1's note; pydicom and pylibjpeg-rle always replicate it), segments
padded to even length with a zero byte.  All frames are coded in one call, on every core
for 4 MiB or more (see benchmarks/ for timings against pylibjpeg-rle).

Decoding: labelmap's PackBits kernel (Cython, no GIL: a slide's tile row decodes on every
thread), bounded by the frame size; pylibjpeg-rle is not needed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelmap.dicom.pixels.frame_streams import rle_segments
from labelmap.errors import SegFormatError

__all__ = ["DEPENDENCIES", "BITS", "encode", "decoder"]

#: nothing beyond NumPy (labelmap encodes, pydicom decodes); pylibjpeg-rle only decodes faster
DEPENDENCIES: tuple[tuple[str, str], ...] = ()
#: 1-bit RLE only exists in recent editions of PS3.5 (8.2.2); DICOM readers (highdicom, dcmqi) refuse it
BITS = (8, 16)


def encode(frames: np.ndarray, bits: int, threads: int | None) -> list[bytes]:
    """The RLE Lossless codestream of each (F, rows, columns) frame (uint8: one segment, uint16: two)."""
    from labelmap.kernels import rle_encode_frames

    return rle_encode_frames(frames, threads=threads)


def decoder(rows: int, columns: int, bits: int) -> Callable[[bytes], np.ndarray]:
    """A function decoding one RLE Lossless codestream to a (rows, columns) frame.

    labelmap's own PackBits kernel decodes (no GIL, so frames decode in parallel on threads);
    a run passing the frame's end, or segments too short for it, is a damaged frame.
    """
    from labelmap.kernels import rle_decode_planes

    nseg = bits // 8

    def dec(data: bytes) -> np.ndarray:
        view = memoryview(data).cast("B")
        frame = rle_decode_planes(rle_segments(view, nseg), rows, columns)
        if frame is None:
            raise SegFormatError(
                f"an RLE Lossless frame does not decode to exactly {rows} x {columns} pixels (damaged frame)"
            )
        return frame

    return dec
