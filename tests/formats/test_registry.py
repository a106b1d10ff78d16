"""The format registry: dispatch by file name, misnamed files, output formats; NRRD <-> NIfTI consistency."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from _images import read_image, write_image

from labelmap.errors import ImageFormatError, InputError
from labelmap.formats import FORMATS, format_for, output_format
from labelmap.model import Geometry


def _rot(axis: int, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [a for a in range(3) if a != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("a.nrrd", "nrrd"),
        ("a.seg.nrrd", "segnrrd"),
        ("A.Seg.Nhdr", "segnrrd"),
        ("a.seg.nii.gz", "nifti"),
        ("A.NRRD", "nrrd"),
        ("dir.v2/a.nhdr", "nrrd"),
        ("a.nii", "nifti"),
        ("a.nii.gz", "nifti"),
        ("a.NII.GZ", "nifti"),
    ],
)
def test_format_for(name, fmt):
    assert format_for(name).name == fmt


@pytest.mark.parametrize("name", ["a.png", "a.gz", "a.nii.bz2", "a.mha", "a", "nrrd", "a.nrrd.gz"])
def test_unknown_extension(name):
    with pytest.raises(ImageFormatError) as info:
        format_for(name)
    msg = str(info.value)
    assert name in msg
    assert msg.endswith("supported extensions: .nrrd, .nhdr, .nii, .nii.gz")  # .seg.nrrd ends in .nrrd


@pytest.mark.parametrize(
    "name, fmt", [("nrrd", "nrrd"), ("NIfTI", "nifti"), (".nii.gz", "nifti"), ("nii", "nifti"), ("seg.nrrd", "segnrrd")]
)
def test_output_format(name, fmt):
    assert output_format(name).name == fmt


def test_unknown_output_format():
    with pytest.raises(InputError, match="unknown output format 'mha'; use nrrd, nifti or segnrrd"):
        output_format("mha")


def test_every_format_sniffs_what_it_writes(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 2, 2))
    for fmt in FORMATS:
        path = tmp_path / f"x{fmt.output_suffix}"
        write_image(path, np.zeros(geom.shape, np.uint8), geom, compress=False)
        blob = path.read_bytes()
        head = (gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob)[:540]
        assert [f.kind for f in FORMATS if f.sniff(head)][0] == fmt.kind


def test_unknown_extension_write_writes_nothing(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 2, 2))
    with pytest.raises(ImageFormatError, match="out.mha"):
        write_image(tmp_path / "out.mha", np.zeros((2, 2, 2), np.uint8), geom)
    with pytest.raises(ImageFormatError, match="in.mha"):
        read_image(tmp_path / "in.mha")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_same_grid_through_both_formats(tmp_path, dtype):
    """NRRD -> read -> NIfTI -> read lands every voxel at the same LPS point."""
    direction = np.diag([1.0, 1.0, -1.0]) @ _rot(0, 12.0) @ _rot(1, -28.0)  # oblique and left-handed
    geom = Geometry((-101.5, 44.25, 12.0), direction, (0.7, 0.9, 2.5), (5, 22, 21))
    arr = np.random.default_rng(2).integers(0, 9, size=geom.shape).astype(dtype)

    write_image(tmp_path / "a.nrrd", arr, geom)
    a1, g1 = read_image(tmp_path / "a.nrrd")
    write_image(tmp_path / "b.nii.gz", a1, g1)
    a2, g2 = read_image(tmp_path / "b.nii.gz")
    write_image(tmp_path / "c.nhdr", a2, g2, compress=False)
    a3, g3 = read_image(tmp_path / "c.nhdr")

    for a, g in ((a1, g1), (a2, g2), (a3, g3)):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, arr)
        assert g.max_deviation(geom) < 1e-4  # NIfTI stores float32
        np.testing.assert_allclose(g.direction, geom.direction, atol=1e-6)
        np.testing.assert_allclose(g.spacing, geom.spacing, atol=1e-6)


def test_overwrite_is_atomic_and_complete(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    for name in ("x.nrrd", "x.nii.gz"):
        write_image(tmp_path / name, np.zeros(geom.shape, np.uint8), geom)
        write_image(tmp_path / name, np.ones(geom.shape, np.uint8), geom)
        back, _ = read_image(tmp_path / name)
        assert back.min() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nii.gz", "x.nrrd"]


def test_read_errors_name_the_file(tmp_path):
    for name in ("broken.nrrd", "broken.nii.gz", "broken.nii"):
        (tmp_path / name).write_bytes(b"\x00garbage" * 10)
        with pytest.raises(ImageFormatError, match=name.replace(".", r"\.")):
            read_image(tmp_path / name)


def test_name_table_is_the_formats_own():
    """The table that picks a format by name without importing the others says what each FORMAT says."""
    from labelmap import formats

    own = [(type(f).__module__.rsplit(".", 1)[1], f.name, tuple(f.aliases), tuple(f.suffixes)) for f in FORMATS]
    assert list(formats._TABLE) == own


def test_a_name_imports_only_its_format():
    """Picking the NRRD format by a file name or --format imports neither the NIfTI nor the Slicer module."""
    import subprocess
    import sys

    code = (
        "import sys; from labelmap.formats import find_format, output_format; "
        "assert find_format('a/b.NRRD').name == 'nrrd' and output_format('.nrrd').name == 'nrrd'; "
        "assert find_format('x.seg.nrrd').name == 'segnrrd' and find_format('x.txt') is None; "
        "print(sorted(m for m in sys.modules if m.startswith('labelmap.formats.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout)  # a list of module names
    assert "labelmap.formats.nrrd" in loaded and "labelmap.formats.segnrrd" in loaded
    assert "labelmap.formats.nifti" not in loaded and "labelmap.formats.nifti_grid" not in loaded
