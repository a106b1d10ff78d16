"""JPEG-LS Lossless (NEAR = 0) frames through ``pyjpegls`` (CharLS); ``imagecodecs`` codes the tiniest frames."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelmap.dicom.pixels.codecs import as_frame, has_module, map_frames
from labelmap.dicom.pixels.native import dtype_for
from labelmap.errors import SegFormatError, UnsupportedError

__all__ = ["DEPENDENCIES", "BITS", "encode", "decoder"]

DEPENDENCIES: tuple[tuple[str, str], ...] = (("jpeg_ls", "pyjpegls"),)
#: JPEG-LS samples have 2 to 16 bits: no 1-bit form
BITS = (8, 16)


def encode(frames: np.ndarray, bits: int, threads: int | None) -> list[bytes]:
    """The JPEG-LS Lossless codestream (precision ``bits``) of each (F, rows, columns) frame."""
    import jpeg_ls

    _, rows, columns = frames.shape
    dtype = dtype_for(bits)

    def enc(frame: np.ndarray) -> bytes:
        frame = np.ascontiguousarray(frame)
        # encode_buffer with an explicit precision: encode_array derives it from the
        # frame's maximum and fails on all-zero frames.
        try:
            return bytes(jpeg_ls.encode_buffer(frame.tobytes(), rows, columns, 1, bits, lossy_error=0))
        except RuntimeError as exc:
            # pyjpegls sizes its output buffer from the pixel count: frames of up to ~130 pixels
            # (plus the codestream header) do not fit.  imagecodecs' CharLS sizes it properly and
            # writes the same lossless codestream (precision from the dtype: 8 or 16 bits).
            if "too small" not in str(exc):
                raise
            if not has_module("imagecodecs"):
                raise UnsupportedError(
                    f"JPEG-LS encoding of {rows} x {columns} frames: pyjpegls cannot code frames this "
                    "small; pip install imagecodecs, or choose another compression"
                ) from None
            import imagecodecs

            return bytes(imagecodecs.jpegls_encode(np.ascontiguousarray(frame, dtype=dtype), level=0))

    return map_frames(enc, list(frames), threads)


def decoder(rows: int, columns: int, bits: int) -> Callable[[bytes], np.ndarray]:
    """A function decoding one JPEG-LS codestream to a (rows, columns) frame; near-lossless ones are refused."""
    import jpeg_ls

    dtype = dtype_for(bits)

    def dec(data: bytes) -> np.ndarray:
        try:
            out, info = jpeg_ls.decode_buffer(bytes(data))
        except Exception as exc:
            raise SegFormatError(f"cannot decode a JPEG-LS frame ({exc})") from None
        if (info["height"], info["width"], info["components"]) != (rows, columns, 1):
            raise SegFormatError(
                f"a JPEG-LS frame is {info['height']} x {info['width']} x {info['components']}, "
                f"expected {rows} x {columns} x 1"
            )
        if info.get("allowed_lossy_error", 0):
            raise SegFormatError("a frame of a JPEG-LS Lossless SEG is near-lossless coded")
        src_dtype = np.dtype(np.uint8) if info["bits_per_sample"] <= 8 else np.dtype("<u2")
        return as_frame(out, rows, columns, src_dtype, "JPEG-LS Lossless Image Compression").astype(dtype, copy=False)

    return dec
