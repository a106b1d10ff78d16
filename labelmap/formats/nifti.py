"""NIfTI-1/2 (``.nii``, ``.nii.gz``) label images via nibabel.

Arrays are returned indexed ``[k, j, i]`` (nibabel gives ``[i, j, k]``), in
native byte order, C-contiguous and writable.

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
messages, which its logger would print on stderr, are collected while a file is
read and judged by these rules instead.

NIfTI affines are RAS; they are converted to LPS by negating rows 0 and 1
(x and y) of the 4x4 affine.  Spacing is the norm of each 3x3 column, direction
the normalised column.  Left-handed grids (det(direction) = -1) are kept as
they are, never "fixed".

One difference from ITK: when both forms are set but disagree, ITK prefers the
qform unless ``sform_code`` is 1 (scanner) or the qform code is 0; we always
prefer a valid sform, as nibabel, FSL and most viewers do.

Values: labels are never silently scaled.  If ``scl_slope`` is 0 / NaN / inf,
or the pair is (1, 0), the stored integers are returned in their stored dtype.
A real slope/intercept is applied (float64 result); the caller decides whether
non-integer values are acceptable.

Dimensions: 2-D images become one slice (shape ``(1, j, i)``, slice direction
``row x column``); trailing size-1 dimensions beyond 3 are dropped; a real
4-D / 5-D image is refused.

Writer: NIfTI-1, sform and qform (both code 1, scanner) from the LPS geometry
converted to RAS, ``xyzt_units`` mm, dtype preserved (a uint16 label map stays
uint16, NIfTI datatype 512; values are never narrowed), ``scl_slope``/``scl_inter``
= 1/0, no free-text fields (``descrip``, ``intent_name``, ``aux_file`` stay empty).
A grid beyond NIfTI-1's limits is refused before writing, never written as
something other readers misread: more than 32767 voxels on an axis (``dim`` is
int16), or an affine whose 32-bit float storage overflows, rounds a spacing to 0
or moves a corner by more than 0.01 mm.  Such grids need NRRD (we do not switch
to NIfTI-2 silently: dcmqi/ITK tools and scripts expect NIfTI-1).
Compression follows the extension (``.nii.gz`` = gzip); the ``compress``
argument is ignored.  Output is atomic.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from labelmap._util.atomic import atomic_path
from labelmap._util.resources import check_grid
from labelmap.errors import LabelmapError
from labelmap.formats.base import (
    LabelFormat,
    PathLike,
    checked_array,
    describe_read_error,
    native,
    output_errors,
    read_error,
)
from labelmap.model import Geometry

__all__ = ["FORMAT", "read_nifti", "write_nifti", "select_affine"]

#: Tolerance on |cos| between normalised sform columns before the sform counts as sheared.
ORTHOGONALITY_TOLERANCE = 1e-4

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

_fail = partial(read_error, "NIfTI file")


def _is_orthogonal(m3: np.ndarray) -> bool:
    norms = np.linalg.norm(m3, axis=0)
    if np.any(norms <= 0) or not np.all(np.isfinite(m3)):
        return False
    u = m3 / norms[np.newaxis, :]
    return float(np.abs(u.T @ u - np.eye(3)).max()) <= ORTHOGONALITY_TOLERANCE


def select_affine(header: Any, path: Any = "<image>") -> tuple[np.ndarray, str]:
    """The RAS 4x4 affine our rule picks for ``header``, and which one it was ("sform", "qform", "pixdim")."""
    sform_code = int(header["sform_code"])
    qform_code = int(header["qform_code"])
    if sform_code > 0:
        sform = np.asarray(header.get_sform(), dtype=np.float64)
        if _is_orthogonal(sform[:3, :3]):
            return sform, "sform"
        if qform_code <= 0:
            raise _fail(
                path,
                f"the sform (code {sform_code}) is sheared or degenerate (non-orthogonal axes) and there is no "
                "qform to fall back on; resample the image to an orthogonal grid first",
            )
    if qform_code > 0:
        qform = np.asarray(header.get_qform(), dtype=np.float64)
        if not _is_orthogonal(qform[:3, :3]):
            raise _fail(path, "the qform is degenerate (a zero pixdim?)")
        return qform, "qform"
    pixdim = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    spacing = np.where(np.isfinite(pixdim) & (pixdim != 0), np.abs(pixdim), 1.0)
    # ITK: identity direction and zero origin in LPS  ->  diag(-dx, -dy, dz) in RAS.
    return np.diag([-spacing[0], -spacing[1], spacing[2], 1.0]), "pixdim"


class _NibabelMessages(logging.Filter):
    """Keeps nibabel's header-fix messages ("pixdim[1,2,3] should be non-zero; setting 0 dims to 1"),
    which its logger prints to stderr, for the thread reading a file; other threads' pass unchanged."""

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


@contextmanager
def _nibabel_messages() -> Iterator[list[str]]:
    """Collect (instead of printing) what nibabel logs while this thread reads a file."""
    logger = logging.getLogger("nibabel.global")
    if _NIBABEL_FILTER not in logger.filters:
        logger.addFilter(_NIBABEL_FILTER)
    caught: list[str] = []
    _NIBABEL_FILTER.local.caught = caught
    try:
        yield caught
    finally:
        _NIBABEL_FILTER.local.caught = None


def _geometry_from_affine(aff_ras: np.ndarray, shape_kji: tuple[int, int, int], two_d: bool, path: Any) -> Geometry:
    aff = _RAS_TO_LPS @ aff_ras
    m3 = aff[:3, :3].copy()
    if two_d:
        # The third column of a 2-D image's affine is arbitrary (often zero): rebuild it.
        n = np.cross(m3[:, 0], m3[:, 1])
        nn = np.linalg.norm(n)
        if nn <= 0:
            raise _fail(path, "degenerate 2-D affine")
        m3[:, 2] = n / nn
    spacing = np.linalg.norm(m3, axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(m3)):
        raise _fail(path, f"degenerate affine {np.round(aff_ras, 5).tolist()}")
    direction = m3 / spacing[np.newaxis, :]
    try:
        return Geometry(origin=aff[:3, 3], direction=direction, spacing=spacing, shape=shape_kji)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None


def read_nifti(path: PathLike, *, narrow: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read a ``.nii`` / ``.nii.gz`` file (the affine rule: see the module docstring).

    Parameters
    ----------
    path
        The file.
    narrow
        Ignored (the stored type is kept), as :func:`labelmap.formats.nrrd.read_nrrd` takes it.

    Returns
    -------
    (numpy.ndarray, Geometry)
        The array ``[k, j, i]`` (scaled to float64 only by a real slope / intercept) and its
        geometry in LPS.

    Raises
    ------
    ImageFormatError
        The file cannot be read or holds no scalar 2-D / 3-D image on an orthogonal grid.
    """
    import nibabel as nib

    p = Path(path)
    if not p.exists():
        raise _fail(p, "file not found")
    if p.is_dir():
        raise _fail(p, "is a folder, not a file")
    with _nibabel_messages() as fixes:  # nibabel's header fixes, judged below instead of printed
        try:
            img = nib.load(str(p), mmap=False)  # never hand out a memory map of the file
        except (LabelmapError, MemoryError):
            raise
        except Exception as exc:
            size = p.stat().st_size
            if 0 < size < 348 and not p.name.lower().endswith(".gz"):
                raise _fail(
                    p, f"it is {size} bytes, shorter than a NIfTI header (348 bytes); the file is truncated"
                ) from exc
            raise _fail(p, describe_read_error(exc)) from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise _fail(p, f"nibabel read it as {type(img).__name__}, not NIfTI")
    header = img.header

    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        raise _fail(
            p, f"{len(shape)}-D image (dimensions {list(img.shape)}); only 2-D and 3-D scalar images are supported"
        )
    if len(shape) < 2:
        raise _fail(p, f"{len(shape)}-D image; only 2-D and 3-D images are supported")
    two_d = len(shape) == 2

    aff_ras, which = select_affine(header, p)
    pixdim = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    zero = any("pixdim[1,2,3] should be non-zero" in m for m in fixes)  # nibabel has set those to 1
    if which != "sform" and (zero or not np.all(np.isfinite(pixdim))):
        # the qform and the pixdim-only grid take their voxel size from pixdim
        role = "the qform uses" if which == "qform" else "without sform or qform"
        raise _fail(
            p,
            f"pixdim[1,2,3] (the voxel size {role}) has a {'zero' if zero else 'non-finite'} entry and there is "
            "no valid sform; write the image with its real voxel size or a valid sform",
        )

    n_bytes = int(np.prod(img.shape, dtype=np.float64)) * header.get_data_dtype().itemsize
    if not p.name.lower().endswith(".gz"):
        available = p.stat().st_size - int(header.get_data_offset())
        if available < n_bytes:
            raise _fail(
                p,
                f"the header's dimensions {list(img.shape)} of {header.get_data_dtype()} need {n_bytes} bytes of "
                f"data but the file holds {max(available, 0)}; the file is truncated - write or copy it again",
            )
    # refused before inflating or allocating: a small .nii.gz may claim terabytes
    check_grid(tuple(img.shape), header.get_data_dtype().itemsize, "NIfTI image", path=p)
    try:
        proxy: Any = img.dataobj  # nibabel's ArrayProxy (typed as any array-like)
        raw = np.asarray(proxy.get_unscaled())
    except MemoryError:
        raise _fail(
            p,
            f"not enough memory for the {n_bytes / 2**30:.1f} GiB its header's dimensions {list(img.shape)} "
            "describe (a damaged header?)",
        ) from None
    except Exception as exc:
        raise _fail(p, describe_read_error(exc)) from exc
    if raw.dtype.kind not in "iufb":
        raise _fail(p, f"pixel type {raw.dtype} is not supported (scalar integer or float images only)")
    raw = raw.reshape(shape if not two_d else shape + (1,))

    # nibabel moves scl_slope/scl_inter from the loaded header into the array proxy
    # (the in-memory header then says NaN), normalising 0/NaN slopes to (1, 0).
    slope = float(getattr(img.dataobj, "slope", header["scl_slope"]))
    inter = float(getattr(img.dataobj, "inter", header["scl_inter"]))
    if not np.isfinite(inter):
        inter = 0.0
    if np.isfinite(slope) and slope != 0 and not (slope == 1 and inter == 0):
        data = raw.astype(np.float64) * slope + inter
    else:
        data = raw

    arr = native(np.transpose(data, (2, 1, 0)))
    geometry = _geometry_from_affine(aff_ras, tuple(arr.shape), two_d, p)
    return arr, geometry


#: NIfTI-1 stores each dimension as a signed 16-bit integer.
NIFTI1_MAX_DIM = 32767


def _check_nifti1_limits(target: Path, shape_xyz: tuple[int, ...], aff_ras: np.ndarray) -> None:
    """Refuse a grid NIfTI-1 cannot hold (nibabel would write a header other readers misread).

    Each axis must have at most 32767 voxels (``dim`` is int16; nibabel falls back to a
    FreeSurfer-only encoding), and the affine, stored as 32-bit floats in ``pixdim``, ``srow_*``
    and ``qoffset_*``, must survive that rounding: no overflow to infinity, no spacing rounded
    to 0, and no voxel corner moved by more than the default slice-matching tolerance.

    Raises
    ------
    ImageFormatError
        The grid is beyond NIfTI-1's limits; the message names the axis or value and suggests NRRD.
    """
    from labelmap.errors import ImageFormatError
    from labelmap.geometry import DEFAULT_TOLERANCE_MM

    def refuse(reason: str) -> ImageFormatError:
        return ImageFormatError(f"cannot write {str(target)!r} as NIfTI-1: {reason}; write NRRD instead (.nrrd)")

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


def write_nifti(path: PathLike, array: np.ndarray, geometry: Geometry, *, compress: bool = True) -> None:
    """Write ``array`` [k, j, i] on ``geometry`` as NIfTI-1, atomically.

    Parameters
    ----------
    path
        The file: ``.nii.gz`` is gzipped, ``.nii`` not.
    array, geometry
        The image (bool is stored as uint8) and its grid in LPS.
    compress
        Ignored: the extension decides.

    Raises
    ------
    ImageFormatError
        The pixel type cannot be stored.
    OutputError
        The file cannot be written.
    """
    import nibabel as nib

    target = Path(path)
    array = checked_array(array, geometry, "a NIfTI file")
    dtype = array.dtype.newbyteorder("=")
    data_xyz = np.asarray(array, dtype=dtype).transpose(2, 1, 0)
    aff_ras = _RAS_TO_LPS @ geometry.affine  # the flip is its own inverse
    _check_nifti1_limits(target, data_xyz.shape, aff_ras)

    img = nib.Nifti1Image(data_xyz, aff_ras, dtype=dtype)
    img.set_qform(aff_ras, code=1)
    img.set_sform(aff_ras, code=1)
    img.header.set_xyzt_units(xyz="mm")
    img.header.set_slope_inter(1.0, 0.0)
    with output_errors(target), atomic_path(target) as tmp:
        nib.save(img, str(tmp))


class NiftiFormat(LabelFormat):
    """NIfTI-1/2 label images, ``.nii`` or gzipped ``.nii.gz``."""

    name = "nifti"
    aliases = ("nii", "nii.gz")
    kind = "NIfTI"
    title = "NIfTI file"
    suffixes = (".nii", ".nii.gz")
    output_suffix = ".nii.gz"

    def sniff(self, head: bytes) -> bool:
        """NIfTI-1 magic at byte 344 or NIfTI-2 magic at byte 4 (with sizeof_hdr 348 / 540 either endian)."""
        if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
            return head[:4] in ((348).to_bytes(4, "little"), (348).to_bytes(4, "big"))
        if len(head) >= 12 and head[4:12] in (b"n+2\x00\r\n\x1a\n", b"ni2\x00\r\n\x1a\n"):
            return head[:4] in ((540).to_bytes(4, "little"), (540).to_bytes(4, "big"))
        return False

    read_image = staticmethod(read_nifti)
    write_image = staticmethod(write_nifti)


FORMAT = NiftiFormat()
