"""labelmap.dicom.pixel_index: frames of a Pixel Data value located by item headers (one fragment per
frame, Basic or Extended Offset Table), read by pread; damaged items named."""

from __future__ import annotations

import struct

import pytest

from labelmap.dicom.bulk import read_header_before_pixels
from labelmap.dicom.pixel_index import locate_frames
from labelmap.errors import DicomFormatError

ITEM = b"\xfe\xff\x00\xe0"
DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
HEADER = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"


def _file(tmp_path, items: list[bytes], table: list[int] | None = None, *, end: bytes = DELIMITER):
    """A file of junk, then an encapsulated Pixel Data element at offset 100."""
    bot = b"".join(struct.pack("<I", v) for v in table or [])
    body = HEADER + ITEM + struct.pack("<I", len(bot)) + bot
    body += b"".join(ITEM + struct.pack("<I", len(i)) + i for i in items) + end
    path = tmp_path / "p.bin"
    path.write_bytes(b"\0" * 100 + body)
    return str(path)


def _frames(loc, n):
    fd = loc.open()
    try:
        return [loc.codestream(fd, k) for k in range(n)]
    finally:
        import os

        os.close(fd)


def test_one_fragment_per_frame(tmp_path):
    path = _file(tmp_path, [b"ab", b"cdef", b"gh"])
    loc = locate_frames(path, 100, False, "1.2.840.10008.1.2.5", 3)
    assert loc.encapsulated and _frames(loc, 3) == [b"ab", b"cdef", b"gh"]


def test_fragments_grouped_by_the_basic_offset_table(tmp_path):
    items = [b"ab", b"cd", b"efgh", b"ij"]
    path = _file(tmp_path, items, table=[0, 10 + 10, 20 + 12])  # frame 1 = items 1-2, frame 2 = 3, frame 3 = 4
    loc = locate_frames(path, 100, False, "1.2.840.10008.1.2.5", 3)
    assert _frames(loc, 3) == [b"abcd", b"efgh", b"ij"]


def test_fragments_grouped_by_the_extended_offset_table(tmp_path):
    items = [b"ab", b"cd", b"efgh"]
    path = _file(tmp_path, items)
    eot = struct.pack("<2Q", 0, 20)
    loc = locate_frames(path, 100, False, "1.2.840.10008.1.2.5", 2, eot)
    assert _frames(loc, 2) == [b"abcd", b"efgh"]


def test_ungroupable_fragments_are_an_error(tmp_path):
    path = _file(tmp_path, [b"ab", b"cd", b"ef"])
    with pytest.raises(DicomFormatError, match="3 Pixel Data fragments for 2 frames and no offset table entries"):
        locate_frames(path, 100, False, "1.2.840.10008.1.2.5", 2)


def test_damaged_items_are_named(tmp_path):
    path = _file(tmp_path, [b"ab"], end=b"\x01\x02\x03\x04\0\0\0\0")
    with pytest.raises(DicomFormatError, match=r"found \(0201,0403\) at byte offset"):
        locate_frames(path, 100, False, "1.2.840.10008.1.2.5", 1)
    path = _file(tmp_path, [b"ab"], end=b"")
    with pytest.raises(DicomFormatError, match="truncated inside encapsulated Pixel Data"):
        locate_frames(path, 100, False, "1.2.840.10008.1.2.5", 1)


def test_native_value_and_short_reads(tmp_path):
    path = tmp_path / "n.bin"
    path.write_bytes(b"\0" * 10 + b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", 6) + b"abcdef")
    loc = locate_frames(str(path), 10, False, "1.2.840.10008.1.2.1", 3)
    assert not loc.encapsulated and (loc.offset, loc.length) == (22, 6)
    fd = loc.open()
    assert loc.read(fd, 22, 6) == b"abcdef"
    with pytest.raises(DicomFormatError, match="short"):
        loc.read(fd, 24, 10)
    import os

    os.close(fd)


def test_header_before_pixels_does_not_read_them(tmp_path):
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.66.7", "1.2.3"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.SamplesPerPixel = 8, 1
    ds.NumberOfFrames = 2
    ds.PixelData = np.arange(32, dtype=np.uint8).tobytes()
    path = tmp_path / "x.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    header, values, pos = read_header_before_pixels(path, {})
    assert values is None and header.ds.Rows == 4
    loc = locate_frames(str(path), pos, header.implicit, header.transfer_syntax, 2)
    assert loc.length == 32 and path.read_bytes()[loc.offset : loc.offset + 4] == bytes([0, 1, 2, 3])
