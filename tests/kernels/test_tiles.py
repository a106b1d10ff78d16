"""labelmap.kernels.tiles: each kernel against a plain NumPy reference on odd sizes, threads 1 and 2."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import misuse, spy_parts
from PIL import Image

from labelmap import kernels
from labelmap.kernels import tiles as kt

# (band rows h, band width W, tile rows, tile columns): full and short last bands, W below a tile
CASES = [
    (256, 777, 256, 256),  # 1,001 x 777 with 256 tiles: a full band
    (233, 777, 256, 256),  # ... and its last band (1,001 = 3 x 256 + 233)
    (10, 22, 10, 10),  # 21 x 22 with 10 x 10 tiles
    (1, 22, 10, 10),  # ... its last band of one row
    (7, 5, 10, 10),  # W < tile width: one padded tile
    (3, 1, 4, 6),
    (5, 17, 5, 1),  # one-column tiles
]
DTYPES = [np.uint8, np.uint16, np.bool_]


def _labels(h: int, w: int, dtype, seed: int = 0) -> np.ndarray:
    """Label rows with runs, blobs and empty tiles; uint16 values above 255 too."""
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random((h, w)) < 0.3
    top = 20 if dtype == np.uint8 else 3000
    out = rng.integers(0, top, (h, w)).astype(dtype)
    out[:, ::3] = 0
    out[:, w // 3 : w // 3 + 7] = 0  # a stretch of background: some tiles are empty
    if w > 12:
        out[:, -5:] = 0
    return out


def ref_tiles(band: np.ndarray, tr: int, tc: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    h, w = band.shape
    n = -(-w // tc)
    pad = np.zeros((tr, n * tc), dtype=band.dtype)
    pad[:h, :w] = band
    tiles = pad.reshape(tr, n, tc).transpose(1, 0, 2)
    present = (tiles != 0).any(axis=(1, 2))
    if dtype == np.uint8 and band.dtype == np.uint16:
        tiles = tiles & 0xFF
    return np.ascontiguousarray(tiles.astype(dtype)), present


def ref_pack(band: np.ndarray, tr: int, tc: int, value, bit_offset: int) -> tuple[np.ndarray, np.ndarray]:
    mask = band != 0 if value is None else band == value
    tiles, present = ref_tiles(mask.astype(np.uint8), tr, tc, np.uint8)
    bits = np.concatenate([np.zeros(bit_offset, np.uint8), tiles.ravel()])
    return np.packbits(bits, bitorder="little"), present


@pytest.fixture
def split_small(monkeypatch):
    """Let even tiny bands split over threads, and record the part counts."""
    monkeypatch.setattr(kt, "_SPLIT_BYTES", 1)
    return spy_parts(monkeypatch, kt)


# --- band_to_tiles / tiles_to_band ---


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_band_to_tiles_matches_reference(case, dtype, threads, split_small):
    h, w, tr, tc = case
    band = _labels(h, w, dtype)
    band[:, tc : 2 * tc] = 0  # tile 1 (where there is one) is empty
    band[-1, 0] = 1  # tile 0 is not
    tiles, present = kernels.band_to_tiles(band, tr, tc, threads=threads)
    want, want_present = ref_tiles(band, tr, tc, dtype)
    assert tiles.dtype == dtype and tiles.flags.c_contiguous
    np.testing.assert_array_equal(tiles, want)
    np.testing.assert_array_equal(present, want_present)
    assert present.dtype == np.bool_
    assert present[0] and (w <= tc or not present[1])
    n = tiles.shape[0]
    assert split_small[-1] == min(threads, n)
    back = kernels.tiles_to_band(tiles, w, h, threads=threads)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, band)


@pytest.mark.parametrize("case", CASES[:4])
@pytest.mark.parametrize("threads", [1, 2])
def test_uint16_narrowed_to_uint8_and_widened_back(case, threads, split_small):
    h, w, tr, tc = case
    band = (_labels(h, w, np.uint8) * 11).astype(np.uint16)  # values fit a byte
    tiles, present = kernels.band_to_tiles(band, tr, tc, dtype=np.uint8, threads=threads)
    want, want_present = ref_tiles(band, tr, tc, np.uint8)
    assert tiles.dtype == np.uint8
    np.testing.assert_array_equal(tiles, want)
    np.testing.assert_array_equal(present, want_present)
    out = np.full((h + 3, w), 9999, dtype=np.uint16)
    got = kernels.tiles_to_band(tiles, w, h, out=out[2 : 2 + h], threads=threads)
    np.testing.assert_array_equal(got, band)
    assert (out[:2] == 9999).all() and (out[2 + h :] == 9999).all()


def test_band_to_tiles_takes_strided_rows_and_column_windows_and_fills_out():
    big = _labels(40, 53, np.uint16, seed=3)
    band = big[5:15, 7:30]  # row stride of the parent, contiguous columns
    out = np.full((3, 10, 10), 77, dtype=np.uint16)
    tiles, present = kernels.band_to_tiles(band, 10, 10, out=out)
    assert tiles is out
    want, want_present = ref_tiles(np.ascontiguousarray(band), 10, 10, np.uint16)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(present, want_present)
    # a band with strided columns and big-endian values is copied first
    flipped = big[:10, ::2].astype(">u2")
    tiles, _ = kernels.band_to_tiles(flipped, 10, 4)
    np.testing.assert_array_equal(tiles, ref_tiles(big[:10, ::2], 10, 4, np.uint16)[0])


def test_bool_band_to_uint8_tiles_and_back_into_bool():
    band = _labels(9, 23, np.bool_, seed=5)
    tiles, present = kernels.band_to_tiles(band, 10, 10, dtype=np.uint8)
    np.testing.assert_array_equal(tiles, ref_tiles(band, 10, 10, np.uint8)[0])
    back = kernels.tiles_to_band(tiles.astype(bool), 23, 9, out=np.zeros((9, 23), bool))
    np.testing.assert_array_equal(back, band)


def test_empty_band_has_no_present_tile():
    tiles, present = kernels.band_to_tiles(np.zeros((3, 25), np.uint16), 4, 10, dtype=np.uint8)
    assert tiles.shape == (3, 4, 10) and not tiles.any() and not present.any()


def test_band_to_tiles_misuse():
    band = np.zeros((5, 8), np.uint8)
    with misuse(TypeError, "band_to_tiles: expected a uint8, uint16 or bool band, got data type int32"):
        kernels.band_to_tiles(band.astype(np.int32), 5, 5)
    with misuse(TypeError, "band_to_tiles: expected a uint8, uint16 or bool band, got data type float64"):
        kernels.band_to_tiles(band.astype(float), 5, 5)
    with misuse(ValueError, r"band_to_tiles: expected a 2-D \(rows, columns\) band, got shape \(40,\)"):
        kernels.band_to_tiles(band.ravel(), 5, 5)
    with misuse(ValueError, "band_to_tiles: a band has at most tile_rows = 4 rows, got 5"):
        kernels.band_to_tiles(band, 4, 5)
    with misuse(ValueError, "band_to_tiles: the band of 0 x 8 pixels holds no pixel"):
        kernels.band_to_tiles(band[:0], 4, 5)
    with misuse(ValueError, "band_to_tiles: tiles must have at least one row and one column, got 5 x 0"):
        kernels.band_to_tiles(band, 5, 0)
    with misuse(TypeError, "band_to_tiles: dtype must be uint8, uint16 or bool, got int16"):
        kernels.band_to_tiles(band, 5, 5, dtype=np.int16)
    with misuse(TypeError, "band_to_tiles: bool tiles need a bool band, got data type uint8"):
        kernels.band_to_tiles(band, 5, 5, dtype=bool)
    with misuse(ValueError, r"band_to_tiles: out must have shape \(2, 5, 5\), got \(2, 5, 4\)"):
        kernels.band_to_tiles(band, 5, 5, out=np.zeros((2, 5, 4), np.uint8))
    with misuse(TypeError, "band_to_tiles: out must be a uint8 numpy array"):
        kernels.band_to_tiles(band, 5, 5, out=np.zeros((2, 5, 5), np.uint16))
    with misuse(ValueError, "band_to_tiles: out must be a writeable C-contiguous array"):
        kernels.band_to_tiles(band, 5, 5, out=np.zeros((2, 5, 10), np.uint8)[:, :, ::2])


def test_tiles_to_band_misuse():
    tiles = np.zeros((3, 4, 10), np.uint8)
    with misuse(TypeError, "tiles_to_band: expected uint8, uint16 or bool tiles, got data type int64"):
        kernels.tiles_to_band(tiles.astype(np.int64), 25)
    with misuse(ValueError, r"tiles_to_band: expected \(tiles, tile_rows, tile_columns\), got shape \(4, 10\)"):
        kernels.tiles_to_band(tiles[0], 25)
    with misuse(ValueError, "tiles_to_band: a band 31 pixels wide has 4 tiles of 10 columns, got 3"):
        kernels.tiles_to_band(tiles, 31)
    with misuse(ValueError, "tiles_to_band: width must be at least 1, got 0"):
        kernels.tiles_to_band(tiles, 0)
    with misuse(ValueError, r"tiles_to_band: rows must be 1..4 \(tile_rows\), got 5"):
        kernels.tiles_to_band(tiles, 25, 5)
    with misuse(ValueError, r"tiles_to_band: out must have shape \(4, 25\), got \(4, 26\)"):
        kernels.tiles_to_band(tiles, 25, out=np.zeros((4, 26), np.uint8))
    with misuse(TypeError, "tiles_to_band: cannot copy uint16 tiles into a uint8 out"):
        kernels.tiles_to_band(tiles.astype(np.uint16), 25, out=np.zeros((4, 25), np.uint8))
    with misuse(ValueError, "tiles_to_band: out must be writeable, with contiguous columns"):
        kernels.tiles_to_band(tiles, 25, out=np.zeros((4, 50), np.uint8)[:, ::2])


# --- count_values ---


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_count_values_adds_a_histogram(dtype, threads, split_small):
    band = _labels(233, 777, dtype, seed=1)[:, 3:]  # strided rows
    counts = np.zeros(65536 if dtype == np.uint16 else 256, np.int64)
    counts[0] = 5
    got = kernels.count_values(band, counts, threads=threads)
    assert split_small == [threads]
    assert got is counts
    want = np.bincount(band.astype(np.int64).ravel(), minlength=counts.size)
    want[0] += 5
    np.testing.assert_array_equal(counts, want)
    kernels.count_values(band[:0], counts)  # no rows: nothing added
    np.testing.assert_array_equal(counts, want)


def test_count_values_misuse():
    band = np.zeros((3, 4), np.uint16)
    with misuse(ValueError, r"count_values: a uint16 band needs counts of shape \(65536,\), got \(256,\)"):
        kernels.count_values(band, np.zeros(256, np.int64))
    with misuse(TypeError, "count_values: counts must be an int64 numpy array, got ndarray"):
        kernels.count_values(band, np.zeros(65536, np.int32))
    with misuse(TypeError, "count_values: expected a uint8, uint16 or bool band, got data type int8"):
        kernels.count_values(band.astype(np.int8), np.zeros(256, np.int64))
    with misuse(ValueError, "count_values: counts must be a writeable C-contiguous array"):
        kernels.count_values(band, np.zeros(2 * 65536, np.int64)[::2])


# --- pack_tile_bits / unpack_tile_bits ---


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bit_offset", range(8))
def test_pack_tile_bits_matches_reference(case, dtype, bit_offset):
    h, w, tr, tc = case
    band = _labels(h, w, dtype, seed=bit_offset)
    for value in (None, 1, 0) if dtype == np.bool_ else (None, 0, 2, 17):
        packed, present = kernels.pack_tile_bits(band, tr, tc, value=value, bit_offset=bit_offset)
        want, want_present = ref_pack(band, tr, tc, value, bit_offset)
        assert packed.size == kernels.tile_bits_length(-(-w // tc), tr, tc, bit_offset) == want.size
        np.testing.assert_array_equal(packed, want)
        np.testing.assert_array_equal(present, want_present)
        back = kernels.unpack_tile_bits(packed.tobytes(), -(-w // tc), tr, tc, bit_offset=bit_offset)
        mask = band != 0 if value is None else band == value
        np.testing.assert_array_equal(back, ref_tiles(mask.astype(np.uint8), tr, tc, np.uint8)[0])


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
@pytest.mark.parametrize("bit_offset", [0, 3, 7])
def test_pack_tile_bits_on_threads_shares_the_bytes_where_parts_meet(threads, bit_offset, split_small):
    # 10 x 10 tiles: 100 bits a frame, so every other frame starts mid-byte
    band = _labels(10, 97, np.uint16, seed=7)
    packed, present = kernels.pack_tile_bits(band, 10, 10, value=None, bit_offset=bit_offset, threads=threads)
    want, want_present = ref_pack(band, 10, 10, None, bit_offset)
    np.testing.assert_array_equal(packed, want)
    np.testing.assert_array_equal(present, want_present)
    if threads > 1:
        assert split_small[-2:] == [threads, threads]  # 2 x threads parts: the evens at once, then the odds


def test_pack_tile_bits_continues_a_stream_in_out():
    """Two bands of one segment packed back to back: 3 frames of 100 bits, then 3 from bit 300 (byte 37, bit 4)."""
    first, second = _labels(10, 22, np.uint8, seed=1), _labels(4, 22, np.uint8, seed=2)
    a, _ = kernels.pack_tile_bits(first, 10, 10, value=2)
    need = kernels.tile_bits_length(3, 10, 10, 4)
    out = np.full(need + 2, 0xAB, np.uint8)
    out[0] = a[-1]  # the stream's partly filled last byte
    _, present = kernels.pack_tile_bits(second, 10, 10, value=2, bit_offset=4, out=out)
    stream = np.concatenate([a[:-1], out[:need]])
    frames = [ref_tiles((band == 2).astype(np.uint8), 10, 10, np.uint8)[0] for band in (first, second)]
    want = np.packbits(np.concatenate(frames).ravel(), bitorder="little")
    np.testing.assert_array_equal(stream, want)
    np.testing.assert_array_equal(present, (frames[1] != 0).any(axis=(1, 2)))
    assert (out[need:] == 0xAB).all()  # bytes past the stream are left alone
    np.testing.assert_array_equal(kernels.unpack_tile_bits(stream, 6, 10, 10), np.concatenate(frames))


def test_unpack_tile_bits_of_every_offset_and_length():
    rng = np.random.default_rng(4)
    data = rng.integers(0, 256, 40, dtype=np.uint8)
    bits = np.unpackbits(data, bitorder="little")
    for off in range(8):
        for n, tr, tc in [(3, 7, 5), (1, 1, 1), (2, 10, 10), (0, 3, 3)]:
            got = kernels.unpack_tile_bits(data, n, tr, tc, bit_offset=off)
            np.testing.assert_array_equal(got.ravel(), bits[off : off + n * tr * tc])
            assert got.shape == (n, tr, tc)


def test_pack_and_unpack_tile_bits_misuse():
    band = np.zeros((5, 8), np.uint8)
    with misuse(ValueError, "pack_tile_bits: value must be 0..255 for a uint8 band, got 256"):
        kernels.pack_tile_bits(band, 5, 5, value=256)
    with misuse(ValueError, "pack_tile_bits: value must be 0..1 for a bool band, got 2"):
        kernels.pack_tile_bits(band.astype(bool), 5, 5, value=2)
    with misuse(ValueError, r"pack_tile_bits: bit_offset must be 0..7 \(a bit of the first byte\), got 8"):
        kernels.pack_tile_bits(band, 5, 5, bit_offset=8)
    with misuse(ValueError, "pack_tile_bits: 2 tiles of 5 x 5 pixels from bit 3 need 7 bytes, out has 6"):
        kernels.pack_tile_bits(band, 5, 5, bit_offset=3, out=np.zeros(6, np.uint8))
    with misuse(TypeError, "pack_tile_bits: out must be a 1-D uint8 numpy array"):
        kernels.pack_tile_bits(band, 5, 5, out=np.zeros(7, np.int8))
    with misuse(ValueError, "pack_tile_bits: a band has at most tile_rows = 4 rows, got 5"):
        kernels.pack_tile_bits(band, 4, 5)
    with misuse(TypeError, "pack_tile_bits: expected a uint8, uint16 or bool band, got data type int16"):
        kernels.pack_tile_bits(band.astype(np.int16), 5, 5)
    with misuse(ValueError, "unpack_tile_bits: 2 frames of 5 x 5 pixels from bit 1 need 7 bytes, got 6"):
        kernels.unpack_tile_bits(bytes(6), 2, 5, 5, bit_offset=1)
    with misuse(TypeError, "unpack_tile_bits: expected uint8 bytes, got data type int64"):
        kernels.unpack_tile_bits(np.zeros(7, np.int64), 2, 5, 5)
    with misuse(ValueError, "unpack_tile_bits: n_tiles must be >= 0, got -1"):
        kernels.unpack_tile_bits(bytes(7), -1, 5, 5)


# --- nearest_indices / downsample_nearest ---

SIZES = [(1001, 777, 500, 388), (21, 22, 10, 11), (7, 5, 3, 2), (1, 9, 1, 4), (13, 17, 13, 17), (5, 3, 9, 7)]


@pytest.mark.parametrize("size", SIZES)
def test_nearest_indices_match_pillow_nearest(size):
    h, w, dh, dw = size
    values = np.arange(h * w, dtype=np.int32).reshape(h, w)
    pil = np.asarray(Image.fromarray(values, mode="I").resize((dw, dh), Image.Resampling.NEAREST))
    rows, cols = kernels.nearest_indices(h, dh), kernels.nearest_indices(w, dw)
    assert rows.dtype == np.int64 and (np.diff(rows) >= 0).all()
    np.testing.assert_array_equal(values[rows][:, cols], pil)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_downsample_nearest_matches_pillow_and_indexing(size, dtype):
    h, w, dh, dw = size
    band = _labels(h, w, dtype, seed=h)
    rows, cols = kernels.nearest_indices(h, dh), kernels.nearest_indices(w, dw)
    got = kernels.downsample_nearest(band, rows, cols)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, band[rows][:, cols])
    if dtype == np.uint8:
        pil = np.asarray(Image.fromarray(band).resize((dw, dh), Image.Resampling.NEAREST))
        np.testing.assert_array_equal(got, pil)


def test_downsample_nearest_into_rows_of_a_level():
    band = _labels(256, 777, np.uint16, seed=2)
    level = np.zeros((500, 388), np.uint16)
    rows = kernels.nearest_indices(1001, 500)
    cols = kernels.nearest_indices(777, 388)
    mine = rows[(rows >= 256) & (rows < 512)] - 256  # output rows that fall in band 1 (rows 256..511)
    first = int(np.searchsorted(rows, 256))
    got = kernels.downsample_nearest(band, mine, cols, out=level[first : first + mine.size])
    np.testing.assert_array_equal(got, band[mine][:, cols])
    assert got.base is level and not level[:first].any() and not level[first + mine.size :].any()


def test_nearest_and_downsample_misuse():
    band = np.zeros((5, 8), np.uint8)
    with misuse(ValueError, r"nearest_indices: lengths must be at least 1, got 5 -> 0"):
        kernels.nearest_indices(5, 0)
    with misuse(ValueError, r"row_index\[1\] = 5 is outside 0..4 \(the band has 5 rows\)"):
        kernels.downsample_nearest(band, [0, 5], [1])
    with misuse(ValueError, r"col_index\[0\] = -1 is outside 0..7 \(the band has 8 columns\)"):
        kernels.downsample_nearest(band, [0], [-1])
    with misuse(TypeError, "col_index: expected integers, got data type float64"):
        kernels.downsample_nearest(band, [0], [1.0])
    with misuse(ValueError, r"downsample_nearest: out must have shape \(1, 1\), got \(2, 1\)"):
        kernels.downsample_nearest(band, [0], [1], out=np.zeros((2, 1), np.uint8))
    with misuse(TypeError, "downsample_nearest: out must be a uint8 numpy array"):
        kernels.downsample_nearest(band, [0], [1], out=np.zeros((1, 1), np.uint16))
