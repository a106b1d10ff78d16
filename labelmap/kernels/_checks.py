"""Argument checks shared by the kernel wrappers: misuse raises TypeError / ValueError."""

from __future__ import annotations

import numpy as np

__all__ = ["int_vector", "check_range", "paired_vectors"]


def int_vector(values, name: str) -> np.ndarray:
    """``values`` as a contiguous 1-D int64 array."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of integers, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integers, got data type {arr.dtype}")
    if arr.dtype == np.uint64 and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: value {int(arr.max())} is out of range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def paired_vectors(first, second, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two :func:`int_vector` arrays of one entry per frame each."""
    a, b = int_vector(first, names[0]), int_vector(second, names[1])
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} has {a.size} entries but {names[1]} has {b.size}; expected one entry of each per frame"
        )
    return a, b


def check_range(arr: np.ndarray, name: str, lo: int, hi: int, what: str) -> None:
    """Raise ValueError unless every entry of ``arr`` is in lo..hi (inclusive)."""
    if arr.size == 0:
        return
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {int(arr[i])} is outside {lo}..{hi} ({what})")
