"""Geometry factories shared by the tests (plain functions, importable from any test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelmap.demo.sample import write_ct_series
from labelmap.model import Geometry


def rotation_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rotation_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rotation_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def axial_geometry(shape=(5, 22, 21), spacing=(0.7, 0.9, 2.5), origin=(-7.35, -9.45, -30.0)) -> Geometry:
    """Identity direction: i along +x (L), j along +y (P), k along +z (S)."""
    return Geometry(np.array(origin, dtype=np.float64), np.eye(3), np.array(spacing, dtype=np.float64), shape)


def oblique_geometry(
    shape=(5, 22, 21), spacing=(0.7, 0.9, 2.5), origin=(12.5, -40.25, 101.75), angles=(20.0, 35.0)
) -> Geometry:
    """Identity rotated by ``angles[0]`` degrees about x, then ``angles[1]`` degrees about z."""
    direction = rotation_z(angles[1]) @ rotation_x(angles[0])
    return Geometry(np.array(origin, dtype=np.float64), direction, np.array(spacing, dtype=np.float64), shape)


def las_geometry(shape=(5, 22, 21), spacing=(0.7, 0.9, 2.5), origin=(7.35, -9.45, -30.0)) -> Geometry:
    """Row direction flipped (i along -x); k = row x column, so still a valid DICOM stack."""
    direction = np.array([[-1, 0, 0], [0, 1, 0], [0, 0, -1]], dtype=np.float64)
    # columns: i = -x, j = +y, k = (-x) x (+y) = -z
    return Geometry(np.array(origin, dtype=np.float64), direction, np.array(spacing, dtype=np.float64), shape)


def reversed_geometry(geometry: Geometry) -> Geometry:
    """Same grid with k running the other way (k along -normal if it was along +normal)."""
    direction = geometry.direction.copy()
    direction[:, 2] *= -1
    origin = geometry.slice_positions()[-1]
    return Geometry(origin, direction, geometry.spacing, geometry.shape)


def tilted_geometry(shape=(5, 22, 21), spacing=(0.7, 0.9, 2.5), tilt_deg: float = 15.0) -> Geometry:
    """Gantry-tilt stack: axial slices, k direction tilted in the y-z plane (not the normal)."""
    t = np.deg2rad(tilt_deg)
    k_dir = np.array([0.0, np.sin(t), np.cos(t)])
    direction = np.column_stack([[1.0, 0, 0], [0, 1.0, 0], k_dir])
    return Geometry(np.array([-7.35, -9.45, -30.0]), direction, np.array(spacing, dtype=np.float64), shape)


def make_ct_series(tmp_path, geometry: Geometry, *, name: str = "ct", **kw) -> Path:
    """Write a CT series for ``geometry`` into ``tmp_path / name`` (via write_ct_series) and return that folder."""
    directory = Path(tmp_path) / name
    write_ct_series(directory, geometry, **kw)
    return directory
