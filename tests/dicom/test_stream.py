"""labelmap.dicom.stream: multi-frame files assembled from spools (encapsulated with BOT / EOT, native, 1-bit)."""

from __future__ import annotations

import struct

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_fragments

from labelmap.dicom.dataset import WriteDataset
from labelmap.dicom.pixels.codecs import encode_frames
from labelmap.dicom.stream import BitSpool, FrameSpool, Spool, set_file_meta, write_frames_file
from labelmap.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN, RLE_LOSSLESS
from labelmap.errors import InputError


def _image(frames: int, rows: int, columns: int, bits: int) -> WriteDataset:
    ds = WriteDataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.2"  # Multi-frame Grayscale Byte Secondary Capture
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = max(bits - 1, 0)
    ds.PixelRepresentation = 0
    return ds


def _frames(n: int, rows: int, columns: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, rows, columns), np.uint8)
    for f in range(n):
        frames[f, rng.integers(0, rows) :, rng.integers(0, columns) :] = f % 5 + 1
    return frames


@pytest.mark.parametrize("split", [1, 3])
def test_encapsulated_frames_with_basic_offset_table(tmp_path, split):
    frames = _frames(7, 21, 22)
    coded = encode_frames(frames, RLE_LOSSLESS, bits_allocated=8)
    spools = [FrameSpool(tmp_path) for _ in range(split)]
    for i, fragment in enumerate(coded):
        spools[min(i * split // len(coded), split - 1)].add(fragment)
    ds = _image(7, 21, 22, 8)
    set_file_meta(ds, RLE_LOSSLESS)
    out = tmp_path / "rle.dcm"
    assert write_frames_file(out, ds, pixels=spools) is False
    read = pydicom.dcmread(out)
    np.testing.assert_array_equal(read.pixel_array, frames)
    assert "ExtendedOffsetTable" not in read
    # the Basic Offset Table points at each frame's item; one fragment per frame, even lengths
    raw = read.PixelData
    (bot_len,) = struct.unpack_from("<I", raw, 4)
    offsets = struct.unpack_from(f"<{bot_len // 4}I", raw, 8)
    first = 8 + bot_len
    for k, offset in enumerate(offsets):
        tag, length = struct.unpack_from("<II", raw, first + offset)
        assert tag == 0xE000FFFE and length % 2 == 0 and length >= len(coded[k])
    assert len(list(generate_fragments(raw))) == 8  # the BOT item, then one per frame


def test_extended_offset_table_when_offsets_pass_the_limit(tmp_path):
    frames = _frames(5, 10, 10, seed=3)
    coded = encode_frames(frames, RLE_LOSSLESS, bits_allocated=8)
    spool = FrameSpool(tmp_path)
    for fragment in coded:
        spool.add(fragment)
    ds = _image(5, 10, 10, 8)
    set_file_meta(ds, RLE_LOSSLESS)
    out = tmp_path / "eot.dcm"
    assert write_frames_file(out, ds, pixels=[spool], bot_limit=100) is True
    read = pydicom.dcmread(out)
    offsets = np.frombuffer(read.ExtendedOffsetTable, "<u8")
    lengths = np.frombuffer(read.ExtendedOffsetTableLengths, "<u8")
    assert len(offsets) == len(lengths) == 5 and offsets[0] == 0
    np.testing.assert_array_equal(offsets[1:], np.cumsum(lengths[:-1] + 8))
    assert struct.unpack_from("<I", read.PixelData, 4) == (0,)  # empty Basic Offset Table
    np.testing.assert_array_equal(read.pixel_array, frames)


def test_zero_length_fragment_is_refused(tmp_path):
    with FrameSpool(tmp_path) as spool, pytest.raises(ValueError, match="zero-length"):
        spool.add(b"")
    with FrameSpool(tmp_path) as spool, pytest.raises(ValueError, match="zero-length"):
        spool.add_many([b"ab", b""])


@pytest.mark.parametrize("chunks", [[100, 100, 100], [3, 100, 5, 1, 77], [8, 16, 24], [1] * 13])
def test_bit_spools_join_bit_by_bit(tmp_path, chunks):
    """1-bit frames stay continuous across appends and across spools starting inside a byte."""
    rng = np.random.default_rng(len(chunks))
    parts = [rng.integers(0, 2, n).astype(np.uint8) for n in chunks]
    spools = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            spools.append(BitSpool(tmp_path))
        spools[-1].append_bits(part)
    bits = np.concatenate(parts)
    expected = np.packbits(bits, bitorder="little").tobytes()
    ds = _image(1, 1, bits.size, 1)
    set_file_meta(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    out = tmp_path / "bits.dcm"
    write_frames_file(out, ds, pixels=spools)
    data = pydicom.dcmread(out).PixelData
    assert data[: len(expected)] == expected
    assert len(data) == len(expected) + len(expected) % 2 and data[len(expected) :] in (b"", b"\0")


def test_native_bytes_and_odd_length_padding(tmp_path):
    frames = _frames(3, 3, 5)
    spool = Spool(tmp_path)
    spool.write(frames)
    ds = _image(3, 3, 5, 8)
    set_file_meta(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    out = tmp_path / "native.dcm"
    write_frames_file(out, ds, pixels=[spool])
    read = pydicom.dcmread(out)
    assert len(read.PixelData) == 46  # 45 bytes + one pad byte
    np.testing.assert_array_equal(read.pixel_array, frames)


def test_native_over_4_gib_is_refused_before_writing(tmp_path):
    spool = Spool(tmp_path)
    spool.size = 2**32  # a claim: nothing is written, nothing read
    ds = _image(1, 65536, 65536, 8)
    set_file_meta(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    out = tmp_path / "big.dcm"
    with pytest.raises(InputError, match="4 GiB.*compressed transfer syntax or --tiled sparse"):
        write_frames_file(out, ds, pixels=[spool])
    assert not out.exists()


def test_per_frame_items_are_copied_from_their_spool(tmp_path):
    from labelmap.dicom.write import ITEM_BYTES, short_element

    frames = _frames(2, 4, 4)
    pixels, items = Spool(tmp_path), Spool(tmp_path)
    pixels.write(frames)
    for f in range(2):
        body = short_element(0x00209157, b"UL", struct.pack("<I", f + 1))  # a number per frame
        items.write(ITEM_BYTES + struct.pack("<I", len(body)) + body)
    ds = _image(2, 4, 4, 8)
    set_file_meta(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    out = tmp_path / "pf.dcm"
    write_frames_file(out, ds, pixels=[pixels], per_frame=items)
    read = pydicom.dcmread(out)
    assert [int(i.DimensionIndexValues) for i in read.PerFrameFunctionalGroupsSequence] == [1, 2]
    np.testing.assert_array_equal(read.pixel_array, frames)
