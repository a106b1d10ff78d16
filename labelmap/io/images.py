"""Read and write label images, choosing NRRD or NIfTI by the file extension.

``.nrrd`` / ``.nhdr`` -> NRRD (:mod:`labelmap.io.nrrd`);
``.nii`` / ``.nii.gz`` -> NIfTI (:mod:`labelmap.io.nifti`).  Extensions are
matched case-insensitively.  Arrays are indexed ``[k, j, i]``; geometry is LPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ImageFormatError
from ..model import Geometry
from .nifti import read_nifti, write_nifti
from .nrrd import read_nrrd, write_nrrd

__all__ = ["image_format", "read_image", "write_image", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".nrrd", ".nhdr", ".nii", ".nii.gz")


def image_format(path: str | os.PathLike[str]) -> str:
    """``"nrrd"`` for .nrrd/.nhdr, ``"nifti"`` for .nii/.nii.gz; otherwise :class:`ImageFormatError`."""
    name = Path(path).name.lower()
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    raise ImageFormatError(
        f"cannot tell the image format of {str(path)!r} from its extension; "
        f"supported extensions: {', '.join(SUPPORTED_EXTENSIONS)}"
    )


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
    """Read a label image: (array [k, j, i] in the file's dtype, Geometry in LPS)."""
    if image_format(path) == "nrrd":
        return read_nrrd(path)
    return read_nifti(path)


def write_image(
    path: str | os.PathLike[str], array: np.ndarray, geometry: Geometry, *, compress: bool = True
) -> None:
    """Write ``array`` [k, j, i] on ``geometry``; format by extension; atomic.

    ``compress`` selects gzip for NRRD; for NIfTI the extension decides (.nii.gz).
    """
    if image_format(path) == "nrrd":
        write_nrrd(path, array, geometry, compress=compress)
    else:
        write_nifti(path, array, geometry, compress=compress)
