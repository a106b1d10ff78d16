"""The numpy-free halves of two frame codecs: the checked split of an RLE Lossless frame into its
segments (PS3.5 G.5) and the bounded inflate of a Deflated Image Frame Compression frame (PS3.5 8.2.16).

:mod:`.codecs.rle` and :mod:`.codecs.deflate_frame` decode with them into numpy frames; the plain
LABELMAP read lane (:mod:`labelmap.pipeline.lean_read`) decodes with them into bytes, without numpy.
"""

from __future__ import annotations

import struct
from typing import Any

from labelmap._util.deflate import decompressor
from labelmap.errors import SegFormatError

__all__ = ["rle_segments", "inflate_frame"]


def rle_segments(data: bytes | memoryview, expected: int) -> list[Any]:
    """The ``expected`` segments of an RLE Lossless frame (views into ``data``), after checking its
    64-byte header: the segment count and offsets increasing from 64 within the frame.

    Raises
    ------
    SegFormatError
        A header shorter than 64 bytes, another segment count, or offsets out of order or range.
    """
    if len(data) < 64:
        raise SegFormatError(f"an RLE Lossless frame of {len(data)} bytes is shorter than its 64-byte header")
    header = struct.unpack_from("<16I", data)
    count, offsets = header[0], header[1:]
    if count != expected:
        raise SegFormatError(f"an RLE Lossless frame has {count} segments, expected {expected}")
    bounds = [*offsets[:count], len(data)]
    if bounds[0] != 64 or any(b <= a for a, b in zip(bounds, bounds[1:])):
        raise SegFormatError(
            f"an RLE Lossless frame header has segment offsets {list(offsets[:count])} that are not increasing "
            f"from 64 within its {len(data)} bytes"
        )
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def inflate_frame(data: Any, expected: int) -> bytes:
    """Inflate one frame's raw DEFLATE stream of exactly ``expected`` bytes, never more.

    Raises
    ------
    SegFormatError
        When the stream is damaged, ends early (truncated), inflates to fewer or more than
        ``expected`` bytes, or is followed by anything but NUL padding.
    """
    d, error = decompressor(-15)
    try:
        out = d.decompress(data, expected + 1)  # one byte more than allowed tells a bomb from a fit
    except error as exc:
        raise SegFormatError(f"a Deflated Image Frame Compression frame is damaged ({exc})") from None
    if len(out) > expected:
        raise SegFormatError(
            f"a Deflated Image Frame Compression frame inflates to more than the {expected} bytes "
            "its Rows x Columns hold"
        )
    if not d.eof:
        raise SegFormatError(
            f"a Deflated Image Frame Compression frame of {len(data)} bytes ends before its last deflate block "
            f"(truncated? {len(out)} of {expected} bytes inflated)"
        )
    if len(out) < expected:
        raise SegFormatError(
            f"a Deflated Image Frame Compression frame inflates to {len(out)} bytes, expected {expected}"
        )
    if d.unused_data.strip(b"\0"):
        raise SegFormatError(
            f"a Deflated Image Frame Compression frame has {len(d.unused_data)} bytes after its deflate stream"
        )
    return out
