"""Deterministic benchmark cases shared by the asv suite and ``compare.py``.

A case is a synthetic CT series, an organ-like label map of ``n_labels``
non-overlapping labels (values 1..n) saved as gzip NRRD, and its dcmqi
metadata JSON.  Everything depends only on (size, slices, n_labels, seed), so a
case directory named after those parameters can be reused across runs; a
``.complete`` marker is written last, so an interrupted generation is redone.

Only the public API is used: :mod:`labelmap.demo.sample`, :func:`labelmap.read_labels` /
:func:`labelmap.write_labels` and :class:`labelmap.model.Geometry`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20240611

#: Environment variable: when set to 1, the asv suite skips the large (512 x 512 x 300) size.
SMALL_ONLY_ENV = "LABELMAP_BENCH_SMALL"

#: (rows = columns, slices) of the asv sizes, named for the parameter tables.
SIZES = {"128x128x64": (128, 64), "512x512x300": (512, 300)}
SMALL = "128x128x64"
LARGE = "512x512x300"


def small_only() -> bool:
    return os.environ.get(SMALL_ONLY_ENV, "").strip().lower() not in ("", "0", "false", "no")


def size_params() -> list[str]:
    """asv size parameter values (the large one is dropped with LABELMAP_BENCH_SMALL=1)."""
    return [SMALL] if small_only() else [SMALL, LARGE]


def skip_if_disabled(size: str) -> None:
    """In asv ``setup``: raising NotImplementedError marks the combination as skipped."""
    if size not in size_params():
        raise NotImplementedError(f"size {size} disabled by {SMALL_ONLY_ENV}=1")


def geometry_for(size: int, slices: int):
    """The reference grid: identity orientation, 0.78125 mm pixels, 1.5 mm slices, axial LPS."""
    from labelmap.model import Geometry

    fov = size * 0.78125
    return Geometry((-fov / 2.0, -fov / 2.0, -1.5 * slices), np.eye(3), (0.78125, 0.78125, 1.5), (slices, size, size))


@dataclass(frozen=True)
class Case:
    """Paths of one generated case."""

    root: Path
    size: int
    slices: int
    n_labels: int
    seed: int

    @property
    def ct(self) -> Path:
        return self.root / "ct"

    @property
    def labels(self) -> Path:
        return self.root / "labels.nrrd"

    @property
    def metadata(self) -> Path:
        return self.root / "meta.json"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.slices, self.size, self.size)

    def fractional(self, n: int | None = None) -> tuple[list[Path], Path]:
        """FRACTIONAL inputs (one uint8 probability map per segment) and their metadata; made on first use."""
        return make_fractional(self, n)


def case_name(size: int, slices: int, n_labels: int, seed: int = SEED, dtype: str = "uint16") -> str:
    suffix = "" if np.dtype(dtype) == np.uint16 else f"-{np.dtype(dtype).name}"
    return f"case-{size}x{size}x{slices}-L{n_labels}-s{seed}{suffix}"


def _ct_dir(workdir: Path, size: int, slices: int, seed: int) -> Path:
    return workdir / f"ct-{size}x{size}x{slices}-s{seed}"


def make_ct(workdir: Path, size: int, slices: int, seed: int = SEED) -> Path:
    """The synthetic CT series of a grid, written once per (size, slices, seed) and shared by cases."""
    return write_ct(_ct_dir(Path(workdir), size, slices, seed), size, slices, seed)


def write_ct(out: Path, size: int, slices: int, seed: int = SEED, marker: Path | None = None) -> Path:
    """Write the synthetic CT series of a grid into the folder ``out`` unless it is complete already.

    The series (its UIDs and noise) depends only on ``seed``.  It is written beside ``out`` and
    renamed, then the file ``marker`` (default ``out/.complete``) is written, so an interrupted
    generation is redone.  A marker outside ``out`` leaves the folder holding DICOM files only, as
    a collection's series folders do (dcmqi says it skips any other file it finds there).
    """
    from labelmap.demo.sample import write_ct_series

    out = Path(out)
    marker = out / ".complete" if marker is None else Path(marker)
    if marker.exists() and out.is_dir():
        return out
    if out.exists():
        shutil.rmtree(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_ct_series(tmp, geometry_for(size, slices), seed=seed)
    tmp.rename(out)
    marker.write_text("ok\n")
    return out


def make_case(
    workdir: str | os.PathLike, size: int, slices: int, n_labels: int, seed: int = SEED, dtype: str = "uint16"
) -> Case:
    """Generate (or reuse) the case ``case_name(...)`` under ``workdir`` (labels stored as ``dtype``).

    Its ``ct`` is a link to the series of its grid and seed, which cases of other label counts share.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / case_name(size, slices, n_labels, seed, dtype)
    case = Case(root, size, slices, n_labels, seed)
    ct = make_ct(workdir, size, slices, seed)
    if (root / ".complete").exists() and case.ct.exists():
        return case
    root.mkdir(parents=True, exist_ok=True)
    _write_labels(case, dtype)
    if case.ct.is_symlink() or case.ct.exists():
        case.ct.unlink()
    case.ct.symlink_to(os.path.relpath(ct, root))
    (root / ".complete").write_text("ok\n")
    return case


def make_own_case(
    root: str | os.PathLike, size: int, slices: int, n_labels: int, seed: int = SEED, dtype: str = "uint16"
) -> Case:
    """Generate (or reuse) a case in the folder ``root`` with its own CT series folder ``root/ct``.

    What a collection of cases for a batch holds: every case's series (UIDs, noise) and labels
    derive from its ``seed``, so no two cases of different seeds share a file or a UID.
    """
    root = Path(root).resolve()
    case = Case(root, size, slices, n_labels, seed)
    if (root / ".complete").exists() and case.ct.is_dir():
        return case
    root.mkdir(parents=True, exist_ok=True)
    write_ct(case.ct, size, slices, seed, marker=root / ".ct-complete")
    _write_labels(case, dtype)
    (root / ".complete").write_text("ok\n")
    return case


def _write_labels(case: Case, dtype: str) -> None:
    """The case's organ phantom (gzip NRRD) and the dcmqi JSON of the label values it holds."""
    from labelmap import LabelVolume, write_labels
    from labelmap.demo.sample import organ_phantom, sample_metadata

    geometry = geometry_for(case.size, case.slices)
    labels = organ_phantom(geometry, case.n_labels, seed=case.seed, dtype=np.dtype(dtype).type)
    values = np.unique(labels)
    values = values[values != 0]
    write_labels(case.labels, LabelVolume(labels, geometry), compress=True)
    case.metadata.write_text(json.dumps(sample_metadata([int(v) for v in values]), indent=2))


def make_fractional(case: Case, n: int | None = None) -> tuple[list[Path], Path]:
    """One uint8 map per segment (255 inside the label, 128 on a one-voxel rim along i), plus metadata.

    ``n`` limits the number of segments (default: all labels of the case).
    """
    from labelmap import LabelVolume, read_labels, write_labels
    from labelmap.demo.sample import sample_metadata

    n = case.n_labels if n is None else min(int(n), case.n_labels)
    out = case.root / f"fractional-{n}"
    paths = [out / f"prob-{v}.nrrd" for v in range(1, n + 1)]
    meta = out / "meta.json"
    if (out / ".complete").exists():
        return paths, meta
    out.mkdir(parents=True, exist_ok=True)
    volume = read_labels(case.labels)
    labels, geometry = volume.array, volume.geometry
    for v, path in zip(range(1, n + 1), paths):
        inside = labels == v
        rim = (np.roll(inside, 1, axis=2) | np.roll(inside, -1, axis=2)) & ~inside
        prob = np.zeros(labels.shape, dtype=np.uint8)
        prob[rim] = 128
        prob[inside] = 255
        write_labels(path, LabelVolume(prob, geometry), compress=True)
    base = sample_metadata(list(range(1, n + 1)))
    segments = base["segmentAttributes"][0]
    for s in segments:
        s["labelID"] = 1  # FRACTIONAL: each file holds one segment
    base["segmentAttributes"] = [[s] for s in segments]
    meta.write_text(json.dumps(base, indent=2))
    (out / ".complete").write_text("ok\n")
    return paths, meta
