"""Command lines of the hostile cases, with outputs below the case's folder (which is watched)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _base import Base
from _harness import Run
from _images import write_image

KEEP = "a file from an earlier run\n"


def out_dir(root: Path) -> Path:
    """``root/out`` holding one older file (it must survive every failure byte for byte)."""
    out = root / "out"
    out.mkdir(exist_ok=True)
    (out / "keep.txt").write_text(KEEP)
    return out


def itk2seg(base: Base, root: Path, label=None, *, dicom=None, meta=None, extra=(), expect=None, output=None) -> Run:
    labels = label if isinstance(label, list) else [label if label is not None else base.lab]
    out = output if output is not None else out_dir(root) / "x.seg.dcm"
    meta_args = [] if meta is False else ["-m", meta if meta is not None else base.meta]
    return Run(
        ["itk2seg", *labels, "-d", dicom if dicom is not None else base.ct, *meta_args, "-o", out, *extra],
        output=out,
        expect=expect,
    )


def dcmqi_write(
    base: Base, root: Path, labels=None, *, dicom=None, meta=None, extra=(), expect=None, output=None
) -> Run:
    labels = labels if labels is not None else [base.lab]
    out = output if output is not None else out_dir(root) / "x.seg.dcm"
    return Run(
        [
            "itkimage2segimage",
            "--inputImageList",
            ",".join(str(p) for p in labels),
            "--inputDICOMDirectory",
            dicom if dicom is not None else base.ct,
            "--inputMetadata",
            meta if meta is not None else base.meta,
            "--outputDICOM",
            out,
            *extra,
        ],
        output=out,
        expect=expect,
    )


def meta_file(
    base: Base, root: Path, edit: Callable[[dict], object] | None = None, *, text=None, name="m.json"
) -> Path:
    """The base JSON changed by ``edit(doc)`` (or ``text`` as the whole file), in ``root``."""
    path = root / name
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path
    doc = json.loads(json.dumps(base.meta_doc))
    edit(doc) if edit else None
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return path


def segment(doc: dict, label: int) -> dict:
    return next(s for s in doc["segmentAttributes"][0] if s["labelID"] == label)


def label_file(base: Base, root: Path, name: str, array=None, geometry=None) -> Path:
    path = root / name
    write_image(path, base.labels if array is None else array, geometry or base.geometry)
    return path


def relabelled(base: Base, dtype, old: int, new) -> np.ndarray:
    a = base.labels.astype(dtype)
    a[base.labels == old] = new
    return a
