"""The bounded readers of :mod:`labelmap.dicom.compact` against the plain map of the bulk reader.

Files of ``COMPACT_FROM`` bytes and more are read piece by piece with large values skipped;
lowering that threshold reads small files the same way, which must give the same elements,
per-frame values and pixels.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from labelmap.dicom import bulk, compact
from labelmap.dicom.read import read_meta
from labelmap.errors import DicomFormatError, ResourceError
from labelmap.seg.decode import decode_labelmap
from labelmap.seg.perframe import FIELD_PATHS

from _segfiles import write_files

KINDS = ["lm8-none", "lm16-implicit", "bin-none", "lm8-rle", "frac-none"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    _, found = write_files(tmp_path_factory.mktemp("compact"), which=KINDS + ["lm8-deflate"])
    return found


def _pixels(info: bulk.PixelDataInfo) -> list[bytes]:
    if not info.encapsulated:
        return [info.read_native().tobytes()]
    source = info.buffer if info.buffer is not None else info.path.read_bytes()
    return [bytes(source[o : o + n]) for o, n in info.fragments]


@pytest.mark.parametrize("kind", KINDS)
def test_compacted_read_matches_the_map(files, kind, monkeypatch):
    plain = bulk.read_multiframe_header(files[kind], FIELD_PATHS)
    monkeypatch.setattr(bulk, "COMPACT_FROM", 0)
    small = bulk.read_multiframe_header(files[kind], FIELD_PATHS)
    assert small[0].raw == plain[0].raw
    assert small[1].n_frames == plain[1].n_frames and small[1].columns == plain[1].columns
    assert _pixels(small[2]) == _pixels(plain[2])


def test_compacted_labelmap_decodes_the_same(files, monkeypatch):
    want = decode_labelmap(files["lm8-none"]).volume.array.copy()
    monkeypatch.setattr(bulk, "COMPACT_FROM", 0)
    np.testing.assert_array_equal(decode_labelmap(files["lm8-none"]).volume.array, want)


def test_skippable_rule():
    big = compact.SKIP_FROM
    assert compact.skippable(0x52011000, b"OB", big)
    assert not compact.skippable(0x52011000, b"OB", big - 1)
    assert not compact.skippable(0x52011000, b"SQ", big)
    assert not compact.skippable(0x7FE00010, b"OB", 1 << 31)
    assert not compact.skippable(0x00081115, None, big)  # Implicit VR: a sequence by the dictionary
    assert compact.skippable(0x00091000, None, big)  # unknown: not a sequence


def _deflated(files, tmp_path, insert: bytes, tail: bytes = b"") -> Path:
    raw = files["lm8-deflate"].read_bytes()
    _, start = read_meta(raw, "x")
    data = zlib.decompress(raw[start:], -15)
    pos = data.rfind(b"\xe0\x7f\x10\x00")
    path = tmp_path / "d.dcm"
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    path.write_bytes(raw[:start] + c.compress(data[:pos] + insert + data[pos:]) + c.compress(tail) + c.flush())
    return path


def test_inflate_drops_a_large_private_value(files, tmp_path):
    value = bytes(compact.SKIP_FROM + 5)
    path = _deflated(files, tmp_path, struct.pack("<HH2sHI", 0x5201, 0x1000, b"OB", 0, len(value)) + value)
    header, values, pixel = bulk.read_multiframe_header(path, FIELD_PATHS)
    assert len(pixel.buffer) < compact.SKIP_FROM  # the value was never kept
    assert values.n_frames == 4 and pixel.present


def test_inflate_refuses_pixel_data_far_beyond_the_grid(files, tmp_path):
    claim = struct.pack("<HH2sHI", 0x7FE0, 0x10, b"OB", 0, 1 << 30)
    raw = files["lm8-deflate"].read_bytes()
    _, start = read_meta(raw, "x")
    data = zlib.decompress(raw[start:], -15)
    pos = data.rfind(b"\xe0\x7f\x10\x00")
    path = tmp_path / "p.dcm"
    path.write_bytes(raw[:start] + zlib.compress(data[:pos] + claim + bytes(1000), 6)[2:-4])
    with pytest.raises(DicomFormatError, match=r"Pixel Data \(length 1073741824\) is longer than Rows x Columns"):
        bulk.read_multiframe_header(path, FIELD_PATHS)


def test_inflate_keep_limit(files, tmp_path, monkeypatch):
    monkeypatch.setattr(compact, "KEEP_LIMIT", 1 << 20)
    seq = struct.pack("<HH2sHI", 0x5201, 0x1001, b"SQ", 0, 0xFFFFFFFF)
    path = _deflated(files, tmp_path, seq, bytes(4 << 20))
    with pytest.raises(ResourceError, match="more than 1.0 MiB besides its Pixel Data"):
        bulk.read_multiframe_header(path, FIELD_PATHS)


def test_truncated_deflate_stream(files, tmp_path):
    raw = files["lm8-deflate"].read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(raw[: len(raw) - 40])
    with pytest.raises(DicomFormatError, match="truncated"):
        bulk.read_multiframe_header(path, FIELD_PATHS)
