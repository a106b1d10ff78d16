"""Many segments: 65,535 labels in one LABELMAP, a BINARY SEG of 20,000 segments (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _args import itk2seg, label_file, out_dir
from _base import Base, cached
from _harness import Case, Run

from _geometries import axial_geometry, make_ct_series


def _entries(base: Base, labels) -> str:
    entry = base.meta_doc["segmentAttributes"][0][0]
    cat = json.dumps(entry["SegmentedPropertyCategoryCodeSequence"])
    typ = json.dumps(entry["SegmentedPropertyTypeCodeSequence"])
    items = ",".join(
        f'{{"labelID":{i},"SegmentLabel":"s{i}","SegmentedPropertyCategoryCodeSequence":{cat},'
        f'"SegmentedPropertyTypeCodeSequence":{typ},"SegmentAlgorithmType":"MANUAL"}}'
        for i in labels
    )
    return '{"segmentAttributes":[[' + items + "]]}"


def labelmap_65535(base: Base, root: Path) -> Run:
    """One 256 x 256 slice whose voxels hold every label 1..65535 (and one background voxel)."""
    g = axial_geometry(shape=(1, 256, 256))
    ct = make_ct_series(root, g, name="ct")
    labels = np.arange(65536, dtype=np.uint16).reshape(1, 256, 256)
    meta = root / "all.json"
    meta.write_text(cached("json-65535", lambda: _entries(base, range(1, 65536))))  # type: ignore[arg-type]
    return itk2seg(base, root, label_file(base, root, "all.nrrd", labels, g), dicom=ct, meta=meta)


def binary_20000(base: Base, root: Path) -> Run:
    """A BINARY SEG of 20,000 one-voxel segments on one 160 x 128 slice, through bin2label."""
    from labelmap.model import Code, LabelVolume, SegmentDescription
    from labelmap.pipeline.convert import load_source, write_seg
    from labelmap.pipeline.options import WriteOptions

    def build() -> bytes:
        folder = root / "build"
        g = axial_geometry(shape=(1, 128, 160))
        ct = make_ct_series(folder, g, name="ct")
        labels = np.zeros(g.shape, np.uint16)
        labels.reshape(-1)[:20000] = np.arange(1, 20001)
        tissue = Code("85756007", "SCT", "Tissue")
        category = Code("123037004", "SCT", "Anatomical Structure")
        segments = tuple(
            SegmentDescription(label_id=n, number=n, category=category, type=tissue, label=f"s{n}")
            for n in range(1, 20001)
        )
        path = folder / "binary.dcm"
        write_seg(LabelVolume(labels, g, segments), load_source(ct), path, options=WriteOptions(seg_type="binary"))
        return path.read_bytes()

    seg = root / "binary20000.dcm"
    seg.write_bytes(cached("binary-20000", build))  # type: ignore[arg-type]
    out = out_dir(root) / "lm.dcm"
    return Run(["bin2label", seg, "-o", out], output=out)


CASES: list[Case] = [
    Case("bomb/labelmap-of-65535-segments", "bomb", labelmap_65535, slow=True),
    Case("bomb/binary-of-20000-segments/bin2label", "bomb", binary_20000, slow=True),
]
