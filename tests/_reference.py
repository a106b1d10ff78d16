"""Plain NumPy versions of every Cython kernel: the oracles for tests/test_kernels.py."""

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
