"""Body Part Examined: dcmqi's itkimage2segimage takes a non-empty value of the source CT over the JSON's;
the native itk2seg keeps the JSON's (the source's only when the JSON has none).  Where dcmqi is installed
the same inputs also go through it and its SEG must carry the same value as ours."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import write_image

from labelmap.demo.sample import sample_metadata

from _cli import run_cli
from _geometries import axial_geometry, make_ct_series

BIN = Path(sys.executable).parent
needs_dcmqi = pytest.mark.skipif(
    not (BIN / "itkimage2segimage").exists(), reason="dcmqi executables are not installed in the venv"
)
SHAPE = (4, 12, 10)


def _case(root: Path, *, source_part: str | None, json_part: str) -> tuple[Path, Path, Path]:
    """A CT whose BodyPartExamined is ``source_part`` (None: absent), a label file and a JSON saying ``json_part``."""
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(root, geometry, name="ct")  # the sample CT says ABDOMEN
    for path in ct.iterdir():
        ds = pydicom.dcmread(path)
        if source_part is None:
            del ds.BodyPartExamined
        else:
            ds.BodyPartExamined = source_part
        ds.save_as(path)
    labels = np.zeros(SHAPE, np.uint8)
    labels[1:3, 3:8, 2:6] = 1
    write_image(root / "lab.nrrd", labels, geometry)
    meta = sample_metadata([1])
    meta["BodyPartExamined"] = json_part
    (root / "m.json").write_text(json.dumps(meta))
    return ct, root / "lab.nrrd", root / "m.json"


def _dcmqi_args(ct: Path, lab: Path, meta: Path, out: Path) -> list[object]:
    return [
        "--inputImageList", lab, "--inputDICOMDirectory", ct, "--inputMetadata", meta,
        "--outputDICOM", out, "--segmentationType", "labelmap",
    ]  # fmt: skip


def _body_part(path: Path) -> str | None:
    return pydicom.dcmread(path).get("BodyPartExamined", None)


@pytest.mark.parametrize(
    "source_part, json_part, dcmqi_rule, native_rule",
    [
        ("CHEST", "ABDOMEN", "CHEST", "ABDOMEN"),  # both given: dcmqi takes the source's, native the JSON's
        (None, "ABDOMEN", "ABDOMEN", "ABDOMEN"),  # the source has none: the JSON's
        ("", "ABDOMEN", "ABDOMEN", "ABDOMEN"),  # an empty source value counts as none
        ("CHEST", "", "CHEST", "CHEST"),  # the JSON has none: the source's
        (None, "", None, None),  # neither: not written
    ],
)
def test_body_part_rule(tmp_path, capsys, source_part, json_part, dcmqi_rule, native_rule):
    ct, lab, meta = _case(tmp_path, source_part=source_part, json_part=json_part)
    ours = tmp_path / "dcmqi_rule.dcm"
    rc, _, err = run_cli(capsys, "itkimage2segimage", *_dcmqi_args(ct, lab, meta, ours))
    assert rc == 0, err
    assert _body_part(ours) == dcmqi_rule
    native = tmp_path / "native.dcm"
    rc, _, err = run_cli(capsys, "itk2seg", lab, "-d", ct, "-m", meta, "-o", native, "-q")
    assert rc == 0, err
    assert _body_part(native) == native_rule


@needs_dcmqi
@pytest.mark.parametrize("source_part, json_part", [("CHEST", "ABDOMEN"), (None, "ABDOMEN"), ("CHEST", "")])
def test_body_part_matches_dcmqi(tmp_path, capsys, source_part, json_part):
    ct, lab, meta = _case(tmp_path, source_part=source_part, json_part=json_part)
    theirs = tmp_path / "dcmqi.dcm"
    proc = subprocess.run(
        [str(BIN / "itkimage2segimage"), *map(str, _dcmqi_args(ct, lab, meta, theirs))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = tmp_path / "ours.dcm"
    rc, _, err = run_cli(capsys, "itkimage2segimage", *_dcmqi_args(ct, lab, meta, ours))
    assert rc == 0, err
    assert _body_part(ours) == _body_part(theirs)
    assert _body_part(ours) == (source_part or json_part)
