"""Helpers shared by the tests: building label/CT/JSON inputs, running the peers, world-space comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _images import read_image, write_image

from labelmap.demo.sample import sample_metadata, write_ct_series
from labelmap.model import Geometry

BIN_DIR = Path(sys.executable).parent
DCMQI_TIMEOUT = 120


def dcmqi_exe(name: str) -> Path:
    return BIN_DIR / name


def run_dcmqi(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a dcmqi executable from the venv; on failure the assertion shows its output."""
    proc = subprocess.run(
        [str(dcmqi_exe(name)), *[str(a) for a in args]], capture_output=True, text=True, timeout=DCMQI_TIMEOUT
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{name} failed with exit code {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n"
            f"stderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def dcmqi_read(seg: Path, out_dir: Path, *extra: str) -> tuple[np.ndarray, Geometry, dict]:
    """segimage2itkimage -> (array, geometry, meta.json) of its single LABELMAP output."""
    out_dir.mkdir(parents=True, exist_ok=True)  # dcmqi does not create it
    run_dcmqi("segimage2itkimage", "--inputDICOM", str(seg), "--outputDirectory", str(out_dir), *extra)
    array, geometry = read_image(out_dir / "1.nrrd")
    meta = json.loads((out_dir / "meta.json").read_text())
    return array, geometry, meta


def dcmqi_write(
    labels: Path,
    ct_dir: Path,
    metadata: Path,
    output: Path,
    *,
    label_id_as_number: bool = True,
    compress: str | None = None,
) -> subprocess.CompletedProcess:
    args = [
        "--inputImageList",
        str(labels),
        "--inputDICOMDirectory",
        str(ct_dir),
        "--inputMetadata",
        str(metadata),
        "--outputDICOM",
        str(output),
        "--segmentationType",
        "labelmap",
    ]
    if label_id_as_number:
        args.append("--useLabelIDAsSegmentNumber")
    if compress:
        args += ["--compress", compress]
    return run_dcmqi("itkimage2segimage", *args)


def make_case(
    tmp_path: Path,
    geometry: Geometry,
    array: np.ndarray,
    *,
    label_values: Sequence[int] | None = None,
    image_name: str = "labels.nrrd",
    image_geometry: Geometry | None = None,
    image_array: np.ndarray | None = None,
    metadata: dict | None = None,
) -> tuple[Path, Path, Path, dict]:
    """CT series on ``geometry`` + label image + metadata JSON; returns (ct_dir, image, json, metadata dict).

    The label image holds ``image_array`` on ``image_geometry`` when given (e.g. a
    flipped copy), else ``array`` on ``geometry``.
    """
    ct_dir = tmp_path / "ct"
    write_ct_series(ct_dir, geometry)
    if label_values is None:
        label_values = [int(v) for v in np.unique(array) if v != 0]
    md = metadata if metadata is not None else sample_metadata(label_values)
    image = tmp_path / image_name
    write_image(
        image, array if image_array is None else image_array, geometry if image_geometry is None else image_geometry
    )
    md_path = tmp_path / "meta_in.json"
    md_path.write_text(json.dumps(md))
    return ct_dir, image, md_path, md


def world_compare(
    expected: np.ndarray,
    expected_geometry: Geometry,
    actual: np.ndarray,
    actual_geometry: Geometry,
    *,
    tol_index: float = 1e-3,
) -> None:
    """Assert ``actual`` holds exactly ``expected``'s labels at the same LPS points.

    ``actual`` may be a crop of (or a reoriented / larger grid around) ``expected``;
    every voxel of ``actual`` must fall on a voxel of ``expected`` (or outside it,
    where it must be 0) and every non-zero voxel of ``expected`` must be covered.
    """
    kk, jj, ii = np.indices(actual.shape)
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1).astype(np.float64)
    points = actual_geometry.index_to_lps(ijk)
    idx = expected_geometry.lps_to_index(points)
    rounded = np.rint(idx)
    off = np.abs(idx - rounded).max()
    assert off < tol_index, f"grids are not aligned: voxel centres off by {off:.6f} voxels"
    rounded = rounded.astype(np.int64)
    shape_ijk = np.array(expected.shape[::-1])
    inside = np.all((rounded >= 0) & (rounded < shape_ijk), axis=1)
    flat_actual = actual.ravel()
    assert not np.any(flat_actual[~inside]), "non-zero labels outside the expected grid"
    r = rounded[inside]
    got = flat_actual[inside]
    want = expected[r[:, 2], r[:, 1], r[:, 0]]
    mismatch = np.flatnonzero(got.astype(np.int64) != want.astype(np.int64))
    assert mismatch.size == 0, (
        f"{mismatch.size} voxel(s) differ; first at expected index (i,j,k)={tuple(r[mismatch[0]])}: "
        f"got {got[mismatch[0]]}, want {want[mismatch[0]]}"
    )
    covered = np.zeros(expected.shape, dtype=bool)
    covered[r[:, 2], r[:, 1], r[:, 0]] = True
    lost = np.count_nonzero(expected[~covered])
    assert lost == 0, f"{lost} non-zero expected voxel(s) are not covered by the actual grid"


def flipped_i(array: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, Geometry]:
    """The same voxels in world space, stored with the i axis reversed."""
    direction = geometry.direction.copy()
    direction[:, 0] *= -1
    origin = geometry.index_to_lps(np.array([geometry.shape[2] - 1, 0, 0], dtype=np.float64))
    return np.ascontiguousarray(array[:, :, ::-1]), Geometry(origin, direction, geometry.spacing, geometry.shape)


def volume_geometry(affine: np.ndarray, shape: Sequence[int]) -> Geometry:
    """Geometry of an array indexed [a0, a1, a2] whose 4x4 ``affine`` maps (a0, a1, a2, 1) to LPS.

    highdicom's Volume affine is in array-axis order (slice, row, column); our
    Geometry columns are (i = column, j = row, k = slice), hence the reversal.
    """
    m = np.asarray(affine, dtype=np.float64)[:3, :3][:, ::-1]
    spacing = np.linalg.norm(m, axis=0)
    return Geometry(np.asarray(affine, dtype=np.float64)[:3, 3], m / spacing, spacing, tuple(shape))


def highdicom_read(seg: Path) -> tuple[np.ndarray, Geometry]:
    """highdicom's combined LABELMAP volume (original Segment Numbers) and its geometry."""
    import highdicom as hd

    volume = hd.seg.segread(str(seg)).get_volume(combine_segments=True, relabel=False)
    array = np.asarray(volume.array)
    return array, volume_geometry(volume.affine, array.shape)


def permuted(array: np.ndarray, geometry: Geometry, perm, flips) -> tuple[np.ndarray, Geometry]:
    """Store the same world voxels with index axes permuted (new axis n = old axis perm[n], in i,j,k terms)
    and flipped (flips[n] for new axis n)."""
    ijk = np.transpose(array, (2, 1, 0))  # [i, j, k]
    new = np.transpose(ijk, perm)
    flip_axes = tuple(n for n in range(3) if flips[n])
    if flip_axes:
        new = np.flip(new, axis=flip_axes)
    old_ijk_shape = np.array(geometry.shape[::-1])
    corner = np.zeros(3)
    for n in range(3):
        if flips[n]:
            corner[perm[n]] = old_ijk_shape[perm[n]] - 1
    origin = geometry.index_to_lps(corner)
    direction = np.stack([(-1 if flips[n] else 1) * geometry.direction[:, perm[n]] for n in range(3)], axis=1)
    spacing = np.array([geometry.spacing[perm[n]] for n in range(3)])
    arr = np.ascontiguousarray(np.transpose(new, (2, 1, 0)))
    return arr, Geometry(origin, direction, spacing, arr.shape)


def write_highdicom_seg(
    directory: Path,
    geometry: Geometry,
    pixel_array: np.ndarray,
    *,
    seg_type: str,
    numbers: Sequence[int],
    colours: bool = False,
    **kw,
) -> tuple[Path, Path]:
    """Write a CT series and a highdicom SEG of ``pixel_array`` on it into ``directory``: (ct dir, SEG path)."""
    import pydicom
    import pytest

    hd = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    ct_dir = directory / "ct"
    sources = [pydicom.dcmread(f) for f in write_ct_series(ct_dir, geometry)]
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=f"Segment {n}",
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            **({"display_color": hd.color.CIELabColor(50.0, 10.0 * i, -5.0 * i)} if colours else {}),
        )
        for i, n in enumerate(numbers)
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel_array,
        segmentation_type=getattr(hd.seg.SegmentationTypeValues, seg_type),
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=20,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        **kw,
    )
    out = directory / "hd.dcm"
    seg.save_as(out)
    return ct_dir, out
