"""The slide-SEG sniff: a Deflated file is inflated only as far as Total Pixel Matrix Rows, in pieces."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

from labelmap.seg import tiled_sniff
from labelmap.seg.tiled_sniff import find_slide_segs, is_slide_seg

pytest.importorskip("highdicom")

from tests._tiled_segs import blobs, highdicom_seg  # noqa: E402


def _deflated(src, dst, private_bytes: int = 0):
    """``src`` saved Deflated, with a private OB element of ``private_bytes`` before (0048,0007) when asked."""
    ds = pydicom.dcmread(src)
    if private_bytes:
        ds.private_block(0x0009, "labelmap test", create=True).add_new(
            0x01, "OB", bytes(range(256)) * (private_bytes // 256)
        )
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(dst, enforce_file_format=True)
    return dst


def test_deflated_slide_seg_is_found_past_pieces(tmp_path, monkeypatch):
    path = highdicom_seg(tmp_path / "s.dcm", blobs(100, 120, 2), tile=(64, 64))
    plain = _deflated(path, tmp_path / "plain.dcm")
    big = _deflated(path, tmp_path / "big.dcm", private_bytes=300_000)  # spans several first pieces
    assert is_slide_seg(plain) and is_slide_seg(big)
    monkeypatch.setattr(tiled_sniff, "_FIRST_PIECE", 1 << 10)  # elements cut at many piece ends
    assert is_slide_seg(plain) and is_slide_seg(big)
    assert find_slide_segs(tmp_path) == sorted([tmp_path / "big.dcm", tmp_path / "plain.dcm", path])


def test_deflated_seg_without_a_matrix_is_not_a_slide(tmp_path, monkeypatch):
    path = highdicom_seg(tmp_path / "s.dcm", blobs(100, 120, 2), tile=(64, 64))
    ds = pydicom.dcmread(path)
    del ds.TotalPixelMatrixRows
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "no-matrix.dcm", enforce_file_format=True)
    monkeypatch.setattr(tiled_sniff, "_FIRST_PIECE", 1 << 10)
    assert not is_slide_seg(tmp_path / "no-matrix.dcm")
    (tmp_path / "cut.dcm").write_bytes((tmp_path / "no-matrix.dcm").read_bytes()[:2000])
    assert not is_slide_seg(tmp_path / "cut.dcm")
