"""Coordinate work in LPS: reorienting grids, matching label slices to source
images, and rebuilding a grid from SEG frame positions.

Every check here is in millimetres: two planes "match" when the four corner
pixel centres of the frame lie within ``tol_mm`` of each other.  That single
measure covers position, orientation and pixel spacing together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelmap._util.arrays import has_duplicates
from labelmap.errors import GeometryError, SliceMatchError
from labelmap.model import Geometry, SourceSeries

__all__ = [
    "DEFAULT_TOLERANCE_MM",
    "reorient",
    "corner_deviation",
    "grid_from_frames",
    "place_frames",
    "patient_orientation",
    "match_slices",
]

#: Default tolerance for matching planes and positions, in mm.
DEFAULT_TOLERANCE_MM = 0.01

#: Most slices a grid built from frame positions may have (a CT has a few thousand); more means
#: damaged positions or spacing, and would allocate and write a volume of that many slices.
MAX_GRID_SLICES = 100_000


def _fmt(v: np.ndarray, nd: int = 3) -> str:
    return "(" + ", ".join(f"{x:.{nd}f}" for x in np.asarray(v, dtype=float)) + ")"


def reorient(
    array: np.ndarray,
    geometry: Geometry,
    row_direction: Sequence[float],
    column_direction: Sequence[float],
    *,
    source: str = "label image",
    cos_tol: float = 1e-4,
) -> tuple[np.ndarray, Geometry]:
    """Flip / permute the axes of ``array`` so its i and j axes run along the given directions.

    This is exact re-indexing, never resampling: it maps e.g. a NIfTI with a
    flipped x axis, or a sagittal-stored volume, onto an axial source series.
    The k axis is the remaining one, pointing to the side of the plane normal
    (row x column).  Raises :class:`GeometryError` if the grid's axes are not
    parallel to the requested ones.
    """
    row = np.asarray(row_direction, dtype=float)
    col = np.asarray(column_direction, dtype=float)
    normal = np.cross(row, col)
    d = geometry.direction
    dots_row = d.T @ row  # cosine of each grid axis (i, j, k) with the row direction
    dots_col = d.T @ col
    a_i = int(np.argmax(np.abs(dots_row)))
    a_j = int(np.argmax(np.abs(dots_col)))
    if a_i == a_j or abs(abs(dots_row[a_i]) - 1) > cos_tol or abs(abs(dots_col[a_j]) - 1) > cos_tol:
        ang_r = float(np.degrees(np.arccos(min(1.0, abs(dots_row[a_i])))))
        ang_c = float(np.degrees(np.arccos(min(1.0, abs(dots_col[a_j])))))
        raise GeometryError(
            f"{source}: its axes are not parallel to the source images' rows and columns "
            f"(off by {ang_r:.4f} and {ang_c:.4f} degrees; label directions {np.round(d.T, 5).tolist()}, "
            f"source row {np.round(row, 5).tolist()}, column {np.round(col, 5).tolist()}); "
            "resample the labels onto the source series grid first"
        )
    a_k = 3 - a_i - a_j
    s_i = 1.0 if dots_row[a_i] > 0 else -1.0
    s_j = 1.0 if dots_col[a_j] > 0 else -1.0
    k_dot = float(d[:, a_k] @ normal)
    if abs(k_dot) < 1e-3:
        raise GeometryError(f"{source}: its slice axis lies in the image plane; the grid is degenerate")
    s_k = 1.0 if k_dot > 0 else -1.0
    axes = (a_i, a_j, a_k)
    signs = (s_i, s_j, s_k)
    if axes == (0, 1, 2) and signs == (1.0, 1.0, 1.0):
        return array, geometry
    # array axes are [k, j, i] = geometry axes [2, 1, 0]
    arr = np.transpose(array, (2 - a_k, 2 - a_j, 2 - a_i))
    # new array axes: 2 = i, 1 = j, 0 = k
    flip_axes = []
    if s_i < 0:
        flip_axes.append(2)
    if s_j < 0:
        flip_axes.append(1)
    if s_k < 0:
        flip_axes.append(0)
    if flip_axes:
        arr = np.flip(arr, axis=tuple(flip_axes))
    arr = np.ascontiguousarray(arr)
    old_shape_ijk = (geometry.shape[2], geometry.shape[1], geometry.shape[0])
    corner = np.zeros(3)
    for ax, s in zip(axes, signs):
        if s < 0:
            corner[ax] = old_shape_ijk[ax] - 1
    origin = geometry.index_to_lps(corner)
    direction = np.stack([s * d[:, ax] for ax, s in zip(axes, signs)], axis=1)
    spacing = np.array([geometry.spacing[ax] for ax in axes])
    shape = (old_shape_ijk[a_k], old_shape_ijk[a_j], old_shape_ijk[a_i])
    return arr, Geometry(origin, direction, spacing, shape)


def check_orientation(orientation: Sequence[float], source: str = "SEG") -> np.ndarray:
    """ImageOrientationPatient as 6 floats; :class:`GeometryError` unless two orthogonal unit vectors (1e-3)."""
    o = np.asarray(orientation, dtype=float).reshape(-1)
    if o.shape != (6,) or not np.isfinite(o).all():
        raise GeometryError(f"{source}: ImageOrientationPatient {o.tolist()} is not six finite numbers")
    row, col = o[:3], o[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(np.dot(row, col)) > 1e-3:
        raise GeometryError(f"{source}: ImageOrientationPatient {o.tolist()} is not two orthogonal unit vectors")
    return o


def _finite_positions(positions: np.ndarray, source: str) -> np.ndarray:
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    bad = np.flatnonzero(~(np.isfinite(positions).all(axis=1) & (np.abs(positions) < 1e9).all(axis=1)))
    if bad.size:
        raise GeometryError(
            f"{source}: frame {bad[0] + 1} has ImagePositionPatient {positions[bad[0]].tolist()}, not a position "
            "in patient space (mm)"
        )
    return positions


def corner_deviation(
    position_a: np.ndarray,
    row_a: np.ndarray,
    col_a: np.ndarray,
    spacing_a: Sequence[float],
    position_b: np.ndarray,
    row_b: np.ndarray,
    col_b: np.ndarray,
    spacing_b: Sequence[float],
    rows: int,
    columns: int,
) -> float:
    """Largest distance (mm) between the corner pixel centres of two frames of ``rows`` x ``columns``.

    ``spacing_*`` = (column spacing di, row spacing dj).
    """
    worst = 0.0
    for i in (0, columns - 1):
        for j in (0, rows - 1):
            pa = position_a + i * spacing_a[0] * row_a + j * spacing_a[1] * col_a
            pb = position_b + i * spacing_b[0] * row_b + j * spacing_b[1] * col_b
            worst = max(worst, float(np.linalg.norm(pa - pb)))
    return worst


def grid_from_frames(
    positions: np.ndarray,
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    rows: int,
    columns: int,
    *,
    slice_spacing: float | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    source: str = "SEG",
) -> tuple[Geometry, np.ndarray]:
    """The smallest regular grid holding frames at ``positions`` (F, 3), and each frame's slice index.

    Frames are ordered along the normal (row x column), never by frame number.
    The slice step is ``slice_spacing`` (SpacingBetweenSlices) when the frames
    sit on multiples of it, else the smallest gap between distinct positions;
    gaps (skipped empty slices) become empty slices of the grid.
    """
    orientation = check_orientation(orientation, source)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    positions = _finite_positions(positions, source)
    spacing_ij = (float(pixel_spacing[1]), float(pixel_spacing[0]))
    proj = positions @ normal
    order = np.argsort(proj, kind="stable")
    sorted_pos = positions[order]
    # distinct positions (several frames may share one, e.g. BINARY segments)
    distinct = [sorted_pos[0]]
    for p in sorted_pos[1:]:
        if np.linalg.norm(p - distinct[-1]) > tol_mm:
            distinct.append(p)
    distinct_arr = np.array(distinct)
    origin = distinct_arr[0]
    if len(distinct_arr) == 1:
        k_dir = normal / np.linalg.norm(normal)
        step = float(slice_spacing) if slice_spacing and slice_spacing > 0 else 1.0
        geometry = Geometry(origin, np.stack([row, col, k_dir], axis=1), (*spacing_ij, step), (1, rows, columns))
        return geometry, np.zeros(len(positions), dtype=np.int64)
    span = distinct_arr[-1] - origin
    if float(span @ normal) <= tol_mm:
        raise GeometryError(
            f"{source}: frames at {_fmt(origin)} and {_fmt(distinct_arr[-1])} lie in one plane at different "
            "in-plane positions; frames must be parallel slices"
        )
    k_dir = span / np.linalg.norm(span)
    along = (distinct_arr - origin) @ k_dir
    gaps = np.diff(along)
    candidates = []
    if slice_spacing and slice_spacing > tol_mm:
        candidates.append(float(slice_spacing))
    candidates.append(float(gaps.min()))
    last_error = ""
    for step in candidates:
        t = (positions - origin) @ k_dir / step
        if not np.isfinite(t).all() or t.max() >= MAX_GRID_SLICES:
            far = int(np.argmax(np.where(np.isfinite(t), t, np.inf)))
            last_error = (
                f"{source}: frame {far + 1} at {_fmt(positions[far])} lies {along[-1]:.4g} mm from the first "
                f"frame, more than {MAX_GRID_SLICES} slices of {step:.4g} mm"
            )
            continue
        k = np.rint(t).astype(np.int64)
        grid_pos = origin[None, :] + (k * step)[:, None] * k_dir[None, :]
        dev = np.linalg.norm(positions - grid_pos, axis=1)
        bad = int(np.argmax(dev))
        if dev[bad] <= tol_mm and k.min() >= 0:
            n_slices = int(k.max()) + 1
            geometry = Geometry(
                origin, np.stack([row, col, k_dir], axis=1), (*spacing_ij, step), (n_slices, rows, columns)
            )
            return geometry, k
        last_error = (
            f"{source}: frame {bad + 1} at {_fmt(positions[bad])} is {dev[bad]:.4f} mm off a regular grid "
            f"of slice spacing {step:.4f} mm (tolerance {tol_mm} mm)"
        )
    raise GeometryError(last_error + "; frames are not on regularly spaced parallel planes")


def place_frames(
    geometry: Geometry,
    positions: np.ndarray,
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    rows: int,
    columns: int,
    *,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    source: str = "SEG",
    target: str = "reference series",
) -> np.ndarray:
    """Slice index in ``geometry`` of each frame; :class:`GeometryError` names the first frame that does not fit."""
    if (rows, columns) != geometry.shape[1:]:
        raise GeometryError(
            f"{source}: frames are {rows} x {columns} (rows x columns) but the {target} is "
            f"{geometry.shape[1]} x {geometry.shape[2]}"
        )
    orientation = check_orientation(orientation, source)
    positions = _finite_positions(positions, source)
    idx = geometry.lps_to_index(positions)
    k = np.rint(idx[:, 2]).astype(np.int64)
    spacing_ij = (float(pixel_spacing[1]), float(pixel_spacing[0]))
    slice_pos = geometry.slice_positions()
    for f in range(len(positions)):
        kf = int(k[f])
        if kf < 0 or kf >= geometry.shape[0]:
            raise GeometryError(
                f"{source}: frame {f + 1} at {_fmt(positions[f])} lies outside the {target} "
                f"(slice index {idx[f, 2]:.3f} of 0..{geometry.shape[0] - 1})"
            )
        dev = corner_deviation(
            positions[f],
            orientation[:3],
            orientation[3:],
            spacing_ij,
            slice_pos[kf],
            geometry.row_direction,
            geometry.column_direction,
            geometry.spacing[:2],
            rows,
            columns,
        )
        if dev > tol_mm:
            raise GeometryError(
                f"{source}: frame {f + 1} at {_fmt(positions[f])} does not match slice {kf} of the {target} "
                f"at {_fmt(slice_pos[kf])}: corners differ by {dev:.4f} mm (tolerance {tol_mm} mm)"
            )
    return k


def patient_orientation(geometry: Geometry) -> list[str]:
    """PatientOrientation (0020,0020) letters for the row and column directions, e.g. ['L', 'P']."""

    def letters(v: np.ndarray) -> str:
        names = (("L", "R"), ("P", "A"), ("H", "F"))
        out = ""
        for axis in np.argsort(-np.abs(v)):
            if abs(v[axis]) > 1e-4:
                out += names[axis][0 if v[axis] > 0 else 1]
        return out or "L"

    return [letters(geometry.row_direction), letters(geometry.column_direction)]


def match_slices(
    geometry: Geometry,
    source: SourceSeries,
    *,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    label_name: str = "label image",
) -> np.ndarray:
    """For each slice k of ``geometry``, the index of the source image it coincides with.

    The grid must already be reoriented onto the source (see :func:`reorient`).
    Raises :class:`SliceMatchError` naming the first slice without a source image
    within ``tol_mm`` (corner pixel centres compared) and by how much it misses.
    """
    rows, columns = geometry.shape[1], geometry.shape[2]
    if (rows, columns) != (source.rows, source.columns):
        raise GeometryError(
            f"{label_name}: slices are {rows} x {columns} (rows x columns) but the source images are "
            f"{source.rows} x {source.columns}; resample the labels onto the source series grid"
        )
    src_row, src_col = source.orientation[:3], source.orientation[3:]
    src_spacing = (float(source.pixel_spacing[1]), float(source.pixel_spacing[0]))
    positions = geometry.slice_positions()
    # nearest source image by distance between positions
    dist = np.linalg.norm(positions[:, None, :] - source.positions[None, :, :], axis=2)
    nearest = np.argmin(dist, axis=1)
    for k in range(geometry.shape[0]):
        s = int(nearest[k])
        dev = corner_deviation(
            positions[k],
            geometry.row_direction,
            geometry.column_direction,
            geometry.spacing[:2],
            source.positions[s],
            src_row,
            src_col,
            src_spacing,
            rows,
            columns,
        )
        if dev > tol_mm:
            what = source.files[s] if s < len(source.files) else source.sop_instance_uids[s]
            detail = []
            off = float(dist[k, s])
            if off > tol_mm:
                detail.append(
                    f"its position {_fmt(positions[k])} is {off:.4f} mm from the nearest image's {_fmt(source.positions[s])}"
                )
            sp = np.abs(np.asarray(geometry.spacing[:2]) - np.asarray(src_spacing))
            if sp.max() > 1e-6:
                detail.append(
                    f"pixel spacing (column, row) {np.round(geometry.spacing[:2], 6).tolist()} vs "
                    f"{np.round(src_spacing, 6).tolist()}"
                )
            ang = float(
                np.degrees(
                    np.arccos(
                        np.clip(min(geometry.row_direction @ src_row, geometry.column_direction @ src_col), -1, 1)
                    )
                )
            )
            if ang > 1e-4:
                detail.append(f"orientation differs by {ang:.4f} degrees")
            raise SliceMatchError(
                f"{label_name}: slice {k} does not match any source image: its corners are {dev:.4f} mm from "
                f"those of the nearest image {what} (tolerance {tol_mm} mm)"
                + ("; " + "; ".join(detail) if detail else "")
            )
    if has_duplicates(nearest):
        raise GeometryError(f"{label_name}: several slices match the same source image; slice spacing is too small")
    return nearest.astype(np.int64)
