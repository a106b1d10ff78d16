"""NIfTI reader/writer: round trips, sform/qform rule, RAS<->LPS, scaling, errors."""

from __future__ import annotations

import struct

import nibabel as nib
import numpy as np
import pytest

from labelmap.errors import ImageFormatError, OutputError
from labelmap.formats.nifti import read_nifti, select_affine, write_nifti
from labelmap.model import Geometry

FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS


def _rot(axis: int, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [a for a in range(3) if a != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


OBLIQUE = _rot(1, 23.0) @ _rot(2, 41.0)  # rotated about two axes
LEFT_HANDED = OBLIQUE @ np.diag([1.0, -1.0, 1.0])  # det = -1

GEOMETRIES = {
    "axial": ((3, 38, 23), np.eye(3), (0.7, 0.9, 2.5), (-120.25, 33.5, 7.0)),
    "oblique": ((5, 22, 21), OBLIQUE, (0.7, 0.9, 2.5), (12.345678, -98.7654321, 250.125)),
    "left_handed": ((3, 38, 23), LEFT_HANDED, (0.7, 0.9, 2.5), (-5.5, 6.25, -7.75)),
    "sagittal": ((5, 22, 21), np.array([[0.0, 0, 1], [1, 0, 0], [0, -1, 0]]), (1.0, 1.0, 1.5), (0.0, 0.0, 0.0)),
}

# NIfTI stores the affine as float32: origins of a few hundred mm keep ~1e-5 mm.
ORIGIN_ATOL = 1e-4
UNIT_ATOL = 1e-6


def _labels(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    arr = rng.integers(0, 6, size=shape).astype(dtype)
    arr.flat[0] = info.max
    arr.flat[-1] = info.min
    return arr


def _assert_geometry(g, ref):
    assert g.shape == ref.shape
    np.testing.assert_allclose(g.origin, ref.origin, atol=ORIGIN_ATOL)
    np.testing.assert_allclose(g.direction, ref.direction, atol=UNIT_ATOL)
    np.testing.assert_allclose(g.spacing, ref.spacing, atol=UNIT_ATOL)


def _check_against_nibabel(path, g, n=25, seed=1):
    """geometry.index_to_lps == nibabel's affine @ (i, j, k, 1) with x and y negated."""
    img = nib.load(str(path))
    rng = np.random.default_rng(seed)
    ijk = rng.uniform(0, 1, size=(n, 3)) * (np.array(g.shape[::-1]) - 1)
    ijk[0] = 0
    ras = (img.affine @ np.c_[ijk, np.ones(n)].T).T[:, :3]
    np.testing.assert_allclose(g.index_to_lps(ijk), ras * [-1, -1, 1], atol=1e-4)


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_round_trip(tmp_path, name, dtype, ext):
    shape, direction, spacing, origin = GEOMETRIES[name]
    geom = Geometry(origin, direction, spacing, shape)
    arr = _labels(shape, dtype)
    path = tmp_path / f"img{ext}"
    write_nifti(path, arr, geom)
    back, g2 = read_nifti(path)
    assert back.dtype == np.dtype(dtype)
    assert back.flags.c_contiguous and back.flags.writeable
    np.testing.assert_array_equal(back, arr)
    _assert_geometry(g2, geom)
    assert np.sign(np.linalg.det(g2.direction)) == np.sign(np.linalg.det(geom.direction))
    _check_against_nibabel(path, g2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_written_header(tmp_path):
    shape, direction, spacing, origin = GEOMETRIES["left_handed"]
    geom = Geometry(origin, direction, spacing, shape)
    write_nifti(tmp_path / "a.nii.gz", np.zeros(shape, np.uint8), geom)
    img = nib.load(str(tmp_path / "a.nii.gz"))
    hdr = img.header
    assert int(hdr["sform_code"]) == 1 and int(hdr["qform_code"]) == 1
    assert hdr.get_xyzt_units()[0] == "mm"
    assert img.shape == shape[::-1]  # nibabel: [i, j, k]
    expected_ras = FLIP @ geom.affine
    np.testing.assert_allclose(hdr.get_sform(), expected_ras, atol=1e-4)
    np.testing.assert_allclose(hdr.get_qform(), expected_ras, atol=1e-4)


def test_compression_follows_extension(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    arr = np.ones(geom.shape, np.uint8)
    write_nifti(tmp_path / "a.nii.gz", arr, geom, compress=False)
    write_nifti(tmp_path / "b.nii", arr, geom, compress=True)
    assert (tmp_path / "a.nii.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "b.nii").read_bytes()[:2] != b"\x1f\x8b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz", "b.nii"]


def _save(path, data_xyz, *, sform=None, sform_code=0, qform=None, qform_code=0, zooms=None):
    img = nib.Nifti1Image(data_xyz, None)
    if zooms is not None:
        img.header.set_zooms(zooms)
    img.set_qform(qform, code=qform_code)
    img.set_sform(sform, code=sform_code)
    nib.save(img, str(path))
    hdr = nib.load(str(path)).header
    assert int(hdr["sform_code"]) == sform_code and int(hdr["qform_code"]) == qform_code
    return path


def _ras_affine(direction_ras, spacing, origin_ras):
    aff = np.eye(4)
    aff[:3, :3] = np.asarray(direction_ras) * np.asarray(spacing)[np.newaxis, :]
    aff[:3, 3] = origin_ras
    return aff


def test_qform_only(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    q = _ras_affine(OBLIQUE, (0.8, 0.9, 3.0), (10.0, -20.0, 30.0))
    p = _save(tmp_path / "q.nii", data, qform=q, qform_code=1)
    back, g = read_nifti(p)
    np.testing.assert_array_equal(back, data.transpose(2, 1, 0))
    np.testing.assert_allclose(g.affine, FLIP @ q, atol=1e-5)
    _check_against_nibabel(p, g)
    assert select_affine(nib.load(str(p)).header)[1] == "qform"


def test_sform_wins_over_different_qform(tmp_path):
    data = np.zeros((4, 5, 6), dtype=np.int16)
    q = _ras_affine(np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    s = _ras_affine(OBLIQUE, (0.8, 0.9, 3.0), (10.0, -20.0, 30.0))
    p = _save(tmp_path / "sq.nii.gz", data, sform=s, sform_code=2, qform=q, qform_code=1)
    _, g = read_nifti(p)
    np.testing.assert_allclose(g.affine, FLIP @ s, atol=1e-5)
    _check_against_nibabel(p, g)


def test_sheared_sform_falls_back_to_qform(tmp_path):
    data = np.zeros((4, 5, 6), dtype=np.uint8)
    q = _ras_affine(OBLIQUE, (0.8, 0.9, 3.0), (1.0, 2.0, 3.0))
    s = q.copy()
    s[0, 1] += 0.4  # shear
    p = _save(tmp_path / "shear_q.nii", data, sform=s, sform_code=1, qform=q, qform_code=1)
    _, g = read_nifti(p)
    np.testing.assert_allclose(g.affine, FLIP @ q, atol=1e-5)


def test_sheared_sform_without_qform_refused(tmp_path):
    data = np.zeros((4, 5, 6), dtype=np.uint8)
    s = _ras_affine(np.eye(3), (1.0, 1.0, 1.0), (0, 0, 0))
    s[0, 1] = 0.5
    p = _save(tmp_path / "shear.nii", data, sform=s, sform_code=1)
    with pytest.raises(ImageFormatError, match="shear.nii.*sheared"):
        read_nifti(p)


def test_flipped_x_axis(tmp_path):
    """Affine with a negative x spacing (LAS-like storage): LPS = RAS with x, y negated; det(direction) = -1."""
    rng = np.random.default_rng(5)
    data = rng.integers(0, 3, size=(6, 5, 4)).astype(np.uint8)
    aff = np.diag([-0.9, 1.2, 2.5, 1.0])
    aff[:3, 3] = [50.0, -60.0, 70.0]
    p = _save(tmp_path / "las.nii.gz", data, sform=aff, sform_code=1, qform=aff, qform_code=1)
    back, g = read_nifti(p)
    np.testing.assert_array_equal(back, data.transpose(2, 1, 0))
    for ijk in ([0, 0, 0], [5, 4, 3], [2, 1, 3]):
        ras = aff @ np.r_[ijk, 1.0]
        np.testing.assert_allclose(g.index_to_lps(ijk), ras[:3] * [-1, -1, 1], atol=1e-5)
    assert np.linalg.det(g.direction) < 0
    np.testing.assert_allclose(g.direction, np.diag([1.0, -1.0, 1.0]), atol=1e-7)
    # and it round-trips exactly through our writer
    write_nifti(tmp_path / "again.nii.gz", back, g)
    back2, g2 = read_nifti(tmp_path / "again.nii.gz")
    np.testing.assert_array_equal(back2, back)
    _assert_geometry(g2, g)


def test_pixdim_only_fallback_follows_itk(tmp_path):
    data = np.zeros((4, 5, 6), dtype=np.uint8)
    p = _save(tmp_path / "bare.nii", data, zooms=(0.5, 0.75, 2.0))
    _, g = read_nifti(p)
    np.testing.assert_allclose(g.origin, 0)
    np.testing.assert_allclose(g.direction, np.eye(3))  # identity in LPS, as ITK
    np.testing.assert_allclose(g.spacing, [0.5, 0.75, 2.0])
    assert select_affine(nib.load(str(p)).header)[1] == "pixdim"


def _patch_slope(path, slope, inter):
    raw = bytearray(path.read_bytes())
    raw[112:120] = struct.pack("<ff", slope, inter)  # scl_slope, scl_inter in a little-endian NIfTI-1 header
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("slope,inter", [(0.0, 0.0), (float("nan"), float("nan")), (1.0, 0.0), (0.0, 5.0)])
def test_no_scaling_keeps_stored_dtype(tmp_path, slope, inter):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    arr = _labels(geom.shape, np.uint16)
    p = tmp_path / "s.nii"
    write_nifti(p, arr, geom)
    _patch_slope(p, slope, inter)
    back, _ = read_nifti(p)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, arr)


def test_real_scaling_is_applied(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    p = tmp_path / "s.nii"
    write_nifti(p, arr, geom)
    _patch_slope(p, 2.0, 1.0)
    back, _ = read_nifti(p)
    assert back.dtype.kind == "f"
    np.testing.assert_array_equal(back, arr * 2.0 + 1.0)


def test_trailing_unit_dimension_squeezed(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6, 1)
    aff = _ras_affine(np.eye(3), (1, 2, 3), (1, 2, 3))
    p = _save(tmp_path / "t1.nii.gz", data, sform=aff, sform_code=1)
    back, g = read_nifti(p)
    assert back.shape == (6, 5, 4) and g.shape == (6, 5, 4)
    np.testing.assert_array_equal(back, data[..., 0].transpose(2, 1, 0))


def test_real_4d_refused(tmp_path):
    data = np.zeros((4, 5, 6, 2), dtype=np.uint8)
    p = _save(tmp_path / "four.nii.gz", data, sform=np.eye(4), sform_code=1)
    with pytest.raises(ImageFormatError, match="four.nii.gz.*4-D"):
        read_nifti(p)


def test_2d_image_becomes_one_slice(tmp_path):
    data = np.arange(20, dtype=np.uint8).reshape(4, 5)  # [i, j]
    aff = _ras_affine(np.eye(3), (0.5, 0.6, 1.0), (1, 2, 3))
    p = _save(tmp_path / "two.nii", data, sform=aff, sform_code=1)
    back, g = read_nifti(p)
    assert back.shape == (1, 5, 4) and g.shape == (1, 5, 4)
    np.testing.assert_array_equal(back[0], data.T)
    np.testing.assert_allclose(g.spacing[:2], [0.5, 0.6])
    np.testing.assert_allclose(g.slice_direction, np.cross(g.row_direction, g.column_direction))


# ---------------------------------------------------------------------------- errors


def _good(tmp_path, name):
    shape, direction, spacing, origin = GEOMETRIES["oblique"]
    geom = Geometry(origin, direction, spacing, shape)
    write_nifti(tmp_path / name, _labels(shape, np.uint16), geom)
    return tmp_path / name


@pytest.mark.parametrize("name", ["good.nii", "good.nii.gz"])
def test_truncated(tmp_path, name):
    p = _good(tmp_path, name)
    data = p.read_bytes()
    cut = tmp_path / ("cut" + name[4:])
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFormatError, match=cut.name.replace(".", r"\.")) as info:
        read_nifti(cut)
    assert "truncated" in str(info.value)


@pytest.mark.parametrize("name", ["notes.nii", "notes.nii.gz"])
def test_text_file(tmp_path, name):
    p = tmp_path / name
    p.write_text("not an image at all\n" * 30)
    with pytest.raises(ImageFormatError, match=name.replace(".", r"\.")):
        read_nifti(p)


def test_empty_and_missing(tmp_path):
    (tmp_path / "empty.nii").write_bytes(b"")
    with pytest.raises(ImageFormatError, match="empty.nii"):
        read_nifti(tmp_path / "empty.nii")
    with pytest.raises(ImageFormatError, match="missing.nii.gz.*not found"):
        read_nifti(tmp_path / "missing.nii.gz")


def test_unwritable_output(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    with pytest.raises(OutputError):
        write_nifti(tmp_path / "no" / "such" / "dir.nii.gz", np.zeros(geom.shape, np.uint8), geom)
