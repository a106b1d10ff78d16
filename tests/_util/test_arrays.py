"""labelmap._util.arrays against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from labelmap._util.arrays import has_duplicates, unique


@pytest.mark.parametrize("values", [[], [3], [5, 1, 5, 2, 2, 9], list(range(10, 0, -1)), [7, 7, 7]])
def test_np_unique_and_duplicates_match_numpy(values):
    arr = np.asarray(values, dtype=np.int64)
    np.testing.assert_array_equal(unique(arr), np.unique(arr))
    assert has_duplicates(arr) == (len(np.unique(arr)) != len(arr))
