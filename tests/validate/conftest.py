"""Fixtures of the validator tests: our writer's files (written once per session) and broken copies."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from _images import write_image
from _validate import LABEL_VALUES, Broken

from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.dicom.pixels import codecs
from labelmap.dicom.uids import WRITABLE
from labelmap.errors import UnsupportedError
from labelmap.pipeline.bin2label import binary_to_labelmap
from labelmap.pipeline.convert import itk_to_seg
from labelmap.pipeline.options import WriteOptions

from _classic import fractional_maps, overlapping_arrays, write_inputs
from _geometries import axial_geometry
from _interop import make_case


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """CT (6 x 24 x 20), a gapped label map (1, 2, 4, 9; first/last slice empty) and its JSON."""
    root = tmp_path_factory.mktemp("validate")
    geometry = axial_geometry(shape=(6, 24, 20))
    labels = organ_phantom(geometry, 4, seed=1, max_label=9)
    assert sorted(int(v) for v in np.unique(labels) if v) == LABEL_VALUES
    ct, image, meta, _ = make_case(root, geometry, labels)
    return SimpleNamespace(root=root, geometry=geometry, labels=labels, ct=ct, image=image, meta=meta)


@pytest.fixture(scope="session")
def made(inputs):
    """``made(kind) -> Path``: our writer's output of that kind (written once per session)."""
    cache: dict[str, Path] = {}
    root = inputs.root

    def write(kind: str) -> Path:
        path = root / f"{kind}.dcm"
        seg_type, _, variant = kind.partition("-")
        if seg_type == "labelmap" and variant in WRITABLE:
            if not codecs.is_available(variant):
                pytest.skip(f"codec for {variant} not installed")
            try:
                itk_to_seg([inputs.image], [inputs.ct], inputs.meta, path, options=WriteOptions(compression=variant))
            except UnsupportedError as exc:  # e.g. JPEG 2000 of frames < 32 px without imagecodecs
                pytest.skip(str(exc))
        elif kind == "labelmap-palette":
            itk_to_seg([inputs.image], [inputs.ct], inputs.meta, path, options=WriteOptions(palette=True))
        elif kind == "labelmap-keep-empty":
            itk_to_seg([inputs.image], [inputs.ct], inputs.meta, path, options=WriteOptions(keep_empty_slices=True))
        elif kind in ("labelmap-16bit", "labelmap-16bit-palette"):
            labels = inputs.labels.astype(np.uint16)
            labels[labels == 9] = 300
            image, meta = root / "labels16.nrrd", root / "meta16.json"
            write_image(image, labels, inputs.geometry)
            meta.write_text(json.dumps(sample_metadata([1, 2, 4, 300])))
            itk_to_seg(
                [image],
                [inputs.ct],
                meta,
                path,
                options=WriteOptions(palette=kind.endswith("palette"), compression="deflate"),
            )
        elif seg_type == "binary" and variant in ("none", "deflate", "implicit", "j2k"):
            try:
                itk_to_seg(
                    [inputs.image],
                    [inputs.ct],
                    inputs.meta,
                    path,
                    options=WriteOptions(seg_type="binary", numbering="sequential", compression=variant),
                )
            except UnsupportedError as exc:
                pytest.skip(str(exc))
        elif kind == "binary-overlap":  # 5 x 22 x 21: 462 pixels per frame, not a multiple of 8
            geometry = axial_geometry()
            arrays, groups = overlapping_arrays(geometry)
            ct, images, meta, _ = write_inputs(root / "overlap", geometry, arrays, groups)
            itk_to_seg(images, [ct], meta, path, options=WriteOptions(seg_type="binary"))
        elif kind == "fractional":
            geometry = axial_geometry(shape=(4, 19, 13))
            ct, images, meta, _ = write_inputs(root / "fractional", geometry, fractional_maps(geometry), [[1], [1]])
            itk_to_seg(
                images, [ct], meta, path, options=WriteOptions(seg_type="fractional", fractional_type="occupancy")
            )
        elif kind in ("bin2label", "bin2label-palette-rle"):
            palette = kind != "bin2label"
            binary_to_labelmap(
                made("binary-none"),
                path,
                options=WriteOptions(palette=palette, compression="rle" if palette else "none"),
            )
        else:  # pragma: no cover - a typo in a test table
            raise KeyError(kind)
        return path

    def made(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = write(kind)
        return cache[kind]

    return made


@pytest.fixture
def broken_file(made, tmp_path):
    def build(case: Broken) -> Path:
        ds = pydicom.dcmread(made(case.base))
        case.change(ds)
        out = tmp_path / f"{case.id}.dcm"
        ds.save_as(out)
        return out

    return build
