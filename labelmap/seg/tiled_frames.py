"""The frames of a slide SEG, made in one streaming pass: bands of one tile row -> tiles -> encoded frames.

A *pass* reads one input layer band by band (one tile row of the base level at a time, the
next band read on a second thread while this one is coded).  Each band is counted (which
values occur), cut into tiles by :func:`labelmap.kernels.tiles.band_to_tiles`, and every
frame of it encoded and appended to the spool of its *stream* (one per segment for
BINARY / FRACTIONAL, one for LABELMAP) on each pyramid level; lower levels get their bands by
nearest downsampling of the same input rows.  Memory is one band per level plus a band of
encoded tiles, whatever the slide's size.  The encoded all-background tile is made once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from labelmap.dicom.stream import BitSpool, FrameSpool, Spool
from labelmap.dicom.uids import TransferSyntax
from labelmap.errors import InputError
from labelmap.model import SlideGeometry, SlideLabels

if TYPE_CHECKING:
    from labelmap._util.progress import Progress

__all__ = ["LevelFrames", "Pass", "make_frames", "working_dtype"]


@dataclass(eq=False)
class LevelFrames:
    """One output level: its geometry, the nearest-neighbour indices into the base rows and columns
    (None for the base level), and per stream the spool and which tiles hold a non-zero pixel."""

    geometry: SlideGeometry
    row_index: np.ndarray | None = None
    col_index: np.ndarray | None = None
    spools: list[Spool] = field(default_factory=list)
    present: list[np.ndarray] = field(default_factory=list)
    # downsampled levels: the band being filled and where it starts
    _buffer: np.ndarray | None = None
    _band_row: int = 0
    _filled: int = 0

    @property
    def frames(self) -> int:
        return sum(
            s.frames if isinstance(s, FrameSpool) else int(p.size)
            for s, p in zip(self.spools, self.present)  # native full frames: every tile
        )


@dataclass(frozen=True, eq=False)
class Pass:
    """One read of one input layer: the streams it feeds.

    ``values[s]``: stream s's pixels are ``band == values[s]`` (BINARY from a label map) or
    ``band != 0`` (None: a BINARY layer); LABELMAP and FRACTIONAL have one stream of the band itself.
    ``transform`` maps a raw band to the stored values (LABELMAP numbering, FRACTIONAL scaling).
    """

    layer: SlideLabels
    name: str
    values: tuple[int | None, ...] = (None,)
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    count: bool = False  # histogram the raw band (values checked against the descriptions)


def working_dtype(layer: SlideLabels, name: str) -> np.dtype:
    """The unsigned type a label layer is read as: uint8 for bool / uint8, else uint16."""
    dtype = np.dtype(layer.dtype)
    if dtype == np.bool_ or dtype == np.uint8:
        return np.dtype(np.uint8)
    if dtype.kind in "iu":
        return np.dtype(np.uint16)
    raise InputError(f"{name}: label images hold integers (uint8 or uint16), not {dtype}")


def _as_labels(band: np.ndarray, dtype: np.dtype, name: str, row0: int) -> np.ndarray:
    if band.dtype == dtype:
        return band
    if band.dtype == np.bool_:
        return band.view(np.uint8)
    if band.size and (int(band.min()) < 0 or int(band.max()) > np.iinfo(dtype).max):
        bad = int(band.min()) if int(band.min()) < 0 else int(band.max())
        raise InputError(
            f"{name}: label value {bad} (rows {row0 + 1}..{row0 + band.shape[0]}) is outside 0..{np.iinfo(dtype).max}; "
            "label maps hold segment numbers 0..65535"
        )
    return band.astype(dtype)


class _Coder:
    """Turns tiles into frames on a spool: encoded (one fragment each, the empty tile coded once),
    native bytes, or 1-bit packed bits."""

    def __init__(self, syntax: TransferSyntax, bits: int, sparse: bool, threads: int | None) -> None:
        self.syntax, self.bits, self.sparse, self.threads = syntax, bits, sparse, threads
        self._empty: dict[tuple[int, int], bytes] = {}

    def new_spool(self, directory: str | os.PathLike[str]) -> Spool:
        if self.syntax.encapsulated:
            return FrameSpool(directory)
        return BitSpool(directory) if self.bits == 1 else Spool(directory)

    def _encode(self, tiles: np.ndarray) -> list[bytes]:
        from labelmap.dicom.pixels.codecs import encode_frames

        return encode_frames(tiles, self.syntax.uid, bits_allocated=self.bits, threads=self.threads)

    def empty(self, tile_rows: int, tile_columns: int) -> bytes:
        key = (tile_rows, tile_columns)
        if key not in self._empty:
            dtype = np.uint16 if self.bits == 16 else np.uint8
            self._empty[key] = self._encode(np.zeros((1, tile_rows, tile_columns), dtype))[0]
        return self._empty[key]

    def add(self, spool: Spool, tiles: np.ndarray, present: np.ndarray) -> None:
        """Append the frames of one band's tiles (all of them, or the present ones when sparse)."""
        if self.syntax.encapsulated:
            assert isinstance(spool, FrameSpool)
            idx = np.flatnonzero(present)
            if idx.size == present.size:
                coded = self._encode(tiles)
            else:
                coded = self._encode(tiles[idx]) if idx.size else []
            if not self.sparse and idx.size < present.size:
                empty = self.empty(tiles.shape[1], tiles.shape[2])
                it = iter(coded)
                coded = [next(it) if p else empty for p in present.tolist()]
            spool.add_many(coded)
            return
        chosen = tiles[present] if self.sparse else tiles
        if isinstance(spool, BitSpool):
            spool.append_bits(chosen)
        else:
            spool.write(np.ascontiguousarray(chosen.astype(chosen.dtype.newbyteorder("<"), copy=False)))


def make_frames(
    passes: Sequence[Pass],
    levels: Sequence[LevelFrames],
    *,
    syntax: TransferSyntax,
    bits: int,
    sparse: bool,
    spool_dir: str | os.PathLike[str],
    counts: np.ndarray | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Run every pass over its layer, filling each level's spools (one per stream, in pass order) and presence.

    Parameters
    ----------
    passes
        The reads to make, in stream order (segment-major TILED_FULL order follows from it).
    levels
        The output levels: the first is the base (the input's size), the others smaller.
    syntax, bits, sparse
        How frames are stored: transfer syntax, Bits Allocated (1 = BINARY packed), TILED_SPARSE.
    spool_dir
        Folder for the spool files (the output's).
    counts
        int64 histogram (65,536 entries) the passes with ``count`` add their raw bands to.
    threads
        Threads for the tile kernels and codecs (None: their defaults).
    progress
        Told the step ``making frames`` (the base level's frames of every stream), advanced per band
        with its frames and the bytes the spools grew by (None: no calls).
    """
    coder = _Coder(syntax, bits, sparse, threads)
    if progress is not None:
        base = levels[0].geometry
        progress.step("making frames", sum(len(p.values) for p in passes) * base.n_tiles, "frames")
    for p in passes:
        floats = np.dtype(p.layer.dtype).kind == "f" and p.transform is not None  # FRACTIONAL probabilities
        dtype = np.dtype(np.uint8) if floats else working_dtype(p.layer, p.name)
        firsts = []
        for level in levels:
            g = level.geometry
            level.spools.extend(coder.new_spool(spool_dir) for _ in p.values)
            level.present.extend(np.zeros((g.tiles_down, g.tiles_across), bool) for _ in p.values)
            firsts.append(len(level.spools) - len(p.values))
            level._buffer, level._band_row, level._filled = None, 0, 0
        local = np.zeros(256 if dtype == np.uint8 else 65536, dtype=np.int64) if p.count else None
        _run_pass(p, levels, firsts, coder, None if floats else dtype, local, progress)
        if local is not None and counts is not None:
            counts[: local.size] += local


def _emit(p: Pass, coder: _Coder, level: LevelFrames, first: int, band: np.ndarray, tile_row: int) -> None:
    """The frames of one band of one level: one per tile per stream of the pass."""
    from labelmap.kernels.tiles import band_to_tiles

    g = level.geometry
    bits = coder.bits
    tile_dtype = np.dtype(np.uint16) if bits == 16 else np.dtype(np.uint8)
    for s, value in enumerate(p.values):
        spool = level.spools[first + s]
        if isinstance(spool, BitSpool) and not coder.sparse:  # native BINARY TILED_FULL: packed by the kernel
            from labelmap.kernels.tiles import pack_tile_bits

            packed, present = pack_tile_bits(
                band, g.tile_rows, g.tile_columns, value=value, bit_offset=spool.bit_offset, threads=coder.threads
            )
            level.present[first + s][tile_row] = present
            spool.append(packed, present.size * g.tile_rows * g.tile_columns)
            continue
        if value is None:
            src = band if bits != 1 else band != 0
        else:
            src = band == value
        if bits == 16 and src.dtype == np.uint8:
            src = src.astype(np.uint16)
        tiles, present = band_to_tiles(
            src, g.tile_rows, g.tile_columns, dtype=None if bits == 1 else tile_dtype, threads=coder.threads
        )
        if bits == 1:
            tiles = tiles.view(np.uint8)
        level.present[first + s][tile_row] = present
        coder.add(level.spools[first + s], tiles, present)


def _feed(p: Pass, coder: _Coder, level: LevelFrames, first: int, rows: np.ndarray, row0: int) -> None:
    """Add consecutive rows (from level row ``row0``) to a downsampled level's band; emit full bands."""
    g = level.geometry
    done = 0
    while done < rows.shape[0]:
        if level._buffer is None:
            level._buffer = np.empty((g.tile_rows, g.columns), dtype=rows.dtype)
            level._band_row = (row0 + done) // g.tile_rows * g.tile_rows
            level._filled = 0
        height = min(g.tile_rows, g.rows - level._band_row)
        take = min(rows.shape[0] - done, height - level._filled)
        level._buffer[level._filled : level._filled + take] = rows[done : done + take]
        level._filled += take
        done += take
        if level._filled == height:
            _emit(p, coder, level, first, level._buffer[:height], level._band_row // g.tile_rows)
            level._buffer = None


def _run_pass(
    p: Pass,
    levels: Sequence[LevelFrames],
    firsts: Sequence[int],
    coder: _Coder,
    dtype: np.dtype | None,
    counts: np.ndarray | None,
    progress: Progress | None = None,
) -> None:
    """Read ``p.layer`` band by band (the next band on a second thread) and emit every level's frames;
    ``progress`` hears of each band's base-level frames and the bytes the spools grew by."""
    from labelmap.kernels.tiles import count_values, downsample_nearest

    base = levels[0].geometry

    def read(r0: int) -> np.ndarray:
        # on the read-ahead thread: the value count (a nogil kernel) overlaps the previous band's tiling
        r1 = min(r0 + base.tile_rows, base.rows)
        raw = np.asarray(p.layer.read_rows(r0, r1))
        if raw.shape != (r1 - r0, base.columns):
            expected = (r1 - r0, base.columns)
            raise InputError(f"{p.name}: rows {r0 + 1}..{r1} read as shape {raw.shape}, expected {expected}")
        band = raw if dtype is None else _as_labels(raw, dtype, p.name, r0)
        if counts is not None:
            count_values(band, counts, threads=coder.threads)
        return band

    starts = list(range(0, base.rows, base.tile_rows))
    band_frames = len(p.values) * base.tiles_across
    spooled = _spooled(levels) if progress is not None else 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, starts[0])
        for i, r0 in enumerate(starts):
            band = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(read, starts[i + 1])
            if p.transform is not None:
                band = p.transform(band)
            _emit(p, coder, levels[0], firsts[0], band, i)
            r1 = r0 + band.shape[0]
            for level, first in zip(levels[1:], firsts[1:]):
                assert level.row_index is not None and level.col_index is not None
                a, b = (int(x) for x in np.searchsorted(level.row_index, [r0, r1]))
                if b > a:
                    rows = downsample_nearest(band, level.row_index[a:b] - r0, level.col_index)
                    _feed(p, coder, level, first, rows, a)
            if progress is not None:
                now = _spooled(levels)
                progress.advance(band_frames, nbytes=now - spooled)
                spooled = now


def _spooled(levels: Sequence[LevelFrames]) -> int:
    """Bytes written to every level's spools so far."""
    return sum(s.size for level in levels for s in level.spools)
