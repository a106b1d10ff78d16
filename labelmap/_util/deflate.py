"""Fast deflate / gzip for label data: ISA-L (``isal``) when installed, else zlib.

Label maps are long runs of equal bytes; ISA-L's level 1 compresses them about
4x faster than zlib level 1 at a similar size, and inflates 2-3x faster.  Used
for gzip NRRD data and the Deflated Explicit VR Little Endian transfer syntax.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from labelmap._util.threads import parts_for, run_parts

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "decompressor",
    "gzip_compress",
    "gzip_decompress_into",
    "gzip_pieces",
    "GzipFiller",
    "deflate_chunks",
    "raw_compressor",
]

Buffer = bytes | bytearray | memoryview


def _optional(name: str) -> ModuleType | None:
    """The module, or None when it (an optional accelerator) is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - depends on the environment
        return None


_igzip = _optional("isal.igzip")
_izlib = _optional("isal.isal_zlib") if _igzip is not None else None
_igzip = _igzip if _izlib is not None else None
_zng = _optional("zlib_ng.zlib_ng")

# A C gzip reader that inflates straight into a caller's buffer (``readinto``), one GIL
# release per call: zlib-ng's (fastest), else ISA-L's; both are what their GzipFile uses.
_READER = getattr(_zng, "_GzipReader", None) or getattr(_izlib, "_GzipReader", None)


def gzip_compress(data: Buffer, *, fast: bool = True) -> bytes:
    """A gzip member holding ``data`` (fast: ISA-L level 1 / zlib level 1; else zlib level 6).

    The header's time stamp is 0, so the same labels give the same bytes (reproducible outputs).
    """
    if fast and _igzip is not None:
        return _igzip.compress(data, compresslevel=1, mtime=0)
    import gzip

    return gzip.compress(bytes(data), compresslevel=1 if fast else 6, mtime=0)


def decompressor(wbits: int) -> tuple[Any, type[Exception]]:
    """A ``decompressobj(wbits)`` of the fastest inflater installed (zlib-ng, else ISA-L, else zlib) and
    that library's error class (zlib-compatible)."""
    lib: Any = _zng if _zng is not None else (_izlib if _izlib is not None else zlib)
    return lib.decompressobj(wbits), lib.error


def gzip_pieces(data: Buffer, limit: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The inflated content of gzip member(s) in pieces of at most ``chunk`` bytes, up to ``limit`` bytes.

    A stream that ends before its end marker raises the backend's ``error`` (zlib-compatible),
    unless ``limit`` bytes were already produced; trailing garbage after a member is ignored,
    as gzip does.  Fewer than ``limit`` bytes in all is for the caller to report.
    """
    pos = 0
    rest = memoryview(data)
    while pos < limit and len(rest):
        d, error = decompressor(31)
        while pos < limit:
            piece = d.decompress(rest, min(chunk, limit - pos))
            rest = memoryview(d.unconsumed_tail)
            if piece:
                pos += len(piece)
                yield piece
            if d.eof or (not piece and not len(rest)):
                break
        if not d.eof:
            if pos < limit:
                raise error("gzip stream ends before its end marker (truncated?)")
            break
        rest = memoryview(d.unused_data)
        if len(rest) and bytes(rest[:2]) != b"\x1f\x8b":
            break


class GzipFiller:
    """Inflates gzip member(s) of ``data``, at most ``limit`` bytes in all, into buffers the caller gives.

    :meth:`readinto` fills the whole buffer unless the content (or ``limit``) ends first,
    so a loop over a reused scratch buffer sees full pieces.  The content, the errors
    (a stream ending before its end marker raises the backend's zlib-compatible ``error``
    unless ``limit`` bytes were already produced) and the end rules (trailing non-gzip
    data is ignored) are those of :func:`gzip_pieces`: the fast path is a C reader
    inflating straight into the buffer, with no new bytes object per piece; should it
    raise, the rest is read, from where it stood, by :func:`gzip_pieces`, whose verdict
    counts.  (The C reader alone is more lenient in one case: zero padding between two
    members, which it skips.)
    """

    def __init__(self, data: Buffer, limit: int) -> None:
        self._data = data
        self._limit = int(limit)
        self._pos = 0  # content bytes handed out so far
        self._fast = None
        if _READER is not None and self._limit > 0:
            try:  # a private class of the backend: should its signature change, the plain path reads
                self._fast = _READER(data)
            except Exception:
                self._fast = None
        self._slow: Iterator[bytes] | None = None
        self._left = memoryview(b"")  # the part of the last slow piece not handed out yet

    @property
    def position(self) -> int:
        """Content bytes handed out so far."""
        return self._pos

    def readinto(self, buf: Buffer) -> int:
        """Fill ``buf`` (writable bytes-like) from its start; returns the bytes written (0 at the end)."""
        view = memoryview(buf).cast("B")
        want = min(len(view), self._limit - self._pos)
        if want <= 0:
            return 0
        if self._fast is not None:
            got = 0
            try:
                while got < want:
                    n = self._fast.readinto(view[got:want])
                    if not n:
                        break
                    got += n
            except Exception:  # damaged or truncated data, junk after a member: let gzip_pieces decide
                self._fast = None
            else:
                self._pos += got
                return got
        if self._slow is None:
            skip = self._pos
            self._slow = gzip_pieces(self._data, self._limit, max(1 << 20, min(want, 1 << 23)))
            while skip:
                piece = next(self._slow, b"")
                if not piece:
                    break  # cannot happen: the C reader produced these bytes
                if len(piece) > skip:
                    self._left = memoryview(piece)[skip:]
                    break
                skip -= len(piece)
        got = 0
        while got < want:
            if not len(self._left):
                piece = next(self._slow, b"")
                if not piece:
                    break
                self._left = memoryview(piece)
            k = min(len(self._left), want - got)
            view[got : got + k] = self._left[:k]
            self._left = self._left[k:]
            got += k
        self._pos += got
        return got


def gzip_decompress_into(data: Buffer, out: np.ndarray, chunk: int = 1 << 20) -> int:
    """Inflate gzip member(s) into the uint8 array ``out`` until it is full; returns the bytes written.

    Inflating straight into the caller's array (one call of the C reader, no bytes objects)
    is about twice as fast as inflating to one bytes object and copying it, and the result
    is writable.  A truncated stream raises ``zlib.error``-compatible errors of the backend.
    ``chunk``: piece size of the :func:`gzip_pieces` path (used without a C reader, or on errors).
    """
    target = out.data.cast("B")
    if _READER is None:
        pos = 0
        for piece in gzip_pieces(data, len(target), chunk):
            target[pos : pos + len(piece)] = piece
            pos += len(piece)
        return pos
    return GzipFiller(data, len(target)).readinto(target)


def raw_compressor(level: int = 6):
    """A streaming raw-deflate compressor (``compress`` / ``flush``).

    Level 1 looks only for runs (zlib-ng's Z_RLE strategy): label maps are runs of equal
    bytes, so it compresses them smaller than ISA-L's level 1 at nearly its speed
    (benchmarks/bench_kernels.py DeflateChunks).  Levels 2-3 use ISA-L; higher levels
    zlib-ng (zlib's ratio at about twice its speed), else zlib.
    """
    if level <= 1:
        lib = _zng if _zng is not None else zlib
        return lib.compressobj(1, lib.DEFLATED, -15, 8, lib.Z_RLE)
    if _izlib is not None and level <= 3:
        return _izlib.compressobj(level, _izlib.DEFLATED, -15)
    if _zng is not None:
        return _zng.compressobj(level, _zng.DEFLATED, -15)
    return zlib.compressobj(level, zlib.DEFLATED, -15)


#: Chunks of one deflated stream (a full flush between them); two, as this machine's benchmarks chose.
_CHUNKS = 2


def deflate_chunks(
    data: Buffer | Sequence[Buffer], *, level: int = 6, threads: int | None = None, min_chunk: int = 8 << 20
) -> list[bytes]:
    """Raw-deflate ``data`` as one stream, compressing chunks on threads in parallel.

    Chunks other than the last end with a full flush (byte-aligned, no final
    block, no back-references across the boundary), so the pieces concatenate to
    a valid stream.  Pieces are never joined: a 75 MB frame block is compressed
    where it lies.

    Parameters
    ----------
    data
        One buffer, or pieces read as their concatenation.
    level
        Compression level (see :func:`raw_compressor`).
    threads
        1: compress the chunks one after the other; None, 0 or more than 1: at once (the bytes
        are the same either way).
    min_chunk
        Smallest chunk: smaller inputs use one chunk, larger ones at most one per ``min_chunk`` bytes.

    Returns
    -------
    list of bytes
        The compressed chunks, in order.
    """
    if isinstance(data, (list, tuple)):
        pieces = [memoryview(p).cast("B") for p in data]
    else:
        pieces = [memoryview(cast(Buffer, data)).cast("B")]
    starts = [0]
    for p in pieces:
        starts.append(starts[-1] + len(p))
    total = starts[-1]
    # the chunking fixes the bytes, so it must not depend on the machine: at most _CHUNKS chunks
    # whatever ``threads`` is; ``threads`` only decides whether they are compressed at once
    n = max(1, min(_CHUNKS, total // min_chunk))
    bounds = [total * i // n for i in range(n + 1)]
    out: list[bytes] = [b""] * n

    def work(i: int) -> None:
        c = raw_compressor(level)
        lo, hi = bounds[i], bounds[i + 1]
        chunk = []
        for p, start in zip(pieces, starts):
            a, b = max(lo, start), min(hi, start + len(p))
            if a < b:
                chunk.append(c.compress(p[a - start : b - start]))
        chunk.append(c.flush() if i == n - 1 else c.flush(zlib.Z_FULL_FLUSH))  # 3 in every backend
        out[i] = b"".join(chunk)

    if parts_for(threads, total, min_chunk, n) > 1:
        run_parts(work, n, "deflate")
    else:
        for i in range(n):
            work(i)
    return out
