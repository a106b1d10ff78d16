"""RLE Lossless (PS3.5 Annex G) frame encoder: checks and splits here, PackBits loop in ``labelmap._core``."""

from __future__ import annotations

import numpy as np

from labelmap import _core
from labelmap._util.threads import parts_for, run_parts
from labelmap.errors import InputError

__all__ = ["rle_capacity", "rle_encode_frames", "rle_decode_planes"]

#: Frames of at least this many bytes in all are encoded on several threads, a share of the
#: frames each (the kernel runs without the GIL; benchmarks/bench_kernels.py RleEncodeFrames).
_RLE_SPLIT_BYTES = 1 << 22


def rle_capacity(rows: int, columns: int, bytes_per_pixel: int) -> int:
    """Largest RLE Lossless codestream of one frame.

    The 64-byte header, then per byte plane literal runs only (``columns +
    ceil(columns / 128)`` bytes a row) and one pad byte.
    """
    row = int(columns) + (int(columns) + 127) // 128
    return 64 + int(bytes_per_pixel) * (int(rows) * row + 1)


def rle_encode_frames(frames: np.ndarray, *, threads: int | None = None) -> list[bytes]:
    """RLE Lossless (transfer syntax 1.2.840.10008.1.2.5) codestream of each frame.

    Each codestream has the 64-byte header and PackBits segments padded to even
    length (PS3.5 G.3-G.5), so its length is even.

    Parameters
    ----------
    frames
        (F, rows, columns) uint8 (one byte segment), bool, or uint16 (two: high bytes,
        then low bytes) in any byte order and layout.
    threads
        Threads for 4 MiB of frames or more (a share of the frames each); None, 0 or less:
        every core.  The output does not depend on it.

    Returns
    -------
    list of bytes
        One codestream per frame.

    Raises
    ------
    TypeError, ValueError
        For another dtype, not 3-D frames, or frames without pixels.
    InputError
        When a frame may not fit the 4 GiB an RLE Lossless frame can hold.
    """
    arr = np.asarray(frames)
    if arr.ndim != 3:
        raise ValueError(f"rle_encode_frames: expected (frames, rows, columns), got shape {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if arr.dtype.kind != "u" or arr.dtype.itemsize not in (1, 2):
        raise TypeError(f"rle_encode_frames: expected uint8 or uint16 frames, got data type {arr.dtype}")
    n_frames, rows, columns = arr.shape
    if n_frames and (rows == 0 or columns == 0):
        raise ValueError(f"rle_encode_frames: frames of {rows} x {columns} pixels hold no pixel")
    if not n_frames:
        return []
    # the kernel takes byte planes from the values: native byte order, C order
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    nplanes = arr.dtype.itemsize
    cap = rle_capacity(rows, columns, nplanes)
    if cap > 0xFFFFFFFE:
        # segment offsets and the fragment length are 32-bit
        raise InputError(
            f"rle_encode_frames: {rows} x {columns} frames of {8 * nplanes} bits can exceed the 4 GiB "
            "an RLE Lossless frame may hold"
        )
    parts = parts_for(threads, arr.nbytes, _RLE_SPLIT_BYTES, n_frames)
    bounds = [n_frames * i // parts for i in range(parts + 1)]
    out = np.empty(n_frames * cap, dtype=np.uint8)
    offsets = [np.empty(b - a + 1, dtype=np.int64) for a, b in zip(bounds, bounds[1:])]

    def run(i: int) -> None:
        a, b = bounds[i], bounds[i + 1]
        _core.rle_encode(arr[a:b], out[a * cap : b * cap], offsets[i])

    run_parts(run, parts, "rle-encode")
    view = memoryview(out.data)
    result: list[bytes] = []
    for a, offs in zip(bounds, offsets):
        starts = (offs + a * cap).tolist()
        result.extend(view[s:e].tobytes() for s, e in zip(starts, starts[1:]))
    return result


def rle_decode_planes(segments: list[bytes], rows: int, columns: int) -> np.ndarray | None:
    """The (rows, columns) frame of an RLE Lossless codestream's segments, decoded without the GIL.

    One segment gives uint8, two give little-endian uint16 (the first holds the high bytes,
    PS3.5 G.2).  Returns None when a segment decodes to more or fewer than ``rows * columns``
    bytes (a damaged frame, for the caller to name).

    Raises
    ------
    ValueError
        For another segment count, or a frame without pixels.
    """
    n = len(segments)
    if n not in (1, 2):
        raise ValueError(f"rle_decode_planes: expected 1 or 2 segments, got {n}")
    npx = int(rows) * int(columns)
    if npx <= 0:
        raise ValueError(f"rle_decode_planes: a frame of {rows} x {columns} pixels holds no pixel")
    out = np.empty(npx * n, dtype=np.uint8)
    for i, segment in enumerate(segments):
        # segment i is byte plane n - 1 - i: most significant first, into a little-endian buffer
        if _core.rle_decode_segment(segment, out, n - 1 - i, n, npx) != npx:
            return None
    return out.view("<u2" if n == 2 else np.uint8).reshape(int(rows), int(columns))
