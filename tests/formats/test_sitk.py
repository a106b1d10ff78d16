"""SimpleITK images in memory (``labelmap.from_sitk`` / ``to_sitk``) against files: ``sitk.ReadImage`` of our
NRRD / NIfTI equals ``to_sitk()``, and ``from_sitk`` equals our reader of the file SimpleITK writes - voxel for
voxel and within 1e-4 mm - for LPS, LAS and oblique grids and odd shapes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import labelmap
from labelmap.errors import ImageFormatError, InputError, MissingDependencyError
from labelmap.model import Geometry, LabelVolume

from _geometries import axial_geometry, las_geometry, oblique_geometry

sitk = pytest.importorskip("SimpleITK")

TOL_MM = 1e-4
GEOMETRIES = {"lps": axial_geometry, "las": las_geometry, "oblique": oblique_geometry}
SHAPES = {"21x22x5": (5, 22, 21), "23x38x3": (3, 38, 23)}  # i x j x k -> [k, j, i]
DTYPES = (np.uint8, np.int16, np.uint16, np.int32)


def grid(name: str, shape_name: str) -> Geometry:
    return GEOMETRIES[name](shape=SHAPES[shape_name])


def pattern(shape, dtype=np.uint16) -> np.ndarray:
    """Distinct values along every axis, so any flip or transposition changes them."""
    k, j, i = np.indices(shape)
    return ((i + 31 * j + 1187 * k) % (251 if dtype == np.uint8 else 32000)).astype(dtype)


def sitk_image(array: np.ndarray, geometry: Geometry):
    """An image made the SimpleITK way (not with to_sitk): origin, spacing, row-major direction."""
    img = sitk.GetImageFromArray(array)
    img.SetOrigin(tuple(geometry.origin.tolist()))
    img.SetSpacing(tuple(geometry.spacing.tolist()))
    img.SetDirection(tuple(geometry.direction.ravel().tolist()))
    return img


def assert_image_equal(a, b, tol: float) -> None:
    """Two SimpleITK images: size, pixel type and voxels equal, origin / spacing / direction within ``tol``."""
    assert a.GetSize() == b.GetSize()
    assert a.GetPixelID() == b.GetPixelID(), (a.GetPixelIDTypeAsString(), b.GetPixelIDTypeAsString())
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tol)
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=tol)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tol)


def assert_volume_equal(a: LabelVolume, b: LabelVolume, tol: float = TOL_MM) -> None:
    assert a.array.dtype == b.array.dtype
    np.testing.assert_array_equal(a.array, b.array)
    assert a.geometry.max_deviation(b.geometry) <= tol
    np.testing.assert_allclose(a.geometry.direction, b.geometry.direction, rtol=0, atol=tol)


@pytest.mark.parametrize("suffix", (".nrrd", ".nii.gz"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_readimage_of_our_file_equals_to_sitk(tmp_path, name, shape_name, dtype, suffix):
    geometry = grid(name, shape_name)
    volume = LabelVolume(pattern(geometry.shape, dtype), geometry)
    path = tmp_path / f"ours{suffix}"
    labelmap.write_labels(path, volume)
    mem = labelmap.to_sitk(volume)
    assert_image_equal(sitk.ReadImage(str(path)), mem, 1e-9 if suffix == ".nrrd" else TOL_MM)  # NIfTI: float32
    assert_volume_equal(labelmap.from_sitk(mem), volume, 1e-9)  # and back, exactly


@pytest.mark.parametrize("suffix", (".nrrd", ".nii.gz"))
@pytest.mark.parametrize("dtype", DTYPES + (np.float32,))
@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_from_sitk_equals_our_reader_of_the_file_sitk_writes(tmp_path, name, shape_name, dtype, suffix):
    geometry = grid(name, shape_name)
    labels = pattern(geometry.shape, dtype)
    img = sitk_image(labels, geometry)
    path = tmp_path / f"theirs{suffix}"
    sitk.WriteImage(img, str(path))
    mem = labelmap.from_sitk(img)
    assert_volume_equal(mem, labelmap.read_labels(path))
    np.testing.assert_array_equal(mem.array, labels)
    assert mem.geometry.max_deviation(geometry) <= 1e-9  # in memory nothing is rounded


def test_two_d_image_is_one_slice_as_its_file(tmp_path):
    img = sitk.GetImageFromArray(pattern((1, 22, 21), np.uint8)[0])
    img.SetOrigin((3.5, -2.25))
    img.SetSpacing((0.7, 0.9))
    img.SetDirection((0.0, -1.0, 1.0, 0.0))
    path = tmp_path / "flat.nrrd"
    sitk.WriteImage(img, str(path))
    mem = labelmap.from_sitk(img)
    assert mem.array.shape == (1, 22, 21)
    assert_volume_equal(mem, labelmap.read_labels(path), 1e-9)


def test_from_sitk_keeps_segments_and_copies():
    from labelmap.demo.sample import sample_metadata

    geometry = grid("las", "23x38x3")
    img = sitk_image(pattern(geometry.shape, np.uint8), geometry)
    segments = labelmap.load_metadata(sample_metadata([1, 2])).segments[0]
    volume = labelmap.from_sitk(img, segments)
    assert volume.segments == tuple(segments)
    volume.array[0, 0, 0] = 200
    assert img[0, 0, 0] == 0


def test_to_sitk_bool_and_refused_types():
    geometry = grid("lps", "21x22x5")
    img = labelmap.to_sitk(LabelVolume(pattern(geometry.shape) % 2 == 1, geometry))
    assert img.GetPixelID() == sitk.sitkUInt8
    with pytest.raises(ImageFormatError, match="complex"):
        labelmap.to_sitk(LabelVolume(np.zeros(geometry.shape, np.complex64), geometry))


def test_refused_images_name_the_reason_and_the_fix():
    geometry = grid("oblique", "21x22x5")
    vector = sitk.Image([4, 5, 6], sitk.sitkVectorUInt8, 3)
    with pytest.raises(ImageFormatError, match=r"vector image .*3 components.*VectorIndexSelectionCast"):
        labelmap.from_sitk(vector)
    label_map = sitk.Image([4, 5, 6], sitk.sitkLabelUInt8)  # SimpleITK aborts on its array: refused before
    with pytest.raises(ImageFormatError, match="LabelMap.*LabelMapToLabel"):
        labelmap.from_sitk(label_map)
    with pytest.raises(ImageFormatError, match="complex"):
        labelmap.from_sitk(sitk.Image([4, 5, 6], sitk.sitkComplexFloat32))
    with pytest.raises(ImageFormatError, match=r"4-D .*sitk.Extract"):
        labelmap.from_sitk(sitk.Image([4, 5, 6, 2], sitk.sitkUInt8))
    with pytest.raises(InputError, match="from_sitk takes a SimpleITK.Image"):
        labelmap.from_sitk(np.zeros((2, 2, 2)))
    sheared = sitk_image(pattern(geometry.shape), geometry)
    sheared.SetDirection((1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    with pytest.raises(ImageFormatError, match="cannot convert the SimpleITK image: .*not orthogonal"):
        labelmap.from_sitk(sheared)
    nan = sitk_image(pattern(geometry.shape), geometry)
    nan.SetOrigin((float("nan"), 0.0, 0.0))
    with pytest.raises(ImageFormatError, match="origin .* not finite"):
        labelmap.from_sitk(nan)


def test_sheared_image_refused_as_its_file_is(tmp_path):
    geometry = grid("lps", "21x22x5")
    img = sitk_image(pattern(geometry.shape), geometry)
    img.SetDirection((1.0, 0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    path = tmp_path / "sheared.nrrd"
    sitk.WriteImage(img, str(path))
    with pytest.raises(ImageFormatError) as on_disk:
        labelmap.read_labels(path)
    with pytest.raises(ImageFormatError) as in_memory:
        labelmap.from_sitk(img)
    assert str(on_disk.value).split(": ", 1)[1] == str(in_memory.value).split(": ", 1)[1]


def test_missing_simpleitk_names_the_pip_line():
    """In a child process where ``import SimpleITK`` fails (sys.modules entry None), both directions say
    what to install; nothing else changes."""
    code = (
        "import sys; sys.modules['SimpleITK'] = None\n"
        "import numpy as np, labelmap\n"
        "from labelmap.model import Geometry, LabelVolume\n"
        "v = LabelVolume(np.zeros((1, 2, 2), np.uint8), Geometry(np.zeros(3), np.eye(3), np.ones(3), (1, 2, 2)))\n"
        "for call in (lambda: labelmap.to_sitk(v), lambda: labelmap.from_sitk(object())):\n"
        "    try:\n"
        "        call()\n"
        "    except labelmap.MissingDependencyError as exc:\n"
        "        assert isinstance(exc, ImportError)\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all("pip install SimpleITK" in line for line in lines), out
    assert MissingDependencyError.__mro__[1].__name__ == "LabelmapError"
