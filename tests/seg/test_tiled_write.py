"""Slide SEG writer (labelmap.seg.tiled): every type x TILED_FULL / TILED_SPARSE x syntax on odd sizes,
read back by highdicom to exactly the input, geometry placed by hand with pydicom."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from _slides import write_wsi_pyramid

from labelmap.dicom.pixels.codecs import is_available
from labelmap.errors import InputError, MetadataError
from labelmap.model import Code, SegmentDescription, SlideLabelImage, as_slide_labels
from labelmap.seg.options import WriteOptions
from labelmap.seg.tiled import SlideTarget, write_slide_seg
from labelmap.seg.tiled_header import SlideReference
from labelmap.seg.types import SegmentationType
from labelmap.sources.slide import load_slide

hd = pytest.importorskip("highdicom")

#: (level sizes, tile) of the two slides every case runs on: 256 tiles with odd edges, 10 x 10 tiles
SLIDES = {"1001x777/256": (((1001, 777), (501, 389)), (256, 256)), "21x22/10": (((21, 22), (11, 11)), (10, 10))}


def _segment(number: int, label: int | None = None) -> SegmentDescription:
    return SegmentDescription(
        label_id=number if label is None else label,
        number=number,
        category=Code("91723000", "SCT", "Anatomical Structure"),
        type=Code("84640000", "SCT", "Nucleus"),
        label=f"class {number}",
    )


def _labels(shape: tuple[int, int], values=(1, 2, 3), seed: int = 0) -> np.ndarray:
    """Blocks of each value, some tiles left empty, one value touching the padded edge."""
    rows, cols = shape
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, np.uint8)
    for v in values:
        r0, c0 = int(rng.integers(0, rows // 2)), int(rng.integers(0, cols // 2))
        out[r0 : r0 + max(rows // 3, 1), c0 : c0 + max(cols // 4, 1)] = v
    out[-1, -1] = values[-1]
    out[: rows // 8, -(cols // 8) - 1 :] = 0  # an empty corner: sparse omits its tiles
    return out


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    out = {}
    for key, (sizes, tile) in SLIDES.items():
        folder = tmp_path_factory.mktemp("wsi")
        write_wsi_pyramid(folder, sizes=sizes, tile=tile, photometric="MONOCHROME2")
        out[key] = load_slide(folder)
    return out


def _target(slide, path, index: int = 0, tiles=None) -> SlideTarget:
    level = slide.levels[index]
    ref = SlideReference(
        level.dataset, level.geometry, slide.series_instance_uid, level.sop_class_uid, level.sop_instance_uid
    )
    return SlideTarget(ref, level.geometry.with_tiles(*tiles) if tiles else level.geometry, path)


def _syntaxes(names):
    return [pytest.param(n, marks=pytest.mark.skipif(bool(n) and not is_available(n), reason=str(n))) for n in names]


@pytest.mark.parametrize("slide_key", list(SLIDES))
@pytest.mark.parametrize("tiled", ["full", "sparse"])
@pytest.mark.parametrize("compression", _syntaxes([None, "none", "jpegls", "j2k"]))
def test_labelmap_reads_back_in_highdicom(slides, tmp_path, slide_key, tiled, compression):
    slide = slides[slide_key]
    labels = _labels(slide.levels[0].geometry.shape)
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
    options = WriteOptions(tiled=tiled, tiled_compression=compression)
    written = write_slide_seg(image, [_target(slide, out)], seg_type=SegmentationType.LABELMAP, options=options)
    seg = hd.seg.segread(out)
    np.testing.assert_array_equal(seg.get_total_pixel_matrix(combine_segments=True), labels)
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7" and ds.BitsAllocated == 8
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [0, 1, 2, 3] and ds.PixelPaddingValue == 0
    assert ds.DimensionOrganizationType == ("TILED_SPARSE" if tiled == "sparse" else "TILED_FULL")
    assert int(ds.NumberOfFrames) == written.frames[0]
    syntax = {None: "1.2.840.10008.1.2.5", "none": "1.2.840.10008.1.2.1"}.get(compression)
    if syntax:
        assert ds.file_meta.TransferSyntaxUID == syntax


@pytest.mark.parametrize("slide_key", list(SLIDES))
@pytest.mark.parametrize("tiled", ["full", "sparse"])
@pytest.mark.parametrize("layers", ["one label map", "one layer per segment"])
@pytest.mark.parametrize("compression", _syntaxes([None, "j2k"]))
def test_binary_reads_back_per_segment(slides, tmp_path, slide_key, tiled, layers, compression):
    slide = slides[slide_key]
    labels = _labels(slide.levels[0].geometry.shape)
    if layers == "one label map":
        image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
    else:
        masks = [as_slide_labels((labels == v).astype(np.uint8) * 255) for v in (1, 2, 3)]
        image = SlideLabelImage(masks, [_segment(n) for n in (1, 2, 3)])
    out = tmp_path / "seg.dcm"
    options = WriteOptions(tiled=tiled, tiled_compression=compression)
    write_slide_seg(image, [_target(slide, out)], seg_type=SegmentationType.BINARY, options=options)
    seg = hd.seg.segread(out)
    for v in (1, 2, 3):
        got = seg.get_total_pixel_matrix(segment_numbers=[v])[..., 0]
        np.testing.assert_array_equal(got, (labels == v).astype(got.dtype))
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.BitsAllocated == 1
    if compression is None and tiled == "full":  # native TILED_FULL: segment-major, bits continuous
        g = slide.levels[0].geometry
        n_bits = 3 * g.n_tiles * g.tile_rows * g.tile_columns
        assert len(ds.PixelData) == ((n_bits + 7) // 8 + 1) // 2 * 2


@pytest.mark.parametrize("slide_key", list(SLIDES))
@pytest.mark.parametrize("tiled", ["full", "sparse"])
@pytest.mark.parametrize("compression", _syntaxes([None, "none", "jpegls"]))
def test_fractional_reads_back(slides, tmp_path, slide_key, tiled, compression):
    slide = slides[slide_key]
    labels = _labels(slide.levels[0].geometry.shape)
    rng = np.random.default_rng(1)
    maps = [np.where(labels == v, rng.random(labels.shape), 0.0).astype(np.float32) for v in (1, 2)]
    image = SlideLabelImage([as_slide_labels(m) for m in maps], [_segment(1), _segment(2)])
    out = tmp_path / "seg.dcm"
    options = WriteOptions(tiled=tiled, tiled_compression=compression)
    write_slide_seg(image, [_target(slide, out)], seg_type=SegmentationType.FRACTIONAL, options=options)
    seg = hd.seg.segread(out)
    for n, m in enumerate(maps, 1):
        got = seg.get_total_pixel_matrix(segment_numbers=[n], rescale_fractional=False)[..., 0]
        np.testing.assert_array_equal(got, np.rint(m.astype(np.float64) * 255).astype(np.uint8))


def test_tiled_full_frames_sit_at_their_tiles(slides, tmp_path):
    """Frame k of TILED_FULL holds tile (k // across, k % across), padded with background."""
    slide = slides["1001x777/256"]
    g = slide.levels[0].geometry
    labels = (np.arange(g.rows * g.columns).reshape(g.shape) % 251 + 1).astype(np.uint8)
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in range(1, 252)])
    options = WriteOptions(tiled_compression="none")
    write_slide_seg(image, [_target(slide, out)], seg_type=SegmentationType.LABELMAP, options=options)
    ds = pydicom.dcmread(out)
    frames = ds.pixel_array
    assert frames.shape == (g.n_tiles, 256, 256) and "PerFrameFunctionalGroupsSequence" not in ds
    assert "DimensionIndexSequence" not in ds and ds.TotalPixelMatrixFocalPlanes == 1
    for k in range(g.n_tiles):
        r, c = divmod(k, g.tiles_across)
        block = labels[r * 256 : (r + 1) * 256, c * 256 : (c + 1) * 256]
        np.testing.assert_array_equal(frames[k, : block.shape[0], : block.shape[1]], block)
        assert not frames[k, block.shape[0] :].any() and not frames[k, :, block.shape[1] :].any()
    # copied from the level: origin, orientation, spacing, frame of reference, specimen
    src = slide.levels[0].dataset
    assert ds.FrameOfReferenceUID == src.FrameOfReferenceUID and ds.ContainerIdentifier == src.ContainerIdentifier
    assert ds.TotalPixelMatrixOriginSequence == src.TotalPixelMatrixOriginSequence
    assert [float(v) for v in ds.ImageOrientationSlide] == [float(v) for v in src.ImageOrientationSlide]
    spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    assert spacing == src.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    assert ds.SpecimenDescriptionSequence[0].SpecimenUID == src.SpecimenDescriptionSequence[0].SpecimenUID
    assert ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert (ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns) == g.shape


@pytest.mark.parametrize("seg_type", [SegmentationType.LABELMAP, SegmentationType.BINARY])
def test_sparse_positions_and_dimension_ranks(slides, tmp_path, seg_type):
    slide = slides["21x22/10"]
    g = slide.levels[0].geometry
    labels = np.zeros(g.shape, np.uint8)
    labels[12:21, 0:5] = 1  # tile row 1 and 2, column 0
    labels[0:3, 15:22] = 2  # tile row 0, columns 1 and 2
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(1), _segment(2)])
    write_slide_seg(image, [_target(slide, out)], seg_type=seg_type, options=WriteOptions(tiled="sparse"))
    ds = pydicom.dcmread(out)
    classic = seg_type == SegmentationType.BINARY
    pointers = [int(item.DimensionIndexPointer) for item in ds.DimensionIndexSequence]
    assert pointers == ([0x0062000B] if classic else []) + [0x0048021F, 0x0048021E]
    seen = set()
    for item in ds.PerFrameFunctionalGroupsSequence:
        pos = item.PlanePositionSlideSequence[0]
        row, col = int(pos.RowPositionInTotalImagePixelMatrix), int(pos.ColumnPositionInTotalImagePixelMatrix)
        assert (row - 1) % 10 == 0 and (col - 1) % 10 == 0
        x, y, z = g.position(row, col)
        assert float(pos.XOffsetInSlideCoordinateSystem) == pytest.approx(x, abs=1e-9)
        assert float(pos.YOffsetInSlideCoordinateSystem) == pytest.approx(y, abs=1e-9)
        assert float(pos.ZOffsetInSlideCoordinateSystem) == pytest.approx(z, abs=1e-9)
        dims = [int(v) for v in item.FrameContentSequence[0].DimensionIndexValues]
        # every tile row and column holds a frame here, so the ranks are the tile indices + 1
        assert dims[-2:] == [(row - 1) // 10 + 1, (col - 1) // 10 + 1]
        if classic:
            assert dims[0] == int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        else:
            assert "SegmentIdentificationSequence" not in item
        seen.add((dims[0] if classic else 0, row, col))
    expected = (
        {(1, 11, 1), (1, 21, 1), (2, 1, 11), (2, 1, 21)}
        if classic
        else {(0, 11, 1), (0, 21, 1), (0, 1, 11), (0, 1, 21)}
    )
    assert seen == expected


def test_extended_offset_table_forced_by_a_small_limit(slides, tmp_path):
    slide = slides["1001x777/256"]
    labels = _labels(slide.levels[0].geometry.shape)
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
    written = write_slide_seg(
        image, [_target(slide, out)], seg_type=SegmentationType.LABELMAP, options=WriteOptions(), bot_limit=64
    )
    assert written.extended_offset_table == [True]
    ds = pydicom.dcmread(out)
    assert len(ds.ExtendedOffsetTable) == 8 * int(ds.NumberOfFrames)
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), labels)


def test_16_bit_when_a_segment_number_passes_255(slides, tmp_path):
    slide = slides["21x22/10"]
    labels = np.zeros(slide.levels[0].geometry.shape, np.uint16)
    labels[2:9, 3:17] = 300
    labels[10:, :4] = 7
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(300), _segment(7)])
    written = write_slide_seg(image, [_target(slide, out)], seg_type=SegmentationType.LABELMAP)
    assert written.bits == 16
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), labels)


def test_tile_size_other_than_the_source(slides, tmp_path):
    slide = slides["1001x777/256"]
    labels = _labels(slide.levels[0].geometry.shape)
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
    write_slide_seg(image, [_target(slide, out, tiles=(100, 300))], seg_type=SegmentationType.LABELMAP)
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert (ds.Rows, ds.Columns, int(ds.NumberOfFrames)) == (100, 300, 11 * 3)
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), labels)


def test_pyramid_levels_are_nearest_downsampled_in_one_pass(slides, tmp_path):
    from PIL import Image

    slide = slides["1001x777/256"]
    labels = _labels(slide.levels[0].geometry.shape)
    paths = [tmp_path / "l0.dcm", tmp_path / "l1.dcm"]
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
    targets = [_target(slide, paths[0], 0), _target(slide, paths[1], 1)]
    write_slide_seg(
        image, targets, seg_type=SegmentationType.LABELMAP, pyramid_uid="1.2.3.4", series_instance_uid="1.2.3.5"
    )
    rows, cols = slide.levels[1].geometry.shape
    expected = np.asarray(Image.fromarray(labels).resize((cols, rows), Image.NEAREST))
    np.testing.assert_array_equal(hd.seg.segread(paths[1]).get_total_pixel_matrix(combine_segments=True), expected)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.PyramidUID == "1.2.3.4" and ds.SeriesInstanceUID == "1.2.3.5" and ds.InstanceNumber == k + 1
        assert ds.PyramidLabel == "Segmentation"  # the series description
        src = slide.levels[k].dataset
        assert (
            ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        )
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        # as read, or (a source value too long for DS) to 10 significant digits: within DMV's 1e-5 mm
        source_spacing = src.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        assert [float(v) for v in measures.PixelSpacing] == pytest.approx([float(v) for v in source_spacing], rel=1e-9)
        assert ds.TotalPixelMatrixOriginSequence == src.TotalPixelMatrixOriginSequence


def test_values_without_a_description_are_named(slides, tmp_path):
    slide = slides["21x22/10"]
    labels = _labels(slide.levels[0].geometry.shape, values=(1, 5, 9))
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(1)])
    with pytest.raises(MetadataError, match="label values 5, 9 occur in the image but have no segment description"):
        write_slide_seg(image, [_target(slide, out)], seg_type=SegmentationType.LABELMAP, names=["labels.tif"])
    assert not out.exists() and not list(tmp_path.iterdir())


class _Claimed:
    """A label image claiming 100,000 x 80,000 pixels that must never be read."""

    shape = (100_000, 80_000)
    dtype = np.dtype(np.uint8)

    def read_rows(self, start, stop):  # pragma: no cover - the write is refused before any read
        raise AssertionError("read_rows must not be called")


def test_native_over_4_gib_is_refused_before_reading(slides, tmp_path):
    from labelmap.model import SlideGeometry

    slide = slides["1001x777/256"]
    level = slide.levels[0]
    big = SlideGeometry(100_000, 80_000, 256, 256, level.geometry.pixel_spacing, level.geometry.origin)
    ref = SlideReference(level.dataset, big, slide.series_instance_uid, level.sop_class_uid, level.sop_instance_uid)
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([_Claimed()], [_segment(1)])
    with pytest.raises(InputError, match=r"over DICOM's 4 GiB limit; use a compressed syntax .* or --tiled sparse"):
        write_slide_seg(
            image,
            [SlideTarget(ref, big, out)],
            seg_type=SegmentationType.LABELMAP,
            options=WriteOptions(tiled_compression="none"),
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("slide_key", list(SLIDES))
@pytest.mark.parametrize("tiled", ["full", "sparse"])
@pytest.mark.parametrize("seg_type", list(SegmentationType))
def test_deflate_means_per_frame_deflate_read_back_by_ours(slides, tmp_path, slide_key, tiled, seg_type):
    """Deflated Image Frame Compression (highdicom cannot read it): every type, read back by labelmap's reader."""
    from labelmap.seg.tiled_read import open_slide_seg

    slide = slides[slide_key]
    labels = _labels(slide.levels[0].geometry.shape)
    if seg_type == SegmentationType.LABELMAP:
        image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
        expected = [labels]
    elif seg_type == SegmentationType.BINARY:
        image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
        expected = [(labels == v).astype(np.uint8) for v in (1, 2, 3)]
    else:
        maps = [(labels == v).astype(np.uint8) * (40 * v) for v in (1, 2, 3)]
        image = SlideLabelImage([as_slide_labels(m) for m in maps], [_segment(n) for n in (1, 2, 3)])
        expected = maps
    out = tmp_path / "seg.dcm"
    options = WriteOptions(tiled=tiled, tiled_compression="deflate")
    write_slide_seg(image, [_target(slide, out)], seg_type=seg_type, options=options)
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.8.1"
    seg = open_slide_seg(out)
    for layer, want in enumerate(expected):
        got = seg.read_matrix(layer)
        if seg_type == SegmentationType.BINARY:  # inside = non-zero (the reader may store the segment number)
            got, want = got != 0, want != 0
        np.testing.assert_array_equal(got, want.astype(got.dtype))


@pytest.mark.parametrize("orientation", [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.8, 0.6, 0.0, -0.6, 0.8, 0.0)])
def test_sparse_offsets_follow_any_slide_orientation(tmp_path, orientation):
    """X/Y of each frame are the slide position of its top-left pixel whatever Image Orientation (Slide) says."""
    folder = tmp_path / "wsi"
    write_wsi_pyramid(folder, sizes=((21, 22),), tile=(10, 10), photometric="MONOCHROME2", orientation=orientation)
    slide = load_slide(folder)
    g = slide.levels[0].geometry
    labels = _labels(g.shape)
    out = tmp_path / "seg.dcm"
    image = SlideLabelImage([as_slide_labels(labels)], [_segment(n) for n in (1, 2, 3)])
    write_slide_seg(
        image, [_target(slide, out)], seg_type=SegmentationType.LABELMAP, options=WriteOptions(tiled="sparse")
    )
    ds = pydicom.dcmread(out)
    assert [float(v) for v in ds.ImageOrientationSlide] == pytest.approx(orientation)
    for item in ds.PerFrameFunctionalGroupsSequence:
        pos = item.PlanePositionSlideSequence[0]
        x, y, _ = g.position(
            int(pos.RowPositionInTotalImagePixelMatrix), int(pos.ColumnPositionInTotalImagePixelMatrix)
        )
        assert (float(pos.XOffsetInSlideCoordinateSystem), float(pos.YOffsetInSlideCoordinateSystem)) == pytest.approx(
            (x, y), abs=1e-9
        )
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), labels)
