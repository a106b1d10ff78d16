"""The comparisons dcmqi's tests make, re-implemented: images as ITK's regression test compares them,
metadata JSON as dcmqi's ``util/comparejson.py`` does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nrrd
import numpy as np

#: ITK's defaults: origin and spacing within 1e-6 x the first spacing, direction cosines within 1e-6
#: (ImageToImageFilter's input-information check), voxels within 0.0001 (dcmqi's itkTestMain.h).
#: dcmqi's own outputs hold coordinates rounded to single precision (-235.199997 for -235.2) and its
#: baselines hold both forms, so a relative difference of single-precision size is accepted too.
COORDINATE_TOLERANCE = 1e-6
RELATIVE_TOLERANCE = 1e-6
DIRECTION_TOLERANCE = 1e-6
INTENSITY_TOLERANCE = 1e-4

_TO_LPS = {
    "left-posterior-superior": np.array([1.0, 1.0, 1.0]),
    "right-anterior-superior": np.array([-1.0, -1.0, 1.0]),
    "left-anterior-superior": np.array([1.0, -1.0, 1.0]),
}


def read_nrrd(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(voxels [i, j, k], origin, spacing, direction columns) of a 3-D NRRD in LPS, read with pynrrd."""
    data, header = nrrd.read(str(path))
    flip = _TO_LPS[header.get("space", "left-posterior-superior")]
    axes = np.asarray(header["space directions"], dtype=float).T * flip[:, None]  # columns: i, j, k
    spacing = np.linalg.norm(axes, axis=0)
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float) * flip
    return np.asarray(data, dtype=float), origin, spacing, axes / spacing


def image_differences(baseline: Path, test: Path) -> list[str]:
    """What differs between ``test`` and ``baseline`` the way dcmqi's ``--compare`` sees it; empty when equal."""
    if not test.is_file():
        return [f"{test.name} was not written"]
    b_data, b_origin, b_spacing, b_dir = read_nrrd(baseline)
    t_data, t_origin, t_spacing, t_dir = read_nrrd(test)
    if b_data.shape != t_data.shape:
        return [f"size {t_data.shape} differs from the baseline's {b_data.shape}"]
    problems = []
    tol = COORDINATE_TOLERANCE * b_spacing[0]

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=RELATIVE_TOLERANCE, atol=tol))

    if not close(t_origin, b_origin):
        problems.append(f"origin {t_origin.tolist()} differs from the baseline's {b_origin.tolist()}")
    if not close(t_spacing, b_spacing):
        problems.append(f"spacing {t_spacing.tolist()} differs from the baseline's {b_spacing.tolist()}")
    if np.abs(b_dir - t_dir).max() > DIRECTION_TOLERANCE:
        problems.append(f"direction {t_dir.tolist()} differs from the baseline's {b_dir.tolist()}")
    differ = np.abs(b_data - t_data) > INTENSITY_TOLERANCE
    if differ.any():
        first = tuple(int(v) for v in np.argwhere(differ)[0])
        problems.append(
            f"{int(differ.sum())} voxels differ (first at [i, j, k] = {first}: {t_data[first]:g} where the "
            f"baseline has {b_data[first]:g})"
        )
    return problems


def json_differences(expected: Any, actual: Any, ignored: tuple[str, ...] = (), where: str = "") -> list[str]:
    """comparejson.py's rule: every key of ``expected`` (but ``@schema`` and ``ignored``) is in ``actual``
    with a value of the same type and the same value; lists are compared item by item in order."""
    ignored = ("@schema", *ignored)
    if expected is None:
        return [] if actual is None else [f"{where or 'value'}: expected null, got {actual!r}"]
    if type(expected) is not type(actual):
        return [f"{where or 'value'}: expected a {type(expected).__name__} ({expected!r}), got {actual!r}"]
    if isinstance(expected, dict):
        out = []
        for key, value in expected.items():
            if key in ignored:
                continue
            if key not in actual:
                out.append(f"{where}.{key}: missing")
            else:
                out += json_differences(value, actual[key], ignored, f"{where}.{key}")
        return out
    if isinstance(expected, list):
        if len(expected) > len(actual):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}"]
        return [d for i, v in enumerate(expected) for d in json_differences(v, actual[i], ignored, f"{where}[{i}]")]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def json_file_differences(expected: Path, actual: Path, ignored: tuple[str, ...] = ()) -> list[str]:
    """:func:`json_differences` of two files."""
    if not actual.is_file():
        return [f"{actual.name} was not written"]
    return json_differences(json.loads(expected.read_text()), json.loads(actual.read_text()), ignored)
