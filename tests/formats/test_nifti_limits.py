"""NIfTI-1 output limits: a grid the format cannot hold is refused with the reason before anything is
written (nibabel would write a 'FreeSurfer hack' dim or silently overflow its float32 fields)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from _images import write_image

from labelmap.cli import main
from labelmap.demo.sample import sample_metadata
from labelmap.errors import ImageFormatError
from labelmap.formats.nifti import NIFTI1_MAX_DIM, read_nifti, write_nifti
from labelmap.model import Geometry

from _cli import listing, run_cli
from _geometries import make_ct_series


def _geometry(shape=(2, 3, 4), origin=(0.0, 0.0, 0.0), spacing=(1.0, 1.0, 1.0)) -> Geometry:
    return Geometry(np.array(origin), np.eye(3), np.array(spacing), shape)


@pytest.mark.parametrize(
    "geometry, words",
    [
        (_geometry(shape=(1, 1, NIFTI1_MAX_DIM + 1)), "axis i has 32768 voxels"),
        (_geometry(shape=(NIFTI1_MAX_DIM + 1, 1, 1)), "axis k has 32768 voxels"),
        (_geometry(origin=(1e39, 0.0, 0.0)), "overflows"),
        (_geometry(spacing=(1e-50, 1.0, 1.0)), "rounds to 0"),
        (_geometry(spacing=(1e39, 1.0, 1.0)), "overflows"),
        (_geometry(shape=(2, 2, 2), origin=(3e6 + 0.123, 0.0, 0.0)), "move a corner voxel"),
    ],
)
def test_grids_beyond_nifti1_are_refused_before_writing(tmp_path, geometry, words):
    array = np.zeros(geometry.shape, np.uint8)
    with pytest.raises(ImageFormatError, match=f"as NIfTI-1: .*{words}.*NRRD"):
        write_nifti(tmp_path / "x.nii.gz", array, geometry)
    assert listing(tmp_path) == set()


def test_the_largest_nifti1_axis_is_written(tmp_path):
    geometry = _geometry(shape=(1, 1, NIFTI1_MAX_DIM))
    write_nifti(tmp_path / "x.nii.gz", np.ones(geometry.shape, np.uint8), geometry)
    array, back = read_nifti(tmp_path / "x.nii.gz")
    assert array.shape == geometry.shape and back.shape == geometry.shape


def test_uint16_labels_stay_uint16_and_no_text_field_is_set(tmp_path):
    geometry = _geometry()
    array = np.full(geometry.shape, 65535, np.uint16)
    write_nifti(tmp_path / "x.nii", array, geometry)
    header = nib.load(str(tmp_path / "x.nii")).header
    assert header.get_data_dtype() == np.dtype(np.uint16) and int(header["datatype"]) == 512
    assert [header[k].tobytes().rstrip(b"\0") for k in ("descrip", "intent_name", "aux_file")] == [b"", b"", b""]
    np.testing.assert_array_equal(read_nifti(tmp_path / "x.nii")[0], array)


def test_seg2itk_refuses_a_too_wide_nifti_and_writes_nothing(tmp_path, capsys):
    """A SEG whose frames are 32768 columns wide: --format nifti is one line and no file; nrrd works."""
    geometry = Geometry(np.zeros(3), np.eye(3), np.ones(3), (1, 1, NIFTI1_MAX_DIM + 1))
    ct = make_ct_series(tmp_path, geometry, name="ct")
    labels = np.zeros(geometry.shape, np.uint8)
    labels[0, 0, 100:200] = 1
    write_image(tmp_path / "lab.nrrd", labels, geometry)
    (tmp_path / "m.json").write_text(json.dumps(sample_metadata([1])))
    seg = tmp_path / "wide.seg.dcm"
    args = ["itk2seg", tmp_path / "lab.nrrd", "-d", ct, "-m", tmp_path / "m.json", "-o", seg, "-q"]
    assert main([str(a) for a in args]) == 0
    out = tmp_path / "out"
    out.mkdir()
    rc, stdout, err = run_cli(capsys, "seg2itk", seg, "-o", out, "--format", "nifti")
    assert rc == 1 and stdout == "" and len(err.splitlines()) == 1, err
    assert "1.nii.gz" in err and "32768 voxels" in err and ".lm-" not in err
    assert listing(out) == set()
    rc, stdout, err = run_cli(capsys, "seg2itk", seg, "-o", out, "--format", "nrrd")
    assert rc == 0, err
    assert listing(out) == {"1.nrrd", "meta.json"}
