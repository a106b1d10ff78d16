"""labelmap.dicom.walk: the validating walker of element headers, sequences and items, on small
hand-made byte strings (Explicit and Implicit VR Little Endian)."""

from __future__ import annotations

import struct

import pytest

from labelmap.dicom.dictionary import MAX_DEPTH, SEQUENCE_DELIMITER_BYTES
from labelmap.dicom.walk import Walker
from labelmap.dicom.write import item_bytes, long_element, sequence_bytes, short_element
from labelmap.errors import DicomFormatError

ROWS = short_element(0x00280010, b"US", struct.pack("<H", 512))
LABEL = short_element(0x00620005, b"LO", b"Liver ")
ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\0\0\0\0"


def _undefined_sequence(tag: int, *bodies: bytes) -> bytes:
    """A sequence and items of undefined length, each closed by its delimiter."""
    items = b"".join(b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body + ITEM_DELIMITER for body in bodies)
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\0\0\xff\xff\xff\xff" + items + SEQUENCE_DELIMITER_BYTES


def _walk(walker: Walker, buf: bytes, implicit: bool = False) -> list[int]:
    """Tags of every element, nested ones included, in file order (checks that the walk ends at the end)."""
    seen: list[int] = []

    def element(pos: int, head) -> int:
        seen.append(head[0])
        if head[1] == b"SQ":

            def item(ipos: int, limit: int) -> int:
                vpos, end, ilimit = walker.item(ipos, limit)
                return walker.elements(vpos, end, ilimit, implicit, element)

            return walker.sequence(head[3], head[2], walker.size, 1, item)
        return walker.value_end(pos, head[0], head[3], head[2], walker.size)

    pos = 0
    while pos < len(buf):
        pos = element(pos, walker.header(pos, walker.size, implicit))
    assert pos == len(buf)
    return seen


def test_headers_of_short_long_and_implicit_elements():
    buf = ROWS + long_element(0x7FE00010, b"OB", b"\1\2")
    walker = Walker(buf, "x.dcm")
    assert walker.header(0, len(buf), False) == (0x00280010, b"US", 2, 8)
    assert walker.header(10, len(buf), False) == (0x7FE00010, b"OB", 2, 22)
    implicit = struct.pack("<HHI", 0x0028, 0x0010, 2) + b"\0\2"
    assert Walker(implicit, "x.dcm").header(0, len(implicit), True) == (0x00280010, None, 2, 8)


def test_defined_and_undefined_lengths_walk_the_same_tree():
    defined = sequence_bytes(0x00620002, LABEL, LABEL + sequence_bytes(0x00620003, ROWS)) + ROWS
    undefined = _undefined_sequence(0x00620002, LABEL, LABEL + _undefined_sequence(0x00620003, ROWS)) + ROWS
    expected = [0x00620002, 0x00620005, 0x00620005, 0x00620003, 0x00280010, 0x00280010]
    assert _walk(Walker(defined, "a"), defined) == expected
    assert _walk(Walker(undefined, "b"), undefined) == expected


def test_skip_passes_nested_undefined_length_sequences():
    buf = _undefined_sequence(0x00620002, LABEL + _undefined_sequence(0x00620003, ROWS))
    walker = Walker(buf + ROWS, "x.dcm")
    head = walker.header(0, walker.size, False)
    assert walker.skip(0, head, walker.size, False, 0) == len(buf)


def test_truncated_header_names_file_and_offset():
    with pytest.raises(DicomFormatError, match=r"file truncated inside an element header .* at byte offset 10") as info:
        Walker(ROWS + ROWS[:5], "cut.dcm").header(10, 15, False)
    assert info.value.path == "cut.dcm"


def test_invalid_vr_is_refused():
    buf = ROWS[:4] + b"u\x01" + ROWS[6:]
    with pytest.raises(DicomFormatError, match=r"invalid VR b'u\\x01' at byte offset 4"):
        Walker(buf, "x.dcm").header(0, len(buf), False)


def test_value_past_the_end_of_its_item():
    item = item_bytes(LABEL)
    walker = Walker(item, "x.dcm", " of the inflated data set")
    vpos, end, limit = walker.item(0, len(item))
    assert (vpos, end, limit) == (8, len(item), len(item))
    with pytest.raises(DicomFormatError, match=r"past the end of its enclosing item or sequence \(12\)"):
        walker.value_end(8, 0x00620005, 16, 6, 12)
    with pytest.raises(DicomFormatError, match="past the end of the file .* of the inflated data set"):
        walker.value_end(8, 0x00620005, 16, 60, len(item))


def test_stray_delimiter_and_non_item_are_refused():
    walker = Walker(item_bytes(ITEM_DELIMITER), "x.dcm")
    with pytest.raises(DicomFormatError, match=r"unexpected \(FFFE,E00D\) inside an item \(expected a data element\)"):
        walker.elements(8, walker.size, walker.size, False, lambda pos, head: 0)
    seq = sequence_bytes(0x00620002, LABEL)[:12] + LABEL
    with pytest.raises(DicomFormatError, match=r"expected an item tag \(FFFE,E000\), found \(0062,0005\)"):
        Walker(seq, "x.dcm").item(12, len(seq))


def test_nesting_deeper_than_max_depth_is_refused():
    walker = Walker(b"\0" * 16, "bomb.dcm")
    with pytest.raises(DicomFormatError, match=f"nested deeper than {MAX_DEPTH} levels"):
        walker.sequence(0, 8, 16, MAX_DEPTH + 1, lambda pos, limit: limit)
