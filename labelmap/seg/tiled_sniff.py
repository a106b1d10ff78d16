"""Is a file a slide (tiled) SEG?  The cheap look the commands take before choosing a reader.

:func:`is_slide_seg` walks a file's first elements by their lengths up to Total Pixel Matrix Rows
(0048,0007) and reads nothing after it; a Deflated file is inflated only as far as that element
(a piece at a time, never the whole data set).  Kept apart from :mod:`labelmap.seg.tiled_read` so a
volume SEG's read does not import the slide reader (:mod:`labelmap.seg.tiled_read` re-exports both).
"""

from __future__ import annotations

import mmap
import os
import zlib
from pathlib import Path
from typing import Any

from labelmap.errors import LabelmapError

__all__ = ["find_slide_segs", "is_slide_seg"]

#: inflated bytes of a deflated file's start searched for Total Pixel Matrix Rows
_DEFLATED_PREFIX = 1 << 22
#: the first piece inflated (the elements before (0048,0007) are a few kilobytes in the usual SEG); each
#: further look inflates as much again as it has, up to :data:`_DEFLATED_PREFIX`
_FIRST_PIECE = 1 << 16


def is_slide_seg(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a DICOM Segmentation with a Total Pixel Matrix (a cheap look at its first elements).

    Elements are walked by their lengths up to Total Pixel Matrix Rows (0048,0007), nothing
    after it is read; any problem answers False (the full reader then names it).
    """
    from labelmap.dicom.read import NeedsPydicom, read_meta
    from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
    from labelmap.dicom.walk import Walker
    from labelmap.seg.types import SEG_SOP_CLASSES

    try:
        with open(path, "rb") as fh:
            if not os.path.isfile(path) or os.fstat(fh.fileno()).st_size < 132:
                return False
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return False
    with mm:
        try:
            meta, pos = read_meta(mm, str(path))
            ts = str(meta.get("TransferSyntaxUID", "") or "").rstrip("\x00 ")
            if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
                # the attributes sought come before the Segment Sequence: inflate a bounded prefix only
                found = _deflated_has_matrix(mm, pos, str(path), Walker, SEG_SOP_CLASSES)
                if found is not None:
                    return found
                try:  # a header longer than the prefix before (0048,0007): read it whole
                    from labelmap.seg.tiled_index import read_slide_header

                    return read_slide_header(path) is not None
                except LabelmapError:
                    return False
            found = _has_matrix(Walker(mm, str(path)), mm, pos, ts == IMPLICIT_VR_LITTLE_ENDIAN, SEG_SOP_CLASSES)
            return bool(found)
        except (LabelmapError, NeedsPydicom, ValueError, IndexError, KeyError, UnicodeError, zlib.error):
            return False  # an odd value the quick walk does not decode: not taken for a slide (the reader names it)
    return False


def _deflated_has_matrix(buf: Any, pos: int, name: str, walker: Any, sop_classes: Any) -> bool | None:
    """:func:`_has_matrix` of a Deflated data set starting at ``buf[pos]``, inflating more only while the walk
    runs out of bytes: None when :data:`_DEFLATED_PREFIX` bytes hold no answer."""
    inflater = zlib.decompressobj(-15)
    data = b""
    want = _FIRST_PIECE
    while True:
        more, pos = _inflate_more(inflater, buf, pos, want - len(data))
        data += more
        ended = len(data) < want  # the stream ended before the piece was full
        try:
            found = _has_matrix(walker(data, name), data, 0, False, sop_classes)
        except (LabelmapError, IndexError, ValueError):  # an element cut at the piece's end: inflate more
            if ended or want >= _DEFLATED_PREFIX:
                raise
            found = None
        if found is not None:
            return found
        if ended or want >= _DEFLATED_PREFIX:  # the stream ended, or the prefix is used up
            return False if ended else None
        want = min(2 * want, _DEFLATED_PREFIX)


def _inflate_more(inflater: Any, buf: Any, pos: int, limit: int, chunk: int = 1 << 16) -> tuple[bytes, int]:
    """At most ``limit`` more inflated bytes from ``buf[pos:]`` (read ``chunk`` at a time), and where the input
    now stands (input the inflater holds back for lack of room is kept in its ``unconsumed_tail``)."""
    parts: list[bytes] = []
    got = 0
    while got < limit and not inflater.eof:
        if inflater.unconsumed_tail:
            piece = inflater.decompress(inflater.unconsumed_tail, limit - got)
        elif pos < len(buf):
            piece = inflater.decompress(buf[pos : pos + chunk], limit - got)
            pos += chunk
        else:
            break
        if not piece and not inflater.unconsumed_tail and pos >= len(buf):
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts), pos


def _has_matrix(walker: Any, buf: Any, pos: int, implicit: bool, sop_classes: Any) -> bool | None:
    """True when the elements from ``pos`` name a SEG SOP class and hold Total Pixel Matrix Rows, False when
    they pass (0048,0007) without it, None when ``buf`` ends first."""
    sop_ok = False
    while pos + 8 <= walker.size:
        head = walker.header(pos, walker.size, implicit)
        tag, _, length, vpos = head
        if tag > 0x00480007:
            return False
        if tag == 0x00080016:
            sop_ok = bytes(buf[vpos : vpos + length]).rstrip(b"\x00 ").decode("ascii", "replace") in sop_classes
        if tag == 0x00480007:
            return sop_ok
        pos = walker.skip(pos, head, walker.size, implicit, 0)
    return None


def find_slide_segs(folder: str | os.PathLike[str]) -> list[Path]:
    """The slide SEG files in ``folder`` and its subfolders (sorted), each recognised by :func:`is_slide_seg`."""
    return sorted(f for f in Path(folder).rglob("*") if f.is_file() and is_slide_seg(f))
