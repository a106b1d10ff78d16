"""The clean top-level element walk of a DICOM header: checks here, the loop in ``labelmap._core``.

:func:`walk_header` steps over the elements of a buffer that a byte-by-byte Python walk would
take one by one (about 0.5 ms for a CT header) and returns the wanted ones; it stops, and
leaves the element to the Python walker (:mod:`labelmap.sources.headers`), at anything
unusual, so every error and every odd file is still read by that one walker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from labelmap import _core

__all__ = ["WALK_FULL", "WALK_KERNEL", "WALK_PYTHON", "WALK_STOP", "Walk", "tag_array", "walk_header"]

#: False when the built ``labelmap._core`` predates the kernel (an editable install whose
#: extension was not rebuilt: ``make .venv/.installed``); callers then walk in Python only.
WALK_KERNEL = hasattr(_core, "walk_header")

#: the walk reached the stop tag (or, in the File Meta, an element of another group)
WALK_STOP = 0
#: the element at ``pos`` needs the Python walker (unusual, a sequence or the character set wanted)
WALK_PYTHON = 1
#: ``out`` is full: call again from ``pos``
WALK_FULL = 2


class Walk(NamedTuple):
    """What :func:`walk_header` did: ``status``, rows of ``(tag, VR code, value offset, value length)``
    of the wanted elements walked, where it stopped, the last tag walked and the items skipped.

    The VR code is the two VR bytes as ``first << 8 | second`` (0 in Implicit VR)."""

    status: int
    elements: list[tuple[int, int, int, int]]
    pos: int
    previous: int
    items: int


def tag_array(tags: Iterable[int]) -> np.ndarray:
    """The tags as an ascending uint32 array, as :func:`walk_header` searches them."""
    arr = np.array(sorted(set(tags)), dtype=np.uint32)
    return np.ascontiguousarray(arr)


_EMPTY = np.zeros(0, np.uint32)


def walk_header(
    buf: bytes,
    pos: int,
    *,
    implicit: bool,
    meta: bool,
    stop: int,
    wanted: np.ndarray | None,
    sequences: np.ndarray,
    previous: int,
    budget: int,
    max_depth: int,
    out: np.ndarray,
) -> Walk:
    """Walk the top-level elements of ``buf`` from ``pos`` while they are plain and whole in ``buf``.

    Parameters
    ----------
    buf
        Bytes of the data set (a window of it); ``pos`` counts from its first byte.
    pos
        Offset of the first element header.
    implicit
        Implicit VR Little Endian (else Explicit VR Little Endian).
    meta
        Stop at the first element that is not of group 0x0002 (the File Meta Information).
    stop
        Stop at the first tag >= ``stop``.
    wanted
        Ascending uint32 tags to record (:func:`tag_array`); None records every element.  The
        Specific Character Set is always wanted (and left to the Python walker).
    sequences
        Ascending uint32 tags whose dictionary VR is SQ: wanted, in Implicit VR or as UN, they
        are left to the Python walker.
    previous
        The last tag walked (-1 at the start): a tag not above it stops the walk.
    budget
        Sequence items the walk may skip before it leaves the element to the Python walker.
    max_depth
        Deepest sequence nesting skipped.
    out
        (N, 4) int64 rows for the recorded elements; when full, the walk stops with WALK_FULL.

    Returns
    -------
    Walk
        Status, the recorded rows, where the walk stopped, the last tag walked and items skipped.

    Raises
    ------
    ValueError
        For ``out`` not (N, 4) int64 C-contiguous with N > 0, tags not 1-D contiguous uint32,
        ``stop`` not a 32-bit tag or a negative ``pos``.
    """
    # dtype, dimensions and contiguity are checked by the kernel's typed memoryviews (ValueError)
    if len(out.shape) != 2 or out.shape[0] == 0 or out.shape[1] != 4:
        raise ValueError(f"walk_header: out must be (N > 0, 4) int64, got shape {out.shape}")
    if not 0 <= stop <= 0xFFFFFFFF:
        raise ValueError(f"walk_header: stop must be a 32-bit tag, got {stop}")
    if not 0 <= pos:
        raise ValueError(f"walk_header: pos must not be negative, got {pos}")
    tags = _EMPTY if wanted is None else wanted
    return Walk(*_core.walk_header(buf, pos, implicit, meta, stop, tags, wanted is None, sequences, previous, budget,
                                   max_depth, out))  # fmt: skip
