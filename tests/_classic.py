"""Helpers for the classic (BINARY / FRACTIONAL) SEG tests: inputs made of several label files,
expected per-segment masks, an independent greedy layering and readers for our outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pydicom

from labelmap.io.images import read_image, write_image
from labelmap.model import Geometry
from labelmap.sample import sample_metadata, write_ct_series

CLASSIC_SOP = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SOP = "1.2.840.10008.5.1.4.1.1.66.7"


def grouped_metadata(groups: Sequence[Sequence[int]]) -> dict:
    """dcmqi metadata with one inner list per file; ``groups[m]`` are file m's label values."""
    flat = [v for g in groups for v in g]
    md = sample_metadata(list(range(1, len(flat) + 1)))
    segs = md["segmentAttributes"][0]
    out, n = [], 0
    for g in groups:
        inner = []
        for v in g:
            s = dict(segs[n])
            s["labelID"] = int(v)
            inner.append(s)
            n += 1
        out.append(inner)
    md["segmentAttributes"] = out
    return md


def write_inputs(
    tmp: Path,
    geometry: Geometry,
    arrays: Sequence[np.ndarray],
    groups: Optional[Sequence[Sequence[int]]] = None,
    *,
    names: Optional[Sequence[str]] = None,
    stored: Optional[Sequence[tuple[np.ndarray, Geometry]]] = None,
    metadata: Optional[dict] = None,
    ct: bool = True,
) -> tuple[Path, list[Path], Path, dict]:
    """CT series on ``geometry`` + one label file per array + metadata JSON -> (ct_dir, images, json, md)."""
    tmp.mkdir(parents=True, exist_ok=True)
    ct_dir = tmp / "ct"
    if ct and not ct_dir.exists():
        write_ct_series(ct_dir, geometry)
    if groups is None:
        groups = [[int(v) for v in np.unique(a) if v != 0] for a in arrays]
    md = metadata if metadata is not None else grouped_metadata(groups)
    names = list(names) if names is not None else [f"in{m + 1}.nrrd" for m in range(len(arrays))]
    paths = []
    for m, (arr, name) in enumerate(zip(arrays, names)):
        path = tmp / name
        if stored is not None:
            write_image(path, stored[m][0], stored[m][1])
        else:
            write_image(path, arr, geometry)
        paths.append(path)
    md_path = tmp / "meta_in.json"
    md_path.write_text(json.dumps(md))
    return ct_dir, paths, md_path, md


def expected_masks(arrays: Sequence[np.ndarray], groups: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Segment masks in sequential numbering order (files in order, labels ascending): mask i -> number i+1."""
    return [arrays[m] == v for m, g in enumerate(groups) for v in sorted(g)]


def greedy_layers(masks: Sequence[np.ndarray]) -> list[list[int]]:
    """First-fit groups of non-overlapping segments in segment order (dcmqi OverlapUtil), 1-based numbers."""
    groups: list[list[int]] = []
    unions: list[np.ndarray] = []
    for i, mask in enumerate(masks):
        for g, u in zip(groups, unions):
            if not np.any(u & mask):
                g.append(i + 1)
                u |= mask
                break
        else:
            groups.append([i + 1])
            unions.append(mask.copy())
    return groups


def painted(masks: Sequence[np.ndarray], numbers: Sequence[int], dtype=np.int32) -> np.ndarray:
    """One volume with each listed segment's voxels set to its number (the segments must not overlap)."""
    out = np.zeros(masks[0].shape, dtype=dtype)
    for n in numbers:
        out[masks[n - 1]] = n
    return out


def read_outputs(paths: Sequence[Path]) -> list[tuple[np.ndarray, Geometry]]:
    return [read_image(p) for p in paths]


def dimension_indices(ds: pydicom.Dataset) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in f.FrameContentSequence[0].DimensionIndexValues)
            for f in ds.PerFrameFunctionalGroupsSequence]


def frame_segments(ds: pydicom.Dataset) -> list[int]:
    return [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in ds.PerFrameFunctionalGroupsSequence]


def frame_positions(ds: pydicom.Dataset) -> np.ndarray:
    return np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
                     for f in ds.PerFrameFunctionalGroupsSequence])


def unpack_binary(ds: pydicom.Dataset) -> np.ndarray:
    """Independent decoder: (F, R, C) bool frames from native 1-bit Pixel Data, LSB first, no inter-frame padding."""
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    raw = np.frombuffer(ds.PixelData, dtype=np.uint8)
    assert len(raw) == (n * r * c + 7) // 8 + ((n * r * c + 7) // 8) % 2, "Pixel Data length"
    bits = np.unpackbits(raw, bitorder="little")[: n * r * c]
    return bits.reshape(n, r, c).astype(bool)


def slice_of_position(geometry: Geometry, positions: np.ndarray) -> np.ndarray:
    """Slice index k of each frame position on ``geometry`` (asserting it is on a plane)."""
    ijk = geometry.lps_to_index(positions)
    assert np.abs(ijk[:, :2]).max() < 1e-3
    k = np.rint(ijk[:, 2])
    assert np.abs(ijk[:, 2] - k).max() < 1e-3
    return k.astype(int)
