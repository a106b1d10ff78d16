"""Sparse overlap counts between segments, and greedy first-fit layers from them.

Overlap is kept as the pairs that occur (with their voxel counts), never as an N x N
matrix: 65,535 segments would make that matrix 34 GB; the pairs are usually none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Overlap", "greedy_layers"]


@dataclass(frozen=True, eq=False)
class Overlap:
    """Voxels (or pixels) shared by pairs of segments, for the pairs that overlap only.

    ``pairs`` is a (K, 2) int64 array of segment indices a < b in lexicographic order and
    ``counts`` the (K,) voxels each pair shares (> 0); indices are 0..``n_segments`` - 1.
    """

    n_segments: int
    pairs: np.ndarray
    counts: np.ndarray

    @classmethod
    def none(cls, n_segments: int) -> Overlap:
        """No overlap between ``n_segments`` segments."""
        return cls(int(n_segments), np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_keys(cls, n_segments: int, keys: np.ndarray, counts: np.ndarray) -> Overlap:
        """From pair keys ``a * n_segments + b`` (a < b, any order, repeats summed) and counts."""
        n = int(n_segments)
        keys = np.asarray(keys, dtype=np.int64)
        counts = np.asarray(counts, dtype=np.int64)
        if keys.size:
            keys, inverse = np.unique(keys, return_inverse=True)
            counts = np.bincount(inverse.reshape(-1), weights=counts, minlength=keys.size).astype(np.int64)
            keep = counts > 0
            keys, counts = keys[keep], counts[keep]
        pairs = np.stack([keys // max(n, 1), keys % max(n, 1)], axis=1) if keys.size else np.zeros((0, 2), np.int64)
        return cls(n, pairs.astype(np.int64), counts)

    def __len__(self) -> int:
        return int(self.counts.size)

    def any(self) -> bool:
        """True when some two segments overlap."""
        return bool(self.counts.size)

    def count(self, a: int, b: int) -> int:
        """Voxels shared by segments ``a`` and ``b`` (0 when they do not overlap, or a == b)."""
        a, b = min(a, b), max(a, b)
        if a == b or not self.counts.size:
            return 0
        keys = self.pairs[:, 0] * self.n_segments + self.pairs[:, 1]
        i = int(np.searchsorted(keys, a * self.n_segments + b))
        return int(self.counts[i]) if i < keys.size and keys[i] == a * self.n_segments + b else 0

    def dense(self) -> np.ndarray:
        """The (N, N) symmetric int64 matrix with a zero diagonal (for small N: tests, reports)."""
        out = np.zeros((self.n_segments, self.n_segments), dtype=np.int64)
        out[self.pairs[:, 0], self.pairs[:, 1]] = self.counts
        out[self.pairs[:, 1], self.pairs[:, 0]] = self.counts
        return out


def greedy_layers(overlap) -> np.ndarray:
    """Layer index per segment: first fit in segment order, as DCMTK OverlapUtil / dcmqi ``--mergeSegments``.

    Segment s goes to the lowest layer none of whose members overlaps s.  Time and memory
    grow with the segments and the overlapping pairs, not with their square.

    Parameters
    ----------
    overlap
        An :class:`Overlap`, or an (N, N) bool or numeric matrix: nonzero = the two segments
        overlap (treated as symmetric, diagonal ignored).

    Returns
    -------
    numpy.ndarray
        (N,) int64 layer indices.

    Raises
    ------
    TypeError, ValueError
        For a matrix that is not square or not numeric.
    """
    if isinstance(overlap, Overlap):
        n, pairs = overlap.n_segments, overlap.pairs
    else:
        ov = np.asarray(overlap)
        if ov.ndim != 2 or ov.shape[0] != ov.shape[1]:
            raise ValueError(f"greedy_layers: expected a square (N, N) matrix, got shape {ov.shape}")
        if ov.dtype.kind not in "biuf":
            raise TypeError(f"greedy_layers: expected a boolean or numeric matrix, got {ov.dtype}")
        ov = ov != 0
        n = ov.shape[0]
        pairs = np.argwhere(np.triu(ov | ov.T, 1)).astype(np.int64).reshape(-1, 2)
    layers = np.zeros(n, dtype=np.int64)
    if not pairs.size:
        return layers
    order = np.argsort(pairs[:, 1], kind="stable")
    later, earlier = pairs[order, 1], pairs[order, 0]  # earlier < later
    bounds = np.searchsorted(later, np.arange(n + 1))
    for s in np.unique(later).tolist():
        used = layers[earlier[bounds[s] : bounds[s + 1]]]
        taken = np.zeros(used.size + 1, dtype=bool)  # k neighbours occupy at most k layers
        taken[used[used <= used.size]] = True
        layers[s] = int(np.argmin(taken))
    return layers
