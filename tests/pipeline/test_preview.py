"""``labelmap-convert preview``: the PNG is decoded and every tile's pixels are checked against the labels.

Each test writes its own CT series and SEG, draws the preview, reads the tile rectangles from the PNG
text chunk ``labelmap:tiles``, maps each display pixel to its slice row and column by the documented
nearest-neighbour rule, and compares the pixel's colour with the colour of the segment the label image
holds there (the legend's colour, which must be the JSON's recommended colour after the CIELab round
trip).  The legend chunk must list every segment with its voxel count, and each drawn segment's swatch
must be in the picture.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelmap.model import Geometry
from labelmap.pipeline.convert import read_seg
from labelmap.pipeline.preview import choose_slices, display_size, preview_seg

from _classic import expected_masks, overlapping_arrays, painted, phantom, write_inputs
from _geometries import axial_geometry, las_geometry, oblique_geometry

GEOMETRIES = {"axial": axial_geometry, "las": las_geometry, "oblique": oblique_geometry}


# --------------------------------------------------------------------------- helpers
def read_png(path: Path) -> tuple[np.ndarray, dict, list[dict], dict]:
    """(RGB pixels, the tiles chunk, the legend chunk, every text chunk) of a preview PNG."""
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        chunks = dict(im.text)
        rgb = np.asarray(im.convert("RGB"))
    return rgb, json.loads(chunks["labelmap:tiles"]), json.loads(chunks["labelmap:legend"]), chunks


def sources(tile: dict) -> tuple[np.ndarray, np.ndarray]:
    """Slice row of each tile row and slice column of each tile column, by the rule the README states."""
    y = np.arange(tile["height"])
    x = np.arange(tile["width"])
    rows = np.floor((y + 0.5) * tile["rows"] / tile["height"]).astype(np.int64)
    cols = np.floor((x + 0.5) * tile["columns"] / tile["width"]).astype(np.int64)
    return rows, cols


def pixels_of(rgb: np.ndarray, tile: dict) -> np.ndarray:
    return rgb[tile["y"] : tile["y"] + tile["height"], tile["x"] : tile["x"] + tile["width"]]


def colour_lut(legend: list[dict]) -> np.ndarray:
    top = max(e["number"] for e in legend)
    lut = np.zeros((top + 1, 3), dtype=np.uint8)
    for e in legend:
        if e["drawn"]:
            lut[e["number"]] = e["rgb"]
    return lut


def slice_of(geometry: Geometry, tile: dict) -> int:
    """The label volume's slice at the tile's Image Position Patient."""
    ijk = geometry.lps_to_index(np.array([tile["position"]], dtype=float))[0]
    assert np.allclose(ijk[:2], 0, atol=1e-4), ijk
    k = int(round(ijk[2]))
    assert abs(ijk[2] - k) < 1e-4
    return k


def check_legend(rgb: np.ndarray, layout: dict, legend: list[dict], metadata: dict, counts: dict[int, int]) -> None:
    """Every described segment is in the legend chunk with its name, colour and voxels; every drawn one's
    swatch is drawn below the tiles."""
    described = {s["labelID"]: s for inner in metadata["segmentAttributes"] for s in inner}
    listed = {e["number"]: e for e in legend if e["number"] != 0}
    assert set(listed) == set(described)
    below = max(t["y"] + t["height"] for t in layout["tiles"])
    legend_area = rgb[below:]
    for number, entry in listed.items():
        assert entry["label"] == described[number]["SegmentLabel"]
        assert entry["voxels"] == counts.get(number, 0)
        assert np.abs(np.subtract(entry["rgb"], described[number]["recommendedDisplayRGBValue"])).max() <= 1
        swatch = np.all(legend_area == np.array(entry["rgb"], dtype=np.uint8), axis=2)
        assert swatch.sum() >= 25, f"no swatch of segment {number} in the drawn legend"


def labelmap_case(tmp: Path, geometry: Geometry, seed: int = 3) -> tuple[Path, Path, np.ndarray, dict]:
    """A CT series, a label map (a few organs, the first and last slices empty) and its LABELMAP SEG."""
    labels = phantom(geometry, 5, seed)
    labels[0] = 0
    labels[-1] = 0
    ct, images, md_path, md = write_inputs(tmp, geometry, [labels])
    seg = tmp / "organs.seg.dcm"
    rc = run_cli_quiet(["itk2seg", images[0], "-d", ct, "-m", md_path, "-o", seg, "--type", "labelmap"])
    assert rc == 0
    return ct, seg, labels, md


def run_cli_quiet(args: list) -> int:
    from labelmap.cli import main

    return main([str(a) for a in [*args, "-q"]])


# --------------------------------------------------------------------------- rules
def test_display_size_keeps_the_physical_aspect():
    assert display_size(512, 512) == (256, 256)
    assert display_size(22, 21, (0.9, 0.7)) == (256, 190)  # 19.8 mm tall, 14.7 mm wide
    assert display_size(10, 1000, longest=100) == (1, 100)


def test_choose_slices_spreads_over_the_slices_holding_a_segment():
    holding = np.zeros(100, bool)
    holding[20:80] = True
    assert choose_slices(100, holding, 3) == [20, 50, 79]
    assert choose_slices(100, holding, None)[0] == 20 and len(choose_slices(100, holding, None)) == 12
    assert choose_slices(100, holding, [5, 3, 5]) == [3, 5]
    assert choose_slices(4, np.zeros(4, bool), None) == [0, 1, 2, 3]  # nothing anywhere: every slice


# --------------------------------------------------------------------------- LABELMAP
@pytest.mark.parametrize("kind", sorted(GEOMETRIES))
def test_labelmap_over_black_shows_each_segment_where_it_is(tmp_path, kind):
    geometry = GEOMETRIES[kind](shape=(5, 22, 21))
    _, seg, labels, md = labelmap_case(tmp_path, geometry)
    out = tmp_path / "preview.png"
    report = preview_seg(seg, out)
    rgb, layout, legend, chunks = read_png(out)
    holding = [k for k in range(labels.shape[0]) if labels[k].any()]
    assert len(layout["tiles"]) == len(holding) == len(report.slices)
    assert layout["alpha"] == 1.0
    lut = colour_lut(legend)
    seen = set()
    for tile in layout["tiles"]:
        k = slice_of(geometry, tile)
        assert k in holding
        rows, cols = sources(tile)
        numbers = labels[k][np.ix_(rows, cols)]
        np.testing.assert_array_equal(pixels_of(rgb, tile), lut[numbers], err_msg=f"slice {k}")
        seen |= set(np.unique(numbers).tolist())
    values, counts = np.unique(labels, return_counts=True)
    check_legend(rgb, layout, legend, md, dict(zip(values.tolist(), counts.tolist())))
    assert seen - {0} == set(values.tolist()) - {0}  # every segment is in some tile
    described = {s["labelID"]: s["SegmentLabel"] for s in md["segmentAttributes"][0]}
    lines = chunks["Description"].splitlines()
    for number, label in described.items():  # the legend as text too, one line per segment
        assert f"{number}  {label}  {int((labels == number).sum()):,} voxels" in lines
    facts = json.loads(chunks["labelmap:seg"])
    assert facts["segmentation_type"] == "LABELMAP" and facts["frames"] == len(holding)
    assert "LABELMAP SEG" in chunks["Title"] and f"{len(holding)} frames" in chunks["Title"]


def test_slices_option_picks_slices_and_counts(tmp_path):
    geometry = axial_geometry(shape=(7, 22, 21))
    ct, seg, labels, _ = labelmap_case(tmp_path, geometry)
    out = tmp_path / "p.png"
    assert preview_seg(seg, out, reference=ct, slices=[0, 3, 6]).slices == [0, 3, 6]
    _, layout, _, _ = read_png(out)
    assert [t["slice"] for t in layout["tiles"]] == [0, 3, 6]  # on the CT's grid: empty slices too
    assert [t["frames"] for t in layout["tiles"]][0] == []
    assert len(preview_seg(seg, out, slices=2).slices) == 2


def test_many_slices_are_drawn_smaller(tmp_path):
    geometry = axial_geometry(shape=(70, 22, 21))
    ct, seg, labels, _ = labelmap_case(tmp_path, geometry)
    out = tmp_path / "many.png"
    report = preview_seg(seg, out, reference=ct, slices=range(70))  # every slice of the CT's grid
    _, layout, _, _ = read_png(out)
    assert report.slices == list(range(70))
    assert max(layout["tiles"][0]["height"], layout["tiles"][0]["width"]) == 2048 // 9  # 9 columns of tiles
    assert report.width <= 2048 + 9 * 8 + 20


def test_reference_draws_over_the_windowed_source(tmp_path):
    geometry = axial_geometry(shape=(5, 22, 21))
    labels = phantom(geometry, 4, 5)
    hu = (np.arange(np.prod(geometry.shape)).reshape(geometry.shape) % 700 - 300).astype(np.int16)
    tmp_path.mkdir(exist_ok=True)
    from labelmap.demo.sample import write_ct_series

    write_ct_series(tmp_path / "ct", geometry, pixel_array=hu)  # Window Center 40, Width 400
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [labels])
    seg = tmp_path / "s.seg.dcm"
    assert run_cli_quiet(["itk2seg", images[0], "-d", ct, "-m", md_path, "-o", seg]) == 0
    for window, expected_window in ((None, (40.0, 400.0)), ((100.0, 600.0), (100.0, 600.0))):
        out = tmp_path / "over.png"
        preview_seg(seg, out, reference=ct, window=window)
        rgb, layout, legend, chunks = read_png(out)
        assert tuple(json.loads(chunks["labelmap:seg"])["window"]) == expected_window
        alpha = layout["alpha"]
        assert 0 < alpha < 1
        lut = colour_lut(legend).astype(np.float64)
        c, w = expected_window
        for tile in layout["tiles"]:
            k = tile["slice"]  # the CT's grid is the label grid
            rows, cols = sources(tile)
            numbers = labels[k][np.ix_(rows, cols)]
            grey = np.clip(np.rint((hu[k][np.ix_(rows, cols)] - (c - w / 2)) * 255 / w), 0, 255)[..., None]
            blended = np.where(numbers[..., None] > 0, grey + (lut[numbers] - grey) * alpha, grey)
            got = pixels_of(rgb, tile).astype(np.float64)
            # inside a segment (all four neighbours the same) the colour is blended; its outline is opaque
            pad = np.pad(numbers, 1, mode="edge")
            inner = (pad[:-2, 1:-1] == numbers) & (pad[2:, 1:-1] == numbers) & (pad[1:-1, :-2] == numbers)
            inner &= pad[1:-1, 2:] == numbers
            assert np.abs(got - blended)[inner].max() <= 1.0
            outline = ~inner & (numbers > 0)
            np.testing.assert_array_equal(got[outline], lut[numbers][outline])


# --------------------------------------------------------------------------- BINARY, FRACTIONAL
def test_binary_with_overlap_draws_the_later_segment_over_the_earlier(tmp_path):
    geometry = axial_geometry(shape=(5, 22, 21))
    arrays, groups = overlapping_arrays(geometry)
    ct, images, md_path, md = write_inputs(tmp_path, geometry, arrays, groups)
    seg = tmp_path / "b.seg.dcm"
    assert run_cli_quiet(["itk2seg", *images, "-d", ct, "-m", md_path, "-o", seg]) == 0
    masks = expected_masks(arrays, groups)
    numbers = list(range(1, len(masks) + 1))
    expected = painted(masks, numbers)  # later numbers painted over earlier ones
    assert any((m1 & m2).any() for i, m1 in enumerate(masks) for m2 in masks[i + 1 :])
    out = tmp_path / "b.png"
    report = preview_seg(seg, out)
    rgb, layout, legend, chunks = read_png(out)
    assert "BINARY SEG" in chunks["Title"]
    assert "drawn over" in chunks["Description"] and "Segments Overlap YES" in chunks["Description"]
    assert any("hold several segments" in w for w in report.warnings)
    lut = colour_lut(legend)
    for tile in layout["tiles"]:
        k = slice_of(geometry, tile)
        rows, cols = sources(tile)
        np.testing.assert_array_equal(pixels_of(rgb, tile), lut[expected[k][np.ix_(rows, cols)]], err_msg=f"slice {k}")
    counts = {n: int(m.sum()) for n, m in zip(numbers, masks)}
    assert {e["number"]: e["voxels"] for e in legend} == counts


@pytest.mark.parametrize("mode", ["threshold", "alpha"])
def test_fractional_thresholded_or_alpha_weighted(tmp_path, mode):
    geometry = axial_geometry(shape=(5, 22, 21))
    rng = np.random.default_rng(2)
    maps = []
    for m in range(2):
        p = np.zeros(geometry.shape, np.float32)
        p[1:4, 3 + 6 * m : 12 + 6 * m, 4:15] = rng.uniform(0.05, 1.0, size=(3, 9, 11))
        maps.append(p)
    ct, images, md_path, md = write_inputs(tmp_path, geometry, maps, [[1], [1]])
    seg = tmp_path / "f.seg.dcm"
    assert run_cli_quiet(["itk2seg", *images, "-d", ct, "-m", md_path, "-o", seg, "--type", "fractional"]) == 0
    decoded = read_seg(seg)
    stored = {s.number: decoded.volume_of([s.number]).copy() for s in decoded.segments}
    out = tmp_path / "f.png"
    preview_seg(seg, out, fractional=mode)
    rgb, layout, legend, chunks = read_png(out)
    lut = colour_lut(legend).astype(np.float64)
    assert "FRACTIONAL" in chunks["Description"]
    for tile in layout["tiles"]:
        k = tile["slice"]
        rows, cols = sources(tile)
        picture = np.zeros((tile["height"], tile["width"], 3))
        for number in sorted(stored):
            value = stored[number][k][np.ix_(rows, cols)].astype(np.float64)
            weight = (value * 2 >= 255).astype(np.float64) if mode == "threshold" else value / 255
            picture += (lut[number] - picture) * weight[..., None]
        assert np.abs(pixels_of(rgb, tile) - np.rint(picture)).max() <= 1, f"slice {k}"
    assert {e["number"]: e["voxels"] for e in legend} == {n: int(np.count_nonzero(v)) for n, v in stored.items()}


# --------------------------------------------------------------------------- slide SEGs
@pytest.mark.parametrize("seg_type", ["LABELMAP", "BINARY", "FRACTIONAL"])
def test_slide_seg_thumbnail(tmp_path, seg_type):
    from _slide_segs import sample_labels, tiled_seg

    labels = sample_labels()
    sparse = seg_type == "BINARY"
    seg = tiled_seg(tmp_path / "slide.dcm", seg_type=seg_type, organization="TILED_SPARSE" if sparse else "TILED_FULL")
    out = tmp_path / "slide.png"
    report = preview_seg(seg, out)
    assert report.slices == [0]
    rgb, layout, legend, chunks = read_png(out)
    (tile,) = layout["tiles"]
    assert (tile["rows"], tile["columns"]) == labels.shape
    assert max(tile["height"], tile["width"]) == 1024
    rows, cols = sources(tile)
    np.testing.assert_array_equal(pixels_of(rgb, tile), colour_lut(legend)[labels[np.ix_(rows, cols)]])
    values, counts = np.unique(labels, return_counts=True)
    assert {e["number"]: e["voxels"] for e in legend if e["number"]} == {
        int(v): int(c) for v, c in zip(values, counts) if v
    }
    assert "slide SEG" in chunks["Title"]


def test_segments_without_a_recommended_colour_get_stable_distinct_ones(tmp_path):
    import pydicom

    from labelmap._util.color import distinct_rgb

    geometry = axial_geometry(shape=(5, 22, 21))
    labels = phantom(geometry, 4, 1)
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [labels])
    seg = tmp_path / "plain.seg.dcm"
    args = ["itk2seg", images[0], "-d", ct, "-m", md_path, "-o", seg, "--compression", "none"]
    assert run_cli_quiet(args) == 0
    ds = pydicom.dcmread(seg)
    for item in ds.SegmentSequence:
        del item.RecommendedDisplayCIELabValue
    ds.save_as(seg)
    out = tmp_path / "p.png"
    preview_seg(seg, out, tile_size=64)
    rgb, layout, legend, _ = read_png(out)
    drawn = [e for e in legend if e["drawn"]]
    assert drawn and all(tuple(e["rgb"]) == distinct_rgb(e["number"]) for e in drawn)
    assert len({tuple(e["rgb"]) for e in drawn}) == len(drawn)
    assert max(layout["tiles"][0]["height"], layout["tiles"][0]["width"]) == 64
    lut = colour_lut(legend)
    for tile in layout["tiles"]:
        rows, cols = sources(tile)
        np.testing.assert_array_equal(pixels_of(rgb, tile), lut[labels[slice_of(geometry, tile)][np.ix_(rows, cols)]])


def test_slide_pyramid_folder_draws_the_smallest_level_at_least_the_thumbnail(tmp_path):
    from _slide_segs import tiled_seg

    base = np.zeros((44, 48), np.uint8)
    base[5:20, 6:30] = 1
    base[25:40, 20:44] = 2
    folder = tmp_path / "pyramid"
    folder.mkdir()
    for level, factor in enumerate((40, 20, 10)):  # 1760 x 1920, 880 x 960, 440 x 480
        labels = np.kron(base, np.ones((factor, factor), np.uint8))
        tiled_seg(folder / f"level{level}.dcm", labels=labels, tile=(256, 256), spacing=(5e-5 * factor, 5e-5 * factor))
    out = tmp_path / "p.png"
    preview_seg(folder, out, tile_size=900)
    rgb, layout, legend, chunks = read_png(out)
    (tile,) = layout["tiles"]
    assert tile["level"] == 1 and (tile["rows"], tile["columns"]) == (880, 960)  # the smallest >= 900 pixels
    expected = np.kron(base, np.ones((20, 20), np.uint8))
    rows, cols = sources(tile)
    np.testing.assert_array_equal(pixels_of(rgb, tile), colour_lut(legend)[expected[np.ix_(rows, cols)]])
    assert "level 1 of 3" in chunks["Description"]


@pytest.mark.parametrize("extra, offset", [(["--palette"], 0), ([], 300)], ids=["palette", "16-bit"])
def test_palette_colours_and_16_bit_segment_numbers(tmp_path, extra, offset):
    geometry = axial_geometry(shape=(5, 22, 21))
    labels = phantom(geometry, 3, 4).astype(np.uint16)
    labels[labels > 0] += offset  # label values above 255 are 16-bit Segment Numbers
    ct, images, md_path, md = write_inputs(tmp_path, geometry, [labels])
    seg = tmp_path / "x.seg.dcm"
    assert run_cli_quiet(["itk2seg", images[0], "-d", ct, "-m", md_path, "-o", seg, *extra]) == 0
    out = tmp_path / "x.png"
    preview_seg(seg, out)
    rgb, layout, legend, _ = read_png(out)
    values, counts = np.unique(labels, return_counts=True)
    check_legend(rgb, layout, legend, md, dict(zip(values.tolist(), counts.tolist())))
    lut = colour_lut(legend)
    for tile in layout["tiles"]:
        rows, cols = sources(tile)
        np.testing.assert_array_equal(pixels_of(rgb, tile), lut[labels[slice_of(geometry, tile)][np.ix_(rows, cols)]])
