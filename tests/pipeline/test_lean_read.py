"""The plain LABELMAP read lane (labelmap.pipeline.lean_read): the same bytes and report as seg_to_itk, or None.

Every SEG in the matrix is read twice, by the lane and by the full path, into two folders; the files
must be byte-identical and the reports equal but for ``seconds``.  Files outside the lane's envelope
must give None and leave nothing behind (not even the output folder).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from labelmap.demo.sample import write_ct_series
from labelmap.dicom.pixels.codecs import is_available
from labelmap.errors import LabelmapError
from labelmap.model import Code, Geometry, LabelVolume, SegmentDescription
from labelmap.pipeline import lean_read
from labelmap.pipeline.convert import load_source, seg_to_itk, write_seg
from labelmap.pipeline.lean_read import read_to_nrrd
from labelmap.pipeline.options import ReadOptions, WriteOptions

from _geometries import axial_geometry, las_geometry, oblique_geometry
from _interop import DCMQI_TIMEOUT, dcmqi_exe, make_case, write_highdicom_seg

CATEGORY = Code("123037004", "SCT", "Anatomical Structure")
TISSUE = Code("85756007", "SCT", "Tissue")
DCMQI = dcmqi_exe("itkimage2segimage")


def _segments(numbers) -> tuple[SegmentDescription, ...]:
    return tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=TISSUE, label=f"segment {n}") for n in numbers
    )


def _labels(shape, numbers, *, empty=(), seed=0) -> np.ndarray:
    """Blocks of each number on every slice but those in ``empty``; the last number fills one corner voxel."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if max(numbers) > 255 else np.uint8
    a = np.zeros(shape, dtype)
    k, j, i = shape
    for z in range(k):
        if z in empty:
            continue
        for n in numbers:
            r0, c0 = int(rng.integers(0, max(1, j - 3))), int(rng.integers(0, max(1, i - 3)))
            a[z, r0 : r0 + 3, c0 : c0 + 4] = n
    return a


def _write_ours(root: Path, geometry: Geometry, array: np.ndarray, numbers, **options) -> Path:
    ct = root / "ct"
    write_ct_series(ct, geometry)
    path = root / "ours.dcm"
    write_seg(LabelVolume(array, geometry, _segments(numbers)), load_source(ct), path, options=WriteOptions(**options))
    return path


def _both(seg: Path, tmp_path: Path, prefix: str = "") -> tuple[object, object, Path, Path]:
    lane_dir, full_dir = tmp_path / "lane" / "out", tmp_path / "full" / "out"
    lane = read_to_nrrd(seg, lane_dir, prefix=prefix)
    full = seg_to_itk(seg, full_dir, options=ReadOptions(fmt="nrrd", prefix=prefix, create_dir=True))
    return lane, full, lane_dir, full_dir


def _assert_same(seg: Path, tmp_path: Path, prefix: str = "") -> None:
    lane, full, lane_dir, full_dir = _both(seg, tmp_path, prefix)
    assert lane is not None, f"the lane declined {seg.name}"
    names = sorted(os.listdir(full_dir))
    assert sorted(os.listdir(lane_dir)) == names
    assert names == ([f"{prefix}-1.nrrd", f"{prefix}-meta.json"] if prefix else ["1.nrrd", "meta.json"])
    for name in names:
        assert (lane_dir / name).read_bytes() == (full_dir / name).read_bytes(), name
    mine, theirs = lane.to_dict(), full.to_dict()
    mine.pop("seconds"), theirs.pop("seconds")
    assert mine == json.loads(json.dumps(theirs).replace(str(full_dir), str(lane_dir)))
    assert lane.shape == full.shape and type(lane.shape) is type(full.shape)


# --------------------------------------------------------------------------- our writer
GEOMETRIES = {
    "axial": lambda shape: axial_geometry(shape=shape),
    "oblique": lambda shape: oblique_geometry(shape=shape),
    "las": lambda shape: las_geometry(shape=shape),
}


@pytest.mark.parametrize("compression", ["none", "implicit", "deflate", "rle"])
@pytest.mark.parametrize("numbers", [(1, 2, 3), (2, 5, 9, 40), (3, 300, 1000)], ids=["8bit", "gapped", "16bit"])
def test_our_files_read_the_same(tmp_path, compression, numbers):
    shape = (7, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, numbers), numbers, compression=compression)
    _assert_same(seg, tmp_path)


@pytest.mark.parametrize("where", sorted(GEOMETRIES))
@pytest.mark.parametrize("shape", [(7, 22, 21), (3, 38, 23)], ids=["21x22x7", "23x38x3"])
def test_geometries_and_odd_shapes(tmp_path, where, shape):
    geometry = GEOMETRIES[where](shape)
    seg = _write_ours(tmp_path, geometry, _labels(shape, (1, 4)), (1, 4), compression="deflate")
    if where == "oblique":  # the lane may decline a grid vector whose last bit depends on the BLAS
        lane, full, lane_dir, full_dir = _both(seg, tmp_path)
        if lane is None:
            assert not lane_dir.exists() and not lane_dir.parent.exists()
            return
    _assert_same(seg, tmp_path)


def test_an_oblique_file_takes_the_lane(tmp_path):
    """At least one oblique grid (here the conftest one) is read by the lane, to the last bit of its vectors."""
    shape = (5, 22, 21)
    seg = _write_ours(tmp_path, oblique_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    _assert_same(seg, tmp_path)


@pytest.mark.parametrize("compression", ["none", "rle"])
def test_16bit_frames_of_8bit_numbers_and_a_prefix(tmp_path, compression):
    shape = (4, 22, 21)
    seg = _write_ours(
        tmp_path, las_geometry(shape=shape), _labels(shape, (1, 7)), (1, 7), compression=compression, force_16bit=True
    )
    _assert_same(seg, tmp_path, prefix="case")


@pytest.mark.parametrize("compression", ["none", "deflate"])
def test_empty_slices_left_out_are_filled(tmp_path, compression):
    shape = (9, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (2, 3), empty=(2, 3, 6)), (2, 3))
    lane, full, *_ = _both(seg, tmp_path)
    assert full.filled_slices == 3 and full.warnings
    _assert_same(seg, tmp_path / "again")


def test_a_single_frame(tmp_path):
    shape = (5, 22, 21)
    array = _labels(shape, (1, 2), empty=(0, 1, 3, 4))
    seg = _write_ours(tmp_path, las_geometry(shape=shape), array, (1, 2))
    lane, full, *_ = _both(seg, tmp_path)
    assert full.shape[0] == 1
    _assert_same(seg, tmp_path / "again")


def test_an_existing_folder_and_files_replaced(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1,)), (1,))
    for sub in ("lane/out", "full/out"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "1.nrrd").write_bytes(b"old")
    _assert_same(seg, tmp_path)


@pytest.mark.parametrize("where", sorted(GEOMETRIES))
@pytest.mark.parametrize("spacing", ["absent", "wrong"])
def test_slice_step_from_the_positions(tmp_path, where, spacing):
    """Without a usable Spacing Between Slices / Slice Thickness the step is the smallest gap between frames."""
    import pydicom

    shape = (6, 22, 21)
    seg = _write_ours(tmp_path, GEOMETRIES[where](shape), _labels(shape, (1, 3), empty=(2,)), (1, 3))
    ds = pydicom.dcmread(seg)
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    if spacing == "absent":
        del measures.SliceThickness, measures.SpacingBetweenSlices
    else:  # twice the real step: the frames are not on its grid, the full path falls back to the gaps
        measures.SpacingBetweenSlices = measures.SliceThickness = 2 * float(measures.SliceThickness)
    ds.save_as(seg)
    lane, full, lane_dir, _ = _both(seg, tmp_path)
    if where == "oblique" and lane is None:  # a step whose last bit depends on the BLAS: declined
        assert not lane_dir.parent.exists()
        return
    _assert_same(seg, tmp_path / "again")


# --------------------------------------------------------------------------- dcmqi and highdicom
@pytest.mark.skipif(not DCMQI.exists(), reason="dcmqi executables are not installed in the venv")
@pytest.mark.parametrize("compress", [None, "deflate"])
@pytest.mark.parametrize("where", ["axial", "las"])
def test_dcmqi_files_read_the_same(tmp_path, compress, where):
    shape = (6, 22, 21)
    geometry = GEOMETRIES[where](shape)
    ct, image, meta, _ = make_case(tmp_path, geometry, _labels(shape, (1, 3, 6), empty=(2,)))
    seg = tmp_path / "dcmqi.dcm"
    args = [str(DCMQI), "--inputImageList", str(image), "--inputDICOMDirectory", str(ct), "--inputMetadata", str(meta)]
    args += ["--outputDICOM", str(seg), "--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"]
    args += ["--compress", compress] if compress else []
    proc = subprocess.run(args, capture_output=True, text=True, timeout=DCMQI_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_same(seg, tmp_path)


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.5"])
@pytest.mark.parametrize("where", ["axial", "oblique"])
def test_highdicom_files_read_the_same(tmp_path, syntax, where):
    shape = (4, 22, 21)
    pixels = _labels(shape, (1, 2, 5))
    try:
        geometry = GEOMETRIES[where](shape)
        kw = {"seg_type": "LABELMAP", "numbers": (1, 2, 5), "transfer_syntax_uid": syntax}
        _, seg = write_highdicom_seg(tmp_path, geometry, pixels, **kw)
    except (AttributeError, ValueError, TypeError) as exc:  # a highdicom that does not write this LABELMAP
        pytest.skip(f"highdicom does not write this LABELMAP: {exc}")
    _assert_same(seg, tmp_path)


# --------------------------------------------------------------------------- outside the envelope
def _declined(seg: Path, tmp_path: Path) -> None:
    out = tmp_path / "declined" / "out"
    before = set(tmp_path.rglob("*"))
    assert read_to_nrrd(seg, out, prefix="") is None
    assert set(tmp_path.rglob("*")) == before  # no folder, no file, no temporary
    assert not out.parent.exists()


def test_classic_binary_is_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2), seg_type="binary")
    _declined(seg, tmp_path)


@pytest.mark.skipif(not is_available("jpegls"), reason="no JPEG-LS codec installed")
def test_jpegls_is_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2), compression="jpegls")
    _declined(seg, tmp_path)


@pytest.mark.parametrize("compression", ["none", "deflate", "rle"])
def test_a_truncated_file_is_declined(tmp_path, compression):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2), compression=compression)
    data = seg.read_bytes()
    for cut in (len(data) - 1, len(data) - 200, len(data) // 2, 300):
        seg.write_bytes(data[:cut])
        _declined(seg, tmp_path)


def _patch_is(data: bytes, tag: int, value: int) -> bytes:
    """Replace the value of an explicit VR IS or US element (top level, uncompressed data set)."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    at = data.index(head + b"IS") if head + b"IS" in data else data.index(head + b"US")
    vr, length = data[at + 4 : at + 6], struct.unpack_from("<H", data, at + 6)[0]
    raw = struct.pack("<H", value) if vr == b"US" else str(value).encode().ljust(length)
    assert len(raw) == length, "the new value must keep the element's length"
    return data[: at + 8] + raw + data[at + 8 + length :]


def test_a_header_claiming_huge_frames_is_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    data = seg.read_bytes()
    seg.write_bytes(_patch_is(_patch_is(data, 0x00280010, 60000), 0x00280011, 60000))  # Rows, Columns
    _declined(seg, tmp_path)


def test_a_missing_frame_is_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    seg.write_bytes(_patch_is(seg.read_bytes(), 0x00280008, 4))  # Number of Frames 3 -> 4
    _declined(seg, tmp_path)
    with pytest.raises(LabelmapError):  # the full path names what is wrong
        seg_to_itk(seg, tmp_path / "full", options=ReadOptions(fmt="nrrd"))


def test_undescribed_pixel_values_are_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    data = bytearray(seg.read_bytes())
    data[-5] = 77  # a pixel of the last frame: no segment 77
    seg.write_bytes(bytes(data))
    _declined(seg, tmp_path)


def test_a_bad_prefix_or_output_is_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1,)), (1,))
    assert read_to_nrrd(seg, tmp_path / "o", prefix="a/b") is None
    (tmp_path / "file").write_bytes(b"")
    assert read_to_nrrd(seg, tmp_path / "file", prefix="") is None
    assert read_to_nrrd(tmp_path / "missing.dcm", tmp_path / "o", prefix="") is None
    assert read_to_nrrd(tmp_path, tmp_path / "o", prefix="") is None  # a folder
    assert not (tmp_path / "o").exists()


def test_a_palette_seg_is_declined(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2), palette=True)
    _declined(seg, tmp_path)


@pytest.mark.parametrize("damage", ["duplicate", "off-grid", "tilted"])
def test_frames_off_a_regular_grid_are_declined(tmp_path, damage):
    """Frame positions the full reader refuses (or reads onto another grid) never take the lane."""
    import pydicom

    shape = (4, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    ds = pydicom.dcmread(seg)
    items = ds.PerFrameFunctionalGroupsSequence
    first = [float(v) for v in items[0].PlanePositionSequence[0].ImagePositionPatient]
    moved = {
        "duplicate": first,
        "off-grid": [first[0], first[1], first[2] + 2.5 * 1.4],
        "tilted": [first[0] + 0.3, first[1], first[2] + 2.5],
    }[damage]
    items[1].PlanePositionSequence[0].ImagePositionPatient = moved
    ds.save_as(seg)
    _declined(seg, tmp_path)


def test_ctrl_c_leaves_nothing_behind(tmp_path, monkeypatch):
    """KeyboardInterrupt while the outputs are written passes through; temporaries and the new folder go."""
    from labelmap.formats import dcmqi_json

    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    before = set(tmp_path.rglob("*"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dcmqi_json, "write_meta_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_to_nrrd(seg, tmp_path / "new" / "out", prefix="")
    assert set(tmp_path.rglob("*")) == before


def test_a_failed_write_gives_none_and_leaves_nothing(tmp_path, monkeypatch):
    from labelmap.formats import dcmqi_json

    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "1.nrrd").write_bytes(b"kept")
    before = {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dcmqi_json, "write_meta_json", disk_full)
    assert read_to_nrrd(seg, tmp_path / "out", prefix="") is None
    assert {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")} == before


def test_deflated_image_frames_read_the_same(tmp_path):
    """Deflated Image Frame Compression (our volume writer does not write it): re-encoded with pydicom."""
    import pydicom
    from pydicom.encaps import encapsulate

    shape = (4, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2))
    ds = pydicom.dcmread(seg)
    npx = ds.Rows * ds.Columns
    frames = []
    for f in range(int(ds.NumberOfFrames)):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw = c.compress(ds.PixelData[f * npx : (f + 1) * npx]) + c.flush()
        frames.append(raw + b"\0" * (len(raw) % 2))
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.5"  # pydicom 3.0 does not know the deflate one:
    out = tmp_path / "frames.dcm"
    ds.save_as(out, enforce_file_format=True)
    data = out.read_bytes()  # ... so its UID is put in afterwards, the group length fixed
    old = b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.5\x00"
    new = b"\x02\x00\x10\x00UI\x16\x001.2.840.10008.1.2.8.1\x00"
    at = data.index(b"\x02\x00\x00\x00UL\x04\x00") + 8
    group = struct.unpack_from("<I", data, at)[0] + 2
    data = data[:at] + struct.pack("<I", group) + data[at + 4 :]
    out.write_bytes(data.replace(old, new, 1))
    _assert_same(out, tmp_path)


# --------------------------------------------------------------------------- the lane's own promises
def test_constants_agree_with_geometry():
    from labelmap.dicom.compact import COMPACT_FROM
    from labelmap.geometry import DEFAULT_TOLERANCE_MM, MAX_GRID_SLICES

    assert lean_read.TOLERANCE_MM == DEFAULT_TOLERANCE_MM
    assert lean_read.MAX_GRID_SLICES == MAX_GRID_SLICES
    assert lean_read._LARGEST_FILE == COMPACT_FROM


def test_the_lane_imports_no_numpy_pydicom_or_typer(tmp_path):
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (1, 2)), (1, 2), compression="rle")
    code = (
        "import sys\n"
        "from labelmap.pipeline.lean_read import read_to_nrrd\n"
        f"report = read_to_nrrd({str(seg)!r}, {str(tmp_path / 'out')!r}, prefix='')\n"
        "assert report is not None\n"
        "print(sorted(m for m in ('numpy', 'pydicom', 'typer', 'nibabel', 'click') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(lean_read.__file__).parents[2]), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (tmp_path / "out" / "1.nrrd").exists()


def test_metadata_matches_the_sample(tmp_path):
    """meta.json of the lane is dcmqi's layout (one inner list, labelIDs = Segment Numbers)."""
    shape = (3, 22, 21)
    seg = _write_ours(tmp_path, axial_geometry(shape=shape), _labels(shape, (2, 9)), (2, 9))
    report = read_to_nrrd(seg, tmp_path / "out", prefix="")
    meta = json.loads(report.metadata.read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [2, 9]
