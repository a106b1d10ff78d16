"""TIFF / BigTIFF / OME-TIFF slide label images, read band by band: never whole.

tifffile parses the file's structure (imported only here, lazily); the pixels are read by
us, tile by tile (or strip by strip), only for the rows asked for.  Deflate tiles with no
predictor or the horizontal one - what label-map writers produce - are read with ``pread`` and
inflated by zlib-ng on threads straight into the band; tiles whose compressed bytes were seen
before and held one value (background) are filled without inflating; every other compression
goes through tifffile's decoder (imagecodecs), on threads too.  The last segment row read in
part is kept, so bands that cut through tiles decode each tile once.

Which pages are layers: an OME-TIFF, ImageJ or pyramidal TIFF gives the pages of its first
series at full resolution; any other TIFF gives every page of the first page's size that is not
a reduced-resolution copy.  Pages must hold one sample per pixel (a label image, not RGB).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from labelmap._util.resources import check_grid
from labelmap._util.threads import parts_for, run_parts
from labelmap.errors import ImageFormatError, LabelmapError, MissingDependencyError
from labelmap.formats.base import PathLike, read_error
from labelmap.formats.slide_bands import BandPool
from labelmap.formats.slide_simple import checked_file
from labelmap.formats.slide_tiff_meta import tiff_spacing
from labelmap.model import SlideGeometry

__all__ = ["TiffSlideLabels", "read_tiff_labels", "tifffile_module", "TIFF_MAGICS"]

#: First four bytes of little/big-endian classic TIFF and BigTIFF files.
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: The error for a TIFF file that cannot be read, and why.
fail = partial(read_error, "TIFF file")

#: Compression codes of deflate (Adobe deflate, old-style deflate): a zlib stream per segment.
_DEFLATE = (8, 32946)
#: Compressed segments up to this size are remembered with the value they held when constant.
_CONSTANT_RAW = 4096
_CONSTANT_CACHE = 4096
#: Segment rows smaller than this are decoded on one thread.
_THREAD_BYTES = 1 << 22
#: Bytes a deflate stream may inflate to per compressed byte (1032:1 is the format's limit).
_DEFLATE_RATIO = 1040


def tifffile_module(action: str) -> ModuleType:
    """The ``tifffile`` module, or a one-line error saying how to install it.

    Raises
    ------
    MissingDependencyError
        tifffile is not installed.
    """
    try:
        import tifffile
    except ImportError:
        raise MissingDependencyError(
            f"{action} needs the tifffile package: pip install tifffile (or pip install 'labelmap[slide]')"
        ) from None
    return tifffile


def _inflater() -> Callable[..., Any]:
    try:
        from zlib_ng import zlib_ng as lib
    except ImportError:  # pragma: no cover - zlib-ng is a dependency
        import zlib as lib  # type: ignore[no-redef]
    return lib  # type: ignore[return-value]


@dataclass(frozen=True)
class _Page:
    """What reading one page needs, taken from tifffile's parse (the file itself is read by us)."""

    index: int
    rows: int
    columns: int
    seg_rows: int  # tile length, or rows per strip
    seg_columns: int  # tile width, or the image width
    tiled: bool
    offsets: np.ndarray  # int64, one per segment
    counts: np.ndarray
    compression: int
    predictor: int
    file_dtype: np.dtype  # as stored (byte order of the file)
    bits: int
    decode: Callable[..., Any]
    jpegtables: bytes | None

    @property
    def across(self) -> int:
        """Segments per segment row."""
        return -(-self.columns // self.seg_columns)

    @property
    def down(self) -> int:
        return -(-self.rows // self.seg_rows)

    @property
    def dtype(self) -> np.dtype:
        return self.file_dtype.newbyteorder("=")

    @property
    def fast(self) -> bool:
        """Segments this module inflates itself: deflate, no or horizontal predictor, whole-byte samples."""
        return (
            self.compression in _DEFLATE
            and self.predictor in (1, 2)
            and self.file_dtype.kind in "iu" + ("f" if self.predictor == 1 else "")
            and self.bits == 8 * self.file_dtype.itemsize
        )

    def segment_rows(self, seg_row: int) -> int:
        """Rows a segment of ``seg_row`` decodes to (a tile is always whole; the last strip may be short)."""
        if self.tiled:
            return self.seg_rows
        return min(self.seg_rows, self.rows - seg_row * self.seg_rows)

    def segment_bytes(self, seg_row: int) -> int:
        """Decoded bytes of a segment in ``seg_row``."""
        return self.segment_rows(seg_row) * -(-self.seg_columns * self.bits // 8)


class _RawFile:
    """The file opened once for ``pread`` (thread-safe, no file position, no mapping in the resident set)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    def read(self, offset: int, size: int) -> bytes:
        data = os.pread(self.fd, size, offset)
        while len(data) < size:  # pread may return less (signals, some file systems)
            more = os.pread(self.fd, size - len(data), offset + len(data))
            if not more:
                break
            data += more
        return data

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass


class TiffSlideLabels:
    """One page of a TIFF as :class:`~labelmap.model.SlideLabels`: rows decoded on demand.

    Only the tiles (or strips) overlapping the rows asked for are read; a segment row read in
    part is kept until another is, so consecutive bands that cut through it decode it once.
    """

    def __init__(self, raw: _RawFile, page: _Page, *, threads: int | None = None) -> None:
        self._raw = raw
        self._page = page
        self._threads = threads
        self._lock = threading.Lock()
        self._cached: tuple[int, np.ndarray] | None = None
        self._constants: dict[bytes, Any] = {}
        self._zlib = _inflater() if page.fast else None
        self._pool = BandPool()

    @property
    def shape(self) -> tuple[int, int]:
        return (self._page.rows, self._page.columns)

    @property
    def dtype(self) -> np.dtype:
        return self._page.dtype

    @property
    def path(self) -> Path:
        return self._raw.path

    @property
    def page(self) -> int:
        """0-based index of the TIFF page (IFD) this layer reads."""
        return self._page.index

    @property
    def tile_shape(self) -> tuple[int, int]:
        """(rows, columns) of the file's tiles, or (rows per strip, width) of its strips."""
        return (self._page.seg_rows, self._page.seg_columns)

    def __repr__(self) -> str:
        return (
            f"TiffSlideLabels({str(self._raw.path)!r}, page={self._page.index}, shape={self.shape}, dtype={self.dtype})"
        )

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new C-contiguous (stop - start, columns) array.

        Raises
        ------
        ImageFormatError
            A tile or strip in these rows is damaged.
        ResourceError
            The band would not fit in memory.
        """
        p = self._page
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= p.rows:
            raise ValueError(f"rows {start}:{stop} are outside the image's {p.rows} rows")
        check_grid((stop - start, p.columns), p.dtype.itemsize, "label band", path=self._raw.path)
        with self._lock, nullcontext() if p.fast else quiet_tifffile():
            out = self._pool.empty((stop - start, p.columns), p.dtype)
            for seg_row in range(start // p.seg_rows, (stop - 1) // p.seg_rows + 1):
                r0 = seg_row * p.seg_rows
                r1 = min(r0 + p.seg_rows, p.rows)
                a, b = max(start, r0), min(stop, r1)
                if a == r0 and b == r1:
                    self._decode_row(seg_row, out[a - start : b - start])
                else:
                    out[a - start : b - start] = self._segment_row(seg_row)[a - r0 : b - r0]
        return out

    # ------------------------------------------------------------------ decoding
    def _segment_row(self, seg_row: int) -> np.ndarray:
        """A whole segment row (kept for the next band)."""
        if self._cached is not None and self._cached[0] == seg_row:
            return self._cached[1]
        p = self._page
        self._cached = None
        rows = min(p.seg_rows, p.rows - seg_row * p.seg_rows)
        check_grid((rows, p.columns), p.dtype.itemsize, "tile row", path=self._raw.path)
        buf = np.empty((rows, p.columns), dtype=p.dtype)
        self._decode_row(seg_row, buf)
        self._cached = (seg_row, buf)
        return buf

    def _row_bytes(self, offsets: list[int], counts: list[int]) -> tuple[memoryview | None, int]:
        """The bytes of a segment row's segments in one ``pread`` when they lie close together
        (writers store them in order), as (view, file offset of its first byte); else (None, 0)."""
        spans = [(o, o + c) for o, c in zip(offsets, counts) if c]
        if not spans:
            return None, 0
        lo = min(a for a, _ in spans)
        hi = max(b for _, b in spans)
        if hi - lo > 2 * sum(counts) + (1 << 20):
            return None, 0
        return memoryview(self._raw.read(lo, hi - lo)), lo

    def _decode_row(self, seg_row: int, target: np.ndarray) -> None:
        """Decode every segment of ``seg_row`` into ``target`` (its rows, all columns), on threads.

        Runs of neighbouring segments that hold one value (empty, or compressed bytes seen to
        hold one value before) are filled with one call; the others are decoded.
        """
        p = self._page
        n = p.across
        first = seg_row * n
        offsets = p.offsets[first : first + n].tolist()
        counts = p.counts[first : first + n].tolist()
        blob, base = self._row_bytes(offsets, counts)
        parts = parts_for(self._threads, target.nbytes, _THREAD_BYTES, n)
        width = p.seg_columns

        def work(i: int) -> None:
            run_start, run_value = -1, None

            def flush(stop: int) -> None:
                if run_start >= 0:
                    target[:, run_start * width : stop * width].fill(run_value)

            for j in range(n * i // parts, n * (i + 1) // parts):
                count = counts[j]
                value = 0 if count == 0 else None
                raw: bytes | memoryview = b""
                if count:
                    if blob is not None and offsets[j] - base + count <= len(blob):
                        raw = blob[offsets[j] - base : offsets[j] - base + count]
                    else:
                        raw = self._raw.read(offsets[j], count)
                    if count <= _CONSTANT_RAW:
                        raw = bytes(raw)
                        value = self._constants.get(raw)
                if value is None:
                    flush(j)
                    run_start = -1
                    self._decode_segment(first + j, seg_row, target, raw)
                elif run_start < 0 or value != run_value:
                    flush(j)
                    run_start, run_value = j, value
            flush(n * (i + 1) // parts)

        run_parts(work, parts, "tiff-decode")

    def _decode_segment(self, index: int, seg_row: int, target: np.ndarray, raw: bytes | memoryview) -> None:
        p = self._page
        col = (index - seg_row * p.across) * p.seg_columns
        width = min(p.seg_columns, p.columns - col)
        region = target[:, col : col + width]
        count = int(p.counts[index])
        if len(raw) < count:
            raise self._damaged(index, seg_row, f"the file ends {count - len(raw)} bytes into it (truncated)")
        try:
            segment = self._inflate(raw, seg_row) if p.fast else self._tifffile_decode(bytes(raw), index)
        except LabelmapError:
            raise
        except Exception as exc:  # zlib / imagecodecs / tifffile: the segment's data is damaged
            raise self._damaged(index, seg_row, f"{type(exc).__name__}: {exc}") from None
        if segment.shape[0] < region.shape[0] or segment.shape[1] < width:
            raise self._damaged(index, seg_row, f"it decodes to {segment.shape[0]} x {segment.shape[1]} pixels")
        region[...] = segment[: region.shape[0], :width]
        if count <= _CONSTANT_RAW and len(self._constants) < _CONSTANT_CACHE:
            flat = segment.reshape(-1)
            first = flat[0]
            if (flat == first).all():
                self._constants[bytes(raw)] = first.item()

    def _inflate(self, raw: bytes | memoryview, seg_row: int) -> np.ndarray:
        """A deflate segment inflated by zlib-ng (never more than its decoded size), predictor undone."""
        p = self._page
        need = p.segment_bytes(seg_row)
        lib = self._zlib
        assert lib is not None
        if len(raw) * _DEFLATE_RATIO <= max(2 * need, 1 << 24):
            data = lib.decompress(raw, 15, need)  # type: ignore[attr-defined]
        else:  # a stream that could inflate far past the segment: stop at its size
            data = lib.decompressobj(15).decompress(raw, need)  # type: ignore[attr-defined]
        if len(data) < need:
            raise ValueError(f"it inflates to {len(data)} bytes, {need} expected")
        rows = need // (p.seg_columns * p.file_dtype.itemsize)
        segment = np.frombuffer(data, dtype=p.file_dtype, count=rows * p.seg_columns).reshape(rows, p.seg_columns)
        if p.predictor == 2:
            segment = np.cumsum(segment, axis=1, dtype=p.file_dtype)
        return segment

    def _tifffile_decode(self, raw: bytes, index: int) -> np.ndarray:
        p = self._page
        segment = p.decode(raw, index, jpegtables=p.jpegtables)[0]
        if segment is None:
            return np.zeros((p.seg_rows, p.seg_columns), dtype=p.dtype)
        segment = np.asarray(segment)
        if segment.ndim != 4 or segment.shape[0] != 1 or segment.shape[3] != 1:
            raise ValueError(f"decoded segment of shape {segment.shape}")
        return segment[0, :, :, 0]

    def _damaged(self, index: int, seg_row: int, why: str) -> ImageFormatError:
        p = self._page
        what = (
            f"tile {index + 1} (tile row {seg_row + 1}, column {index - seg_row * p.across + 1})"
            if p.tiled
            else f"strip {index + 1}"
        )
        page = f" of page {p.index + 1}" if p.index else ""
        return fail(self._raw.path, f"{what}{page} is damaged ({why}); the file is incomplete - write or copy it again")


# --------------------------------------------------------------------------- opening
@contextmanager
def quiet_tifffile() -> Iterator[list[str]]:
    """Keep tifffile's log records (warnings about damaged files) off stderr; yields their messages.

    The CLI prints one line per error: what tifffile had to say goes into that line instead.
    """
    import logging

    said: list[str] = []

    class _Collect(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            said.append(record.getMessage().strip())
            return False

    logger = logging.getLogger("tifffile")
    collect = _Collect()
    logger.addFilter(collect)
    try:
        yield said
    finally:
        logger.removeFilter(collect)


def read_tiff_labels(
    path: PathLike, *, threads: int | None = None
) -> tuple[list[TiffSlideLabels], SlideGeometry | None]:
    """Open a TIFF / BigTIFF / OME-TIFF label image: its layers (read lazily) and geometry hint.

    Parameters
    ----------
    path
        The file.
    threads
        Threads decoding a band (None: every core).

    Returns
    -------
    (list of TiffSlideLabels, SlideGeometry or None)
        One layer per page (see the module docstring); the hint carries the size, the tile
        size and the pixel spacing when the file states it (OME PhysicalSizeX/Y, TIFF
        resolution in cm or inch, ImageJ's micron unit), else None.

    Raises
    ------
    MissingDependencyError
        tifffile is not installed.
    ImageFormatError
        Not a TIFF, a damaged or truncated one, not a label image (several samples per pixel,
        volumetric, zero-sized), or layers of different types.
    """
    tifffile = tifffile_module("reading TIFF label images")
    p = Path(path)
    size = checked_file(p, fail)
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head not in TIFF_MAGICS:
        raise fail(p, f"not a TIFF file (it starts with {head!r})")
    with quiet_tifffile() as said:
        try:
            tif = tifffile.TiffFile(p)
        except Exception as exc:  # tifffile's TiffFileError, struct / value errors on damaged headers
            raise fail(p, f"damaged TIFF structure ({exc}); write or copy it again") from None
        with tif:
            try:
                pages = _layer_pages(tif)
                if not pages:
                    why = f" ({said[0]})" if said else ""
                    raise fail(p, f"the file holds no image{why}; it is damaged - write or copy it again")
                infos = [_page_info(p, page, index, size) for index, page in pages]
                hint = _geometry_hint(tif, pages[0][1], infos[0])
            except LabelmapError:
                raise
            except Exception as exc:
                raise fail(p, f"damaged TIFF structure ({type(exc).__name__}: {exc}); write or copy it again") from None
    raw = _RawFile(p)
    dtypes = {info.dtype for info in infos}
    if len(dtypes) > 1:
        raise fail(p, f"its pages differ in pixel type ({', '.join(sorted(str(d) for d in dtypes))})")
    return [TiffSlideLabels(raw, info, threads=threads) for info in infos], hint


def _layer_pages(tif: Any) -> list[tuple[int, Any]]:
    """(page index, page or frame) of the layers, in order."""
    series = tif.series[0] if tif.series else None
    if series is not None and (tif.is_ome or tif.is_imagej or series.is_pyramidal or len(series.levels) > 1):
        candidates = list(series.levels[0].pages)
    else:
        candidates = list(tif.pages)
    if not candidates or candidates[0] is None:
        return []
    first = candidates[0].keyframe
    chosen = []
    for page in candidates:
        if page is None:
            continue
        key = page.keyframe
        if key.shape != first.shape or (key is not first and key.is_reduced):
            continue  # a thumbnail, a pyramid level or a mask: not a layer
        chosen.append((int(page.index) if isinstance(page.index, int) else int(page.index[0]), page))
    return chosen


def _page_info(path: Path, page: Any, index: int, size: int) -> _Page:
    """The facts of one page, checked against the file before anything is allocated."""
    key = page.keyframe
    where = f"page {index + 1}: " if index else ""
    if key.samplesperpixel != 1:
        raise fail(
            path,
            f"{where}not a label image: {key.samplesperpixel} samples per pixel "
            "(label images have one value per pixel; RGB and multi-channel images are refused)",
        )
    if key.imagedepth != 1:
        raise fail(path, f"{where}a volumetric (ImageDepth {key.imagedepth}) TIFF is not a 2-D label image")
    rows, columns = int(key.imagelength), int(key.imagewidth)
    if rows == 0 or columns == 0:
        raise fail(path, f"{where}the image is zero-sized ({rows} x {columns} pixels)")
    if key.dtype is None:
        raise fail(path, f"{where}{key.bitspersample}-bit samples of format {key.sampleformat} are not supported")
    tiled = bool(key.is_tiled)
    if tiled:
        seg_rows, seg_columns = int(key.tilelength), int(key.tilewidth)
    else:
        seg_rows, seg_columns = min(int(key.rowsperstrip) or rows, rows), columns
    if seg_rows < 1 or seg_columns < 1:
        raise fail(path, f"{where}zero-sized tiles or strips")
    offsets = np.asarray(page.dataoffsets, dtype=np.int64)
    counts = np.asarray(page.databytecounts, dtype=np.int64)
    down, across = -(-rows // seg_rows), -(-columns // seg_columns)
    kind = "tile" if tiled else "strip"
    if len(offsets) != down * across or len(counts) != down * across:
        raise fail(
            path,
            f"{where}the image of {rows} x {columns} pixels needs {down * across} {kind}s but the file "
            f"lists {len(offsets)} offsets and {len(counts)} byte counts; the file is damaged",
        )
    info = _Page(
        index=index,
        rows=rows,
        columns=columns,
        seg_rows=seg_rows,
        seg_columns=seg_columns,
        tiled=tiled,
        offsets=offsets,
        counts=counts,
        compression=int(key.compression),
        predictor=int(key.predictor),
        file_dtype=np.dtype(tif_byteorder(page) + np.dtype(key.dtype).str[1:]),
        bits=int(key.bitspersample),
        decode=key.decode,
        jpegtables=getattr(key, "jpegtables", None),
    )
    _check_extents(path, info, size, where, kind)
    return info


def tif_byteorder(page: Any) -> str:
    """``<`` or ``>``: the byte order of ``page``'s file."""
    return str(page.parent.byteorder)


def _check_extents(path: Path, info: _Page, size: int, where: str, kind: str) -> None:
    """Every segment lies inside the file; uncompressed ones are as long as their pixels need."""
    used = info.counts > 0
    if (info.counts < 0).any() or (info.offsets[used] < 0).any():
        raise fail(path, f"{where}negative {kind} offsets or byte counts; the file is damaged")
    ends = info.offsets + info.counts
    past = np.nonzero(used & (ends > size))[0]
    if len(past):
        k = int(past[0])
        raise fail(
            path,
            f"{where}{kind} {k + 1} of {len(info.counts)} ends at byte {int(ends[k])}, past the end of the file "
            f"({size} bytes): the file is truncated - write or copy it again",
        )
    if info.compression == 1 or info.compression in _DEFLATE:
        rows = np.full(info.down, info.seg_rows, dtype=np.int64)
        if not info.tiled:
            rows[-1] = info.rows - (info.down - 1) * info.seg_rows
        need = np.repeat(rows * -(-info.seg_columns * info.bits // 8), info.across)
    if info.compression in _DEFLATE:
        # deflate expands at most 1032 times: a segment claiming more pixels than that cannot exist
        impossible = np.nonzero(used & (need > info.counts * _DEFLATE_RATIO + 4096))[0]
        if len(impossible):
            k = int(impossible[0])
            raise fail(
                path,
                f"{where}deflate {kind} {k + 1} of {int(info.counts[k])} bytes cannot hold the {int(need[k])} bytes "
                "its pixels need (deflate expands at most 1032 times); the file is damaged",
            )
    if info.compression == 1:
        short = np.nonzero(used & (info.counts < need))[0]
        if len(short):
            k = int(short[0])
            raise fail(
                path,
                f"{where}uncompressed {kind} {k + 1} holds {int(info.counts[k])} bytes but its pixels need "
                f"{int(need[k])}; the file is damaged",
            )


# --------------------------------------------------------------------------- geometry hint
def _geometry_hint(tif: Any, page: Any, info: _Page) -> SlideGeometry | None:
    """Size, tile size and pixel spacing (mm) when the file states the spacing."""
    spacing = tiff_spacing(tif, page.keyframe)
    if spacing is None:
        return None
    tile = (info.seg_rows, info.seg_columns) if info.tiled else (256, 256)
    try:
        return SlideGeometry(info.rows, info.columns, tile[0], tile[1], pixel_spacing=spacing)
    except ValueError:
        return None
