"""Bands of a slide label image on their way to a file: checked, and regrouped into tile rows.

A writer receives ``(row0, band)`` pairs in row order, ``band`` being ``(h, columns)`` or
``(layers, h, columns)``; :func:`checked_bands` checks that they tile the rows exactly once and
gives every band as ``(layers, h, columns)`` of the stored type; :func:`row_groups` cuts or
joins them into groups of a fixed number of rows (a tile row), copying only when a band does
not line up with the groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["checked_bands", "row_groups", "stored_dtype"]


def stored_dtype(dtype: Any) -> np.dtype:
    """The type a writer stores for ``dtype``: bool as uint8 (0/1), others native little-endian."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return np.dtype(np.uint8)
    return dt.newbyteorder("<") if dt.itemsize > 1 else dt


def checked_bands(
    bands: Iterable[tuple[int, Any]], *, shape: tuple[int, int], dtype: np.dtype, layers: int
) -> Iterator[np.ndarray]:
    """Each band as a ``(layers, h, columns)`` array of ``dtype``, after checking that they follow each other.

    Raises
    ------
    ValueError
        A band out of order, of the wrong width or number of layers, or bands that do not
        cover the rows exactly (a caller's mistake, not the user's).
    """
    rows, columns = int(shape[0]), int(shape[1])
    expect = 0
    for row0, band in bands:
        array = np.asarray(band)
        if array.ndim == 2 and layers == 1:
            array = array[np.newaxis]
        if array.ndim != 3 or array.shape[0] != layers or array.shape[2] != columns:
            raise ValueError(
                f"band at row {row0} has shape {array.shape}; expected ({layers}, rows, {columns})"
                + (" or (rows, columns)" if layers == 1 else "")
            )
        if int(row0) != expect:
            raise ValueError(f"bands must come in row order without gaps: got row {row0}, expected {expect}")
        h = array.shape[1]
        if expect + h > rows:
            raise ValueError(f"band at row {row0} of {h} rows runs past the image's {rows} rows")
        expect += h
        if h:
            yield array if array.dtype == dtype else array.astype(dtype)
    if expect != rows:
        raise ValueError(f"the bands cover {expect} of the image's {rows} rows")


def row_groups(
    bands: Iterable[np.ndarray], group: int, *, rows: int, columns: int, layers: int, dtype: np.dtype
) -> Iterator[np.ndarray]:
    """``(layers, group, columns)`` groups of rows (the last one shorter) from consecutive bands.

    A group that lies inside one band is a view of it; others are copied into one reused
    buffer, so a consumer must be done with a group before asking for the next.
    """
    buf: np.ndarray | None = None
    fill = 0
    done = 0
    for band in bands:
        h = band.shape[1]
        i = 0
        while i < h:
            want = min(group, rows - done)  # rows of the group being built
            if fill == 0 and h - i >= want:
                yield band[:, i : i + want]
                i += want
                done += want
                continue
            if buf is None:
                buf = np.empty((layers, group, columns), dtype=dtype)
            take = min(want - fill, h - i)
            buf[:, fill : fill + take] = band[:, i : i + take]
            fill += take
            i += take
            if fill == want:
                yield buf[:, :want]
                done += want
                fill = 0
    if fill:  # pragma: no cover - checked_bands guarantees the rows add up
        raise ValueError("bands end inside a group of rows")


class BandPool:
    """Band arrays handed out by a reader and reused once their caller has let go of them.

    A fresh 40 MB band costs a page fault per 4 KiB when it is first written (about 2 GB/s);
    a band written before costs nothing extra (12 GB/s and more).  A band is reused only when
    nothing but this pool refers to it (CPython reference count: a view, a memoryview or a
    kept reference anywhere counts), so a caller that keeps bands gets new ones.
    """

    def __init__(self, size: int = 3) -> None:
        self._size = size
        self._bands: list[np.ndarray] = []

    def empty(self, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``, reused when free."""
        import sys

        for k in range(len(self._bands)):
            # references: the list, and getrefcount's argument - nobody else holds the band
            if sys.getrefcount(self._bands[k]) <= 2 and self._bands[k].shape == shape and self._bands[k].dtype == dtype:
                band = self._bands.pop(k)
                self._bands.append(band)
                return band
        band = np.empty(shape, dtype=dtype)
        if band.nbytes >= 1 << 20:  # small bands come from malloc's reused memory anyway
            self._bands.append(band)
            if len(self._bands) > self._size:
                del self._bands[0]
        return band
