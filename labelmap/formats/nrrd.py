"""NRRD (``.nrrd`` attached, ``.nhdr`` detached) label images via pynrrd.

Arrays are returned indexed ``[k, j, i]`` (NRRD's fastest axis is ``i``), in
native byte order, C-contiguous and writable.

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

The writer always writes ``space: left-posterior-superior``, ``space
directions``, ``space origin``, ``kinds: domain domain domain`` and gzip (or
raw) encoding, preserving the dtype.  Output is atomic (see
:func:`labelmap._util.atomic.atomic_path`); for ``.nhdr`` the data file
(``<name>.raw.gz`` or ``<name>.raw``) is written first, then the header.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from labelmap import kernels
from labelmap._util.atomic import atomic_path
from labelmap._util.deflate import GzipFiller, gzip_compress, gzip_decompress_into
from labelmap.errors import ImageFormatError, LabelmapError, OutputError
from labelmap.model import Geometry

__all__ = ["read_nrrd", "write_nrrd"]

#: Tolerance on |dot| of two normalised axis directions before a grid counts as sheared.
ORTHOGONALITY_TOLERANCE = 1e-4

_LPS_SPACES = {"left-posterior-superior", "lps", "scanner-xyz", "3d-right-handed"}
_RAS_SPACES = {"right-anterior-superior", "ras"}
_LAS_SPACES = {"left-anterior-superior", "las"}
_DOMAIN_KINDS = {"domain", "space", "???", "none"}

_WRITABLE_DTYPES = {
    np.dtype(t)
    for t in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64")
}


def _fail(path: Any, reason: str) -> ImageFormatError:
    return ImageFormatError(f"cannot read NRRD file {str(path)!r}: {reason}")


def _describe_read_error(exc: BaseException) -> str:
    import zlib

    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return f"its detached data file {str(exc.filename or msg)!r} was not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    low = msg.lower()
    if (
        isinstance(exc, (zlib.error, EOFError))
        or "compressed" in low
        or "end-of-stream" in low
        or "end marker" in low
        or "gzip" in low
    ):
        return f"compressed data is damaged or truncated ({msg}); the file is incomplete - write or copy it again"
    if "missing required field" in low:
        return f"the header is incomplete ({msg}); the file is truncated or damaged - write or copy it again"
    if "magic" in low:
        return "not a NRRD file (the first line is not a 'NRRD000x' magic line)"
    if "size of the data" in low or "reshape" in low or "buffer" in low or "fewer" in low:
        return f"the data is shorter or longer than the header says ({msg}); the file is truncated? - write or copy it again"
    if isinstance(exc, UnicodeDecodeError):
        return "the header is not text - not a NRRD file or a damaged header"
    return f"damaged or unsupported file ({type(exc).__name__}: {msg})"


def _space_flip(header: dict, path: Any, spacedim: int | None) -> np.ndarray:
    """Per-axis sign that maps the file's space to LPS."""
    space = header.get("space")
    if space is None:
        if spacedim not in (None, 2, 3):
            raise _fail(path, f"'space dimension: {spacedim}' is not supported (3-D images only)")
        return np.ones(3)
    name = str(space).strip().lower()
    if name in _LPS_SPACES:
        return np.ones(3)
    if name in _RAS_SPACES:
        return np.array([-1.0, -1.0, 1.0])
    if name in _LAS_SPACES:
        return np.array([1.0, -1.0, 1.0])
    raise _fail(
        path,
        f"space {space!r} is not supported; expected left-posterior-superior, right-anterior-superior, "
        "left-anterior-superior, scanner-xyz or 3D-right-handed (time and left-handed spaces are refused)",
    )


def _geometry_from_header(header: dict, data_shape: tuple[int, ...], path: Any) -> Geometry:
    ndim = len(data_shape)  # data is C order: (k, j, i) or (j, i)
    kinds = header.get("kinds")
    if kinds is not None:
        bad = [str(k) for k in kinds if str(k).strip().lower() not in _DOMAIN_KINDS]
        if bad:
            raise _fail(
                path,
                f"axis kinds {list(map(str, kinds))} include non-spatial axes ({', '.join(bad)}); "
                "multi-component, vector and 4-D (multi-layer) images are not supported - "
                "only scalar 3-D label images",
            )
    if ndim not in (2, 3):
        raise _fail(
            path, f"{ndim}-D image (sizes {list(data_shape[::-1])}); only 2-D and 3-D scalar images are supported"
        )

    spacedim = header.get("space dimension")
    spacedim = int(spacedim) if spacedim is not None else None
    flip = _space_flip(header, path, spacedim)

    naxes = ndim
    dirs = header.get("space directions")
    if dirs is not None:
        dirs = np.asarray(dirs, dtype=np.float64)
        if dirs.ndim != 2 or dirs.shape[0] != naxes:
            raise _fail(path, f"'space directions' has {dirs.shape[0] if dirs.ndim else 0} vectors for {naxes} axes")
        if not np.all(np.isfinite(dirs)):
            raise _fail(
                path,
                "'space directions' has a 'none' entry (a non-spatial axis); "
                "multi-component or 4-D images are not supported",
            )
        sdim = dirs.shape[1]
        if sdim not in (2, 3) or (sdim == 2 and naxes == 3):
            raise _fail(path, f"space directions of dimension {sdim} are not supported for a {naxes}-D image")
        vecs = np.zeros((naxes, 3))
        vecs[:, :sdim] = dirs
        vecs = vecs * flip[np.newaxis, :]
        spacing = np.linalg.norm(vecs, axis=1)
        if np.any(spacing <= 0):
            raise _fail(path, f"'space directions' has a zero-length vector: {dirs.tolist()}")
        unit = vecs / spacing[:, np.newaxis]
        origin_raw = header.get("space origin")
        origin = np.zeros(3)
        if origin_raw is not None:
            o = np.asarray(origin_raw, dtype=np.float64).ravel()
            if o.size != sdim or not np.all(np.isfinite(o)):
                raise _fail(path, f"'space origin' {o.tolist()} does not fit a {sdim}-D space")
            origin[:sdim] = o
        origin = origin * flip
    else:
        sp = header.get("spacings")
        spacing = np.ones(naxes)
        if sp is not None:
            sp = np.asarray(sp, dtype=np.float64).ravel()
            if sp.size == naxes:
                spacing = np.where(np.isfinite(sp) & (sp != 0), np.abs(sp), 1.0)
        unit = np.eye(3)[:naxes]
        origin = np.zeros(3)

    if naxes == 2:
        normal = np.cross(unit[0], unit[1])
        n = np.linalg.norm(normal)
        if n < 1e-6:
            raise _fail(path, "the two axis directions are parallel")
        unit = np.vstack([unit, normal / n])
        spacing = np.concatenate([spacing, [1.0]])

    # Orthogonality check (sheared grids cannot be represented in DICOM).
    gram = unit @ unit.T
    off = np.abs(gram - np.eye(3)).max()
    if off > ORTHOGONALITY_TOLERANCE:
        raise _fail(
            path,
            f"the axis directions are not orthogonal (sheared grid, largest |cos| = {off:.3g}); "
            "resample the image to an orthogonal grid first",
        )

    shape3 = tuple(data_shape) if ndim == 3 else (1,) + tuple(data_shape)
    try:
        return Geometry(origin=origin, direction=unit.T, spacing=spacing, shape=shape3)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None


def _native(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr


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
    (
        "data file",
        "datafile",
        "line skip",
        "lineskip",
        "byte skip",
        "byteskip",
        "block size",
        "blocksize",
    )
)


def _vector(text: str) -> list[float]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ValueError(text)
    return [float(v) for v in text[1:-1].split(",")]


def _quick_header(fh) -> tuple[dict, int] | None:
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
        if "space dimension" in header:
            header["space dimension"] = int(header["space dimension"])
        if "space directions" in header:
            if "none" in header["space directions"]:
                return None
            header["space directions"] = np.array([_vector(v) for v in header["space directions"].split()])
        if "space origin" in header:
            header["space origin"] = np.array(_vector(header["space origin"]))
        if "spacings" in header:
            header["spacings"] = np.array([float(v) for v in header["spacings"].split()])
        if "kinds" in header:
            header["kinds"] = header["kinds"].split()
    except (KeyError, ValueError):
        return None
    return header, fh.tell()


def _quick_dtype(header: dict) -> np.dtype | None:
    code = _TYPE_NAMES.get(str(header.get("type", "")).strip())
    if code is None:
        return None
    if code[1] == "1":
        return np.dtype(code)
    endian = header.get("endian")
    if endian not in ("little", "big"):
        return None
    return np.dtype(("<" if endian == "little" else ">") + code)


def _read_attached(p: Path, narrow: bool = False) -> tuple[np.ndarray, dict] | None:
    """Fast path for attached raw / gzip data: our header parser (else pynrrd's), then
    the C gzip reader inflates.

    Returns None when the file needs pynrrd's general reader (detached data,
    skips, other encodings); errors surface as in pynrrd.  ``narrow``: see :func:`read_nrrd`.
    """
    with open(p, "rb") as fh:
        quick = _quick_header(fh)
    dtype = None if quick is None else _quick_dtype(quick[0])
    if quick is not None and dtype is not None:
        header, offset = quick
    else:
        import nrrd

        with open(p, "rb") as fh:
            header = nrrd.read_header(fh)
            if (
                "data file" in header
                or "datafile" in header
                or header.get("line skip", 0)
                or header.get("byte skip", 0)
                or header.get("encoding") not in ("gzip", "gz", "raw")
            ):
                return None
            offset = fh.tell()
        dtype = np.dtype(nrrd.reader._determine_datatype(header))
    sizes = [int(n) for n in header["sizes"]]
    count = int(np.prod(sizes))
    need = count * dtype.itemsize
    if header["encoding"] == "raw" and p.stat().st_size - offset < need:
        # before allocating: a damaged 'sizes' line must not ask for more memory than the file holds
        raise _fail(
            p,
            f"the data holds {p.stat().st_size - offset} bytes but the header's sizes {sizes} of {dtype.name} "
            f"need {need}; the file is truncated - write or copy it again",
        )
    gz = header["encoding"] in ("gzip", "gz")
    if narrow and gz and dtype.kind in "iu" and dtype.itemsize > 1 and dtype.byteorder in ("=", "<", "|"):
        with open(p, "rb") as fh:
            fh.seek(offset)
            data, got = _inflate_narrowed(fh.read(), dtype, count)
        if got < need:
            raise _fail(
                p,
                f"the data holds {got} bytes but the header's sizes {sizes} of {dtype.name} need "
                f"{need}; the file is truncated - write or copy it again",
            )
        return data.reshape(sizes[::-1]), header
    out = np.empty(need, dtype=np.uint8)  # filled in place: writable, no second copy
    with open(p, "rb") as fh:
        fh.seek(offset)
        if gz:
            got = gzip_decompress_into(fh.read(), out)
        else:
            got = fh.readinto(memoryview(out))
    if got < need:
        raise _fail(
            p,
            f"the data holds {got} bytes but the header's sizes {sizes} of {dtype.name} need "
            f"{need}; the file is truncated - write or copy it again",
        )
    data = out.view(dtype).reshape(sizes[::-1])
    return data, header


#: Bytes inflated per step of a narrowed read: one reused scratch buffer of this size.
_NARROW_PIECE = 1 << 23


def _inflate_narrowed(blob: bytes, dtype: np.dtype, count: int) -> tuple[np.ndarray, int]:
    """Inflate ``count`` integers of ``dtype`` into uint8 while every value fits, else into ``dtype``.

    ITK writes most label maps as 16-bit; holding them as 8-bit from the start halves the memory
    touched (fresh pages are costly) and spares a narrowing pass.  Each piece is inflated into one
    reused scratch buffer and narrowed by one fused kernel (copy + range check); the first value
    outside 0..255 switches to ``dtype``, the rest then inflating straight into that array.
    Returns (array, bytes read).
    """
    size = dtype.itemsize
    need = count * size
    stream = GzipFiller(blob, need)
    small = np.empty(count, dtype=np.uint8)
    scratch = np.empty(max(size, min(need, _NARROW_PIECE) // size * size), dtype=np.uint8)
    done = carry = 0  # values stored; bytes of a partial value at the start of scratch
    while done < count:
        got = stream.readinto(scratch[carry:])
        have = carry + got
        n = have // size
        if n:
            values = scratch[: n * size].view(dtype)
            if not kernels.narrow_to_uint8(values, small[done : done + n])[1]:
                wide = np.empty(count, dtype=dtype)
                wide[:done] = small[:done]
                del small
                wide[done : done + n] = values
                done += n
                rest = wide[done:].view(np.uint8)
                tail = have - n * size  # only at the very end of a short stream
                rest[:tail] = scratch[n * size : have]
                total = tail + stream.readinto(rest[tail:]) if done < count else tail
                return wide, done * size + total
            done += n
        carry = have - n * size
        if carry:
            scratch[:carry] = scratch[n * size : have]
        if not got:
            break
    return small, done * size + carry


def read_data_and_header(p: Path, *, narrow: bool = False, fail=_fail) -> tuple[np.ndarray, dict]:
    """(data in C order, header) of a NRRD: the fast attached reader, else pynrrd; any failure
    becomes ``fail(path, reason)`` (an :class:`ImageFormatError` saying what is wrong)."""
    if not p.exists():
        raise fail(p, "file not found")
    if p.is_dir():
        raise fail(p, "is a folder, not a file")
    try:
        fast = _read_attached(p, narrow)
        if fast is None:
            import nrrd

            fast = nrrd.read(str(p), index_order="C")
        return fast
    except LabelmapError:
        raise
    except MemoryError:
        raise fail(p, "not enough memory for the image its header describes (damaged 'sizes'?)") from None
    except Exception as exc:  # pynrrd, zlib, numpy and OS errors all mean "cannot read this file"
        raise fail(p, _describe_read_error(exc)) from exc


def read_nrrd(path: str | os.PathLike[str], *, narrow: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read a ``.nrrd`` / ``.nhdr`` file: (array [k, j, i], Geometry in LPS).

    ``narrow``: integer data whose values all lie in 0..255 comes back as uint8 (label maps).
    """
    p = Path(path)
    data, header = read_data_and_header(p, narrow=narrow)
    if data.dtype.kind not in "iuf" and data.dtype.kind != "b":
        raise _fail(p, f"pixel type {data.dtype} is not supported")
    geometry = _geometry_from_header(header, tuple(data.shape), p)
    arr = _native(data).reshape(geometry.shape)
    return arr, geometry


_NRRD_TYPES = {
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "float32": "float",
    "float64": "double",
}


def _vec(v: np.ndarray) -> str:
    return "(" + ",".join(repr(float(x)) for x in v) + ")"


def header_lines(array: np.ndarray, geometry: Geometry, compress: bool, *, layers: bool = False) -> list[str]:
    """The lines of a NRRD0004 attached header, exact float repr so geometry round-trips.

    ``layers``: ``array`` is 4-D with a leading list axis (a multi-layer Slicer segmentation).
    """
    vecs = (geometry.direction * geometry.spacing[np.newaxis, :]).T  # rows: i, j, k axis vectors
    return [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_NRRD_TYPES[array.dtype.name]}",
        f"dimension: {array.ndim}",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(n) for n in array.shape[::-1]),
        "space directions: " + ("none " if layers else "") + " ".join(_vec(v) for v in vecs),
        "kinds: " + ("list " if layers else "") + "domain domain domain",
        "endian: little",
        "encoding: " + ("gzip" if compress else "raw"),
        "space origin: " + _vec(geometry.origin),
    ]


def _format_header(array: np.ndarray, geometry: Geometry, compress: bool) -> bytes:
    return ("\n".join(header_lines(array, geometry, compress)) + "\n\n").encode("ascii")


def _header_for(array: np.ndarray, geometry: Geometry, compress: bool) -> dict:
    vecs = (geometry.direction * geometry.spacing[np.newaxis, :]).T  # rows: i, j, k axis vectors
    return {
        "type": array.dtype.name,
        "dimension": 3,
        "space": "left-posterior-superior",
        "sizes": np.array(array.shape[::-1]),
        "space directions": vecs.astype(np.float64),
        "kinds": ["domain", "domain", "domain"],
        "endian": "little",
        "encoding": "gzip" if compress else "raw",
        "space origin": np.asarray(geometry.origin, dtype=np.float64),
    }


def _prepare(array: np.ndarray, geometry: Geometry) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.ndim != 3 or tuple(array.shape) != tuple(geometry.shape):
        raise ValueError(f"array shape {array.shape} does not match geometry shape {geometry.shape}")
    if array.dtype.newbyteorder("=") not in _WRITABLE_DTYPES:
        raise ImageFormatError(f"cannot store pixel type {array.dtype} in an image file")
    # Little-endian, C order: [k, j, i] in C order is NRRD's i-fastest order.
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def write_nrrd(path: str | os.PathLike[str], array: np.ndarray, geometry: Geometry, *, compress: bool = True) -> None:
    """Write ``array`` [k, j, i] on ``geometry`` as ``.nrrd`` (attached) or ``.nhdr`` (detached), atomically."""
    target = Path(path)
    array = _prepare(array, geometry)
    header = _header_for(array, geometry, compress)
    try:
        if target.name.lower().endswith(".nhdr"):
            import nrrd  # only the detached form needs pynrrd (0.006 s to import)

            # Let pynrrd encode header + data into memory, then split at the blank line
            # that ends the header (header lines are never empty).
            buf = io.BytesIO()
            nrrd.write(buf, array, header, index_order="C", compression_level=6)
            blob = buf.getvalue()
            cut = blob.index(b"\n\n")
            head, body = blob[: cut + 1], blob[cut + 2 :]
            base = target.name[: -len(".nhdr")]
            data_name = base + (".raw.gz" if compress else ".raw")
            with atomic_path(target.with_name(data_name)) as tmp:
                tmp.write_bytes(body)
            with atomic_path(target) as tmp:
                tmp.write_bytes(head + f"data file: {data_name}\n\n".encode("ascii"))
        else:
            write_attached(target, _format_header(array, geometry, compress), array, compress=compress)
    except LabelmapError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None


def write_attached(target: Path, head: bytes, array: np.ndarray, *, compress: bool) -> None:
    """``head`` (a NRRD header ending in its blank line) and ``array``'s bytes (gzip when
    ``compress``) as one file, atomically; an OSError becomes an :class:`OutputError`."""
    body = gzip_compress(memoryview(array).cast("B")) if compress else memoryview(array).cast("B")
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(head)
                fh.write(body)
    except LabelmapError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
