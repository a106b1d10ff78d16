"""Slide sources: VL Whole Slide Microscopy pyramids read from headers only (labelmap.sources.slide)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _slides import (
    edit_header,
    level_spacings,
    slide_uids,
    truncate,
    write_ct,
    write_wsi_associated,
    write_wsi_image,
    write_wsi_pyramid,
    wsi_pixels,
)
from pydicom.sequence import Sequence as DicomSequence

from labelmap.errors import DicomSeriesError, InputError, LabelmapError, UnsupportedError
from labelmap.model import SlideGeometry
from labelmap.pipeline.convert import load_source
from labelmap.sources.slide import SlideSource, is_slide_source, load_slide

SIZES = [(301, 257), (151, 129), (76, 65)]
TILE = (64, 50)
ORIENTATIONS = [(0, -1, 0, -1, 0, 0), (1, 0, 0, 0, 1, 0), (0, 1, 0, 1, 0, 0)]


def one_line_error(kind: type[Exception], call, *args, **kw) -> str:
    with pytest.raises(kind) as info:
        call(*args, **kw)
    text = str(info.value)
    assert "\n" not in text and isinstance(info.value, LabelmapError)
    return text


def pyramid(folder: Path, **kw) -> list[Path]:
    kw.setdefault("tile", TILE)
    kw.setdefault("photometric", "MONOCHROME2")
    return write_wsi_pyramid(folder, kw.pop("sizes", SIZES), **kw)


# --------------------------------------------------------------------------- levels and geometry
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_levels_largest_first_with_the_geometry_of_each_header(tmp_path, orientation):
    paths = pyramid(tmp_path, origin=(12.5, -3.25, 7.0), orientation=orientation)
    source = load_slide(tmp_path)
    assert isinstance(source, SlideSource)
    assert source.series_instance_uid == slide_uids(0)["series"]
    assert [level.index for level in source.levels] == [0, 1, 2]
    for level, path, (rows, cols), spacing in zip(source.levels, paths, SIZES, level_spacings(SIZES, 0.00025)):
        assert level.geometry == SlideGeometry(rows, cols, *TILE, spacing, (12.5, -3.25, 7.0), orientation)
        assert level.path == str(path)
        assert level.sop_instance_uid == pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert level.sop_class_uid == "1.2.840.10008.5.1.4.1.1.77.1.6"
        assert level.number_of_frames == -(-rows // TILE[0]) * -(-cols // TILE[1])
        assert level.dimension_organization_type == "TILED_FULL"
        assert level.concatenation_uid is None and level.parts == ()
        assert level.dataset.ContainerIdentifier == "SLIDE-1"
        assert level.dataset.SpecimenDescriptionSequence[0].SpecimenUID == slide_uids(0)["specimen"]
        assert "PixelData" not in level.dataset
    assert source.frame_of_reference_uid == slide_uids(0)["frame_of_reference"]
    # the geometry places pixels where the header says: pixel (1, 1) at the origin, steps along the orientation
    g = source.levels[1].geometry
    x, y, z = g.position(1, 2)
    assert (x - 12.5, y + 3.25, z) == pytest.approx(
        (orientation[0] * g.pixel_spacing[1], orientation[1] * g.pixel_spacing[1], 7.0)
    )


@pytest.mark.parametrize(
    ("sizes", "tile"),
    [
        ([(1001, 777), (501, 389), (250, 194)], (256, 256)),
        ([(203, 117), (101, 59)], (10, 10)),
        ([(1999, 1), (1000, 1)], (512, 512)),
        ([(1, 1)], (1, 1)),
        ([(700, 1300), (350, 650), (175, 325), (88, 163)], (256, 512)),
    ],
)
def test_odd_sizes_and_tiles(tmp_path, sizes, tile):
    pyramid(tmp_path, sizes=sizes, tile=tile)
    source = load_slide(tmp_path)
    assert [level.geometry.shape for level in source.levels] == sizes
    for level in source.levels:
        assert (level.geometry.tile_rows, level.geometry.tile_columns) == tile
        assert level.number_of_frames == level.geometry.n_tiles


def test_folder_files_and_nested_folders_give_the_same_levels(tmp_path):
    paths = pyramid(tmp_path / "a" / "b")
    from_folder = load_slide(tmp_path)
    from_files = load_slide([str(p) for p in reversed(paths)])
    from_one_file = load_slide(paths[1])
    assert [lv.sop_instance_uid for lv in from_folder.levels] == [lv.sop_instance_uid for lv in from_files.levels]
    assert [lv.geometry.shape for lv in from_one_file.levels] == [SIZES[1]]


def test_level_for_and_level_choose_and_list_every_level_when_they_cannot(tmp_path):
    pyramid(tmp_path, sizes=[(400, 400), (200, 200), (100, 100)])
    source = load_slide(tmp_path)
    assert source.level_for(200, 200) is source.levels[1]
    assert source.level(2) is source.levels[2]
    listing = "0: 400 x 400 (0.25 um), 1: 200 x 200 (0.5 um), 2: 100 x 100 (1 um)"
    assert source.listing == listing
    text = one_line_error(InputError, source.level_for, 200, 201)
    assert "200 x 201" in text and listing in text
    assert listing in one_line_error(InputError, source.level_for, 400, 200)  # rows/columns not swapped
    for bad in (3, -1, True, "1"):
        assert listing in one_line_error(InputError, source.level, bad)


def test_non_square_spacing_is_listed_per_axis(tmp_path):
    pyramid(tmp_path, sizes=[(300, 300), (150, 100)])
    assert load_slide(tmp_path).listing == "0: 300 x 300 (0.25 um), 1: 150 x 100 (0.5 x 0.75 um)"


# --------------------------------------------------------------------------- what is not a level
@pytest.mark.parametrize("kind", ["LABEL", "OVERVIEW", "THUMBNAIL"])
def test_label_overview_and_thumbnail_images_are_left_out_with_a_note(tmp_path, kind):
    pyramid(tmp_path)
    extra = write_wsi_associated(tmp_path, kind, size=(60, 51))
    source = load_slide(tmp_path)
    assert [level.geometry.shape for level in source.levels] == SIZES
    assert any(kind.lower() in note and str(extra) in note for note in source.notes)


def test_associated_images_in_their_own_series_do_not_make_it_ambiguous(tmp_path):
    pyramid(tmp_path)
    uids = dict(slide_uids(0), series=slide_uids(5)["series"])
    write_wsi_associated(tmp_path, "LABEL", uids=uids)
    write_wsi_associated(tmp_path, "OVERVIEW", uids=uids)
    assert len(load_slide(tmp_path).levels) == 3
    only_labels = one_line_error(DicomSeriesError, load_slide, tmp_path / "label.dcm")
    assert "label" in only_labels and "VOLUME" in only_labels
    assert "VOLUME" in one_line_error(DicomSeriesError, load_slide, tmp_path, series_uid=uids["series"])


def test_a_ct_series_is_not_a_slide(tmp_path):
    ct = write_ct(tmp_path)
    text = one_line_error(DicomSeriesError, load_slide, ct)
    assert "CT series" in text and "not a slide" in text and "1.2.840.10008.5.1.4.1.1.77.1.6" in text
    assert str(ct) in text
    assert not is_slide_source(ct)


def test_a_folder_mixing_a_ct_series_and_a_slide_gives_the_slide(tmp_path):
    write_ct(tmp_path)
    pyramid(tmp_path / "slide")
    (tmp_path / "README.txt").write_text("scanned 2026\n")
    assert is_slide_source(tmp_path)
    source = load_slide(tmp_path)
    assert len(source.levels) == 3
    assert any("CT series" in note and "not a slide" in note for note in source.notes)


def test_nothing_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert "no VL Whole Slide Microscopy Image files" in text and "1 file(s) scanned" in text
    assert not is_slide_source(tmp_path)
    assert not is_slide_source(tmp_path / "missing")
    assert "does not exist" in one_line_error(DicomSeriesError, load_slide, tmp_path / "missing")
    assert "no DICOM input" in one_line_error(DicomSeriesError, load_slide, [])


# --------------------------------------------------------------------------- several series or pyramids
def test_several_slide_series_need_a_choice(tmp_path):
    pyramid(tmp_path / "one")
    pyramid(tmp_path / "two", seed=1, sizes=[(128, 99)])
    a, b = slide_uids(0)["series"], slide_uids(1)["series"]
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert "2 slide series" in text and a in text and b in text and "--series-uid" in text
    assert load_slide(tmp_path, series_uid=b).levels[0].geometry.shape == (128, 99)
    assert len(load_slide(tmp_path, series_uid=a).levels) == 3
    assert "was not found" in one_line_error(DicomSeriesError, load_slide, tmp_path, series_uid="1.2.3")


def test_several_pyramids_in_one_series_need_a_choice(tmp_path):
    pyramid(tmp_path / "one")
    other = dict(slide_uids(0), pyramid="1.2.826.0.1.3680043.10.1235.99")
    pyramid(tmp_path / "two", uids=other, sizes=[(128, 99), (64, 50)], name="other")
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert "2 pyramids" in text and other["pyramid"] in text and slide_uids(0)["pyramid"] in text
    chosen = load_slide(tmp_path, pyramid_uid=other["pyramid"])
    assert [level.geometry.shape for level in chosen.levels] == [(128, 99), (64, 50)]
    assert "is not in" in one_line_error(DicomSeriesError, load_slide, tmp_path, pyramid_uid="1.2.3")


def test_levels_on_different_frames_of_reference_are_refused(tmp_path):
    paths = pyramid(tmp_path)
    edit_header(paths[2], FrameOfReferenceUID="1.2.826.0.1.3680043.10.1235.7")
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert "Frames of Reference" in text and "1.2.826.0.1.3680043.10.1235.7" in text and str(paths[2]) in text


def test_other_channels_of_a_level_fold_into_it_and_must_agree(tmp_path):
    paths = pyramid(tmp_path)
    matrix = wsi_pixels(SIZES[:1], photometric="MONOCHROME2")[0]
    channel = write_wsi_image(tmp_path / "channel2.dcm", matrix, tile=TILE, instance_number=7)
    source = load_slide(tmp_path)
    assert source.levels[0].path == str(paths[0]) and len(source.levels) == 3
    assert any("2 instances" in note for note in source.notes)
    edit_header(channel, shared=True, PixelSpacing=[0.0003, 0.0003])
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert "different geometry" in text and str(channel) in text


def test_a_copy_of_an_instance_counts_once(tmp_path):
    paths = pyramid(tmp_path / "a")
    shutil.copy(paths[0], tmp_path / "copy.dcm")
    source = load_slide(tmp_path)
    assert len(source.levels) == 3
    assert any("another copy" in note for note in source.notes)


def test_a_character_set_the_lite_reader_leaves_to_pydicom(tmp_path):
    paths = pyramid(tmp_path)
    ds = pydicom.dcmread(paths[0])
    ds.SpecificCharacterSet = "ISO_IR 144"  # Cyrillic: decoded by pydicom
    ds.ContainerIdentifier = "Стекло-1"
    ds.save_as(paths[0])
    assert is_slide_source(paths[0])
    level = load_slide(tmp_path).levels[0]
    assert level.dataset.ContainerIdentifier == "Стекло-1" and level.geometry.shape == SIZES[0]


# --------------------------------------------------------------------------- bad headers
@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("TotalPixelMatrixRows", "TotalPixelMatrixRows (0048,0007): missing"),
        ("TotalPixelMatrixColumns", "TotalPixelMatrixColumns (0048,0006): missing"),
        ("Rows", "Rows (0028,0010): missing"),
        ("ImageOrientationSlide", "ImageOrientationSlide (0048,0102): missing"),
        ("TotalPixelMatrixOriginSequence", "TotalPixelMatrixOriginSequence (0048,0008): missing"),
        ("SharedFunctionalGroupsSequence", "PixelSpacing (0028,0030): missing"),
    ],
)
def test_a_missing_attribute_is_named_with_the_file(tmp_path, keyword, expected):
    paths = pyramid(tmp_path)
    edit_header(paths[1], delete=[keyword])
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert text.startswith(f"{paths[1]}: {expected}")
    assert "re-export" in text or "add" in text


@pytest.mark.parametrize(
    ("spacing", "expected"),
    [
        ([0, 0.00025], "zero, negative or not finite"),
        ([float("nan"), 1], "zero, negative or not finite"),
        ([-0.1, 0.1], "zero, negative or not finite"),
        ([0.1], "not two numbers"),
        ("abc\\def", "not two numbers"),
    ],
)
def test_bad_spacing_is_refused(tmp_path, spacing, expected):
    paths = pyramid(tmp_path)
    if isinstance(spacing, str):  # text that is no number: patched into the file's bytes (pydicom refuses it)
        edit_header(paths[0], shared=True, PixelSpacing=[1.5, 2.5])
        data = paths[0].read_bytes()
        assert data.count(b"1.5\\2.5 ") == 1
        paths[0].write_bytes(data.replace(b"1.5\\2.5 ", spacing.encode() + b" "))
    else:
        edit_header(paths[0], shared=True, PixelSpacing=spacing)
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert text.startswith(f"{paths[0]}: PixelSpacing (0028,0030)") and expected in text


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        ([0, 0, 0, 0, 0, 0], "orthogonal unit vectors"),
        ([1, 0, 0, 1, 0, 0], "orthogonal unit vectors"),
        ([1, 0, 0, 0, 1], "not six numbers"),
    ],
)
def test_bad_orientation_is_refused(tmp_path, orientation, expected):
    paths = pyramid(tmp_path)
    edit_header(paths[0], ImageOrientationSlide=orientation)
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert "ImageOrientationSlide (0048,0102)" in text and expected in text


def test_origin_without_z_is_at_z_zero_and_without_x_is_refused(tmp_path):
    paths = pyramid(tmp_path, origin=(1.0, 2.0, 5.0))
    ds = pydicom.dcmread(paths[0])
    del ds.TotalPixelMatrixOriginSequence[0].ZOffsetInSlideCoordinateSystem
    ds.save_as(paths[0])
    source = load_slide(tmp_path)
    assert source.levels[0].geometry.origin == (1.0, 2.0, 0.0)
    assert source.levels[1].geometry.origin == (1.0, 2.0, 5.0)
    del ds.TotalPixelMatrixOriginSequence[0].XOffsetInSlideCoordinateSystem
    ds.save_as(paths[0])
    assert "XOffsetInSlideCoordinateSystem (0040,072A): missing" in one_line_error(
        DicomSeriesError, load_slide, tmp_path
    )
    ds.TotalPixelMatrixOriginSequence = DicomSequence([])
    ds.save_as(paths[0])
    assert "TotalPixelMatrixOriginSequence" in one_line_error(DicomSeriesError, load_slide, tmp_path)


def test_a_slide_without_origin_is_refused(tmp_path):
    paths = pyramid(tmp_path, origin=None)
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert text.startswith(str(paths[0])) and "TotalPixelMatrixOriginSequence" in text


@pytest.mark.parametrize(("keyword", "tag"), [("TotalPixelMatrixColumns", "(0048,0006)"), ("Columns", "(0028,0011)")])
def test_a_zero_size_is_refused(tmp_path, keyword, tag):
    paths = pyramid(tmp_path)
    edit_header(paths[0], **{keyword: 0})
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert text.startswith(f"{paths[0]}: {keyword} {tag}: 0 is not a whole number from 1")


def test_several_focal_planes_are_refused(tmp_path):
    paths = pyramid(tmp_path, focal_planes=3, sizes=SIZES[:2])
    text = one_line_error(UnsupportedError, load_slide, tmp_path)
    assert "TotalPixelMatrixFocalPlanes (0048,0303)" in text and "3" in text and str(paths[0]) in text


def test_huge_claimed_sizes_are_numbers_never_allocations(tmp_path):
    (path,) = pyramid(tmp_path, sizes=[(64, 50)])
    edit_header(path, TotalPixelMatrixRows=2**32 - 1, TotalPixelMatrixColumns=2**32 - 1, Rows=65535, Columns=1)
    tracemalloc.start()
    try:
        source = load_slide(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    g = source.levels[0].geometry
    assert g.shape == (2**32 - 1, 2**32 - 1) and g.n_tiles == 65537 * (2**32 - 1)  # 2**32 - 1 = 65535 * 65537
    assert peak < 20 << 20
    assert source.level_for(2**32 - 1, 2**32 - 1) is source.levels[0]


def test_a_file_truncated_in_its_header_is_damaged(tmp_path):
    paths = pyramid(tmp_path)
    truncate(paths[1], 600)
    text = one_line_error(DicomSeriesError, load_slide, tmp_path)
    assert text.startswith(str(paths[1])) and "damaged" in text and "copy it again" in text


def test_a_file_truncated_in_its_pixel_data_still_gives_its_header_with_a_note(tmp_path):
    paths = pyramid(tmp_path)
    truncate(paths[0], paths[0].stat().st_size - 1000)
    source = load_slide(tmp_path)
    assert source.levels[0].geometry.shape == SIZES[0]
    assert any(str(paths[0]) in note and "Pixel Data" in note for note in source.notes)


# --------------------------------------------------------------------------- organisation and concatenations
@pytest.mark.parametrize("organization", ["TILED_SPARSE", None])
def test_sparse_or_untyped_levels_are_read_by_their_headers(tmp_path, organization):
    pyramid(tmp_path, dimension_organization=organization)
    source = load_slide(tmp_path)
    assert [level.dimension_organization_type for level in source.levels] == [organization] * 3
    assert all("PerFrameFunctionalGroupsSequence" not in level.dataset for level in source.levels)
    assert [level.geometry.shape for level in source.levels] == SIZES


def test_per_frame_functional_groups_are_never_walked(tmp_path):
    """A TILED_SPARSE level's per-frame items (10^5 on real slides, undefined lengths) cost nothing: even junk there
    does not matter, since neither the sniff nor pydicom reads past (5200,9230)."""
    (path,) = pyramid(tmp_path, sizes=[(200, 150)], tile=(10, 10), dimension_organization="TILED_SPARSE")
    ds = pydicom.dcmread(path)
    per_frame = ds["PerFrameFunctionalGroupsSequence"]
    per_frame.is_undefined_length = True
    for item in per_frame.value:
        item.is_undefined_length_sequence_item = True
    ds.save_as(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"\x00\x52\x30\x92SQ")  # (5200,9230) in Explicit VR Little Endian
    data[start + 100 : start + 5000] = b"\xff" * 4900
    path.write_bytes(bytes(data))
    level = load_slide(path).levels[0]
    assert level.geometry.shape == (200, 150) and level.number_of_frames == 300
    assert level.dimension_organization_type == "TILED_SPARSE"


def test_a_simple_concatenation_is_one_level(tmp_path):
    paths = pyramid(tmp_path, concatenation_parts=[3, 2, 1])
    source = load_slide(list(reversed(paths)))
    level = source.levels[0]
    assert [p.path for p in level.parts] == [str(p) for p in paths[:3]]
    assert [p.first_frame for p in level.parts] == [0, 10, 20]
    assert sum(p.number_of_frames for p in level.parts) == level.number_of_frames == level.geometry.n_tiles
    assert [p.first_frame + p.number_of_frames for p in level.parts][-1] == level.number_of_frames
    assert level.path == str(paths[0]) and level.concatenation_uid
    assert source.levels[2].parts == () and len(source.levels) == 3
    assert any("Concatenation of 3 instances" in note for note in source.notes)


def test_concatenations_that_are_not_simple_are_refused(tmp_path):
    paths = pyramid(tmp_path, concatenation_parts=3, sizes=SIZES[:1])
    assert "missing part(s) [2]" in one_line_error(DicomSeriesError, load_slide, [paths[0], paths[2]])
    edit_header(paths[1], ConcatenationFrameOffsetNumber=3)
    assert "frame offset 3" in one_line_error(DicomSeriesError, load_slide, tmp_path)
    edit_header(paths[1], ConcatenationFrameOffsetNumber=pydicom.dcmread(paths[0]).NumberOfFrames)
    assert len(load_slide(tmp_path).levels) == 1
    edit_header(paths[2], TotalPixelMatrixColumns=258)
    assert "another geometry" in one_line_error(DicomSeriesError, load_slide, tmp_path)
    edit_header(paths[2], TotalPixelMatrixColumns=257, InConcatenationNumber=2)
    assert "repeat" in one_line_error(DicomSeriesError, load_slide, tmp_path)


@pytest.mark.parametrize("seed", range(4))
def test_random_damage_to_a_header_is_a_labelmap_error_or_a_slide(tmp_path, seed):
    (path,) = pyramid(tmp_path, sizes=[(130, 101)], tile=(32, 32), dimension_organization="TILED_SPARSE")
    data = bytearray(path.read_bytes())
    header_end = data.index(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data
    rng = np.random.default_rng(seed)
    for case in range(12):
        damaged = bytearray(data)
        for at in rng.integers(132, header_end, size=1 + case % 4):
            damaged[at] = int(rng.integers(0, 256))
        path.write_bytes(bytes(damaged))
        try:
            source = load_slide(path)
        except LabelmapError as exc:
            assert "\n" not in str(exc)
        else:
            assert source.levels[0].geometry.rows >= 1


def test_a_volume_source_refuses_a_slide_and_passes_over_one_beside_its_series(tmp_path):
    pyramid(tmp_path / "slide")
    text = one_line_error(DicomSeriesError, load_source, tmp_path / "slide")
    assert "whole-slide image (3 VL Whole Slide Microscopy file(s))" in text and ".ome.tif" in text
    write_ct(tmp_path)
    series = load_source(tmp_path)
    assert len(series) == 3 and (series.rows, series.columns) == (12, 11)
    assert any("3 VL Whole Slide Microscopy file(s)" in note for note in series.notes)


# --------------------------------------------------------------------------- cost
def test_is_slide_source_never_imports_pydicom(tmp_path):
    ct = write_ct(tmp_path)
    pyramid(tmp_path / "slide")
    code = (
        "import sys; from labelmap.sources.slide import is_slide_source; "
        f"assert not is_slide_source({str(ct)!r}); assert is_slide_source({str(tmp_path)!r}); "
        "assert 'pydicom' not in sys.modules, 'pydicom imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
