"""Slide label images for the Python API: a slide SEG read lazily, and a tile iterator read as labels.

:func:`read_slide_seg` opens a slide SEG as a :class:`~labelmap.model.SlideLabelImage` whose
layers decode only the tile rows asked for (:class:`SlideSegLayer`, built on
:meth:`~labelmap.seg.tiled_read.SlideSeg.iter_bands`); :func:`slide_labels_from_tiles` turns an
iterable of tiles in row-major (TILED_FULL) order into :class:`~labelmap.model.SlideLabels` that
the slide writer reads band by band, so a label image computed tile by tile never exists whole.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from labelmap.errors import InputError
from labelmap.model import SlideLabelImage
from labelmap.pipeline.slide_sniff import labels_are_volumes

if TYPE_CHECKING:
    from labelmap.seg.tiled_read import SlideSeg

__all__ = ["SlideSegLayer", "TileStreamLabels", "labels_are_volumes", "read_slide_seg", "slide_labels_from_tiles"]

PathLike = Union[str, "os.PathLike[str]"]


def _check_rows(name: str, start: int, stop: int, rows: int) -> tuple[int, int]:
    start, stop = int(start), int(stop)
    if not 0 <= start <= stop <= rows:
        raise IndexError(f"{name}: rows {start}:{stop} are outside the label image's 0:{rows}")
    return start, stop


# --------------------------------------------------------------------------- slide SEG -> lazy layers
class SlideSegLayer:
    """One layer of a slide SEG as :class:`~labelmap.model.SlideLabels`, decoded one tile row at a time.

    ``read_rows`` decodes only the tile rows covering the rows asked for and keeps the current tile
    row, so reading top to bottom (in any row steps) decodes each frame once.  Reading rows above
    the current tile row starts the SEG's band reader again from the top (correct, but slow on a big
    slide: read in order).  Values are what :meth:`~labelmap.seg.tiled_read.SlideSeg.iter_bands`
    gives: a LABELMAP's Segment Numbers, BINARY 0/1, FRACTIONAL the stored values.
    """

    def __init__(self, slide: SlideSeg, layer: int = 0, *, threads: int | None = None) -> None:
        if not 0 <= layer < slide.layers:
            raise IndexError(f"{slide.name}: layer {layer} does not exist ({slide.layers} layer(s))")
        self.slide = slide
        self.layer = layer
        self.threads = threads
        self._lock = threading.Lock()
        self._bands: Iterator[tuple[int, np.ndarray]] | None = None
        self._next = 0  # index of the tile row the band reader yields next
        self._current = -1  # index of the tile row held in self._band
        self._band: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.slide.geometry.shape

    @property
    def dtype(self) -> np.dtype:
        return self.slide.dtype

    def __repr__(self) -> str:
        g = self.slide.geometry
        return f"SlideSegLayer({self.slide.name!r}, layer {self.layer}, {g.rows} x {g.columns}, {self.dtype})"

    def _tile_row(self, index: int) -> np.ndarray:
        if index == self._current and self._band is not None:
            return self._band
        if self._bands is None or index < self._next:
            self._release()
            self._bands = self.slide.iter_bands(self.layer, threads=self.threads)
            self._next = 0
        while self._next <= index:
            _, band = next(self._bands)
            self._next += 1
        self._band, self._current = band, index
        if self._next == self.slide.geometry.tiles_down:  # the last band: let the reader's threads and file go
            self._release()
        return band

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (0-based) as a new C-contiguous (stop - start, columns) array."""
        g = self.slide.geometry
        start, stop = _check_rows(self.slide.name, start, stop, g.rows)
        out = np.empty((stop - start, g.columns), dtype=self.dtype)
        with self._lock:
            row = start
            while row < stop:
                index = row // g.tile_rows
                band = self._tile_row(index)
                row0 = index * g.tile_rows
                take = min(stop, row0 + band.shape[0]) - row
                out[row - start : row - start + take] = band[row - row0 : row - row0 + take]
                row += take
        return out

    def _release(self) -> None:
        bands, self._bands = self._bands, None
        if bands is not None:
            bands.close()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Stop the band reader (its threads and file) and drop the held tile row; a later read starts again."""
        with self._lock:
            self._release()
            self._band, self._current, self._next = None, -1, 0


def read_slide_seg(
    seg: PathLike | Sequence[PathLike], *, level: int = 0, threads: int | None = None
) -> SlideLabelImage:
    """A slide SEG as a :class:`~labelmap.model.SlideLabelImage` of lazy layers (nothing decoded yet).

    Parameters
    ----------
    seg
        The slide SEG file; or a folder / files holding the levels of a SEG pyramid.
    level
        The pyramid level (0: the largest matrix) when ``seg`` holds several.
    threads
        Threads decoding each layer's frames (None: one per core).

    Returns
    -------
    SlideLabelImage
        ``layers``: one :class:`SlideSegLayer` for a LABELMAP (Segment Numbers), one per segment for
        BINARY (0/1) / FRACTIONAL (stored values); ``segments`` as the SEG describes them (layer i
        holds ``segments[i]`` for BINARY / FRACTIONAL); ``geometry`` the SEG's
        :class:`~labelmap.model.SlideGeometry`; ``read_from`` the SEG file's absolute path.

    Raises
    ------
    SegFormatError
        Not a readable slide SEG (see :func:`~labelmap.seg.tiled_read.open_slide_seg`).
    InputError
        ``level`` is not one of the pyramid's.
    """
    from labelmap.seg.tiled_read import open_slide_levels, open_slide_seg

    if isinstance(seg, (str, os.PathLike)) and os.path.isfile(seg):
        if level != 0:
            raise InputError(f"{os.fspath(seg)}: one slide SEG holds level 0 only, not level {level}")
        slide = open_slide_seg(seg)
    else:
        levels = open_slide_levels(seg)
        if not 0 <= level < len(levels):
            listing = ", ".join(f"{k}: {s.geometry.rows} x {s.geometry.columns}" for k, s in enumerate(levels))
            raise InputError(f"level {level} does not exist; the SEG pyramid's levels are {listing}")
        slide = levels[level]
    layers = tuple(SlideSegLayer(slide, i, threads=threads) for i in range(slide.layers))
    return SlideLabelImage(layers, slide.segments, slide.geometry, read_from=os.path.abspath(slide.name))


# --------------------------------------------------------------------------- tile iterator -> labels
class TileStreamLabels:
    """An iterable of tiles in row-major (TILED_FULL) order as :class:`~labelmap.model.SlideLabels`.

    Read forward only: each ``read_rows(start, stop)`` must start at or below the previous start
    (rows above it are gone); the slide writer reads this way, once.  Only the tile rows covering
    the rows asked for are held.  See :func:`slide_labels_from_tiles`.
    """

    def __init__(
        self,
        tiles: Iterable[Any],
        shape: tuple[int, int],
        tile_shape: tuple[int, int],
        dtype: Any = np.uint8,
        name: str = "<tile iterator>",
    ) -> None:
        rows, columns = (int(v) for v in shape)
        tile_rows, tile_columns = (int(v) for v in tile_shape)
        if rows < 1 or columns < 1 or tile_rows < 1 or tile_columns < 1:
            raise InputError(f"{name}: shape {shape!r} and tile shape {tile_shape!r} must be positive sizes")
        self._dtype = np.dtype(dtype)
        if self._dtype.kind not in "buif":
            raise InputError(f"{name}: labels are integers, booleans or fractions (floats), not {self._dtype}")
        self._shape = (rows, columns)
        self.tile_shape = (tile_rows, tile_columns)
        self.name = name
        self._tiles = iter(tiles)
        self._lock = threading.Lock()
        self._held: list[tuple[int, np.ndarray]] = []  # (row0, band) of the tile rows still held
        self._next_row = 0  # first matrix row not yet taken from the iterator
        self._start = 0  # start of the last read: nothing above it can be read again
        self._taken = 0  # tiles taken from the iterator

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def tiles_across(self) -> int:
        return -(-self._shape[1] // self.tile_shape[1])

    @property
    def n_tiles(self) -> int:
        return -(-self._shape[0] // self.tile_shape[0]) * self.tiles_across

    def __repr__(self) -> str:
        r, c = self._shape
        tr, tc = self.tile_shape
        return f"TileStreamLabels({self.name!r}, {r} x {c} in {tr} x {tc} tiles, {self._dtype})"

    def _tile(self, index: int, height: int, width: int) -> np.ndarray:
        """The iterator's next tile, checked: ``height`` x ``width`` pixels, or the full tile size (padded)."""
        tr, tc = self.tile_shape
        where = f"tile {index + 1} (tile row {index // self.tiles_across + 1}, column {index % self.tiles_across + 1})"
        try:
            tile = next(self._tiles)
        except StopIteration:
            raise InputError(
                f"{self.name}: the tile iterator ended after {index} tiles; a {self._shape[0]} x {self._shape[1]} "
                f"image in {tr} x {tc} tiles needs {self.n_tiles}, in row-major (TILED_FULL) order"
            ) from None
        self._taken += 1
        tile = np.asarray(tile)
        if tile.shape not in ((height, width), (tr, tc)):
            raise InputError(
                f"{self.name}: {where} is {tile.shape}, expected ({height}, {width})"
                + (f" or the padded ({tr}, {tc})" if (height, width) != (tr, tc) else "")
            )
        if tile.dtype != self._dtype:
            if not np.can_cast(tile.dtype, self._dtype, "safe"):
                fits = tile.dtype.kind in "biu" and self._dtype.kind in "biu"
                if fits and tile.size:
                    info = np.iinfo(self._dtype)
                    fits = info.min <= int(tile.min()) and int(tile.max()) <= info.max
                if not fits:
                    raise InputError(
                        f"{self.name}: {where} holds {tile.dtype} values that {self._dtype} cannot hold; "
                        f"give tiles of {self._dtype} or declare the dtype of the tiles"
                    )
            tile = tile.astype(self._dtype)
        return tile[:height, :width]

    def _pull_band(self) -> None:
        """Take the next tile row from the iterator and hold it as a band."""
        rows, columns = self._shape
        tr, tc = self.tile_shape
        row0 = self._next_row
        height = min(tr, rows - row0)
        band = np.empty((height, columns), dtype=self._dtype)
        first = (row0 // tr) * self.tiles_across
        for k in range(self.tiles_across):
            c0 = k * tc
            width = min(tc, columns - c0)
            band[:, c0 : c0 + width] = self._tile(first + k, height, width)
        self._held.append((row0, band))
        self._next_row = row0 + height
        if self._next_row == rows and next(self._tiles, None) is not None:
            raise InputError(
                f"{self.name}: the tile iterator yields more than the {self.n_tiles} tiles of a {rows} x {columns} "
                f"image in {tr} x {tc} tiles; check the shape and tile shape"
            )

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new C-contiguous array, pulling tiles from the iterator as needed.

        Raises
        ------
        InputError
            ``start`` lies above an earlier read's start (a tile iterator can only be read forward),
            or the iterator's tiles do not fit the declared shape, tile shape or dtype.
        """
        start, stop = _check_rows(self.name, start, stop, self._shape[0])
        with self._lock:
            if start < self._start:
                raise InputError(
                    f"{self.name}: rows {start + 1}..{stop} were asked after row {self._start + 1}; a tile iterator "
                    "can only be read forward, once (wrap an array or a file with as_slide_labels to read it again)"
                )
            self._start = start
            self._held = [(r0, b) for r0, b in self._held if r0 + b.shape[0] > start]
            while self._next_row < stop:
                self._pull_band()
            out = np.empty((stop - start, self._shape[1]), dtype=self._dtype)
            for r0, band in self._held:
                top, bottom = max(r0, start), min(r0 + band.shape[0], stop)
                if bottom > top:
                    out[top - start : bottom - start] = band[top - r0 : bottom - r0]
        return out


def slide_labels_from_tiles(
    tiles: Iterable[Any],
    shape: tuple[int, int],
    tile_shape: tuple[int, int],
    dtype: Any = np.uint8,
    *,
    name: str = "<tile iterator>",
) -> TileStreamLabels:
    """Labels computed tile by tile (a model's output, a tile server) as a slide label image layer.

    Parameters
    ----------
    tiles
        An iterable (a generator, say) of 2-D tiles in row-major order: tile row by tile row, left
        to right, as TILED_FULL frames.  Edge tiles may be cropped to the image or padded to the
        full tile size (padding is dropped).
    shape
        (rows, columns) of the whole label image.
    tile_shape
        (rows, columns) of a tile; need not be the SEG's tile size.
    dtype
        The labels' type (uint8 / uint16 label maps, bool or uint8 masks, float fractions); tiles of
        another type are converted when their values fit.
    name
        What to call it in messages.

    Returns
    -------
    TileStreamLabels
        :class:`~labelmap.model.SlideLabels` read forward once, e.g. by
        :func:`~labelmap.pipeline.slide.slide_to_seg`.

    Raises
    ------
    InputError
        A non-positive size or a non-label dtype (when reading: tiles that do not fit, too few or
        too many tiles, reads out of order).
    """
    return TileStreamLabels(tiles, shape, tile_shape, dtype, name)
