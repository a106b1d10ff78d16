"""nibabel images in memory (``labelmap.from_nifti`` / ``to_nifti``) against the NIfTI file reader and writer:
the same voxels and the same grid (exactly: both go through one header rule), within 1e-4 mm of the grid
they were made from, for LPS, LAS and oblique grids, odd shapes, sform-only, qform-only and both-set images."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import labelmap
from labelmap.errors import ImageFormatError, InputError
from labelmap.formats.nifti_grid import ras_affine
from labelmap.model import Geometry, LabelVolume

from _geometries import axial_geometry, las_geometry, oblique_geometry

TOL_MM = 1e-4
GEOMETRIES = {"lps": axial_geometry, "las": las_geometry, "oblique": oblique_geometry}
SHAPES = {"21x22x5": (5, 22, 21), "23x38x3": (3, 38, 23)}  # i x j x k -> [k, j, i]
FORMS = ("sform", "qform", "both", "affine", "neither")


def grid(name: str, shape_name: str) -> Geometry:
    return GEOMETRIES[name](shape=SHAPES[shape_name])


def pattern(geometry: Geometry, dtype=np.uint16) -> np.ndarray:
    """Distinct values along every axis, so any flip or transposition changes them."""
    k, j, i = np.indices(geometry.shape)
    values = (i + 31 * j + 1187 * k) % (np.iinfo(dtype).max if dtype != np.uint8 else 251)
    return values.astype(dtype)


def nibabel_image(array: np.ndarray, geometry: Geometry, form: str, cls=nib.Nifti1Image):
    """``array`` [k, j, i] as a nibabel image placed by ``form``: sform only, qform only, both (the qform 5 mm
    off, so the rule must pick the sform), nibabel's default for an affine (sform code 2), or neither."""
    aff = ras_affine(geometry)
    data = array.transpose(2, 1, 0)
    if form == "affine":
        return cls(data, aff)
    img = cls(data, None)
    img.header.set_zooms(tuple(float(s) for s in geometry.spacing))
    if form in ("qform", "both"):
        off = aff.copy()
        off[0, 3] += 5.0 if form == "both" else 0.0
        img.set_qform(off, code=1)
    if form in ("sform", "both"):
        img.set_sform(aff, code=1)
    if form == "sform":
        img.set_qform(None, code=0)
    return img


def assert_same(mem: LabelVolume, disk: LabelVolume) -> None:
    """One volume: equal voxels and type, and the grid to the last bit."""
    assert mem.array.dtype == disk.array.dtype
    np.testing.assert_array_equal(mem.array, disk.array)
    assert mem.geometry.shape == disk.geometry.shape
    for field in ("origin", "direction", "spacing"):
        np.testing.assert_array_equal(getattr(mem.geometry, field), getattr(disk.geometry, field), err_msg=field)


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("form", FORMS)
def test_from_nifti_equals_reading_the_file(tmp_path, name, shape_name, form):
    geometry = grid(name, shape_name)
    labels = pattern(geometry)
    img = nibabel_image(labels, geometry, form)
    path = tmp_path / "lab.nii.gz"
    nib.save(img, str(path))
    disk = labelmap.read_labels(path)
    mem = labelmap.from_nifti(img)
    assert_same(mem, disk)
    assert_same(labelmap.from_nifti(nib.load(str(path))), disk)  # a file-backed image: its proxy
    np.testing.assert_array_equal(mem.array, labels)
    if form != "neither":  # pixdim only: ITK's identity grid at 0, not ``geometry``
        assert mem.geometry.max_deviation(geometry) <= TOL_MM
    else:
        np.testing.assert_array_equal(mem.geometry.direction, np.eye(3))
        np.testing.assert_allclose(mem.geometry.spacing, geometry.spacing, atol=1e-6)


@pytest.mark.parametrize("form", ("sform", "qform", "both"))
def test_nifti2_images_as_their_files(tmp_path, form):
    geometry = grid("oblique", "23x38x3")
    img = nibabel_image(pattern(geometry), geometry, form, cls=nib.Nifti2Image)
    path = tmp_path / "lab.nii"
    nib.save(img, str(path))
    assert_same(labelmap.from_nifti(img), labelmap.read_labels(path))
    assert labelmap.from_nifti(img).geometry.max_deviation(geometry) <= TOL_MM


def test_an_affine_changed_after_construction_is_what_save_writes(tmp_path):
    """nibabel writes an image affine that differs from its header as the sform (code 2, qform 0)."""
    geometry = grid("las", "21x22x5")
    img = nibabel_image(pattern(geometry), geometry, "both")
    img.affine[:3, 3] += (10.0, -20.0, 30.0)
    mem = labelmap.from_nifti(img)
    assert int(img.header["qform_code"]) == 1  # the caller's image is left as it was (nib.save changes it)
    path = tmp_path / "lab.nii.gz"
    nib.save(img, str(path))
    assert_same(mem, labelmap.read_labels(path))
    np.testing.assert_allclose(mem.geometry.origin, geometry.origin + (-10.0, 20.0, 30.0), atol=TOL_MM)


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("dtype", (np.uint8, np.uint16, np.int16, np.int32))
def test_to_nifti_equals_our_file_read_back(tmp_path, name, shape_name, dtype):
    geometry = grid(name, shape_name)
    volume = LabelVolume(pattern(geometry, dtype), geometry)
    img = labelmap.to_nifti(volume)
    path = tmp_path / "ours.nii"
    labelmap.write_labels(path, volume)
    back = nib.load(str(path))
    for key in back.header:
        if key in ("scl_slope", "scl_inter"):  # nibabel moves them to the data proxy on load
            continue
        assert back.header[key].tobytes() == img.header[key].tobytes(), key
    assert (back.dataobj.slope, back.dataobj.inter) == (img.header["scl_slope"], img.header["scl_inter"]) == (1, 0)
    assert back.header.get_data_dtype() == img.get_data_dtype() == np.dtype(dtype)
    assert int(back.header["sform_code"]) == int(back.header["qform_code"]) == 1
    np.testing.assert_array_equal(back.affine, img.affine)
    np.testing.assert_array_equal(np.asarray(back.dataobj), np.asarray(img.dataobj))
    # saved, it is our file byte for byte
    nib.save(img, str(tmp_path / "saved.nii"))
    assert (tmp_path / "saved.nii").read_bytes() == path.read_bytes()
    # and back in memory it is the volume, as our reader reads the file
    again = labelmap.from_nifti(img)
    assert_same(again, labelmap.read_labels(path))
    np.testing.assert_array_equal(again.array, volume.array)
    assert again.geometry.max_deviation(geometry) <= TOL_MM


def test_to_nifti_stores_bool_as_uint8_and_refuses_what_the_writer_refuses():
    geometry = grid("lps", "21x22x5")
    img = labelmap.to_nifti(LabelVolume(pattern(geometry) % 2 == 1, geometry))
    assert img.get_data_dtype() == np.uint8
    with pytest.raises(ImageFormatError, match="complex"):
        labelmap.to_nifti(LabelVolume(np.zeros(geometry.shape, np.complex64), geometry))
    far = Geometry(np.array([1e39 / 1e3, 0, 0]) * 1e3, np.eye(3), np.ones(3), (1, 2, 2))
    with pytest.raises(ImageFormatError, match="cannot write the label volume as NIfTI-1.*write NRRD"):
        labelmap.to_nifti(LabelVolume(np.zeros((1, 2, 2), np.uint8), far))


def test_from_nifti_keeps_segments_and_copies_the_data():
    geometry = grid("oblique", "21x22x5")
    labels = pattern(geometry, np.uint8)
    img = nibabel_image(labels, geometry, "affine")
    segments = labelmap.load_metadata(_metadata([1, 2])).segments[0]
    volume = labelmap.from_nifti(img, segments)
    assert volume.segments == tuple(segments)
    volume.array[0, 0, 0] = 77
    assert np.asarray(img.dataobj)[0, 0, 0] == labels[0, 0, 0]


def _metadata(values):
    from labelmap.demo.sample import sample_metadata

    return sample_metadata(values)


def test_two_d_and_trailing_size_one_images_as_their_files(tmp_path):
    geometry = grid("oblique", "21x22x5")
    aff = ras_affine(geometry)
    for data in (pattern(geometry)[0].T, pattern(geometry)[0].T[:, :, None, None]):
        img = nib.Nifti1Image(data, aff)
        path = tmp_path / "flat.nii.gz"
        nib.save(img, str(path))
        assert_same(labelmap.from_nifti(img), labelmap.read_labels(path))
        assert labelmap.from_nifti(img).array.shape == (1, 22, 21)


def test_refusals_match_the_reader(tmp_path):
    geometry = grid("lps", "21x22x5")
    data = pattern(geometry).transpose(2, 1, 0)

    def both(img) -> tuple[str, str]:
        path = tmp_path / "x.nii"
        nib.save(img, str(path))
        with pytest.raises(ImageFormatError) as on_disk:
            labelmap.read_labels(path)
        with pytest.raises(ImageFormatError) as in_memory:
            labelmap.from_nifti(img)
        assert str(in_memory.value).startswith("cannot convert the nibabel image: ")
        return str(on_disk.value).split(": ", 1)[1], str(in_memory.value).split(": ", 1)[1]

    four_d = nib.Nifti1Image(np.stack([data, data], axis=3), ras_affine(geometry))
    disk, mem = both(four_d)
    assert disk == mem and "4-D image" in mem

    sheared = ras_affine(geometry)
    sheared[0, 1] = 0.5
    img = nib.Nifti1Image(data, None)
    img.set_sform(sheared, code=1)
    img.set_qform(None, code=0)
    disk, mem = both(img)
    assert disk == mem and "sheared" in mem

    img = nib.Nifti1Image(data, None)  # a qform whose voxel size (pixdim) is zero, no sform, no image affine
    img.header["qform_code"] = 1
    img.header["pixdim"][1:4] = 0.0
    disk, mem = both(img)
    assert disk == mem and "pixdim[1,2,3]" in mem and "zero" in mem

    rgb = nib.Nifti1Image(np.zeros((4, 5, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")]), np.eye(4))
    with pytest.raises(ImageFormatError, match="pixel type"):
        labelmap.from_nifti(rgb)


def test_a_sheared_sform_falls_back_to_the_qform_as_in_the_file(tmp_path):
    geometry = grid("oblique", "23x38x3")
    img = nibabel_image(pattern(geometry), geometry, "qform")
    sheared = ras_affine(geometry)
    sheared[0, 1] += 0.3
    img.set_sform(sheared, code=1)
    path = tmp_path / "x.nii.gz"
    nib.save(img, str(path))
    assert_same(labelmap.from_nifti(img), labelmap.read_labels(path))
    assert labelmap.from_nifti(img).geometry.max_deviation(geometry) <= TOL_MM


def test_scaled_file_backed_image_gets_the_readers_rule(tmp_path):
    import struct

    geometry = grid("lps", "21x22x5")
    path = tmp_path / "scaled.nii"
    labelmap.write_labels(path, LabelVolume(pattern(geometry, np.int16), geometry))
    raw = bytearray(path.read_bytes())
    raw[112:120] = struct.pack("<ff", 2.0, 1.0)  # scl_slope, scl_inter
    path.write_bytes(bytes(raw))
    mem = labelmap.from_nifti(nib.load(str(path)))
    assert_same(mem, labelmap.read_labels(path))
    np.testing.assert_array_equal(mem.array, pattern(geometry, np.int16) * 2.0 + 1.0)


def test_not_a_nifti_image():
    with pytest.raises(InputError, match="from_nifti takes a nibabel Nifti1Image"):
        labelmap.from_nifti(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="MGHImage"):
        labelmap.from_nifti(nib.MGHImage(np.zeros((2, 2, 2), np.uint8), np.eye(4)))


def test_nibabel_header_fixes_are_judged_never_printed(capfd):
    """nibabel logs 'pixdim[1,2,3] should be non-zero' when it checks such a header: from_nifti collects it (and
    refuses or uses the sform, as the reader does) without a line on stderr."""
    data = np.zeros((4, 5, 6), np.uint8)
    refused = nib.Nifti1Image(data, None)
    refused.header["qform_code"] = 1
    refused.header["pixdim"][1:4] = 0.0
    with pytest.raises(ImageFormatError, match="zero entry"):
        labelmap.from_nifti(refused)
    placed = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))  # the sform holds the voxel size
    placed.header["pixdim"][1:4] = 0.0
    np.testing.assert_array_equal(labelmap.from_nifti(placed).geometry.spacing, [2.0, 2.0, 2.0])
    assert capfd.readouterr() == ("", "")


def test_label_volume_methods_are_the_module_functions(tmp_path):
    """The issue's spelling: LabelVolume.from_nifti(img) / .to_nifti() (and the SimpleITK pair) give the same."""
    import nibabel as nib
    import numpy as np

    from labelmap import LabelVolume, from_nifti, to_nifti

    data = np.arange(21 * 22 * 5, dtype=np.uint16).reshape(21, 22, 5) % 7
    affine = np.diag([-0.7, -0.8, 2.5, 1.0])
    img = nib.Nifti1Image(data, affine)
    volume = LabelVolume.from_nifti(img)
    expected = from_nifti(img)
    assert np.array_equal(volume.array, expected.array)
    assert np.allclose(volume.geometry.affine, expected.geometry.affine)
    back = volume.to_nifti()
    assert np.array_equal(np.asarray(back.dataobj), np.asarray(to_nifti(expected).dataobj))
    assert np.allclose(back.affine, to_nifti(expected).affine)
    sitk = pytest.importorskip("SimpleITK")
    image = volume.to_sitk()
    assert isinstance(image, sitk.Image)
    again = LabelVolume.from_sitk(image)
    assert np.array_equal(again.array, volume.array)
    assert np.allclose(again.geometry.affine, volume.geometry.affine, atol=1e-6)
