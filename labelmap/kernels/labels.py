"""Label maps: value checks, per-slice presence, remapping, narrowing, overlap of several label files on one grid.

Each wrapper checks and allocates; the loops are in ``labelmap._core``.  A user's
bad label values raise :class:`~labelmap.errors.InputError`; arrays our own code
prepares wrongly raise TypeError / ValueError.
"""

from __future__ import annotations

import numpy as np

from labelmap import _core
from labelmap._util.threads import parts_for, run_parts
from labelmap.errors import InputError
from labelmap.kernels.overlap import Overlap

__all__ = ["as_label_array", "label_presence", "remap_labels", "narrow_to_uint8", "label_overlap"]

#: Label arrays of at least this many bytes are scanned on several threads, a share of the slices
#: each (benchmarks/bench_kernels.py LabelPresence measures the gain).
_PRESENCE_SPLIT_BYTES = 1 << 24

#: Voxels per block of the label-file overlap (segment indices of every file for a block fit in cache).
_CHUNK = 1 << 18


def _at(arr: np.ndarray, flat_index) -> str:
    """Where flat entry ``flat_index`` of ``arr`` is, for error messages."""
    idx = tuple(int(v) for v in np.unravel_index(int(flat_index), arr.shape))
    if len(idx) == 3:
        return f"at slice {idx[0]}, row {idx[1]}, column {idx[2]}"
    return f"at index {idx}"


def as_label_array(array: np.ndarray, *, source: str = "label image") -> np.ndarray:
    """Return ``array`` as C-contiguous uint8 / uint16 holding the same label values.

    uint8, uint16 and bool arrays are returned without a scan (and without a copy
    when contiguous); other integer and float arrays are checked, then narrowed.

    Parameters
    ----------
    array
        Label values of any shape.
    source
        Names the array in error messages (e.g. the file name).

    Returns
    -------
    numpy.ndarray
        uint8 when every value is <= 255, else uint16.

    Raises
    ------
    InputError
        Naming the first offending voxel, for NaN, infinite, fractional (hint
        ``type_fractional``), negative or > 65535 values, which no DICOM Segment Number
        can hold; for a non-numeric array.
    """
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if arr.dtype in (np.uint8, np.uint16):
        # every value already fits a Segment Number: no scan, no copy unless non-contiguous
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "f" and arr.size:
        finite = np.isfinite(arr)
        if not finite.all():
            i = np.argmin(finite)
            what = "NaN" if np.isnan(arr.flat[i]) else f"{float(arr.flat[i])} (infinite)"
            raise InputError(
                f"{source}: holds {what} {_at(arr, i)}; a label image holds whole numbers 0..65535 - "
                "set those voxels to 0 (background) or to a label and save the labels again"
            )
        whole = arr == np.round(arr)
        if not whole.all():
            i = np.argmin(whole)
            raise InputError(
                f"{source}: holds non-integer value {float(arr.flat[i])!r} {_at(arr, i)}; a label image holds "
                "whole numbers 0..65535 - save it as an integer label map",
                hint="type_fractional",
            )
    elif arr.dtype.kind not in "iuf":
        raise InputError(f"{source}: has data type {arr.dtype}; a label image holds whole numbers 0..65535")
    if arr.size == 0:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.dtype.kind != "u" and arr.min() < 0:
        i = np.argmin(arr)
        raise InputError(
            f"{source}: holds negative label {int(arr.flat[i])} {_at(arr, i)}; label values must be 0..65535 - "
            "give that region a positive label (0 is background)"
        )
    hi = arr.max()
    if hi > 0xFFFF:
        raise InputError(
            f"{source}: holds label {int(hi)} {_at(arr, np.argmax(arr))}, above 65535, the largest DICOM Segment "
            "Number; renumber the labels to 1..65535"
        )
    return np.ascontiguousarray(arr, dtype=np.uint8 if hi <= 0xFF else np.uint16)


def label_presence(
    labels: np.ndarray, *, source: str = "label image", threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which label values occur in which slice, and how often.

    Parameters
    ----------
    labels
        (K, rows, columns) label values, checked by :func:`as_label_array`.
    source
        Names the array in error messages.
    threads
        Threads for arrays of 16 MiB or more (a share of the slices each); None, 0 or less:
        every core.  The result does not depend on it.

    Returns
    -------
    presence : numpy.ndarray
        (K, max + 1) bool: ``presence[k, v]`` is True when value ``v`` occurs in slice ``k``.
    counts : numpy.ndarray
        (max + 1,) int64: ``counts[v]`` voxels hold value ``v``.

    Raises
    ------
    InputError
        For label values :func:`as_label_array` refuses.
    ValueError
        When ``labels`` is not 3-D.
    """
    arr = as_label_array(labels, source=source)
    if arr.ndim != 3:
        raise ValueError(f"{source}: expected a 3-D (slices, rows, columns) array, got shape {arr.shape}")
    if not arr.size:
        return np.zeros((arr.shape[0], 1), dtype=bool), np.zeros(1, dtype=np.int64)
    # size the tables by the dtype's range (no separate max pass), then trim to 0 .. max
    n_values = 0x100 if arr.dtype == np.uint8 else 0x10000
    presence = np.zeros((arr.shape[0], n_values), dtype=np.uint8)
    flat = arr.reshape(arr.shape[0], -1)
    parts = parts_for(threads, arr.nbytes, _PRESENCE_SPLIT_BYTES, arr.shape[0])
    # presence rows are per slice; each part adds into its own counts, summed afterwards
    counts = np.zeros((parts, n_values), dtype=np.int64)
    if parts == 1:
        _core.slice_label_presence(flat, presence, counts[0])
    else:
        bounds = [arr.shape[0] * i // parts for i in range(parts + 1)]

        def part(i: int) -> None:
            a, b = bounds[i], bounds[i + 1]
            _core.slice_label_presence(flat[a:b], presence[a:b], counts[i])

        run_parts(part, parts, "label-presence")
    total = counts.sum(axis=0) if parts > 1 else counts[0]
    top = int(np.flatnonzero(total)[-1]) + 1
    return np.ascontiguousarray(presence[:, :top]).view(np.bool_), total[:top]


def remap_labels(labels: np.ndarray, lut: np.ndarray, *, source: str = "label image") -> np.ndarray:
    """Map every voxel through a lookup table: ``out = lut[labels]``.

    Parameters
    ----------
    labels
        Label values of any shape, checked by :func:`as_label_array`.
    lut
        uint8 or uint16 table with an entry for every label value that occurs.
    source
        Names the array in error messages.

    Returns
    -------
    numpy.ndarray
        ``labels``' shape, ``lut``'s dtype.

    Raises
    ------
    InputError
        For label values :func:`as_label_array` refuses.
    TypeError, ValueError
        For a ``lut`` of another dtype or too short for the largest label.
    """
    arr = as_label_array(labels, source=source)
    lut_arr = np.asarray(lut)
    if lut_arr.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"lookup table must be uint8 or uint16, got {lut_arr.dtype}")
    lut_arr = np.ascontiguousarray(lut_arr.ravel())
    if arr.size and int(arr.max()) >= lut_arr.size:
        raise ValueError(f"{source}: label {int(arr.max())} is outside the lookup table of {lut_arr.size} entries")
    out = np.empty(arr.shape, dtype=lut_arr.dtype)
    if arr.size:
        _core.remap_lut(arr.reshape(-1), lut_arr, out.reshape(-1))
    return out


#: native 16- / 32- / 64-bit integer dtype -> its unsigned view
_NARROW_VIEW = {np.dtype(f"{kind}{size}"): np.dtype(f"u{size}") for kind in "iu" for size in (2, 4, 8)}


def narrow_to_uint8(values: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Copy 16- / 32- / 64-bit integers into uint8 and say whether every value lies in 0..255, in one pass.

    Replaces ``max()``, ``min()`` and a casting copy: three passes.

    Parameters
    ----------
    values
        uint16, int16, uint32, int32, uint64 or int64 of any shape and byte order.
    out
        A writeable C-contiguous uint8 array of as many entries (any shape); default a
        new one of ``values``' shape.

    Returns
    -------
    out : numpy.ndarray
        The copy; partly written and meaningless when ``fits`` is False.
    fits : bool
        False when a value is negative or above 255.

    Raises
    ------
    TypeError, ValueError
        For other dtypes, or an ``out`` of the wrong dtype, layout or size.
    """
    arr = np.asarray(values)
    view = _NARROW_VIEW.get(arr.dtype.newbyteorder("="))
    if view is None:
        raise TypeError(f"narrow_to_uint8: expected 16-, 32- or 64-bit integer values, got {arr.dtype}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = np.ascontiguousarray(arr)
    if out is None:
        out = np.empty(arr.shape, dtype=np.uint8)
    elif not isinstance(out, np.ndarray) or out.dtype != np.uint8:
        raise TypeError(f"narrow_to_uint8: out must be a uint8 array, got {getattr(out, 'dtype', type(out).__name__)}")
    elif not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("narrow_to_uint8: out must be a writeable C-contiguous array")
    elif out.size != arr.size:
        raise ValueError(f"narrow_to_uint8: out holds {out.size} entries for {arr.size} values")
    if not arr.size:
        return out, True
    # a signed value's unsigned view keeps its bits: negative ones have high bits set and do not fit
    fits = _core.narrow_to_u8(arr.reshape(-1).view(view), out.reshape(-1))
    return out, bool(fits)


# ---------------------------------------------------------------------------
# Several label files on one grid.
# ---------------------------------------------------------------------------


def _label_inputs(volumes, luts, n_segments):
    vols = [as_label_array(v, source=f"label image {m + 1}") for m, v in enumerate(volumes)]
    if not vols:
        raise ValueError("expected at least one label image")
    if len(luts) != len(vols):
        raise ValueError(f"got {len(vols)} label images but {len(luts)} lookup tables")
    shape = vols[0].shape
    for m, v in enumerate(vols[1:], start=2):
        if v.shape != shape:
            raise ValueError(f"label image {m} has shape {v.shape}, label image 1 has {shape}; they must match")
    tables = []
    for m, (v, lut) in enumerate(zip(vols, luts), start=1):
        t = np.asarray(lut)
        if t.ndim != 1 or t.dtype.kind not in "iu":
            raise TypeError(f"lookup table {m}: expected a 1-D integer array, got {t.dtype} of shape {t.shape}")
        if v.size and int(v.max()) >= t.size:
            raise ValueError(f"label image {m}: label {int(v.max())} is outside its lookup table of {t.size} entries")
        if t.size and (int(t.min()) < -1 or int(t.max()) > np.iinfo(np.int32).max):
            raise ValueError(f"lookup table {m}: entries must be -1 (none) or a segment index >= 0")
        tables.append(np.ascontiguousarray(t, dtype=np.int32))
    top = max((int(t.max()) for t in tables if t.size), default=-1)
    n_segments = top + 1 if n_segments is None else int(n_segments)
    if top >= n_segments:
        raise ValueError(f"lookup tables reach segment index {top}, but n_segments is {n_segments}")
    return vols, tables, n_segments


def label_overlap(volumes, luts, n_segments: int | None = None) -> Overlap:
    """Voxel overlap between segments of several label images on one grid.

    Parameters
    ----------
    volumes
        M label arrays of one shape.
    luts
        ``luts[m]`` maps each value of volume m to a global segment index 0..N-1,
        or -1 for background / ignored values (1-D integer arrays).
    n_segments
        N; default 1 + the largest index in the tables.

    Returns
    -------
    Overlap
        The pairs of segments present on one voxel, with their voxel counts (exact for 3+
        files on one voxel; one index met twice counts once); memory grows with the pairs.

    Raises
    ------
    InputError
        For label values :func:`as_label_array` refuses.
    TypeError, ValueError
        For volumes or tables that do not fit together.
    """
    vols, tables, n_segments = _label_inputs(volumes, luts, n_segments)
    if len(vols) == 1:
        return Overlap.none(n_segments)  # one file cannot overlap itself
    n = vols[0].size
    flats = [v.reshape(-1) for v in vols]
    chunk = min(_CHUNK, max(n, 1))
    seg = np.empty((len(vols), chunk), dtype=np.int32)
    keys, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        for m, flat in enumerate(flats):
            _core.lut_segments(flat[lo:hi], tables[m], seg[m, : hi - lo])
        k, c = _core.segment_overlap(seg, hi - lo, n_segments)
        if k.size:  # merged per chunk: memory stays with the distinct pairs
            merged = Overlap.from_keys(n_segments, np.concatenate([keys, k]), np.concatenate([counts, c]))
            keys, counts = merged.pairs[:, 0] * n_segments + merged.pairs[:, 1], merged.counts
    return Overlap.from_keys(n_segments, keys, counts)
