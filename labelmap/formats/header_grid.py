"""A label file's grid from its header alone, without reading its voxel data.

Lets the pipeline refuse a label file whose grid cannot lie on the source series before
its body (possibly a gigabyte to inflate) is read.  The grids are the ones the full readers
give (:mod:`labelmap.formats.nrrd`, :mod:`~labelmap.formats.nifti`, :mod:`~labelmap.formats.segnrrd`);
anything the header alone cannot settle gives None, and the full reader then decides and words the error;
so do headers the full reader refuses without reading the data (a truncated raw file, a grid too large).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelmap._util.resources import check_grid
from labelmap.formats.base import PathLike
from labelmap.model import Geometry

__all__ = ["HeaderGrid", "read_header_grid"]


@dataclass(frozen=True)
class HeaderGrid:
    """What a label file's header says: its grid (LPS), its number of layers and the bytes its data claims."""

    geometry: Geometry
    layers: int
    nbytes: int


def read_header_grid(path: PathLike) -> HeaderGrid | None:
    """The grid ``path``'s header describes, read without its voxel data.

    Parameters
    ----------
    path
        A label file (``.nrrd`` / ``.nhdr``, ``.nii`` / ``.nii.gz``, ``.seg.nrrd``).

    Returns
    -------
    HeaderGrid | None
        The grid, layers and claimed data size; None when the name is no label format's, or the header
        cannot be read or describes no grid the full reader would accept (it reports why).
    """
    from labelmap.formats import find_format

    fmt = find_format(path)
    if fmt is None:
        return None
    try:
        if fmt.name == "nifti":
            return _nifti(Path(path))
        return _nrrd(Path(path), layered=fmt.describes_segments)
    except Exception:  # any failure here is the full reader's to explain, in its words
        return None


def _nrrd(p: Path, *, layered: bool) -> HeaderGrid | None:
    from labelmap.formats.nrrd_header import geometry_from_header, read_header

    if not p.is_file():
        return None
    header, offset, dtype = read_header(p)
    if dtype is None:
        return None
    shape = tuple(int(n) for n in header["sizes"])[::-1]  # C order: (k, j, i) or (layers last) (k, j, i, m)
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if dtype.kind not in ("iub" if layered else "iufb"):
        return None  # a pixel type the reader refuses
    if "data file" in header or "datafile" in header:
        name = str(header.get("data file", header.get("datafile", ""))).strip()
        data = p.parent / name
        if " " in name or not data.is_file() or not (data.name.endswith(".gz") or data.stat().st_size >= nbytes):
            return None  # a list / pattern, a missing, special or truncated data file: the reader says which
    elif header.get("encoding") == "raw" and p.stat().st_size - offset < nbytes:
        return None  # truncated: the reader says so without reading
    check_grid(shape, dtype.itemsize, "NRRD image", path=p)  # too large: the reader refuses it first
    layers = 1
    if layered and len(shape) not in (3, 4):
        return None
    if layered and len(shape) == 4:  # a Slicer file: layers on the first (list) axis
        kinds = [str(k).strip().lower() for k in header.get("kinds") or ["list"]]
        dirs = header.get("space directions")
        if kinds[0] in ("domain", "space") or (dirs is not None and np.all(np.isfinite(np.asarray(dirs)[0]))):
            return None
        header = dict(header)
        for key in ("kinds", "space directions", "spacings"):
            if header.get(key) is not None:
                header[key] = np.asarray(header[key])[1:] if key == "space directions" else list(header[key])[1:]
        layers, shape = shape[3], shape[:3]
    if layers < 1:
        return None
    return HeaderGrid(geometry_from_header(header, shape, p), layers, nbytes)


def _nifti(p: Path) -> HeaderGrid | None:
    import nibabel as nib

    from labelmap.formats.nifti_grid import nibabel_messages, nifti_geometry

    if not p.is_file():
        return None
    with nibabel_messages() as fixes:  # kept off stderr, as the reader keeps them
        img = nib.load(str(p), mmap=False)  # the header only: the data is read when asked for
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        return None
    # the reader's grid, or its refusal (a voxel size, a dimension): read_header_grid turns that into None
    geometry = nifti_geometry(img.header, tuple(img.shape), p, fixes=fixes)[2]
    if img.header.get_data_dtype().kind not in "iufb":
        return None  # a pixel type the reader refuses (RGB, complex)
    itemsize = img.header.get_data_dtype().itemsize
    nbytes = int(np.prod(img.shape, dtype=np.float64)) * itemsize
    if not p.name.lower().endswith(".gz") and p.stat().st_size - int(img.header.get_data_offset()) < nbytes:
        return None  # truncated: the reader says so without reading
    check_grid(tuple(img.shape), itemsize, "NIfTI image", path=p)  # too large: the reader refuses it first
    return HeaderGrid(geometry, 1, nbytes)
