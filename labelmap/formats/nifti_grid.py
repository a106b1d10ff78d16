"""The NIfTI header <-> :class:`~labelmap.model.Geometry` rules, in one place for the file reader and
writer (:mod:`labelmap.formats.nifti`), the header-only grid (:mod:`labelmap.formats.header_grid`)
and nibabel images in memory (:mod:`labelmap.formats.nifti_memory`), so none of them can diverge.

Affine rule on read (the README quotes this):

1. If ``sform_code > 0`` and the sform's 3x3 part has orthogonal columns
   (``|cos| <= 1e-4`` between normalised columns), the sform is used.
2. Otherwise, if ``qform_code > 0``, the qform is used.  This includes the case
   of a sheared / non-orthogonal sform next to a valid qform - ITK's
   NiftiImageIO falls back to the qform the same way.
3. A sheared sform with ``qform_code == 0`` is refused (:class:`ImageFormatError`).
4. If both codes are 0, the grid is "pixdim only", as ITK reads it: spacing
   ``|pixdim[1:4]|``, origin 0 and identity direction *in LPS* (which is
   ``diag(-dx, -dy, dz)`` as a RAS affine).  Note nibabel's own fallback differs
   (it flips only x and centres the volume); we follow ITK because ITK/Slicer/
   dcmqi is the ecosystem DICOM SEG users compare against.

A zero in ``pixdim[1:4]`` is harmless next to a valid sform (the sform holds the
voxel size; rule 1) and is refused when the qform or the pixdim-only grid would be
used (their voxel size is pixdim), as is a non-finite one.  nibabel's header-fix
messages, which its logger would print on stderr, are collected while a header is
checked and judged by these rules instead.

NIfTI affines are RAS; they are converted to LPS by negating rows 0 and 1
(x and y) of the 4x4 affine.  Spacing is the norm of each 3x3 column, direction
the normalised column.  Left-handed grids (det(direction) = -1) are kept as
they are, never "fixed".

One difference from ITK: when both forms are set but disagree, ITK prefers the
qform unless ``sform_code`` is 1 (scanner) or the qform code is 0; we always
prefer a valid sform, as nibabel, FSL and most viewers do.

Dimensions: 2-D images become one slice (shape ``(1, j, i)``, slice direction
``row x column``); trailing size-1 dimensions beyond 3 are dropped; a real
4-D / 5-D image is refused.

Writer: NIfTI-1, sform and qform (both code 1, scanner) from the LPS geometry
converted to RAS, ``xyzt_units`` mm, dtype preserved, ``scl_slope``/``scl_inter`` = 1/0,
no free-text fields.  A grid beyond NIfTI-1's limits is refused: more than 32767
voxels on an axis (``dim`` is int16), or an affine whose 32-bit float storage overflows,
rounds a spacing to 0 or moves a corner by more than 0.01 mm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from labelmap.errors import ImageFormatError
from labelmap.formats.base import checked_array, read_error
from labelmap.model import Geometry

__all__ = [
    "ORTHOGONALITY_TOLERANCE",
    "NIFTI1_MAX_DIM",
    "select_affine",
    "nibabel_messages",
    "nifti_geometry",
    "geometry_from_ras",
    "ras_affine",
    "scaled_values",
    "check_nifti1_limits",
    "nifti1_image",
]

#: Tolerance on |cos| between normalised sform columns before the sform counts as sheared.
ORTHOGONALITY_TOLERANCE = 1e-4

#: NIfTI-1 stores each dimension as a signed 16-bit integer.
NIFTI1_MAX_DIM = 32767

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: The error for a NIfTI file (or image) that cannot be used, and why: ``fail(path, reason)``.
Fail = Callable[[Any, str], ImageFormatError]
file_fail: Fail = partial(read_error, "NIfTI file")

#: what nibabel logs when it sets a zero pixdim[1..3] to 1 (on load, or on a header's check_fix)
_ZERO_PIXDIM = "pixdim[1,2,3] should be non-zero"


def _is_orthogonal(m3: np.ndarray) -> bool:
    norms = np.linalg.norm(m3, axis=0)
    if np.any(norms <= 0) or not np.all(np.isfinite(m3)):
        return False
    u = m3 / norms[np.newaxis, :]
    return float(np.abs(u.T @ u - np.eye(3)).max()) <= ORTHOGONALITY_TOLERANCE


def select_affine(header: Any, path: Any = "<image>", fail: Fail = file_fail) -> tuple[np.ndarray, str]:
    """The RAS 4x4 affine our rule picks for ``header``, and which one it was ("sform", "qform", "pixdim").

    Raises
    ------
    ImageFormatError
        A sheared sform without a qform, or a degenerate qform (``fail(path, reason)``).
    """
    sform_code = int(header["sform_code"])
    qform_code = int(header["qform_code"])
    if sform_code > 0:
        sform = np.asarray(header.get_sform(), dtype=np.float64)
        if _is_orthogonal(sform[:3, :3]):
            return sform, "sform"
        if qform_code <= 0:
            raise fail(
                path,
                f"the sform (code {sform_code}) is sheared or degenerate (non-orthogonal axes) and there is no "
                "qform to fall back on; resample the image to an orthogonal grid first",
            )
    if qform_code > 0:
        qform = np.asarray(header.get_qform(), dtype=np.float64)
        if not _is_orthogonal(qform[:3, :3]):
            raise fail(path, "the qform is degenerate (a zero pixdim?)")
        return qform, "qform"
    pixdim = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    spacing = np.where(np.isfinite(pixdim) & (pixdim != 0), np.abs(pixdim), 1.0)
    # ITK: identity direction and zero origin in LPS  ->  diag(-dx, -dy, dz) in RAS.
    return np.diag([-spacing[0], -spacing[1], spacing[2], 1.0]), "pixdim"


_FILTER_LOCK = threading.Lock()
_NIBABEL_FILTER: Any = None  # the one filter on nibabel's logger (built on first use: logging costs 5 ms to import)


def _nibabel_filter() -> Any:
    """The filter that keeps nibabel's header-fix messages ("pixdim[1,2,3] should be non-zero; setting 0 dims
    to 1"), which its logger prints to stderr, for the thread reading a header; other threads' pass unchanged."""
    global _NIBABEL_FILTER
    with _FILTER_LOCK:
        if _NIBABEL_FILTER is not None:
            return _NIBABEL_FILTER
        import logging

        class _NibabelMessages(logging.Filter):
            def __init__(self) -> None:
                super().__init__()
                self.local = threading.local()

            def filter(self, record: logging.LogRecord) -> bool:
                caught = getattr(self.local, "caught", None)
                if caught is None:
                    return True
                caught.append(record.getMessage())
                return False

        _NIBABEL_FILTER = _NibabelMessages()
        return _NIBABEL_FILTER


@contextmanager
def nibabel_messages() -> Iterator[list[str]]:
    """Collect (instead of printing) what nibabel logs while this thread reads or checks a header."""
    import logging

    logger = logging.getLogger("nibabel.global")
    kept = _nibabel_filter()
    if kept not in logger.filters:
        logger.addFilter(kept)
    caught: list[str] = []
    kept.local.caught = caught
    try:
        yield caught
    finally:
        kept.local.caught = None


def geometry_from_ras(
    aff_ras: np.ndarray, shape_kji: tuple[int, int, int], two_d: bool, path: Any, fail: Fail = file_fail
) -> Geometry:
    """The LPS grid of a RAS voxel-to-world affine (a 2-D image's third column is rebuilt as row x column)."""
    aff = _RAS_TO_LPS @ aff_ras
    m3 = aff[:3, :3].copy()
    if two_d:
        # The third column of a 2-D image's affine is arbitrary (often zero): rebuild it.
        n = np.cross(m3[:, 0], m3[:, 1])
        nn = np.linalg.norm(n)
        if nn <= 0:
            raise fail(path, "degenerate 2-D affine")
        m3[:, 2] = n / nn
    spacing = np.linalg.norm(m3, axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(m3)):
        raise fail(path, f"degenerate affine {np.round(aff_ras, 5).tolist()}")
    direction = m3 / spacing[np.newaxis, :]
    try:
        return Geometry(origin=aff[:3, 3], direction=direction, spacing=spacing, shape=shape_kji)
    except ValueError as exc:
        raise fail(path, str(exc)) from None


def ras_affine(geometry: Geometry) -> np.ndarray:
    """The RAS 4x4 voxel (i, j, k) -> world affine of an LPS grid (the x / y flip is its own inverse)."""
    return _RAS_TO_LPS @ geometry.affine


def nifti_geometry(
    header: Any, shape: Sequence[int], path: Any, *, fixes: Sequence[str] = (), fail: Fail = file_fail
) -> tuple[tuple[int, ...], bool, Geometry]:
    """The grid a NIfTI header describes for data of ``shape`` (nibabel's [i, j, k, ...] order).

    Parameters
    ----------
    header
        A nibabel Nifti1 / Nifti2 header, as nibabel loads it (after its check_fix).
    shape
        The image's data shape.
    path
        What the errors name.
    fixes
        The messages nibabel logged while loading / checking the header (a zero pixdim it set to 1).
    fail
        Makes the error (``fail(path, reason)``).

    Returns
    -------
    (tuple, bool, Geometry)
        The data shape with trailing size-1 axes beyond 3 dropped ([i, j, k] or [i, j]), whether the image
        is 2-D (one slice), and its grid in LPS, shape ``(k, j, i)``.

    Raises
    ------
    ImageFormatError
        Not a 2-D / 3-D scalar image, a sheared sform without qform, or a zero / non-finite pixdim that
        the qform or pixdim-only grid would use.
    """
    dims = tuple(int(s) for s in shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims = dims[:-1]
    if len(dims) > 3:
        raise fail(
            path, f"{len(dims)}-D image (dimensions {list(shape)}); only 2-D and 3-D scalar images are supported"
        )
    if len(dims) < 2:
        raise fail(path, f"{len(dims)}-D image; only 2-D and 3-D images are supported")
    two_d = len(dims) == 2
    aff_ras, which = select_affine(header, path, fail)
    pixdim = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    zero = any(_ZERO_PIXDIM in m for m in fixes)  # nibabel has set those to 1
    if which != "sform" and (zero or not np.all(np.isfinite(pixdim))):
        # the qform and the pixdim-only grid take their voxel size from pixdim
        role = "the qform uses" if which == "qform" else "without sform or qform"
        raise fail(
            path,
            f"pixdim[1,2,3] (the voxel size {role}) has a {'zero' if zero else 'non-finite'} entry and there is "
            "no valid sform; write the image with its real voxel size or a valid sform",
        )
    xyz = dims + (1,) if two_d else dims
    return dims, two_d, geometry_from_ras(aff_ras, (xyz[2], xyz[1], xyz[0]), two_d, path, fail)


def scaled_values(raw: np.ndarray, slope: float, inter: float) -> np.ndarray:
    """Stored values with a real slope / intercept applied (float64); unchanged when the pair is
    (1, 0) or the slope is 0 / NaN / infinite (labels are never silently scaled)."""
    if not np.isfinite(inter):
        inter = 0.0
    if np.isfinite(slope) and slope != 0 and not (slope == 1 and inter == 0):
        return raw.astype(np.float64) * slope + inter
    return raw


def check_nifti1_limits(
    what: str, shape_xyz: tuple[int, ...], aff_ras: np.ndarray, instead: str = "write NRRD instead (.nrrd)"
) -> None:
    """Refuse a grid NIfTI-1 cannot hold (nibabel would write a header other readers misread).

    Each axis must have at most 32767 voxels (``dim`` is int16; nibabel falls back to a
    FreeSurfer-only encoding), and the affine, stored as 32-bit floats in ``pixdim``, ``srow_*``
    and ``qoffset_*``, must survive that rounding: no overflow to infinity, no spacing rounded
    to 0, and no voxel corner moved by more than the default slice-matching tolerance.

    Parameters
    ----------
    what
        What the error says cannot be written (a quoted file name, or "the label volume").
    shape_xyz, aff_ras
        The data shape [i, j, k] and the RAS affine.
    instead
        What the error suggests.

    Raises
    ------
    ImageFormatError
        The grid is beyond NIfTI-1's limits; the message names the axis or value and ``instead``.
    """
    from labelmap.geometry import DEFAULT_TOLERANCE_MM

    def refuse(reason: str) -> ImageFormatError:
        return ImageFormatError(f"cannot write {what} as NIfTI-1: {reason}; {instead}")

    for axis, size in zip("ijk", shape_xyz):
        if size > NIFTI1_MAX_DIM:
            raise refuse(
                f"axis {axis} has {size} voxels, more than the {NIFTI1_MAX_DIM} a NIfTI-1 dimension (int16) can hold"
            )
    if not np.all(np.isfinite(aff_ras)):
        raise refuse(f"the grid's affine is not finite ({np.round(aff_ras, 5).tolist()})")
    with np.errstate(over="ignore"):
        stored = aff_ras.astype(np.float32).astype(np.float64)
    spacing = np.linalg.norm(stored[:3, :3], axis=0)
    if not np.all(np.isfinite(stored)) or np.any(spacing == 0):
        origin = (_RAS_TO_LPS @ aff_ras)[:3, 3].tolist()
        raise refuse(
            f"origin {origin} or spacing {np.linalg.norm(aff_ras[:3, :3], axis=0).tolist()} mm overflows or "
            "rounds to 0 in its 32-bit floats"
        )
    corners = np.array(np.meshgrid(*[[0.0, max(n - 1, 0)] for n in shape_xyz[:3]], [1.0], indexing="ij"))
    corners = corners.reshape(4, -1)
    moved = float(np.abs((stored - aff_ras) @ corners)[:3].max())
    if moved > DEFAULT_TOLERANCE_MM:
        raise refuse(
            f"rounding its grid to NIfTI's 32-bit floats would move a corner voxel by {moved:.3g} mm "
            f"(more than {DEFAULT_TOLERANCE_MM} mm)"
        )


def nifti1_image(
    array: np.ndarray, geometry: Geometry, what: str, instead: str = "write NRRD instead (.nrrd)"
) -> Any:  # nibabel.Nifti1Image
    """The NIfTI-1 image our writer saves for ``array`` [k, j, i] on ``geometry``.

    sform and qform both code 1 (scanner) from the RAS affine, units mm, slope / intercept 1 / 0, the
    array's own type (bool as uint8); its data is a transposed view of ``array`` (no copy).

    Raises
    ------
    ImageFormatError
        The pixel type cannot be stored, or the grid is beyond NIfTI-1's limits (``what`` / ``instead``:
        see :func:`check_nifti1_limits`).
    """
    import nibabel as nib

    array = checked_array(array, geometry, "a NIfTI file")
    dtype = array.dtype.newbyteorder("=")
    data_xyz = np.asarray(array, dtype=dtype).transpose(2, 1, 0)
    aff_ras = ras_affine(geometry)
    check_nifti1_limits(what, data_xyz.shape, aff_ras, instead)
    img = nib.Nifti1Image(data_xyz, aff_ras, dtype=dtype)
    img.set_qform(aff_ras, code=1)
    img.set_sform(aff_ras, code=1)
    img.header.set_xyzt_units(xyz="mm")
    img.header.set_slope_inter(1.0, 0.0)
    return img
