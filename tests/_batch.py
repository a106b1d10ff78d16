"""Small collections for batch tests: per case its own CT series, a label map and a dcmqi JSON on disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

SHAPE = (5, 22, 21)  # [k, j, i]: odd sizes


def make_collection(root: Path, n: int, *, labels: int = 3) -> list[dict]:
    """``n`` cases below ``root`` (``root/case<i>/{ct/, lab.nrrd}``, one shared ``root/meta.json``); each
    case has its own series (new UIDs) and label content (seed = i)."""
    import numpy as np
    from _images import write_image

    from labelmap.demo.sample import organ_phantom, sample_metadata

    from _geometries import axial_geometry, make_ct_series

    geometry = axial_geometry(shape=SHAPE)
    values = list(range(1, labels + 1))
    meta = root / "meta.json"
    meta.write_text(json.dumps(sample_metadata(values), indent=2))
    cases = []
    for i in range(n):
        folder = root / f"case{i}"
        folder.mkdir(parents=True)
        ct = make_ct_series(folder, geometry, name="ct")
        lab = organ_phantom(geometry, labels, seed=i + 1, max_label=labels)
        lab[lab == 0] = 0
        path = folder / "lab.nrrd"
        write_image(path, lab.astype(np.uint8), geometry)
        cases.append({"id": f"case{i}", "ct": ct, "lab": path, "meta": meta, "labels": lab, "folder": folder})
    return cases


def write_manifest(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """A manifest CSV with ``columns`` (default: the first row's keys) and ``rows``."""
    columns = columns or list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: str(v) for k, v in row.items()})
    return path


def itk2seg_rows(cases: list[dict], root: Path, out: str = "out") -> list[dict]:
    """Manifest rows converting each case into ``root/out/<id>.seg.dcm`` (paths relative to ``root``)."""
    return [
        {
            "id": c["id"],
            "labels": c["lab"].relative_to(root),
            "dicom": c["ct"].relative_to(root),
            "metadata": c["meta"].relative_to(root),
            "output": f"{out}/{c['id']}.seg.dcm",
        }
        for c in cases
    ]


def read_report(path: Path) -> list[dict]:
    """The rows of a CSV report."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
