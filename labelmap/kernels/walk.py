"""The clean top-level element walk of a DICOM header: checks here, the loop in ``labelmap._core``.

:func:`walk_header` steps over the elements of a buffer that a byte-by-byte Python walk would
take one by one (about 0.5 ms for a CT header) and returns the wanted ones; it stops, and
leaves the element to the Python walker (:mod:`labelmap.sources.headers`), at anything
unusual, so every error and every odd file is still read by that one walker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from labelmap import _core

__all__ = ["WALK_FULL", "WALK_PYTHON", "WALK_STOP", "Walk", "tag_array", "walk_header"]

#: the walk reached the stop tag (or, in the File Meta, an element of another group)
WALK_STOP = 0
#: the element at ``pos`` needs the Python walker (unusual, a sequence or the character set wanted)
WALK_PYTHON = 1
#: ``out`` is full: call again from ``pos``
WALK_FULL = 2


@dataclass(frozen=True)
class Walk:
    """What :func:`walk_header` did: ``status``, rows of ``(tag, VR code, value offset, value length)``
    of the wanted elements walked, where it stopped, the last tag walked and the items skipped.

    The VR code is the two VR bytes as ``first << 8 | second`` (0 in Implicit VR)."""

    status: int
    elements: list[list[int]]
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
        For ``out`` not (N, 4) int64 C-contiguous with N > 0, tags not 1-D uint32, or ``stop``
        not a 32-bit tag.
    """
    if out.dtype != np.int64 or out.ndim != 2 or out.shape[1] != 4 or out.shape[0] == 0 or not out.flags.c_contiguous:
        raise ValueError(f"walk_header: out must be (N > 0, 4) C-contiguous int64, got {out.dtype} {out.shape}")
    tags = _EMPTY if wanted is None else wanted
    for name, arr in (("wanted", tags), ("sequences", sequences)):
        if arr.dtype != np.uint32 or arr.ndim != 1 or not arr.flags.c_contiguous:
            raise ValueError(f"walk_header: {name} must be a 1-D contiguous uint32 array, got {arr.dtype}")
    if not 0 <= stop <= 0xFFFFFFFF:
        raise ValueError(f"walk_header: stop must be a 32-bit tag, got {stop}")
    status, n, end, last, items = _core.walk_header(
        buf, pos, implicit, meta, stop, tags, wanted is None, sequences, previous, budget, max_depth, out
    )
    return Walk(status, out[:n].tolist() if n else [], end, last, items)
