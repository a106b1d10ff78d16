"""``to_highdicom``: what ``read_seg`` returns, handed over to highdicom 0.28 as a ``Segmentation``.

Every SEG our writer makes (LABELMAP 8 / 16 bit, BINARY, FRACTIONAL in each transfer syntax whose
codec is installed; a palette LABELMAP with a skipped slice; slide SEGs, TILED_FULL and
TILED_SPARSE) gives a Segmentation whose segment numbers and labels are ours and whose pixels,
read with highdicom's own calls, equal our decoded arrays voxel for voxel on a grid within 1e-4 mm
of ours.  What highdicom cannot read, and a missing highdicom, are one clear error each.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _slides import write_wsi_pyramid

import labelmap
from labelmap.demo.sample import sample_metadata, write_ct_series
from labelmap.errors import InputError, SegFormatError, UnsupportedError
from labelmap.formats.dcmqi_json import load_metadata
from labelmap.model import Geometry, LabelVolume, SlideLabelImage, as_slide_labels
from labelmap.pipeline.options import WriteOptions

from _segfiles import kinds, segments, small_geometry, write_files

hd = pytest.importorskip("highdicom")

ROOT = Path(__file__).resolve().parents[2]
SLIDE = (45, 52)  # rows, columns: 3 x 4 tiles of 16, the last row and column cropped


# --------------------------------------------------------------------------- helpers
def affine_of(geometry: Geometry) -> np.ndarray:
    """Our geometry as a highdicom affine: array axes (slice, row, column) -> LPS mm."""
    return geometry.affine[:, [2, 1, 0, 3]]


def corners(affine: np.ndarray, shape) -> np.ndarray:
    """The LPS positions of the 8 corner voxels' centres, sorted (so that axis order and direction do not matter)."""
    index = np.array([[a, b, c, 1.0] for a in (0, shape[0] - 1) for b in (0, shape[1] - 1) for c in (0, shape[2] - 1)])
    return np.array(sorted(map(tuple, np.round((affine @ index.T).T[:, :3], 6))))


def on_our_grid(volume, geometry: Geometry) -> np.ndarray:
    """highdicom's Volume laid on our grid by highdicom (``match_geometry``: axes permuted and flipped only),
    after checking that it covers the same voxel centres within 1e-4 mm."""
    assert tuple(volume.spatial_shape) == tuple(geometry.shape)
    np.testing.assert_allclose(
        corners(volume.affine, volume.spatial_shape), corners(affine_of(geometry), geometry.shape), atol=1e-4
    )
    matched = volume.match_geometry(hd.VolumeGeometry(affine_of(geometry), geometry.shape, "PATIENT"), tol=1e-4)
    assert tuple(matched.spatial_shape) == tuple(geometry.shape)
    np.testing.assert_allclose(matched.affine, affine_of(geometry), atol=1e-4)
    return np.asarray(matched.array)


def check_segments(seg, decoded) -> None:
    """Segment numbers and labels as we read them (a LABELMAP's background segment, if any, aside)."""
    ours = {s.number: s.label for s in decoded.segments}
    theirs = {int(n): seg.get_segment_description(int(n)).segment_label for n in seg.segment_numbers}
    if decoded.segmentation_type == "LABELMAP" and decoded.background_number is not None:
        theirs.pop(decoded.background_number, None)
    assert theirs == ours


def check_volume(seg, decoded) -> None:
    """highdicom's pixels (``get_volume``) equal our decoded arrays voxel for voxel."""
    assert isinstance(seg, hd.seg.Segmentation)
    assert seg.segmentation_type.value == decoded.segmentation_type
    check_segments(seg, decoded)
    if decoded.segmentation_type == "LABELMAP":
        theirs = on_our_grid(seg.get_volume(combine_segments=True, relabel=False), decoded.geometry)
        np.testing.assert_array_equal(theirs, decoded.volume.array)
        assert theirs.any()
        return
    for description, ours in decoded.iter_segment_volumes():
        volume = seg.get_volume(segment_numbers=[description.number], rescale_fractional=False)
        theirs = on_our_grid(volume, decoded.geometry)[..., 0]
        want = (ours != 0).astype(np.uint8) if decoded.segmentation_type == "BINARY" else ours
        np.testing.assert_array_equal(theirs, want)
        assert want.any()


# --------------------------------------------------------------------------- volume SEGs
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hd_files")
    ct, paths = write_files(root)
    return root, ct, paths


@pytest.mark.parametrize("key", [k for k, _, _ in kinds()])
def test_every_type_and_syntax_of_ours(files, key):
    _, _, paths = files
    decoded = labelmap.read_seg(paths[key])
    assert decoded.read_from == os.path.abspath(paths[key])
    check_volume(decoded.to_highdicom(), decoded)


def test_palette_labelmap_with_a_skipped_slice(tmp_path):
    geometry = small_geometry(shape=(5, 22, 21))
    array = np.zeros(geometry.shape, np.uint16)
    array[0, 2:9, 3:8] = 7
    array[3, 4:12, 5:15] = 300  # slices 1 and 2 empty: not written, filled on read
    array[4, 0:3, 0:4] = 1
    ct = tmp_path / "ct"
    write_ct_series(ct, geometry)
    out = tmp_path / "palette.dcm"
    volume = LabelVolume(array, geometry, segments(1, 7, 300))
    labelmap.write_seg(volume, labelmap.load_source(ct), out, options=WriteOptions(palette=True, compression="rle"))
    decoded = labelmap.read_seg(out)
    assert decoded.filled_slices == 2 and decoded.bits_allocated == 16
    seg = labelmap.to_highdicom(decoded)
    check_volume(seg, decoded)
    assert "PaletteColorLookupTableSequence" in seg or "RedPaletteColorLookupTableDescriptor" in seg


def test_from_a_dataset_leaves_it_unchanged(files):
    _, _, paths = files
    ds = pydicom.dcmread(paths["lm16-none"])
    before = copy.deepcopy(ds)
    decoded = labelmap.read_seg(ds)
    assert decoded.read_from is ds
    seg = decoded.to_highdicom()
    check_volume(seg, decoded)
    assert type(ds) is pydicom.FileDataset and ds == before  # highdicom worked on a copy
    check_volume(labelmap.to_highdicom(ds), decoded)  # the Dataset itself, and a path, convert alike
    check_volume(labelmap.to_highdicom(paths["lm16-none"]), decoded)
    check_volume(labelmap.to_highdicom(seg), decoded)  # a Segmentation is a Dataset: highdicom copies it


def test_reference_grid_does_not_change_the_segmentation(files):
    """``reference=`` lays our arrays on the CT grid; the Segmentation is the SEG as stored."""
    _, ct, paths = files
    on_ct = labelmap.read_seg(paths["bin-none"], reference=ct)
    assert on_ct.read_from == os.path.abspath(paths["bin-none"])
    check_volume(on_ct.to_highdicom(), labelmap.read_seg(paths["bin-none"]))


# --------------------------------------------------------------------------- slide SEGs
@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hd_slide")
    write_wsi_pyramid(folder, sizes=[SLIDE], tile=(16, 16), photometric="MONOCHROME2")
    labels = np.zeros(SLIDE, np.uint8)
    labels[3:20, 5:30] = 1
    labels[22:44, 2:14] = 2
    labels[30:45, 35:52] = 5
    labels[:16, 32:48] = 0  # an empty tile: TILED_SPARSE leaves it out
    return folder, labels


def slide_corners_check(seg, geometry) -> None:
    """highdicom's total pixel matrix geometry (``get_volume_geometry``) puts the corner pixels where ours does."""
    volume_geometry = seg.get_volume_geometry()
    assert tuple(volume_geometry.spatial_shape) == (1, geometry.rows, geometry.columns)
    for row, column in ((1, 1), (1, geometry.columns), (geometry.rows, 1), (geometry.rows, geometry.columns)):
        theirs = volume_geometry.affine @ np.array([0.0, row - 1, column - 1, 1.0])
        x, y, z_um = geometry.position(row, column)
        np.testing.assert_allclose(theirs[:3], [x, y, z_um / 1000.0], atol=1e-4)


@pytest.mark.parametrize(
    "seg_type,tiled,compression",
    [("labelmap", "full", "rle"), ("labelmap", "sparse", "none"), ("binary", "full", None)],
)
def test_slide_segs(slide, tmp_path, seg_type, tiled, compression):
    folder, labels = slide
    described = [s for inner in load_metadata(sample_metadata([1, 2, 5])).segments for s in inner]
    if seg_type == "labelmap":
        image = SlideLabelImage([as_slide_labels(labels)], described)
    else:
        image = SlideLabelImage(
            [as_slide_labels((labels == s.label_id).astype(np.uint8)) for s in described], described
        )
    out = tmp_path / "slide.dcm"
    options = WriteOptions(seg_type=seg_type, tiled=tiled, tiled_compression=compression)
    labelmap.write_seg(image, labelmap.load_slide(folder), out, options=options)
    ours = labelmap.read_seg(out)
    assert isinstance(ours, SlideLabelImage) and ours.read_from == os.path.abspath(out)
    seg = ours.to_highdicom()
    assert isinstance(seg, hd.seg.Segmentation) and seg.segmentation_type.value == seg_type.upper()
    assert {int(n): seg.get_segment_description(int(n)).segment_label for n in seg.segment_numbers} == {
        s.number: s.label for s in ours.segments
    }
    slide_corners_check(seg, ours.geometry)
    rows = ours.geometry.rows
    if seg_type == "labelmap":
        theirs = seg.get_total_pixel_matrix(combine_segments=True, relabel=False)
        np.testing.assert_array_equal(theirs, ours.layers[0].read_rows(0, rows))
        np.testing.assert_array_equal(theirs, labels)
    else:
        for description, layer, written in zip(ours.segments, ours.layers, described):
            theirs = seg.get_total_pixel_matrix(segment_numbers=[description.number])[..., 0]
            np.testing.assert_array_equal(theirs, layer.read_rows(0, rows))
            np.testing.assert_array_equal(theirs, labels == written.label_id)
    lazy = labelmap.to_highdicom(out, lazy_frame_retrieval=True)  # highdicom's option, passed on
    for description, written in zip(ours.segments, described):
        mask = lazy.get_total_pixel_matrix(segment_numbers=[description.number])[..., 0]
        np.testing.assert_array_equal(mask, labels == written.label_id)


def test_deflated_image_frames_are_refused_in_one_line(slide, tmp_path):
    folder, labels = slide
    described = [s for inner in load_metadata(sample_metadata([1, 2, 5])).segments for s in inner]
    out = tmp_path / "deflate.dcm"
    options = WriteOptions(tiled_compression="deflate")
    labelmap.write_seg(
        SlideLabelImage([as_slide_labels(labels)], described), labelmap.load_slide(folder), out, options=options
    )
    image = labelmap.read_seg(out)  # we read it
    np.testing.assert_array_equal(image.layers[0].read_rows(0, SLIDE[0]), labels)
    with pytest.raises(UnsupportedError) as caught:
        labelmap.to_highdicom(image)
    message = str(caught.value)
    assert "\n" not in message and caught.value.path == str(out) and caught.value.keyword == "TransferSyntaxUID"
    assert f"highdicom {hd.__version__}" in message and "Deflated Image Frame Compression" in message
    assert "compression 'rle'" in message


# --------------------------------------------------------------------------- refusals
def test_what_highdicom_refuses_is_one_line_naming_its_version(files):
    """A SEG we read but highdicom 0.28 does not load (no Slice Thickness in Pixel Measures): no traceback."""
    _, _, paths = files
    ds = pydicom.dcmread(paths["lm8-none"])
    del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness
    decoded = labelmap.read_seg(ds)
    np.testing.assert_array_equal(decoded.volume.array, labelmap.read_seg(paths["lm8-none"]).volume.array)
    with pytest.raises(UnsupportedError) as caught:
        decoded.to_highdicom()
    message = str(caught.value)
    assert "\n" not in message and f"highdicom {hd.__version__} cannot load this SEG" in message
    assert "Pixel Measures" in message and "validate" in message


def test_inputs_that_are_no_seg(files, tmp_path):
    _, ct, paths = files
    with pytest.raises(SegFormatError, match="file not found"):
        labelmap.to_highdicom(tmp_path / "missing.dcm")
    with pytest.raises(SegFormatError, match="is a folder"):
        labelmap.to_highdicom(ct)
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(SegFormatError, match="not a DICOM file"):
        labelmap.to_highdicom(tmp_path / "notes.txt")
    a_ct_slice = sorted(ct.iterdir())[0]
    with pytest.raises(SegFormatError, match="is not a Segmentation") as caught:
        labelmap.to_highdicom(a_ct_slice)
    assert caught.value.keyword == "SOPClassUID"
    with pytest.raises(InputError, match="not read from a SEG"):
        labelmap.to_highdicom(SlideLabelImage([as_slide_labels(np.zeros((4, 4), np.uint8))]))
    with pytest.raises(InputError, match="not ndarray"):
        labelmap.to_highdicom(np.zeros(3))
    ds = pydicom.dcmread(paths["lm8-none"])
    del ds.file_meta.TransferSyntaxUID
    with pytest.raises(InputError, match="file_meta.TransferSyntaxUID"):
        labelmap.to_highdicom(ds)


MISSING = """
import sys
sys.modules["highdicom"] = None  # what an environment without highdicom gives: import fails
import labelmap
decoded = labelmap.read_seg(sys.argv[1])
assert "highdicom" not in [m for m in sys.modules if sys.modules[m] is not None]
try:
    decoded.to_highdicom()
except labelmap.MissingDependencyError as exc:
    assert isinstance(exc, ImportError)
    print(exc)
    sys.exit(3)
"""


def test_missing_highdicom_names_the_pip_line(files):
    _, _, paths = files
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", MISSING, str(paths["lm8-rle"])], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ""
    line = proc.stdout.strip()
    assert "\n" not in line and "pip install highdicom" in line and "labelmap[highdicom]" in line
