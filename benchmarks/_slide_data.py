"""Deterministic synthetic slides for the slide benchmarks: label maps made band by band, and VL WSI headers.

A slide label map (uint16, values 0..20) is mostly background (0) with tissue regions (unions of large
ellipses, about 40 % of the area) labelled 1 (stroma); inside the tissue, glands (ellipses 50-300 px
across, labels 2..6) and nuclei (disks 5-15 px across, labels 7..20).  Everything is drawn from a seeded
list per band of :data:`BAND` rows (each band's glands and nuclei come from their own generator seeded by
(seed, band)), so any band can be made on its own in bounded memory: a 100,000 x 80,000 slide streams
with a few 40 MB buffers.  Writers: a memory-mapped ``.npy``, a tiled deflate-compressed (Big)TIFF
written tile by tile (and a band reader for tiled TIFFs).  ``_slide_case.py`` adds the VL WSI source
and the cached cases.
"""

from __future__ import annotations

import concurrent.futures as _cf
import functools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

SEED = 20261206
#: rows per generated band (= the TIFF tile height)
BAND = 256
#: the label values: 1 stroma, 2..6 glands, 7..20 nuclei
N_CLASSES = 20
GLAND_LABELS = (2, 7)
NUCLEUS_LABELS = (7, 21)
#: nuclei diameters (px) and gland diameters (px)
NUCLEUS_D = (5, 15)
GLAND_D = (50, 300)
#: rows of margin around a band for nuclei overlapping it (>= the largest nucleus diameter)
_PAD = 16
#: expected cover inside tissue: glands about 12 %, nuclei about 15 %
_GLAND_DENSITY = 0.12 / 18_300.0
_NUCLEUS_DENSITY = 0.15 / 86.0
TISSUE_TARGET = 0.40


# --------------------------------------------------------------------------- the label map
@dataclass(frozen=True)
class SyntheticSlide:
    """A deterministic synthetic label map of ``rows`` x ``columns`` (uint16), made band by band."""

    rows: int
    columns: int
    seed: int = SEED

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.columns)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    @property
    def n_bands(self) -> int:
        return -(-self.rows // BAND)

    @property
    def name(self) -> str:
        return f"slide-{self.rows}x{self.columns}-s{self.seed}"

    @cached_property
    def tissue(self) -> np.ndarray:
        """Tissue ellipses as a float64 (n, 4) array of (centre row, centre column, half height, half width).

        Clusters of 3-6 overlapping ellipses are added until a coarse grid says the union covers
        :data:`TISSUE_TARGET` of the slide.
        """
        rng = np.random.default_rng([self.seed, 0])
        rows, cols = self.rows, self.columns
        gy = (np.arange(200) + 0.5) * rows / 200
        gx = (np.arange(200) + 0.5) * cols / 200
        yy, xx = np.meshgrid(gy, gx, indexing="ij")
        covered = np.zeros(yy.shape, bool)
        out: list[tuple[float, float, float, float]] = []
        while covered.mean() < TISSUE_TARGET and len(out) < 400:
            cy, cx = rng.uniform(0.12, 0.88) * rows, rng.uniform(0.12, 0.88) * cols
            for _ in range(int(rng.integers(3, 7))):
                ry = rng.uniform(0.04, 0.12) * rows
                rx = rng.uniform(0.04, 0.12) * cols
                ey = float(np.clip(cy + rng.normal(0, 0.6) * ry, 0, rows - 1))
                ex = float(np.clip(cx + rng.normal(0, 0.6) * rx, 0, cols - 1))
                out.append((ey, ex, ry, rx))
                covered |= ((yy - ey) / ry) ** 2 + ((xx - ex) / rx) ** 2 <= 1.0
        return np.array(out, dtype=np.float64).reshape(-1, 4)

    def in_tissue(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Whether points (row y, column x) lie in the tissue (the union of the ellipses)."""
        inside = np.zeros(y.shape, bool)
        if y.size == 0:
            return inside
        lo, hi = float(y.min()), float(y.max())
        for ey, ex, ry, rx in self.tissue:
            if ey + ry < lo or ey - ry > hi:
                continue
            out = ~inside
            yo, xo = y[out], x[out]
            inside[out] = ((yo - ey) / ry) ** 2 + ((xo - ex) / rx) ** 2 <= 1.0
        return inside

    def _glands(self, band: int) -> tuple[np.ndarray, ...]:
        return _glands(self, band)

    def _nuclei(self, band: int) -> tuple[np.ndarray, ...]:
        return _nuclei(self, band)

    def make_glands(self, band: int) -> tuple[np.ndarray, ...]:
        """Glands centred in ``band``: (cy, cx, ry, rx, label), inside tissue."""
        rng = np.random.default_rng([self.seed, 1, band])
        r0, r1 = band * BAND, min(self.rows, (band + 1) * BAND)
        n = int(rng.poisson(_GLAND_DENSITY * (r1 - r0) * self.columns))
        cy = rng.uniform(r0, r1, n)
        cx = rng.uniform(0, self.columns, n)
        d = GLAND_D[0] + (GLAND_D[1] - GLAND_D[0]) * rng.random(n) ** 2
        aspect = rng.uniform(0.6, 1.0, n)
        label = rng.integers(*GLAND_LABELS, n)
        keep = self.in_tissue(cy, cx)
        return cy[keep], cx[keep], (d * aspect / 2)[keep], (d / 2)[keep], label[keep]

    def make_nuclei(self, band: int) -> tuple[np.ndarray, ...]:
        """Nuclei centred in ``band``: (row, column, diameter, label) as int64, inside tissue."""
        rng = np.random.default_rng([self.seed, 2, band])
        r0, r1 = band * BAND, min(self.rows, (band + 1) * BAND)
        n = int(rng.poisson(_NUCLEUS_DENSITY * (r1 - r0) * self.columns))
        cy = rng.integers(r0, r1, n)
        cx = rng.integers(0, self.columns, n)
        d = rng.integers(NUCLEUS_D[0], NUCLEUS_D[1] + 1, n)
        label = rng.integers(*NUCLEUS_LABELS, n)
        keep = self.in_tissue(cy.astype(np.float64), cx.astype(np.float64))
        return cy[keep], cx[keep], d[keep], label[keep]

    def render(self, band: int, buf: np.ndarray | None = None) -> np.ndarray:
        """Band ``band`` (rows ``band*BAND`` .. +BAND, cropped at the end) as a (h, columns) uint16 array.

        ``buf`` (from :meth:`new_buffer`) is reused when given; the result is then a view of it,
        valid until the next call with the same buffer.
        """
        r0, r1 = band * BAND, min(self.rows, (band + 1) * BAND)
        h, cols = r1 - r0, self.columns
        if buf is None:
            buf = self.new_buffer()
        buf.fill(0)
        top = r0 - _PAD  # slide row of buf[0]
        nrows = h + 2 * _PAD

        # tissue: per row, the chord of every ellipse crossing it
        ys = np.arange(top, top + nrows, dtype=np.float64) + 0.5
        for ey, ex, ry, rx in self.tissue:
            t = 1.0 - ((ys - ey) / ry) ** 2
            hit = np.nonzero(t > 0)[0]
            if hit.size == 0:
                continue
            half = rx * np.sqrt(t[hit])
            c0 = np.clip(np.ceil(ex - half - 0.5), 0, cols).astype(np.int64)
            c1 = np.clip(np.floor(ex + half - 0.5) + 1, 0, cols).astype(np.int64)
            for i, a, b in zip(hit.tolist(), c0.tolist(), c1.tolist()):
                if b > a:
                    buf[i, a:b] = 1

        # glands of this band and its neighbours, clipped to tissue
        for b in range(max(0, band - 1), min(self.n_bands, band + 2)):
            for cy, cx, ry, rx, lab in zip(*self._glands(b)):
                y0, y1 = max(int(cy - ry), r0), min(int(cy + ry) + 1, r1)
                x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 1, cols)
                if y0 >= y1 or x0 >= x1:
                    continue
                yy = ((np.arange(y0, y1) + 0.5 - cy) / ry) ** 2
                xx = ((np.arange(x0, x1) + 0.5 - cx) / rx) ** 2
                sub = buf[y0 - top : y1 - top, x0:x1]
                sub[((yy[:, None] + xx[None, :]) <= 1.0) & (sub != 0)] = lab

        # nuclei: disk stamps scattered by flat index, only over tissue
        parts = [self._nuclei(b) for b in range(max(0, band - 1), min(self.n_bands, band + 2))]
        ny, nx, nd, nl = (np.concatenate([p[i] for p in parts]) for i in range(4))
        half = nd // 2
        keep = (ny - half + nd > r0) & (ny - half < r1) & (nx - half >= 0) & (nx - half + nd <= cols)
        ny, nx, nd, nl, half = ny[keep], nx[keep], nd[keep], nl[keep], half[keep]
        width = buf.shape[1]
        flat = buf.reshape(-1)
        for d in np.unique(nd).tolist():
            sel = nd == d
            base = (ny[sel] - half[sel] - top) * width + (nx[sel] - half[sel])
            idx = base[:, None] + _stamp(d, width)[None, :]
            vals = flat[idx]
            flat[idx] = np.where(vals != 0, nl[sel].astype(np.uint16)[:, None], 0)
        return buf[_PAD : _PAD + h, :cols]

    def new_buffer(self) -> np.ndarray:
        """A work buffer for :meth:`render`: one band plus margins, columns rounded up to a tile."""
        width = -(-self.columns // BAND) * BAND
        return np.zeros((BAND + 2 * _PAD, width), np.uint16)

    def iter_bands(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(row0, band) for bands ``start`` .. ``stop``; each band is valid until the next is yielded."""
        buf = self.new_buffer()
        for band in range(start, self.n_bands if stop is None else stop):
            yield band * BAND, self.render(band, buf)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (a fresh array): the SlideLabels protocol, for small checks."""
        out = np.empty((stop - start, self.columns), np.uint16)
        buf = self.new_buffer()
        for band in range(start // BAND, -(-stop // BAND)):
            r0 = band * BAND
            data = self.render(band, buf)
            a, b = max(start, r0), min(stop, r0 + data.shape[0])
            out[a - start : b - start] = data[a - r0 : b - r0]
        return out

    def array(self) -> np.ndarray:
        """The whole label map (small slides only)."""
        return self.read_rows(0, self.rows)


@functools.lru_cache(maxsize=32)
def _glands(slide: SyntheticSlide, band: int) -> tuple[np.ndarray, ...]:
    """A band's glands, cached: each band is drawn with its neighbours (three renders use it)."""
    return slide.make_glands(band)


@functools.lru_cache(maxsize=32)
def _nuclei(slide: SyntheticSlide, band: int) -> tuple[np.ndarray, ...]:
    """A band's nuclei, cached like :func:`_glands`."""
    return slide.make_nuclei(band)


_STAMPS: dict[tuple[int, int], np.ndarray] = {}


def _stamp(d: int, width: int) -> np.ndarray:
    """Flat offsets (in a buffer ``width`` wide) of a disk of diameter ``d`` in its d x d box."""
    key = (d, width)
    if key not in _STAMPS:
        c = (d - 1) / 2.0
        yy, xx = np.mgrid[0:d, 0:d]
        dy, dx = np.nonzero((yy - c) ** 2 + (xx - c) ** 2 <= (d / 2.0) ** 2)
        _STAMPS[key] = (dy * width + dx).astype(np.int64)
    return _STAMPS[key]


# --------------------------------------------------------------------------- writers
def _atomic(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".part")


def write_npy(slide: SyntheticSlide, path: str | os.PathLike, dtype: str = "uint16") -> Path:
    """The label map as a ``.npy`` file of ``dtype`` (uint16, or uint8: the values fit), written band by band
    through a memory map; reused when present."""
    path = Path(path)
    if path.exists():
        return path
    tmp = _atomic(path)
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=slide.shape)
    for row0, band in slide.iter_bands():
        out[row0 : row0 + band.shape[0]] = band
    out.flush()
    del out
    os.replace(tmp, path)
    return path


def _tile_bytes(band: np.ndarray, level: int) -> list[bytes]:
    """The band's 256 x 256 tiles (zero-padded) as zlib streams, left to right."""
    h, cols = band.shape
    across = -(-cols // BAND)
    if h != BAND or cols != across * BAND:
        padded = np.zeros((BAND, across * BAND), np.uint16)
        padded[:h, :cols] = band
        band = padded
    tiles = band.reshape(BAND, across, BAND).transpose(1, 0, 2)
    out = []
    empty = None
    for t in range(across):
        tile = tiles[t]
        if not tile.any():
            if empty is None:
                empty = zlib.compress(bytes(BAND * BAND * 2), level)
            out.append(empty)
        else:
            out.append(zlib.compress(np.ascontiguousarray(tile).data, level))
    return out


def write_tiff(slide: SyntheticSlide, path: str | os.PathLike, *, level: int = 1, threads: int = 2) -> Path:
    """The label map as a tiled (256 x 256), zlib-compressed uint16 BigTIFF; reused when present.

    Bands are made and compressed on ``threads`` threads, one band each, and handed to tifffile as
    encoded tiles in order, so memory stays at a few bands whatever the slide size.
    """
    import tifffile

    path = Path(path)
    if path.exists():
        return path
    tmp = _atomic(path)

    def job(band: int) -> list[bytes]:
        buf = _buffers.get(slide)
        try:
            return _tile_bytes(slide.render(band, buf), level)
        finally:
            _buffers.put(slide, buf)

    def tiles() -> Iterator[bytes]:
        with _cf.ThreadPoolExecutor(threads) as pool:
            pending: list[_cf.Future[list[bytes]]] = []
            nxt = 0
            for band in range(slide.n_bands):
                while nxt < slide.n_bands and len(pending) < 2 * threads:
                    pending.append(pool.submit(job, nxt))
                    nxt += 1
                yield from pending.pop(0).result()
                del band

    tifffile.imwrite(
        tmp,
        tiles(),
        shape=slide.shape,
        dtype=np.uint16,
        tile=(BAND, BAND),
        compression="zlib",
        photometric="minisblack",
        bigtiff=True,
        metadata=None,
    )
    os.replace(tmp, path)
    return path


class _BufferPool:
    """Render buffers shared by worker threads (one per concurrent band)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._free: dict[tuple[int, int], list[np.ndarray]] = {}

    def get(self, slide: SyntheticSlide) -> np.ndarray:
        with self._lock:
            free = self._free.setdefault(slide.shape, [])
            if free:
                return free.pop()
        return slide.new_buffer()

    def put(self, slide: SyntheticSlide, buf: np.ndarray) -> None:
        with self._lock:
            self._free.setdefault(slide.shape, []).append(buf)


_buffers = _BufferPool()


def iter_tiff_bands(path: str | os.PathLike, *, threads: int = 2) -> Iterator[tuple[int, np.ndarray]]:
    """(row0, band) of the first page of a tiled or striped TIFF, one tile row (or strip) at a time.

    Tiles are decoded by tifffile's page decoder on ``threads`` threads; memory stays at a band.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        rows, cols = page.shape[:2]
        fh = tif.filehandle
        if page.is_tiled:
            th, tw = page.tilelength, page.tilewidth
        else:
            th, tw = page.rowsperstrip, cols
        across = -(-cols // tw)
        offsets, counts = page.dataoffsets, page.databytecounts
        band_out = np.empty((th, cols), page.dtype)

        def decode(args):
            index, data = args
            tile, _, shape = page.decode(data, index)
            return index, tile

        with _cf.ThreadPoolExecutor(threads) as pool:
            for band in range(-(-rows // th)):
                h = min(th, rows - band * th)
                chunks = []
                for t in range(across):
                    i = band * across + t
                    fh.seek(offsets[i])
                    chunks.append((i, fh.read(counts[i])))
                for i, tile in pool.map(decode, chunks):
                    t = i - band * across
                    c0 = t * tw
                    w = min(tw, cols - c0)
                    band_out[:h, c0 : c0 + w] = np.asarray(tile).reshape(tile.shape[-3], tile.shape[-2])[:h, :w]
                yield band * th, band_out[:h]
