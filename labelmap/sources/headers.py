"""The header of one file of a source folder, read from its first bytes and never further than needed.

A source folder holds whatever users put there: zips of the study, NIfTI exports, a README,
``.DS_Store``, a DICOMDIR, FIFOs.  :func:`sniff` tells DICOM from the first bytes alone: a
128-byte preamble and ``DICM`` (PS3.10), or, for files without one, a plausible first element
of group 0x0002 (File Meta Information without preamble) or 0x0008 (a bare data set, Explicit or
Implicit VR Little Endian, as DCMTK's auto-detection reads it).  Anything else costs one read of
:data:`HEAD_BYTES`.

:func:`read_source_header` then walks the elements up to Pixel Data through a growing window of
the file: elements the caller does not want are skipped by their declared length (a seek, not a
read; a length that runs past the end of the file is a :class:`~labelmap.errors.DicomFormatError`
naming the element), so a 2 GB private blob before Pixel Data costs nothing.  A Deflated data set
(1.2.840.10008.1.2.1.99) is inflated in pieces, only as far as Pixel Data and at most
:data:`MAX_INFLATED` bytes.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from dataclasses import dataclass
from typing import IO, Any, Literal

import numpy as np

from labelmap.dicom.dictionary import (
    LONG_VRS,
    MAX_DEPTH,
    PIXEL_DATA,
    SPECIFIC_CHARACTER_SET,
    TAG_VR,
    UNDEFINED_LENGTH,
    describe_tag,
)
from labelmap.dicom.read import LiteDataset, LiteElement, NeedsPydicom, pixel_damage, read_element
from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN as _DEFLATED_LE
from labelmap.dicom.uids import EXPLICIT_VR_BIG_ENDIAN as _EXPLICIT_BE
from labelmap.dicom.uids import IMPLICIT_VR_LITTLE_ENDIAN as _IMPLICIT_LE
from labelmap.dicom.walk import MAX_ITEMS, Header, Walker
from labelmap.errors import DicomFormatError
from labelmap.kernels.walk import WALK_KERNEL, WALK_PYTHON, WALK_STOP, tag_array, walk_header

__all__ = [
    "HEAD_BYTES",
    "MAX_INFLATED",
    "MAX_WINDOW",
    "Kind",
    "SourceHeader",
    "not_an_image",
    "read_source_header",
    "sniff",
]

#: Bytes read first from every file: enough for the sniff and for most CT headers.
HEAD_BYTES = 8192
#: Largest span of header bytes held at once (one wanted element, or an undefined-length sequence
#: such as the Per-frame Functional Groups of a 30,000-frame Enhanced MR).
MAX_WINDOW = 256 << 20
#: Most bytes inflated from a Deflated data set before its Pixel Data.
MAX_INFLATED = 256 << 20

#: "part10": preamble + DICM; "meta": File Meta Information without preamble; "explicit" /
#: "implicit": a bare data set in that VR encoding (Little Endian).
Kind = Literal["part10", "meta", "explicit", "implicit"]

_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
_TAG = struct.Struct("<HH").unpack_from
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
#: a bare Implicit VR element of group 0x0008 longer than this is not believed
_MAX_FIRST_LENGTH = 1 << 20
#: Walk plain elements in :func:`labelmap.kernels.walk_header` (tests turn it off to compare with
#: the Python walk, which reads every element the kernel leaves to it); off with a stale build
_FAST = WALK_KERNEL
#: tags the dictionary reads as sequences (a wanted one in Implicit VR or as UN is parsed in Python)
_SEQUENCE_TAGS = tag_array(tag for tag, vr in TAG_VR.items() if vr == "SQ")
#: the VR of a kernel's VR code (first byte << 8 | second byte)
_VR_TEXT = {vr[0] << 8 | vr[1]: vr.decode("ascii") for vr in _VRS}
_WANTED: dict[frozenset[int], np.ndarray] = {}


def sniff(head: bytes, size: int) -> Kind | None:
    """What kind of DICOM file starts with ``head`` (of a file of ``size`` bytes), or None if none.

    Parameters
    ----------
    head
        The first bytes of the file (at least 132 when the file is that long).
    size
        The file size, to check the first element's length against.

    Returns
    -------
    Kind or None
        None for anything that is not DICOM by its first bytes.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "part10"
    if len(head) < 8:
        return None
    group, _ = _TAG(head, 0)
    if group not in (0x0002, 0x0008):
        return None
    vr = head[4:6]
    if vr in _VRS:
        if vr in LONG_VRS:
            if len(head) < 12 or head[6:8] != b"\0\0":
                return None
            length, vpos = _U32(head, 8)[0], 12
        else:
            length, vpos = _U16(head, 6)[0], 8
        if length != UNDEFINED_LENGTH and vpos + length > size:
            return None
        return "meta" if group == 0x0002 else "explicit"
    if group == 0x0002:  # the File Meta Information is always Explicit VR
        return None
    length = _U32(head, 4)[0]
    if length > _MAX_FIRST_LENGTH or 8 + length > size:
        return None
    return "implicit"


#: SOP Class UID prefixes of objects that are never source images: Segmentation, Raw Data and
#: Registration (66), Presentation States (11), SR and Key Objects (88), RT Structure Sets, Plans,
#: Doses and treatment records (481.2+), encapsulated documents (104), waveforms (9).
_NOT_IMAGES = tuple(
    "1.2.840.10008.5.1.4.1.1." + p for p in ("66", "11.", "88.", "104.", "9.", "481.2", "481.3", "481.4", "481.5")
) + tuple("1.2.840.10008.5.1.4.1.1.481." + str(n) for n in range(6, 20))
#: Media Storage Directory (DICOMDIR)
_DICOMDIR = "1.2.840.10008.1.3.10"


#: a UID equal to one of these, or starting with one of the prefixes, is not an image (one test per call)
_NOT_IMAGE_UIDS = frozenset((*_NOT_IMAGES, _DICOMDIR))
_NOT_IMAGE_PREFIXES = tuple(p if p.endswith(".") else p + "." for p in _NOT_IMAGES)


def not_an_image(sop_class: object) -> bool:
    """Whether a SOP Class UID names an object that is never a source image (SEG, SR, DICOMDIR ...)."""
    if not isinstance(sop_class, str):
        return False
    uid = sop_class.rstrip("\0 ")
    return uid in _NOT_IMAGE_UIDS or uid.startswith(_NOT_IMAGE_PREFIXES)


@dataclass(frozen=True, eq=False)
class SourceHeader:
    """The elements before Pixel Data of one DICOM file (only the wanted ones).

    ``meta`` is the File Meta Information (None for a bare data set); ``damage`` says why the
    Pixel Data is incomplete (the file ends before or inside it), else None.  Objects that are
    never images by their Media Storage SOP Class (SEG, SR, DICOMDIR ...) are not parsed past
    their File Meta: ``dataset`` is empty.
    """

    kind: Kind
    transfer_syntax: str
    meta: LiteDataset | None
    dataset: LiteDataset
    damage: str | None


class _Stream:
    """Bytes ``[base, base + len(buf))`` of a file's data, read (or inflated) on demand.

    ``size`` is the length of the data when known (the file size; None for an inflated data set
    until its end is reached).
    """

    def __init__(self, fh: IO[bytes], head: bytes, size: int, name: str) -> None:
        self.fh, self.name = fh, name
        self.buf, self.base = head, 0
        self.size: int | None = size
        self.end_reached = len(head) >= size
        self.inflater: Any = None
        self.tail = b""
        self.inflated = 0
        self.where = ""

    def start_inflating(self, pos: int) -> None:
        """From file offset ``pos`` on, the data are the inflated bytes (offsets count from 0 there)."""
        self.fh.seek(pos)
        self.inflater = zlib.decompressobj(-15)
        self.buf, self.base, self.size, self.end_reached = b"", 0, None, False
        self.where = " of the inflated data set"

    @property
    def stop(self) -> int:
        return self.base + len(self.buf)

    def _pull(self, n: int) -> bytes:
        """The next ``n`` bytes of the data (fewer at its end)."""
        if self.inflater is None:
            data = self.fh.read(n)
            if len(data) < n:
                self.end_reached = True
            return data
        out: list[bytes] = []
        got = 0
        while got < n and not self.end_reached:
            data = self.tail or self.fh.read(1 << 16)
            if not data:
                raise DicomFormatError(
                    "the deflated data set is truncated (the file ends inside the deflate stream)", path=self.name
                )
            try:
                chunk = self.inflater.decompress(data, n - got)
            except zlib.error as exc:
                raise DicomFormatError(f"the deflated data set cannot be inflated ({exc})", path=self.name) from None
            self.tail = self.inflater.unconsumed_tail
            if self.inflater.eof:
                self.end_reached = True
                self.size = self.stop + got + len(chunk)
            out.append(chunk)
            got += len(chunk)
        self.inflated += got
        if self.inflated > MAX_INFLATED:
            raise DicomFormatError(
                f"more than {MAX_INFLATED >> 20} MB of deflated header before its Pixel Data; "
                "not a source image this program reads",
                path=self.name,
            )
        return b"".join(out)

    def window(self, pos: int, end: int) -> None:
        """Make ``buf`` cover ``[pos, end)`` (or up to the end of the data)."""
        if self.base <= pos and end <= self.stop:
            return
        if pos > self.stop or pos < self.base:  # jump over skipped bytes: seek, or inflate and drop them
            if self.inflater is None:
                self.fh.seek(pos)
            else:
                todo = pos - self.stop
                while todo > 0 and not self.end_reached:
                    todo -= len(self._pull(min(todo, 1 << 20)))
            self.buf, self.base = b"", pos
            if self.size is not None and pos >= self.size:
                self.end_reached = True
        if self.end_reached:
            return
        if pos - self.base > len(self.buf) // 2:  # drop what lies before pos: the window slides on
            self.buf, self.base = self.buf[pos - self.base :], pos
        need = end - self.stop
        grow = max(need, len(self.buf), HEAD_BYTES)
        if len(self.buf) + need > MAX_WINDOW:
            raise DicomFormatError(
                f"a header element at byte offset {pos}{self.where} needs more than {MAX_WINDOW >> 20} MB; "
                "not a source image this program reads",
                path=self.name,
            )
        self.buf += self._pull(min(grow, MAX_WINDOW - len(self.buf)))

    def grow(self, pos: int) -> bool:
        """Read more after the window (doubling it); False at the end of the data."""
        if self.end_reached:
            return False
        self.window(pos, self.stop + max(len(self.buf), HEAD_BYTES))
        return True

    def walker(self) -> Walker:
        where = self.where if self.base == 0 else f"{self.where} (counted from byte {self.base})"
        return Walker(self.buf, self.name, where)


def _error(stream: _Stream, pos: int, what: str, tag: int | None = None) -> DicomFormatError:
    return DicomFormatError(f"{what} at byte offset {pos}{stream.where}", path=stream.name, tag=tag)


def _peek(buf: bytes, rel: int, size: int, implicit: bool, tag: int) -> Header | None:
    """The header at ``rel`` when it is well-formed and whole in ``buf`` (the fast path), else None
    (then :meth:`Walker.header` reads it and raises what is wrong)."""
    if implicit:
        return (tag, None, _U32(buf, rel + 4)[0], rel + 8) if rel + 8 <= size else None
    vr = buf[rel + 4 : rel + 6]
    if vr in LONG_VRS:
        return (tag, vr, _U32(buf, rel + 8)[0], rel + 12) if rel + 12 <= size else None
    if vr in _VRS:
        return tag, vr, _U16(buf, rel + 6)[0], rel + 8
    return None


def _value_vr(tag: int, vr: bytes | None) -> str:
    """The VR an element is read with: its explicit VR, else the dictionary's (UN of a known tag too)."""
    known = TAG_VR.get(tag)
    if vr is None:
        return known or "UN"
    text = vr.decode("latin-1")
    return known if text == "UN" and known is not None else text


def _kernel_walk(
    buf: bytes,
    base: int,
    pos: int,
    implicit: bool,
    meta: bool,
    stop: int,
    tags: np.ndarray | None,
    previous: int,
    walker: Walker,
    out: np.ndarray,
    elements: dict[int, LiteElement],
    encoding: str | None,
) -> tuple[int, int, int]:
    """Walk the plain elements from ``pos`` in the kernel, adding the wanted ones to ``elements``:
    (status, where it stopped, the last tag walked).  What it leaves is the Python walk's."""
    walk = walk_header(
        buf,
        pos - base,
        implicit=implicit,
        meta=meta,
        stop=stop,
        wanted=tags,
        sequences=_SEQUENCE_TAGS,
        previous=previous,
        budget=MAX_ITEMS - walker.items,
        max_depth=MAX_DEPTH,
        out=out,
    )
    for tag, code, vpos, length in walk.elements:
        vr = _VR_TEXT[code] if code else "UN"
        if vr == "UN":  # as _value_vr: Implicit VR and UN of a known tag read with the dictionary's VR
            vr = TAG_VR.get(tag) or "UN"
        elements[tag] = LiteElement(tag, vr, bytes(buf[vpos : vpos + length]), encoding or "latin-1")
    walker.items += walk.items
    return walk.status, base + walk.pos, walk.previous


def _elements(
    stream: _Stream,
    pos: int,
    implicit: bool,
    tags: frozenset[int] | None,
    *,
    meta: bool,
    lenient: bool,
    stop: int = PIXEL_DATA,
) -> tuple[dict[int, LiteElement], int, bytes]:
    """Walk top-level elements from ``pos``: (wanted elements, where the walk stopped, bytes there).

    The walk stops at Pixel Data or at ``stop`` (or any tag after), at the end of the data, or, with
    ``meta``, at the first element that is not of group 0x0002.  ``lenient``: an unusual
    Specific Character Set is read as Latin-1 instead of raising NeedsPydicom.
    """
    elements: dict[int, LiteElement] = {}
    encoding: str | None = None
    previous = -1
    buf, base, walker = stream.buf, stream.base, stream.walker()
    kernel_tags = None if tags is None else _wanted(tags)
    out = np.empty((64 if tags is None else len(tags) + 1, 4), np.int64)
    declined = -1  # the kernel left the element at this offset to the Python walk below
    while True:
        rel = pos - base
        if rel + 12 > len(buf) or rel < 0:
            stream.window(pos, pos + 12)
            buf, base, walker = stream.buf, stream.base, stream.walker()
            rel = pos - base
        size = len(buf)
        avail = size - rel
        if avail <= 0:
            return elements, pos, b""
        if avail < 8:
            raise _error(stream, pos, f"file truncated inside an element header ({avail} of 8 bytes)")
        if _FAST and pos != declined:
            status, pos, previous = _kernel_walk(buf, base, pos, implicit, meta, stop, kernel_tags, previous, walker,
                                                 out, elements, encoding)  # fmt: skip
            if status == WALK_STOP:
                return elements, pos, bytes(buf[pos - base : pos - base + 12])
            if status == WALK_PYTHON:
                declined = pos
            continue
        group, elem = _TAG(buf, rel)
        tag = group << 16 | elem
        if (meta and group != 0x0002) or tag >= stop:
            return elements, pos, bytes(buf[rel : rel + 12])
        if tag <= previous:  # PS3.5 7.1: ascending order; also ends walks through runs of zeros
            raise _error(
                stream, pos, f"element {describe_tag(tag)} follows {describe_tag(previous)}: elements out of order", tag
            )
        previous = tag
        if group == 0xFFFE:
            raise _error(stream, pos, f"unexpected item tag {describe_tag(tag)} among the data elements")
        head = _peek(buf, rel, size, implicit, tag) or walker.header(rel, size, implicit)
        length = head[2]
        wanted = tags is None or tag in tags or tag == SPECIFIC_CHARACTER_SET
        if length != UNDEFINED_LENGTH:
            end = base + head[3] + length
            if end > base + size:  # beyond the window: check it against the data, then seek or read on
                if stream.size is not None and end > stream.size:
                    raise _error(
                        stream,
                        pos,
                        f"element {describe_tag(tag)} declares {length} bytes, which run to byte {end}, "
                        f"past the end of the data ({stream.size} bytes): the file is truncated or damaged",
                        tag,
                    )
                if not wanted:
                    pos = end
                    continue
                stream.window(pos, end)
                buf, base, walker = stream.buf, stream.base, stream.walker()
                if stream.stop < end:
                    raise _error(stream, pos, f"element {describe_tag(tag)} runs past the end of the data", tag)
                rel, size = pos - base, len(buf)
                head = walker.header(rel, size, implicit)
            elif not wanted:
                pos = end
                continue
            vr = _value_vr(tag, head[1])
            if vr != "SQ" and tag != SPECIFIC_CHARACTER_SET:  # the usual element: its bytes, decoded on use
                elements[tag] = LiteElement(tag, vr, bytes(buf[head[3] : head[3] + length]), encoding or "latin-1")
                pos = end
                continue
        while True:  # parse (or skip) the element in the window, growing it for undefined lengths
            try:
                if not wanted:
                    pos = base + walker.skip(rel, head, size, implicit, 0)
                    break
                try:
                    element, after, encoding = read_element(walker, rel, size, implicit, encoding)
                except NeedsPydicom:
                    if not (lenient and tag == SPECIFIC_CHARACTER_SET and length != UNDEFINED_LENGTH):
                        raise
                    after = head[3] + length
                    element, encoding = LiteElement(tag, "CS", bytes(buf[head[3] : after]), "latin-1"), None
                elements[element.tag] = element
                pos = base + after
                break
            except DicomFormatError:
                if length != UNDEFINED_LENGTH or not stream.grow(pos):
                    raise
                buf, base, walker = stream.buf, stream.base, stream.walker()
                rel, size = pos - base, len(buf)
                head = walker.header(rel, size, implicit)


def _wanted(tags: frozenset[int]) -> np.ndarray:
    """The wanted tags as the kernel searches them (a few sets are asked for: kept)."""
    arr = _WANTED.get(tags)
    if arr is None:
        if len(_WANTED) >= 64:
            _WANTED.clear()
        arr = _WANTED[tags] = tag_array(tags)
    return arr


def read_source_header(
    path: str | os.PathLike, tags: frozenset[int] | None = None, *, lenient: bool = False, stop: int = PIXEL_DATA
) -> SourceHeader | None:
    """The elements before Pixel Data of a DICOM file, or None when the file is not DICOM.

    Parameters
    ----------
    path
        Any path; FIFOs, sockets, devices and folders are not DICOM (never opened for reading
        in a way that could block).
    tags
        Keep only these top-level elements (None: all); the others are skipped by length.
    lenient
        Read an unusual Specific Character Set as Latin-1 instead of raising NeedsPydicom (the
        structure is still checked: a caller can then let pydicom decode the text safely).
    stop
        End the walk at the first top-level tag >= ``stop`` (default Pixel Data).  A walk that
        ends before Pixel Data cannot tell whether the pixels are whole: ``damage`` is then None.

    Returns
    -------
    SourceHeader or None
        None when the first bytes are not DICOM's, or when a file without a usable File Meta
        (a bare data set, or junk after "DICM") does not parse as a data set.

    Raises
    ------
    OSError
        The file cannot be opened or read.
    NeedsPydicom
        A data set the lite reader does not decode (Explicit VR Big Endian, an unusual character
        set outside a Deflated data set): the caller may read it with pydicom.
    DicomFormatError
        A file whose File Meta names its transfer syntax or SOP class but whose data set is
        damaged (an element longer than the file, a header cut short, a deflate stream that does
        not inflate, elements out of order).
    """
    name = str(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        size = info.st_size
        head = fh.read(min(size, HEAD_BYTES))
        kind = sniff(head, size)
        if kind is None:
            return None
        stream = _Stream(fh, head, size, name)
        meta: LiteDataset | None = None
        #: a file that says what it is (File Meta with a transfer syntax or SOP class) and then does not
        #: parse is a damaged DICOM file (an error); "DICM" or 08 00 followed by junk is just not DICOM
        claims = False
        if kind in ("part10", "meta"):
            try:
                found, start, _ = _elements(
                    stream, 132 if kind == "part10" else 0, False, None, meta=True, lenient=True
                )
            except DicomFormatError:
                return None
            meta = LiteDataset(found)
            claims = "TransferSyntaxUID" in meta or "MediaStorageSOPClassUID" in meta
            if not_an_image(meta.get("MediaStorageSOPClassUID", "")):
                return SourceHeader(kind, "", meta, LiteDataset({}), None)
            ts = _syntax(meta, name)
            if not ts:
                ts = _guess_syntax(stream, start)
        else:
            start, ts = 0, _IMPLICIT_LE if kind == "implicit" else "1.2.840.10008.1.2.1"
        if ts == _EXPLICIT_BE:
            raise NeedsPydicom("Explicit VR Big Endian")
        deflated = ts == _DEFLATED_LE
        if deflated:
            stream.start_inflating(start)
            start = 0
        implicit = ts == _IMPLICIT_LE
        try:
            elements, pos, at = _elements(
                stream, start, implicit, tags, meta=False, lenient=deflated or lenient, stop=min(stop, PIXEL_DATA)
            )
        except DicomFormatError:
            if not claims:
                return None
            raise
        if at and _TAG(at, 0)[0] << 16 | _TAG(at, 0)[1] < PIXEL_DATA:  # stopped early at ``stop``: not known
            damage = None
        elif deflated or stream.size is None:
            damage = None if at else "it ends before its Pixel Data"
        else:
            damage = pixel_damage(at, pos, size, implicit)
        return SourceHeader(kind, ts, meta, LiteDataset(elements), damage)


def _syntax(meta: LiteDataset, name: str) -> str:
    try:
        value = meta.get("TransferSyntaxUID", "") or ""
    except NeedsPydicom:
        value = ""
    if not isinstance(value, str):
        raise DicomFormatError(
            f"the TransferSyntaxUID {value!r:.60} of its File Meta Information is not a UID", path=name
        )
    return value.rstrip("\x00 ")


def _guess_syntax(stream: _Stream, pos: int) -> str:
    """File Meta Information without TransferSyntaxUID: Explicit VR when the first element shows a VR."""
    stream.window(pos, pos + 8)
    rel = pos - stream.base
    explicit = bytes(stream.buf[rel + 4 : rel + 6]) in _VRS
    return "1.2.840.10008.1.2.1" if explicit else _IMPLICIT_LE
