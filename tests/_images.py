"""Label images as (array, geometry) pairs, read and written through the format registry."""

from __future__ import annotations

import numpy as np

from labelmap.formats import LabelSet, read_labels, write_labels
from labelmap.model import Geometry


def read_image(path, *, narrow: bool = False) -> tuple[np.ndarray, Geometry]:
    """The one label volume of ``path`` as (array [k, j, i], geometry)."""
    volume = read_labels(path, narrow=narrow).only()
    return volume.array, volume.geometry


def write_image(path, array: np.ndarray, geometry: Geometry, *, compress: bool = True) -> None:
    """Write ``array`` on ``geometry`` in the format ``path``'s name says."""
    write_labels(path, LabelSet.of(np.asarray(array), geometry, None), compress=compress)
