"""Small NumPy helpers for the hot paths.

``np.unique`` imports ``numpy.ma`` on first use (about 8 ms, a twentieth of a small
conversion); these sort-based equivalents do not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unique", "has_duplicates"]


def unique(values) -> np.ndarray:
    """The sorted distinct values of a 1-D array (``np.unique`` without ``numpy.ma``)."""
    a = np.sort(np.asarray(values).ravel(), kind="stable")
    if a.size < 2:
        return a
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def has_duplicates(values) -> bool:
    """Whether some value occurs twice in a 1-D array."""
    a = np.sort(np.asarray(values).ravel())
    return bool(a.size > 1 and (a[1:] == a[:-1]).any())
