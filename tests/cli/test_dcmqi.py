"""The dcmqi-compatible commands: flags, defaults, and output compared with the real dcmqi 1.5.7 when installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import read_image

from _cli import LABEL_VALUES, LABELMAP_SOP_CLASS, SHAPE, dcmqi_write_args, make_case, run_cli

BIN = Path(sys.executable).parent
DCMQI_SEG2ITK = shutil.which("segimage2itkimage", path=str(BIN)) or shutil.which("segimage2itkimage")
DEFLATED = "1.2.840.10008.1.2.1.99"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A small CT series, a gapped label map (first/last slice empty), its dcmqi JSON and a SEG of them."""
    return make_case(tmp_path_factory.mktemp("cli"))


# --------------------------------------------------------------------------- 2. dcmqi-compatible commands
def test_itkimage2segimage_directory_and_list(case, tmp_path, capsys):
    a = tmp_path / "a.dcm"
    rc, stdout, err = run_cli(capsys, *dcmqi_write_args(case, a, "--useLabelIDAsSegmentNumber"))
    assert rc == 0, err
    files = ",".join(str(p) for p in sorted(case["ct"].glob("*.dcm")))
    b = tmp_path / "b.dcm"
    rc, _, err = run_cli(
        capsys, *dcmqi_write_args(case, b, "--useLabelIDAsSegmentNumber", dicom=["--inputDICOMList", files])
    )
    assert rc == 0, err
    for path in (a, b):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == LABELMAP_SOP_CLASS and ds.SegmentationType == "LABELMAP"
        assert int(ds.NumberOfFrames) == SHAPE[0] - 2  # --skip 1 is the default
        assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber)) == LABEL_VALUES

    # dcmqi's default numbering is 1..N; --skip 0 keeps empty slices; --compress deflate
    c = tmp_path / "c.dcm"
    rc, _, err = run_cli(capsys, *dcmqi_write_args(case, c, "--skip", "0", "--compress", "deflate"))
    assert rc == 0, err
    ds = pydicom.dcmread(c)
    assert int(ds.NumberOfFrames) == SHAPE[0]
    assert str(ds.file_meta.TransferSyntaxUID) == DEFLATED
    assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber)) == [1, 2, 3, 4]


def test_itkimage2segimage_default_is_binary(case, tmp_path, capsys):
    """Without --segmentationType dcmqi writes BINARY; so do we, numbered 1..N."""
    args = dcmqi_write_args(case, tmp_path / "x.dcm")
    i = args.index("--segmentationType")
    del args[i : i + 2]
    rc, stdout, err = run_cli(capsys, *args)
    assert rc == 0, err
    ds = pydicom.dcmread(tmp_path / "x.dcm")
    assert ds.SegmentationType == "BINARY"
    assert str(ds.SOPClassUID) == "1.2.840.10008.5.1.4.1.1.66.4"
    assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence) == [1, 2, 3, 4]


# Keys our meta.json may hold beyond dcmqi's (top level / per segment).  Nothing else may differ.
ALLOWED_EXTRA_TOP_LEVEL = {"@schema", "ContentLabel"}  # we name the schema and echo the SEG's Content Label
ALLOWED_EXTRA_SEGMENT_KEYS: set[str] = set()


@pytest.mark.skipif(DCMQI_SEG2ITK is None, reason="dcmqi segimage2itkimage not installed")
@pytest.mark.parametrize(
    "write_extra, read_extra, ext",
    [
        (["--useLabelIDAsSegmentNumber"], [], ".nrrd"),
        (["--useLabelIDAsSegmentNumber", "--skip", "0"], ["-p", "pre", "-t", "nifti"], ".nii.gz"),
        ([], ["--prefix", "x"], ".nrrd"),
        (["--compress", "deflate"], ["-t", "nii"], ".nii.gz"),
    ],
)
def test_segimage2itkimage_matches_dcmqi(case, tmp_path, capsys, write_extra, read_extra, ext):
    seg = tmp_path / "out.dcm"
    rc, _, err = run_cli(capsys, *dcmqi_write_args(case, seg, *write_extra))
    assert rc == 0, err
    ours, theirs = tmp_path / "ours", tmp_path / "dcmqi"
    ours.mkdir()
    theirs.mkdir()
    rc, stdout, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", ours, *read_extra)
    assert rc == 0, err
    proc = subprocess.run(
        [DCMQI_SEG2ITK, "--inputDICOM", str(seg), "--outputDirectory", str(theirs), *read_extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    names = sorted(os.listdir(ours))
    assert names == sorted(os.listdir(theirs))
    images = [n for n in names if n.endswith(ext)]
    assert len(images) == 1 and images[0].endswith("1" + ext)

    a, ga = read_image(ours / images[0])
    b, gb = read_image(theirs / images[0])
    assert a.shape == b.shape
    assert np.array_equal(a, b)
    assert ga.max_deviation(gb) <= 1e-4
    assert np.allclose(ga.origin, gb.origin, atol=1e-4) and np.allclose(ga.spacing, gb.spacing, atol=1e-4)
    assert np.allclose(ga.direction, gb.direction, atol=1e-6)

    meta_name = next(n for n in names if n.endswith("meta.json"))
    mo = json.loads((ours / meta_name).read_text())
    mt = json.loads((theirs / meta_name).read_text())
    assert set(mt) <= set(mo) and set(mo) - set(mt) <= ALLOWED_EXTRA_TOP_LEVEL
    for key in set(mt) - {"segmentAttributes"}:
        assert mo[key] == mt[key], key
    so, st = mo["segmentAttributes"], mt["segmentAttributes"]
    assert len(so) == len(st) == 1 and len(so[0]) == len(st[0])
    for ours_seg, their_seg in zip(so[0], st[0]):
        assert set(their_seg) <= set(ours_seg)
        assert set(ours_seg) - set(their_seg) <= ALLOWED_EXTRA_SEGMENT_KEYS
        for key in (
            "labelID",
            "SegmentLabel",
            "SegmentedPropertyCategoryCodeSequence",
            "SegmentedPropertyTypeCodeSequence",
            "recommendedDisplayRGBValue",
        ):
            assert ours_seg[key] == their_seg[key], key
        assert {k: ours_seg[k] for k in their_seg} == their_seg
