"""Helpers for tests that drive the command line in-process."""

from __future__ import annotations

import os
from pathlib import Path

from labelmap.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``labelmap-convert args...`` in this process: (exit code, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def listing(directory: Path) -> set[str]:
    """Every entry (hidden ones included) below ``directory``; empty when it does not exist."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), directory))
    return found


SHAPE = (6, 24, 20)  # [k, j, i] of make_case's grid
LABEL_VALUES = [1, 2, 4, 9]  # make_case's labels: organ_phantom(..., 4, max_label=9), gapped values
LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"


def make_case(root: Path) -> dict:
    """A small CT series, a gapped label map (first/last slice empty), its dcmqi JSON and a LABELMAP SEG of them."""
    import json

    import numpy as np
    from _images import write_image

    from labelmap.demo.sample import organ_phantom, sample_metadata

    from _geometries import axial_geometry, make_ct_series

    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(root, geometry, name="ct")
    labels = organ_phantom(geometry, 4, seed=1, max_label=9)
    assert sorted(int(v) for v in np.unique(labels) if v) == LABEL_VALUES
    assert not labels[0].any() and not labels[-1].any()
    lab = root / "lab.nrrd"
    write_image(lab, labels, geometry)
    meta = root / "m.json"
    meta.write_text(json.dumps(sample_metadata(LABEL_VALUES), indent=2))
    seg = root / "base.seg.dcm"
    assert main(["itk2seg", str(lab), "-d", str(ct), "-m", str(meta), "-o", str(seg), "-q"]) == 0
    return {"root": root, "geometry": geometry, "ct": ct, "labels": labels, "lab": lab, "meta": meta, "seg": seg}


def dcmqi_write_args(case, output, *extra, dicom=None):
    """``itkimage2segimage`` arguments writing make_case's labels as a LABELMAP to ``output``."""
    dicom = dicom if dicom is not None else ["--inputDICOMDirectory", case["ct"]]
    return [
        "itkimage2segimage",
        "--inputImageList",
        case["lab"],
        *dicom,
        "--inputMetadata",
        case["meta"],
        "--outputDICOM",
        output,
        "--segmentationType",
        "labelmap",
        *extra,
    ]
