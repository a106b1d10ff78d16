"""Slide label images in and out, by file name: the one entry point of the slide formats.

:func:`read_slide_labels` opens a 2-D label image without reading it: TIFF / BigTIFF /
OME-TIFF (tiled or striped, compressed; pages = layers), PNG (small, decoded whole), 2-D NRRD
(``.nrrd`` / ``.nhdr``; raw mapped, gzip streamed) and NumPy ``.npy`` (memory-mapped); its
layers are :class:`~labelmap.model.SlideLabels` read by rows.  :func:`write_slide_labels`
writes bands as a tiled, compressed OME-TIFF (``.ome.tif``), a tiled TIFF (``.tif``) or a 2-D
NRRD (``.nrrd``), never holding the whole matrix, atomically.  tifffile and Pillow are
imported only when a TIFF or PNG is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labelmap.errors import ImageFormatError
from labelmap.formats.base import PathLike, read_error
from labelmap.model import SlideGeometry, SlideLabels

__all__ = ["SLIDE_READ_SUFFIXES", "SLIDE_WRITE_SUFFIXES", "is_slide_image", "read_slide_labels", "write_slide_labels"]

#: Name endings read as slide label images (any case), and what reads them.
_READERS = {
    ".ome.tiff": "tiff",
    ".ome.tif": "tiff",
    ".tiff": "tiff",
    ".tif": "tiff",
    ".btf": "tiff",
    ".png": "png",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".npy": "npy",
}
SLIDE_READ_SUFFIXES = tuple(_READERS)
#: Name endings written, and what writes them.
_WRITERS = {".ome.tiff": "ome", ".ome.tif": "ome", ".tiff": "tiff", ".tif": "tiff", ".nrrd": "nrrd"}
SLIDE_WRITE_SUFFIXES = tuple(_WRITERS)

#: What a file's first bytes say it is: (magic, kind, suffix to rename to)
_MAGICS = (
    (b"II*\x00", "TIFF", ".tif"),
    (b"MM\x00*", "TIFF", ".tif"),
    (b"II+\x00", "BigTIFF", ".tif"),
    (b"MM\x00+", "BigTIFF", ".tif"),
    (b"\x89PNG\r\n\x1a\n", "PNG", ".png"),
    (b"NRRD000", "NRRD", ".nrrd"),
    (b"\x93NUMPY", "NumPy", ".npy"),
)
_TITLES = {"tiff": "TIFF file", "png": "PNG file", "nrrd": "NRRD file", "npy": "NumPy file"}


def _kind(path: PathLike, table: dict[str, str]) -> str | None:
    name = Path(path).name.lower()
    return next((table[s] for s in table if name.endswith(s)), None)


def is_slide_image(path: PathLike) -> bool:
    """True when ``path``'s name is one :func:`read_slide_labels` reads (NRRD included: a 3-D one is a volume)."""
    return _kind(path, _READERS) is not None


def _content(path: PathLike) -> tuple[str, str] | None:
    """(kind, suffix) that the file's first bytes show, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    return next(((kind, suffix) for magic, kind, suffix in _MAGICS if head.startswith(magic)), None)


def read_slide_labels(path: PathLike, *, threads: int | None = None) -> tuple[list[SlideLabels], SlideGeometry | None]:
    """Open a 2-D label image for reading by rows: its layers and the geometry it states.

    Parameters
    ----------
    path
        ``.tif`` / ``.tiff`` / ``.ome.tif`` / ``.btf``, ``.png``, ``.nrrd`` / ``.nhdr`` or ``.npy``.
    threads
        Threads decoding a band of a TIFF (None: every core; see :class:`~labelmap._util.resources.Resources`).

    Returns
    -------
    (list of SlideLabels, SlideGeometry or None)
        One layer for a label map; one per page (TIFF) or per leading index (3-D ``.npy``)
        for BINARY / FRACTIONAL.  The hint gives the size and pixel spacing when the file
        states a spacing (OME PhysicalSizeX/Y, TIFF resolution in cm or inch, 2-D NRRD space
        directions, PNG pHYs); its origin and orientation are defaults unless a 2-D NRRD's
        axes are the slide's X / Y.  Nothing of the pixel data is read yet.

    Raises
    ------
    ImageFormatError
        An unknown extension, or a file that cannot be read (the message says why, and what
        the file is when its content is another format's).
    MissingDependencyError
        tifffile (TIFF) or Pillow (PNG) is not installed.
    UnsupportedError
        A NRRD encoding that cannot be read by bands, on an image too large to decode whole.
    """
    kind = _kind(path, _READERS)
    if kind is None:
        raise ImageFormatError(
            f"cannot tell the label image format of {str(path)!r} from its extension; "
            f"slide label images are {', '.join(SLIDE_READ_SUFFIXES)}"
        )
    try:
        return _read(kind, path, threads)
    except ImageFormatError:
        found = _content(path)
        if found is not None and _TITLES.get(kind, "").split()[0] not in found[0]:
            raise read_error(_TITLES[kind], path, f"it is a {found[0]} file; rename it to end in {found[1]}") from None
        raise


def _read(kind: str, path: PathLike, threads: int | None) -> tuple[list[Any], SlideGeometry | None]:
    if kind == "tiff":
        from labelmap.formats.slide_tiff import read_tiff_labels

        return read_tiff_labels(path, threads=threads)
    if kind == "png":
        from labelmap.formats.slide_simple import read_png_labels

        return read_png_labels(path)
    if kind == "npy":
        from labelmap.formats.slide_simple import read_npy_labels

        return read_npy_labels(path)
    from labelmap.formats.slide_nrrd import read_nrrd_labels

    return read_nrrd_labels(path)


def write_slide_labels(
    path: PathLike,
    bands: Iterable[tuple[int, Any]],
    *,
    shape: tuple[int, int],
    dtype: Any,
    geometry: SlideGeometry | None = None,
    layers: int = 1,
    tile: tuple[int, int] = (256, 256),
    compress: bool = True,
    threads: int | None = None,
) -> None:
    """Write a slide label image from bands, never holding it whole; the file appears only when complete.

    Parameters
    ----------
    path
        ``.ome.tif`` / ``.ome.tiff`` (tiled deflate OME-TIFF with PhysicalSizeX/Y in um; layers
        as channels), ``.tif`` / ``.tiff`` (the same without OME-XML; spacing as resolution in
        cm) or ``.nrrd`` (2-D, ``space directions`` from the spacing; one layer).
    bands
        ``(row0, band)`` in row order without gaps, ``band`` ``(h, columns)`` or
        ``(layers, h, columns)``; any heights (tile rows are best).
    shape, dtype
        (rows, columns) of the image and its pixel type (bool is stored as uint8 0/1).
    geometry
        The slide geometry whose pixel spacing (and NRRD origin) is written; None: none.
    layers
        Layers (pages / channels) per file.
    tile
        TIFF tile (rows, columns), rounded up to a multiple of 16.
    compress
        Compress (deflate tiles, gzip NRRD); TIFFs are always compressed, a NRRD may be raw.
    threads
        Threads compressing (None: every core).

    Raises
    ------
    ImageFormatError
        An extension that is not written, or a pixel type the format cannot store.
    UnsupportedError
        Several layers in a NRRD.
    MissingDependencyError
        tifffile is not installed (TIFF output).
    OutputError
        The file cannot be written.
    """
    kind = _kind(path, _WRITERS)
    if kind is None:
        raise ImageFormatError(
            f"cannot write a slide label image named {str(path)!r}; use {', '.join(SLIDE_WRITE_SUFFIXES)}"
        )
    if kind == "nrrd":
        from labelmap.formats.slide_nrrd import write_nrrd_labels

        write_nrrd_labels(
            path, bands, shape=shape, dtype=dtype, geometry=geometry, layers=layers, compress=compress, threads=threads
        )
        return
    from labelmap.formats.slide_tiff_write import write_tiff_labels

    write_tiff_labels(
        path,
        bands,
        shape=shape,
        dtype=dtype,
        geometry=geometry,
        layers=layers,
        tile=tile,
        ome=kind == "ome",
        threads=threads,
    )
