"""Frame codecs of the encapsulated transfer syntaxes labelmap writes, looked up by transfer syntax.

Every syntax labelmap writes is lossless (bit-exact).  ``none`` and ``implicit`` keep native
frames; ``deflate`` deflates the whole data set after the file meta (the writer does it: no
frame codec).  The frames of ``rle``, ``jpegls``, ``j2k`` and (for slides) ``deflate-frame``
are coded one by one by the module :data:`CODECS` maps their UID to (pydicom's shape: the
``codec`` of the syntax's row in :data:`labelmap.dicom.uids.SYNTAX_TABLE`, imported on first
use).  Each codec module declares

* ``DEPENDENCIES``: the (import name, pip package) pairs it needs to encode and decode;
* ``BITS``: the Bits Allocated it codes (so the syntaxes 1-bit frames may use follow from
  the codecs: :func:`syntaxes_for_bits`), at precision = Bits Stored = Bits Allocated;
* ``encode(frames, bits, threads) -> list[bytes]`` and ``decoder(rows, columns, bits)``: a
  thread-safe function from one codestream to one frame;

and imports its package inside those functions, so importing it is cheap.

Threads: none of the codec packages measured releases the GIL while it codes, so a thread
pool only adds overhead: ``threads=None`` codes serially; an explicit ``threads > 1`` uses a
pool (:func:`map_frames`) where the codec is thread-safe.  RLE and Deflated Image Frame
encoding are the exceptions: their kernel / zlib run without the GIL and split the frames
themselves.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import numpy as np

from labelmap._util.resources import check_grid
from labelmap.dicom.pixels.native import dtype_for
from labelmap.dicom.uids import SYNTAX_TABLE, WRITABLE, TransferSyntax, lookup
from labelmap.errors import InputError, MissingDependencyError, SegFormatError, UnsupportedError

__all__ = [
    "CODECS",
    "codec_module",
    "has_module",
    "is_available",
    "check_available",
    "syntaxes_for_bits",
    "map_frames",
    "as_frame",
    "encode_frames",
    "decode_frames",
]

#: Transfer Syntax UID -> the module that codes its frames.
CODECS: dict[str, str] = {ts.uid: f"{__name__}.{ts.codec}" for ts in SYNTAX_TABLE if ts.codec is not None}


def _writable(name_or_uid: str) -> TransferSyntax:
    ts = lookup(str(name_or_uid))
    if ts is None or not ts.writable:
        raise InputError(
            f"unknown transfer syntax {str(name_or_uid)!r}; choose one of: {', '.join(WRITABLE)} (or their UIDs)"
        )
    return ts


def codec_module(ts: TransferSyntax) -> ModuleType:
    """The codec module of a syntax with encapsulated frames.

    Raises
    ------
    InputError
        For a native syntax, or Deflated Explicit VR Little Endian (which deflates the whole data set).
    """
    if ts.codec is None:
        what = "deflates the whole data set" if ts.deflated else "is native"
        raise InputError(f"{ts.title} {what}: it has no frame codec (write native Pixel Data instead)")
    return importlib.import_module(CODECS[ts.uid])


def has_module(name: str) -> bool:
    """Whether the package ``name`` is installed (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def is_available(name_or_uid: str) -> bool:
    """Whether the packages to encode and decode a writable syntax (a name or a UID) are installed.

    Raises
    ------
    InputError
        When labelmap does not write the syntax.
    """
    ts = _writable(name_or_uid)
    return ts.codec is None or all(has_module(module) for module, _ in codec_module(ts).DEPENDENCIES)


def check_available(ts: str, *, purpose: str) -> None:
    """Raise :class:`MissingDependencyError` naming the pip package a syntax's codec needs, if it is missing.

    ``purpose`` starts the message ("writing", "reading").  Syntaxes without a codec here
    (native ones, or e.g. a JPEG baseline SEG from another writer) pass: pydicom reports those.
    """
    syntax = lookup(str(ts))
    if syntax is None or syntax.codec is None:
        return
    for module, package in codec_module(syntax).DEPENDENCIES:
        if not has_module(module):
            raise MissingDependencyError(
                f"{purpose} {syntax.title} needs the package {package!r}: pip install {package}"
            )


def syntaxes_for_bits(bits: Iterable[int], *, slides: bool = False) -> tuple[TransferSyntax, ...]:
    """The writable syntaxes for frames of these Bits Allocated: the native ones and those whose codec takes them.

    ``slides``: include the syntaxes written for slide SEGs only (Deflated Image Frame Compression).
    """
    wanted = set(bits)
    return tuple(
        ts
        for ts in SYNTAX_TABLE
        if ts.writable and (slides or not ts.slides_only) and (ts.native or wanted <= set(codec_module(ts).BITS))
    )


def _codec(ts: TransferSyntax, bits: int, purpose: str) -> Any:
    """The codec module of ``ts`` for frames of ``bits``, after :func:`check_available`."""
    check_available(ts.uid, purpose=purpose)
    module = codec_module(ts)
    if bits not in module.BITS:
        allowed = ", ".join(t.name for t in syntaxes_for_bits((bits,)))
        raise UnsupportedError(f"{bits}-bit frames cannot be coded as {ts.title}; use one of {allowed}")
    return module


def map_frames(fn: Callable[[Any], Any], items: Sequence, threads: int | None) -> list:
    """``[fn(x) for x in items]``, on a thread pool of ``threads`` (None: serially; 0 or less: one per core)."""
    n = 1 if threads is None else int(threads)
    if n <= 0:
        n = os.cpu_count() or 1
    n = min(n, len(items))
    if n <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items))


def as_frame(data: Any, rows: int, columns: int, dtype: np.dtype, what: str) -> np.ndarray:
    """A decoded buffer as one (rows, columns) frame of ``dtype``.

    Raises
    ------
    SegFormatError
        When it holds fewer than rows x columns pixels (``what`` names the codec in the message).
    """
    arr = np.frombuffer(data, dtype=dtype)
    if arr.size < rows * columns:
        raise SegFormatError(f"a {what} frame decoded to {arr.size} pixels, expected {rows} x {columns}")
    return arr[: rows * columns].reshape(rows, columns)


def encode_frames(frames: np.ndarray, ts: str, *, bits_allocated: int, threads: int | None = None) -> list[bytes]:
    """Encode each frame of ``frames`` (F, rows, columns) to one codestream of ``ts``.

    Parameters
    ----------
    frames
        uint8 (``bits_allocated`` 8, or 1 with values 0/1) or uint16 (``bits_allocated`` 16).
    ts
        A frame codec syntax, by name (``rle``, ``jpegls``, ``j2k``, ``deflate-frame``) or UID.
    threads
        None (default) codes serially, since none of the codec packages releases the GIL;
        ``n > 1`` uses a thread pool of ``n`` for thread-safe codecs; ``0`` or less one per
        core.  RLE is coded by labelmap's kernel without the GIL, all frames in one call:
        None lets it use every core for 4 MiB of frames or more (``deflate-frame``: 1 MiB).

    Raises
    ------
    InputError
        For an unknown, native or deflated syntax, or frames of the wrong type.
    UnsupportedError
        When the codec does not take ``bits_allocated``.
    MissingDependencyError
        When the codec's package is not installed.
    """
    syntax = _writable(ts)
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"frames must be (F, rows, columns), got shape {arr.shape}")
    dtype = dtype_for(bits_allocated)
    if arr.dtype != dtype:
        if arr.dtype.kind not in "ub" or arr.dtype.itemsize > dtype.itemsize:
            raise InputError(f"{bits_allocated}-bit frames must be {dtype}, got {arr.dtype}")
        arr = arr.astype(dtype)
    if bits_allocated == 1 and arr.size and arr.max() > 1:
        raise InputError("1-bit BINARY frames must hold only 0 and 1")
    return _codec(syntax, bits_allocated, "writing").encode(arr, bits_allocated, threads)


def decode_frames(
    fragments_per_frame: Sequence[bytes],
    ts: str,
    *,
    rows: int,
    columns: int,
    bits_allocated: int,
    threads: int | None = None,
) -> np.ndarray:
    """Decode one codestream per frame to an (F, rows, columns) uint8 / uint16 array.

    ``bits_allocated`` 1 (BINARY ``j2k``) gives uint8 0/1.  A frame split over several
    fragments must be joined by the caller (``pydicom.encaps.generate_frames`` does).
    ``threads`` as for :func:`encode_frames`.

    Raises
    ------
    SegFormatError
        When a frame is damaged (the message names the frame).
    """
    syntax = _writable(ts)
    dtype = dtype_for(bits_allocated)
    if not len(fragments_per_frame):
        return np.empty((0, rows, columns), dtype=dtype)
    decode_one = _codec(syntax, bits_allocated, "reading").decoder(rows, columns, bits_allocated)

    def decode(i: int) -> np.ndarray:
        try:
            return decode_one(fragments_per_frame[i])
        except SegFormatError as exc:
            raise SegFormatError(f"frame {i + 1}: {exc}") from None

    # the output is allocated once the first frame has shown that rows x columns are real
    # (damaged Rows / Columns must not allocate gigabytes before any frame is decoded)
    check_grid((len(fragments_per_frame), rows, columns), np.dtype(dtype).itemsize, "decoded frames")
    first = decode(0)
    out = np.empty((len(fragments_per_frame), rows, columns), dtype=dtype)
    out[0] = first

    def one(i: int) -> None:
        out[i] = decode(i)

    map_frames(one, range(1, len(fragments_per_frame)), threads)
    return out
