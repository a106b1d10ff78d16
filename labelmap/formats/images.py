"""Read and write label images, choosing NRRD or NIfTI by the file extension.

``.nrrd`` / ``.nhdr`` -> NRRD (:mod:`labelmap.formats.nrrd`);
``.nii`` / ``.nii.gz`` -> NIfTI (:mod:`labelmap.formats.nifti`).  Extensions are
matched case-insensitively.  Arrays are indexed ``[k, j, i]``; geometry is LPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from labelmap.errors import ImageFormatError
from labelmap.formats.nifti import read_nifti, write_nifti
from labelmap.formats.nrrd import read_nrrd, write_nrrd
from labelmap.model import Geometry

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


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """What the first bytes say the file is: "nrrd", "nifti", "nifti.gz", "gzip", "dicom", "empty" or None.

    Used only to explain a failed read (a file whose content does not match its
    extension); never to pick a reader.
    """
    import gzip
    import zlib

    try:
        with open(path, "rb") as fh:
            head = fh.read(540)
    except OSError:
        return None
    if not head:
        return "empty"
    if head.startswith(b"NRRD000"):
        return "nrrd"
    if _is_nifti_header(head):
        return "nifti"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                inner = gz.read(540)
        except (OSError, EOFError, zlib.error):
            return "gzip"
        if inner.startswith(b"NRRD000"):
            return "nrrd.gz"
        return "nifti.gz" if _is_nifti_header(inner) else "gzip"
    return None


def _is_nifti_header(head: bytes) -> bool:
    """NIfTI-1 magic at byte 344 or NIfTI-2 magic at byte 4 (with sizeof_hdr 348 / 540 either endian)."""
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return head[:4] in ((348).to_bytes(4, "little"), (348).to_bytes(4, "big"))
    if len(head) >= 12 and head[4:12] in (b"n+2\x00\r\n\x1a\n", b"ni2\x00\r\n\x1a\n"):
        return head[:4] in ((540).to_bytes(4, "little"), (540).to_bytes(4, "big"))
    return False


_RENAME_HINTS = {
    # (format by extension, format by content) -> what to say
    ("nrrd", "nifti"): "it is a NIfTI file; rename it to end in .nii",
    ("nrrd", "nifti.gz"): "it is a gzip-compressed NIfTI file; rename it to end in .nii.gz",
    ("nrrd", "nrrd.gz"): "it is a NRRD file compressed as a whole with gzip; gunzip it first",
    ("nrrd", "gzip"): "it is gzip-compressed data, not a NRRD file",
    ("nifti", "nrrd"): "it is a NRRD file; rename it to end in .nrrd",
    ("nifti", "nrrd.gz"): "it is a gzip-compressed NRRD file; gunzip it and name it .nrrd",
    ("nrrd", "dicom"): "it is a DICOM file, not a label image (NRRD or NIfTI)",
    ("nifti", "dicom"): "it is a DICOM file, not a label image (NRRD or NIfTI)",
}


def read_image(path: str | os.PathLike[str], *, narrow: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read a label image: (array [k, j, i] in the file's dtype, Geometry in LPS).

    ``narrow``: a gzip NRRD of integers all in 0..255 may come back as uint8 (read straight into it).
    """
    fmt = image_format(path)
    try:
        if fmt == "nrrd":
            return read_nrrd(path, narrow=narrow)
        return read_nifti(path)
    except ImageFormatError as exc:
        if fmt == "nrrd" and _is_layered_segnrrd(path):  # .seg.nrrd hook
            raise ImageFormatError(
                f"{exc}; it is a multi-layer 3D Slicer segmentation: give it alone to itk2seg, or read it with "
                "labelmap.formats.segnrrd.read_segnrrd"
            ) from None
        content = sniff_format(path)
        hint = _RENAME_HINTS.get((fmt, content or ""))
        if content == "empty":
            hint = "the file is empty (0 bytes)"
        if hint is None:
            raise
        kind = "NRRD" if fmt == "nrrd" else "NIfTI"
        raise ImageFormatError(f"cannot read {kind} file {str(path)!r}: {hint}") from None


def _is_layered_segnrrd(path: str | os.PathLike[str]) -> bool:
    """A ``.seg.nrrd`` whose header says 4-D (layers), which :func:`read_image` cannot hold."""
    from labelmap.formats.segnrrd import is_segnrrd

    if not is_segnrrd(path):
        return False
    try:
        import nrrd

        return int(nrrd.read_header(str(path)).get("dimension", 0)) == 4
    except Exception:  # an unreadable header: the original error says enough
        return False


def write_image(path: str | os.PathLike[str], array: np.ndarray, geometry: Geometry, *, compress: bool = True) -> None:
    """Write ``array`` [k, j, i] on ``geometry``; format by extension; atomic.

    ``compress`` selects gzip for NRRD; for NIfTI the extension decides (.nii.gz).
    """
    if image_format(path) == "nrrd":
        write_nrrd(path, array, geometry, compress=compress)
    else:
        write_nifti(path, array, geometry, compress=compress)
