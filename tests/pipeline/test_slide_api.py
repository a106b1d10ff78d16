"""The public API on slides: itk_to_seg / write_seg / read_seg with slide label images, tile iterators as input."""

from __future__ import annotations

import numpy as np
import pytest
from _slides import write_wsi_pyramid

import labelmap
from labelmap.demo.sample import sample_metadata
from labelmap.errors import InputError, UnsupportedError
from labelmap.formats.dcmqi_json import load_metadata
from labelmap.model import SlideLabelImage, as_slide_labels
from labelmap.pipeline.options import WriteOptions
from labelmap.pipeline.slide_api import SlideSegLayer, slide_labels_from_tiles
from labelmap.seg.tiled_read import open_slide_seg

from _classic import write_inputs
from _geometries import axial_geometry

BIG = (1001, 777)  # 4 x 4 tiles of 256, both edges cropped
SMALL = (21, 22)  # 3 x 3 tiles of 10


@pytest.fixture(scope="module")
def big_slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big_slide")
    write_wsi_pyramid(folder, sizes=[BIG], tile=(256, 256), photometric="MONOCHROME2")
    return folder


@pytest.fixture(scope="module")
def small_slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small_slide")
    write_wsi_pyramid(folder, sizes=[SMALL], tile=(10, 10), photometric="MONOCHROME2")
    return folder


def _labels(shape, values=(1, 2, 4)) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    rows, cols = shape
    for i, v in enumerate(values):
        out[i * rows // 4 : (i + 2) * rows // 4, i * cols // 5 : (i + 1) * cols // 4 + 3] = v
    return out


def _tiles(labels: np.ndarray, tile: tuple[int, int], *, padded: bool = False):
    """``labels`` cut into tiles in row-major order (a generator), edge tiles cropped or zero-padded."""
    tr, tc = tile
    for r0 in range(0, labels.shape[0], tr):
        for c0 in range(0, labels.shape[1], tc):
            piece = labels[r0 : r0 + tr, c0 : c0 + tc]
            if padded:
                full = np.zeros(tile, labels.dtype)
                full[: piece.shape[0], : piece.shape[1]] = piece
                piece = full
            yield piece


def _count_bands(monkeypatch, slide) -> list[int]:
    """Record the row0 of every band the slide SEG's reader yields."""
    seen: list[int] = []
    original = slide.iter_bands

    def counting(layer=0, *, threads=None):
        for row0, band in original(layer, threads=threads):
            seen.append(row0)
            yield row0, band

    monkeypatch.setattr(slide, "iter_bands", counting)
    return seen


def test_numpy_array_through_itk_to_seg_and_lazy_read_seg(big_slide, tmp_path, monkeypatch):
    labels = _labels(BIG)
    out = tmp_path / "seg.dcm"
    report = labelmap.itk_to_seg(labels, big_slide, sample_metadata([1, 2, 4]), out)  # a whole slide: slide_to_seg
    assert report.segmentation_type == "LABELMAP" and report.frames == 16
    image = labelmap.read_seg(out)
    assert isinstance(image, SlideLabelImage) and len(image.layers) == 1
    assert image.geometry == open_slide_seg(out).geometry and image.shape == BIG
    assert [s.number for s in image.segments] == [1, 2, 4]
    layer = image.layers[0]
    assert isinstance(layer, SlideSegLayer) and layer.dtype == np.uint8
    seen = _count_bands(monkeypatch, layer.slide)
    got = np.concatenate([layer.read_rows(r, min(r + 100, BIG[0])) for r in range(0, BIG[0], 100)])
    np.testing.assert_array_equal(got, labels)
    assert seen == [0, 256, 512, 768]  # sequential reads in 100-row steps: each tile row decoded once
    np.testing.assert_array_equal(layer.read_rows(300, 700), labels[300:700])  # back up: read again from the top
    assert layer.read_rows(5, 5).shape == (0, BIG[1])
    with pytest.raises(IndexError, match="outside"):
        layer.read_rows(0, BIG[0] + 1)
    layer.close()


def test_memmap_through_write_seg_with_a_loaded_slide(big_slide, tmp_path):
    labels = _labels(BIG, values=(3, 5))
    mapped = np.lib.format.open_memmap(tmp_path / "labels.npy", mode="w+", dtype=np.uint8, shape=BIG)
    mapped[:] = labels
    mapped.flush()
    reopened = np.load(tmp_path / "labels.npy", mmap_mode="r")
    segments = [s for inner in load_metadata(sample_metadata([3, 5])).segments for s in inner]
    image = SlideLabelImage([as_slide_labels(reopened)], segments)
    out = tmp_path / "seg.dcm"
    report = labelmap.write_seg(image, labelmap.load_slide(big_slide), out)
    assert report.segmentation_type == "LABELMAP"
    back = labelmap.read_seg(out)
    np.testing.assert_array_equal(back.layers[0].read_rows(0, BIG[0]), labels)
    with pytest.raises(UnsupportedError, match="written straight to a file"):
        labelmap.encode_seg(image, labelmap.load_slide(big_slide))  # type: ignore[arg-type]


@pytest.mark.parametrize("padded", [False, True])
def test_tile_generator_big_slide(big_slide, tmp_path, padded):
    labels = _labels(BIG)
    tiles = labelmap.slide_labels_from_tiles(_tiles(labels, (256, 256), padded=padded), BIG, (256, 256), np.uint8)
    out = tmp_path / "seg.dcm"
    labelmap.slide_to_seg(tiles, big_slide, out, metadata=sample_metadata([1, 2, 4]))
    np.testing.assert_array_equal(open_slide_seg(out).read_matrix(), labels)


def test_tile_generator_of_another_tile_size_small_slide_binary(small_slide, tmp_path):
    labels = _labels(SMALL)
    masks = [labelmap.slide_labels_from_tiles(_tiles(labels == v, (8, 6)), SMALL, (8, 6), bool) for v in (1, 2, 4)]
    segments = [s for inner in load_metadata(sample_metadata([1, 2, 4])).segments for s in inner]
    out = tmp_path / "binary.dcm"
    report = labelmap.slide_to_seg(
        SlideLabelImage(masks, segments), small_slide, out, options=WriteOptions(seg_type="binary")
    )
    assert report.segmentation_type == "BINARY" and report.frames == 27
    image = labelmap.read_seg(out)
    assert isinstance(image, SlideLabelImage) and len(image.layers) == 3
    assert image.geometry.shape == SMALL and (image.geometry.tile_rows, image.geometry.tile_columns) == (10, 10)
    for layer, v in zip(image.layers, (1, 2, 4)):
        np.testing.assert_array_equal(layer.read_rows(0, SMALL[0]), labels == v)


def test_tile_iterator_reads_forward_only():
    labels = np.arange(21 * 22, dtype=np.uint16).reshape(SMALL)
    layer = slide_labels_from_tiles(_tiles(labels, (10, 10)), SMALL, (10, 10), np.uint16)
    assert layer.shape == SMALL and layer.dtype == np.uint16
    np.testing.assert_array_equal(layer.read_rows(3, 12), labels[3:12])
    np.testing.assert_array_equal(layer.read_rows(3, 12), labels[3:12])  # the same start again: still held
    np.testing.assert_array_equal(layer.read_rows(12, 21), labels[12:21])
    with pytest.raises(InputError, match="can only be read forward"):
        layer.read_rows(0, 10)


def test_tile_iterator_that_does_not_fit():
    labels = _labels(SMALL)
    short = slide_labels_from_tiles(list(_tiles(labels, (10, 10)))[:5], SMALL, (10, 10))
    with pytest.raises(InputError, match=r"ended after 5 tiles; .* needs 9"):
        short.read_rows(0, 21)
    extra = slide_labels_from_tiles([*_tiles(labels, (10, 10)), labels[:10, :10]], SMALL, (10, 10))
    with pytest.raises(InputError, match="more than the 9 tiles"):
        extra.read_rows(0, 21)
    wrong = slide_labels_from_tiles(_tiles(labels, (10, 11)), SMALL, (10, 10))
    with pytest.raises(InputError, match=r"tile 1 \(tile row 1, column 1\) is \(10, 11\)"):
        wrong.read_rows(0, 5)
    wide = slide_labels_from_tiles(_tiles(labels.astype(np.uint16) + 300, (10, 10)), SMALL, (10, 10), np.uint8)
    with pytest.raises(InputError, match="uint16 values that uint8 cannot hold"):
        wide.read_rows(0, 5)
    fits = slide_labels_from_tiles(_tiles(labels.astype(np.int64), (10, 10)), SMALL, (10, 10), np.uint8)
    np.testing.assert_array_equal(fits.read_rows(0, 21), labels)


def test_reference_does_not_apply_to_a_slide_seg(small_slide, tmp_path):
    out = tmp_path / "seg.dcm"
    labelmap.itk_to_seg([_labels(SMALL)], [small_slide], sample_metadata([1, 2, 4]), out)
    with pytest.raises(InputError, match="a reference series does not apply"):
        labelmap.read_seg(out, reference=small_slide)


def test_volumes_unchanged(tmp_path):
    geometry = axial_geometry()
    arr = np.zeros(geometry.shape, np.uint8)
    arr[1:3, 4:9, 5:10] = 1
    ct, images, md_path, _ = write_inputs(tmp_path, geometry, [arr])
    report = labelmap.itk_to_seg(images, [ct], md_path, tmp_path / "x.dcm")
    assert report.segmentation_type == "LABELMAP"
    decoded = labelmap.read_seg(tmp_path / "x.dcm", reference=[ct])
    assert not isinstance(decoded, SlideLabelImage)
    np.testing.assert_array_equal(decoded.volume_of([1]), arr)


def test_seg_to_itk_on_a_slide_seg_writes_its_matrix(small_slide, tmp_path):
    labels = _labels(SMALL)
    out = tmp_path / "seg.dcm"
    labelmap.itk_to_seg([labels], [small_slide], sample_metadata([1, 2, 4]), out)
    report = labelmap.seg_to_itk(out, tmp_path / "back", options=labelmap.ReadOptions(fmt="ome-tiff"))
    import tifffile

    assert len(report.outputs) == 1 and report.outputs[0].name.endswith(".ome.tif")
    np.testing.assert_array_equal(tifffile.imread(report.outputs[0]), labels)
    with pytest.raises(InputError, match="a reference series does not apply"):
        labelmap.seg_to_itk(out, tmp_path / "again", reference=small_slide)
