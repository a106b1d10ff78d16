"""2-D NRRD slide label images: read by bands (raw data memory-mapped, gzip inflated as a
stream), written by bands (one gzip stream compressed piece by piece on threads).

Read: ``dimension: 2``, or 3 with one axis of size 1; attached (``.nrrd``) or detached
(``.nhdr``) data, ``raw`` or ``gzip`` encoding (other encodings are decoded whole, up to
:data:`WHOLE_LIMIT`).  The first axis is the columns.  The pixel spacing comes from ``space
directions`` (vector lengths; ``space units`` honoured, mm by default) or ``spacings``.

Written: ``dimension: 2``, ``space dimension: 2``, ``space directions: (column spacing,0)
(0,row spacing)`` in mm - the axes of the pixel matrix, not of the slide, since slide images
are usually rotated or flipped relative to the slide's X / Y (Image Orientation (Slide)).
``space origin`` is the slide X / Y of pixel (1, 1) only when the orientation is the identity
(columns along +X, rows along +Y), where the two frames agree; otherwise it is left out.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np

from labelmap._util.atomic import atomic_path
from labelmap._util.deflate import raw_compressor
from labelmap._util.resources import check_grid
from labelmap._util.threads import parts_for, run_parts
from labelmap.errors import ImageFormatError, LabelmapError, UnsupportedError
from labelmap.formats.base import PathLike, describe_read_error, output_errors, read_error
from labelmap.formats.nrrd_header import quick_dtype, quick_header
from labelmap.formats.slide_bands import BandPool, checked_bands, stored_dtype
from labelmap.formats.slide_simple import ArrayLayer, checked_file, map_file
from labelmap.model import SlideGeometry

__all__ = ["GzipRowsLayer", "read_nrrd_labels", "write_nrrd_labels", "WHOLE_LIMIT"]

fail = partial(read_error, "NRRD file")

#: Encodings other than raw / gzip are decoded whole by pynrrd, up to this many bytes.
WHOLE_LIMIT = 256 << 20
#: ``space units`` -> millimetres
_UNITS = {"mm": 1.0, "millimeter": 1.0, "um": 1e-3, "µm": 1e-3, "micron": 1e-3, "cm": 10.0, "m": 1000.0, "nm": 1e-6}
#: Bytes skipped per step when a gzip band starts further on.
_SKIP = 1 << 23


class GzipRowsLayer:
    """Rows of gzip-compressed NRRD data, inflated as a stream in row order.

    Reading forwards continues the stream; reading rows before the last ones read starts it
    again from the beginning (the slide writer reads in row order, so it never does).
    """

    def __init__(self, path: Path, data_path: Path, offset: int, shape: tuple[int, int], dtype: np.dtype) -> None:
        self.path = path
        self._data_path = data_path
        self._offset = offset
        self._shape = shape
        self._file_dtype = dtype
        self._lock = threading.Lock()
        self._stream: Any = None
        self._fh: IO[bytes] | None = None
        self._row = 0  # rows consumed from the stream
        self._pool = BandPool()

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._file_dtype.newbyteorder("=")

    def __repr__(self) -> str:
        return f"GzipRowsLayer({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def _open(self) -> None:
        from zlib_ng import gzip_ng

        self.close()
        self._fh = open(self._data_path, "rb")
        self._fh.seek(self._offset)
        self._stream = gzip_ng.GzipFile(fileobj=self._fh, mode="rb")
        self._row = 0

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = self._stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass

    def _fill(self, view: memoryview) -> int:
        got = 0
        while got < len(view):
            n = self._stream.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new C-contiguous array of :attr:`dtype`.

        Raises
        ------
        ImageFormatError
            The compressed data is damaged or ends before these rows.
        """
        rows, columns = self._shape
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= rows:
            raise ValueError(f"rows {start}:{stop} are outside the image's {rows} rows")
        row_bytes = columns * self._file_dtype.itemsize
        check_grid((stop - start, columns), self._file_dtype.itemsize, "label band", path=self.path)
        if start == stop:
            return np.empty((0, columns), dtype=self.dtype)
        with self._lock:
            out = self._pool.empty((stop - start, columns), self._file_dtype)
            try:
                if self._stream is None or start < self._row:
                    self._open()
                skip = (start - self._row) * row_bytes
                if skip:
                    scratch = np.empty(min(skip, _SKIP), dtype=np.uint8)
                    while skip:
                        n = self._fill(scratch.data[: min(skip, len(scratch))])
                        if not n:
                            break
                        skip -= n
                got = self._fill(out.reshape(-1).view(np.uint8).data)
            except LabelmapError:
                raise
            except Exception as exc:  # zlib / gzip errors: damaged or truncated data
                self.close()
                raise fail(self.path, describe_read_error(exc)) from None
            if skip or got < out.nbytes:
                self.close()
                raise fail(
                    self.path,
                    f"the gzip data ends inside row {start + got // row_bytes + 1} of {rows}; "
                    "the file is truncated - write or copy it again",
                )
            self._row = stop
        return out if out.dtype == self.dtype else out.astype(self.dtype)


# --------------------------------------------------------------------------- reading
def _header(p: Path) -> tuple[dict, int, np.dtype]:
    """(header, offset of attached data, dtype): our fast parser, else pynrrd's."""
    with open(p, "rb") as fh:
        quick = quick_header(fh)
    if quick is not None:
        dtype = quick_dtype(quick[0])
        if dtype is not None:
            return quick[0], quick[1], dtype
    import nrrd

    with open(p, "rb") as fh:
        header = nrrd.read_header(fh)
        offset = fh.tell()
    return header, offset, np.dtype(nrrd.reader._determine_datatype(header))


def _plane_axes(sizes: list[int], p: Path) -> tuple[int, int]:
    """Indices of the (column, row) axes among ``sizes``: dimension 2, or 3 with a size-1 axis."""
    if len(sizes) == 2:
        return 0, 1
    if len(sizes) == 3:
        keep = [k for k, n in enumerate(sizes) if n != 1]
        if len(keep) == 2:
            return keep[0], keep[1]
        if len(keep) < 2:
            return (0, 1) if sizes[2] == 1 else (0, 2) if sizes[1] == 1 else (1, 2)
    raise fail(
        p,
        f"sizes {sizes} are not a 2-D image; slide label images are 2-D NRRDs "
        "(dimension 2, or 3 with one axis of size 1)",
    )


def _spacing(header: dict, axes: tuple[int, int], p: Path) -> tuple[tuple[float, float] | None, np.ndarray | None]:
    """((between rows, between columns) in mm, or None; the two axis vectors when given)."""
    units = header.get("space units")
    scale = 1.0
    if units is not None:
        names = [str(u).strip().strip('"').lower() for u in (units if isinstance(units, list) else str(units).split())]
        known = {_UNITS.get(n) for n in names}
        if len(known) == 1 and None not in known:
            scale = known.pop()  # type: ignore[assignment]
    dirs = header.get("space directions")
    if dirs is not None:
        vecs = np.asarray(dirs, dtype=np.float64)
        if vecs.ndim != 2 or vecs.shape[0] <= max(axes):
            raise fail(p, f"'space directions' has {vecs.shape[0] if vecs.ndim else 0} vectors for its axes")
        vecs = vecs[list(axes)] * scale
        if not np.all(np.isfinite(vecs)):
            raise fail(p, "'space directions' of the image axes are not finite (NaN, infinity or 'none')")
        norms = np.linalg.norm(vecs, axis=1)
        if np.any(norms <= 0):
            raise fail(p, "'space directions' has a zero-length vector")
        return (float(norms[1]), float(norms[0])), vecs
    sp = header.get("spacings")
    if sp is not None:
        values = np.asarray(sp, dtype=np.float64).ravel()
        if values.size > max(axes):
            col, row = abs(values[axes[0]]) * scale, abs(values[axes[1]]) * scale
            if math.isfinite(col) and math.isfinite(row) and col > 0 and row > 0:
                return (float(row), float(col)), None
    return None, None


def _hint(header: dict, shape: tuple[int, int], axes: tuple[int, int], p: Path) -> SlideGeometry | None:
    spacing, vecs = _spacing(header, axes, p)
    if spacing is None:
        return None
    extra: dict[str, Any] = {}
    raw_origin = header.get("space origin")
    if vecs is not None and raw_origin is not None:
        o = np.asarray(raw_origin, dtype=np.float64).ravel()
        unit = vecs / np.linalg.norm(vecs, axis=1)[:, np.newaxis]
        identity = vecs.shape[1] >= 2 and np.allclose(unit[:, :2], np.eye(2), atol=1e-9)
        if identity and o.size >= 2 and np.all(np.isfinite(o)):
            extra = {"origin": (float(o[0]), float(o[1]), 0.0), "orientation": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)}
    return SlideGeometry(shape[0], shape[1], 256, 256, pixel_spacing=spacing, **extra)


def read_nrrd_labels(path: PathLike) -> tuple[list[Any], SlideGeometry | None]:
    """Open a 2-D NRRD label image for reading by bands.

    Returns
    -------
    (list of one layer, SlideGeometry or None)
        The layer (raw data memory-mapped, gzip data inflated as rows are asked for) and the
        geometry hint: size and spacing, plus origin when the axes are the slide's X / Y.

    Raises
    ------
    ImageFormatError
        Not a 2-D NRRD, damaged or truncated, or a pixel type that is not a label type.
    """
    p = Path(path)
    size = checked_file(p, fail)
    try:
        header, offset, dtype = _header(p)
    except LabelmapError:
        raise
    except Exception as exc:
        raise fail(p, describe_read_error(exc)) from None
    if dtype.kind not in "biuf":
        raise fail(p, f"pixel type {dtype} is not a label type")
    try:
        sizes = [int(n) for n in header["sizes"]]
    except (KeyError, TypeError, ValueError):
        raise fail(p, "the header has no usable 'sizes' field") from None
    if any(n < 1 for n in sizes):
        raise fail(p, f"the image is zero-sized (sizes {sizes})")
    axes = _plane_axes(sizes, p)
    shape = (sizes[axes[1]], sizes[axes[0]])
    need = shape[0] * shape[1] * dtype.itemsize
    hint = _hint(header, shape, axes, p)
    encoding = str(header.get("encoding", "")).strip().lower()
    data_name = header.get("data file", header.get("datafile"))
    skips = int(header.get("line skip", header.get("lineskip", 0)) or 0)
    byte_skip = int(header.get("byte skip", header.get("byteskip", 0)) or 0)
    data_path, data_size = p, size
    if data_name is not None:
        name = str(data_name).strip()
        if " " in name:  # a LIST or a file-name pattern
            return _whole(p, dtype, shape, need, hint, "a 'data file' list or pattern")
        data_path = Path(name) if Path(name).is_absolute() else p.parent / name
        data_size = checked_file(data_path, lambda _q, why: fail(p, f"its data file {name!r}: {why}"))
        offset = 0
    if skips:
        return _whole(p, dtype, shape, need, hint, "'line skip'")
    if encoding == "raw":
        if byte_skip == -1:
            offset = data_size - need
        else:
            offset += byte_skip
        if offset < 0 or data_size - offset < need:
            raise fail(
                p,
                f"the data holds {max(0, data_size - offset)} bytes but the header's sizes {sizes} of "
                f"{dtype.name} need {need}; the file is truncated - write or copy it again",
            )
        data, mapping = map_file(data_path, offset, dtype, shape)
        return [ArrayLayer(data, p, mapping)], hint
    if encoding in ("gzip", "gz") and byte_skip == 0:
        return [GzipRowsLayer(p, data_path, offset, shape, dtype)], hint
    return _whole(p, dtype, shape, need, hint, f"encoding {encoding!r}")


def _whole(p: Path, dtype: np.dtype, shape: tuple[int, int], need: int, hint: Any, why: str) -> tuple[list, Any]:
    """A NRRD that cannot be read by bands (``why``), decoded whole when small enough."""
    if need > WHOLE_LIMIT:
        raise UnsupportedError(
            f"{why} is decoded whole, and {shape[0]} x {shape[1]} pixels of {dtype.name} is too large for that; "
            "save the image with raw or gzip encoding and attached data",
            path=p,
        )
    from labelmap.formats.nrrd import read_data_and_header

    data, _ = read_data_and_header(p)
    return [ArrayLayer(np.ascontiguousarray(data).reshape(shape), p)], hint


# --------------------------------------------------------------------------- writing
#: NRRD's names of the float types (integer types go by NumPy's name)
_FLOAT_NAMES = {"float32": "float", "float64": "double"}


def _vec(values: Iterable[float]) -> str:
    return "(" + ",".join(repr(float(v)) for v in values) + ")"


def nrrd_slide_header(shape: tuple[int, int], dtype: np.dtype, geometry: SlideGeometry | None, compress: bool) -> bytes:
    """The attached header of a 2-D slide NRRD, ending in its blank line."""
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_FLOAT_NAMES.get(dtype.name, dtype.name)}",
        "dimension: 2",
    ]
    if geometry is not None:
        row_mm, col_mm = geometry.pixel_spacing
        lines += ["space dimension: 2", f"space directions: {_vec((col_mm, 0.0))} {_vec((0.0, row_mm))}"]
    lines += [f"sizes: {shape[1]} {shape[0]}", "kinds: domain domain", "endian: little"]
    lines.append("encoding: " + ("gzip" if compress else "raw"))
    if geometry is not None:
        lines.append('space units: "mm" "mm"')
        if np.allclose(geometry.orientation, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), atol=1e-9):
            lines.append(f"space origin: {_vec(geometry.origin[:2])}")
    return ("\n".join(lines) + "\n\n").encode("ascii")


class _GzipWriter:
    """One gzip member written piece by piece: each piece raw-deflated in parts on threads.

    Parts end with a full flush (byte-aligned, no back-references across them), so they
    concatenate to one valid deflate stream; the trailer's CRC-32 and size follow the data.
    """

    def __init__(self, fh: IO[bytes], threads: int | None, level: int = 1) -> None:
        self._fh = fh
        self._threads = threads
        self._level = level
        self._crc = 0
        self._size = 0
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")  # no name, time stamp 0: same data, same bytes

    def write(self, data: memoryview) -> None:
        n = len(data)
        parts = parts_for(self._threads, n, 4 << 20, max(1, n >> 22))
        out: list[bytes] = [b""] * parts
        bounds = [n * i // parts for i in range(parts + 1)]

        def work(i: int) -> None:
            c = raw_compressor(self._level)
            out[i] = c.compress(data[bounds[i] : bounds[i + 1]]) + c.flush(zlib.Z_FULL_FLUSH)

        run_parts(work, parts, "gzip")
        self._crc = zlib.crc32(data, self._crc)
        self._size += n
        for piece in out:
            self._fh.write(piece)

    def close(self) -> None:
        self._fh.write(b"\x03\x00")  # a final, empty fixed-Huffman block
        self._fh.write((self._crc & 0xFFFFFFFF).to_bytes(4, "little") + (self._size & 0xFFFFFFFF).to_bytes(4, "little"))


def write_nrrd_labels(
    path: PathLike,
    bands: Iterable[tuple[int, Any]],
    *,
    shape: tuple[int, int],
    dtype: Any,
    geometry: SlideGeometry | None = None,
    layers: int = 1,
    compress: bool = True,
    threads: int | None = None,
) -> None:
    """Write bands of a label image as a 2-D NRRD (gzip as one stream, or raw), atomically.

    Parameters
    ----------
    path
        The ``.nrrd`` file (attached data).
    bands
        ``(row0, (h, columns) array)`` in row order.
    shape, dtype
        The image's (rows, columns) and pixel type (bool is stored as uint8 0/1).
    geometry
        Its slide geometry: the spacing (and, when axis-aligned, the origin) is written.
    layers
        Must be 1: a NRRD stores one layer here (write one file per segment).
    compress
        gzip the data (else raw).
    threads
        Threads compressing each band (None: every core).

    Raises
    ------
    UnsupportedError
        Several layers.
    ImageFormatError
        A pixel type NRRD cannot store.
    OutputError
        The file cannot be written.
    """
    target = Path(path)
    if layers != 1:
        raise UnsupportedError(
            f"a 2-D NRRD holds one layer, not {layers}: write one file per segment, or an OME-TIFF", path=target
        )
    if target.name.lower().endswith(".nhdr"):
        raise UnsupportedError("slide label images are written as attached .nrrd files, not .nhdr", path=target)
    store = stored_dtype(dtype)
    if store.kind not in "iuf":
        raise ImageFormatError(f"cannot store pixel type {np.dtype(dtype)} in a NRRD label image", path=target)
    rows, columns = int(shape[0]), int(shape[1])
    head = nrrd_slide_header((rows, columns), store, geometry, compress)
    checked = checked_bands(bands, shape=(rows, columns), dtype=store, layers=1)
    with output_errors(target), atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        gz = _GzipWriter(fh, threads) if compress else None
        for band in checked:
            data = np.ascontiguousarray(band).data.cast("B")
            if gz is not None:
                gz.write(data)
            else:
                fh.write(data)
        if gz is not None:
            gz.close()
