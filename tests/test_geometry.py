"""labelmap.geometry: reorient, match_slices, grid_from_frames, place_frames."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from labelmap.errors import GeometryError
from labelmap.geometry import FrameGeometry, grid_from_frames, match_slices, patient_orientation, place_frames, reorient
from labelmap.model import Geometry, SourceSeries

from _geometries import axial_geometry, las_geometry, oblique_geometry, reversed_geometry, rotation_z
from _interop import permuted


def geometry_close(a: Geometry, b: Geometry, tol: float = 1e-9) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.origin, b.origin, atol=tol)
    np.testing.assert_allclose(a.direction, b.direction, atol=tol)
    np.testing.assert_allclose(a.spacing, b.spacing, atol=tol)
    assert a.max_deviation(b) < 1e-6


def series_for(geometry: Geometry, *, rows=None, columns=None, pixel_spacing=None) -> SourceSeries:
    """A SourceSeries (headers only) on ``geometry``."""
    n = geometry.shape[0]
    return SourceSeries(
        series_instance_uid="1.2.3",
        sop_class_uids=("1.2.840.10008.5.1.4.1.1.2",) * n,
        sop_instance_uids=tuple(f"1.2.3.{k + 1}" for k in range(n)),
        positions=geometry.slice_positions(),
        orientation=np.array(geometry.image_orientation),
        pixel_spacing=tuple(pixel_spacing or geometry.pixel_spacing),
        rows=rows or geometry.shape[1],
        columns=columns or geometry.shape[2],
        dataset=None,
        files=tuple(f"CT{k + 1:06d}.dcm" for k in range(n)),
    )


# ----------------------------------------------------------------------------- reorient
ALL_PERMS = list(itertools.product(itertools.permutations(range(3)), itertools.product((False, True), repeat=3)))


@pytest.mark.parametrize("make", [axial_geometry, las_geometry, oblique_geometry], ids=["axial", "las", "oblique"])
def test_reorient_undoes_every_permutation_and_flip(make):
    geometry = make(shape=(4, 6, 5), spacing=(0.7, 0.9, 2.5))
    rng = np.random.default_rng(0)
    array = rng.integers(0, 1000, size=geometry.shape).astype(np.uint16)
    for perm, flips in ALL_PERMS:
        arr2, geom2 = permuted(array, geometry, perm, flips)
        assert geom2.max_deviation(geom2) == 0
        back, bgeom = reorient(arr2, geom2, geometry.row_direction, geometry.column_direction)
        np.testing.assert_array_equal(back, array, err_msg=f"perm {perm} flips {flips}")
        geometry_close(bgeom, geometry)
        assert back.flags.c_contiguous


def test_reorient_random_oblique():
    rng = np.random.default_rng(42)
    for _trial in range(20):
        angles = tuple(rng.uniform(-80, 80, size=2))
        geometry = oblique_geometry(
            shape=tuple(rng.integers(2, 7, size=3)), angles=angles, spacing=tuple(rng.uniform(0.3, 3.0, size=3))
        )
        array = rng.integers(0, 300, size=geometry.shape).astype(np.uint16)
        perm = tuple(rng.permutation(3))
        flips = tuple(bool(b) for b in rng.integers(0, 2, size=3))
        arr2, geom2 = permuted(array, geometry, perm, flips)
        back, bgeom = reorient(arr2, geom2, geometry.row_direction, geometry.column_direction)
        np.testing.assert_array_equal(back, array)
        geometry_close(bgeom, geometry)


def test_reorient_identity_returns_input():
    geometry = oblique_geometry()
    array = np.zeros(geometry.shape, np.uint8)
    out, g = reorient(array, geometry, geometry.row_direction, geometry.column_direction)
    assert out is array and g is geometry


def test_reorient_k_follows_normal():
    """A stack stored with k against the normal is flipped so k runs along row x column."""
    geometry = axial_geometry()
    rev = reversed_geometry(geometry)
    array = np.arange(np.prod(geometry.shape)).reshape(geometry.shape).astype(np.uint16)
    back, bgeom = reorient(array[::-1].copy(), rev, geometry.row_direction, geometry.column_direction)
    np.testing.assert_array_equal(back, array)
    geometry_close(bgeom, geometry)


def test_reorient_rejects_rotated_grid():
    geometry = axial_geometry()
    rotated = Geometry(geometry.origin, rotation_z(1.0) @ geometry.direction, geometry.spacing, geometry.shape)
    with pytest.raises(GeometryError, match=r"not parallel.*off by 1\.0000"):
        reorient(np.zeros(geometry.shape, np.uint8), rotated, geometry.row_direction, geometry.column_direction)


# ----------------------------------------------------------------------------- match_slices
@pytest.mark.parametrize("make", [axial_geometry, las_geometry, oblique_geometry], ids=["axial", "las", "oblique"])
def test_match_slices_exact(make):
    geometry = make()
    np.testing.assert_array_equal(match_slices(geometry, series_for(geometry)), np.arange(geometry.shape[0]))


def test_match_slices_subset():
    source_geometry = oblique_geometry(shape=(9, 22, 21))
    label = source_geometry.crop_slices(3, 7)
    np.testing.assert_array_equal(match_slices(label, series_for(source_geometry)), [3, 4, 5, 6])


def _error(geometry: Geometry, source_geometry: Geometry, **kw) -> str:
    with pytest.raises(GeometryError) as info:
        match_slices(geometry, series_for(source_geometry, **kw), label_name="lab.nrrd")
    return str(info.value)


def test_match_slices_shifted_origin():
    source = oblique_geometry()
    shifted = Geometry(source.origin + 0.5 * source.row_direction, source.direction, source.spacing, source.shape)
    msg = _error(shifted, source)
    assert "lab.nrrd" in msg and "slice 0" in msg
    assert "0.5000 mm" in msg
    assert "CT000001.dcm" in msg


def test_match_slices_shifted_along_normal():
    source = axial_geometry()
    shifted = source.crop_slices(1, 4)
    shifted = Geometry(shifted.origin + [0, 0, 0.3], shifted.direction, shifted.spacing, shifted.shape)
    msg = _error(shifted, source)
    assert "slice 0" in msg and "0.3000 mm" in msg


def test_match_slices_wrong_in_plane_size():
    source = axial_geometry()
    label = axial_geometry(shape=(5, 22, 20))
    msg = _error(label, source)
    assert "22 x 20" in msg and "22 x 21" in msg


def test_match_slices_rotated_one_degree():
    source = axial_geometry()
    rotated = Geometry(source.origin, rotation_z(1.0) @ source.direction, source.spacing, source.shape)
    msg = _error(rotated, source)
    assert "slice 0" in msg
    assert re.search(r"corners are \d+\.\d{4} mm", msg)
    dev = float(re.search(r"corners are (\d+\.\d{4}) mm", msg).group(1))
    # the far corner moves by about |corner| * 1 degree in radians
    far = np.hypot(20 * 0.7, 21 * 0.9) * np.deg2rad(1.0)
    assert dev == pytest.approx(far, rel=0.05)
    assert "orientation differs by 1.0000 degrees" in msg


def test_match_slices_spacing_off():
    source = axial_geometry()
    label = axial_geometry(spacing=(0.71, 0.9, 2.5))
    msg = _error(label, source)
    assert "slice 0" in msg
    assert f"{20 * 0.01:.4f} mm" in msg
    assert "pixel spacing" in msg


def test_match_slices_within_tolerance_passes():
    source = axial_geometry()
    nudged = Geometry(source.origin + [0.004, 0, 0], source.direction, source.spacing, source.shape)
    np.testing.assert_array_equal(match_slices(nudged, series_for(source)), np.arange(5))
    with pytest.raises(GeometryError):
        match_slices(nudged, series_for(source), tol_mm=0.001)


# ----------------------------------------------------------------------------- grid_from_frames
def _frames(geometry: Geometry, ks) -> np.ndarray:
    return geometry.slice_positions()[list(ks)]


def _fg(positions, orientation, pixel_spacing, rows, columns, slice_spacing=None) -> FrameGeometry:
    return FrameGeometry(
        np.asarray(positions, dtype=float),
        np.asarray(orientation, dtype=float),
        tuple(pixel_spacing),
        rows,
        columns,
        slice_spacing,
    )


@pytest.mark.parametrize("make", [axial_geometry, las_geometry, oblique_geometry], ids=["axial", "las", "oblique"])
def test_grid_from_frames_gaps_become_empty_slices(make):
    geometry = make(shape=(7, 22, 21))
    grid, k = grid_from_frames(
        _fg(
            _frames(geometry, [0, 1, 4, 6]),
            geometry.image_orientation,
            geometry.pixel_spacing,
            22,
            21,
            float(geometry.spacing[2]),
        )
    )
    assert grid.shape == (7, 22, 21)
    np.testing.assert_array_equal(k, [0, 1, 4, 6])
    assert grid.max_deviation(geometry) < 1e-6


def test_grid_from_frames_unordered_positions():
    geometry = oblique_geometry(shape=(6, 22, 21))
    order = [4, 0, 5, 2, 1]
    grid, k = grid_from_frames(
        _fg(
            _frames(geometry, order),
            geometry.image_orientation,
            geometry.pixel_spacing,
            22,
            21,
            float(geometry.spacing[2]),
        )
    )
    np.testing.assert_array_equal(k, order)
    assert grid.max_deviation(geometry) < 1e-6


def test_grid_from_frames_without_spacing_between_slices():
    geometry = axial_geometry(shape=(6, 22, 21))
    grid, k = grid_from_frames(
        _fg(_frames(geometry, [5, 0, 2, 3]), geometry.image_orientation, geometry.pixel_spacing, 22, 21, None)
    )
    np.testing.assert_array_equal(k, [5, 0, 2, 3])
    assert grid.max_deviation(geometry) < 1e-6
    # only every other slice present and no spacing given: the grid step is the smallest gap
    grid2, k2 = grid_from_frames(
        _fg(_frames(geometry, [0, 2, 4]), geometry.image_orientation, geometry.pixel_spacing, 22, 21)
    )
    np.testing.assert_array_equal(k2, [0, 1, 2])
    assert grid2.spacing[2] == pytest.approx(2 * geometry.spacing[2])


def test_grid_from_frames_wrong_spacing_falls_back_to_gaps():
    """A SpacingBetweenSlices the frames are not on (e.g. SliceThickness) is not trusted."""
    geometry = axial_geometry(shape=(4, 22, 21))
    grid, k = grid_from_frames(
        _fg(_frames(geometry, [0, 1, 2, 3]), geometry.image_orientation, geometry.pixel_spacing, 22, 21, 1.7)
    )
    np.testing.assert_array_equal(k, [0, 1, 2, 3])
    assert grid.max_deviation(geometry) < 1e-6


def test_grid_from_frames_single_frame():
    geometry = oblique_geometry(shape=(1, 22, 21))
    grid, k = grid_from_frames(
        _fg(_frames(geometry, [0]), geometry.image_orientation, geometry.pixel_spacing, 22, 21, 2.5)
    )
    assert grid.shape == (1, 22, 21)
    np.testing.assert_array_equal(k, [0])
    np.testing.assert_allclose(grid.slice_direction, geometry.normal, atol=1e-12)
    assert grid.spacing[2] == 2.5


def test_grid_from_frames_irregular_positions():
    geometry = axial_geometry(shape=(5, 22, 21))
    pos = _frames(geometry, [0, 1, 2])
    pos[2] += [0, 0, 0.4]
    with pytest.raises(GeometryError, match=r"frame 3 .* mm off a regular grid"):
        grid_from_frames(_fg(pos, geometry.image_orientation, geometry.pixel_spacing, 22, 21, 2.5), source="x.dcm")


# ----------------------------------------------------------------------------- place_frames
def test_place_frames_ok():
    geometry = oblique_geometry(shape=(7, 22, 21))
    ks = [6, 1, 3]
    k = place_frames(geometry, _fg(_frames(geometry, ks), geometry.image_orientation, geometry.pixel_spacing, 22, 21))
    np.testing.assert_array_equal(k, ks)


def test_place_frames_wrong_size():
    geometry = axial_geometry()
    with pytest.raises(GeometryError, match=r"frames are 22 x 20 .* reference series is 22 x 21"):
        place_frames(geometry, _fg(_frames(geometry, [0]), geometry.image_orientation, geometry.pixel_spacing, 22, 20))


def test_place_frames_outside():
    geometry = axial_geometry()
    pos = geometry.slice_positions()[[4]] + 3 * geometry.spacing[2] * geometry.slice_direction
    with pytest.raises(GeometryError, match=r"frame 1 at .* lies outside the reference series"):
        place_frames(geometry, _fg(pos, geometry.image_orientation, geometry.pixel_spacing, 22, 21))


def test_place_frames_in_plane_shift():
    geometry = oblique_geometry()
    pos = _frames(geometry, [1, 2])
    pos[1] = pos[1] + 0.25 * geometry.column_direction
    with pytest.raises(GeometryError, match=r"frame 2 .* does not match slice 2 .* 0\.2500 mm"):
        place_frames(geometry, _fg(pos, geometry.image_orientation, geometry.pixel_spacing, 22, 21))


def test_place_frames_orientation_and_spacing_mismatch():
    geometry = axial_geometry()
    rotated = Geometry(geometry.origin, rotation_z(1.0), geometry.spacing, geometry.shape)
    with pytest.raises(GeometryError, match="does not match slice 0"):
        place_frames(geometry, _fg(_frames(geometry, [0]), rotated.image_orientation, geometry.pixel_spacing, 22, 21))
    with pytest.raises(GeometryError, match="does not match slice 0"):
        place_frames(geometry, _fg(_frames(geometry, [0]), geometry.image_orientation, [0.9, 0.72], 22, 21))


def test_patient_orientation_letters():
    assert patient_orientation(axial_geometry()) == ["L", "P"]
    assert patient_orientation(las_geometry()) == ["R", "P"]
    letters = patient_orientation(oblique_geometry())
    assert all(set(s) <= set("LRAPHF") and s for s in letters)


# ----------------------------------------------------------------------------- embed (grid on a lattice)
def _block(geometry: Geometry, start_ijk, shape) -> Geometry:
    return Geometry(geometry.index_to_lps(np.asarray(start_ijk, float)), geometry.direction, geometry.spacing, shape)


@pytest.mark.parametrize("make", [axial_geometry, las_geometry, oblique_geometry], ids=["axial", "las", "oblique"])
def test_embed_whole_voxel_blocks(make):
    from labelmap.geometry import embed

    target = make(shape=(9, 22, 21))
    inner = embed(_block(target, [3, 4, 2], (4, 8, 9)), target)
    assert inner.offset == (3, 4, 2) and inner.deviation < 1e-9 and inner.inside((4, 8, 9), target.shape)
    outer = embed(_block(target, [-2, -1, -3], (15, 25, 26)), target)
    assert outer.offset == (-2, -1, -3) and not outer.inside((15, 25, 26), target.shape)
    nudged = _block(target, [3.004, 4, 2], (4, 8, 9))  # 0.0028 mm: within the default 0.01 mm
    assert embed(nudged, target).offset == (3, 4, 2)
    with pytest.raises(
        GeometryError, match=r"origin \(0\.004, 0\.000, 0\.000\) voxels = \(0\.0028, 0\.0000, 0\.0000\) mm"
    ):
        embed(nudged, target, tol_mm=0.001)


def test_embed_says_how_the_lattices_differ():
    from labelmap.geometry import embed

    target = axial_geometry(shape=(9, 22, 21))
    block = _block(target, [3.5, 4, 2], (4, 8, 9))
    with pytest.raises(GeometryError) as info:
        embed(block, target, source="crop.nrrd", target_name="CT")
    msg = str(info.value)
    assert msg.startswith("crop.nrrd is not on the voxel lattice of the CT: origin (")
    assert "0.500, 0.000, 0.000) voxels = (" in msg and "0.3500, 0.0000, 0.0000) mm" in msg
    spaced = Geometry(target.origin, target.direction, target.spacing * [1, 1, 2], (3, 22, 21))
    with pytest.raises(
        GeometryError, match=r"spacing \(column, row, slice\) \[0\.7, 0\.9, 5\.0\] vs \[0\.7, 0\.9, 2\.5\] mm"
    ):
        embed(spaced, target)
    flipped = Geometry(target.origin, target.direction * [1, -1, 1], target.spacing, (3, 22, 21))
    with pytest.raises(GeometryError, match="its row axis runs the other way"):
        embed(flipped, target)
    turned = Geometry(target.origin, rotation_z(0.5) @ target.direction, target.spacing, (3, 22, 21))
    with pytest.raises(
        GeometryError, match=r"its column axis is 0\.5000 degrees off; its row axis is 0\.5000 degrees off"
    ):
        embed(turned, target)
