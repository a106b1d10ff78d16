"""Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, PS3.5 8.2.16 / A.4.13): raw DEFLATE per frame.

Each frame is compressed on its own as a raw DEFLATE stream (RFC 1951: no zlib or gzip
header), one fragment per frame, an odd length padded with one NUL byte (a DEFLATE stream
ends at its final block, so a reader ignores the pad).  Frames of 8 bits are their bytes,
16 bits little-endian words, 1 bit the frame's pixels packed LSB first and padded to a whole
byte (each frame is coded separately, so it starts on a byte).

Compression: ISA-L (``isal``) when installed, else zlib-ng, else zlib; decompression:
zlib-ng, else ISA-L, else zlib.  All release the GIL, so frames are coded on threads.
Decoding is bounded: a frame never inflates past the bytes its Rows x Columns need, so a
damaged or hostile fragment is an error, not a memory bomb.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from types import ModuleType

import numpy as np

from labelmap._util.threads import parts_for, run_parts
from labelmap.dicom.pixels.frame_streams import inflate_frame
from labelmap.dicom.pixels.native import dtype_for

__all__ = [
    "DEPENDENCIES",
    "BITS",
    "LEVEL",
    "encode",
    "decoder",
    "frame_bytes",
    "raw_deflate",
    "deflate_frame",
    "inflate_frame",
]

#: nothing beyond the standard library (zlib); ``isal`` and ``zlib-ng`` only make it faster
DEPENDENCIES: tuple[tuple[str, str], ...] = ()
BITS = (1, 8, 16)
#: compression level: ISA-L's 1 (its levels are 0-3), zlib-ng's / zlib's 1
LEVEL = 1

#: frames of at least this many bytes in all are compressed on several threads
_SPLIT_BYTES = 1 << 20


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - depends on the environment
        return None


_isal = _optional("isal.isal_zlib")
_zng = _optional("zlib_ng.zlib_ng")


def raw_deflate(data, level: int = LEVEL) -> bytes:
    """``data`` as one raw DEFLATE stream (RFC 1951, no header), by the fastest library installed."""
    if _isal is not None:
        return _isal.compress(data, min(level, 3), wbits=-15)
    if _zng is not None:
        return _zng.compress(data, level, wbits=-15)
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def deflate_frame(data, level: int = LEVEL) -> bytes:
    """One frame's bytes as a raw DEFLATE stream padded to even length with a NUL byte."""
    out = raw_deflate(data, level)
    return out + b"\0" if len(out) % 2 else out


def frame_bytes(rows: int, columns: int, bits: int) -> int:
    """Bytes of one uncompressed frame: 1 bit packed to whole bytes, 8 or 16 bits a pixel."""
    npx = int(rows) * int(columns)
    return (npx + 7) // 8 if bits == 1 else npx * dtype_for(bits).itemsize


def encode(frames: np.ndarray, bits: int, threads: int | None) -> list[bytes]:
    """The raw DEFLATE stream of each (F, rows, columns) frame, on threads for 1 MiB of frames or more.

    ``frames``: uint8 (8 bits, or 1 bit with values 0/1) or uint16 (16 bits); ``threads``
    None, 0 or less: every core.
    """
    n = len(frames)
    if bits == 1:
        data = np.packbits(frames.reshape(n, -1), axis=1, bitorder="little")
    else:
        data = np.ascontiguousarray(frames, dtype=dtype_for(bits)).reshape(n, -1)
    out: list[bytes] = [b""] * n
    parts = parts_for(threads, data.nbytes, _SPLIT_BYTES, n)
    bounds = [n * i // parts for i in range(parts + 1)]

    def work(i: int) -> None:
        for f in range(bounds[i], bounds[i + 1]):
            out[f] = deflate_frame(data[f])

    run_parts(work, parts, "deflate-frame")
    return out


def decoder(rows: int, columns: int, bits: int) -> Callable[[bytes], np.ndarray]:
    """A function inflating one frame's fragment to a (rows, columns) frame (1 bit: uint8 0/1)."""
    expected = frame_bytes(rows, columns, bits)
    dtype = dtype_for(bits)
    npx = rows * columns

    def dec(data: bytes) -> np.ndarray:
        raw = np.frombuffer(inflate_frame(data, expected), dtype=np.uint8)
        if bits == 1:
            return np.unpackbits(raw, count=npx, bitorder="little").reshape(rows, columns)
        return raw.view(dtype).reshape(rows, columns)

    return dec
