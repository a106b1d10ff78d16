"""labelmap.seg.tiled_read: slide SEGs read by bands equal highdicom's own reading of them; damaged
slide SEGs give one line naming the file and the frame; position cross-checks give one warning line."""

from __future__ import annotations

import numpy as np
import pytest
from _tiled_segs import blobs, hand_seg, highdicom_seg, reference_matrix, wsi_dataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from labelmap.errors import SegFormatError
from labelmap.seg.tiled_read import is_slide_seg, open_slide_seg

pytest.importorskip("highdicom")

SYNTAXES = {"native": ExplicitVRLittleEndian, "rle": RLELossless, "jpegls": JPEGLSLossless, "j2k": JPEG2000Lossless}
SIZES = {"odd": (1001, 777, (256, 256), 4), "small": (21, 22, (10, 10), 3)}


def _check_equal(path, seg_type):
    slide = open_slide_seg(path)
    assert slide.warnings == ()
    for layer in range(slide.layers):
        number = None if seg_type == "LABELMAP" else slide.segments[layer].number
        expected = reference_matrix(path, seg_type, number)
        got = slide.read_matrix(layer)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    return slide


@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE"])
def test_labelmap_equals_highdicom(tmp_path, organization, syntax):
    labels = blobs(1001, 777, 4)
    path = highdicom_seg(tmp_path / "s.dcm", labels, "LABELMAP", organization, syntax=SYNTAXES[syntax])
    slide = _check_equal(path, "LABELMAP")
    assert slide.seg_type == "LABELMAP" and slide.layers == 1 and slide.bits == 8
    assert [s.number for s in slide.segments] == [1, 2, 3, 4]  # the background item is not a segment
    np.testing.assert_array_equal(slide.read_matrix(), labels)
    assert slide.organization == organization


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE"])
@pytest.mark.parametrize("seg_type", ["LABELMAP", "BINARY", "FRACTIONAL"])
def test_every_type_and_odd_size_equals_highdicom(tmp_path, seg_type, organization, size):
    rows, columns, tile, n = SIZES[size]
    labels = blobs(rows, columns, n, seed=3)
    path = highdicom_seg(tmp_path / "s.dcm", labels, seg_type, organization, tile=tile)
    slide = _check_equal(path, seg_type)
    g = slide.geometry
    assert (g.rows, g.columns, g.tile_rows, g.tile_columns) == (rows, columns, *tile)
    assert slide.layers == (1 if seg_type == "LABELMAP" else len(slide.segments))


@pytest.mark.parametrize("syntax", ["j2k", "native"])
def test_binary_compressed_and_sparse_several_segments(tmp_path, syntax):
    labels = blobs(1001, 777, 5, seed=7)
    masks = np.stack([labels == k for k in range(1, 6)] + [labels > 2], axis=-1)  # overlapping segment 6
    for organization in ("TILED_FULL", "TILED_SPARSE"):
        path = highdicom_seg(
            tmp_path / f"{organization}.dcm", labels, "BINARY", organization, syntax=SYNTAXES[syntax], masks=masks
        )
        slide = _check_equal(path, "BINARY")
        assert slide.layers == 6
        np.testing.assert_array_equal(slide.read_matrix(5), masks[..., 5].astype(np.uint8))


@pytest.mark.parametrize("syntax", ["jpegls", "rle"])
def test_fractional_compressed(tmp_path, syntax):
    labels = blobs(300, 517, 2, seed=5)
    path = highdicom_seg(tmp_path / "f.dcm", labels, "FRACTIONAL", "TILED_SPARSE", syntax=SYNTAXES[syntax])
    _check_equal(path, "FRACTIONAL")


def test_sixteen_bit_labelmap_and_extended_offset_table(tmp_path):
    labels = blobs(600, 700, 300, seed=1)
    path = highdicom_seg(
        tmp_path / "s.dcm", labels, "LABELMAP", "TILED_FULL", syntax=RLELossless, use_extended_offset_table=True
    )
    slide = _check_equal(path, "LABELMAP")
    assert slide.bits == 16 and slide.dtype == np.uint16


def test_bands_are_tile_rows_in_order(tmp_path):
    labels = blobs(1001, 777, 3)
    path = highdicom_seg(tmp_path / "s.dcm", labels, "LABELMAP", "TILED_SPARSE")
    slide = open_slide_seg(path)
    bands = list(slide.iter_bands(threads=2))
    assert [r for r, _ in bands] == [0, 256, 512, 768]
    assert [b.shape for _, b in bands] == [(256, 777)] * 3 + [(233, 777)]
    assert all(b.flags.c_contiguous for _, b in bands)
    np.testing.assert_array_equal(np.concatenate([b for _, b in bands]), labels)


def test_geometry_from_the_header(tmp_path):
    labels = blobs(300, 200, 2)
    source = wsi_dataset(300, 200, (128, 128), spacing_mm=0.0005, origin=(12.5, 33.25))
    path = highdicom_seg(tmp_path / "s.dcm", labels, source=source, tile=(128, 128))
    g = open_slide_seg(path).geometry
    assert g.pixel_spacing == (0.0005, 0.0005)
    assert g.origin[:2] == (12.5, 33.25)
    assert g.orientation == (0.0, -1.0, 0.0, -1.0, 0.0, 0.0)
    assert (g.tiles_down, g.tiles_across) == (3, 2)


def test_is_slide_seg(tmp_path):
    labels = blobs(100, 120, 2)
    path = highdicom_seg(tmp_path / "s.dcm", labels, tile=(64, 64))
    assert is_slide_seg(path)
    assert not is_slide_seg(tmp_path)
    (tmp_path / "x.dcm").write_bytes(b"not dicom")
    assert not is_slide_seg(tmp_path / "x.dcm")
    wsi = wsi_dataset(100, 120, (64, 64))
    wsi.save_as(tmp_path / "wsi.dcm")
    assert not is_slide_seg(tmp_path / "wsi.dcm")  # a slide, but not a SEG


# --------------------------------------------------------------------------- hand-built
def _tiles(n, tile, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, size=(n, *tile), dtype=np.uint8)


def test_sparse_omitted_off_grid_and_overlapping_frames(tmp_path):
    tile = (10, 10)
    frames = _tiles(3, tile)
    # frame 1 on the grid, frame 2 off the grid (straddles bands), frame 3 overlaps frame 2 (later wins)
    positions = [(1, 1), (6, 13), (11, 16)]
    path = hand_seg(
        tmp_path / "s.dcm", rows=21, columns=22, tile=tile, frames=frames, positions=positions, segment_numbers=[1, 2]
    )
    expected = np.zeros((21, 22), np.uint8)
    for frame, (r, c) in zip(frames, positions):
        h, w = min(10, 21 - r + 1), min(10, 22 - c + 1)
        expected[r - 1 : r - 1 + h, c - 1 : c - 1 + w] = frame[:h, :w]
    slide = open_slide_seg(path)
    np.testing.assert_array_equal(slide.read_matrix(), expected)


def test_binary_frames_straddle_bytes(tmp_path):
    tile = (10, 10)  # 100 bits a frame: frames start mid-byte
    frames = (_tiles(6, tile, seed=2) > 1).astype(np.uint8)
    positions = [(r, c) for r in (1, 11, 21) for c in (1, 11)]
    path = hand_seg(
        tmp_path / "b.dcm",
        rows=25,
        columns=20,
        tile=tile,
        frames=frames,
        positions=positions,
        seg_type="BINARY",
        segment_numbers=[1],
    )
    expected = np.zeros((25, 20), np.uint8)
    for frame, (r, c) in zip(frames, positions):
        h = min(10, 25 - r + 1)
        expected[r - 1 : r - 1 + h, c - 1 : c + 9] = frame[:h]
    np.testing.assert_array_equal(open_slide_seg(path).read_matrix(), expected)


def test_frame_outside_the_matrix_is_one_line(tmp_path):
    frames = _tiles(2, (10, 10))
    path = hand_seg(tmp_path / "s.dcm", rows=21, columns=22, tile=(10, 10), frames=frames, positions=[(1, 1), (1, 31)])
    with pytest.raises(SegFormatError) as info:
        open_slide_seg(path)
    message = str(info.value)
    assert "\n" not in message and "s.dcm" in message and "frame 2" in message and "outside" in message
    assert "(1, 31)" in message and "21 x 22" in message


def test_tiled_full_frame_count_must_match(tmp_path):
    frames = _tiles(5, (10, 10))  # 3 x 3 tiles needed
    path = hand_seg(
        tmp_path / "s.dcm", rows=21, columns=22, tile=(10, 10), frames=frames, positions=None, organization="TILED_FULL"
    )
    with pytest.raises(SegFormatError, match=r"TILED_FULL .*9 tiles.*needs 9 frames, but Number of Frames is 5"):
        open_slide_seg(path)


def test_missing_total_pixel_matrix_is_not_a_slide(tmp_path):
    frames = _tiles(1, (10, 10))
    path = hand_seg(
        tmp_path / "s.dcm", rows=10, columns=10, tile=(10, 10), frames=frames, positions=[(1, 1)], total_matrix=False
    )
    assert not is_slide_seg(path)
    with pytest.raises(SegFormatError, match=r"s\.dcm: no Total Pixel Matrix Rows/Columns .*not a tiled slide image"):
        open_slide_seg(path)


def test_row_column_swapped_against_offsets_is_one_warning(tmp_path):
    tile = (10, 10)
    positions = [(r, c) for r in (1, 11, 21) for c in (1, 11)]
    spacing = 0.0005

    def xy(r, c):  # orientation (0,-1,0,-1,0,0): columns along -Y, rows along -X
        return 20.0 - (r - 1) * spacing, 40.0 - (c - 1) * spacing

    swapped = [xy(c, r) for r, c in positions]  # old highdicom: offsets of the transposed position
    frames = _tiles(6, tile)
    path = hand_seg(
        tmp_path / "s.dcm",
        rows=30,
        columns=20,
        tile=tile,
        frames=frames,
        positions=positions,
        offsets=swapped,
        spacing_mm=spacing,
    )
    slide = open_slide_seg(path)
    assert len(slide.warnings) == 1
    warning = slide.warnings[0]
    assert "\n" not in warning and "s.dcm" in warning
    assert "4 of 6 frames" in warning and "swapped" in warning and "placed by their Row/Column" in warning
    good = hand_seg(
        tmp_path / "g.dcm",
        rows=30,
        columns=20,
        tile=tile,
        frames=frames,
        positions=positions,
        offsets=[xy(r, c) for r, c in positions],
        spacing_mm=spacing,
    )
    assert open_slide_seg(good).warnings == ()
    np.testing.assert_array_equal(slide.read_matrix(), open_slide_seg(good).read_matrix())


def test_referenced_frame_numbers_are_cross_checked(tmp_path):
    tile = (10, 10)
    positions = [(r, c) for r in (1, 11) for c in (1, 11, 21)]
    frames = _tiles(6, tile)
    right = [1, 2, 3, 4, 5, 6]
    ok = hand_seg(
        tmp_path / "ok.dcm", rows=20, columns=30, tile=tile, frames=frames, positions=positions, ref_frames=right
    )
    assert open_slide_seg(ok).warnings == ()
    wrong = hand_seg(
        tmp_path / "w.dcm",
        rows=20,
        columns=30,
        tile=tile,
        frames=frames,
        positions=positions,
        ref_frames=[1, 4, 2, 5, 3, 6],
    )
    (warning,) = open_slide_seg(wrong).warnings
    assert "4 of 6 frames reference a source frame" in warning and "frame 2" in warning


def test_sparse_without_positions_is_one_line(tmp_path):
    frames = _tiles(2, (10, 10))
    path = hand_seg(tmp_path / "s.dcm", rows=21, columns=22, tile=(10, 10), frames=frames, positions=None)
    with pytest.raises(SegFormatError, match="no Plane Position \\(Slide\\) Sequence"):
        open_slide_seg(path)


def test_native_pixel_data_too_short(tmp_path):
    frames = _tiles(9, (10, 10))
    path = hand_seg(
        tmp_path / "s.dcm", rows=21, columns=22, tile=(10, 10), frames=frames, positions=None, organization="TILED_FULL"
    )
    import pydicom

    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:500]
    ds.save_as(path)
    with pytest.raises(
        SegFormatError, match=r"Pixel Data holds 500 bytes but 9 frames of 10 x 10 8-bit pixels need 900"
    ):
        open_slide_seg(path)


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"])
def test_implicit_and_deflated_data_sets(tmp_path, syntax):
    import pydicom

    labels = blobs(300, 260, 3, seed=8)
    path = highdicom_seg(tmp_path / "s.dcm", labels, "BINARY", "TILED_SPARSE", tile=(64, 64))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = syntax
    out = tmp_path / "t.dcm"
    ds.save_as(out, implicit_vr=syntax == "1.2.840.10008.1.2", little_endian=True)
    assert is_slide_seg(out)
    slide = open_slide_seg(out)
    for layer, number in enumerate((1, 2, 3)):
        np.testing.assert_array_equal(slide.read_matrix(layer), (labels == number).astype(np.uint8))


@pytest.mark.parametrize("seg_type", ["LABELMAP", "BINARY"])
@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE"])
def test_deflated_image_frame_compression(tmp_path, seg_type, organization):
    tile = (10, 10)
    rows, columns = 21, 22
    positions = [(r, c) for r in (1, 11, 21) for c in (1, 11, 21)]
    frames = _tiles(9, tile, seed=4)
    if seg_type == "BINARY":
        frames = (frames > 1).astype(np.uint8)
    sparse = organization == "TILED_SPARSE"
    path = hand_seg(
        tmp_path / "d.dcm",
        rows=rows,
        columns=columns,
        tile=tile,
        frames=frames,
        positions=positions if sparse else None,
        organization=organization,
        seg_type=seg_type,
        segment_numbers=[1] if seg_type == "BINARY" else None,
        deflate_frames=True,
    )
    slide = open_slide_seg(path)
    assert slide.transfer_syntax == "1.2.840.10008.1.2.8.1"
    expected = np.zeros((rows, columns), np.uint8)
    for frame, (r, c) in zip(frames, positions):
        h, w = min(10, rows - r + 1), min(10, columns - c + 1)
        expected[r - 1 : r - 1 + h, c - 1 : c - 1 + w] = frame[:h, :w]
    np.testing.assert_array_equal(slide.read_matrix(), expected)
