"""A NIfTI label image with a zero voxel size in ``pixdim``: fine next to a valid sform (which holds the
voxel size), refused when the qform (whose voxel size is pixdim) would place it.  nibabel's own message
about it ("pixdim[1,2,3] should be non-zero ...", from its logger) never reaches stderr."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _images import write_image

from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.errors import ImageFormatError
from labelmap.formats.nifti import read_nifti

from _geometries import axial_geometry, make_ct_series

SHAPE = (4, 14, 12)
_PIXDIM_1_3 = 80  # byte offset of pixdim[1..3] (float32) in a NIfTI-1 header
_QFORM_CODE, _SFORM_CODE = 252, 254  # int16


def _patched(path: Path, *, sform_code: int | None = None, qform_code: int | None = None, value=0.0) -> Path:
    """Set pixdim[1..3] of an uncompressed NIfTI-1 file to ``value`` (and its form codes), bypassing nibabel."""
    with open(path, "r+b") as f:
        f.seek(_PIXDIM_1_3)
        f.write(struct.pack("<3f", value, value, value))
        for offset, code in ((_SFORM_CODE, sform_code), (_QFORM_CODE, qform_code)):
            if code is not None:
                f.seek(offset)
                f.write(struct.pack("<h", code))
    return path


@pytest.fixture
def case(tmp_path):
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry, name="ct")
    labels = organ_phantom(geometry, 2, seed=3)
    lab = tmp_path / "lab.nii"
    write_image(lab, labels, geometry, compress=False)
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps(sample_metadata([int(v) for v in np.unique(labels) if v])))
    return dict(tmp=tmp_path, geometry=geometry, ct=ct, labels=labels, lab=lab, meta=meta)


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labelmap.cli", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_zero_pixdim_with_sform_uses_the_sform(case):
    _patched(case["lab"])
    array, geometry = read_nifti(case["lab"])
    np.testing.assert_array_equal(array, case["labels"])
    np.testing.assert_allclose(geometry.spacing, case["geometry"].spacing, atol=1e-5)
    np.testing.assert_allclose(geometry.origin, case["geometry"].origin, atol=1e-4)


def test_zero_pixdim_with_sform_cli_has_no_nibabel_line(case):
    _patched(case["lab"])
    out = case["tmp"] / "out.dcm"
    proc = _cli("itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "non-zero" not in proc.stderr + proc.stdout  # nibabel: "pixdim[1,2,3] should be non-zero"
    assert proc.stderr == ""
    assert out.is_file()


def test_zero_pixdim_with_only_a_qform_is_refused(case):
    _patched(case["lab"], sform_code=0)
    with pytest.raises(ImageFormatError, match=r"pixdim\[1,2,3\].*zero.*no valid sform"):
        read_nifti(case["lab"])
    out = case["tmp"] / "out.dcm"
    proc = _cli("itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", out)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "lab.nii" in lines[0], proc.stderr
    assert "no valid sform" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("value, what", [(0.0, "zero"), (float("nan"), "non-finite")])
def test_bad_pixdim_without_forms_is_refused(case, value, what):
    _patched(case["lab"], sform_code=0, qform_code=0, value=value)
    with pytest.raises(ImageFormatError, match=rf"without sform or qform\) has a {what} entry"):
        read_nifti(case["lab"])
