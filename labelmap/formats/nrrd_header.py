"""NRRD headers: the fast parser of attached raw / gzip headers, the geometry a header
describes (in LPS), and the header lines the writers emit.

Space handling on read (mirrors ITK's NrrdImageIO where ITK is right):

* ``left-posterior-superior`` / ``LPS``: taken as is.
* ``right-anterior-superior`` / ``RAS``: x and y of the origin and of every
  space direction are negated.
* ``left-anterior-superior`` / ``LAS``: y is negated.  (ITK negates x here,
  which mirrors the image; we do the geometrically correct flip.)
* ``scanner-xyz``, ``3D-right-handed`` and ``space dimension: 3`` without a
  ``space`` field: taken as is, i.e. as LPS - this is what ITK does (it has no
  conversion for these spaces and its physical space is LPS).
* Time spaces (``...-time``, ``scanner-xyz-time``, ``3D-*-handed-time``) and
  ``3D-left-handed`` are refused with :class:`ImageFormatError`.
* No ``space directions``: spacing from ``spacings`` (1 where missing),
  identity direction, origin 0.

``space directions`` hold spacing x direction: spacing is the vector norm and
direction the normalised vector.  Only scalar 3-D images are accepted; a 2-D
image becomes one slice (shape ``(1, j, i)``) whose slice direction is
``row x column`` with spacing 1.  Sheared (non-orthogonal) grids are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import IO, Any

import numpy as np

from labelmap.formats.base import read_error
from labelmap.formats.nrrd_text import header_text_lines, vector_text
from labelmap.model import Geometry

__all__ = ["geometry_from_header", "header_lines", "quick_dtype", "quick_header"]

#: Tolerance on |dot| of two normalised axis directions before a grid counts as sheared.
ORTHOGONALITY_TOLERANCE = 1e-4

#: ``space`` -> the per-axis sign that maps it to LPS
_SPACE_FLIPS = {
    **dict.fromkeys(("left-posterior-superior", "lps", "scanner-xyz", "3d-right-handed"), (1.0, 1.0, 1.0)),
    **dict.fromkeys(("right-anterior-superior", "ras"), (-1.0, -1.0, 1.0)),
    **dict.fromkeys(("left-anterior-superior", "las"), (1.0, -1.0, 1.0)),
}
_DOMAIN_KINDS = {"domain", "space", "???", "none"}

#: The error for a NRRD file that cannot be read, and why.
fail = partial(read_error, "NRRD file")


def _space_flip(header: dict, path: Any, spacedim: int | None) -> np.ndarray:
    """Per-axis sign that maps the file's space to LPS."""
    space = header.get("space")
    if space is None:
        if spacedim not in (None, 2, 3):
            raise fail(path, f"'space dimension: {spacedim}' is not supported (3-D images only)")
        return np.ones(3)
    flip = _SPACE_FLIPS.get(str(space).strip().lower())
    if flip is not None:
        return np.array(flip)
    raise fail(
        path,
        f"space {space!r} is not supported; expected left-posterior-superior, right-anterior-superior, "
        "left-anterior-superior, scanner-xyz or 3D-right-handed (time and left-handed spaces are refused)",
    )


def geometry_from_header(
    header: dict, data_shape: tuple[int, ...], path: Any, error: Callable[[Any, str], Exception] = fail
) -> Geometry:
    """The LPS grid a NRRD header describes for data of ``data_shape`` (C order: (k, j, i) or (j, i)).

    Also the grid of a SimpleITK image (:mod:`labelmap.formats.sitk`), whose origin, spacing and direction
    are what ITK writes as this header: ``error(path, reason)`` makes its errors.

    Raises
    ------
    ImageFormatError
        Non-spatial axes, not 2-D / 3-D, an unsupported space, non-finite or zero vectors, a sheared grid.
    """
    ndim = len(data_shape)  # data is C order: (k, j, i) or (j, i)
    kinds = header.get("kinds")
    if kinds is not None:
        bad = [str(k) for k in kinds if str(k).strip().lower() not in _DOMAIN_KINDS]
        if bad:
            raise error(
                path,
                f"axis kinds {list(map(str, kinds))} include non-spatial axes ({', '.join(bad)}); "
                "multi-component, vector and 4-D (multi-layer) images are not supported - "
                "only scalar 3-D label images",
            )
    if ndim not in (2, 3):
        raise error(
            path, f"{ndim}-D image (sizes {list(data_shape[::-1])}); only 2-D and 3-D scalar images are supported"
        )

    spacedim = header.get("space dimension")
    spacedim = int(spacedim) if spacedim is not None else None
    flip = _space_flip(header, path, spacedim)

    dirs = header.get("space directions")
    if dirs is not None:
        dirs = np.asarray(dirs, dtype=np.float64)
        if dirs.ndim != 2 or dirs.shape[0] != ndim:
            raise error(path, f"'space directions' has {dirs.shape[0] if dirs.ndim else 0} vectors for {ndim} axes")
        if not np.all(np.isfinite(dirs)):
            axis = int(np.nonzero(~np.all(np.isfinite(dirs), axis=1))[0][0])
            if np.all(np.isnan(dirs[axis])):  # how pynrrd reads 'none' (a non-spatial axis)
                raise error(
                    path,
                    f"'space directions' has a 'none' (or all-NaN) vector for axis {axis}; "
                    "multi-component or 4-D images are not supported, and a spatial axis needs a finite vector",
                )
            raise error(
                path,
                f"'space directions' vector {axis} {_vec(dirs[axis])} is not finite (NaN or infinity); "
                "every axis needs a finite direction and spacing",
            )
        sdim = dirs.shape[1]
        if sdim not in (2, 3) or (sdim == 2 and ndim == 3):
            raise error(path, f"space directions of dimension {sdim} are not supported for a {ndim}-D image")
        vecs = np.zeros((ndim, 3))
        vecs[:, :sdim] = dirs
        vecs = vecs * flip[np.newaxis, :]
        spacing = np.linalg.norm(vecs, axis=1)
        if np.any(spacing <= 0):
            raise error(path, f"'space directions' has a zero-length vector: {dirs.tolist()}")
        unit = vecs / spacing[:, np.newaxis]
        origin_raw = header.get("space origin")
        origin = np.zeros(3)
        if origin_raw is not None:
            o = np.asarray(origin_raw, dtype=np.float64).ravel()
            if o.size != sdim:
                raise error(path, f"'space origin' {o.tolist()} does not fit a {sdim}-D space")
            if not np.all(np.isfinite(o)):
                raise error(path, f"'space origin' {_vec(o)} is not finite (NaN or infinity)")
            origin[:sdim] = o
        origin = origin * flip
    else:
        sp = header.get("spacings")
        spacing = np.ones(ndim)
        if sp is not None:
            sp = np.asarray(sp, dtype=np.float64).ravel()
            if sp.size == ndim:
                bad = [f"{v:g}" for v in sp if not np.isfinite(v) or v == 0]
                if bad:
                    raise error(
                        path,
                        f"'spacings' {' '.join(f'{v:g}' for v in sp)} has a zero or non-finite value "
                        f"({', '.join(bad)}); every axis needs a finite, non-zero spacing",
                    )
                spacing = np.abs(sp)
        unit = np.eye(3)[:ndim]
        origin = np.zeros(3)

    if ndim == 2:
        normal = np.cross(unit[0], unit[1])
        n = np.linalg.norm(normal)
        if n < 1e-6:
            raise error(path, "the two axis directions are parallel")
        unit = np.vstack([unit, normal / n])
        spacing = np.concatenate([spacing, [1.0]])

    # Orthogonality check (sheared grids cannot be represented in DICOM).
    gram = unit @ unit.T
    off = np.abs(gram - np.eye(3)).max()
    if off > ORTHOGONALITY_TOLERANCE:
        raise error(
            path,
            f"the axis directions are not orthogonal (sheared grid, largest |cos| = {off:.3g}); "
            "resample the image to an orthogonal grid first",
        )

    k, j, i = data_shape if ndim == 3 else (1, *data_shape)
    try:
        return Geometry(origin=origin, direction=unit.T, spacing=spacing, shape=(k, j, i))
    except ValueError as exc:
        raise error(path, str(exc)) from None


# NRRD type names (the NRRD file format specification, "type") -> NumPy
_TYPE_NAMES: dict[str, str] = {}
for _np_name, _aliases in (
    ("i1", "signed char|int8|int8_t"),
    ("u1", "uchar|unsigned char|uint8|uint8_t"),
    ("i2", "short|short int|signed short|signed short int|int16|int16_t"),
    ("u2", "ushort|unsigned short|unsigned short int|uint16|uint16_t"),
    ("i4", "int|signed int|int32|int32_t"),
    ("u4", "uint|unsigned int|uint32|uint32_t"),
    ("i8", "longlong|long long|long long int|signed long long|signed long long int|int64|int64_t"),
    ("u8", "ulonglong|unsigned long long|unsigned long long int|uint64|uint64_t"),
    ("f4", "float"),
    ("f8", "double"),
):
    _TYPE_NAMES.update((alias, _np_name) for alias in _aliases.split("|"))
#: fields that change where or how the data is read: such files go to pynrrd
_PYNRRD_FIELDS = frozenset(
    ("data file", "datafile", "line skip", "lineskip", "byte skip", "byteskip", "block size", "blocksize")
)


def _vector(text: str) -> list[float]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ValueError(text)
    return [float(v) for v in text[1:-1].split(",")]


#: the optional fields quick_header parses, and how (as pynrrd types them)
_QUICK_FIELDS: dict[str, Callable[[str], Any]] = {
    "space dimension": int,
    "space directions": lambda text: np.array([_vector(v) for v in text.split()]),
    "space origin": lambda text: np.array(_vector(text)),
    "spacings": lambda text: np.array([float(v) for v in text.split()]),
    "kinds": str.split,
}


def quick_header(fh: IO[bytes]) -> tuple[dict, int] | None:
    """The header of an attached raw / gzip NRRD and the data offset, parsed without pynrrd
    (its import and its ``np.unique`` cost 0.02 s), or None for anything else (detached data,
    skips, 'none' directions, other encodings, duplicate fields): pynrrd then reads the file.

    Values take pynrrd's types for what the reader uses: ints for dimension, space dimension
    and sizes, float arrays for space directions / origin and spacings, lists of str for
    kinds; custom ``key:=value`` pairs and the other fields stay strings.  As in pynrrd, the
    first ':' (or ':=') ends a name and values are stripped.
    """
    magic = fh.readline(64)
    if not (magic.startswith(b"NRRD000") and magic[7:8] in b"12345" and magic[8:].strip() == b""):
        return None
    header: dict = {}
    for _ in range(4096):
        raw = fh.readline(1 << 16)
        if not raw.endswith(b"\n"):
            return None  # end of file inside the header, or a huge line: pynrrd reports it
        try:
            line = raw.decode("utf-8").rstrip()  # UTF-8 keeps Slicer's segment names (pynrrd drops non-ASCII)
        except UnicodeDecodeError:
            return None
        if not line:
            break
        if line.startswith("#"):
            continue
        # as pynrrd: the first ':' (or ':=') ends the name; fields it knows are parsed, others kept as text
        cut = line.find(":")
        if cut <= 0:
            return None
        field, value = line[:cut].strip(), line[cut + 1 :]
        custom = value.startswith("=")
        value = value[1:].strip() if custom else value.strip()
        if field in header or field in _PYNRRD_FIELDS:
            return None
        header[field] = value
    else:
        return None
    try:
        header["dimension"] = int(header["dimension"])
        header["sizes"] = np.array([int(v) for v in header["sizes"].split()])
        if len(header["sizes"]) != header["dimension"] or header.get("encoding") not in ("gzip", "gz", "raw"):
            return None
        if "none" in header.get("space directions", ""):
            return None
        for field in _QUICK_FIELDS.keys() & header.keys():
            header[field] = _QUICK_FIELDS[field](header[field])
    except (KeyError, ValueError):
        return None
    return header, fh.tell()


def read_header(path) -> tuple[dict, int, np.dtype | None]:
    """An NRRD file's header, the offset where its body starts and its pixel type.

    Our quick parser reads attached raw / gzip files; pynrrd reads the rest (its offset is then
    where the header ends, which is the body only for attached data without skips).  The type is
    None when the header cannot give one (a field missing): pynrrd's full reader then explains.
    """
    with open(path, "rb") as fh:
        quick = quick_header(fh)
    dtype = None if quick is None else quick_dtype(quick[0])
    if quick is not None and dtype is not None:
        return quick[0], quick[1], dtype
    import nrrd

    with open(path, "rb") as fh:
        header = nrrd.read_header(fh)
        offset = fh.tell()
    try:
        return header, offset, np.dtype(nrrd.reader._determine_datatype(header))
    except (KeyError, TypeError, ValueError, nrrd.NRRDError):
        return header, offset, None


def quick_dtype(header: dict) -> np.dtype | None:
    code = _TYPE_NAMES.get(str(header.get("type", "")).strip())
    order = "|" if code is not None and code[1] == "1" else {"little": "<", "big": ">"}.get(header.get("endian", ""))
    return None if code is None or order is None else np.dtype(order + code)


def _vec(v: np.ndarray) -> str:
    return vector_text(v)


def header_lines(array: np.ndarray, geometry: Geometry, compress: bool, *, layers: bool = False) -> list[str]:
    """The lines of a NRRD0004 attached header, exact float repr so geometry round-trips.

    ``layers``: ``array`` is 4-D with a leading list axis (a multi-layer Slicer segmentation).
    """
    vecs = (geometry.direction * geometry.spacing[np.newaxis, :]).T  # rows: i, j, k axis vectors
    return header_text_lines(array.dtype.name, array.shape[::-1], list(vecs), geometry.origin, compress, layers=layers)
