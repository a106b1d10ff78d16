"""Non-finite geometry in a NRRD header is refused naming the field and the value, read by our quick
header parser (raw / gzip) and by pynrrd (ascii encoding) alike; 'none' (a non-spatial axis) is told apart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelmap.demo.sample import sample_metadata
from labelmap.errors import ImageFormatError
from labelmap.formats.nrrd import read_nrrd

from _cli import run_cli

SHAPE = (3, 4, 5)  # k, j, i
_SPACE = "space: left-posterior-superior"


def _write(path, fields: list[str], *, encoding: str = "raw"):
    data = np.zeros(SHAPE, np.uint8)
    head = f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 5 4 3\nencoding: {encoding}\n"
    head += "".join(f + "\n" for f in fields) + "\n"
    body = data.tobytes() if encoding == "raw" else (" ".join("0" for _ in range(data.size)) + "\n").encode()
    path.write_bytes(head.encode() + body)
    return path


CASES = [
    (
        [_SPACE, "space directions: (nan,0,0) (0,1,0) (0,0,1)", "space origin: (0,0,0)"],
        r"'space directions' vector 0 \(nan,0\.0,0\.0\) is not finite",
    ),
    (
        [_SPACE, "space directions: (1,0,0) (0,inf,0) (0,0,1)", "space origin: (0,0,0)"],
        r"'space directions' vector 1 \(0\.0,inf,0\.0\) is not finite",
    ),
    (
        [_SPACE, "space directions: (1,0,0) (0,1,0) (0,0,1)", "space origin: (0,nan,0)"],
        r"'space origin' \(0\.0,nan,0\.0\) is not finite",
    ),
    (["spacings: nan 1 1"], r"'spacings' nan 1 1 has a zero or non-finite value \(nan\)"),
    (["spacings: 1 1 inf"], r"'spacings' 1 1 inf has a zero or non-finite value \(inf\)"),
    (["spacings: 1 0 2"], r"'spacings' 1 0 2 has a zero or non-finite value \(0\)"),
]


@pytest.mark.parametrize("encoding", ["raw", "ascii"])
@pytest.mark.parametrize("fields, message", CASES)
def test_non_finite_geometry_is_named(tmp_path, fields, message, encoding):
    path = _write(tmp_path / "bad.nrrd", fields, encoding=encoding)
    with pytest.raises(ImageFormatError, match=message) as info:
        read_nrrd(path)
    assert "'none'" not in str(info.value)


def test_none_direction_is_still_called_none(tmp_path):
    path = _write(tmp_path / "none.nrrd", [_SPACE, "space directions: none (0,1,0) (0,0,1)"])
    with pytest.raises(ImageFormatError, match=r"'none' \(or all-NaN\) vector for axis 0"):
        read_nrrd(path)


def test_finite_spacings_still_read(tmp_path):
    _, geometry = read_nrrd(_write(tmp_path / "ok.nrrd", ["spacings: 0.5 -2 3"]))
    np.testing.assert_allclose(geometry.spacing, [0.5, 2.0, 3.0])


def test_cli_one_line(tmp_path, capsys):
    lab = _write(tmp_path / "lab.nrrd", CASES[0][0])
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps(sample_metadata([1])))
    rc, out, err = run_cli(capsys, "itk2seg", lab, "-d", tmp_path, "-m", meta, "-o", tmp_path / "o.dcm")
    assert rc == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "lab.nrrd" in lines[0] and "'space directions'" in lines[0] and "not finite" in lines[0]
