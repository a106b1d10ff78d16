"""Source pixels of a few slices (for previews): modality values, the images' window, enhanced frames."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pydicom
import pytest

from labelmap.demo.sample import write_ct_series
from labelmap.errors import DicomSeriesError
from labelmap.sources.pixels import read_slice_pixels
from labelmap.sources.series import load_series

from _geometries import axial_geometry, oblique_geometry

GEOMETRY = axial_geometry(shape=(5, 12, 10))


def _hu(geometry) -> np.ndarray:
    return (np.arange(np.prod(geometry.shape)).reshape(geometry.shape) % 900 - 400).astype(np.int16)


def _enhanced_builder():
    """tests/sources/test_enhanced.py's ``enhanced_from_series`` (one Enhanced CT file from a series)."""
    spec = importlib.util.spec_from_file_location("_enhanced", Path(__file__).with_name("test_enhanced.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.enhanced_from_series


@pytest.mark.parametrize("geometry", [GEOMETRY, oblique_geometry(shape=(5, 12, 10))], ids=["axial", "oblique"])
def test_slices_read_as_modality_values_in_series_order(tmp_path, geometry):
    hu = _hu(geometry)
    write_ct_series(tmp_path / "ct", geometry, pixel_array=hu)
    series = load_series([tmp_path / "ct"])
    pixels = read_slice_pixels(series, [4, 0, 2])
    assert pixels.slices == (4, 0, 2) and pixels.window == (40.0, 400.0)
    for k, image in zip(pixels.slices, pixels.images):
        assert image.dtype == np.float32
        np.testing.assert_array_equal(image, hu[k])


def test_rescale_and_missing_window(tmp_path):
    hu = _hu(GEOMETRY)
    files = write_ct_series(tmp_path / "ct", GEOMETRY, pixel_array=hu)
    for f in files:
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = "2", "-10"
        del ds.WindowCenter, ds.WindowWidth
        ds.save_as(f)
    pixels = read_slice_pixels(load_series([tmp_path / "ct"]), [1])
    assert pixels.window is None
    np.testing.assert_array_equal(pixels.images[0], hu[1].astype(np.float32) * 2 - 10)


def test_enhanced_frames_are_read_by_frame_number(tmp_path):
    hu = _hu(GEOMETRY)
    files = write_ct_series(tmp_path / "single", GEOMETRY, pixel_array=hu)
    _enhanced_builder()(files, tmp_path / "enh" / "ct.dcm", order=[3, 0, 4, 1, 2])
    series = load_series([tmp_path / "enh"])
    pixels = read_slice_pixels(series, range(5))
    assert pixels.window == (40.0, 400.0)
    for k, image in zip(pixels.slices, pixels.images):
        np.testing.assert_array_equal(image, hu[k])


def test_a_colour_image_is_one_error_naming_the_file(tmp_path):
    files = write_ct_series(tmp_path / "ct", GEOMETRY)
    series = load_series([tmp_path / "ct"])
    ds = pydicom.dcmread(files[2])
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = bytes(ds.Rows * ds.Columns * 3)
    ds.save_as(files[2])
    k = series.files.index(str(files[2]))
    with pytest.raises(DicomSeriesError, match="expected one 12 x 10 grey image") as caught:
        read_slice_pixels(series, [k])
    assert str(files[2]) in str(caught.value) and "\n" not in str(caught.value)
