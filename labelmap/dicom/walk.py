"""The one validating walker of the DICOM sequence / item grammar (PS3.5 7.5), over a byte buffer.

Element headers, sequences and items of defined or undefined length are checked here once;
what is done with each element is the caller's: :mod:`labelmap.dicom.read` builds data sets,
:mod:`labelmap.dicom.bulk` records per-frame templates.  Every problem is a
:class:`~labelmap.errors.DicomFormatError` naming the file and the byte offset.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable

from labelmap.dicom.dictionary import (
    ITEM,
    ITEM_DELIMITER,
    LONG_VRS,
    MAX_DEPTH,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
    describe_tag,
    tag_str,
)
from labelmap.errors import DicomFormatError, ResourceError

__all__ = ["MAX_ITEMS", "Buffer", "Header", "Walker"]

#: Sequence items one file may hold outside the per-frame groups (each becomes a data set in memory).
MAX_ITEMS = 1 << 20

Buffer = bytes | mmap.mmap
#: (tag, VR bytes or None for Implicit VR and item tags, value length, value offset)
Header = tuple[int, bytes | None, int, int]

_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_TAG = struct.Struct("<HH").unpack_from


class Walker:
    """Reads element headers of ``buf`` and walks sequences and items, checking every length.

    ``name`` is the file named in errors; ``where`` follows the byte offset in them
    (e.g. ``" of the inflated data set"``).
    """

    __slots__ = ("buf", "size", "name", "where", "items")

    def __init__(self, buf: Buffer, name: str, where: str = "") -> None:
        self.buf, self.size, self.name, self.where = buf, len(buf), name, where
        self.items = 0  # items walked, against MAX_ITEMS

    # -- errors ------------------------------------------------------------------------
    def error(self, pos: int, message: str) -> DicomFormatError:
        """The error for damage found at byte ``pos``."""
        return DicomFormatError(f"{message} at byte offset {pos}{self.where}", path=self.name)

    def limit(self, pos: int, message: str) -> ResourceError:
        """The error for a count past what one file may hold (items, frames, fragments): no reader retries it."""
        return ResourceError(f"{message} at byte offset {pos}{self.where}", path=self.name)

    def past(self, pos: int, what: str, end: int, limit: int) -> DicomFormatError:
        """The error for ``what`` (at ``pos``) running to ``end``, beyond ``limit``."""
        if limit >= self.size:
            return self.error(pos, f"{what} runs to offset {end}, past the end of the file ({self.size} bytes)")
        return self.error(pos, f"{what} runs to offset {end}, past the end of its enclosing item or sequence ({limit})")

    # -- element headers -------------------------------------------------------------------
    def header(self, pos: int, limit: int, implicit: bool) -> Header:
        """(tag, VR or None, value length, value offset) of the element header at ``pos``."""
        if pos + 8 > limit:
            if limit >= self.size:
                raise self.error(
                    pos, f"file truncated inside an element header (expected 8 bytes, {self.size - pos} left)"
                )
            raise self.error(pos, f"element header crosses the end of its enclosing item or sequence ({limit})")
        group, elem = _TAG(self.buf, pos)
        tag = group << 16 | elem
        if implicit or group == 0xFFFE:
            return tag, None, _U32(self.buf, pos + 4)[0], pos + 8
        vr = bytes(self.buf[pos + 4 : pos + 6])
        if vr in LONG_VRS:
            if pos + 12 > limit:
                raise self.error(pos, f"element {describe_tag(tag)} header truncated (expected 12 bytes)")
            return tag, vr, _U32(self.buf, pos + 8)[0], pos + 12
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise self.error(pos + 4, f"element {describe_tag(tag)} has an invalid VR {vr!r}")
        return tag, vr, _U16(self.buf, pos + 6)[0], pos + 8

    def value_end(self, pos: int, tag: int, vpos: int, length: int, limit: int) -> int:
        """End of the defined-length value at ``vpos`` of the element at ``pos``, checked against ``limit``."""
        end = vpos + length
        if end > limit:
            raise self.past(pos, f"value of element {describe_tag(tag)} (length {length})", end, limit)
        return end

    def undefined_length_vr(self, pos: int, tag: int, vr: bytes | None) -> None:
        """Check that an element of undefined length may be a sequence (SQ, UN or Implicit VR)."""
        if vr not in (None, b"SQ", b"UN"):
            raise self.error(pos, f"element {tag_str(tag)} with VR {vr.decode('latin-1')} has an undefined length")

    # -- the grammar -----------------------------------------------------------------------
    def sequence(self, vpos: int, length: int, limit: int, depth: int, item: Callable[[int, int], int]) -> int:
        """Walk the items of a sequence value at ``vpos``; returns its end (after the delimiter).

        ``item(pos, limit)`` handles the item whose header is at ``pos`` (see :meth:`item`) and
        returns the offset after it.  ``depth`` is the nesting of this sequence (top level 1).
        """
        if depth > MAX_DEPTH:
            raise self.error(vpos, f"sequences nested deeper than {MAX_DEPTH} levels")
        pos = vpos
        if length != UNDEFINED_LENGTH:
            end = vpos + length
            if end > limit:
                raise self.past(vpos, f"sequence value (length {length})", end, limit)
            while pos < end:
                pos = item(pos, end)
            return pos
        while True:
            tag, _, _, ivpos = self.header(pos, limit, True)
            if tag == SEQUENCE_DELIMITER:
                return ivpos
            pos = item(pos, limit)

    def item(self, pos: int, limit: int) -> tuple[int, int | None, int]:
        """Check the item header at ``pos``: (value offset, end or None if undefined, limit for its elements)."""
        tag, _, length, vpos = self.header(pos, limit, True)
        if tag != ITEM:
            raise self.error(pos, f"expected an item tag (FFFE,E000), found {tag_str(tag)}")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise self.limit(pos, f"more than {MAX_ITEMS:,} sequence items (each costs memory to hold; a bomb?)")
        if length == UNDEFINED_LENGTH:
            return vpos, None, limit
        end = vpos + length
        if end > limit:
            raise self.past(pos, f"item (length {length})", end, limit)
        return vpos, end, end

    def elements(
        self, pos: int, end: int | None, limit: int, implicit: bool, element: Callable[[int, Header], int]
    ) -> int:
        """Walk an item's elements: up to ``end``, or through the item delimiter (``end`` None).

        ``element(pos, header)`` handles the element whose header is at ``pos`` and returns the
        offset after it.  Returns the offset after the item.
        """
        while end is None or pos < end:
            head = self.header(pos, limit, implicit)
            tag = head[0]
            if tag >> 16 == 0xFFFE:
                if tag == ITEM_DELIMITER and end is None:
                    return head[3]
                raise self.error(
                    pos,
                    f"unexpected {tag_str(tag)} inside an item (expected a data element"
                    + (" or the item delimiter (FFFE,E00D))" if end is None else ")"),
                )
            pos = element(pos, head)
        return pos

    def skip(self, pos: int, head: Header, limit: int, implicit: bool, depth: int) -> int:
        """The offset after the element at ``pos`` (header ``head``), walking undefined-length sequences."""
        tag, vr, length, vpos = head
        if length != UNDEFINED_LENGTH:
            return self.value_end(pos, tag, vpos, length, limit)
        self.undefined_length_vr(pos, tag, vr)
        inner = implicit or vr == b"UN"

        def item(ipos: int, ilimit: int) -> int:
            ivpos, iend, ilim = self.item(ipos, ilimit)
            return self.elements(ivpos, iend, ilim, inner, lambda p, h: self.skip(p, h, ilim, inner, depth + 1))

        return self.sequence(vpos, length, limit, depth + 1, item)
