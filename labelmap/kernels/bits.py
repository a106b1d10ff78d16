"""1-bit (BINARY) frame streams: pack label maps and masks, paint into label maps, frame overlap.

Bit i of a stream is bit (i % 8) of byte i // 8, LSB first; frame f's pixel p
(row-major) is bit f * npx + p, with no padding between frames, so bytes straddle
frames when npx % 8 != 0.  The wrappers check and allocate (misuse raises
TypeError / ValueError); the loops are in ``labelmap._core``.
"""

from __future__ import annotations

import numpy as np

from labelmap import _core
from labelmap.kernels._checks import check_range, paired_vectors
from labelmap.kernels.labels import as_label_array
from labelmap.kernels.overlap import Overlap

__all__ = ["packed_length", "pack_label_frames", "pack_masks", "paint_frames", "paint_frames_subset", "frame_overlap"]


def packed_length(n_frames: int, npx: int) -> int:
    """Bytes of a stream of ``n_frames`` 1-bit frames of ``npx`` pixels: ceil(F * npx / 8), unpadded."""
    return (int(n_frames) * int(npx) + 7) // 8


def _frame_arrays(frame_slices, frame_values, n_slices: int, max_value: int, *, source: str):
    slices, values = paired_vectors(frame_slices, frame_values, ("frame_slices", "frame_values"))
    check_range(slices, "frame_slices", 0, n_slices - 1, f"{source} has {n_slices} slices")
    check_range(values, "frame_values", 0, max_value, "label values")
    return slices, values


def _as_packed(packed) -> np.ndarray:
    if isinstance(packed, (bytes, bytearray, memoryview)):
        return np.frombuffer(packed, dtype=np.uint8)
    arr = np.asarray(packed)
    if arr.dtype != np.uint8:
        raise TypeError(f"packed: expected uint8 bytes, got data type {arr.dtype}")
    return np.ascontiguousarray(arr.ravel())


def _need_bytes(packed: np.ndarray, n_frames: int, npx: int) -> None:
    need = packed_length(n_frames, npx)
    if packed.size < need:
        raise ValueError(
            f"packed: {n_frames} frames of {npx} pixels need {need} bytes of 1-bit data, "
            f"but only {packed.size} bytes were given"
        )


def _runs_of(keys: np.ndarray) -> np.ndarray:
    """Start of each run of equal entries of sorted ``keys``, and the end: int64 of runs + 1 entries."""
    breaks = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate(([0], breaks, [keys.size])).astype(np.int64)


def pack_label_frames(
    labels: np.ndarray,
    frame_slices,
    frame_values,
    *,
    source: str = "label image",
    out: np.ndarray | None = None,
    bit_offset: int = 0,
) -> np.ndarray:
    """Pack the masks ``labels[frame_slices[f]] == frame_values[f]`` as one 1-bit stream.

    Frames are packed back to back without materialising masks; a slice holding
    several frames is read once.

    Parameters
    ----------
    labels
        (K, rows, columns) label values, checked by :func:`as_label_array`.
    frame_slices, frame_values
        Integer arrays of one entry per frame: slice index 0..K-1, value 0..65535.
    source
        Names ``labels`` in error messages.
    out
        A writeable C-contiguous 1-D uint8 array: frame f goes to stream bits
        ``bit_offset + f * npx ..``, which must be zero beforehand (e.g. a fresh
        ``np.zeros`` buffer filled by consecutive calls); other bits are kept.
    bit_offset
        Where frame 0 starts in ``out``; 0 without ``out``.

    Returns
    -------
    numpy.ndarray
        ``out``, else a new uint8 array of ``packed_length(F, rows * columns)`` bytes
        (not padded to even length).

    Raises
    ------
    InputError
        For label values :func:`as_label_array` refuses.
    TypeError, ValueError
        For frames outside ``labels``, or an ``out`` of the wrong dtype, layout or size.
    """
    arr = as_label_array(labels, source=source)
    if arr.ndim != 3:
        raise ValueError(f"{source}: expected a 3-D (slices, rows, columns) array, got shape {arr.shape}")
    slices, values = _frame_arrays(frame_slices, frame_values, arr.shape[0], 0xFFFF, source=source)
    if values.size and int(values.max()) > np.iinfo(arr.dtype).max:
        arr = arr.astype(np.uint16)  # a value above the dtype can never match; keep the compare exact
    npx = arr.shape[1] * arr.shape[2]
    bit_offset = int(bit_offset)
    if bit_offset < 0:
        raise ValueError(f"pack_label_frames: bit_offset must be >= 0, got {bit_offset}")
    if out is None:
        if bit_offset:
            raise ValueError("pack_label_frames: bit_offset needs an out buffer")
        out = np.zeros(packed_length(slices.size, npx), dtype=np.uint8)
    elif not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 1:
        raise TypeError("pack_label_frames: out must be a 1-D uint8 array")
    elif not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("pack_label_frames: out must be a writeable C-contiguous array")
    need = (bit_offset + slices.size * npx + 7) // 8
    if out.size < need:  # (a new ``out`` holds exactly this)
        raise ValueError(
            f"pack_label_frames: {slices.size} frames of {npx} pixels from bit {bit_offset} need "
            f"{need} bytes, but out holds only {out.size}"
        )
    if not slices.size or not npx:
        return out
    # group frames by slice so that a slice with many frames is read once;
    # repeats of a (slice, value) pair go in a second call as one-frame
    # groups (within a group the kernel maps each value to one frame)
    key = slices * 0x10000 + values
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    repeat = np.zeros(order.size, dtype=bool)
    repeat[1:] = sorted_key[1:] == sorted_key[:-1]
    lut = np.full(int(np.iinfo(arr.dtype).max) + 1, -1, dtype=np.int64)
    flat = arr.reshape(arr.shape[0], npx)
    first, again = order[~repeat], order[repeat]
    for group, starts in ((first, _runs_of(slices[first])), (again, np.arange(again.size + 1, dtype=np.int64))):
        if group.size:
            _core.pack_label_frames(
                flat, slices, values, np.ascontiguousarray(group, dtype=np.int64), starts, lut, out, bit_offset
            )
    return out


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Pack (F, rows, columns) masks as one continuous 1-bit stream.

    Parameters
    ----------
    masks
        Boolean or numeric frames; any nonzero value is 1.

    Returns
    -------
    numpy.ndarray
        uint8 of ``packed_length(F, rows * columns)`` bytes.

    Raises
    ------
    TypeError, ValueError
        For a non-numeric or not 3-D array.
    """
    arr = np.asarray(masks)
    if arr.ndim != 3:
        raise ValueError(f"masks: expected a 3-D (frames, rows, columns) array, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    elif arr.dtype != np.uint8:
        if arr.dtype.kind not in "iufb":
            raise TypeError(f"masks: expected a boolean or numeric array, got data type {arr.dtype}")
        arr = (arr != 0).view(np.uint8)
    arr = np.ascontiguousarray(arr)
    npx = arr.shape[1] * arr.shape[2]
    out = np.zeros(packed_length(arr.shape[0], npx), dtype=np.uint8)
    if out.size:
        _core.pack_masks(arr.reshape(arr.shape[0], npx), out)
    return out


def _paint_target(out) -> None:
    if not isinstance(out, np.ndarray) or out.dtype not in (np.uint8, np.uint16):
        dtype = getattr(out, "dtype", type(out).__name__)
        raise TypeError(f"paint_frames: out must be a uint8 or uint16 array, got {dtype}")
    if out.ndim != 3:
        raise ValueError(f"paint_frames: out must be (slices, rows, columns), got shape {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("paint_frames: out must be a writeable C-contiguous array")


def paint_frames(packed, frame_slices, frame_values, out: np.ndarray) -> np.ndarray:
    """Decode 1-bit frames straight into a label map.

    For each frame f and each set pixel p: ``out[frame_slices[f]].flat[p] =
    frame_values[f]``; later frames overwrite earlier ones.

    Parameters
    ----------
    packed
        The stream (bytes or uint8) of F frames of ``rows * columns`` pixels.
    frame_slices, frame_values
        Integer arrays of one entry per frame; the values must fit ``out``'s dtype.
    out
        C-contiguous writeable (K, rows, columns) uint8 or uint16 label map, modified in place.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Raises
    ------
    TypeError, ValueError
        For an unusable ``out``, frames outside it or a stream too short.
    """
    _paint_target(out)
    every = np.arange(np.size(frame_slices))
    return paint_frames_subset(packed, every, frame_slices, frame_values, out.shape[1] * out.shape[2], out)


def paint_frames_subset(packed, frames, frame_slices, frame_values, npx: int, out: np.ndarray) -> np.ndarray:
    """:func:`paint_frames` for chosen frames of a longer stream.

    Parameters
    ----------
    packed
        The stream; it must hold every chosen frame.
    frames
        ``frames[i]`` is a frame index in the stream (bits ``frames[i] * npx ..``).
    frame_slices, frame_values
        Slice of ``out`` and value for each entry of ``frames``; later entries overwrite earlier ones.
    npx
        Pixels per frame: rows * columns of ``out``.
    out
        As for :func:`paint_frames`.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Raises
    ------
    TypeError, ValueError
        As :func:`paint_frames`, and for ``npx`` other than ``out``'s slice size.
    """
    _paint_target(out)
    npx = int(npx)
    if npx != out.shape[1] * out.shape[2]:
        raise ValueError(
            f"paint_frames_subset: npx is {npx} but out has {out.shape[1]} x {out.shape[2]} pixels per slice"
        )
    index, _ = paired_vectors(frames, frame_slices, ("frames", "frame_slices"))
    slices, values = _frame_arrays(frame_slices, frame_values, out.shape[0], int(np.iinfo(out.dtype).max), source="out")
    if index.size and int(index.min()) < 0:
        raise ValueError(f"frames: negative frame index {int(index.min())}")
    data = _as_packed(packed)
    if index.size:
        _need_bytes(data, int(index.max()) + 1, npx)
        if npx:
            _core.paint_frames(data, index, slices, values, out.reshape(out.shape[0], npx))
    return out


def frame_overlap(packed, frame_positions, frame_segments, n_segments: int, npx: int) -> Overlap:
    """Pixel overlap of segments whose 1-bit frames share a position.

    Work per position is linear in its set pixels plus the pixels covered twice.

    Parameters
    ----------
    packed
        The stream (bytes or uint8) of F frames of ``npx`` pixels.
    frame_positions
        Position id of each frame (any integers; equal ids = same slice).
    frame_segments
        Segment index 0..n_segments-1 of each frame.
    n_segments, npx
        Segments; pixels per frame.

    Returns
    -------
    Overlap
        The pairs of segments set on one pixel at the same position, with their pixel
        counts, exact for 3+ segments on one pixel (a segment with two frames at one
        position counts once); memory grows with the pairs that occur.

    Raises
    ------
    TypeError, ValueError
        For negative sizes, segments out of range or a stream too short.
    """
    n_segments, npx = int(n_segments), int(npx)
    if n_segments < 0 or npx < 0:
        raise ValueError(f"frame_overlap: negative n_segments ({n_segments}) or npx ({npx})")
    positions, segments = paired_vectors(frame_positions, frame_segments, ("frame_positions", "frame_segments"))
    check_range(segments, "frame_segments", 0, n_segments - 1, f"{n_segments} segments")
    data = _as_packed(packed)
    _need_bytes(data, positions.size, npx)
    result = Overlap.none(n_segments)
    if positions.size < 2 or npx == 0:
        return result
    order = np.argsort(positions, kind="stable")
    starts = _runs_of(positions[order])
    # only positions holding two or more frames can overlap
    sizes = np.diff(starts)
    keep = np.flatnonzero(sizes > 1)
    if keep.size == 0:
        return result
    order = np.ascontiguousarray(np.concatenate([order[starts[g] : starts[g + 1]] for g in keep]), dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes[keep]))).astype(np.int64)
    scratch = np.empty((3, npx), dtype=np.int32)
    keys, counts = _core.frame_overlap(
        data, order, starts, segments.astype(np.int32), npx, n_segments, scratch[0], scratch[1], scratch[2]
    )
    return Overlap.from_keys(n_segments, keys, counts)
