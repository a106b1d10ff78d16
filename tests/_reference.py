"""Plain NumPy versions of every Cython kernel: the oracles for tests/kernels/test_*.py."""

from __future__ import annotations

import numpy as np


def label_presence(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """presence[k, v] = value v occurs in slice k; counts[v] = voxels with value v."""
    n_values = int(labels.max()) + 1
    presence = np.zeros((labels.shape[0], n_values), dtype=bool)
    for k in range(labels.shape[0]):
        presence[k, np.unique(labels[k])] = True
    counts = np.bincount(labels.ravel().astype(np.int64), minlength=n_values)
    return presence, counts


def remap_labels(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    return lut[labels]


def narrow_to_uint8(values: np.ndarray) -> tuple[np.ndarray | None, bool]:
    """(values as uint8, True) when every value lies in 0..255, else (None, False)."""
    values = np.asarray(values)
    if values.size and (int(values.min()) < 0 or int(values.max()) > 0xFF):
        return None, False
    return values.astype(np.uint8), True


# --- 1-bit frame streams: frame f's pixel p is bit f * npx + p, LSB first, no padding between frames ---


def pack_stream(masks: np.ndarray) -> np.ndarray:
    """Concatenate the flattened masks (nonzero = 1) and pack LSB first."""
    return np.packbits(np.asarray(masks).reshape(-1) != 0, bitorder="little")


def pack_label_frames(labels: np.ndarray, frame_slices, frame_values) -> np.ndarray:
    masks = [labels[s] == v for s, v in zip(frame_slices, frame_values)]
    if not masks:
        return np.zeros(0, dtype=np.uint8)
    return pack_stream(np.stack(masks))


def unpack_frames(packed: np.ndarray, n_frames: int, rows: int, columns: int) -> np.ndarray:
    n = n_frames * rows * columns
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8), bitorder="little", count=n)
    return bits.reshape(n_frames, rows, columns)


def paint_frames(packed, frame_slices, frame_values, out: np.ndarray) -> np.ndarray:
    out = out.copy()
    masks = unpack_frames(packed, len(frame_slices), out.shape[1], out.shape[2]).astype(bool)
    for mask, s, v in zip(masks, frame_slices, frame_values):
        out[s][mask] = v
    return out


def frame_overlap(packed, frame_positions, frame_segments, n_segments: int, npx: int) -> np.ndarray:
    """Brute force: union mask per (position, segment), then AND every pair."""
    masks = unpack_frames(packed, len(frame_positions), 1, npx).reshape(len(frame_positions), npx).astype(bool)
    union: dict[tuple[int, int], np.ndarray] = {}
    for mask, pos, seg in zip(masks, frame_positions, frame_segments):
        key = (int(pos), int(seg))
        union[key] = union.get(key, np.zeros(npx, dtype=bool)) | mask
    result = np.zeros((n_segments, n_segments), dtype=np.int64)
    for (pa, a), ma in union.items():
        for (pb, b), mb in union.items():
            if pa == pb and a != b:
                result[a, b] += int(np.count_nonzero(ma & mb))
    return result


def label_overlap(volumes, luts, n_segments: int) -> np.ndarray:
    """Brute force: one presence mask per segment index (union over files), AND per pair of files."""
    segs = [np.asarray(lut)[np.asarray(v).astype(np.int64)] for v, lut in zip(volumes, luts)]
    count = np.zeros((n_segments, n_segments), dtype=np.int64)
    present = np.zeros((n_segments,) + np.shape(volumes[0]), dtype=bool)
    for s in segs:
        for a in range(n_segments):
            present[a] |= s == a
    for a in range(n_segments):
        for b in range(n_segments):
            if a != b:
                count[a, b] = np.count_nonzero(present[a] & present[b])
    return count


def greedy_layers(overlap) -> np.ndarray:
    ov = np.asarray(overlap) != 0
    ov = ov | ov.T
    layers: list[list[int]] = []
    out = []
    for s in range(ov.shape[0]):
        for i, members in enumerate(layers):
            if not any(ov[s, t] for t in members if t != s):
                members.append(s)
                out.append(i)
                break
        else:
            layers.append([s])
            out.append(len(layers) - 1)
    return np.array(out, dtype=np.int64)


# --- RLE Lossless (PS3.5 Annex G) -------------------------------------------------------------


def _byte_runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(value, length) of each run of equal bytes in a 1-D uint8 row."""
    row = np.asarray(row, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(row[1:] != row[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [row.size])))
    return [(int(row[s]), int(n)) for s, n in zip(starts, lengths)]


def rle_encode_row(row: np.ndarray, pairs: str = "standard") -> bytes:
    """PackBits one row of bytes, greedily.

    Runs are first cut into pieces of at most 128 (a piece of 1 left over is a literal
    byte).  Pieces of 3 or more are replicate runs, pieces of 1 literal bytes; a piece
    of 2 is a replicate run, except with ``pairs="standard"`` when the piece before it
    is literal and the piece after it exists and is shorter than 3 (then it is literal:
    PS3.5 G.3.1's note), or always literal with ``pairs="literal"``
    (``pairs="replicate"``: always a replicate run, as pydicom does).  Consecutive
    literal pieces form literal runs of up to 128 bytes.
    """
    pieces: list[tuple[int, int]] = []
    for value, n in _byte_runs(row):
        while n > 128:
            pieces.append((value, 128))
            n -= 128
        pieces.append((value, n))
    kinds: list[str] = []
    for i, (_, n) in enumerate(pieces):
        if n == 1:
            kinds.append("L")
        elif n >= 3:
            kinds.append("R")
        elif pairs == "literal":
            kinds.append("L")
        elif pairs == "replicate":
            kinds.append("R")
        else:
            after = pieces[i + 1][1] if i + 1 < len(pieces) else None
            merge = bool(kinds) and kinds[-1] == "L" and after is not None and after < 3
            kinds.append("L" if merge else "R")
    out = bytearray()
    literal: list[int] = []

    def flush() -> None:
        for k in range(0, len(literal), 128):
            chunk = literal[k : k + 128]
            out.append(len(chunk) - 1)
            out.extend(chunk)
        literal.clear()

    for (value, n), kind in zip(pieces, kinds):
        if kind == "L":
            literal.extend([value] * n)
        else:
            flush()
            out.extend([(1 - n) & 0xFF, value])  # -(n - 1) as a signed byte
    flush()
    return bytes(out)


def rle_encode_frame(frame: np.ndarray, pairs: str = "standard") -> bytes:
    """One RLE Lossless codestream: the 64-byte header, then one segment per byte plane
    (most significant first), each row encoded separately, each segment padded with a
    zero byte to even length."""
    import struct

    frame = np.asarray(frame)
    n = frame.dtype.itemsize
    values = frame.astype(np.uint64)
    segments = []
    for s in range(n):
        plane = ((values >> np.uint64(8 * (n - 1 - s))) & np.uint64(0xFF)).astype(np.uint8)
        seg = b"".join(rle_encode_row(row, pairs) for row in plane)
        segments.append(seg + b"\0" * (len(seg) % 2))
    offsets = [64]
    for seg in segments[:-1]:
        offsets.append(offsets[-1] + len(seg))
    header = struct.pack("<16I", n, *offsets, *[0] * (15 - n))
    return header + b"".join(segments)


def runs(shape, dtype, hi, seed, max_run=40):
    """Test data, not a reference: a label array made of runs of random length 1..max_run
    (crossing word boundaries everywhere)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    lengths = rng.integers(1, max_run + 1, size=2 * n // (max_run + 1) + 8)
    values = rng.integers(0, hi + 1, size=lengths.size)
    return np.resize(np.repeat(values, lengths), n).astype(dtype).reshape(shape)  # resize: repeats if short
