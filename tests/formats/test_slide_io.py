"""Slide label images (labelmap.formats.slide_io): TIFF / OME-TIFF / PNG / 2-D NRRD / .npy read by
bands, written by bands; every file here is written by tifffile, Pillow, pynrrd or numpy in the test."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from labelmap.errors import ImageFormatError, MissingDependencyError, UnsupportedError
from labelmap.formats.slide_io import read_slide_labels, write_slide_labels
from labelmap.model import SlideGeometry

tifffile = pytest.importorskip("tifffile")

SIZES = [(1001, 777), (21, 22)]
#: band ranges that cut tiles and strips anywhere (clipped to the image)
RANGES = [(0, None), (0, 1), (3, 17), (250, 270), (255, 257), (600, 1001), (-7, None)]


def _labels(shape, dtype, seed=0, layers=None):
    """Label-like data: background on the left third, small classes elsewhere, extremes kept."""
    rng = np.random.default_rng(seed)
    full = shape if layers is None else (layers, *shape)
    if np.dtype(dtype).kind == "f":
        a = rng.random(full).astype(dtype)
    elif np.dtype(dtype) == np.bool_:
        a = rng.random(full) < 0.3
    else:
        a = rng.integers(0, 6, full).astype(dtype)
        a.reshape(-1)[-1] = np.iinfo(dtype).max
    a[..., : shape[1] // 3] = 0
    return a


def _check_bands(layer, expected):
    rows = expected.shape[0]
    assert layer.shape == expected.shape
    for start, stop in RANGES:
        start = max(0, min(rows - 1, start if start >= 0 else rows + start))
        stop = rows if stop is None else min(rows, stop)
        band = layer.read_rows(start, stop)
        assert band.flags.c_contiguous and band.dtype == expected.dtype.newbyteorder("=")
        np.testing.assert_array_equal(band, expected[start:stop], err_msg=f"rows {start}:{stop}")
    # every row once, in bands of an odd height (the writer's order)
    got = np.concatenate([layer.read_rows(r, min(rows, r + 97)) for r in range(0, rows, 97)])
    np.testing.assert_array_equal(got, expected)


def _bands(array, heights=(1, 96, 255, 256, 300)):
    """(row0, band) pairs of varying heights, in row order."""
    rows = array.shape[-2]
    r, k = 0, 0
    while r < rows:
        h = heights[k % len(heights)]
        yield r, array[..., r : r + h, :]
        r += h
        k += 1


def _one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    text = str(exc.value)
    assert "\n" not in text
    for w in words:
        assert w in text, text
    return text


# --------------------------------------------------------------------------- TIFF read
def _codec(name: str) -> bool:
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(getattr(getattr(imagecodecs, name.upper(), None), "available", False))


COMPRESSIONS = [None, "zlib", "packbits"] + [c for c in ("lzw", "zstd") if _codec(c)]


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("layout", ["tiled", "striped"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_band_reads_equal_the_array(tmp_path, shape, compression, layout, dtype):
    a = _labels(shape, dtype)
    path = tmp_path / "labels.tif"
    kw = {"tile": (256, 128)} if layout == "tiled" else {"rowsperstrip": 7}
    tifffile.imwrite(path, a, compression=compression, photometric="minisblack", **kw)
    layers, hint = read_slide_labels(path)
    assert len(layers) == 1 and hint is None
    _check_bands(layers[0], a)


@pytest.mark.parametrize("predictor", [1, 2])
@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<i4", ">f4", "u1"])
def test_tiff_deflate_fast_path_predictors_and_byte_orders(tmp_path, predictor, dtype):
    a = _labels((1001, 777), np.dtype(dtype).newbyteorder("="))
    if np.dtype(dtype).kind == "f" and predictor == 2:
        predictor = 3  # floating-point predictor: tifffile's decoder
    path = tmp_path / "labels.tif"
    tifffile.imwrite(
        path,
        a,
        compression="zlib",
        predictor=predictor,
        tile=(64, 96),
        photometric="minisblack",
        byteorder=np.dtype(dtype).byteorder if np.dtype(dtype).byteorder in "<>" else None,
    )
    layers, _ = read_slide_labels(path)
    assert layers[0].dtype == np.dtype(dtype).newbyteorder("=")
    _check_bands(layers[0], a)


def test_bigtiff_and_single_strip(tmp_path):
    a = _labels((1001, 777), np.uint16)
    for name, kw in (("big.tif", {"bigtiff": True, "tile": (32, 32)}), ("strip.tif", {})):
        tifffile.imwrite(tmp_path / name, a, compression="zlib", photometric="minisblack", **kw)
        _check_bands(read_slide_labels(tmp_path / name)[0][0], a)


def test_constant_tiles_are_filled_from_the_cache(tmp_path):
    """Tiles of one value (background and others) compress to equal bytes: decoded once, filled after."""
    a = np.zeros((1001, 777), np.uint8)
    a[:512, :512] = 7
    a[600:700, 100:200] = 3
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, a, compression="zlib", tile=(128, 128), photometric="minisblack")
    layer = read_slide_labels(path)[0][0]
    _check_bands(layer, a)
    assert 0 in layer._constants.values() and 7 in layer._constants.values()


def test_threads_decode_wide_rows_identically(tmp_path):
    from labelmap.formats.slide_tiff import read_tiff_labels

    a = _labels((300, 9001), np.uint16)
    path = tmp_path / "wide.tif"
    level1 = {"compression": "zlib", "compressionargs": {"level": 1}}
    tifffile.imwrite(path, a, tile=(256, 256), photometric="minisblack", **level1)
    for threads in (1, 2):
        _check_bands(read_tiff_labels(path, threads=threads)[0][0], a)


def test_bands_kept_by_the_caller_are_never_reused(tmp_path):
    a = _labels((1024, 2048), np.uint16)
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, a, compression="zlib", tile=(256, 256), photometric="minisblack")
    layer = read_slide_labels(path)[0][0]
    kept = [layer.read_rows(r, r + 256) for r in range(0, 1024, 256)]  # 1 MiB bands: pooled
    for k in range(4):
        np.testing.assert_array_equal(kept[k], a[k * 256 : (k + 1) * 256])
    addresses = {band.ctypes.data for band in kept}
    assert len(addresses) == 4
    view = kept[0][:10]
    del kept
    for r in range(0, 1024, 256):
        again = layer.read_rows(r, r + 256)
        assert not np.shares_memory(again, view)  # the view still holds band 0
        assert again.ctypes.data in addresses  # a band let go of is reused
        np.testing.assert_array_equal(again, a[r : r + 256])
    np.testing.assert_array_equal(view, a[:10])


def test_multipage_tiff_pages_are_layers_and_reduced_pages_are_not(tmp_path):
    a = _labels((1001, 777), np.uint8, layers=3)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tw:
        for k in range(3):
            tw.write(a[k], compression="zlib", tile=(256, 256), photometric="minisblack", metadata=None)
        tw.write(a[0, ::4, ::4], subfiletype=1, photometric="minisblack", metadata=None)  # a thumbnail
    layers, _ = read_slide_labels(path)
    assert [layer.page for layer in layers] == [0, 1, 2]
    for k, layer in enumerate(layers):
        _check_bands(layer, a[k])


def test_bool_pages_read_as_bool(tmp_path):
    a = _labels((21, 22), np.bool_, layers=2)
    path = tmp_path / "masks.tif"
    tifffile.imwrite(path, a, photometric="minisblack")  # bilevel (1 bit) pages
    layers, _ = read_slide_labels(path)
    assert len(layers) == 2 and layers[0].dtype == np.bool_
    for k in range(2):
        _check_bands(layers[k], a[k])


def test_float_pages_are_exposed_as_float(tmp_path):
    a = _labels((1001, 777), np.float32, layers=2)
    path = tmp_path / "fractional.tif"
    tifffile.imwrite(path, a, compression="zlib", tile=(128, 128), photometric="minisblack")
    layers, _ = read_slide_labels(path)
    assert [layer.dtype for layer in layers] == [np.dtype(np.float32)] * 2
    _check_bands(layers[1], a[1])


def test_ome_pyramid_reads_level_0_with_its_physical_size(tmp_path):
    a = _labels((1001, 777), np.uint16)
    path = tmp_path / "pyramid.ome.tif"
    meta = {"axes": "YX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5}
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(a, subifds=2, tile=(256, 256), compression="zlib", photometric="minisblack", metadata=meta)
        tw.write(a[::2, ::2], subfiletype=1, tile=(256, 256), compression="zlib", photometric="minisblack")
        tw.write(a[::4, ::4], subfiletype=1, tile=(256, 256), compression="zlib", photometric="minisblack")
    layers, hint = read_slide_labels(path)
    assert len(layers) == 1
    _check_bands(layers[0], a)
    assert hint is not None and hint.shape == (1001, 777) and (hint.tile_rows, hint.tile_columns) == (256, 256)
    assert hint.pixel_spacing == pytest.approx((0.0005, 0.00025))


def test_ome_channels_are_layers(tmp_path):
    a = _labels((21, 22), np.uint8, layers=3)
    path = tmp_path / "channels.ome.tif"
    meta = {"axes": "CYX", "PhysicalSizeX": 2.0, "PhysicalSizeXUnit": "nm"}
    tifffile.imwrite(path, a, ome=True, photometric="minisblack", metadata=meta)
    layers, hint = read_slide_labels(path)
    assert len(layers) == 3
    for k in range(3):
        _check_bands(layers[k], a[k])
    assert hint.pixel_spacing == pytest.approx((2e-6, 2e-6))  # one size given: square pixels


@pytest.mark.parametrize(
    "unit, resolution, spacing",
    [("CENTIMETER", (4000.0, 2000.0), (0.005, 0.0025)), ("INCH", (25400.0, 25400.0), (0.001, 0.001))],
)
def test_resolution_tags_give_the_spacing(tmp_path, unit, resolution, spacing):
    path = tmp_path / "res.tif"
    tifffile.imwrite(path, _labels((21, 22), np.uint8), resolution=resolution, resolutionunit=unit)
    hint = read_slide_labels(path)[1]
    assert hint is not None and hint.pixel_spacing == pytest.approx(spacing)


def test_resolution_without_unit_gives_no_spacing(tmp_path):
    path = tmp_path / "nounit.tif"
    tifffile.imwrite(path, _labels((21, 22), np.uint8), resolution=(3.0, 3.0), resolutionunit="NONE")
    assert read_slide_labels(path)[1] is None


# --------------------------------------------------------------------------- TIFF: bad files
def test_rgb_tiff_is_not_a_label_image(tmp_path):
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, np.zeros((21, 22, 3), np.uint8), photometric="rgb")
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "rgb.tif", "not a label image: 3 samples per pixel")


def test_truncated_tiff_is_refused_up_front(tmp_path):
    path = tmp_path / "cut.tif"
    rng = np.random.default_rng(3)
    tifffile.imwrite(path, rng.integers(0, 255, (1001, 777), np.uint8), tile=(64, 64), compression="zlib")
    data = path.read_bytes()
    # tifffile writes the IFD before the tiles: cutting the file keeps the IFD, loses tiles
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "cut.tif", "past the end of the file", "truncated")


def test_damaged_tile_names_the_tile(tmp_path):
    path = tmp_path / "bad.tif"
    a = _labels((512, 512), np.uint8)
    tifffile.imwrite(path, a, tile=(256, 256), compression="zlib", photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[3]
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    layer = read_slide_labels(path)[0][0]
    np.testing.assert_array_equal(layer.read_rows(0, 256), a[:256])  # the damage is in tile 4
    with pytest.raises(ImageFormatError) as exc:
        layer.read_rows(256, 512)
    _one_line(exc, "bad.tif", "tile 4 (tile row 2, column 2) is damaged")


def _minimal_tiff(
    path: Path, width: int, length: int, strip_bytes: int, data: bytes = b"", compression: int = 1
) -> None:
    """A hand-made classic TIFF: one uncompressed 8-bit strip of the given claimed size."""
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, length),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, compression),  # Compression (1: none)
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after the IFD
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, length),  # RowsPerStrip
        (279, 4, 1, strip_bytes),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd[: 2 + 12 * 8] + b"" + ifd[2 + 12 * 8 :] + data)


@pytest.mark.parametrize(
    "strip_bytes, words",
    [(4_000_000_000, "past the end of the file"), (100, "holds 100 bytes but its pixels need 1000000000000")],
)
def test_huge_claimed_size_is_refused_before_allocating(tmp_path, strip_bytes, words):
    path = tmp_path / "claims.tif"
    _minimal_tiff(path, 1_000_000, 1_000_000, strip_bytes, data=b"\0" * 100)
    tracemalloc.start()
    try:
        with pytest.raises(ImageFormatError) as exc:
            read_slide_labels(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_line(exc, "claims.tif", words)
    assert peak < 50 << 20


def test_deflate_strip_claiming_more_than_deflate_can_hold(tmp_path):
    """One deflate strip of 10^6 x 10^6 pixels in 100 bytes cannot exist: refused at open, not when read."""
    path = tmp_path / "claims.tif"
    _minimal_tiff(path, 1_000_000, 1_000_000, 100, data=b"\0" * 100, compression=8)
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "claims.tif", "deflate strip 1 of 100 bytes cannot hold", "damaged")


def test_sparse_200000_square_tiff_reads_one_band_without_the_whole(tmp_path):
    """A genuinely sparse tiled TIFF (every tile empty, a few MB on disk) is fine: a band costs a band."""
    rows = cols = 200_000
    n = (-(-rows // 256)) ** 2
    path = tmp_path / "sparse.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write((b"" for _ in range(n)), shape=(rows, cols), dtype=np.uint8, tile=(256, 256), compression="zlib")
    assert path.stat().st_size < 16 << 20
    tracemalloc.start()
    try:
        layers, _ = read_slide_labels(path)
        band = layers[0].read_rows(100_000, 100_300)  # crosses a tile row
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert band.shape == (300, cols) and not band.any()
    assert peak < 200 << 20  # the band (60 MB) and a tile row, never 40 GB


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "the file is empty"),
        (b"hello, this is not an image at all" * 10, "not a TIFF file"),
        (b"II*\x00\xff\xff\xff\x7f" + b"\0" * 64, "damaged"),
    ],
)
def test_not_a_tiff(tmp_path, content, words):
    path = tmp_path / "x.tif"
    path.write_bytes(content)
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "x.tif", words)


def test_misnamed_files_say_what_they_are(tmp_path):
    path = tmp_path / "labels.tif"
    np.save(tmp_path / "a.npy", np.zeros((3, 4), np.uint8))
    path.write_bytes((tmp_path / "a.npy").read_bytes())
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "it is a NumPy file; rename it to end in .npy")


@pytest.mark.filterwarnings("ignore:.*zero-size")
def test_zero_sized_tiff(tmp_path):
    path = tmp_path / "zero.tif"
    tifffile.imwrite(path, np.zeros((0, 0), np.uint8))
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "zero.tif", "zero-sized")


def test_missing_tifffile_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((3, 4), np.uint8))
    monkeypatch.setitem(sys.modules, "tifffile", None)  # import tifffile -> ImportError
    with pytest.raises(MissingDependencyError) as exc:
        read_slide_labels(path)
    _one_line(exc, "pip install tifffile", "labelmap[slide]")


def test_unknown_extension(tmp_path):
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(tmp_path / "labels.jpg")
    _one_line(exc, "labels.jpg", ".ome.tif", ".npy")


# --------------------------------------------------------------------------- writing (OME-)TIFF
GEOMETRY = dict(tile_rows=256, tile_columns=256, pixel_spacing=(0.0005, 0.00025))


def _ome_pixels(path: Path) -> dict:
    with tifffile.TiffFile(path) as tif:
        root = ET.fromstring(tif.ome_metadata)
    return next(e for e in root.iter() if e.tag.endswith("}Pixels")).attrib


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("dtype, layers", [(np.uint8, 1), (np.uint16, 1), (np.bool_, 3), (np.float32, 2)])
def test_ome_tiff_round_trip(tmp_path, shape, dtype, layers):
    a = _labels(shape, dtype, layers=layers if layers > 1 else None)
    geometry = SlideGeometry(*shape, **GEOMETRY)
    path = tmp_path / "out.ome.tif"
    write_slide_labels(path, _bands(a), shape=shape, dtype=dtype, geometry=geometry, layers=layers, tile=(100, 60))
    stored = a.astype(np.uint8) if dtype == np.bool_ else a
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and tif.pages[0].is_tiled and tif.pages[0].compression == 8
        assert (tif.pages[0].tilelength, tif.pages[0].tilewidth) == (112, 64)  # rounded to 16
        np.testing.assert_array_equal(tif.series[0].asarray(), stored)
    pixels = _ome_pixels(path)
    assert float(pixels["PhysicalSizeX"]) == pytest.approx(0.25)
    assert float(pixels["PhysicalSizeY"]) == pytest.approx(0.5)
    assert pixels["PhysicalSizeXUnit"] == "µm" and int(pixels["SizeC"]) == layers
    back, hint = read_slide_labels(path)
    assert len(back) == layers and hint.pixel_spacing == pytest.approx(geometry.pixel_spacing)
    for k, layer in enumerate(back):
        _check_bands(layer, stored if layers == 1 else stored[k])


def test_plain_tiff_carries_the_spacing_as_resolution(tmp_path):
    a = _labels((1001, 777), np.uint16)
    path = tmp_path / "out.tif"
    geometry = SlideGeometry(1001, 777, **GEOMETRY)
    write_slide_labels(path, _bands(a), shape=a.shape, dtype=a.dtype, geometry=geometry)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert not tif.is_ome and page.resolutionunit == 3
        assert page.resolution == pytest.approx((40000.0, 20000.0))  # pixels per cm
        np.testing.assert_array_equal(page.asarray(), a)
    assert read_slide_labels(path)[1].pixel_spacing == pytest.approx(geometry.pixel_spacing)


def test_empty_tiles_share_one_compressed_tile(tmp_path):
    a = np.zeros((1001, 777), np.uint8)
    a[300:310, 300:310] = 9
    path = tmp_path / "sparse.ome.tif"
    write_slide_labels(path, _bands(a), shape=a.shape, dtype=a.dtype)
    with tifffile.TiffFile(path) as tif:
        counts = tif.pages[0].databytecounts
        np.testing.assert_array_equal(tif.pages[0].asarray(), a)
    assert len(set(counts)) == 2 and path.stat().st_size < 8000


def test_bad_bands_leave_nothing_behind(tmp_path):
    a = _labels((300, 40), np.uint8)
    path = tmp_path / "out.ome.tif"
    cases = [
        [(0, a[:100]), (150, a[150:])],  # a gap
        [(0, a[:100]), (100, a[100:200, :30])],  # wrong width
        [(0, a[:100])],  # too few rows
    ]
    for bands in cases:
        with pytest.raises(ValueError):
            write_slide_labels(path, bands, shape=a.shape, dtype=a.dtype)

    def failing():
        yield 0, a[:256]
        raise ImageFormatError("the source went away")

    with pytest.raises(ImageFormatError, match="went away"):
        write_slide_labels(path, failing(), shape=a.shape, dtype=a.dtype, layers=1)
    assert os.listdir(tmp_path) == []


def test_unstorable_types_and_names(tmp_path):
    a = np.zeros((3, 4), np.int64)
    with pytest.raises(ImageFormatError) as exc:
        write_slide_labels(tmp_path / "x.ome.tif", [(0, a)], shape=a.shape, dtype=a.dtype)
    _one_line(exc, "int64", "TIFF")
    with pytest.raises(ImageFormatError) as exc:
        write_slide_labels(tmp_path / "x.png", [(0, a)], shape=a.shape, dtype=np.uint8)
    _one_line(exc, "x.png", ".ome.tif")
    with pytest.raises(UnsupportedError) as exc:
        write_slide_labels(tmp_path / "x.nrrd", [(0, np.zeros((2, 3, 4)))], shape=(3, 4), dtype=np.uint8, layers=2)
    _one_line(exc, "one layer")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- 2-D NRRD
@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.bool_, np.float64])
@pytest.mark.parametrize("compress", [True, False])
def test_nrrd_round_trip(tmp_path, shape, dtype, compress):
    import nrrd

    a = _labels(shape, dtype)
    geometry = SlideGeometry(*shape, **GEOMETRY, origin=(12.5, -3.25, 0.0), orientation=(1, 0, 0, 0, 1, 0))
    path = tmp_path / "out.nrrd"
    write_slide_labels(path, _bands(a), shape=shape, dtype=dtype, geometry=geometry, compress=compress)
    data, header = nrrd.read(str(path), index_order="C")
    np.testing.assert_array_equal(data, a.astype(np.uint8) if dtype == np.bool_ else a)
    assert header["dimension"] == 2 and header["encoding"] == ("gzip" if compress else "raw")
    np.testing.assert_allclose(header["space directions"], [[0.00025, 0.0], [0.0, 0.0005]])
    np.testing.assert_allclose(header["space origin"], [12.5, -3.25])
    layers, hint = read_slide_labels(path)
    _check_bands(layers[0], data)
    assert hint.pixel_spacing == pytest.approx(geometry.pixel_spacing)
    assert hint.origin == pytest.approx((12.5, -3.25, 0.0)) and hint.orientation == (1, 0, 0, 0, 1, 0)


def test_nrrd_of_a_rotated_slide_has_no_origin(tmp_path):
    a = _labels((21, 22), np.uint8)
    geometry = SlideGeometry(21, 22, **GEOMETRY, origin=(12.5, -3.25, 0.0))  # orientation (0,-1,0,-1,0,0)
    path = tmp_path / "rot.nrrd"
    write_slide_labels(path, _bands(a), shape=a.shape, dtype=a.dtype, geometry=geometry)
    text = path.read_bytes().split(b"\n\n")[0].decode()
    assert "space origin" not in text and "space directions: (0.00025,0.0) (0.0,0.0005)" in text


def test_nrrd_written_by_pynrrd_3d_with_a_flat_axis_detached_and_ascii(tmp_path):
    import nrrd

    a = _labels((101, 77), np.uint16)
    cases = {
        "flat.nrrd": (a.T[:, :, None], {"encoding": "gzip"}, None),
        "flat_raw.nrrd": (a.T[None], {"encoding": "raw", "space directions": None}, None),
        "detached.nhdr": (a.T, {"encoding": "gzip"}, True),
        "detached_raw.nhdr": (a.T, {"encoding": "raw"}, True),
        "ascii.nrrd": (a.T, {"encoding": "ascii"}, None),
    }
    for name, (data, header, detached) in cases.items():
        header = {k: v for k, v in header.items() if v is not None}
        if data.ndim == 2:
            header["space directions"] = np.array([[0.001, 0.0], [0.0, 0.002]])
            header["space units"] = ["um", "um"]
        nrrd.write(str(tmp_path / name), data, header, index_order="F", detached_header=bool(detached))
        layers, hint = read_slide_labels(tmp_path / name)
        _check_bands(layers[0], a)
        if data.ndim == 2:
            assert hint.pixel_spacing == pytest.approx((2e-6, 1e-6))


def test_gzip_nrrd_reads_backwards_and_reports_truncation(tmp_path):
    a = _labels((1001, 777), np.uint16, seed=5)
    path = tmp_path / "g.nrrd"
    write_slide_labels(path, _bands(a), shape=a.shape, dtype=a.dtype)
    layer = read_slide_labels(path)[0][0]
    np.testing.assert_array_equal(layer.read_rows(900, 1001), a[900:])
    np.testing.assert_array_equal(layer.read_rows(10, 20), a[10:20])  # the stream starts again
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    layer = read_slide_labels(path)[0][0]
    layer.read_rows(0, 10)
    with pytest.raises(ImageFormatError) as exc:
        layer.read_rows(10, 1001)
    _one_line(exc, "g.nrrd")


@pytest.mark.parametrize(
    "sizes, words", [([5, 6, 7], "not a 2-D image"), ([4, 0], "zero-sized"), ([4, 3, 2, 1], "not a 2-D image")]
)
def test_nrrd_that_is_not_a_slide(tmp_path, sizes, words):
    import nrrd

    path = tmp_path / "v.nrrd"
    nrrd.write(str(path), np.zeros(sizes, np.uint8), index_order="F")
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "v.nrrd", words)


def test_truncated_raw_nrrd_is_refused_at_open(tmp_path):
    a = _labels((21, 22), np.uint16)
    path = tmp_path / "raw.nrrd"
    write_slide_labels(path, _bands(a), shape=a.shape, dtype=a.dtype, compress=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "raw.nrrd", "truncated")


# --------------------------------------------------------------------------- PNG
@pytest.mark.parametrize("mode, dtype", [("L", np.uint8), ("I;16", np.uint16), ("1", np.bool_), ("P", np.uint8)])
def test_png_label_images(tmp_path, mode, dtype):
    from PIL import Image

    a = _labels((21, 22), np.uint8 if mode in ("L", "P") else dtype)
    if mode == "1":
        image = Image.fromarray(a)
    elif mode == "P":
        image = Image.fromarray(a).convert("P")
    else:
        image = Image.fromarray(a)
    path = tmp_path / "labels.png"
    image.save(path, dpi=(2540, 1270))
    layers, hint = read_slide_labels(path)
    assert layers[0].dtype == np.dtype(dtype)
    expected = np.asarray(Image.open(path)) if mode == "P" else a
    _check_bands(layers[0], expected)
    assert hint.pixel_spacing == pytest.approx((0.02, 0.01))


def test_png_rgb_and_too_large(tmp_path):
    from PIL import Image

    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((21, 22, 3), np.uint8)).save(path)
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "rgb.png", "not a label image: 3 samples per pixel")
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(big)
    data = bytearray(big.read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 80_000)  # IHDR claims a whole slide
    big.write_bytes(bytes(data))
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(big)
    _one_line(exc, "big.png", "too large", "tiled TIFF", ".npy")


# --------------------------------------------------------------------------- .npy
def test_npy_is_memory_mapped_in_any_order_and_byte_order(tmp_path):
    a = _labels((1001, 777), np.uint16)
    for name, stored in (("c.npy", a), ("f.npy", np.asfortranarray(a)), ("be.npy", a.astype(">u2"))):
        np.save(tmp_path / name, stored)
        layers, hint = read_slide_labels(tmp_path / name)
        assert hint is None and layers[0]._mapping is not None  # mapped, not read
        _check_bands(layers[0], a)
    stack = _labels((21, 22), np.float32, layers=3)
    np.save(tmp_path / "stack.npy", stack)
    layers, _ = read_slide_labels(tmp_path / "stack.npy")
    assert len(layers) == 3
    _check_bands(layers[2], stack[2])


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: np.save(p, np.array([{"a": 1}, None], dtype=object)), "Python objects"),
        (lambda p: np.save(p, np.zeros((3, 4), dtype=[("a", "u1"), ("b", "f4")])), "not a label type"),
        (lambda p: np.save(p, np.zeros(5, np.uint8)), "1-D array"),
        (lambda p: np.save(p, np.zeros((0, 5), np.uint8)), "zero-sized"),
        (lambda p: np.save(p, np.zeros((3, 4), np.complex64)), "not a label type"),
    ],
)
def test_npy_refused(tmp_path, make, words):
    path = tmp_path / "x.npy"
    make(path)
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "x.npy", words)


def test_truncated_npy(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((1000, 1000), np.uint16))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ImageFormatError) as exc:
        read_slide_labels(path)
    _one_line(exc, "t.npy", "truncated")


# --------------------------------------------------------------------------- imports
def test_slide_io_imports_neither_tifffile_nor_pillow_until_needed(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 4), np.uint8))
    code = (
        "import sys, numpy as np\n"
        "from labelmap.formats.slide_io import read_slide_labels, write_slide_labels\n"
        f"layers, _ = read_slide_labels({str(tmp_path / 'a.npy')!r})\n"
        "bands = [(0, layers[0].read_rows(0, 3))]\n"
        f"write_slide_labels({str(tmp_path / 'b.nrrd')!r}, bands, shape=(3, 4), dtype='u1')\n"
        "import labelmap.formats\n"
        "bad = [m for m in ('tifffile', 'PIL', 'pydicom', 'imagecodecs') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_imagej_micron_unit_gives_the_spacing(tmp_path):
    path = tmp_path / "ij.tif"
    a = _labels((21, 22), np.uint8)
    tifffile.imwrite(path, a, imagej=True, resolution=(4.0, 2.0), metadata={"unit": "um"})
    layers, hint = read_slide_labels(path)
    _check_bands(layers[0], a)
    assert hint is not None and hint.pixel_spacing == pytest.approx((0.0005, 0.00025))


@pytest.mark.parametrize("name", ["t.tif", "n.npy", "g.nrrd"])
def test_next_band_read_on_a_thread_while_the_caller_holds_this_one(tmp_path, name):
    """The slide writer's pattern: band k+1 is read on a second thread while band k is used; pooled
    bands (1 MiB and more) must never be handed out while held."""
    from concurrent.futures import ThreadPoolExecutor

    a = _labels((2000, 2100), np.uint16, seed=9)
    path = tmp_path / name
    if name.endswith(".tif"):
        tifffile.imwrite(path, a, compression="zlib", tile=(256, 256), photometric="minisblack")
    elif name.endswith(".npy"):
        np.save(path, a)
    else:
        write_slide_labels(path, _bands(a), shape=a.shape, dtype=a.dtype)
    layer = read_slide_labels(path)[0][0]
    starts = list(range(0, 2000, 256))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(layer.read_rows, 0, 256)
        for i, r0 in enumerate(starts):
            band = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(layer.read_rows, starts[i + 1], min(2000, starts[i + 1] + 256))
            np.testing.assert_array_equal(band, a[r0 : r0 + 256])
            band[:] = 0  # the caller may write into its band: the next read must not see it
