"""A label file that cannot lie on the source series is refused from its header, before its body is
read: a gzipped NRRD claiming 256 MiB of data on a grid off the CT's lattice (or outside the series)
fails fast, without inflating, and with the message the check of the read volumes gives."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from _images import write_image
from _slicer import SlicerSegment, write_slicer_segnrrd

from labelmap.demo.sample import sample_metadata
from labelmap.errors import GeometryError, LabelmapError
from labelmap.formats.header_grid import read_header_grid
from labelmap.formats.nrrd_header import header_lines
from labelmap.model import Geometry
from labelmap.pipeline import convert
from labelmap.pipeline.convert import itk_to_seg

from _geometries import axial_geometry, make_ct_series, oblique_geometry

CT = axial_geometry(shape=(5, 22, 21))
BIG = (512, 512, 512)  # [k, j, i] of uint16: 256 MiB, at HEADER_FIRST_BYTES


def shifted(geometry: Geometry, voxels, shape=None) -> Geometry:
    """``geometry`` moved by ``voxels`` (i, j, k; may be fractional), with another shape if given."""
    origin = geometry.index_to_lps(np.asarray(voxels, dtype=float))
    return Geometry(origin, geometry.direction, geometry.spacing, shape or geometry.shape)


def write_zero_nrrd(path: Path, geometry: Geometry) -> Path:
    """A gzip NRRD of uint16 zeros on ``geometry``, compressed piece by piece (never held whole)."""
    head = ("\n".join(header_lines(np.zeros((1, 1, 1), np.uint16), geometry, True)) + "\n\n").encode()
    head = head.replace(b"sizes: 1 1 1", b"sizes: " + " ".join(map(str, geometry.shape[::-1])).encode())
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    piece = bytes(1 << 20)
    total = int(np.prod(geometry.shape)) * 2
    with open(path, "wb") as fh:
        fh.write(head)
        for _ in range(total // len(piece)):
            fh.write(z.compress(piece))
        fh.write(z.compress(bytes(total % len(piece))) + z.flush())
    return path


@pytest.fixture(scope="module")
def ct(tmp_path_factory) -> Path:
    return make_ct_series(tmp_path_factory.mktemp("hf"), CT)


@pytest.fixture(scope="module")
def meta(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("meta") / "meta.json"
    path.write_text(json.dumps(sample_metadata([1])))
    return path


# the peak is the child's own VmHWM (ru_maxrss would carry the forking test process's resident set across exec)
CHILD = """
import re, sys, time
from labelmap.errors import LabelmapError
from labelmap.pipeline.convert import itk_to_seg
label, ct, meta, out = sys.argv[1:5]
t0 = time.perf_counter()
try:
    itk_to_seg([label], [ct], meta, out)
    print("converted")
except LabelmapError as exc:
    hwm = re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1)
    print(f"{time.perf_counter() - t0:.3f} {int(hwm) // 1024}")
    print(exc)
"""


@pytest.mark.parametrize(
    "case, voxels, needles",
    [
        ("off the lattice", (0.5, 0.0, 0.0), ["does not match any source image", "0.3500 mm"]),
        ("outside the series", (0.0, 0.0, 40.0), ["lies entirely outside the source series"]),
    ],
)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
def test_large_gzip_nrrd_refused_from_its_header(ct, meta, tmp_path, case, voxels, needles):
    label = write_zero_nrrd(tmp_path / "big.nrrd", shifted(CT, voxels, BIG))
    assert label.stat().st_size < 2 << 20  # 256 MiB of zeros, compressed
    head = read_header_grid(label)
    assert head is not None and head.nbytes >= convert.HEADER_FIRST_BYTES
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(label), str(ct), str(meta), str(tmp_path / "out.dcm")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    stats, message = run.stdout.splitlines()[:2]
    seconds, peak_mib = float(stats.split()[0]), int(stats.split()[1])
    assert str(label) in message and all(n in message for n in needles), message
    # inflating the body touches 128 MiB (narrowed to uint8) more: ~190 MiB; refused from the header: ~65 MiB
    assert peak_mib < 120, (peak_mib, message)
    assert seconds < 5.0, (seconds, message)
    assert not (tmp_path / "out.dcm").exists()


def _error(labels, ct, meta, out) -> str:
    with pytest.raises(LabelmapError) as caught:
        itk_to_seg(labels, [ct], meta, out)
    return str(caught.value)


def _bad_inputs(tmp_path: Path, ct_geometry: Geometry) -> dict[str, tuple[list[Path], Path | None]]:
    """Label inputs that cannot lie on the CT, as each format and layout gives them (small files)."""
    ones = np.zeros(ct_geometry.shape, np.uint8)
    ones[1:3, 5:9, 4:8] = 1
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(sample_metadata([1])))
    meta2 = tmp_path / "meta2.json"
    one = sample_metadata([1])
    meta2.write_text(json.dumps({**one, "segmentAttributes": one["segmentAttributes"] * 2}))
    out: dict[str, tuple[list[Path], Path | None]] = {}

    def image(name: str, geometry: Geometry, array: np.ndarray = ones) -> Path:
        write_image(tmp_path / name, array, geometry)
        return tmp_path / name

    out["nrrd off lattice"] = ([image("a.nrrd", shifted(ct_geometry, (0.5, 0, 0)))], meta)
    out["nifti outside"] = ([image("b.nii.gz", shifted(ct_geometry, (0, 0, 30)))], meta)
    out["nrrd rotated"] = ([image("c.nrrd", oblique_geometry(shape=ct_geometry.shape))], meta)
    out["second file off the first"] = (
        [image("d1.nrrd", ct_geometry), image("d2.nrrd", shifted(ct_geometry, (0.3, 0, 0)))],
        meta2,
    )
    seg = SlicerSegment("liver", 0, 1, (0.8, 0.5, 0.4), "SCT^123037004^Anatomical Structure", "SCT^10200004^Liver")
    seg2 = SlicerSegment("mass", 1, 1, (1.0, 0.0, 0.0), "SCT^49755003^Morph", "SCT^4147007^Mass")
    layered = tmp_path / "e.seg.nrrd"
    write_slicer_segnrrd(layered, [ones, ones], shifted(ct_geometry, (0, 0, 0.5)), [seg, seg2], crop=False)
    out["two-layer seg.nrrd off the slices"] = ([layered], None)
    return out


def test_header_check_words_errors_as_the_volume_check(ct, tmp_path, monkeypatch):
    """Each bad input fails with the same message whether its header (threshold 0) or its read
    volumes (threshold never reached) are checked."""
    cases = _bad_inputs(tmp_path, CT)
    for name, (labels, meta) in cases.items():
        monkeypatch.setattr(convert, "HEADER_FIRST_BYTES", 1 << 62)
        after_read = _error(labels, ct, meta, tmp_path / "out.dcm")
        monkeypatch.setattr(convert, "HEADER_FIRST_BYTES", 0)
        from_header = _error(labels, ct, meta, tmp_path / "out.dcm")
        assert from_header == after_read, name
        assert str(labels[-1].name) in from_header or str(labels[0].name) in from_header, (name, from_header)
        assert not (tmp_path / "out.dcm").exists()


def test_header_grid_is_the_readers_grid(tmp_path):
    """The grid read from a header alone is the one the full reader gives (NRRD, NIfTI, .seg.nrrd layers)."""
    from labelmap.formats import read_labels

    ones = np.zeros(CT.shape, np.uint8)
    ones[1, 2, 3] = 1
    for name in ("g.nrrd", "g.nii.gz", "g.nii"):
        geometry = oblique_geometry(shape=CT.shape)
        write_image(tmp_path / name, ones, geometry)
        head = read_header_grid(tmp_path / name)
        volume = read_labels(tmp_path / name).only()
        assert head is not None and head.layers == 1
        assert head.geometry.shape == volume.geometry.shape
        assert head.geometry.max_deviation(volume.geometry) < 1e-9
    seg = SlicerSegment("liver", 0, 1, (0.8, 0.5, 0.4), "SCT^123037004^Anatomical Structure", "SCT^10200004^Liver")
    seg2 = SlicerSegment("mass", 1, 1, (1.0, 0.0, 0.0), "SCT^49755003^Morph", "SCT^4147007^Mass")
    path = write_slicer_segnrrd(tmp_path / "g.seg.nrrd", [ones, ones], CT, [seg, seg2])
    head = read_header_grid(path)
    volumes = read_labels(path).volumes
    assert head is not None and head.layers == len(volumes) == 2
    assert head.geometry.shape == volumes[0].geometry.shape
    assert head.geometry.max_deviation(volumes[0].geometry) < 1e-9
    (tmp_path / "t.nrrd").write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 64 64 64\nencoding: raw\n\n")
    assert read_header_grid(tmp_path / "t.nrrd") is None  # truncated: the reader says so
    assert read_header_grid(tmp_path / "t.mha") is None


def test_geometry_error_type(ct, meta, tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "HEADER_FIRST_BYTES", 0)
    ones = np.ones(CT.shape, np.uint8)
    write_image(tmp_path / "x.nrrd", ones, shifted(CT, (0, 0, 30)))
    with pytest.raises(GeometryError, match="entirely outside"):
        itk_to_seg([tmp_path / "x.nrrd"], [ct], meta, tmp_path / "out.dcm")
