"""Coordinate work in LPS: reorienting grids, matching label slices to source
images, and rebuilding a grid from SEG frame positions.

Every check here is in millimetres: two planes "match" when the four corner
pixel centres of the frame lie within ``tol_mm`` of each other.  That single
measure covers position, orientation and pixel spacing together.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelmap._util.arrays import has_duplicates
from labelmap.errors import GeometryError, SliceMatchError
from labelmap.model import Geometry, SourceSeries

__all__ = [
    "DEFAULT_TOLERANCE_MM",
    "reorient",
    "FrameGeometry",
    "grid_from_frames",
    "place_frames",
    "place",
    "patient_orientation",
    "match_slices",
    "Embedding",
    "embed",
    "grid_difference",
    "Placement",
    "place_on_source",
]

#: Default tolerance for matching planes and positions, in mm.
DEFAULT_TOLERANCE_MM = 0.01

#: Most slices a grid built from frame positions may have (a CT has a few thousand); more means
#: damaged positions or spacing, and would allocate and write a volume of that many slices.
MAX_GRID_SLICES = 100_000


def _fmt(v: np.ndarray, nd: int = 3) -> str:
    return "(" + ", ".join(f"{round(float(x), nd) + 0.0:.{nd}f}" for x in np.asarray(v, dtype=float)) + ")"


def reorient(
    array: np.ndarray,
    geometry: Geometry,
    row_direction: Sequence[float],
    column_direction: Sequence[float],
    *,
    source: str = "label image",
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
    if a_i == a_j or abs(abs(dots_row[a_i]) - 1) > 1e-4 or abs(abs(dots_col[a_j]) - 1) > 1e-4:
        ang_r = float(np.degrees(np.arccos(min(1.0, abs(dots_row[a_i])))))
        ang_c = float(np.degrees(np.arccos(min(1.0, abs(dots_col[a_j])))))
        raise GeometryError(
            f"{source}: its axes are not parallel to the source images' rows and columns "
            f"(off by {ang_r:.4f} and {ang_c:.4f} degrees; label directions {np.round(d.T, 5).tolist()}, "
            f"source row {np.round(row, 5).tolist()}, column {np.round(col, 5).tolist()}); "
            "resample the labels onto the source series grid first"
        )
    a_k = 3 - a_i - a_j
    k_dot = float(d[:, a_k] @ normal)
    if abs(k_dot) < 1e-3:
        raise GeometryError(f"{source}: its slice axis lies in the image plane; the grid is degenerate")
    axes = (a_i, a_j, a_k)
    signs = tuple(1.0 if x > 0 else -1.0 for x in (dots_row[a_i], dots_col[a_j], k_dot))
    if axes == (0, 1, 2) and signs == (1.0, 1.0, 1.0):
        return array, geometry
    # array axes [k, j, i] = geometry axes [2, 1, 0]; flip the new axes (2 = i, 1 = j, 0 = k) that run backwards
    arr = np.transpose(array, (2 - a_k, 2 - a_j, 2 - a_i))
    arr = np.ascontiguousarray(np.flip(arr, axis=tuple(2 - n for n, s in enumerate(signs) if s < 0)))
    old_shape_ijk = geometry.shape[::-1]
    corner = np.array([old_shape_ijk[ax] - 1 if s < 0 else 0 for ax, s in sorted(zip(axes, signs))])
    origin = geometry.index_to_lps(corner)
    direction = np.stack([s * d[:, ax] for ax, s in zip(axes, signs)], axis=1)
    spacing = np.array([geometry.spacing[ax] for ax in axes])
    shape = (old_shape_ijk[a_k], old_shape_ijk[a_j], old_shape_ijk[a_i])
    return arr, Geometry(origin, direction, spacing, shape)


def check_orientation(orientation: Sequence[float] | np.ndarray, source: str = "SEG") -> np.ndarray:
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


def _corners(
    positions: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    spacing_ij: Sequence[float] | np.ndarray,
    rows: int,
    columns: int,
) -> np.ndarray:
    """(N, 4, 3) corner pixel centres of frames of ``rows`` x ``columns`` at ``positions`` (N, 3).

    ``spacing_ij`` = (column spacing di, row spacing dj).
    """
    ij = np.array([[0, 0], [0, rows - 1], [columns - 1, 0], [columns - 1, rows - 1]], dtype=float)
    offsets = (ij * np.asarray(spacing_ij, dtype=float)) @ np.array([row, col], dtype=float)  # (4, 3)
    return np.asarray(positions, dtype=float).reshape(-1, 1, 3) + offsets


@dataclass(frozen=True, eq=False)
class FrameGeometry:
    """Where the frames of a multi-frame image lie: all a grid needs to place them."""

    positions: np.ndarray  # (F, 3) ImagePositionPatient of each frame
    orientation: np.ndarray  # (6,) ImageOrientationPatient, one for every frame
    pixel_spacing: tuple[float, float]  # PixelSpacing: (row spacing, column spacing)
    rows: int
    columns: int
    slice_spacing: float | None = None  # SpacingBetweenSlices or SliceThickness, when given

    @property
    def spacing_ij(self) -> tuple[float, float]:
        """(column spacing di, row spacing dj): PixelSpacing in grid axis order."""
        return float(self.pixel_spacing[1]), float(self.pixel_spacing[0])


def grid_from_frames(
    frames: FrameGeometry, *, tol_mm: float = DEFAULT_TOLERANCE_MM, source: str = "SEG"
) -> tuple[Geometry, np.ndarray]:
    """The smallest regular grid holding ``frames``, and each frame's slice index.

    Frames are ordered along the normal (row x column), never by frame number.
    The slice step is ``frames.slice_spacing`` when the frames sit on multiples
    of it, else the smallest gap between distinct positions; gaps (skipped empty
    slices) become empty slices of the grid.

    Raises
    ------
    GeometryError
        When the frames are not parallel slices on regularly spaced planes.
    """
    orientation = check_orientation(frames.orientation, source)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    positions = _finite_positions(frames.positions, source)
    rows, columns, slice_spacing = frames.rows, frames.columns, frames.slice_spacing
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

    def grid(k_dir: np.ndarray, step: float, n_slices: int) -> Geometry:
        direction = np.stack([row, col, k_dir], axis=1)
        return Geometry(origin, direction, np.array([*frames.spacing_ij, step]), (n_slices, rows, columns))

    if len(distinct_arr) == 1:
        step = float(slice_spacing) if slice_spacing and slice_spacing > 0 else 1.0
        return grid(normal / np.linalg.norm(normal), step, 1), np.zeros(len(positions), dtype=np.int64)
    span = distinct_arr[-1] - origin
    if float(span @ normal) <= tol_mm:
        raise GeometryError(
            f"{source}: frames at {_fmt(origin)} and {_fmt(distinct_arr[-1])} lie in one plane at different "
            "in-plane positions; frames must be parallel slices"
        )
    k_dir = span / np.linalg.norm(span)
    along = (distinct_arr - origin) @ k_dir
    gaps = np.diff(along)
    candidates = [float(slice_spacing)] if slice_spacing and slice_spacing > tol_mm else []
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
            return grid(k_dir, step, int(k.max()) + 1), k
        last_error = (
            f"{source}: frame {bad + 1} at {_fmt(positions[bad])} is {dev[bad]:.4f} mm off a regular grid "
            f"of slice spacing {step:.4f} mm (tolerance {tol_mm} mm)"
        )
    raise GeometryError(last_error + "; frames are not on regularly spaced parallel planes")


def place_frames(
    geometry: Geometry,
    frames: FrameGeometry,
    *,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    source: str = "SEG",
    target: str = "reference series",
) -> np.ndarray:
    """Slice index in ``geometry`` of each frame.

    Raises
    ------
    GeometryError
        Naming the first frame that does not fit (outside the grid, or its corners off a slice's).
    """
    rows, columns = frames.rows, frames.columns
    if (rows, columns) != geometry.shape[1:]:
        raise GeometryError(
            f"{source}: frames are {rows} x {columns} (rows x columns) but the {target} is "
            f"{geometry.shape[1]} x {geometry.shape[2]}"
        )
    orientation = check_orientation(frames.orientation, source)
    positions = _finite_positions(frames.positions, source)
    idx = geometry.lps_to_index(positions)
    k = np.rint(idx[:, 2]).astype(np.int64)
    outside = (k < 0) | (k >= geometry.shape[0])
    slice_pos = geometry.slice_positions()[np.clip(k, 0, geometry.shape[0] - 1)]
    # largest distance (mm) between matching corners, per frame
    dev = np.linalg.norm(
        _corners(positions, orientation[:3], orientation[3:], frames.spacing_ij, rows, columns)
        - _corners(slice_pos, geometry.row_direction, geometry.column_direction, geometry.spacing[:2], rows, columns),
        axis=2,
    ).max(axis=1)
    bad = np.flatnonzero(outside | (dev > tol_mm))
    if bad.size:
        f = int(bad[0])
        if outside[f]:
            raise GeometryError(
                f"{source}: frame {f + 1} at {_fmt(positions[f])} lies outside the {target} "
                f"(slice index {idx[f, 2]:.3f} of 0..{geometry.shape[0] - 1})"
            )
        raise GeometryError(
            f"{source}: frame {f + 1} at {_fmt(positions[f])} does not match slice {int(k[f])} of the {target} "
            f"at {_fmt(slice_pos[f])}: corners differ by {dev[f]:.4f} mm (tolerance {tol_mm} mm)"
        )
    return k


def place(
    frames: FrameGeometry, reference: Geometry | None, *, tol_mm: float = DEFAULT_TOLERANCE_MM, source: str = "SEG"
) -> tuple[Geometry, np.ndarray]:
    """The grid of ``frames`` and each frame's slice index in it.

    The grid is ``reference`` when given (see :func:`place_frames`), else the frames' own
    smallest regular grid (see :func:`grid_from_frames`).

    Raises
    ------
    GeometryError
        When a frame does not fit the reference, or the frames lie on no regular grid.
    """
    if reference is not None:
        return reference, place_frames(reference, frames, tol_mm=tol_mm, source=source)
    return grid_from_frames(frames, tol_mm=tol_mm, source=source)


def patient_orientation(geometry: Geometry) -> list[str]:
    """PatientOrientation (0020,0020) letters for the row and column directions, e.g. ['L', 'P']."""

    def letters(v: np.ndarray) -> str:
        names = (("L", "R"), ("P", "A"), ("H", "F"))
        return "".join(names[a][0 if v[a] > 0 else 1] for a in np.argsort(-np.abs(v)) if abs(v[a]) > 1e-4) or "L"

    return [letters(geometry.row_direction), letters(geometry.column_direction)]


def match_slices(
    geometry: Geometry,
    source: SourceSeries,
    *,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    label_name: str = "label image",
    first_slice: int = 0,
) -> np.ndarray:
    """For each slice k of ``geometry``, the index of the source image it coincides with.

    The grid must already be reoriented onto the source (see :func:`reorient`).
    Raises :class:`SliceMatchError` naming the first slice without a source image
    within ``tol_mm`` (corner pixel centres compared) and by how much it misses;
    ``first_slice`` is added to slice numbers in messages (``geometry`` starts there in the label image).
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
    devs = np.linalg.norm(
        _corners(positions, geometry.row_direction, geometry.column_direction, geometry.spacing[:2], rows, columns)
        - _corners(source.positions[nearest], src_row, src_col, src_spacing, rows, columns),
        axis=2,
    ).max(axis=1)
    for k in np.flatnonzero(devs > tol_mm)[:1]:
        s, dev = int(nearest[k]), float(devs[k])
        what = source.files[s] if s < len(source.files) else source.sop_instance_uids[s]
        detail = []
        off = float(dist[k, s])
        if off > tol_mm:
            nearest_at = _fmt(source.positions[s])
            detail.append(f"its position {_fmt(positions[k])} is {off:.4f} mm from the nearest image's {nearest_at}")
            steps = _lattice_steps(positions[k] - source.positions[s], source)
            if np.abs(steps - np.rint(steps)).max() > 1e-3:
                detail.append(f"that is {_fmt(steps, 3)} voxels (columns, rows, slices) off the source's voxel lattice")
        sp = np.abs(np.asarray(geometry.spacing[:2]) - np.asarray(src_spacing))
        if sp.max() > 1e-6:
            detail.append(
                f"pixel spacing (column, row) {np.round(geometry.spacing[:2], 6).tolist()} vs "
                f"{np.round(src_spacing, 6).tolist()}"
            )
        cos = min(geometry.row_direction @ src_row, geometry.column_direction @ src_col)
        ang = float(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        if ang > 1e-4:
            detail.append(f"orientation differs by {ang:.4f} degrees")
        raise SliceMatchError(
            f"{label_name}: slice {k + first_slice} does not match any source image: its corners are {dev:.4f} mm from "
            f"those of the nearest image {what} (tolerance {tol_mm} mm)" + ("; " + "; ".join(detail) if detail else "")
        )
    if has_duplicates(nearest):
        raise GeometryError(f"{label_name}: several slices match the same source image; slice spacing is too small")
    return nearest.astype(np.int64)


def _lattice_steps(offset: np.ndarray, source: SourceSeries) -> np.ndarray:
    """``offset`` (mm, LPS) in source voxels along its columns, rows and slice normal."""
    row, col = source.orientation[:3], source.orientation[3:]
    normal = np.cross(row, col)
    step = 1.0
    if len(source.positions) > 1:
        step = float(np.median(np.abs(np.diff(source.positions @ normal)))) or 1.0
    di, dj = float(source.pixel_spacing[1]), float(source.pixel_spacing[0])
    return np.array([offset @ row / di, offset @ col / dj, offset @ normal / step])


# --------------------------------------------------------------------------- grids on a lattice
_AXES = ("column", "row", "slice")


@dataclass(frozen=True)
class Embedding:
    """Where a grid lies on another grid's voxel lattice.

    ``offset`` is the (i, j, k) index in the target of the grid's voxel (0, 0, 0) (it may be
    negative or beyond the target: the lattice goes on); ``deviation`` the largest distance in
    mm between a corner voxel centre of the grid and its lattice point.
    """

    offset: tuple[int, int, int]
    deviation: float

    def inside(self, grid_shape: Sequence[int], target_shape: Sequence[int]) -> bool:
        """Whether a grid of ``grid_shape`` (k, j, i) at this offset is a sub-block of ``target_shape``."""
        return all(0 <= o and o + n <= t for o, n, t in zip(self.offset[::-1], grid_shape, target_shape))


def _corner_indices(shape: Sequence[int]) -> np.ndarray:
    """The (i, j, k) indices of the 8 corner voxels of a grid of ``shape`` (k, j, i)."""
    return np.array(list(itertools.product(*[(0, n - 1) for n in tuple(shape)[::-1]])), dtype=np.float64)


def embed(
    grid: Geometry,
    target: Geometry,
    *,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    source: str = "label image",
    target_name: str = "reference grid",
) -> Embedding:
    """Is ``grid`` a whole-voxel block of ``target``'s voxel lattice, and at which index offset?

    Both grids must have the same axes and spacing, and ``grid``'s origin must lie a whole
    number of voxels from ``target``'s: every corner voxel centre of ``grid`` lies within
    ``tol_mm`` of the lattice point it maps to.  Bounds are not checked (see
    :meth:`Embedding.inside`): a grid may reach beyond the target.

    Parameters
    ----------
    grid, target
        The two grids (LPS).
    tol_mm
        Largest distance (mm) of a corner voxel centre from its lattice point.
    source, target_name
        What to call the grids in messages.

    Returns
    -------
    Embedding
        The offset and the largest corner distance.

    Raises
    ------
    GeometryError
        Saying how the lattices differ: axes (degrees, or reversed), spacing (mm), origin (voxels and mm).
    """
    t = target.lps_to_index(grid.origin)
    if not np.all(np.abs(t) < 2**53):
        raise GeometryError(f"{source}: its origin {_fmt(grid.origin)} is absurdly far from the {target_name}")
    offset = np.rint(t)
    corners = _corner_indices(grid.shape)
    dev = float(np.linalg.norm(grid.index_to_lps(corners) - target.index_to_lps(corners + offset), axis=1).max())
    if dev <= tol_mm:
        i, j, k = (int(v) for v in offset)
        return Embedding((i, j, k), dev)
    why = _lattice_mismatch(grid, target, t - offset) + [f"corners up to {dev:.4f} mm off (tolerance {tol_mm} mm)"]
    raise GeometryError(f"{source} is not on the voxel lattice of the {target_name}: " + "; ".join(why))


def _lattice_mismatch(grid: Geometry, target: Geometry, fraction: np.ndarray) -> list[str]:
    """Why ``grid`` is off ``target``'s lattice: axes, spacing, origin (``fraction``: voxels off, per axis)."""
    parts = []
    for a, axis in enumerate(_AXES):
        cos = float(np.clip(grid.direction[:, a] @ target.direction[:, a], -1.0, 1.0))
        angle = float(np.degrees(np.arccos(cos)))
        if cos < 0:
            parts.append(f"its {axis} axis runs the other way")
        elif angle > 1e-4:
            parts.append(f"its {axis} axis is {angle:.4f} degrees off")
    if np.abs(grid.spacing - target.spacing).max() > 1e-6:
        a, b = np.round(grid.spacing, 6).tolist(), np.round(target.spacing, 6).tolist()
        parts.append(f"spacing (column, row, slice) {a} vs {b} mm")
    if np.abs(fraction).max() > 1e-4:
        parts.append(
            f"origin {_fmt(fraction, 3)} voxels = {_fmt(fraction * target.spacing, 4)} mm (column, row, slice) "
            "off the lattice"
        )
    return parts


def grid_difference(geo: Geometry, ref: Geometry, dev: float, tol_mm: float) -> str:
    """What differs between two label grids, for a message ([k, j, i] shapes shown as columns x rows x slices)."""

    def size(g: Geometry) -> str:
        return f"{g.shape[2]} x {g.shape[1]} x {g.shape[0]}"

    if geo.shape != ref.shape:
        return f"size {size(geo)} vs {size(ref)}, columns x rows x slices"
    parts = []
    if np.abs(np.asarray(geo.spacing) - np.asarray(ref.spacing)).max() > 1e-6:
        parts.append(f"spacing {np.round(geo.spacing, 6).tolist()} vs {np.round(ref.spacing, 6).tolist()} mm")
    if np.linalg.norm(np.asarray(geo.origin) - np.asarray(ref.origin)) > 1e-6:
        parts.append(f"origin {np.round(geo.origin, 4).tolist()} vs {np.round(ref.origin, 4).tolist()} mm")
    if np.abs(np.asarray(geo.direction) - np.asarray(ref.direction)).max() > 1e-6:
        parts.append("different axis directions")
    parts.append(f"corners up to {dev:.4f} mm apart, tolerance {tol_mm} mm")
    return "; ".join(parts)


@dataclass(frozen=True, eq=False)
class Placement:
    """Label grids put on a source series: one common grid and where each label grid lies in it.

    ``geometry`` has the source's rows and columns and the label slices that lie within the
    series; ``source_index[k]`` is the source image of its slice k; ``offsets[m]`` is the
    (i, j, k) index in ``geometry`` of voxel (0, 0, 0) of grid m (None for a grid left out).
    """

    geometry: Geometry
    source_index: np.ndarray
    offsets: tuple[tuple[int, int, int] | None, ...]


def place_on_source(
    geometries: Sequence[Geometry],
    source: SourceSeries,
    *,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    names: Sequence[str] | None = None,
    skip: Sequence[bool] | None = None,
) -> Placement:
    """Put label grids (reoriented onto the source, see :func:`reorient`) on the source series' voxel lattice.

    A grid may be a whole-voxel block of the series' lattice of any size (3D Slicer crops
    segmentations to their extent): it is placed by geometry, at the index its origin falls
    on.  The common grid spans the source's rows and columns and, along the slices, every
    label slice that lies within the series (between its first and last image); label slices
    and in-plane margins beyond the series are left for the caller to check for labels.
    Grids after the first must lie on the first one's lattice; ``skip[m]`` leaves grid m out
    (a Slicer file of one voxel: no image data).

    Parameters
    ----------
    geometries
        The label grids, reoriented onto the source's row and column directions.
    source
        The source series.
    tol_mm
        How far (mm) a voxel centre may lie from the lattice.
    names
        What to call each grid in messages.
    skip
        Grids to leave out.

    Returns
    -------
    Placement
        The common grid, its source images and each grid's index offset in it.

    Raises
    ------
    GeometryError, SliceMatchError
        A grid off the series' lattice (axes, spacing, origin; which slice and by how much),
        grids off each other's lattice, or every grid outside the series.
    """
    names = list(names) if names is not None else [f"label image {m + 1}" for m in range(len(geometries))]
    skip = list(skip) if skip is not None else [False] * len(geometries)
    rows, columns = int(source.rows), int(source.columns)
    row, col = np.asarray(source.orientation[:3], float), np.asarray(source.orientation[3:], float)
    normal = np.cross(row, col)
    normal = normal / np.linalg.norm(normal)
    positions = np.asarray(source.positions, dtype=np.float64)
    used = [m for m in range(len(geometries)) if not skip[m]]
    if not used:  # nothing to place: the first source image, empty
        spacing = np.array([float(source.pixel_spacing[1]), float(source.pixel_spacing[0]), 1.0])
        grid = Geometry(positions[0], np.stack([row, col, normal], axis=1), spacing, (1, rows, columns))
        return Placement(grid, np.zeros(1, dtype=np.int64), (None,) * len(geometries))
    first = used[0]
    g0 = geometries[first]
    proj_src = positions @ normal
    lo, hi = float(proj_src.min()) - tol_mm, float(proj_src.max()) + tol_mm

    def within(g: Geometry) -> np.ndarray:
        proj = g.slice_positions() @ normal
        return np.flatnonzero((proj >= lo) & (proj <= hi))

    inside0 = within(g0)
    ka = int(inside0[0]) if inside0.size else 0
    p = g0.slice_positions()[ka]
    s = int(np.argmin(np.abs(proj_src - p @ normal)))
    d = p - positions[s]
    steps = np.array([d @ g0.row_direction / g0.spacing[0], d @ g0.column_direction / g0.spacing[1]])
    if not np.all(np.abs(steps) < 1e9):
        raise GeometryError(
            f"{names[first]}: its origin {_fmt(g0.origin)} lies {_fmt(steps, 0)} voxels (columns, rows) from the "
            "source series' first voxel; it was not drawn on this series"
        )
    oi, oj = int(np.rint(steps[0])), int(np.rint(steps[1]))
    lattice = Geometry(g0.index_to_lps(np.array([-oi, -oj, 0])), g0.direction, g0.spacing, (1, rows, columns))
    offsets: list[tuple[int, int, int] | None] = []
    k_ranges = []
    for m, g in enumerate(geometries):
        if skip[m]:
            offsets.append(None)
            continue
        if m == first or g.max_deviation(g0) <= tol_mm:
            offset = (oi, oj, 0)
        else:
            try:
                offset = embed(g, lattice, tol_mm=tol_mm, source=names[m], target_name=names[first]).offset
            except GeometryError as exc:
                difference = grid_difference(g, g0, max(g.max_deviation(g0), 0.0), tol_mm)
                raise GeometryError(
                    f"{names[m]}: its grid differs from that of {names[first]} ({difference}) and is not on its "
                    f"voxel lattice ({str(exc).split(': ', 2)[-1]}); all label files of one SEG must share one grid, "
                    f"or be whole-voxel blocks of it - resample {_base(names[m])} onto it"
                ) from None
        inside = within(g)
        if inside.size:
            k_ranges.append((offset[2] + int(inside[0]), offset[2] + int(inside[-1])))
        offsets.append(offset)
    if not k_ranges:
        proj = g0.slice_positions() @ normal - float(proj_src.min())
        raise GeometryError(
            f"{names[first]}: lies entirely outside the source series: its slices are {proj.min():.4f} to "
            f"{proj.max():.4f} mm along the slice normal from the series' first image, the series spans 0 to "
            f"{float(np.ptp(proj_src)):.4f} mm; it was not drawn on this series"
        )
    k0, k1 = min(r[0] for r in k_ranges), max(r[1] for r in k_ranges)
    grid = Geometry(lattice.index_to_lps(np.array([0, 0, k0])), g0.direction, g0.spacing, (k1 - k0 + 1, rows, columns))
    source_index = match_slices(grid, source, tol_mm=tol_mm, label_name=names[first], first_slice=k0)
    shifted = tuple(None if o is None else (o[0], o[1], o[2] - k0) for o in offsets)
    return Placement(grid, source_index, shifted)


def _base(name: str) -> str:
    """The file name part of ``name`` (a path, or a path and " layer N")."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]
