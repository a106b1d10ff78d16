"""The slide benchmarks' data (benchmarks/_slide_data.py, _slide_case.py, big_slide.py helpers): the synthetic
label map is deterministic and the same whichever band boundaries it is made with, the TIFF/.npy writers and
the band reader give the same pixels, and the WSI source is one highdicom builds a tiled SEG from."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def mods():
    sys.path.insert(0, str(BENCH))
    try:
        yield tuple(importlib.import_module(name) for name in ("_slide_data", "_slide_case", "big_slide"))
    finally:
        sys.path.remove(str(BENCH))


def test_bands_are_independent_and_deterministic(mods):
    sd = mods[0]
    slide = sd.SyntheticSlide(1001, 777, seed=5)
    whole = slide.array()
    assert whole.shape == (1001, 777) and whole.dtype == np.uint16
    # each band made alone, with a fresh buffer, in any order
    for band in (3, 0, slide.n_bands - 1):
        r0 = band * sd.BAND
        got = slide.render(band)
        assert np.array_equal(got, whole[r0 : r0 + got.shape[0]])
    assert np.array_equal(slide.read_rows(200, 650), whole[200:650])
    assert np.array_equal(sd.SyntheticSlide(1001, 777, seed=5).array(), whole)
    assert not np.array_equal(sd.SyntheticSlide(1001, 777, seed=6).array(), whole)
    rows = np.concatenate([b.copy() for _, b in slide.iter_bands()])
    assert np.array_equal(rows, whole)


def test_classes_tissue_and_blob_sizes(mods):
    sd = mods[0]
    labels = sd.SyntheticSlide(4000, 3000).array()
    counts = np.bincount(labels.ravel(), minlength=sd.N_CLASSES + 1)
    assert counts.size == sd.N_CLASSES + 1  # nothing above 20
    assert (counts[1:] > 0).all()  # every class drawn
    tissue = 1 - counts[0] / labels.size
    assert 0.3 <= tissue <= 0.5, tissue
    assert counts[1] > counts[2:].sum()  # stroma dominates the tissue

    # nuclei are small (5-15 px across), glands large (50-300 px): compare their mean run lengths along rows
    def mean_run(values):
        inside = np.isin(labels, values).astype(np.int8)
        starts = np.count_nonzero(np.diff(inside, axis=1) == 1)
        return inside.sum() / max(starts, 1)

    assert 3 <= mean_run(range(*sd.NUCLEUS_LABELS)) <= 15
    assert 40 <= mean_run(range(*sd.GLAND_LABELS)) <= 300


def test_tiff_and_npy_writers_and_band_reader(mods, tmp_path):
    sd = mods[0]
    import tifffile

    slide = sd.SyntheticSlide(1001, 777, seed=7)
    whole = slide.array()
    tif = sd.write_tiff(slide, tmp_path / "labels.tif")
    with tifffile.TiffFile(tif) as t:
        page = t.pages.first
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (256, 256) and page.compression == 8
        assert np.array_equal(page.asarray(), whole)
    bands = list((r0, b.copy()) for r0, b in sd.iter_tiff_bands(tif))
    assert [r0 for r0, _ in bands] == [0, 256, 512, 768]
    assert np.array_equal(np.concatenate([b for _, b in bands]), whole)
    npy = sd.write_npy(slide, tmp_path / "labels.npy")
    assert np.array_equal(np.load(npy), whole)
    assert not list(tmp_path.glob("*.part"))


def test_compare_tiffs_finds_the_first_differing_row(mods, tmp_path):
    sd, _, big = mods
    import tifffile

    slide = sd.SyntheticSlide(1001, 777, seed=7)
    whole = slide.array()
    a = sd.write_tiff(slide, tmp_path / "a.tif")
    b = tmp_path / "b.ome.tif"  # other tile size, as another writer may choose
    tifffile.imwrite(b, whole, tile=(512, 512), compression="zlib")
    assert big.compare_tiffs(a, b, height=300) == "equal"
    whole[613, 400] ^= 1
    tifffile.imwrite(b, whole, tile=(512, 512), compression="zlib")
    assert big.compare_tiffs(a, b, height=300) == "row 613 differs"
    tifffile.imwrite(b, whole[:1000], tile=(512, 512), compression="zlib")
    assert big.compare_tiffs(a, b).startswith("shape")


@pytest.mark.interop
def test_wsi_source_is_enough_for_highdicom(mods, tmp_path):
    sd, sc, _ = mods
    hd = pytest.importorskip("highdicom")
    import pydicom
    from pydicom.uid import RLELossless

    sys.path.insert(0, str(BENCH))
    try:
        from highdicom_runner import _segment_descriptions
    finally:
        sys.path.remove(str(BENCH))
    case = sc.make_case(tmp_path, 600, 1001, seed=3)
    source = pydicom.dcmread(case.wsi_level0, stop_before_pixels=True)
    assert (source.TotalPixelMatrixRows, source.TotalPixelMatrixColumns, source.NumberOfFrames) == (600, 1001, 12)
    labels = np.load(case.npy, mmap_mode="r")
    seg = hd.seg.Segmentation(
        source_images=[source],
        pixel_array=labels,
        segmentation_type="LABELMAP",
        segment_descriptions=_segment_descriptions(sc.metadata()),
        series_instance_uid=hd.UID(),
        series_number=1,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        tile_pixel_array=True,
        dimension_organization_type="TILED_FULL",
        omit_empty_frames=False,
        transfer_syntax_uid=RLELossless,
    )
    seg.save_as(tmp_path / "seg.dcm")
    back = hd.seg.segread(tmp_path / "seg.dcm").get_total_pixel_matrix(combine_segments=True)
    assert np.array_equal(back, labels)
    # the source's pixel data is one small fragment per tile, decodable by pydicom
    full = pydicom.dcmread(case.wsi_level0)
    assert full.pixel_array.shape == (12, 256, 256) and (full.pixel_array == 230).all()
