"""NRRD (``.nrrd`` attached, ``.nhdr`` detached) label images.

Arrays are returned indexed ``[k, j, i]`` (NRRD's fastest axis is ``i``), in
native byte order, C-contiguous and writable; geometry is read as
:mod:`labelmap.formats.nrrd_header` describes.  Attached raw / gzip files are read
by our own header parser and gzip reader; pynrrd reads everything else.

The writer always writes ``space: left-posterior-superior``, ``space
directions``, ``space origin``, ``kinds: domain domain domain`` and gzip (or
raw) encoding, preserving the dtype.  Output is atomic (see
:func:`labelmap._util.atomic.atomic_path`); for ``.nhdr`` the data file
(``<name>.raw.gz`` or ``<name>.raw``) is written first, then the header.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labelmap import kernels
from labelmap._util.atomic import OutputSet, atomic_path
from labelmap._util.deflate import GzipFiller, gzip_compress, gzip_decompress_into
from labelmap._util.resources import check_grid
from labelmap.errors import ImageFormatError, LabelmapError
from labelmap.formats.base import LabelFormat, PathLike, checked_array, describe_read_error, native, output_errors
from labelmap.formats.nrrd_header import fail, geometry_from_header, header_lines, read_header
from labelmap.model import Geometry

__all__ = ["FORMAT", "read_nrrd", "write_nrrd"]


def _read_attached(p: Path, narrow: bool = False) -> tuple[np.ndarray, dict] | None:
    """Fast path for attached raw / gzip data: our header parser (else pynrrd's), then
    the C gzip reader inflates.

    Returns None when the file needs pynrrd's general reader (detached data,
    skips, other encodings); errors surface as in pynrrd.  ``narrow``: see :func:`read_nrrd`.
    """
    header, offset, dtype = read_header(p)
    attached = not ("data file" in header or "datafile" in header)
    unskipped = not (header.get("line skip", 0) or header.get("byte skip", 0))
    if dtype is None or not (attached and unskipped and header.get("encoding") in ("gzip", "gz", "raw")):
        return None
    sizes = [int(n) for n in header["sizes"]]
    count = int(np.prod(sizes))
    need = count * dtype.itemsize
    # a raw file is measured before allocating: a damaged 'sizes' line must not ask for more memory than it holds
    got = p.stat().st_size - offset if header["encoding"] == "raw" else need
    gz = header["encoding"] in ("gzip", "gz")
    if got >= need:
        check_grid(tuple(sizes[::-1]), dtype.itemsize, "NRRD image", path=p)  # before inflating a small file's claim
        with open(p, "rb") as fh:
            fh.seek(offset)
            if narrow and gz and dtype.kind in "iu" and dtype.itemsize > 1 and dtype.byteorder in ("=", "<", "|"):
                data, got = _inflate_narrowed(fh.read(), dtype, count)
            else:
                out = np.empty(need, dtype=np.uint8)  # filled in place: writable, no second copy
                got = gzip_decompress_into(fh.read(), out) if gz else fh.readinto(out.data)
                data = out.view(dtype)
    if got < need:
        raise fail(
            p,
            f"the data holds {got} bytes but the header's sizes {sizes} of {dtype.name} need "
            f"{need}; the file is truncated - write or copy it again",
        )
    return data.reshape(sizes[::-1]), header


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
        got = stream.readinto(scratch[carry:].data)
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
                total = tail + stream.readinto(rest[tail:].data) if done < count else tail
                return wide, done * size + total
            done += n
        carry = have - n * size
        if carry:
            scratch[:carry] = scratch[n * size : have]
        if not got:
            break
    return small, done * size + carry


def _check_data_file(p: Path, fail: Callable[[Path, str], ImageFormatError]) -> None:
    """A detached header's ``data file`` must be a regular file: a FIFO would block the read forever
    and a device (``/dev/zero``, ``/dev/urandom``) never ends; refused before it is opened."""
    import stat

    import nrrd

    from labelmap._util.atomic import kind_of

    with open(p, "rb") as fh:
        header = nrrd.read_header(fh)
    name = str(header.get("data file", header.get("datafile", ""))).strip()
    if not name or " " in name:  # attached, or a LIST / pattern form (pynrrd reports those)
        return
    data = Path(name) if Path(name).is_absolute() else p.parent / name
    try:
        mode = os.stat(data).st_mode
    except OSError:
        return  # missing: pynrrd's error names it
    if not stat.S_ISREG(mode):
        raise fail(p, f"its data file {name!r} is {kind_of(mode)}, not a regular file")


def read_data_and_header(
    p: Path, *, narrow: bool = False, fail: Callable[[Path, str], ImageFormatError] = fail
) -> tuple[np.ndarray, dict]:
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

            _check_data_file(p, fail)
            try:  # the claimed size first; a header pynrrd cannot take is for nrrd.read to explain
                with open(p, "rb") as fh:
                    head = nrrd.read_header(fh)
                grid = tuple(int(n) for n in head["sizes"][::-1])
                itemsize = np.dtype(nrrd.reader._determine_datatype(head)).itemsize
            except Exception:
                grid, itemsize = (), 0
            check_grid(grid, itemsize, "NRRD image", path=p)
            fast = nrrd.read(str(p), index_order="C")
        return fast
    except LabelmapError:
        raise
    except MemoryError:
        raise fail(p, "not enough memory for the image its header describes (damaged 'sizes'?)") from None
    except Exception as exc:  # pynrrd, zlib, numpy and OS errors all mean "cannot read this file"
        raise fail(p, describe_read_error(exc)) from exc


def read_nrrd(path: PathLike, *, narrow: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read a ``.nrrd`` / ``.nhdr`` file.

    Parameters
    ----------
    path
        The file.
    narrow
        Integer data whose values all lie in 0..255 comes back as uint8 (label maps).

    Returns
    -------
    (numpy.ndarray, Geometry)
        The array ``[k, j, i]`` and its geometry in LPS.

    Raises
    ------
    ImageFormatError
        The file cannot be read or holds no scalar 2-D / 3-D image on an orthogonal grid.
    """
    p = Path(path)
    data, header = read_data_and_header(p, narrow=narrow)
    if data.dtype.kind not in "iufb":
        raise fail(p, f"pixel type {data.dtype} is not supported")
    geometry = geometry_from_header(header, tuple(data.shape), p)
    return native(data).reshape(geometry.shape), geometry


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


def write_nrrd(path: PathLike, array: np.ndarray, geometry: Geometry, *, compress: bool = True) -> None:
    """Write ``array`` [k, j, i] on ``geometry`` as ``.nrrd`` (attached) or ``.nhdr`` (detached), atomically.

    Parameters
    ----------
    path
        The file; ``.nhdr`` writes the data next to it (``<name>.raw.gz`` or ``<name>.raw``).
    array, geometry
        The image (bool is stored as uint8) and its grid in LPS.
    compress
        gzip the data.

    Raises
    ------
    ImageFormatError
        The pixel type cannot be stored.
    OutputError
        The file cannot be written.
    """
    target = Path(path)
    array = checked_array(array, geometry, "an image file")
    # Little-endian, C order: [k, j, i] in C order is NRRD's i-fastest order.
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    header = _header_for(array, geometry, compress)
    with output_errors(target):
        if target.name.lower().endswith(".nhdr"):
            import nrrd  # only the detached form needs pynrrd (0.006 s to import)

            # Let pynrrd encode header + data into memory, then split at the blank line
            # that ends the header (header lines are never empty).
            buf = io.BytesIO()
            nrrd.write(buf, array, header, index_order="C", compression_level=6)
            head, _, body = buf.getvalue().partition(b"\n\n")
            data_name = target.name[: -len(".nhdr")] + (".raw.gz" if compress else ".raw")
            with OutputSet() as out:  # both files or neither
                out.stage(target.with_name(data_name)).write_bytes(body)
                out.stage(target).write_bytes(head + f"\ndata file: {data_name}\n\n".encode("ascii"))
        else:
            head = ("\n".join(header_lines(array, geometry, compress)) + "\n\n").encode("ascii")
            write_attached(target, head, array, compress=compress)


def write_attached(target: Path, head: bytes, array: np.ndarray, *, compress: bool) -> None:
    """``head`` (a NRRD header ending in its blank line) and ``array``'s bytes (gzip when
    ``compress``) as one file, atomically; an OSError becomes an :class:`OutputError`."""
    body = gzip_compress(array.data.cast("B")) if compress else array.data.cast("B")
    with output_errors(target), atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        fh.write(body)


class NrrdFormat(LabelFormat):
    """``.nrrd`` (attached) and ``.nhdr`` (detached) label images."""

    name = "nrrd"
    kind = "NRRD"
    title = "NRRD file"
    suffixes = (".nrrd", ".nhdr")
    output_suffix = ".nrrd"

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"NRRD000")

    read_image = staticmethod(read_nrrd)
    write_image = staticmethod(write_nrrd)


FORMAT = NrrdFormat()
