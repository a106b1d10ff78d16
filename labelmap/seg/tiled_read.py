"""Read a slide (tiled) SEG back as its total pixel matrix, one band of tile rows at a time.

:func:`open_slide_seg` reads the header and frame positions (:mod:`labelmap.seg.tiled_index`)
and where the frames are (:mod:`labelmap.dicom.pixel_index`), never the Pixel Data whole.
:meth:`SlideSeg.iter_bands` then yields ``(row0, band)`` for each tile row: only that row's
frames are read and decoded (on a thread pool, the next band's while the caller works on
this one), cropped to the matrix; omitted tiles of a sparse SEG are background.  Memory stays
at a few bands whatever the slide's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from labelmap.errors import DicomFormatError, LabelmapError, SegFormatError, UnsupportedError
from labelmap.model import SegmentDescription, SeriesAttributes, SlideGeometry
from labelmap.seg.perframe import seg_error
from labelmap.seg.tiled_index import SlideHeader, read_slide_header
from labelmap.seg.tiled_sniff import find_slide_segs, is_slide_seg

__all__ = ["SlideSeg", "find_slide_segs", "is_slide_seg", "open_slide_levels", "open_slide_seg"]

#: Codestreams up to this size (empty or one-label tiles, repeated across a slide) are decoded once ...
_SMALL_CODESTREAM = 1024
#: ... and at most this many of them kept.
_SMALL_CACHE = 256
#: Frames decoded per task (fewer tasks than frames: a task costs about as much as a small frame).
_FRAMES_PER_TASK = 32


class SlideSeg:
    """A slide SEG opened for reading: geometry, segments, and its matrix by bands of tile rows.

    Attributes
    ----------
    geometry : SlideGeometry
        Total pixel matrix, tile size, pixel spacing, origin and orientation.
    seg_type : str
        ``"LABELMAP"``, ``"BINARY"`` or ``"FRACTIONAL"``.
    segments : tuple of SegmentDescription
        As the volume reader gives them: a LABELMAP's without the background segment the
        Pixel Padding Value designates; BINARY / FRACTIONAL sorted by number (layer i holds
        ``segments[i]``).
    bits : int
        Bits Allocated of the frames.
    layers : int
        1 for a LABELMAP; one per segment for BINARY / FRACTIONAL.
    warnings : tuple of str
        One line per kind of problem found in the header (position cross-checks).
    """

    def __init__(self, head: SlideHeader) -> None:
        self._head = head
        self.name = head.name
        self.geometry: SlideGeometry = head.geometry
        self.seg_type = head.seg_type
        self.segments: tuple[SegmentDescription, ...] = head.segments
        self.bits = head.bits
        self.warnings: tuple[str, ...] = head.warnings
        self.series: SeriesAttributes = head.series
        self.organization = head.organization
        self.n_frames = head.n_frames
        self.pixel_padding_value = head.pixel_padding_value
        assert head.pixels is not None
        self._pixels = head.pixels
        self.transfer_syntax = head.pixels.transfer_syntax
        from labelmap._util.resources import check_memory

        g = head.geometry
        check_memory(  # the bands in flight (two ahead, the caller's, a narrowed copy)
            4 * g.tile_rows * g.columns * (2 if head.bits == 16 else 1),
            f"bands of {g.tile_rows} x {g.columns} pixels",
            path=head.name,
        )
        self._decoder = self._make_decoder()
        self._small: dict[bytes, np.ndarray] = {}  # decoded tiles of small codestreams (empty tiles)
        self._check_native_length()

    # -- facts -------------------------------------------------------------------------
    @property
    def header(self) -> Any:
        """The top-level data set (a LiteDataset, or a pydicom Dataset for unusual character sets)."""
        return self._head.header

    @property
    def layers(self) -> int:
        return self._head.layers

    @property
    def fill_value(self) -> int:
        """What pixels without a frame hold: a LABELMAP's Pixel Padding Value when it fits its pixels, else 0."""
        padding = self.pixel_padding_value
        if self.seg_type == "LABELMAP" and padding is not None and 0 <= padding < (1 << self.bits):
            return padding
        return 0

    @property
    def dtype(self) -> np.dtype:
        """The bands' type: a LABELMAP's uint8 when every segment number fits, else uint16; uint8 otherwise."""
        if self.seg_type == "LABELMAP" and self.bits == 16:
            top = max([s.number for s in self.segments] + [self.fill_value])
            return np.dtype(np.uint8 if top <= 0xFF else np.uint16)
        return np.dtype(np.uint8)

    def __repr__(self) -> str:
        g = self.geometry
        return (
            f"SlideSeg({self.name!r}, {self.seg_type}, {g.rows} x {g.columns} in {g.tile_rows} x {g.tile_columns} "
            f"tiles, {self.organization or 'no organization type'}, {self.n_frames} frames)"
        )

    # -- frames ------------------------------------------------------------------------
    def _make_decoder(self) -> Callable[[bytes], np.ndarray] | None:
        """One encapsulated frame -> (tile_rows, tile_columns) array (None for native Pixel Data)."""
        from labelmap.dicom.uids import lookup

        if not self._pixels.encapsulated:
            return None
        from labelmap.dicom.pixels.codecs import check_available, codec_module

        ts = lookup(self.transfer_syntax)
        if ts is None or ts.codec is None:
            title = ts.title if ts is not None else self.transfer_syntax
            raise UnsupportedError(
                f"{self.name}: frames in {title} cannot be decoded here; slide SEGs are read from native, RLE, "
                "JPEG-LS, JPEG 2000 and Deflated Image Frame Compression frames"
            )
        check_available(ts.uid, purpose="reading")
        module = codec_module(ts)
        if self.bits not in module.BITS:
            raise SegFormatError(f"{self.name}: {self.bits}-bit frames cannot be {ts.title}")
        return module.decoder(self.geometry.tile_rows, self.geometry.tile_columns, self.bits)

    def _frame_bytes(self) -> int:
        g = self.geometry
        return g.tile_rows * g.tile_columns * (2 if self.bits == 16 else 1)

    def _check_native_length(self) -> None:
        if self._pixels.encapsulated:
            return
        g = self.geometry
        npx = g.tile_rows * g.tile_columns
        need = (self.n_frames * npx + 7) // 8 if self.bits == 1 else self.n_frames * self._frame_bytes()
        if self._pixels.length < need:
            size = f"{self.bits}-bit" if self.bits != 1 else "1-bit packed"
            raise SegFormatError(
                f"{self.name}: Pixel Data holds {self._pixels.length} bytes but {self.n_frames} frames of "
                f"{g.tile_rows} x {g.tile_columns} {size} pixels need {need}"
            )

    def _read_frames(self, fd: int, frames: np.ndarray, put: Callable[[int, np.ndarray], None]) -> None:
        """Read (and decode) ``frames`` (0-based): ``put(i, tile)`` for each, ``tile`` a (tile_rows,
        tile_columns) array valid only during the call."""
        px = self._pixels
        g = self.geometry
        try:
            if self._decoder is not None:
                cache = self._small
                for i, f in enumerate(frames.tolist()):
                    try:
                        data = px.codestream(fd, f)
                        if len(data) <= _SMALL_CODESTREAM:  # an empty or one-label tile: decoded once
                            tile = cache.get(data)
                            if tile is None:
                                tile = self._decoder(data)
                                if len(cache) < _SMALL_CACHE:
                                    cache[data] = tile
                        else:
                            tile = self._decoder(data)
                    except LabelmapError as exc:
                        raise SegFormatError(f"{self.name}: frame {f + 1}: {exc}", frame=f + 1) from None
                    except Exception as exc:  # a codec's own error on damaged data
                        raise SegFormatError(
                            f"{self.name}: frame {f + 1} cannot be decoded ({type(exc).__name__}: {exc})", frame=f + 1
                        ) from None
                    put(i, tile)
                return
            npx = g.tile_rows * g.tile_columns
            for start, stop in _runs(frames):
                first, count = int(frames[start]), stop - start
                if self.bits == 1:
                    bit0 = first * npx
                    byte0 = bit0 // 8
                    data = px.read(fd, px.offset + byte0, (bit0 + count * npx + 7) // 8 - byte0)
                    block = _unpack_bits(data, count, g.tile_rows, g.tile_columns, bit0 % 8)
                else:
                    size = self._frame_bytes()
                    data = px.read(fd, px.offset + first * size, count * size)
                    dtype = np.dtype("<u2") if self.bits == 16 else np.dtype(np.uint8)
                    block = np.frombuffer(data, dtype=dtype).reshape(count, g.tile_rows, g.tile_columns)
                for j in range(count):
                    put(start + j, block[j])
        except DicomFormatError as exc:
            raise seg_error(exc) from None

    # -- bands -------------------------------------------------------------------------
    def iter_bands(self, layer: int = 0, *, threads: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """The matrix of ``layer`` as ``(row0, band)`` for each tile row, top to bottom.

        Parameters
        ----------
        layer
            0 for a LABELMAP; for BINARY / FRACTIONAL the index of the segment in :attr:`segments`.
        threads
            Decoding threads (None: one per core).

        Yields
        ------
        tuple
            ``row0`` (0-based first row) and the band: a C-contiguous (rows, columns) array of
            :attr:`dtype`, ``rows`` = tile rows (fewer in the last band).  LABELMAP values are
            the stored Segment Numbers; BINARY 0/1; FRACTIONAL the stored values.  Each band
            is a new array the caller may keep.

        Raises
        ------
        SegFormatError
            A frame that cannot be read or decoded (naming it).
        """
        if not 0 <= layer < self.layers:
            raise IndexError(f"{self.name}: layer {layer} does not exist ({self.layers} layer(s))")
        g = self.geometry
        workers = max(1, threads if threads and threads > 0 else (os.cpu_count() or 1))
        fd = self._pixels.open()
        pool = ThreadPoolExecutor(max_workers=workers)
        pending: list[tuple[np.ndarray, np.ndarray, list[Future]]] = []
        ahead = 2  # bands in flight: the one the caller gets next, and the one after
        try:
            for band in range(min(ahead, g.tiles_down)):
                pending.append(self._submit(pool, fd, layer, band, workers))
            for band in range(g.tiles_down):
                frames, buffer, futures = pending.pop(0)
                for future in futures:
                    future.result()
                if band + ahead < g.tiles_down:
                    pending.append(self._submit(pool, fd, layer, band + ahead, workers))
                row0 = band * g.tile_rows
                yield row0, self._assemble(frames, buffer, row0, min(g.tile_rows, g.rows - row0))
        finally:
            for _, _, futures in pending:
                for future in futures:
                    future.cancel()
            pool.shutdown(wait=True)
            if fd >= 0:
                os.close(fd)

    def _submit(
        self, pool: ThreadPoolExecutor, fd: int, layer: int, band: int, workers: int
    ) -> tuple[np.ndarray, np.ndarray, list[Future]]:
        """Start reading ``band``'s frames: (frames, buffer they go to, futures).

        TILED_FULL tiles are written straight into the band (cropped); sparse frames into a
        tile buffer, placed in frame order by :meth:`_assemble`.
        """
        g = self.geometry
        frames = self._head.band_frames(layer, band)
        dtype = np.dtype(np.uint16) if self.bits == 16 else np.dtype(np.uint8)
        row0 = band * g.tile_rows
        height = min(g.tile_rows, g.rows - row0)
        step = max(1, min(_FRAMES_PER_TASK, -(-len(frames) // (2 * workers))))
        if self._head.tiled_full:
            buffer = np.empty((height, g.columns), dtype=dtype)
            tc = g.tile_columns

            def task(start: int) -> None:
                def put(i: int, tile: np.ndarray) -> None:
                    c0 = (start + i) * tc
                    w = min(tc, g.columns - c0)
                    buffer[:, c0 : c0 + w] = tile[:height, :w]

                self._read_frames(fd, frames[start : start + step], put)

        else:
            buffer = np.empty((len(frames), g.tile_rows, g.tile_columns), dtype=dtype)

            def task(start: int) -> None:
                def put(i: int, tile: np.ndarray) -> None:
                    buffer[start + i] = tile

                self._read_frames(fd, frames[start : start + step], put)

        futures = [pool.submit(task, i) for i in range(0, len(frames), step)]
        return frames, buffer, futures

    def _assemble(self, frames: np.ndarray, buffer: np.ndarray, row0: int, height: int) -> np.ndarray:
        """The band of rows ``row0 : row0 + height``: TILED_FULL's buffer, or the sparse frames placed."""
        g = self.geometry
        dtype = self.dtype
        if self._head.tiled_full:
            band = buffer
        else:
            fill = self.fill_value
            shape = (height, g.columns)
            band = np.full(shape, fill, dtype=buffer.dtype) if fill else np.zeros(shape, dtype=buffer.dtype)
            union = self.seg_type == "BINARY"
            rows, columns = self._head.frame_rows, self._head.frame_columns
            for tile, f in zip(buffer, frames.tolist()):
                r0, c0 = int(rows[f]), int(columns[f])
                top, bottom = max(r0, row0), min(r0 + g.tile_rows, row0 + height)
                right = min(c0 + g.tile_columns, g.columns)
                src = tile[top - r0 : bottom - r0, : right - c0]
                dst = band[top - row0 : bottom - row0, c0:right]
                if union:
                    np.bitwise_or(dst, src, out=dst)
                else:
                    dst[...] = src
        if band.dtype != dtype:
            top = int(band.max()) if band.size else 0
            if top > np.iinfo(dtype).max:
                raise SegFormatError(
                    f"{self.name}: pixel value {top} in rows {row0 + 1}-{row0 + height} is not a described segment "
                    "number"
                )
            band = band.astype(dtype)
        return band

    def read_matrix(self, layer: int = 0, *, threads: int | None = None) -> np.ndarray:
        """The whole matrix of ``layer`` in memory (for small slides and tests; use :meth:`iter_bands` otherwise)."""
        out = np.empty(self.geometry.shape, dtype=self.dtype)
        for row0, band in self.iter_bands(layer, threads=threads):
            out[row0 : row0 + len(band)] = band
        return out


# --------------------------------------------------------------------------- helpers
def _runs(frames: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges of ``frames`` holding consecutive frame numbers."""
    if not len(frames):
        return []
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    edges = [0, *breaks.tolist(), len(frames)]
    return list(zip(edges[:-1], edges[1:]))


def _unpack_bits(data: bytes, count: int, tile_rows: int, tile_columns: int, bit_offset: int) -> np.ndarray:
    """1-bit frames packed LSB first and continuously across frames -> (count, tile_rows, tile_columns) 0/1."""
    try:
        from labelmap.kernels.tiles import unpack_tile_bits
    except ImportError:
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        npx = tile_rows * tile_columns
        return bits[bit_offset : bit_offset + count * npx].reshape(count, tile_rows, tile_columns)
    return unpack_tile_bits(data, count, tile_rows, tile_columns, bit_offset=bit_offset)


# --------------------------------------------------------------------------- opening
def open_slide_seg(path: str | os.PathLike[str]) -> SlideSeg:
    """Open a slide SEG (a tiled DICOM Segmentation of a whole-slide image) for reading by bands.

    Headers only: the per-frame positions are read with the bulk reader and the Pixel Data
    is located, not read.  TILED_FULL frames follow the implicit order; TILED_SPARSE (or no
    Dimension Organization Type) frames are placed by their Row/Column Position.

    Parameters
    ----------
    path
        The SEG file.

    Returns
    -------
    SlideSeg

    Raises
    ------
    SegFormatError
        Not a readable SEG, no Total Pixel Matrix (not a slide SEG), a TILED_FULL frame count
        that does not match the tiles and segments, frames outside the matrix, Pixel Data
        too short; one line naming the file (and the frame).
    UnsupportedError
        Several focal planes, or frames in a transfer syntax labelmap does not decode.
    """
    return SlideSeg(read_slide_header(path))


def open_slide_levels(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[SlideSeg]:
    """The slide SEGs among files and folders (searched recursively), largest matrix first: a SEG pyramid.

    Raises
    ------
    SegFormatError
        No slide SEG among them, or two of one matrix size (a level given twice).
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = find_slide_segs(p)
            if not found:
                raise SegFormatError(
                    "is a folder holding no slide SEG; give a SEG file, or a folder of the levels of a slide SEG "
                    "pyramid",
                    path=str(p),
                )
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise SegFormatError(f"no slide SEG found in {', '.join(map(str, items))}")
    levels = sorted((open_slide_seg(f) for f in files), key=lambda s: -s.geometry.rows * s.geometry.columns)
    for a, b in zip(levels, levels[1:]):
        if a.geometry.shape == b.geometry.shape:
            raise SegFormatError(
                f"{a.name} and {b.name} are both {a.geometry.rows} x {a.geometry.columns}: one pyramid level given "
                "twice (or two SEGs); give the levels of one SEG pyramid"
            )
    return levels
