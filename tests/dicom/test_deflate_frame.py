"""Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): raw DEFLATE per frame, bounded decoding, SEG files."""

from __future__ import annotations

import zlib

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from labelmap.cli.options import Compression
from labelmap.demo.sample import write_ct_series
from labelmap.dicom.pixels.codecs import codec_module, decode_frames, encode_frames, syntaxes_for_bits
from labelmap.dicom.pixels.codecs import deflate_frame as codec
from labelmap.dicom.uids import DEFLATED_IMAGE_FRAME, WRITABLE, lookup
from labelmap.errors import SegFormatError
from labelmap.model import Code, LabelVolume, SegmentDescription
from labelmap.pipeline.convert import load_source, read_seg, write_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.seg import encode as seg_encode

from _geometries import axial_geometry

SHAPES = [(21, 22), (1001, 777), (1, 1), (10, 10), (3, 5)]


def _frames(bits: int, shape, n: int = 3, seed: int = 0) -> np.ndarray:
    """Frames of blobs on background, one empty, one noisy (uint16: values above 255)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    top = {1: 1, 8: 255, 16: 65535}[bits]
    out = np.zeros((n, rows, cols), dtype=np.uint16 if bits == 16 else np.uint8)
    yy, xx = np.mgrid[:rows, :cols]
    for v in rng.integers(1, top, 5, endpoint=True):
        cy, cx, r = rng.integers(0, rows), rng.integers(0, cols), rng.integers(1, 40)
        out[0][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    if n > 2:
        out[2] = rng.integers(0, top, (rows, cols), endpoint=True)
    return out


def _expected_bytes(frame: np.ndarray, bits: int) -> bytes:
    if bits == 1:
        return np.packbits(frame.ravel(), bitorder="little").tobytes()
    return frame.astype("<u2" if bits == 16 else np.uint8).tobytes()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bits", [1, 8, 16])
def test_round_trip_and_each_frame_is_raw_deflate(shape, bits):
    frames = _frames(bits, shape)
    encoded = encode_frames(frames, "deflate-frame", bits_allocated=bits, threads=1)
    assert encode_frames(frames, DEFLATED_IMAGE_FRAME, bits_allocated=bits, threads=2) == encoded
    assert len(encoded) == len(frames) and all(len(e) % 2 == 0 for e in encoded)
    for frame, data in zip(frames, encoded):
        # RFC 1951 without a zlib header (PS3.5 A.4.13): plain zlib with a header refuses it
        d = zlib.decompressobj(-15)
        assert d.decompress(data) == _expected_bytes(frame, bits)
        assert d.eof and d.unused_data in (b"", b"\0")
        with pytest.raises(zlib.error):
            zlib.decompress(data)
    back = decode_frames(encoded, "deflate-frame", rows=shape[0], columns=shape[1], bits_allocated=bits, threads=2)
    assert back.dtype == (np.dtype("<u2") if bits == 16 else np.uint8)
    np.testing.assert_array_equal(back, frames)


def test_frames_on_threads_give_the_same_bytes(monkeypatch):
    frames = _frames(16, (64, 70), n=9)
    one = encode_frames(frames, "deflate-frame", bits_allocated=16, threads=1)
    monkeypatch.setattr(codec, "_SPLIT_BYTES", 1)
    assert encode_frames(frames, "deflate-frame", bits_allocated=16, threads=2) == one
    assert encode_frames(frames, "deflate-frame", bits_allocated=16, threads=None) == one


def test_odd_length_is_padded_with_one_nul_and_read_either_way():
    frames = _frames(8, (21, 22), n=40, seed=4)
    frames[3:] = np.random.default_rng(5).integers(0, 4, (37, 21, 22))  # streams of many lengths
    encoded = encode_frames(frames, "deflate-frame", bits_allocated=8)
    streams = [codec.raw_deflate(f.tobytes()) for f in frames]
    odd = [i for i, s in enumerate(streams) if len(s) % 2]
    assert odd and len(odd) < len(frames), "40 frames give streams of both parities"
    for i, (data, stream) in enumerate(zip(encoded, streams)):
        assert data == (stream + b"\0" if i in odd else stream)
    # a reader takes an odd stream with or without its pad
    for data in (encoded[odd[0]], streams[odd[0]]):
        back = decode_frames([data], "deflate-frame", rows=21, columns=22, bits_allocated=8)
        np.testing.assert_array_equal(back[0], frames[odd[0]])


def test_other_backends_decode_the_same_frames(monkeypatch):
    frames = _frames(16, (21, 22))
    fast = encode_frames(frames, "deflate-frame", bits_allocated=16)
    monkeypatch.setattr(codec, "_isal", None)
    zng = encode_frames(frames, "deflate-frame", bits_allocated=16)
    monkeypatch.setattr(codec, "_zng", None)
    plain = encode_frames(frames, "deflate-frame", bits_allocated=16)
    for encoded in (fast, zng, plain):
        np.testing.assert_array_equal(
            decode_frames(encoded, "deflate-frame", rows=21, columns=22, bits_allocated=16), frames
        )


def test_a_deflate_bomb_is_refused_without_inflating_it():
    bomb = zlib.compress(bytes(200 << 20), 9, wbits=-15)  # 200 MB of zeros in about 200 KB
    assert len(bomb) < 300_000
    with pytest.raises(
        SegFormatError, match=r"frame 2: .* inflates to more than the 462 bytes its Rows x Columns hold"
    ):
        decode_frames([codec.deflate_frame(bytes(462)), bomb], "deflate-frame", rows=21, columns=22, bits_allocated=8)
    # one byte too many is as wrong as 200 MB
    with pytest.raises(SegFormatError, match="inflates to more than the 462 bytes"):
        codec.inflate_frame(codec.deflate_frame(bytes(463)), 462)


def test_truncated_short_damaged_and_trailing_frames_are_errors():
    frame = _frames(8, (21, 22))[0]
    data = codec.deflate_frame(frame)
    with pytest.raises(SegFormatError, match=r"frame 1: .* ends before its last deflate block \(truncated\?"):
        decode_frames([data[: len(data) // 2]], "deflate-frame", rows=21, columns=22, bits_allocated=8)
    with pytest.raises(SegFormatError, match="inflates to 461 bytes, expected 462"):
        codec.inflate_frame(codec.deflate_frame(frame.tobytes()[:-1]), 462)
    with pytest.raises(SegFormatError, match="is damaged"):
        codec.inflate_frame(b"\xff" * 20, 462)
    with pytest.raises(SegFormatError, match="has 4 bytes after its deflate stream"):
        codec.inflate_frame(codec.raw_deflate(frame.tobytes()) + b"JUNK", 462)
    with pytest.raises(SegFormatError, match="ends before"):
        codec.inflate_frame(b"", 462)


def test_the_syntax_is_written_for_slides_only():
    ts = lookup("deflate-frame")
    assert ts is lookup(DEFLATED_IMAGE_FRAME) and ts.uid == "1.2.840.10008.1.2.8.1"
    assert ts.encapsulated and ts.writable and ts.slides_only and ts.fidelity == "lossless"
    assert codec_module(ts) is codec and codec.BITS == (1, 8, 16) and codec.DEPENDENCIES == ()
    # not a volume --compression choice, nor a volume SEG type's syntax
    assert "deflate-frame" not in WRITABLE and "deflate-frame" not in {c.value for c in Compression}
    assert ts not in syntaxes_for_bits((1,)) and ts not in syntaxes_for_bits((8, 16))
    assert ts in syntaxes_for_bits((1,), slides=True) and ts in syntaxes_for_bits((8, 16), slides=True)
    with pytest.raises(ValueError, match="not a transfer syntax"):
        _ = pydicom.uid.UID(DEFLATED_IMAGE_FRAME).is_encapsulated  # why our readers never ask pydicom


# ----------------------------------------------------------------------------- whole files
CATEGORY = Code("85756007", "SCT", "Tissue")


@pytest.fixture(scope="module")
def deflated_seg(tmp_path_factory):
    """A LABELMAP SEG written by our writer with Deflated Image Frame Compression (allowed for the test)."""
    tmp = tmp_path_factory.mktemp("deflate-frame")
    g = axial_geometry(shape=(4, 38, 33))
    write_ct_series(tmp / "ct", g)
    labels = np.zeros(g.shape, np.uint16)
    labels[1:3, 5:20, 4:9] = 1
    labels[2, 10:30, 10:30] = 300
    segs = tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=CATEGORY, label=f"seg {n}") for n in (1, 300)
    )
    out = tmp / "labelmap.dcm"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seg_encode, "WRITABLE", (*WRITABLE, "deflate-frame"))
        write_seg(
            LabelVolume(labels, g, segs),
            load_source(tmp / "ct"),
            out,
            options=WriteOptions(compression="deflate-frame"),
        )
    return out, labels, g


def test_seg_file_has_one_fragment_per_frame_and_reads_back(deflated_seg):
    path, labels, g = deflated_seg
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == DEFLATED_IMAGE_FRAME
    n = int(ds.NumberOfFrames)
    fragments = list(generate_frames(ds.PixelData, number_of_frames=n))
    assert len(fragments) == n and all(len(f) % 2 == 0 for f in fragments)
    np.testing.assert_array_equal(read_seg(path, reference=g).volume.array, labels)
    # the same through a pydicom Dataset (pydicom itself cannot decode this syntax)
    np.testing.assert_array_equal(read_seg(ds, reference=g).volume.array, labels)


def test_damaged_frame_in_a_file_names_file_and_frame(deflated_seg, tmp_path):
    path, _, g = deflated_seg
    data = bytearray(path.read_bytes())
    ds = pydicom.dcmread(path)
    first = next(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    at = bytes(data).rindex(first)
    data[at : at + len(first)] = b"\xff" * len(first)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(bytes(data))
    with pytest.raises(SegFormatError, match=r"bad\.dcm: frame 1: a Deflated Image Frame Compression frame is damaged"):
        read_seg(bad, reference=g)
