"""NIfTI-1/2 (``.nii``, ``.nii.gz``) label image files via nibabel.

Arrays are returned indexed ``[k, j, i]`` (nibabel gives ``[i, j, k]``), in
native byte order, C-contiguous and writable.  Which affine places the image
(sform, qform or pixdim only), the RAS <-> LPS conversion, the dimensions
accepted and the header the writer builds are :mod:`labelmap.formats.nifti_grid`'s
rules, shared with nibabel images in memory (:mod:`labelmap.formats.nifti_memory`).

Values: labels are never silently scaled.  If ``scl_slope`` is 0 / NaN / inf,
or the pair is (1, 0), the stored integers are returned in their stored dtype.
A real slope/intercept is applied (float64 result); the caller decides whether
non-integer values are acceptable.

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

from pathlib import Path
from typing import Any

import numpy as np

from labelmap._util.atomic import atomic_path
from labelmap._util.resources import check_grid
from labelmap.errors import LabelmapError
from labelmap.formats.base import LabelFormat, PathLike, describe_read_error, native, output_errors
from labelmap.formats.nifti_grid import (
    NIFTI1_MAX_DIM,
    file_fail,
    nibabel_messages,
    nifti1_image,
    nifti_geometry,
    scaled_values,
    select_affine,
)
from labelmap.model import Geometry

__all__ = ["FORMAT", "NIFTI1_MAX_DIM", "read_nifti", "write_nifti", "select_affine"]

_fail = file_fail


def read_nifti(path: PathLike, *, narrow: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read a ``.nii`` / ``.nii.gz`` file (the affine rule: :mod:`labelmap.formats.nifti_grid`).

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
    with nibabel_messages() as fixes:  # nibabel's header fixes, judged below instead of printed
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

    shape, two_d, geometry = nifti_geometry(header, tuple(img.shape), p, fixes=fixes)

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
    return native(np.transpose(scaled_values(raw, slope, inter), (2, 1, 0))), geometry


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
    img = nifti1_image(array, geometry, repr(str(target)))
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
