"""Checked wrappers around the Cython kernels of ``labelmap._core``, by topic.

Check in Python, loop in Cython: each wrapper coerces dtype and contiguity,
allocates the output and raises a precise error; the kernel itself only loops,
without the GIL.  :mod:`~labelmap.kernels.labels` (label maps),
:mod:`~labelmap.kernels.bits` (1-bit frame streams) and
(:mod:`~labelmap.kernels.overlap` holds their sparse overlap counts),
:mod:`~labelmap.kernels.rle` (RLE Lossless encoding) and
:mod:`~labelmap.kernels.tiles` (frame tiling of slide bands) and
:mod:`~labelmap.kernels.walk` (the clean top-level walk of a DICOM header) are the only importers of
``_core``; this package re-exports their public names.
"""

from __future__ import annotations

from labelmap.kernels import bits, labels, overlap, rle, tiles, walk
from labelmap.kernels.bits import *  # noqa: F403
from labelmap.kernels.labels import *  # noqa: F403
from labelmap.kernels.overlap import *  # noqa: F403
from labelmap.kernels.rle import *  # noqa: F403
from labelmap.kernels.tiles import *  # noqa: F403
from labelmap.kernels.walk import *  # noqa: F403

__all__ = [*labels.__all__, *bits.__all__, *overlap.__all__, *rle.__all__, *tiles.__all__, *walk.__all__]
