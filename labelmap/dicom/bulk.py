"""Fast header reader for multi-frame DICOM files.

pydicom builds a full ``Dataset`` for every Per-frame Functional Groups item, which costs
about 0.2 ms per frame (seconds for the 17,000-frame BINARY files found in public archives).
:func:`read_multiframe_header` walks the Per-frame Functional Groups Sequence (5200,9230)
itself, captures the raw values of the few field paths the caller asks for (the SEG layer
decodes them, :mod:`labelmap.seg.perframe`), and reads every other top-level element (they
are small) into a :mod:`~labelmap.dicom.read` data set, so pydicom is not even imported.
Pixel Data is not read at all: :class:`PixelDataInfo` tells the caller where it is.

How the per-frame walk is fast
------------------------------
Per-frame items of one file nearly always share one *structure*: the same tags, VRs and
nesting in the same order; only some value lengths and values differ.  The first item is
walked by a careful, fully validating walker, which also records the item as a *template*:
a short list of operations "these constant bytes (tags, VRs, undefined-length markers,
delimiters) must follow; then read a length; then capture or skip that many bytes".  The
following items are checked against the template with one bytes comparison per run of
constant bytes, so an item costs a dozen operations instead of 40+ element decodes.  Any
mismatch (different structure, damaged data) sends the item back to the validating walker,
which either raises :class:`~labelmap.errors.DicomFormatError` with the byte offset or makes
a new template (the four most recent templates are tried in turn).

Handled encodings: Explicit VR Little Endian, Implicit VR Little Endian, Deflated Explicit VR
Little Endian (inflated in bounded pieces, :mod:`labelmap.dicom.compact`), every encapsulated
(compressed) transfer syntax (the data set is Explicit VR Little Endian; fragments of Pixel
Data are listed).  Large values nobody reads are skipped, never copied; files of
:data:`~labelmap.dicom.compact.COMPACT_FROM` bytes and more are read in pieces, not mapped.  Big Endian is
refused.  Sequences and items of defined and undefined length, nested to any depth up to
:data:`~labelmap.dicom.dictionary.MAX_DEPTH`, and explicit-VR ``UN`` elements of undefined length (whose content is
Implicit VR Little Endian) are supported.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from labelmap.dicom.compact import COMPACT_FROM, Compacted, compact_file, inflate_data_set, skippable
from labelmap.dicom.dictionary import (
    ITEM,
    LONG_VRS,
    PER_FRAME_GROUPS,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    SEQUENCE_DELIMITER_BYTES,
    UNDEFINED_LENGTH,
    describe_tag,
    tag_str,
)
from labelmap.dicom.read import LiteDataset, NeedsPydicom, read_element, read_meta
from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN as _DEFLATED_LE
from labelmap.dicom.uids import EXPLICIT_VR_BIG_ENDIAN as _EXPLICIT_BE
from labelmap.dicom.uids import IMPLICIT_VR_LITTLE_ENDIAN as _IMPLICIT_LE
from labelmap.dicom.walk import Buffer, Header, Walker
from labelmap.errors import DicomFormatError

if TYPE_CHECKING:  # pydicom only when a pydicom Dataset is asked for, numpy when Pixel Data is read as an array
    import numpy as np
    from pydicom.dataset import FileDataset

__all__ = ["FileHeader", "FrameValues", "PixelDataInfo", "read_header_before_pixels", "read_multiframe_header"]


# Template operations: (kind, constant prefix, len(prefix), field or None).
_OP_CONST, _OP_VAR2, _OP_VAR4, _OP_OPEN, _OP_CLOSE = range(5)
_MAX_TEMPLATES = 4
#: Per-frame items (and Pixel Data fragments) read at most, whatever Number of Frames says.
MAX_FRAMES = 1 << 22

_U32 = struct.Struct("<I").unpack_from


# --------------------------------------------------------------------------- public types
@dataclass(frozen=True, eq=False)
class FrameValues:
    """Raw values captured from the Per-frame Functional Groups Sequence items.

    ``columns[k]`` lists (frame index, value bytes) for the frames whose item holds the
    field path ``k`` asked for (only its first occurrence in a frame counts).
    """

    n_frames: int
    columns: tuple[list[tuple[int, bytes]], ...]


@dataclass(frozen=True, eq=False)
class PixelDataInfo:
    """Where the Pixel Data (7FE0,0010) value is, without having read it.

    ``buffer is None``: offsets are byte offsets in the file ``path`` (read them with
    ``np.fromfile(path, np.uint8, count=length, offset=offset)`` or :meth:`read_native`).
    ``buffer`` is set for Deflated files: it is the inflated data set and the offsets index it.

    * ``present`` False: the file has no Pixel Data; ``offset`` and ``length`` are -1.
    * Native (``encapsulated`` False): the value is ``length`` bytes at ``offset``, ``vr`` is
      ``"OB"``/``"OW"`` (``""`` for Implicit VR).  BINARY SEG frames are bit-packed across
      frame boundaries, so the caller unpacks the whole value.
    * Encapsulated (``encapsulated`` True, any compressed transfer syntax): ``offset`` is the
      first item (the Basic Offset Table) and ``length`` runs to the end of the sequence
      delimiter; ``basic_offset_table`` holds its entries (empty if the table is empty) and
      ``fragments`` the (offset, length) of every following fragment's data.  Use
      :meth:`frame_fragments` to group fragments per frame, or fall back to pydicom.
    """

    path: Path
    transfer_syntax: str
    present: bool
    encapsulated: bool
    vr: str
    offset: int
    length: int
    buffer: Buffer | None = None
    fragments: tuple[tuple[int, int], ...] = ()
    basic_offset_table: tuple[int, ...] = ()

    def read_native(self) -> np.ndarray:
        """The native Pixel Data value as a 1-D uint8 array (file read or buffer view)."""
        import numpy as np  # the header reader itself is numpy-free (labelmap.pipeline.lean_read)

        if not self.present or self.encapsulated:
            raise DicomFormatError("no native Pixel Data to read", path=self.path)
        if self.buffer is not None:
            return np.frombuffer(self.buffer, dtype=np.uint8, count=self.length, offset=self.offset)
        # A copy-on-write map of the value's pages: they come straight from the page cache as
        # they are touched (no read into fresh memory: 2-3x faster for a 75 MB frame block), and
        # the array stays writable.  Only the value is mapped, not the whole file.
        if self.length == 0:
            return np.zeros(0, dtype=np.uint8)
        start = self.offset - self.offset % mmap.ALLOCATIONGRANULARITY
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if self.offset + self.length <= size:
                    mm = mmap.mmap(
                        fh.fileno(), self.offset + self.length - start, access=mmap.ACCESS_COPY, offset=start
                    )
        except (OSError, ValueError) as exc:
            raise DicomFormatError(f"cannot map Pixel Data ({exc})", path=self.path) from None
        if self.offset + self.length > size:
            raise DicomFormatError(
                f"Pixel Data runs to byte {self.offset + self.length} but the file has {size} bytes", path=self.path
            )
        return np.frombuffer(mm, dtype=np.uint8, count=self.length, offset=self.offset - start)

    def frame_fragments(self, n_frames: int) -> list[list[tuple[int, int]]]:
        """Fragments of each frame: one per frame, or grouped by the Basic Offset Table."""
        if not self.encapsulated:
            raise DicomFormatError("Pixel Data is not encapsulated", path=self.path)
        frags = list(self.fragments)
        if len(frags) == n_frames and (not self.basic_offset_table or len(self.basic_offset_table) == n_frames):
            return [[f] for f in frags]
        bot = self.basic_offset_table
        if len(bot) != n_frames:
            raise DicomFormatError(
                f"{len(frags)} Pixel Data fragments for {n_frames} frames and "
                f"{'no' if not bot else len(bot)} Basic Offset Table entries; cannot split frames",
                path=self.path,
            )
        # Offset of each fragment's item header, relative to the first fragment's item header.
        first = frags[0][0] - 8 if frags else 0
        starts = {off - 8 - first: i for i, (off, _) in enumerate(frags)}
        out: list[list[tuple[int, int]]] = []
        for k, rel in enumerate(bot):
            if rel not in starts:
                raise DicomFormatError(
                    f"Basic Offset Table entry {k} ({rel}) is not at a fragment start", path=self.path
                )
            stop = starts[bot[k + 1]] if k + 1 < len(bot) and bot[k + 1] in starts else len(frags)
            out.append(frags[starts[rel] : stop])
        return out


# --------------------------------------------------------------------------- the per-frame walk
class _TemplateBuilder:
    """Records the byte layout of one per-frame item as template operations."""

    __slots__ = ("ops", "pending")

    def __init__(self) -> None:
        self.ops: list[tuple[int, bytes, int, int | None]] = []
        self.pending = bytearray()

    def const(self, data: bytes) -> None:
        self.pending += data

    def op(self, kind: int, head: bytes = b"", field: int | None = None) -> None:
        """An operation ``kind`` after the constant bytes pending and ``head``."""
        prefix = bytes(self.pending) + head
        self.pending.clear()
        self.ops.append((kind, prefix, len(prefix), field))

    def var(self, head: bytes, lensize: int, field: int | None) -> None:
        self.op(_OP_VAR2 if lensize == 2 else _OP_VAR4, head, field)

    def finish(self) -> list[tuple[int, bytes, int, int | None]]:
        if self.pending:
            self.op(_OP_CONST)
        return self.ops


@dataclass(frozen=True, eq=False)
class _ItemWalk:
    """Walks one per-frame item with the validating walker: records its template, captures the fields.

    ``fields`` maps a path of tags below the item (sequences, then the leaf) to its column;
    ``containers`` holds every proper prefix of those paths (the sequences walked into).
    """

    walker: Walker
    fields: dict[tuple[int, ...], int]
    containers: frozenset[tuple[int, ...]]
    tb: _TemplateBuilder
    caps: list[tuple[int, bytes]]

    def item(self, pos: int, limit: int, implicit: bool, depth: int, path: tuple[int, ...] | None) -> int:
        """Walk the item whose header is at ``pos`` (``path`` None: below no field); returns its end."""
        walker, tb = self.walker, self.tb
        vpos, end, inner = walker.item(pos, limit)
        if end is None:
            tb.const(bytes(walker.buf[pos : pos + 8]))
        else:
            tb.op(_OP_OPEN, bytes(walker.buf[pos : pos + 4]))
        after = walker.elements(
            vpos, end, inner, implicit, lambda p, head: self.element(p, head, inner, implicit, depth, path)
        )
        if end is None:
            tb.const(bytes(walker.buf[after - 8 : after]))  # the item delimiter
        else:
            tb.op(_OP_CLOSE)
        return after

    def element(
        self, start: int, head: Header, limit: int, implicit: bool, depth: int, path: tuple[int, ...] | None
    ) -> int:
        """Walk one element of an item at nesting ``depth``; returns the offset after it."""
        walker, tb, buf = self.walker, self.tb, self.walker.buf
        tag, vr, length, vpos = head
        lensize = 4 if (implicit or vr in LONG_VRS) else 2
        sub = path + (tag,) if path is not None else None
        interesting = sub is not None and sub in self.containers
        # Implicit VR has no VR: our containers are known to be sequences.  Explicit UN of a
        # container (a converter that lost the VR) holds Implicit VR content, like pydicom reads it.
        if length == UNDEFINED_LENGTH or vr == b"SQ" or ((implicit or vr == b"UN") and interesting):
            inner_implicit = implicit or vr == b"UN"
            inner_path = sub if interesting else None

            def item(p: int, lim: int) -> int:
                return self.item(p, lim, inner_implicit, depth + 1, inner_path)

            if length == UNDEFINED_LENGTH:
                walker.undefined_length_vr(start, tag, vr)
                tb.const(bytes(buf[start:vpos]))
                end = walker.sequence(vpos, length, limit, depth + 1, item)
                tb.const(bytes(buf[end - 8 : end]))  # the sequence delimiter
            elif interesting:
                tb.op(_OP_OPEN, bytes(buf[start : vpos - 4]))
                end = walker.sequence(vpos, length, walker.value_end(start, tag, vpos, length, limit), depth + 1, item)
                tb.op(_OP_CLOSE)
            else:
                end = walker.value_end(start, tag, vpos, length, limit)
                tb.var(bytes(buf[start : vpos - lensize]), lensize, None)
            return end
        end = walker.value_end(start, tag, vpos, length, limit)
        field = self.fields.get(sub) if sub is not None and len(sub) > 1 else None
        if field is not None:
            if any(f == field for f, _ in self.caps):
                field = None  # only the first occurrence counts
            else:
                self.caps.append((field, bytes(buf[vpos:end])))
        tb.var(bytes(buf[start : vpos - lensize]), lensize, field)
        return end


# --------------------------------------------------------------------------- template matching
def _match(ops, buf: Buffer, pos: int, caps: list) -> int:
    """Apply a template at ``pos``; returns the end offset, or -1 if the item does not fit it."""
    stack: list[int] = []
    try:
        for kind, prefix, plen, field in ops:
            if buf[pos : pos + plen] != prefix:
                return -1
            pos += plen
            if kind == _OP_VAR2:
                n = buf[pos] | buf[pos + 1] << 8
                pos += 2
                if field is not None:
                    caps.append((field, buf[pos : pos + n]))
                pos += n
            elif kind == _OP_VAR4:
                n = _U32(buf, pos)[0]
                pos += 4
                if field is not None:
                    caps.append((field, buf[pos : pos + n]))
                pos += n
            elif kind == _OP_OPEN:
                n = _U32(buf, pos)[0]
                if n == UNDEFINED_LENGTH:
                    return -1
                pos += 4
                stack.append(pos + n)
            elif kind == _OP_CLOSE:
                if stack.pop() != pos:
                    return -1
    except (IndexError, struct.error):
        return -1
    return pos


def _parse_per_frame(
    walker: Walker,
    vpos: int,
    length: int,
    implicit: bool,
    fields: dict[tuple[int, ...], int],
    declared: int | None = None,
) -> tuple[int, FrameValues]:
    """Walk the Per-frame Functional Groups Sequence value; returns (end, captured values of ``fields``).

    ``declared``: the Number of Frames read before it; far more items than that (or than
    :data:`MAX_FRAMES` without it) stop the walk, so millions of empty items cost no time.
    """
    most = MAX_FRAMES if declared is None else min(MAX_FRAMES, 2 * declared + 1024)
    buf, size = walker.buf, walker.size
    seq_end = None if length == UNDEFINED_LENGTH else vpos + length
    limit = size if seq_end is None else seq_end
    if limit > size:
        raise walker.past(vpos, f"Per-frame Functional Groups Sequence (length {length})", limit, size)
    columns: tuple[list[tuple[int, bytes]], ...] = tuple([] for _ in fields)
    containers = frozenset(p[:i] for p in fields for i in range(1, len(p)))
    templates: list = []
    pos, frame = vpos, 0
    caps: list = []
    while True:
        if seq_end is not None:
            if pos >= seq_end:
                break
        elif buf[pos : pos + 8] == SEQUENCE_DELIMITER_BYTES:
            pos += 8
            break
        for t in templates:
            caps.clear()
            new = _match(t, buf, pos, caps)
            if 0 <= new <= limit:
                if t is not templates[0]:
                    templates.remove(t)
                    templates.insert(0, t)
                break
        else:
            caps.clear()
            tb = _TemplateBuilder()
            new = _ItemWalk(walker, fields, containers, tb, caps).item(pos, limit, implicit, 1, ())
            templates.insert(0, tb.finish())
            del templates[_MAX_TEMPLATES:]
        for field, value in caps:
            columns[field].append((frame, value))
        frame += 1
        pos = new
        if frame > most:
            said = "" if declared is None else f" (Number of Frames is {declared})"
            raise walker.limit(vpos, f"Per-frame Functional Groups Sequence has more than {most:,} items{said}")
    return pos, FrameValues(frame, columns)


# --------------------------------------------------------------------------- file level
@dataclass(frozen=True, eq=False)
class FileHeader:
    """A file's top level without per-frame groups and Pixel Data, readable without pydicom.

    ``ds`` is a :class:`~labelmap.dicom.read.LiteDataset` (None when the data set needs
    pydicom, e.g. an unusual character set); :meth:`to_pydicom` gives the same elements as a
    pydicom ``FileDataset``.
    """

    name: str
    meta: LiteDataset
    ds: LiteDataset | None
    transfer_syntax: str
    implicit: bool
    preamble: bytes
    meta_bytes: bytes
    raw: bytes

    def to_pydicom(self) -> FileDataset:
        """The top level as a pydicom FileDataset (imports pydicom).

        Raises
        ------
        DicomFormatError
            pydicom cannot parse the data set.
        """
        from pydicom.dataset import FileDataset, FileMetaDataset
        from pydicom.filereader import read_dataset

        try:
            meta = FileMetaDataset(read_dataset(BytesIO(self.meta_bytes), False, True))
            ds = read_dataset(BytesIO(self.raw), self.implicit, True)
        except Exception as exc:  # pydicom raises many types on damaged data
            raise DicomFormatError(f"data set cannot be parsed ({type(exc).__name__}: {exc})", path=self.name) from None
        return FileDataset(
            self.name, ds, preamble=self.preamble, file_meta=meta, is_implicit_VR=self.implicit, is_little_endian=True
        )


def _declared_frames(elements: dict | None) -> int | None:
    """Number of Frames (0028,0008) among the top-level elements read so far, when it is a number."""
    element = None if elements is None else elements.get(0x00280008)
    if element is None:
        return None
    try:
        value = element.value
        return max(int(value[0] if isinstance(value, list) else value), 1)
    except (TypeError, ValueError, IndexError, NeedsPydicom):
        return None


def _encapsulated(
    walker: Walker, vpos: int, declared: int | None = None
) -> tuple[int, tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Walk encapsulated Pixel Data items; returns (end, basic offset table, fragments).

    More fragments than 64 per declared frame (or than :data:`MAX_FRAMES` without a Number of
    Frames) are refused: each costs memory and time, and no encoder splits frames that finely.
    """
    most = MAX_FRAMES if declared is None else min(MAX_FRAMES, 64 * declared + 1024)
    items: list[tuple[int, int]] = []  # (offset, length) of the Basic Offset Table, then of each fragment
    pos = vpos
    while True:
        if len(items) > most:
            said = "" if declared is None else f" for {declared} frames"
            raise walker.limit(vpos, f"encapsulated Pixel Data has more than {most:,} fragments{said}")
        tag, _, length, ivpos = walker.header(pos, walker.size, True)
        if tag == SEQUENCE_DELIMITER:
            break
        if tag != ITEM:
            raise walker.error(
                pos, f"expected a Pixel Data item (FFFE,E000) or delimiter (FFFE,E0DD), found {tag_str(tag)}"
            )
        if length == UNDEFINED_LENGTH:
            raise walker.error(pos, "Pixel Data fragment with undefined length")
        if ivpos + length > walker.size:
            what = f"Pixel Data fragment {len(items)}" if items else "Basic Offset Table"
            raise walker.past(pos, f"{what} (length {length})", ivpos + length, walker.size)
        if not items and length % 4:
            raise walker.error(pos, f"Basic Offset Table length {length} is not a multiple of 4")
        items.append((ivpos, length))
        pos = ivpos + length
    (start, size), *frags = items or [(0, 0)]
    if size // 4 > most:
        raise walker.limit(vpos, f"Basic Offset Table has {size // 4:,} entries, more than {most:,}")
    bot = struct.unpack_from(f"<{size // 4}I", walker.buf, start)
    return ivpos, bot, tuple(frags)


def read_multiframe_header(
    path: str | os.PathLike, fields: dict[tuple[int, ...], int]
) -> tuple[FileHeader, FrameValues | None, PixelDataInfo]:
    """Read a file's header: (top level without per-frame groups and Pixel Data, per-frame values, pixel location).

    The :class:`FileHeader` holds every top-level element except Per-frame Functional Groups
    Sequence (5200,9230) and Pixel Data (7FE0,0010).  ``fields`` maps paths of tags below a
    per-frame item (sequences, then the leaf) to column numbers 0..N-1 of the
    :class:`FrameValues` returned (None when the file has no per-frame sequence).  The Pixel
    Data value is never read.

    Raises
    ------
    OSError
        The file cannot be opened (not found, a folder ...).
    DicomFormatError
        A damaged file, naming the file, the byte offset and what was expected.
    """
    name = str(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise DicomFormatError("empty file, not DICOM", path=name)
        if size >= COMPACT_FROM:  # not mapped whole: large values are skipped by seeking
            head = os.pread(fh.fileno(), min(size, 1 << 16), 0)
            meta, start = read_meta(head, name)
            ts = _transfer_syntax(meta, name)
            if ts != _DEFLATED_LE:
                compacted = compact_file(fh.fileno(), start, size, name, ts == _IMPLICIT_LE)
                return _read(head, Path(path), name, fields, compacted)
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _read(mm, Path(path), name, fields)


def _transfer_syntax(meta: LiteDataset, name: str) -> str:
    try:
        ts = meta.get("TransferSyntaxUID", "") or ""
    except NeedsPydicom as exc:
        raise DicomFormatError(
            f"File Meta Information: TransferSyntaxUID cannot be decoded ({exc})", path=name
        ) from None
    if not isinstance(ts, str):
        raise DicomFormatError(f"File Meta Information: TransferSyntaxUID {ts!r:.60} is not a UID", path=name)
    ts = ts.rstrip("\x00 ")
    if not ts:
        raise DicomFormatError("File Meta Information has no TransferSyntaxUID", path=name)
    if ts == _EXPLICIT_BE:
        raise DicomFormatError("Explicit VR Big Endian (retired) is not supported", path=name)
    return ts


def _read(
    mm: Buffer, file_path: Path, name: str, fields: dict[tuple[int, ...], int], compacted: Compacted | None = None
) -> tuple[FileHeader, FrameValues | None, PixelDataInfo]:
    """Parse the file ``mm`` (or, with ``compacted``, its File Meta Information and the
    compacted data set of a large file)."""
    meta, start = read_meta(mm, name)
    preamble, meta_bytes = bytes(mm[:128]), bytes(mm[132:start])
    ts = _transfer_syntax(meta, name)
    implicit = ts == _IMPLICIT_LE
    buf: Buffer = mm
    inflated: Buffer | None = None
    where = ""
    left = None
    if compacted is not None:
        buf, start, where, left = compacted.buffer, 0, " of the data set (large values skipped)", compacted.pixel
        inflated = buf  # encapsulated Pixel Data is kept there: its fragment offsets index it
    elif ts == _DEFLATED_LE:
        inflated = inflate_data_set(mm, start, name)
        buf, start, where = inflated, 0, " of the inflated data set"
    walker = Walker(buf, name, where)

    kept: list[bytes] = []
    elements: dict | None = {}
    encoding: str | None = None
    values: FrameValues | None = None
    pixel = PixelDataInfo(file_path, ts, False, False, "", -1, -1, inflated)
    pos = start
    while pos < walker.size:
        tag, vr, length, vpos = walker.header(pos, walker.size, implicit)
        if tag == 0:  # (0000,0000) is no data element: zero padding, else every 8 zero bytes would be one
            raise walker.error(pos, "zero bytes where a data element should start (padding after the data set?)")
        if tag == PER_FRAME_GROUPS:
            if vr not in (None, b"SQ", b"UN"):
                raise walker.error(
                    pos, f"Per-frame Functional Groups Sequence has VR {vr.decode('latin-1')}, expected SQ"
                )
            end, values = _parse_per_frame(walker, vpos, length, implicit, fields, _declared_frames(elements))
        elif tag == PIXEL_DATA:
            vr_s = vr.decode("latin-1") if vr else ""
            if length == UNDEFINED_LENGTH:
                end, bot, frags = _encapsulated(walker, vpos, _declared_frames(elements))
                pixel = PixelDataInfo(file_path, ts, True, True, vr_s, vpos, end - vpos, inflated, frags, bot)
            elif compacted is not None and left is not None and left[0] == pos:  # the value was left in the file
                end = vpos
                if left[1] + length > compacted.file_size:
                    raise DicomFormatError(
                        f"value of element {describe_tag(tag)} (length {length}) runs to offset {left[1] + length}, "
                        f"past the end of the file ({compacted.file_size} bytes) at byte offset {left[1] - vpos + pos}",
                        path=name,
                    )
                pixel = PixelDataInfo(file_path, ts, True, False, vr_s, left[1], length)
            else:
                end = walker.value_end(pos, tag, vpos, length, walker.size)
                pixel = PixelDataInfo(file_path, ts, True, False, vr_s, vpos, length, inflated)
        elif skippable(tag, vr, length):  # a large value nobody reads: never copied
            end = walker.value_end(pos, tag, vpos, length, walker.size)
        elif tag >> 16 & 1 and tag >> 16 != 0xFFFF and length != UNDEFINED_LENGTH:
            # private: kept as bytes for pydicom, never parsed here (nothing reads it; a private
            # sequence of millions of items would cost a data set each)
            end = walker.value_end(pos, tag, vpos, length, walker.size)
            kept.append(bytes(buf[pos:end]))
        else:
            if elements is not None:
                try:
                    element, end, encoding = read_element(walker, pos, walker.size, implicit, encoding)
                    elements[element.tag] = element
                except NeedsPydicom:
                    elements = None
            if elements is None:
                if tag >> 16 == 0xFFFE:
                    raise walker.error(pos, f"unexpected {tag_str(tag)} between top-level data elements")
                end = walker.skip(pos, (tag, vr, length, vpos), walker.size, implicit, 0)
            kept.append(bytes(buf[pos:end]))
        pos = end
    ds = LiteDataset(elements) if elements is not None else None
    header = FileHeader(name, meta, ds, ts, implicit, preamble, meta_bytes, b"".join(kept))
    return header, values, pixel


def read_header_before_pixels(
    path: str | os.PathLike, fields: dict[tuple[int, ...], int]
) -> tuple[FileHeader, FrameValues | None, int]:
    """:func:`read_multiframe_header` without touching the Pixel Data value: (header, values, Pixel Data offset).

    The file is mapped and its top-level elements walked up to Pixel Data (7FE0,0010), whose
    element header is at the offset returned (the file's size when it has none); only the bytes
    before it are parsed, so the pages of a large Pixel Data value are never read.  For tiled
    images whose frames are then read a few at a time (:mod:`labelmap.dicom.pixel_index`).

    Raises
    ------
    OSError
        The file cannot be opened.
    NeedsPydicom
        Deflated or Big Endian data sets (use :func:`read_multiframe_header`).
    DicomFormatError
        A damaged file, naming the byte offset.
    """
    name = str(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise DicomFormatError("empty file, not DICOM", path=name)
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise DicomFormatError(f"cannot map the file ({exc})", path=name) from None
    with mm:
        meta, start = read_meta(mm, name)
        ts = _transfer_syntax(meta, name)
        if ts == _DEFLATED_LE:
            raise NeedsPydicom(f"transfer syntax {ts}")
        implicit = ts == _IMPLICIT_LE
        walker = Walker(mm, name)
        pos = start
        while pos < size:
            if pos + 8 <= size and _TAG_AT(mm, pos) == (PIXEL_DATA >> 16, PIXEL_DATA & 0xFFFF):
                break
            head = walker.header(pos, size, implicit)
            pos = walker.skip(pos, head, size, implicit, 0)
        header, values, _ = _read(bytes(mm[:pos]), Path(path), name, fields)
    return header, values, pos


_TAG_AT = struct.Struct("<HH").unpack_from
