"""Encapsulated Pixel Data (labelmap.dicom.pixels.encaps): one fragment per frame, Basic / Extended Offset Tables."""

from __future__ import annotations

import struct

from pydicom.encaps import generate_frames

from labelmap.dicom.pixels import encaps
from labelmap.dicom.pixels.encaps import encapsulate_frames


def test_encapsulate_with_basic_offset_table():
    frags = [b"\x01\x02\x03", b"", b"\x04" * 10]
    pixel_data, eot, eot_len = encapsulate_frames(frags)
    assert eot is None and eot_len is None
    tag, elem, length = struct.unpack("<HHI", pixel_data[:8])
    assert (tag, elem, length) == (0xFFFE, 0xE000, 12)
    assert struct.unpack("<3I", pixel_data[8:20]) == (0, 12, 20)
    back = list(generate_frames(pixel_data, number_of_frames=3))
    assert back == [b"\x01\x02\x03\x00", b"", b"\x04" * 10]


def test_encapsulate_with_extended_offset_table(monkeypatch):
    frags = [b"\x01\x02\x03", b"\x05\x06", b"\x04" * 10]
    pixel_data, eot, eot_len = encapsulate_frames(frags, extended_offset_table=True)
    assert pixel_data[:8] == struct.pack("<HHI", 0xFFFE, 0xE000, 0)  # BOT empty when EOT present
    assert struct.unpack("<3Q", eot) == (0, 12, 22) and struct.unpack("<3Q", eot_len) == (4, 2, 10)
    back = list(generate_frames(pixel_data, number_of_frames=3, extended_offsets=(eot, eot_len)))
    assert back[1:] == frags[1:] and back[0].startswith(frags[0])
    # automatic: an offset beyond 32 bits switches to the EOT (simulated with a small limit)
    monkeypatch.setattr(encaps, "_MAX_BOT_OFFSET", 11)
    _, eot2, _ = encapsulate_frames(frags)
    assert eot2 == eot
    pd3, eot3, _ = encapsulate_frames(frags, extended_offset_table=False)
    assert eot3 is None and pd3[:8] == struct.pack("<HHI", 0xFFFE, 0xE000, 0)
