"""PNG (small images, decoded whole) and NumPy ``.npy`` (memory-mapped) slide label images.

A ``.npy`` file is mapped, never read: rows come from the page cache as bands are asked for.
A 2-D array is one layer; a 3-D array ``(layers, rows, columns)`` holds one layer per segment.
A PNG is decoded by Pillow in one piece, so it is refused above :data:`PNG_MAX_PIXELS` with a
hint to use a tiled TIFF or ``.npy`` instead.
"""

from __future__ import annotations

import mmap
import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from labelmap._util.resources import check_grid
from labelmap.errors import ImageFormatError, MissingDependencyError
from labelmap.formats.base import PathLike, read_error
from labelmap.formats.slide_bands import BandPool
from labelmap.model import SlideGeometry

__all__ = ["ArrayLayer", "read_npy_labels", "read_png_labels", "PNG_MAX_PIXELS", "checked_file"]

#: The largest PNG read (about 1 Gpx): it is decoded whole.
PNG_MAX_PIXELS = 1 << 30
#: Pixel kinds a label image may hold: bool, signed / unsigned integers, floats (FRACTIONAL).
_KINDS = "biuf"

fail_png = partial(read_error, "PNG file")
fail_npy = partial(read_error, "NumPy file")


#: A mapped file's pages are dropped from this process after this many bytes were read through it.
_RELEASE_BYTES = 64 << 20


class ArrayLayer:
    """:class:`~labelmap.model.SlideLabels` over a 2-D array or a mapped file: rows in native byte order, C order.

    ``read_rows`` copies only the rows asked for.  When the array lies on ``mapping`` (a file
    mapped by :func:`map_file`), the pages read are handed back every 64 MB read
    (``MADV_DONTNEED``): they stay in the page cache, but do not pile up in this process's
    resident set, so reading a 16 GB ``.npy`` costs a band, not the file.
    """

    def __init__(self, array: np.ndarray, path: Path | None = None, mapping: mmap.mmap | None = None) -> None:
        if array.ndim != 2:
            raise ValueError(f"a slide label layer is 2-D, got shape {array.shape}")
        self._array = array
        self._mapping = mapping
        self._read = 0
        self._pool = BandPool()
        self._lock = threading.Lock()
        self.path = path

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self._array.shape[0]), int(self._array.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype.newbyteorder("=")

    def __repr__(self) -> str:
        return f"ArrayLayer({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new C-contiguous array of :attr:`dtype`."""
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.shape[0]:
            raise ValueError(f"rows {start}:{stop} are outside the image's {self.shape[0]} rows")
        check_grid((stop - start, self.shape[1]), self.dtype.itemsize, "label band", path=self.path)
        with self._lock:  # the band pool and the page count are this layer's state
            out = self._pool.empty((stop - start, self.shape[1]), self.dtype)
            out[...] = self._array[start:stop]
            if self._mapping is not None:
                self._read += out.nbytes
                if self._read >= _RELEASE_BYTES and hasattr(self._mapping, "madvise"):
                    self._read = 0
                    self._mapping.madvise(mmap.MADV_DONTNEED)
        return out


def map_file(
    path: Path, offset: int, dtype: np.dtype, shape: tuple[int, ...], fortran: bool = False
) -> tuple[np.ndarray, mmap.mmap]:
    """A read-only array of ``shape`` at ``offset`` of ``path``, on a mapping of the file (checked to be long enough
    by the caller), and the mapping (for :class:`ArrayLayer` to release pages)."""
    with open(path, "rb") as fh:
        mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    count = 1
    for n in shape:
        count *= int(n)
    flat = np.frombuffer(mapping, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C"), mapping


def checked_file(p: Path, fail: Any) -> int:
    """The size of ``p``, which must be a non-empty regular file (else ``fail(path, why)`` is raised)."""
    import stat

    from labelmap._util.atomic import kind_of

    try:
        st = p.stat()
    except FileNotFoundError:
        raise fail(p, "file not found") from None
    except OSError as exc:
        raise fail(p, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise fail(p, f"is {kind_of(st.st_mode)}, not a file")
    if st.st_size == 0:
        raise fail(p, "the file is empty (0 bytes)")
    return st.st_size


def _check_dtype(dtype: np.dtype, p: Path, fail: Any) -> None:
    if dtype.fields is not None or dtype.kind not in _KINDS or dtype.subdtype is not None:
        raise fail(
            p,
            f"pixel type {dtype} is not a label type (use bool, integers, or floats for FRACTIONAL "
            "probabilities; structured and object arrays are refused)",
        )


# --------------------------------------------------------------------------- .npy
def read_npy_labels(path: PathLike) -> tuple[list[ArrayLayer], SlideGeometry | None]:
    """Memory-map a ``.npy`` file: a 2-D array is one layer, a 3-D one ``(layers, rows, columns)`` several.

    Returns
    -------
    (list of ArrayLayer, None)
        The layers (read lazily through the map); ``.npy`` carries no spacing.

    Raises
    ------
    ImageFormatError
        Not a ``.npy`` file, truncated, zero-sized, not 2-D / 3-D, or of a non-label type.
    """
    p = Path(path)
    size = checked_file(p, fail_npy)
    with open(p, "rb") as fh:
        head = fh.read(6)
    if head != b"\x93NUMPY":
        raise fail_npy(p, f"not a NumPy .npy file (it starts with {head!r}; .npz archives are not supported)")
    try:
        with open(p, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise fail_npy(p, f"damaged .npy header ({exc})") from None
    if dtype.hasobject:
        raise fail_npy(p, "it holds Python objects, not a label array")
    _check_dtype(dtype, p, fail_npy)
    if len(shape) not in (2, 3):
        raise fail_npy(
            p, f"a {len(shape)}-D array of shape {shape}; slide labels are (rows, columns) or (layers, rows, columns)"
        )
    if 0 in shape:
        raise fail_npy(p, f"the array is zero-sized (shape {shape})")
    need = dtype.itemsize
    for n in shape:
        need *= int(n)
    if size - offset < need:
        raise fail_npy(
            p,
            f"the data holds {size - offset} bytes but its header's shape {shape} of {dtype} needs {need}: "
            "the file is truncated - write or copy it again",
        )
    array, mapping = map_file(p, offset, dtype, shape, fortran)
    planes = [array] if array.ndim == 2 else [array[k] for k in range(array.shape[0])]
    return [ArrayLayer(plane, p, mapping) for plane in planes], None


# --------------------------------------------------------------------------- PNG
_PIL_LOCK = threading.Lock()
#: Pillow modes that are label images, and the pixel type they give
_PNG_MODES = {"1": "bool", "L": "uint8", "P": "uint8", "I;16": "uint16", "I;16B": "uint16", "I": "int32"}


def _png_size(p: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when the file does not start one."""
    with open(p, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def read_png_labels(path: PathLike) -> tuple[list[ArrayLayer], SlideGeometry | None]:
    """Decode a PNG label image (grayscale 1/8/16-bit, or palette indices) with Pillow.

    Returns
    -------
    (list of one ArrayLayer, SlideGeometry or None)
        The label image, and its spacing when the file's pHYs chunk gives one in metres.

    Raises
    ------
    MissingDependencyError
        Pillow is not installed.
    ImageFormatError
        Not a PNG, too large to decode whole, damaged, or a colour image.
    """
    p = Path(path)
    checked_file(p, fail_png)
    size = _png_size(p)
    if size is None:
        raise fail_png(p, "not a PNG file (no PNG signature and IHDR chunk)")
    width, height = size
    if width == 0 or height == 0:
        raise fail_png(p, f"the image is zero-sized ({height} x {width} pixels)")
    if width * height > PNG_MAX_PIXELS:
        raise fail_png(
            p,
            f"{height} x {width} pixels is too large for a PNG, which is decoded whole; "
            "save large label images as a tiled TIFF (.tif) or a NumPy .npy file",
        )
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "reading PNG label images needs the Pillow package: pip install pillow (or pip install 'labelmap[slide]')"
        ) from None
    check_grid((height, width), 2, "PNG image", path=p)
    try:
        with _PIL_LOCK:  # Pillow's bomb limit is a module global: lifted for this file only, under a lock
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                image = Image.open(p)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
        with image:
            mode = image.mode
            if mode not in _PNG_MODES:
                bands = len(image.getbands())
                raise fail_png(
                    p,
                    f"not a label image: {bands} samples per pixel (mode {mode}); "
                    "label images are grayscale or palette indices, one value per pixel",
                )
            image.load()
            array = np.asarray(image)
            dpi = image.info.get("dpi")
    except ImageFormatError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise fail_png(p, f"damaged PNG data ({exc}); the file is incomplete - write or copy it again") from None
    if array.ndim != 2:
        raise fail_png(p, f"not a label image: decoded to shape {array.shape}")
    hint = None
    if dpi is not None:
        try:
            xd, yd = (float(v) for v in dpi)
            if xd > 0 and yd > 0:
                hint = SlideGeometry(height, width, 256, 256, pixel_spacing=(25.4 / yd, 25.4 / xd))
        except (TypeError, ValueError):
            hint = None
    return [ArrayLayer(np.ascontiguousarray(array), p)], hint


def file_head(path: PathLike, n: int = 16) -> bytes:
    """The first ``n`` bytes of ``path`` (empty when it cannot be read)."""
    try:
        with open(os.fspath(path), "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""
