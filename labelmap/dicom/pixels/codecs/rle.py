"""RLE Lossless (PS3.5 Annex G): encoded by labelmap's kernel, decoded by ``pylibjpeg-rle`` or pydicom.

Encoding (:func:`labelmap.kernels.rle_encode_frames`, Cython, no GIL): one byte segment per
8-bit frame, two for 16-bit (most significant byte first), as Annex G requires; each row
PackBits-coded on its own, runs of 3 or more as replicate runs, a run of 2 inside a literal
run merged into it (G.3.1's note; pydicom and pylibjpeg-rle always replicate it), segments
padded to even length with a zero byte.  All frames are coded in one call, on every core
for 4 MiB or more (see benchmarks/ for timings against pylibjpeg-rle).

Decoding: ``pylibjpeg-rle`` (Rust) when installed, else pydicom's own NumPy decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from labelmap.dicom.pixels.codecs import as_frame, has_module
from labelmap.dicom.pixels.native import dtype_for
from labelmap.errors import SegFormatError

__all__ = ["DEPENDENCIES", "BITS", "encode", "decoder"]

#: nothing beyond NumPy (labelmap encodes, pydicom decodes); pylibjpeg-rle only decodes faster
DEPENDENCIES: tuple[tuple[str, str], ...] = ()
#: 1-bit RLE only exists in recent editions of PS3.5 (8.2.2); DICOM readers (highdicom, dcmqi) refuse it
BITS = (8, 16)

_ONE_SEGMENT = struct.pack("<16I", 1, 64, *[0] * 14)


def encode(frames: np.ndarray, bits: int, threads: int | None) -> list[bytes]:
    """The RLE Lossless codestream of each (F, rows, columns) frame (uint8: one segment, uint16: two)."""
    from labelmap.kernels import rle_encode_frames

    return rle_encode_frames(frames, threads=threads)


def _segments(data: bytes, expected: int) -> list[bytes]:
    """The segments of an RLE Lossless frame (PS3.5 G.5), after checking its 64-byte header."""
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


def _can_hold(segments: list[bytes], npx: int, rows: int, columns: int) -> None:
    """Each 2 bytes of a segment decode to at most 128: a frame too large for its segments is damaged
    (checked before pylibjpeg-rle allocates rows x columns)."""
    for segment in segments:
        if (len(segment) + 1) // 2 * 128 < npx:
            raise SegFormatError(
                f"an RLE Lossless segment of {len(segment)} bytes cannot hold {rows} x {columns} pixels"
            )


def _decode_16(data: bytes, rows: int, columns: int, decode_frame: Callable) -> np.ndarray:
    """A 16-bit frame: segment 1 holds the high bytes, segment 2 the low bytes.

    Each segment is decoded as a one-segment 8-bit frame, the case pylibjpeg-rle bounds-checks
    (as fast as its own 16-bit path).
    """
    npx = rows * columns
    segments = _segments(data, 2)
    _can_hold(segments, npx, rows, columns)
    out = np.empty((npx, 2), dtype=np.uint8)
    for plane, segment in zip((1, 0), segments):
        try:
            decoded = decode_frame(_ONE_SEGMENT + segment, npx, 8, "<")
        except ValueError as exc:
            raise SegFormatError(f"cannot decode an RLE Lossless frame ({exc})") from None
        if len(decoded) != npx:
            raise SegFormatError(
                f"an RLE Lossless segment decoded to {len(decoded)} bytes, expected {rows} x {columns}"
            )
        out[:, plane] = np.frombuffer(decoded, dtype=np.uint8)
    return out.reshape(-1).view("<u2").reshape(rows, columns)


def decoder(rows: int, columns: int, bits: int) -> Callable[[bytes], np.ndarray]:
    """A function decoding one RLE Lossless codestream to a (rows, columns) frame."""
    dtype = dtype_for(bits)
    if has_module("rle"):
        from rle.rle import decode_frame

        npx = rows * columns

        def dec(data: bytes) -> np.ndarray:
            data = bytes(data)
            if bits == 16:
                # pylibjpeg-rle 2.2 panics (a Rust message on stderr, then PanicException)
                # when a segment of a 16-bit frame decodes too long: decode the byte planes
                # one by one instead.
                return _decode_16(data, rows, columns, decode_frame)
            # (pylibjpeg-rle counts the offsets and ignores the segment count)
            _can_hold(_segments(data, 1), npx, rows, columns)
            try:
                out = decode_frame(data, npx, bits, "<")
            except ValueError as exc:
                raise SegFormatError(f"cannot decode an RLE Lossless frame ({exc})") from None
            return as_frame(out, rows, columns, dtype, "RLE Lossless")

        return dec

    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import RLELossless

    opts: dict[str, Any] = dict(
        rows=rows,
        columns=columns,
        samples_per_pixel=1,
        bits_allocated=bits,
        bits_stored=bits,
        pixel_representation=0,
        photometric_interpretation="MONOCHROME2",
        number_of_frames=1,
    )
    rle_decoder = get_decoder(RLELossless)

    def dec_py(data: bytes) -> np.ndarray:
        try:
            arr, _ = rle_decoder.as_array(encapsulate([bytes(data)]), decoding_plugin="pydicom", **opts)
        except Exception as exc:
            raise SegFormatError(f"cannot decode an RLE Lossless frame ({exc})") from None
        return np.asarray(arr, dtype=dtype).reshape(rows, columns)

    return dec_py
