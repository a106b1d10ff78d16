"""The LABELMAP SEG the seg/ read, pixel and decode tests damage."""

from __future__ import annotations

import numpy as np
import pytest

from labelmap.demo.sample import write_ct_series
from labelmap.geometry import match_slices
from labelmap.model import LabelVolume
from labelmap.pipeline.convert import load_source
from labelmap.seg.encode import encode_labelmap

from _geometries import oblique_geometry
from _segfiles import segments


@pytest.fixture
def seg_case(tmp_path):
    """A small oblique LABELMAP: (dataset, array, geometry, ct_dir), slices 0 and 4 empty."""
    g = oblique_geometry(shape=(5, 12, 10))
    ct = tmp_path / "ct"
    write_ct_series(ct, g)
    source = load_source(ct)
    arr = np.zeros(g.shape, np.uint16)
    arr[1, 2:6, 3:7] = 1
    arr[2, 4:9, 1:5] = 300
    arr[3, 0, 0] = 2
    arr[3, 5:7, 5:9] = 300
    ds = encode_labelmap(LabelVolume(arr, g, segments(1, 2, 300)), source, match_slices(g, source))
    return ds, arr, g, ct
