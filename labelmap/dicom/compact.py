"""The top level of a data set read in bounded pieces, large values left where they are.

Two cases need this instead of the plain map of :mod:`labelmap.dicom.bulk`:

* a Deflated Explicit VR Little Endian data set may hold far more than its file suggests
  (6 GiB of zeros deflate to 6 MB), so it is never inflated in one call;
* a very large file (a private blob of gigabytes) may not even be mappable under an
  address-space limit.

The top-level elements are read piece by piece into an anonymous map that grows as
needed: a large value that is not a sequence (see :func:`skippable`) is skipped (inflated
and dropped, or seeked over), never kept; the Pixel Data must fit the Rows x Columns x
Number of Frames x Bits Allocated declared before it and the machine's memory (a native
value of a file is not copied at all: its file offset is returned); everything else
together may take at most :data:`KEEP_LIMIT` bytes.  What is kept is then walked as usual.
"""

from __future__ import annotations

import mmap
import os
import struct
import types
import zlib
from dataclasses import dataclass

from labelmap._util.resources import check_memory, format_bytes
from labelmap.dicom.dictionary import LONG_VRS, PER_FRAME_GROUPS, PIXEL_DATA, TAG_VR, UNDEFINED_LENGTH
from labelmap.dicom.walk import Buffer
from labelmap.errors import DicomFormatError, ResourceError

__all__ = ["COMPACT_FROM", "KEEP_LIMIT", "SKIP_FROM", "Compacted", "compact_file", "inflate_data_set", "skippable"]

_impl: types.ModuleType
try:  # ISA-L inflates 2-3x faster than zlib
    from isal import isal_zlib as _impl
except ImportError:  # pragma: no cover
    _impl = zlib

#: A top-level value that is not a sequence, Pixel Data or the per-frame groups, and is at
#: least this long, is skipped: nothing the readers use is that large.
SKIP_FROM = 8 << 20
#: At most this many bytes other than Pixel Data are kept.
KEEP_LIMIT = 256 << 20
#: Files from this size on are read by :func:`compact_file` instead of being mapped whole.
COMPACT_FROM = 1 << 30
_PIECE = 1 << 20
_FEED = 1 << 18
_HEAD = struct.Struct("<HH2sH")
_U32 = struct.Struct("<I").unpack_from
_U16 = struct.Struct("<H").unpack_from
# Image Pixel attributes that bound the Pixel Data length: (tag, size of a binary value or 0 for IS)
_GRID_TAGS = {0x00280002: 2, 0x00280008: 0, 0x00280010: 2, 0x00280011: 2, 0x00280100: 2}


def skippable(tag: int, vr: bytes | None, length: int) -> bool:
    """True when the top-level element is a large value nobody reads (skip it, never copy it)."""
    if length == UNDEFINED_LENGTH or length < SKIP_FROM or tag in (PIXEL_DATA, PER_FRAME_GROUPS):
        return False
    if vr is None:  # Implicit VR: the dictionary says whether it is a sequence
        return TAG_VR.get(tag) != "SQ"
    return vr != b"SQ"


@dataclass(frozen=True, eq=False)
class Compacted:
    """The kept bytes of a data set, and where a native Pixel Data value left in the file is.

    ``pixel``: (offset in ``buffer`` of the Pixel Data element header, whose value is not in
    ``buffer``, file offset of that value), or None when the value is in ``buffer`` or absent.
    """

    buffer: Buffer
    pixel: tuple[int, int] | None = None
    file_size: int = 0


class _Output:
    """An anonymous map holding the kept bytes; grows by doubling (pages untouched cost nothing)."""

    def __init__(self, name: str) -> None:
        self.name = name
        # private: a shared anonymous map is backed by a shmem file that resizing does not grow
        self.map = mmap.mmap(-1, 1 << 22, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.size = 0

    def reserve(self, n: int) -> None:
        if n > len(self.map):
            new = max(n, 2 * len(self.map))
            check_memory(
                new - len(self.map), f"reading the data set beyond {format_bytes(len(self.map))}", path=self.name
            )
            self.map.resize(new)

    def append(self, piece: bytes) -> None:
        self.reserve(self.size + len(piece))
        self.map[self.size : self.size + len(piece)] = piece
        self.size += len(piece)

    def finish(self) -> Buffer:
        if self.size == 0:
            self.map.close()
            return b""
        self.map.resize(self.size)
        return self.map


class _Source:
    """Where the bytes come from: :meth:`piece` gives the next ones, :meth:`skip` drops some."""

    ended = False

    def piece(self, limit: int) -> bytes:
        raise NotImplementedError

    def skip(self, n: int) -> None:
        while n > 0 and not self.ended:
            n -= len(self.piece(min(n, 4 << 20)))


class _Inflater(_Source):
    """A raw deflate stream, fed in pieces of at most :data:`_FEED` bytes (sliced from the map as
    bytes, so no view of the file outlives the call), which also bounds the copy of the
    unconsumed input that the decompressor makes on every call."""

    def __init__(self, data: Buffer, start: int, name: str) -> None:
        self.z = _impl.decompressobj(-15)
        self.data, self.next, self.tail = data, start, b""
        self.name = name

    def piece(self, limit: int) -> bytes:
        while True:
            if not self.tail and self.next < len(self.data):
                self.tail = self.data[self.next : self.next + _FEED]
                self.next += len(self.tail)
            try:
                piece = self.z.decompress(self.tail, limit)
            except _impl.error as exc:
                raise DicomFormatError(f"deflated data set cannot be inflated ({exc})", path=self.name) from None
            self.tail = self.z.unconsumed_tail
            if self.z.eof:
                self.ended = True
                return piece
            if not piece and not self.tail and self.next >= len(self.data):
                raise DicomFormatError("deflated data set is truncated (no end of the deflate stream)", path=self.name)
            if piece:
                return piece


class _File(_Source):
    """A file read with ``pread`` from ``start``; skipping seeks."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        self.fd, self.pos, self.size = fd, start, size
        self.ended = start >= size

    def piece(self, limit: int) -> bytes:
        data = os.pread(self.fd, min(limit, 8 << 20, self.size - self.pos), self.pos)
        self.pos += len(data)
        self.ended = not data or self.pos >= self.size
        return data

    def skip(self, n: int) -> None:
        self.pos = min(self.size, self.pos + n)
        self.ended = self.pos >= self.size


class _Reader:
    """The kept output and its source; :meth:`fill` reads until the output holds enough."""

    def __init__(self, source: _Source, name: str) -> None:
        self.source, self.name, self.out = source, name, _Output(name)

    def fill(self, n: int, limit: int) -> None:
        """Read until the output holds ``n`` bytes (or the source ends); never past ``limit`` bytes."""
        out = self.out
        while out.size < n and not self.source.ended:
            if out.size >= limit:
                raise ResourceError(
                    f"data set holds more than {format_bytes(limit)} besides its Pixel Data "
                    "(a deflate bomb, or elements that never end?)",
                    path=self.name,
                )
            out.append(self.source.piece(min(max(n - out.size, _PIECE), limit - out.size, 64 << 20)))

    def fill_all(self, limit: int) -> None:
        while not self.source.ended:
            self.fill(self.out.size + (8 << 20), limit)


def inflate_data_set(data: Buffer, start: int, name: str) -> Buffer:
    """The inflated data set of a deflated file, large non-sequence values left out.

    Parameters
    ----------
    data, start
        The file's bytes, and the offset where the raw-deflated data set starts (after the
        File Meta Information).
    name
        The file, for errors.

    Returns
    -------
    mmap.mmap or bytes
        The kept elements, byte for byte as inflated (offsets in errors count these bytes).

    Raises
    ------
    DicomFormatError
        A damaged or truncated stream, more than :data:`KEEP_LIMIT` bytes besides Pixel Data,
        or a Pixel Data value far longer than its declared frame grid.
    ResourceError
        A Pixel Data value larger than the memory available.
    """
    return _compact(_Reader(_Inflater(data, start, name), name), False).buffer


def compact_file(fd: int, start: int, size: int, name: str, implicit: bool) -> Compacted:
    """The data set of a large file from ``start``, large non-sequence values and native Pixel Data left out.

    Raises
    ------
    DicomFormatError, ResourceError
        As :func:`inflate_data_set`.
    """
    compacted = _compact(_Reader(_File(fd, start, size), name), implicit)
    return Compacted(compacted.buffer, compacted.pixel, size)


def _compact(reader: _Reader, implicit: bool) -> Compacted:
    out, name = reader.out, reader.name
    in_file = reader.source if isinstance(reader.source, _File) else None
    buf = out.map
    pos = 0
    pixel = 0  # bytes of Pixel Data kept
    left: tuple[int, int] | None = None
    grid: dict[int, int | None] = {}
    while True:
        reader.fill(pos + 12, pixel + KEEP_LIMIT)
        if out.size < pos + 8:
            break  # the end (or a truncated header, which the walker reports)
        group, elem, vr, short = _HEAD.unpack_from(buf, pos)
        tag = group << 16 | elem
        vr_b: bytes | None = vr
        if tag == 0 or (not implicit and group != 0xFFFE and not (vr.isalpha() and vr.isupper())):
            return Compacted(out.finish(), left)  # zeros or junk, not an element: the walker reports it
        if implicit or group == 0xFFFE:
            vr_b, length, vpos = None, _U32(buf, pos + 4)[0], pos + 8
        elif vr in LONG_VRS:
            if out.size < pos + 12:
                break
            length, vpos = _U32(buf, pos + 8)[0], pos + 12
        else:
            length, vpos = short, pos + 8
        if group == 0xFFFE or length == UNDEFINED_LENGTH:
            # the end of a sequence of undefined length is found by walking it: read the rest
            reader.fill_all(pixel + KEEP_LIMIT + _pixel_bound(grid)[0] + 1)
            break
        end = vpos + length
        have = out.size
        if skippable(tag, vr_b, length) or (tag == PIXEL_DATA and in_file is not None):
            if tag == PIXEL_DATA and in_file is not None:  # keep the header, leave the value in the file
                left = (pos, in_file.pos - (have - vpos))
                pos = vpos
            out.size = pos
            if have > end:  # the next elements were read with it: keep them
                buf.move(pos, end, have - end)
                out.size = pos + have - end
            else:
                reader.source.skip(end - have)
            continue
        if tag == PIXEL_DATA:
            bound, what = _pixel_bound(grid)
            if what and length > bound + SKIP_FROM:  # (a small excess is for the SEG reader to explain)
                raise DicomFormatError(
                    f"Pixel Data (length {length}) is longer than {what} ({bound} bytes)",
                    path=name,
                    tag=PIXEL_DATA,
                    offset=pos,
                )
            check_memory(length, f"Pixel Data of {length} bytes", path=name)
            pixel += length
            out.reserve(end)
        reader.fill(end, pixel + KEEP_LIMIT)
        if out.size < end:
            break  # truncated inside the value: the walker reports it
        if tag in _GRID_TAGS:
            grid[tag] = _grid_value(buf, vpos, length, _GRID_TAGS[tag])
        pos = end
    reader.fill_all(pixel + KEEP_LIMIT)  # nothing should be left, but a stream must end
    return Compacted(out.finish(), left)


def _grid_value(buf: mmap.mmap, vpos: int, length: int, size: int) -> int | None:
    if size == 2:
        return _U16(buf, vpos)[0] if length >= 2 else None
    try:
        return int(bytes(buf[vpos : vpos + length]).split(b"\\")[0].strip(b" \x00") or b"1")
    except ValueError:
        return None


def _pixel_bound(grid: dict[int, int | None]) -> tuple[int, str]:
    """(bytes, description) of the Pixel Data the Image Pixel attributes declare; (0, "") when not known."""
    rows, columns = grid.get(0x00280010), grid.get(0x00280011)
    bits = grid.get(0x00280100)
    if not rows or not columns or not bits:
        return 0, ""
    frames = grid.get(0x00280008) or 1
    samples = grid.get(0x00280002) or 1
    need = (rows * columns * max(frames, 1) * samples * bits + 7) // 8
    what = f"Rows x Columns x Number of Frames x Bits Allocated ({rows} x {columns} x {frames} x {bits})"
    if samples != 1:
        what = what[:-1] + f" x {samples} samples)"
    return need, what
