"""The in-memory model every reader produces and every writer consumes.

Coordinates are DICOM patient coordinates (LPS, millimetres) everywhere in the
package; RAS exists only inside the NIfTI reader and writer.  Arrays are indexed
``[k, j, i]`` = [slice, row, column], so ``array[k]`` is one DICOM frame.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelmap.descriptions import (
    DEFAULT_RGB,
    SOURCE_ATTRIBUTES,
    Code,
    Numbering,
    SegmentDescription,
    SegType,
    SeriesAttributes,
)

__all__ = [
    "Numbering",
    "SegType",
    "Code",
    "Geometry",
    "SegmentDescription",
    "LabelVolume",
    "SeriesAttributes",
    "SourceSeries",
    "SlideGeometry",
    "SlideLabels",
    "ArraySlideLabels",
    "SlideLabelImage",
    "as_slide_labels",
    "DEFAULT_RGB",
    "SOURCE_ATTRIBUTES",
]


def _as_float_array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"Geometry.{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Geometry.{name} holds a non-finite value: {arr.tolist()}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Geometry:
    """A regular voxel grid in LPS.

    ``origin``: centre of voxel (k, j, i) = (0, 0, 0) in mm.
    ``direction``: 3x3, columns are the unit vectors of the i (column), j (row)
    and k (slice) index axes.  ``spacing``: (di, dj, dk) in mm.
    ``shape``: (k, j, i) = (slices, rows, columns).
    """

    origin: np.ndarray
    direction: np.ndarray
    spacing: np.ndarray
    shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        for name, dims in (("origin", (3,)), ("direction", (3, 3)), ("spacing", (3,))):
            object.__setattr__(self, name, _as_float_array(getattr(self, name), dims, name))
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"Geometry.shape must be three positive sizes (k, j, i), got {self.shape}")
        object.__setattr__(self, "shape", shape)
        if np.any(self.spacing <= 0):
            raise ValueError(f"Geometry.spacing must be positive, got {self.spacing.tolist()}")

    # -- derived quantities -------------------------------------------------
    @property
    def row_direction(self) -> np.ndarray:
        """Direction of increasing column index (first half of ImageOrientationPatient)."""
        return self.direction[:, 0]

    @property
    def column_direction(self) -> np.ndarray:
        """Direction of increasing row index (second half of ImageOrientationPatient)."""
        return self.direction[:, 1]

    @property
    def slice_direction(self) -> np.ndarray:
        return self.direction[:, 2]

    @property
    def normal(self) -> np.ndarray:
        """row x column: the DICOM slice normal (may be -slice_direction)."""
        return np.cross(self.direction[:, 0], self.direction[:, 1])

    @property
    def image_orientation(self) -> list[float]:
        """ImageOrientationPatient of every frame."""
        return [float(v) for v in np.concatenate([self.direction[:, 0], self.direction[:, 1]])]

    @property
    def pixel_spacing(self) -> list[float]:
        """DICOM PixelSpacing = [row spacing (between rows, dj), column spacing (di)]."""
        return [float(self.spacing[1]), float(self.spacing[0])]

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping (i, j, k, 1) to LPS (x, y, z, 1)."""
        aff = np.eye(4)
        aff[:3, :3] = self.direction * self.spacing[np.newaxis, :]
        aff[:3, 3] = self.origin
        return aff

    def slice_positions(self) -> np.ndarray:
        """ImagePositionPatient of every slice k, shape (K, 3)."""
        k = np.arange(self.shape[0], dtype=np.float64)
        return self.origin[np.newaxis, :] + k[:, np.newaxis] * (self.spacing[2] * self.slice_direction)[np.newaxis, :]

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map (..., 3) continuous indices (i, j, k) to LPS points."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ (self.direction * self.spacing[np.newaxis, :]).T + self.origin

    def lps_to_index(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 3) LPS points to continuous indices (i, j, k)."""
        points = np.asarray(points, dtype=np.float64)
        inv = np.linalg.inv(self.direction * self.spacing[np.newaxis, :])
        return (points - self.origin) @ inv.T

    def crop_slices(self, k0: int, k1: int) -> Geometry:
        """The sub-grid of slices k0 .. k1-1."""
        origin = self.origin + k0 * self.spacing[2] * self.slice_direction
        return Geometry(origin, self.direction, self.spacing, (k1 - k0, self.shape[1], self.shape[2]))

    def max_deviation(self, other: Geometry) -> float:
        """Largest distance in mm between matching voxel corners of two grids with equal shape."""
        if self.shape != other.shape:
            return float("inf")
        corners = np.array(list(itertools.product(*[(0, n - 1) for n in self.shape[::-1]])), dtype=np.float64)
        return float(np.max(np.linalg.norm(self.index_to_lps(corners) - other.index_to_lps(corners), axis=1)))

    def __repr__(self) -> str:  # compact, for error messages and logs
        return (
            f"Geometry(shape={self.shape}, origin={np.round(self.origin, 4).tolist()}, "
            f"spacing={np.round(self.spacing, 5).tolist()}, direction={np.round(self.direction, 5).tolist()})"
        )


@dataclass(frozen=True, eq=False)
class LabelVolume:
    """A label image on a geometry, with the descriptions of the labels it holds."""

    array: np.ndarray
    geometry: Geometry
    segments: tuple[SegmentDescription, ...] = ()

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"LabelVolume.array must be 3-D [k, j, i], got shape {self.array.shape}")
        if tuple(self.array.shape) != self.geometry.shape:
            raise ValueError(
                f"LabelVolume.array shape {self.array.shape} differs from geometry shape {self.geometry.shape}"
            )
        object.__setattr__(self, "segments", tuple(self.segments))

    # In-memory interop: thin spellings of labelmap.from_nifti / to_nifti / from_sitk / to_sitk, which share
    # the file readers' and writers' geometry code (labelmap.formats.nifti_memory, labelmap.formats.sitk).
    @classmethod
    def from_nifti(cls, img: Any, segments: Sequence[SegmentDescription] = ()) -> LabelVolume:
        """The label volume of a nibabel NIfTI image, exactly as reading its file would give it."""
        from labelmap.formats.nifti_memory import from_nifti

        return from_nifti(img, segments)

    def to_nifti(self) -> Any:
        """This volume as the nibabel Nifti1Image our NIfTI writer would save."""
        from labelmap.formats.nifti_memory import to_nifti

        return to_nifti(self)

    @classmethod
    def from_sitk(cls, img: Any, segments: Sequence[SegmentDescription] = ()) -> LabelVolume:
        """The label volume of a SimpleITK image (optional package; the error names the pip line)."""
        from labelmap.formats.sitk import from_sitk

        return from_sitk(img, segments)

    def to_sitk(self) -> Any:
        """This volume as a SimpleITK image (LPS origin, spacing and direction of its geometry)."""
        from labelmap.formats.sitk import to_sitk

        return to_sitk(self)


@dataclass(frozen=True, eq=False)
class SourceSeries:
    """Headers of the referenced image series, sorted along the slice normal (never pixels).

    ``positions`` (N, 3) are ImagePositionPatient in sorted order; ``sop_instance_uids``
    and ``sop_class_uids`` follow the same order.  ``dataset`` is one header holding
    the patient / study / frame-of-reference attributes to copy into a SEG.
    """

    series_instance_uid: str
    sop_class_uids: tuple[str, ...]
    sop_instance_uids: tuple[str, ...]
    positions: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]
    rows: int
    columns: int
    dataset: Any = field(repr=False)
    files: tuple[str, ...] = ()
    frame_numbers: tuple[int | None, ...] = ()
    #: warnings about the series (ignored files, no Frame of Reference ...), reported with the conversion's
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.sop_instance_uids)


# ---------------------------------------------------------------------------------------------
# Slide microscopy: a 2-D total pixel matrix cut into tiles (VL Whole Slide Microscopy, tiled SEG)


@dataclass(frozen=True)
class SlideGeometry:
    """A total pixel matrix on the slide: its size, tile size, pixel spacing, origin and orientation.

    Units are DICOM's for slides: X and Y in millimetres, Z in micrometres (PS3.3 C.8.12.14).
    ``pixel_spacing`` is (between rows, between columns), as Pixel Spacing; ``origin`` is the
    slide position (X mm, Y mm, Z um) of pixel (1, 1), as Total Pixel Matrix Origin Sequence;
    ``orientation`` is Image Orientation (Slide): the direction of increasing column index,
    then of increasing row index.  Tiles are ``tile_rows`` x ``tile_columns``; edge tiles are
    padded, so the tile grid may overhang the matrix.
    """

    rows: int
    columns: int
    tile_rows: int
    tile_columns: int
    pixel_spacing: tuple[float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, float, float, float, float, float] = (0.0, -1.0, 0.0, -1.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        for name in ("rows", "columns", "tile_rows", "tile_columns"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"SlideGeometry.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        spacing = tuple(float(v) for v in self.pixel_spacing)
        if len(spacing) != 2 or not all(np.isfinite(v) and v > 0 for v in spacing):
            raise ValueError(f"SlideGeometry.pixel_spacing must be two positive numbers, got {self.pixel_spacing!r}")
        origin = tuple(float(v) for v in self.origin)
        orientation = tuple(float(v) for v in self.orientation)
        if len(origin) != 3 or not all(np.isfinite(origin)):
            raise ValueError(f"SlideGeometry.origin must be three finite numbers, got {self.origin!r}")
        if len(orientation) != 6 or not all(np.isfinite(orientation)):
            raise ValueError(f"SlideGeometry.orientation must be six finite numbers, got {self.orientation!r}")
        object.__setattr__(self, "pixel_spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "orientation", orientation)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the total pixel matrix."""
        return (self.rows, self.columns)

    @property
    def tiles_down(self) -> int:
        """Tile rows of the grid (the last one padded when ``rows`` is not a multiple)."""
        return -(-self.rows // self.tile_rows)

    @property
    def tiles_across(self) -> int:
        """Tile columns of the grid."""
        return -(-self.columns // self.tile_columns)

    @property
    def n_tiles(self) -> int:
        """Tiles in the grid: frames per segment of a TILED_FULL SEG."""
        return self.tiles_down * self.tiles_across

    def position(self, row: int, column: int) -> tuple[float, float, float]:
        """Slide position (X mm, Y mm, Z um) of the 1-based matrix pixel (``row``, ``column``)."""
        o = self.orientation
        dc = (column - 1) * self.pixel_spacing[1]
        dr = (row - 1) * self.pixel_spacing[0]
        return (
            self.origin[0] + dc * o[0] + dr * o[3],
            self.origin[1] + dc * o[1] + dr * o[4],
            self.origin[2] + 1000.0 * (dc * o[2] + dr * o[5]),
        )

    def tile_position(self, tile_row: int, tile_column: int) -> tuple[int, int]:
        """1-based (Row, Column) Position In Total Image Pixel Matrix of a 0-based tile's top-left pixel."""
        return (tile_row * self.tile_rows + 1, tile_column * self.tile_columns + 1)

    def with_tiles(self, tile_rows: int, tile_columns: int) -> SlideGeometry:
        """The same matrix cut into tiles of another size."""
        return replace(self, tile_rows=tile_rows, tile_columns=tile_columns)

    def downsampled(self, rows: int, columns: int) -> SlideGeometry:
        """The same slide area as a matrix of ``rows`` x ``columns`` (a pyramid level made from this one).

        Spacing grows by the size ratio per axis; origin, orientation and tile size are kept.
        """
        return replace(
            self,
            rows=rows,
            columns=columns,
            pixel_spacing=(self.pixel_spacing[0] * self.rows / rows, self.pixel_spacing[1] * self.columns / columns),
        )

    def max_deviation(self, other: SlideGeometry) -> float:
        """Largest distance in mm between the two grids' corner pixels (inf when sizes differ)."""
        if self.shape != other.shape:
            return float("inf")
        worst = 0.0
        for r, c in ((1, 1), (1, self.columns), (self.rows, 1), (self.rows, self.columns)):
            a, b = np.array(self.position(r, c)), np.array(other.position(r, c))
            a[2] /= 1000.0
            b[2] /= 1000.0
            worst = max(worst, float(np.abs(a - b).max()))
        return worst


@runtime_checkable
class SlideLabels(Protocol):
    """A 2-D label image read lazily by rows: what the slide writer consumes, never whole in memory.

    ``read_rows(start, stop)`` returns rows ``start:stop`` (0-based, ``stop`` exclusive) as a
    C-contiguous (stop - start, columns) array of ``dtype``; numpy arrays, memory maps and
    any array-like that slices by rows are wrapped by :func:`as_slide_labels`.
    """

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def read_rows(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class ArraySlideLabels:
    """:class:`SlideLabels` over an array-like (numpy array, ``np.memmap``, zarr, dask) sliced by rows."""

    array: Any
    name: str = "<array>"

    def __post_init__(self) -> None:
        if len(getattr(self.array, "shape", ())) != 2:
            raise ValueError(f"a slide label image must be 2-D (rows, columns), got shape {self.array.shape!r}")

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.array.shape[0]), int(self.array.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.array.dtype)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(self.array[start:stop]))


def as_slide_labels(obj: Any, name: str = "<array>") -> SlideLabels:
    """``obj`` as :class:`SlideLabels`: kept when it already is one, else a 2-D array-like wrapped."""
    if isinstance(obj, SlideLabels) and not hasattr(obj, "__array__"):
        return obj
    return ArraySlideLabels(obj, name)


@dataclass(frozen=True, eq=False)
class SlideLabelImage:
    """Slide labels with the descriptions of the segments they hold (the slide sibling of LabelVolume).

    ``layers`` holds one :class:`SlideLabels` for a label map (values = segment numbers), or one
    per segment for BINARY (non-zero = inside) / FRACTIONAL (0..1 floats or 0..255 integers),
    in the order of ``segments``.  ``geometry`` is known when the input carries it (2-D NRRD
    spacing, OME-TIFF physical size); the source level's geometry is what the SEG uses.
    ``read_from`` is the absolute path of the slide SEG it was read from (None otherwise), what
    ``labelmap.to_highdicom`` hands to highdicom.
    """

    layers: tuple[SlideLabels, ...]
    segments: tuple[SegmentDescription, ...] = ()
    geometry: SlideGeometry | None = None
    read_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "segments", tuple(self.segments))
        if not self.layers:
            raise ValueError("SlideLabelImage needs at least one layer")
        shapes = {tuple(layer.shape) for layer in self.layers}
        if len(shapes) != 1:
            raise ValueError(f"the layers of a slide label image differ in size: {sorted(shapes)}")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.layers[0].shape)  # type: ignore[return-value]

    def to_highdicom(self, *, lazy_frame_retrieval: bool = False) -> Any:
        """The slide SEG this was read from (:attr:`read_from`) as a ``highdicom.seg.Segmentation``."""
        from labelmap.seg.highdicom_interop import to_highdicom

        return to_highdicom(self, lazy_frame_retrieval=lazy_frame_retrieval)
