"""The synthetic slides of tests/_slides.py are real VL WSI files: highdicom reads them back to the pixels written."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from _slides import (
    WSI_SOP_CLASS,
    edit_header,
    level_spacings,
    slide_uids,
    truncate,
    write_ct,
    write_wsi_associated,
    write_wsi_pyramid,
    wsi_pixels,
)

SIZES = [(301, 257), (151, 129), (76, 65)]


@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE", None])
@pytest.mark.parametrize("photometric", ["RGB", "MONOCHROME2"])
def test_highdicom_reads_every_level_to_the_pixels_written(tmp_path, organization, photometric):
    hd = pytest.importorskip("highdicom")
    paths = write_wsi_pyramid(
        tmp_path, SIZES, tile=(64, 50), dimension_organization=organization, photometric=photometric, seed=3
    )
    expected = wsi_pixels(SIZES, photometric=photometric, seed=3)
    assert len(paths) == len(SIZES)
    for path, pixels in zip(paths, expected):
        image = hd.imread(path)
        assert image.get_total_pixel_matrix().reshape(pixels.shape).tolist() == pixels.tolist()


def test_levels_share_series_pyramid_frame_of_reference_and_container(tmp_path):
    paths = write_wsi_pyramid(tmp_path, SIZES, tile=(32, 32), origin=(1.5, 2.5, 3.0), orientation=(1, 0, 0, 0, 1, 0))
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    uids = slide_uids(0)
    spacings = level_spacings(SIZES, 0.00025)
    for ds, (rows, cols), spacing in zip(headers, SIZES, spacings):
        assert ds.SOPClassUID == WSI_SOP_CLASS and ds.Modality == "SM"
        assert (ds.SeriesInstanceUID, ds.PyramidUID, ds.FrameOfReferenceUID) == (
            uids["series"],
            uids["pyramid"],
            uids["frame_of_reference"],
        )
        assert ds.ContainerIdentifier == "SLIDE-1"
        assert ds.SpecimenDescriptionSequence[0].SpecimenUID == uids["specimen"]
        assert (ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns) == (rows, cols)
        assert ds.NumberOfFrames == -(-rows // 32) * -(-cols // 32)
        origin = ds.TotalPixelMatrixOriginSequence[0]
        assert [float(origin.XOffsetInSlideCoordinateSystem), float(origin.YOffsetInSlideCoordinateSystem)] == [
            1.5,
            2.5,
        ]
        assert float(origin.ZOffsetInSlideCoordinateSystem) == 3.0
        measured = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        assert [float(v) for v in measured] == pytest.approx(spacing, rel=1e-12)
        assert [float(v) for v in ds.ImageOrientationSlide] == [1, 0, 0, 0, 1, 0]
    assert len({ds.SOPInstanceUID for ds in headers}) == len(paths)


def test_same_seed_same_files_other_seed_other_slide(tmp_path):
    a = write_wsi_pyramid(tmp_path / "a", SIZES[:1], tile=(64, 64))
    b = write_wsi_pyramid(tmp_path / "b", SIZES[:1], tile=(64, 64))
    c = write_wsi_pyramid(tmp_path / "c", SIZES[:1], tile=(64, 64), seed=1)
    assert a[0].read_bytes() == b[0].read_bytes()
    assert pydicom.dcmread(c[0]).SeriesInstanceUID != pydicom.dcmread(a[0]).SeriesInstanceUID


def test_concatenation_parts_hold_the_level_frames_in_order(tmp_path):
    paths = write_wsi_pyramid(tmp_path, SIZES[:1], tile=(64, 64), concatenation_parts=3, photometric="MONOCHROME2")
    parts = [pydicom.dcmread(p) for p in paths]
    assert [ds.InConcatenationNumber for ds in parts] == [1, 2, 3]
    assert len({ds.ConcatenationUID for ds in parts}) == 1
    frames = np.concatenate([ds.pixel_array.reshape(-1, 64, 64) for ds in parts])
    assert frames.shape[0] == 5 * 5
    offsets = [ds.ConcatenationFrameOffsetNumber for ds in parts]
    assert offsets == sorted(offsets) and offsets[0] == 0
    matrix = wsi_pixels(SIZES[:1], photometric="MONOCHROME2")[0]
    assert frames[6].tolist() == matrix[64:128, 64:128].tolist()


def test_odd_sources(tmp_path):
    label = pydicom.dcmread(write_wsi_associated(tmp_path, "LABEL"))
    thumb = pydicom.dcmread(write_wsi_associated(tmp_path, "THUMBNAIL", size=(60, 47)))
    assert label.ImageType[2] == "LABEL" and thumb.ImageType[2] == "THUMBNAIL"
    assert label.SeriesInstanceUID == thumb.SeriesInstanceUID == slide_uids(0)["series"]
    assert thumb.pixel_array.shape == (60, 47, 3)
    ct = sorted(write_ct(tmp_path).iterdir())
    assert pydicom.dcmread(ct[0]).Modality == "CT"
    (path,) = write_wsi_pyramid(tmp_path / "no-origin", SIZES[:1], origin=None)
    assert "TotalPixelMatrixOriginSequence" not in pydicom.dcmread(path)
    edit_header(path, delete=["TotalPixelMatrixRows"], PixelSpacing=None, shared=False)
    assert "TotalPixelMatrixRows" not in pydicom.dcmread(path)
    edit_header(path, shared=True, PixelSpacing=[0, 0])
    assert list(pydicom.dcmread(path).SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing) == [0, 0]
    size = path.stat().st_size
    assert truncate(path, 1000).stat().st_size == 1000 < size
