"""Checked wrappers around the Cython kernels: the only importer of ``_core``.

Each wrapper coerces dtype and contiguity, allocates the output and raises a
precise error; the kernel itself only loops.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .errors import InputError

__all__ = ["as_label_array", "label_presence", "remap_labels", "label_dtype_for"]


def label_dtype_for(max_value: int) -> type:
    """The smallest unsigned dtype the kernels accept that holds ``max_value``."""
    if max_value <= 0xFF:
        return np.uint8
    if max_value <= 0xFFFF:
        return np.uint16
    return np.uint32


def as_label_array(array: np.ndarray, *, source: str = "label image") -> np.ndarray:
    """Return ``array`` as C-contiguous uint8 / uint16 holding the same label values.

    Raises :class:`InputError` naming ``source`` for non-integer, negative or
    > 65535 values, which no DICOM Segment Number can hold.
    """
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise InputError(f"{source}: holds NaN or infinite values; a label image must hold integers")
        if arr.size and not np.array_equal(arr, np.round(arr)):
            bad = arr[arr != np.round(arr)].flat[0]
            raise InputError(
                f"{source}: holds non-integer value {float(bad)!r}; a label image must hold integer labels "
                "(use --type fractional for probability maps)"
            )
    elif arr.dtype.kind not in "iu":
        raise InputError(f"{source}: has data type {arr.dtype}, expected an integer label image")
    if arr.size == 0:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    lo, hi = arr.min(), arr.max()
    if lo < 0:
        raise InputError(f"{source}: holds negative label {int(lo)}; labels must be 0..65535")
    if hi > 0xFFFF:
        raise InputError(f"{source}: holds label {int(hi)} above 65535, the largest DICOM Segment Number")
    dtype = label_dtype_for(int(hi))
    return np.ascontiguousarray(arr, dtype=dtype)


def label_presence(labels: np.ndarray, *, source: str = "label image") -> tuple[np.ndarray, np.ndarray]:
    """Which label values occur in which slice.

    Returns ``(presence, counts)``: ``presence[k, v]`` is True when value ``v``
    occurs in slice ``k`` of the (K, rows, columns) array; ``counts[v]`` is the
    number of voxels with value ``v``.  Both cover values 0 .. max.
    """
    arr = as_label_array(labels, source=source)
    if arr.ndim != 3:
        raise InputError(f"{source}: expected a 3-D (slices, rows, columns) array, got shape {arr.shape}")
    n_values = int(arr.max()) + 1 if arr.size else 1
    presence = np.zeros((arr.shape[0], n_values), dtype=np.uint8)
    counts = np.zeros(n_values, dtype=np.int64)
    if arr.size:
        _core.slice_label_presence(arr.reshape(arr.shape[0], -1), presence, counts)
    return presence.view(np.bool_), counts


def remap_labels(labels: np.ndarray, lut: np.ndarray, *, source: str = "label image") -> np.ndarray:
    """Map every voxel through ``lut`` (``out = lut[labels]``), keeping the shape.

    ``lut`` must be uint8 or uint16 and long enough for the largest label.
    """
    arr = as_label_array(labels, source=source)
    lut_arr = np.asarray(lut)
    if lut_arr.dtype not in (np.uint8, np.uint16):
        raise InputError(f"lookup table must be uint8 or uint16, got {lut_arr.dtype}")
    lut_arr = np.ascontiguousarray(lut_arr.ravel())
    if arr.size and int(arr.max()) >= lut_arr.size:
        raise InputError(
            f"{source}: label {int(arr.max())} is outside the lookup table of {lut_arr.size} entries"
        )
    out = np.empty(arr.shape, dtype=lut_arr.dtype)
    if arr.size:
        _core.remap_lut(arr.reshape(-1), lut_arr, out.reshape(-1))
    return out
