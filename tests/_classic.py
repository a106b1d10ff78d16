"""Helpers for the classic (BINARY / FRACTIONAL) SEG tests: inputs made of several label files,
expected per-segment masks, an independent greedy layering and readers for our outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from _images import read_image, write_image

from labelmap.demo.sample import organ_phantom, sample_metadata, write_ct_series
from labelmap.model import Geometry

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
    groups: Sequence[Sequence[int]] | None = None,
    *,
    names: Sequence[str] | None = None,
    stored: Sequence[tuple[np.ndarray, Geometry]] | None = None,
    metadata: dict | None = None,
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
    return [
        tuple(int(v) for v in f.FrameContentSequence[0].DimensionIndexValues)
        for f in ds.PerFrameFunctionalGroupsSequence
    ]


def frame_segments(ds: pydicom.Dataset) -> list[int]:
    return [
        int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in ds.PerFrameFunctionalGroupsSequence
    ]


def frame_positions(ds: pydicom.Dataset) -> np.ndarray:
    return np.array(
        [
            [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
            for f in ds.PerFrameFunctionalGroupsSequence
        ]
    )


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


def phantom(geometry: Geometry, n: int, seed: int) -> np.ndarray:
    return organ_phantom(geometry, n, seed=seed, empty_slices=False).astype(np.uint8)


def overlapping_arrays(geometry: Geometry) -> tuple[list[np.ndarray], list[list[int]]]:
    """Three label files on a (5, 22, 21) grid; segments of different files overlap, files 1 and 3 do not touch."""
    a = np.zeros(geometry.shape, np.uint8)
    a[1:3, 2:10, 3:12] = 1
    a[3, 12:18, 5:9] = 2
    a[4, 1:5, 1:5] = 2
    a[1, 12:18, 14:20] = 2  # label 2 on slices 1, 3, 4: an inner empty slice (dcmqi --skip 1 keeps it, we do not)
    b = np.zeros(geometry.shape, np.uint8)
    b[2:4, 5:14, 8:15] = 1  # overlaps a:1 (20 voxels) and a:2 (2 voxels)
    c = np.zeros(geometry.shape, np.uint8)
    c[0, 0:4, 0:4] = 1
    c[4, 15:20, 15:20] = 2
    c[1, 18:21, 0:3] = 3
    return [a, b, c], [[1, 2], [1], [1, 2, 3]]


def fractional_maps(geometry: Geometry, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    maps = []
    for m in range(2):
        p = rng.uniform(0.0, 1.0, size=geometry.shape)
        p[p < 0.4] = 0.0
        p[m] = 0.0  # an empty slice per map: no frame there
        p[2, 3, 4] = 1.0
        p[2, 3, 5] = 0.5 / 255  # rounds to 0 or 1 (round half to even)
        maps.append(p.astype(np.float32))
    return maps
