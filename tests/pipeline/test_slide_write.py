"""slide_to_seg: label image (file, array or SlideLabelImage) + dcmqi JSON + whole-slide image -> slide SEG(s)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from _slides import write_wsi_pyramid

from labelmap.demo.sample import sample_metadata
from labelmap.errors import InputError, MetadataError
from labelmap.model import SlideLabelImage, as_slide_labels
from labelmap.pipeline.options import WriteOptions
from labelmap.pipeline.slide import pyramid_names, slide_to_seg

from _cli import listing

hd = pytest.importorskip("highdicom")

SIZES = ((1001, 777), (501, 389), (251, 195))


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slide")
    write_wsi_pyramid(folder, sizes=SIZES, tile=(256, 256), photometric="MONOCHROME2")
    return folder


def _labels(shape, values=(1, 2, 4)) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    rows, cols = shape
    for i, v in enumerate(values):
        out[i * rows // 4 : (i + 2) * rows // 4, i * cols // 5 : (i + 1) * cols // 4 + 3] = v
    return out


def test_npy_labels_on_level_0(slide, tmp_path):
    labels = _labels(SIZES[0])
    path = tmp_path / "labels.npy"
    np.save(path, labels)
    out = tmp_path / "seg.dcm"
    report = slide_to_seg(path, slide, out, metadata=sample_metadata([1, 2, 4]))
    assert report.output == out and report.segmentation_type == "LABELMAP" and report.segments == 3
    assert report.transfer_syntax == "RLE Lossless" and report.bits_allocated == 8 and report.frames == 16
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), labels)
    assert listing(tmp_path) == {"labels.npy", "seg.dcm"}


def test_level_chosen_by_the_label_size(slide, tmp_path):
    labels = _labels(SIZES[1])
    out = tmp_path / "seg.dcm"
    slide_to_seg(labels, slide, out, metadata=sample_metadata([1, 2, 4]), options=WriteOptions(tiled="sparse"))
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert (ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns) == SIZES[1]
    level1 = sorted(slide.iterdir())[1]
    source = pydicom.dcmread(level1, stop_before_pixels=True)
    assert ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == (
        source.SOPInstanceUID
    )
    np.testing.assert_array_equal(hd.seg.segread(out).get_total_pixel_matrix(combine_segments=True), labels)


def test_a_size_matching_no_level_lists_the_levels(slide, tmp_path):
    out = tmp_path / "seg.dcm"
    with pytest.raises(InputError, match=r"no level of the slide has that size; its levels are 0: 1001 x 777"):
        slide_to_seg(np.zeros((1000, 777), np.uint8), slide, out, metadata=sample_metadata([1]))
    with pytest.raises(InputError, match=r"level 1 is 501 x 389"):
        slide_to_seg(_labels(SIZES[0]), slide, out, metadata=sample_metadata([1, 2, 4]), options=WriteOptions(level=1))
    assert listing(tmp_path) == set()


def test_pyramid_files_names_and_series(slide, tmp_path):
    labels = _labels(SIZES[0])
    out = tmp_path / "organs.dcm"
    options = WriteOptions(pyramid=True, tiled_compression="deflate" if _has_deflate_frame() else None)
    report = slide_to_seg(labels, slide, out, metadata=sample_metadata([1, 2, 4]), options=options)
    names = [out, tmp_path / "organs-L1.dcm", tmp_path / "organs-L2.dcm"]
    assert report.pyramid_levels == names[1:] and pyramid_names(out, 3) == names
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in names]
    assert len({h.SeriesInstanceUID for h in headers}) == 1 and len({h.PyramidUID for h in headers}) == 1
    assert [int(h.InstanceNumber) for h in headers] == [1, 2, 3]
    assert [(h.TotalPixelMatrixRows, h.TotalPixelMatrixColumns) for h in headers] == list(SIZES)
    from PIL import Image

    from labelmap.seg.tiled_read import open_slide_seg

    for (rows, cols), path in zip(SIZES, names):
        expected = np.asarray(Image.fromarray(labels).resize((cols, rows), Image.NEAREST))
        # highdicom (pydicom 3.0) does not know Deflated Image Frame Compression: read back by ours
        np.testing.assert_array_equal(open_slide_seg(path).read_matrix(), expected)
        if not options.tiled_compression:
            np.testing.assert_array_equal(hd.seg.segread(path).get_total_pixel_matrix(combine_segments=True), expected)


def _has_deflate_frame() -> bool:
    from labelmap.dicom.uids import lookup

    ts = lookup("deflate-frame")
    return ts is not None and ts.writable


def test_pyramid_is_all_or_nothing(slide, tmp_path):
    labels = _labels(SIZES[0], values=(1, 2, 7))
    out = tmp_path / "organs.dcm"
    with pytest.raises(MetadataError, match="label values 7 occur"):
        slide_to_seg(labels, slide, out, metadata=sample_metadata([1, 2]), options=WriteOptions(pyramid=True))
    assert listing(tmp_path) == set()


def test_slide_label_image_with_its_segments_and_binary_layers(slide, tmp_path):
    from labelmap.formats.dcmqi_json import load_metadata

    labels = _labels(SIZES[2])
    segments = [s for inner in load_metadata(sample_metadata([1, 2, 4])).segments for s in inner]
    masks = [as_slide_labels(labels == v) for v in (1, 2, 4)]
    out = tmp_path / "binary.dcm"
    report = slide_to_seg(SlideLabelImage(masks, segments), slide, out, options=WriteOptions(seg_type="binary"))
    assert report.segmentation_type == "BINARY" and report.transfer_syntax == "Explicit VR Little Endian"
    seg = hd.seg.segread(out)
    for n, v in enumerate((1, 2, 4), 1):
        np.testing.assert_array_equal(seg.get_total_pixel_matrix(segment_numbers=[n])[..., 0], labels == v)


def test_whole_data_set_deflate_means_per_frame_deflate(slide, tmp_path):
    from labelmap.seg.tiled import slide_syntax
    from labelmap.seg.types import SegmentationType

    if not _has_deflate_frame():
        pytest.skip("Deflated Image Frame Compression codec not installed")
    assert slide_syntax("deflate", SegmentationType.LABELMAP).uid == "1.2.840.10008.1.2.8.1"
    with pytest.raises(InputError, match="cannot be used for a slide SEG"):
        slide_syntax("implicit", SegmentationType.LABELMAP)
