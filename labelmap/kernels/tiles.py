"""Frame tiling of slide label bands: band <-> tiles, value counts, 1-bit tile frames, nearest downsampling.

A *band* is one tile row of a slide's total pixel matrix: (h, W) with h <= tile_rows
(the last band of a slide may be shorter).  Its tiles are the frames of that tile row
in TILED_FULL order, left to right, zero-padded past h rows and W columns.  The
wrappers check and allocate (misuse raises TypeError / ValueError); the loops are in
``labelmap._core`` (``labelmap/_tiles.pxi``) and run without the GIL, on several
threads for bands of 4 MiB or more (a share of the tiles or rows each).
"""

from __future__ import annotations

import numpy as np

from labelmap import _core
from labelmap._util.threads import parts_for, run_parts
from labelmap.kernels._checks import check_range, int_vector

__all__ = [
    "band_to_tiles",
    "tiles_to_band",
    "count_values",
    "tile_bits_length",
    "pack_tile_bits",
    "unpack_tile_bits",
    "nearest_indices",
    "downsample_nearest",
]

#: Bands of at least this many bytes are cut on several threads (benchmarks/bench_kernels.py Tiles).
_SPLIT_BYTES = 1 << 22

_DTYPES = {np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.bool_)}


def _band(band, name: str) -> np.ndarray:
    """``band`` as a 2-D uint8/uint16/bool array whose columns are contiguous (rows may be strided)."""
    arr = np.asarray(band)
    if arr.dtype not in _DTYPES and not (arr.dtype.kind == "u" and arr.dtype.itemsize in (1, 2)):
        raise TypeError(f"{name}: expected a uint8, uint16 or bool band, got data type {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (rows, columns) band, got shape {arr.shape}")
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.shape[1] > 1 and arr.strides[1] != arr.itemsize or arr.strides[0] < 0:
        arr = np.ascontiguousarray(arr)
    return arr


def _as_unsigned(arr: np.ndarray) -> np.ndarray:
    return arr.view(np.uint8) if arr.dtype == np.bool_ else arr


def _tile_size(tile_rows: int, tile_columns: int, name: str) -> tuple[int, int]:
    tr, tc = int(tile_rows), int(tile_columns)
    if tr < 1 or tc < 1:
        raise ValueError(f"{name}: tiles must have at least one row and one column, got {tr} x {tc}")
    return tr, tc


def _check_band_fits(arr: np.ndarray, tile_rows: int, name: str) -> None:
    h, w = arr.shape
    if h < 1 or w < 1:
        raise ValueError(f"{name}: the band of {h} x {w} pixels holds no pixel")
    if h > tile_rows:
        raise ValueError(f"{name}: a band has at most tile_rows = {tile_rows} rows, got {h}")


def _tile_parts(threads: int | None, nbytes: int, n_tiles: int) -> list[int]:
    parts = parts_for(threads, nbytes, _SPLIT_BYTES, n_tiles)
    return [n_tiles * i // parts for i in range(parts + 1)]


def band_to_tiles(
    band, tile_rows: int, tile_columns: int, *, dtype=None, out: np.ndarray | None = None, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one band of a slide into its tiles, zero-padded, and say which tiles hold a non-zero pixel.

    Parameters
    ----------
    band
        (h, W) uint8, uint16 or bool label rows, h <= tile_rows, W >= 1; rows may be strided.
    tile_rows, tile_columns
        Tile (frame) size.
    dtype
        Data type of the tiles: uint8, uint16 or bool (only from a bool band); default the
        band's.  uint16 -> uint8 keeps the low byte: the caller guarantees the values fit.
    out
        Writeable C-contiguous (tiles, tile_rows, tile_columns) array of ``dtype`` to fill
        (every pixel is written): reusing one per band saves the page faults of a new array,
        which cost more than the copy itself.
    threads
        Threads for bands of 4 MiB or more (a share of the tiles each); None, 0 or less:
        every core.  The output does not depend on it.

    Returns
    -------
    tiles : numpy.ndarray
        ``out``, else a new (ceil(W / tile_columns), tile_rows, tile_columns) C-contiguous
        array of ``dtype``.
    present : numpy.ndarray
        bool (tiles,): True where a tile holds a non-zero band pixel.

    Raises
    ------
    TypeError
        For another band dtype or ``dtype``.
    ValueError
        For a band that is not 2-D, is empty or has more than ``tile_rows`` rows, or a tile
        size below 1, or an ``out`` of the wrong shape or layout.
    """
    arr = _band(band, "band_to_tiles")
    tr, tc = _tile_size(tile_rows, tile_columns, "band_to_tiles")
    _check_band_fits(arr, tr, "band_to_tiles")
    out_dtype = arr.dtype if dtype is None else np.dtype(dtype)
    if out_dtype not in _DTYPES:
        raise TypeError(f"band_to_tiles: dtype must be uint8, uint16 or bool, got {out_dtype}")
    if out_dtype == np.bool_ and arr.dtype != np.bool_:
        raise TypeError(f"band_to_tiles: bool tiles need a bool band, got data type {arr.dtype}")
    src = _as_unsigned(arr)
    n = -(-arr.shape[1] // tc)
    shape = (n, tr, tc)
    if out is None:
        tiles = np.empty(shape, dtype=np.uint8 if out_dtype == np.bool_ else out_dtype)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != out_dtype:
            raise TypeError(f"band_to_tiles: out must be a {out_dtype} numpy array")
        if out.shape != shape:
            raise ValueError(f"band_to_tiles: out must have shape {shape}, got {out.shape}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("band_to_tiles: out must be a writeable C-contiguous array")
        tiles = _as_unsigned(out)
    present = np.empty(n, dtype=np.uint8)
    bounds = _tile_parts(threads, tiles.nbytes + src.nbytes, n)

    def run(i: int) -> None:
        _core.band_to_tiles(src, tiles, present, bounds[i], bounds[i + 1])

    run_parts(run, len(bounds) - 1, "band-to-tiles")
    if out is not None:
        return out, present.view(np.bool_)
    if out_dtype == np.bool_:
        tiles = tiles.view(np.bool_)
    return tiles, present.view(np.bool_)


def tiles_to_band(
    tiles, width: int, rows: int | None = None, *, out: np.ndarray | None = None, threads: int | None = None
) -> np.ndarray:
    """Join one tile row's tiles into a band, cropping the padding (inverse of :func:`band_to_tiles`).

    Parameters
    ----------
    tiles
        (n, tile_rows, tile_columns) uint8, uint16 or bool, n = ceil(width / tile_columns).
    width
        Columns W of the band (of the total pixel matrix).
    rows
        Rows h of the band, 1..tile_rows; default tile_rows (the last band may be shorter).
    out
        A writeable (h, W) array of the tiles' dtype, or uint16 for uint8/bool tiles, whose
        columns are contiguous (e.g. rows of a larger image); default a new array.
    threads
        Threads for bands of 4 MiB or more (a share of the tiles each); None, 0 or less:
        every core.

    Returns
    -------
    numpy.ndarray
        ``out``, else a new C-contiguous (h, W) array of the tiles' dtype.

    Raises
    ------
    TypeError
        For another dtype of ``tiles`` or ``out``.
    ValueError
        For tiles that are not 3-D or too few or too many for ``width``, ``rows`` outside
        1..tile_rows, or an ``out`` of the wrong shape or layout.
    """
    arr = np.asarray(tiles)
    if arr.dtype not in _DTYPES:
        raise TypeError(f"tiles_to_band: expected uint8, uint16 or bool tiles, got data type {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(f"tiles_to_band: expected (tiles, tile_rows, tile_columns), got shape {arr.shape}")
    n, tr, tc = arr.shape
    if tr < 1 or tc < 1:
        raise ValueError(f"tiles_to_band: tiles of {tr} x {tc} pixels hold no pixel")
    width = int(width)
    if width < 1:
        raise ValueError(f"tiles_to_band: width must be at least 1, got {width}")
    if n != -(-width // tc):
        raise ValueError(
            f"tiles_to_band: a band {width} pixels wide has {-(-width // tc)} tiles of {tc} columns, got {n}"
        )
    h = tr if rows is None else int(rows)
    if not 1 <= h <= tr:
        raise ValueError(f"tiles_to_band: rows must be 1..{tr} (tile_rows), got {h}")
    src = _as_unsigned(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("=")))
    if out is None:
        band = np.empty((h, width), dtype=src.dtype)
        result = band.view(np.bool_) if arr.dtype == np.bool_ else band
    else:
        if not isinstance(out, np.ndarray) or out.dtype not in _DTYPES or out.dtype.byteorder not in ("=", "|"):
            raise TypeError("tiles_to_band: out must be a native uint8, uint16 or bool numpy array")
        if out.dtype == np.bool_ and arr.dtype != np.bool_ or out.dtype == np.uint8 and arr.dtype == np.uint16:
            raise TypeError(f"tiles_to_band: cannot copy {arr.dtype} tiles into a {out.dtype} out")
        if out.shape != (h, width):
            raise ValueError(f"tiles_to_band: out must have shape {(h, width)}, got {out.shape}")
        if not out.flags.writeable or (width > 1 and out.strides[1] != out.itemsize) or out.strides[0] < 0:
            raise ValueError("tiles_to_band: out must be writeable, with contiguous columns")
        band = _as_unsigned(out)
        result = out
    bounds = _tile_parts(threads, 2 * band.nbytes, n)

    def run(i: int) -> None:
        _core.tiles_to_band(src, band, bounds[i], bounds[i + 1])

    run_parts(run, len(bounds) - 1, "tiles-to-band")
    return result


def count_values(band, counts: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Add the histogram of ``band`` to ``counts`` in place (e.g. segment pixel counts of a slide).

    Parameters
    ----------
    band
        (h, W) uint8, bool or uint16 label rows (any number of rows; rows may be strided).
    counts
        Writeable C-contiguous int64 array of 256 entries (uint8/bool) or 65536 (uint16).
    threads
        Threads for bands of 4 MiB or more (a share of the rows each, with its own counts);
        None, 0 or less: every core.

    Returns
    -------
    numpy.ndarray
        ``counts``.

    Raises
    ------
    TypeError
        For another band dtype or a ``counts`` that is not int64.
    ValueError
        For a band that is not 2-D, or a ``counts`` of the wrong length or layout.
    """
    arr = _band(band, "count_values")
    src = _as_unsigned(arr)
    need = 256 if src.dtype == np.uint8 else 65536
    if not isinstance(counts, np.ndarray) or counts.dtype != np.int64:
        raise TypeError(f"count_values: counts must be an int64 numpy array, got {type(counts).__name__}")
    if counts.shape != (need,):
        raise ValueError(f"count_values: a {arr.dtype} band needs counts of shape ({need},), got {counts.shape}")
    if not counts.flags.c_contiguous or not counts.flags.writeable:
        raise ValueError("count_values: counts must be a writeable C-contiguous array")
    if not src.size:
        return counts
    parts = parts_for(threads, src.nbytes, _SPLIT_BYTES, src.shape[0])
    bounds = [src.shape[0] * i // parts for i in range(parts + 1)]
    partial = [counts] + [np.zeros(need, dtype=np.int64) for _ in range(parts - 1)]

    def run(i: int) -> None:
        _core.count_values(src[bounds[i] : bounds[i + 1]], np.zeros(need, dtype=np.uint8), partial[i])

    run_parts(run, parts, "count-values")
    for extra in partial[1:]:
        counts += extra
    return counts


def tile_bits_length(n_tiles: int, tile_rows: int, tile_columns: int, bit_offset: int = 0) -> int:
    """Bytes of ``n_tiles`` 1-bit frames packed from stream bit ``bit_offset``: ceil((offset + n * px) / 8)."""
    return (int(bit_offset) + int(n_tiles) * int(tile_rows) * int(tile_columns) + 7) // 8


def _bit_offset(bit_offset: int, name: str) -> int:
    off = int(bit_offset)
    if not 0 <= off <= 7:
        raise ValueError(f"{name}: bit_offset must be 0..7 (a bit of the first byte), got {off}")
    return off


def pack_tile_bits(
    band,
    tile_rows: int,
    tile_columns: int,
    *,
    value: int | None = None,
    bit_offset: int = 0,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pack one band's BINARY frames (one per tile, TILED_FULL order) as one 1-bit stream.

    Tile t's pixel (r, c) is stream bit ``bit_offset + (t * tile_rows + r) * tile_columns + c``
    (bit i in byte i // 8 at bit i % 8, LSB first), so frames straddle bytes when a tile's
    pixel count is not a multiple of 8, as PS3.5 8.1.1 packs consecutive frames.

    Parameters
    ----------
    band
        (h, W) uint8, uint16 or bool label rows, h <= tile_rows, W >= 1.
    tile_rows, tile_columns
        Tile (frame) size.
    value
        A pixel is 1 where ``band == value``; None: where ``band != 0``.
    bit_offset
        Bit of ``packed[0]`` (0..7) where tile 0 starts, to continue a stream whose last
        byte is partly filled.
    out
        Writeable C-contiguous 1-D uint8 array of at least :func:`tile_bits_length` bytes:
        the bits of ``out[0]`` below ``bit_offset`` are kept (put the stream's partial last
        byte there), every later bit up to that length is overwritten.  Default a new array
        of exactly that length, its bits before ``bit_offset`` 0.
    threads
        Threads for bands of 4 MiB or more; None, 0 or less: every core.

    Returns
    -------
    packed : numpy.ndarray
        ``out`` or the new uint8 stream.
    present : numpy.ndarray
        bool (tiles,): True where a tile has a 1 bit.

    Raises
    ------
    TypeError
        For another band dtype or an ``out`` that is not a 1-D uint8 array.
    ValueError
        For a band that is empty, not 2-D or taller than ``tile_rows``, a ``value`` outside the
        band's dtype, ``bit_offset`` outside 0..7, or a short or read-only ``out``.
    """
    arr = _band(band, "pack_tile_bits")
    tr, tc = _tile_size(tile_rows, tile_columns, "pack_tile_bits")
    _check_band_fits(arr, tr, "pack_tile_bits")
    src = _as_unsigned(arr)
    off = _bit_offset(bit_offset, "pack_tile_bits")
    if value is None:
        target = -1
    else:
        target = int(value)
        top = 1 if arr.dtype == np.bool_ else int(np.iinfo(src.dtype).max)
        if not 0 <= target <= top:
            raise ValueError(f"pack_tile_bits: value must be 0..{top} for a {arr.dtype} band, got {target}")
    n = -(-arr.shape[1] // tc)
    need = tile_bits_length(n, tr, tc, off)
    if out is None:
        out = np.zeros(need, dtype=np.uint8)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 1:
            raise TypeError("pack_tile_bits: out must be a 1-D uint8 numpy array")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("pack_tile_bits: out must be a writeable C-contiguous array")
        if out.size < need:
            raise ValueError(
                f"pack_tile_bits: {n} tiles of {tr} x {tc} pixels from bit {off} need {need} bytes, out has {out.size}"
            )
        out[0] &= (1 << off) - 1
        out[1:need] = 0
    present = np.empty(n, dtype=np.uint8)
    # neighbouring parts may share the byte where they meet (bits are ORed in): cut twice as
    # many parts as threads, run the even ones at once, then the odd ones
    threads_used = parts_for(threads, src.nbytes, _SPLIT_BYTES, n // 2)
    parts = min(2 * threads_used, n) if threads_used > 1 else 1
    bounds = [n * i // parts for i in range(parts + 1)]

    def run(i: int) -> None:
        _core.pack_tile_bits(src, tr, tc, target, out, off, present, bounds[i], bounds[i + 1])

    if parts == 1:
        run(0)
    else:
        evens = list(range(0, parts, 2))
        odds = list(range(1, parts, 2))
        run_parts(lambda i: run(evens[i]), len(evens), "pack-tile-bits")
        run_parts(lambda i: run(odds[i]), len(odds), "pack-tile-bits")
    return out, present.view(np.bool_)


def unpack_tile_bits(data, n_tiles: int, tile_rows: int, tile_columns: int, *, bit_offset: int = 0) -> np.ndarray:
    """Unpack ``n_tiles`` 1-bit frames of a stream (inverse of :func:`pack_tile_bits`).

    Parameters
    ----------
    data
        bytes-like or uint8 array holding at least :func:`tile_bits_length` bytes.
    n_tiles, tile_rows, tile_columns
        Frames to unpack and their size.
    bit_offset
        Bit of ``data[0]`` (0..7) where frame 0 starts.

    Returns
    -------
    numpy.ndarray
        uint8 (n_tiles, tile_rows, tile_columns) of 0 and 1.

    Raises
    ------
    TypeError
        For ``data`` that is not bytes or uint8.
    ValueError
        For a negative tile count, a tile size below 1, ``bit_offset`` outside 0..7, or
        ``data`` too short for the frames.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(data, dtype=np.uint8)
    else:
        arr = np.asarray(data)
        if arr.dtype != np.uint8:
            raise TypeError(f"unpack_tile_bits: expected uint8 bytes, got data type {arr.dtype}")
        buf = np.ascontiguousarray(arr.ravel())
    n = int(n_tiles)
    if n < 0:
        raise ValueError(f"unpack_tile_bits: n_tiles must be >= 0, got {n}")
    tr, tc = _tile_size(tile_rows, tile_columns, "unpack_tile_bits")
    off = _bit_offset(bit_offset, "unpack_tile_bits")
    need = tile_bits_length(n, tr, tc, off)
    if buf.size < need:
        raise ValueError(
            f"unpack_tile_bits: {n} frames of {tr} x {tc} pixels from bit {off} need {need} bytes, got {buf.size}"
        )
    out = np.empty((n, tr, tc), dtype=np.uint8)
    if out.size:
        _core.unpack_tile_bits(buf, off, out.reshape(-1))
    return out


def nearest_indices(src_len: int, dst_len: int) -> np.ndarray:
    """Source index of each of ``dst_len`` samples resampled by nearest neighbour, as Pillow's NEAREST.

    Sample i takes source index floor((i + 0.5) * src_len / dst_len), computed exactly in
    integers: floor((2i + 1) * src_len / (2 * dst_len)).

    Parameters
    ----------
    src_len, dst_len
        Source and destination lengths, both >= 1.

    Returns
    -------
    numpy.ndarray
        int64 (dst_len,), non-decreasing, in 0 .. src_len - 1.

    Raises
    ------
    ValueError
        For a length below 1.
    """
    src, dst = int(src_len), int(dst_len)
    if src < 1 or dst < 1:
        raise ValueError(f"nearest_indices: lengths must be at least 1, got {src} -> {dst}")
    i = np.arange(dst, dtype=np.int64)
    return np.minimum((2 * i + 1) * src // (2 * dst), src - 1)


def downsample_nearest(band, row_index, col_index, *, out: np.ndarray | None = None) -> np.ndarray:
    """``band[row_index][:, col_index]`` without the intermediate: one pyramid band by nearest neighbour.

    Parameters
    ----------
    band
        (h, W) uint8, uint16 or bool rows; rows may be strided.
    row_index, col_index
        Integer indices into the band's rows and columns (e.g. from :func:`nearest_indices`,
        made relative to the band's first row).
    out
        Writeable (len(row_index), len(col_index)) array of the band's dtype with contiguous
        columns; default a new array.

    Returns
    -------
    numpy.ndarray
        ``out`` or the new array.

    Raises
    ------
    TypeError
        For another dtype of ``band``, indices or ``out``.
    ValueError
        For an index outside the band or an ``out`` of the wrong shape or layout.
    """
    arr = _band(band, "downsample_nearest")
    rows = int_vector(row_index, "row_index")
    cols = int_vector(col_index, "col_index")
    check_range(rows, "row_index", 0, arr.shape[0] - 1, f"the band has {arr.shape[0]} rows")
    check_range(cols, "col_index", 0, arr.shape[1] - 1, f"the band has {arr.shape[1]} columns")
    shape = (rows.size, cols.size)
    if out is None:
        out = np.empty(shape, dtype=arr.dtype)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != arr.dtype:
            raise TypeError(f"downsample_nearest: out must be a {arr.dtype} numpy array")
        if out.shape != shape:
            raise ValueError(f"downsample_nearest: out must have shape {shape}, got {out.shape}")
        if not out.flags.writeable or (shape[1] > 1 and out.strides[1] != out.itemsize) or out.strides[0] < 0:
            raise ValueError("downsample_nearest: out must be writeable, with contiguous columns")
    if out.size:
        _core.downsample_nearest(_as_unsigned(arr), rows, cols, _as_unsigned(out), 0, rows.size)
    return out
