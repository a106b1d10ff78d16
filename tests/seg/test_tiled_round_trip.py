"""Round trip through labelmap's own slide SEG writer (labelmap.seg.tiled.write_slide_seg): every type,
organisation and syntax reads back to the labels written, by bands."""

from __future__ import annotations

import numpy as np
import pytest
from _slides import write_wsi_pyramid
from _tiled_segs import blobs

from labelmap.model import Code, SegmentDescription, SlideLabelImage, as_slide_labels
from labelmap.seg.options import WriteOptions
from labelmap.seg.tiled import SlideTarget, write_slide_seg
from labelmap.seg.tiled_header import SlideReference
from labelmap.seg.tiled_read import open_slide_seg
from labelmap.seg.types import SegmentationType
from labelmap.sources.slide import load_slide

TISSUE = Code("85756007", "SCT", "Tissue")


@pytest.fixture(scope="module")
def level(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wsi")
    source = load_slide(write_wsi_pyramid(folder, sizes=[(1001, 777)], tile=(256, 256)))
    level = source.level(0)
    reference = SlideReference(
        level.dataset, level.geometry, source.series_instance_uid, level.sop_class_uid, level.sop_instance_uid
    )
    return reference, level.geometry


def _segments(numbers):
    return tuple(SegmentDescription(label_id=n, category=TISSUE, type=TISSUE, number=n) for n in numbers)


@pytest.mark.parametrize("compression", [None, "deflate", "jpegls"])
@pytest.mark.parametrize("tiled", ["full", "sparse"])
def test_labelmap_round_trip(tmp_path, level, tiled, compression):
    reference, geometry = level
    labels = blobs(1001, 777, 5, seed=11)
    image = SlideLabelImage((as_slide_labels(labels),), _segments(range(1, 6)))
    path = tmp_path / "s.dcm"
    options = WriteOptions(tiled=tiled, tiled_compression=compression)
    write_slide_seg(
        image, [SlideTarget(reference, geometry, path)], seg_type=SegmentationType.LABELMAP, options=options
    )
    slide = open_slide_seg(path)
    assert slide.warnings == ()
    assert slide.geometry == geometry
    assert slide.organization == ("TILED_FULL" if tiled == "full" else "TILED_SPARSE")
    np.testing.assert_array_equal(slide.read_matrix(), labels)


@pytest.mark.parametrize("seg_type", ["BINARY", "FRACTIONAL"])
@pytest.mark.parametrize("tiled", ["full", "sparse"])
def test_classic_round_trip(tmp_path, level, seg_type, tiled):
    reference, geometry = level
    labels = blobs(1001, 777, 3, seed=12)
    if seg_type == "BINARY":
        layers = [(labels == n).astype(np.uint8) for n in (1, 2, 3)]
    else:
        layers = [np.where(labels == n, 200 + n, 0).astype(np.uint8) for n in (1, 2, 3)]
    image = SlideLabelImage(tuple(as_slide_labels(a) for a in layers), _segments((1, 2, 3)))
    path = tmp_path / "c.dcm"
    write_slide_seg(
        image,
        [SlideTarget(reference, geometry, path)],
        seg_type=SegmentationType(seg_type),
        options=WriteOptions(tiled=tiled),
    )
    slide = open_slide_seg(path)
    assert slide.layers == 3 and slide.warnings == ()
    for k, expected in enumerate(layers):
        np.testing.assert_array_equal(slide.read_matrix(k), expected)
