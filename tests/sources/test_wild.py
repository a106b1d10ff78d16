"""Source series as found in the wild (issue 11): junk and huge files beside the CT, deflated and bare
data sets, duplicate UIDs, no Frame of Reference, bad spacing, gantry tilt."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import write_image
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from labelmap.demo.sample import organ_phantom, sample_metadata, write_ct_series
from labelmap.errors import DicomSeriesError
from labelmap.sources.headers import HEAD_BYTES, read_source_header, sniff
from labelmap.sources.series import load_series, series_geometry

from _cli import run_cli
from _geometries import axial_geometry, tilted_geometry

GEOMETRY = axial_geometry(shape=(4, 12, 10))


def _ct(tmp_path: Path, name: str = "ct", geometry=GEOMETRY) -> tuple[Path, list[Path]]:
    files = write_ct_series(tmp_path / name, geometry)
    return tmp_path / name, files


def _rewrite(path: Path, **changes) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path)


def _read_bytes() -> int:
    """Bytes this process has read through read() calls so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


needs_proc_io = pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io")


# --------------------------------------------------------------------------- sniffing
@pytest.mark.parametrize(
    "head, kind",
    [
        (b"\0" * 128 + b"DICM" + b"\2\0\0\0UL\4\0", "part10"),
        (b"\2\0\0\0UL\4\0\x10\0\0\0", "meta"),
        (b"\x08\0\x05\0CS\x0a\0ISO_IR 100", "explicit"),
        (b"\x08\0\x16\0\x1a\0\0\0" + b"1.2.840.10008.5.1.4.1.1.2\0", "implicit"),
        (b"PK\x03\x04" + b"\0" * 200, None),  # zip
        (b"\x1f\x8b\x08\0" + b"\0" * 200, None),  # gzip (.nii.gz)
        (b"\0\0\0\1Bud1" + b"\0" * 200, None),  # .DS_Store
        (b"# README\nscanned at the hospital\n", None),
        (b"", None),
        (b"\x08\0\x16\0\xff\xff\xff\x7f", None),  # implicit first element longer than the file
        (b"\x02\0\x10\0\x20\0\0\0", None),  # group 2 without a VR: the meta is always explicit
    ],
    ids=[
        "part10",
        "meta-no-preamble",
        "bare-explicit",
        "bare-implicit",
        "zip",
        "gzip",
        "ds-store",
        "text",
        "empty",
        "implicit-too-long",
        "meta-implicit",
    ],
)
def test_sniff(head, kind):
    assert sniff(head, max(len(head), 1000)) == kind


@needs_proc_io
def test_huge_non_dicom_files_are_never_read_past_their_head(tmp_path):
    """A 2 GB zip and a 1 GB .nii.gz beside the CT (sparse files) cost one head read each."""
    d, files = _ct(tmp_path)
    for name, magic, size in (("study.zip", b"PK\x03\x04", 2 << 30), ("labels.nii.gz", b"\x1f\x8b\x08\0", 1 << 30)):
        with open(d / name, "wb") as fh:
            fh.write(magic)
            fh.truncate(size)
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 5000)
    (d / "README").write_text("not DICOM\n")
    (d / "empty").write_bytes(b"")
    load_series([d])  # imports and caches warmed up
    before, t0 = _read_bytes(), time.perf_counter()
    series = load_series([d])
    read, elapsed = _read_bytes() - before, time.perf_counter() - t0
    assert len(series) == len(files) and not series.notes
    ct_bytes = sum(f.stat().st_size for f in files)
    assert read < ct_bytes + 5 * HEAD_BYTES + (1 << 16), read
    assert elapsed < 5


@needs_proc_io
def test_huge_private_element_before_pixel_data_is_skipped_not_read(tmp_path):
    """A DICOM slice whose header holds a 1 GB private OB element: seeked over, never read."""
    d, files = _ct(tmp_path)
    raw = files[0].read_bytes()
    pixel = raw.index(b"\xe0\x7f\x10\x00")
    blob = 1 << 30
    private = struct.pack("<HH2sHI", 0x0029, 0x1010, b"OB", 0, blob)
    with open(files[0], "wb") as fh:
        fh.write(raw[:pixel] + private)
        fh.seek(blob, os.SEEK_CUR)
        fh.write(raw[pixel:])
    load_series([d])
    before = _read_bytes()
    series = load_series([d])
    assert _read_bytes() - before < 8 << 20
    assert len(series) == len(files)


def test_special_files_in_the_folder_are_skipped(tmp_path):
    d, files = _ct(tmp_path)
    os.mkfifo(d / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "sock"))
    (d / "loop").symlink_to(d / "loop")
    (d / "dangling").symlink_to(d / "nowhere")
    (d / "sub").mkdir()
    (d / "sub" / "up").symlink_to(d)  # a folder link back up: not followed
    try:
        series = load_series([d])
    finally:
        sock.close()
    assert len(series) == len(files)
    assert any("ignored in the DICOM input: 4 entr(y/ies) that are not regular files" in n for n in series.notes)


def test_a_fifo_given_as_the_input_is_refused_not_opened(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DicomSeriesError, match="neither a file nor a folder.*FIFO"):
        load_series([tmp_path / "fifo"])
    with pytest.raises(DicomSeriesError, match="does not exist"):
        load_series([tmp_path / "nope"])


def test_a_fifo_reached_through_read_source_header_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert read_source_header(tmp_path / "fifo") is None


def test_non_image_dicom_objects_are_skipped_by_sop_class(tmp_path):
    d, files = _ct(tmp_path)
    ds = pydicom.dcmread(files[0])
    # a DICOMDIR-like object and a presentation state: no image geometry, skipped
    for name, sop_class in (("DICOMDIR", "1.2.840.10008.1.3.10"), ("pr.dcm", "1.2.840.10008.5.1.4.1.1.11.1")):
        other = pydicom.Dataset()
        other.file_meta = pydicom.dataset.FileMetaDataset()
        other.file_meta.MediaStorageSOPClassUID = other.SOPClassUID = sop_class
        other.file_meta.MediaStorageSOPInstanceUID = other.SOPInstanceUID = generate_uid()
        other.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        other.SeriesInstanceUID = ds.SeriesInstanceUID if name == "pr.dcm" else generate_uid()
        other.save_as(d / name, enforce_file_format=True)
    series = load_series([d])
    assert len(series) == len(files)


# --------------------------------------------------------------------------- encodings
def _same_series(a, b) -> None:
    assert a.sop_instance_uids == b.sop_instance_uids
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.pixel_spacing == b.pixel_spacing
    assert a.dataset.PatientName == b.dataset.PatientName
    assert a.dataset.FrameOfReferenceUID == b.dataset.FrameOfReferenceUID


def test_deflated_ct_source(tmp_path):
    d, files = _ct(tmp_path)
    plain = load_series([d])
    out = tmp_path / "deflated"
    out.mkdir()
    for f in files:
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(out / f.name, enforce_file_format=True)
    assert read_source_header(out / files[0].name).transfer_syntax == DeflatedExplicitVRLittleEndian
    _same_series(load_series([out]), plain)
    assert series_geometry(load_series([out])).shape == GEOMETRY.shape


def test_deflate_bomb_source_is_refused_in_bounded_memory(tmp_path):
    """A few MB of deflate holding 1 GB of zeros before Pixel Data: refused, never inflated whole."""
    import tracemalloc

    d, files = _ct(tmp_path)
    raw = files[0].read_bytes()
    start = 132 + 12 + struct.unpack_from("<I", raw, 140)[0]
    pixel = raw.index(b"\xe0\x7f\x10\x00")
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    header = raw[start:pixel] + struct.pack("<HH2sHI", 0x0029, 0x1010, b"OB", 0, 1 << 30)
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    chunks = [packer.compress(header)]
    zeros = bytes(1 << 24)
    for _ in range(64):
        chunks.append(packer.compress(zeros))
    chunks.append(packer.compress(raw[pixel:]) + packer.flush())
    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(bomb / "x.dcm", enforce_file_format=True)
    meta_end = 132 + 12 + struct.unpack_from("<I", (bomb / "x.dcm").read_bytes(), 140)[0]
    (bomb / "x.dcm").write_bytes((bomb / "x.dcm").read_bytes()[:meta_end] + b"".join(chunks))
    assert (bomb / "x.dcm").stat().st_size < 8 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DicomSeriesError, match="x.dcm.*damaged.*MB of deflated header"):
            load_series([bomb])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_deflated_stream_that_does_not_inflate_is_one_error(tmp_path):
    d, files = _ct(tmp_path)
    ds = pydicom.dcmread(files[1])
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(files[1], enforce_file_format=True)
    raw = files[1].read_bytes()
    start = 132 + 12 + struct.unpack_from("<I", raw, 140)[0]
    files[1].write_bytes(raw[:start] + b"\xff" * 64)
    with pytest.raises(DicomSeriesError, match=f"{files[1].name}.*damaged.*cannot be inflated"):
        load_series([d])


@pytest.mark.parametrize("encoding", ["implicit", "explicit", "meta-no-preamble"])
def test_files_without_preamble_or_file_meta(tmp_path, encoding):
    """Bare data sets (no preamble, no File Meta), as DCMTK reads them, and File Meta without preamble."""
    d, files = _ct(tmp_path)
    plain = load_series([d])
    out = tmp_path / "bare"
    out.mkdir()
    for f in files:
        ds = pydicom.dcmread(f)
        target = out / f.name
        if encoding == "meta-no-preamble":
            ds.save_as(target, enforce_file_format=True)
            target.write_bytes(target.read_bytes()[132:])
            continue
        del ds.file_meta
        ds.preamble = None
        implicit = encoding == "implicit"
        ds.save_as(target, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
        assert target.read_bytes()[:2] == b"\x08\x00"
    expected = {"implicit": "implicit", "explicit": "explicit", "meta-no-preamble": "meta"}[encoding]
    assert read_source_header(out / files[0].name).kind == expected
    _same_series(load_series([out]), plain)


def test_element_longer_than_the_file_is_one_error_naming_it(tmp_path):
    d, files = _ct(tmp_path)
    raw = bytearray(files[2].read_bytes())
    at = raw.index(b"\x10\x00\x10\x00PN")  # PatientName: claim 40000 bytes
    raw[at + 6 : at + 8] = struct.pack("<H", 40000)
    files[2].write_bytes(bytes(raw[: at + 200]))
    with pytest.raises(DicomSeriesError) as info:
        load_series([d])
    msg = str(info.value)
    assert "\n" not in msg
    assert files[2].name in msg and "damaged" in msg and "40000" in msg and "past the end" in msg


def test_junk_after_dicm_is_not_dicom(tmp_path):
    """ "DICM" and then no File Meta: a 1 GB sparse file of zeros and a file of random bytes are not
    DICOM (skipped at once); a file whose File Meta is sound but whose data set is not is an error
    (test_element_longer_than_the_file_is_one_error_naming_it)."""
    d, files = _ct(tmp_path)
    with open(d / "zeros.dcm", "wb") as fh:
        fh.write(b"\0" * 128 + b"DICM")
        fh.truncate(1 << 30)
    (d / "random.dcm").write_bytes(bytes(128) + b"DICM" + np.random.default_rng(5).bytes(3000))
    t0 = time.perf_counter()
    assert read_source_header(d / "zeros.dcm") is None
    random_head = read_source_header(d / "random.dcm")  # random bytes may also read as "no elements"
    assert random_head is None or len(random_head.dataset) == 0
    assert len(load_series([d])) == len(files)
    assert time.perf_counter() - t0 < 5


def test_sound_meta_then_out_of_order_elements_is_damaged(tmp_path):
    d, files = _ct(tmp_path)
    raw = files[1].read_bytes()
    start = 132 + 12 + struct.unpack_from("<I", raw, 140)[0]
    files[1].write_bytes(raw[:start] + b"\x08\x00\x16\x00UI\x00\x00" + raw[start:])  # (0008,0016) first
    with pytest.raises(DicomSeriesError, match=f"{files[1].name}.*damaged.*out of order"):
        load_series([d])


# --------------------------------------------------------------------------- instances
def test_two_different_files_with_one_sop_instance_uid(tmp_path):
    d, files = _ct(tmp_path)
    uid = pydicom.dcmread(files[0]).SOPInstanceUID
    _rewrite(files[2], SOPInstanceUID=uid)
    with pytest.raises(DicomSeriesError) as info:
        load_series([d])
    msg = str(info.value)
    assert uid in msg and files[0].name in msg and files[2].name in msg and "same SOPInstanceUID" in msg


def test_byte_identical_copy_counts_once_with_a_note(tmp_path):
    d, files = _ct(tmp_path)
    shutil.copy(files[1], d / "copy-of-2.dcm")
    series = load_series([d])
    assert len(series) == len(files)
    assert any("byte-identical" in n for n in series.notes)


def _label_case(tmp_path: Path, ct: Path) -> tuple[Path, Path]:
    labels = organ_phantom(GEOMETRY, 2, seed=1)
    lab = tmp_path / "lab.nrrd"
    write_image(lab, labels, GEOMETRY)
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps(sample_metadata(sorted(int(v) for v in np.unique(labels) if v))))
    return lab, meta


@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_source_without_frame_of_reference_is_warned_and_gets_a_new_one(tmp_path, capsys, value):
    d, files = _ct(tmp_path)
    for f in files:
        _rewrite(f, FrameOfReferenceUID=value)
    series = load_series([d])
    assert "FrameOfReferenceUID" not in series.dataset
    lab, meta = _label_case(tmp_path, d)
    out = tmp_path / "out.seg.dcm"
    rc, _, err = run_cli(capsys, "itk2seg", lab, "-d", d, "-m", meta, "-o", out)
    assert rc == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "FrameOfReferenceUID" in lines[0]
    seg = pydicom.dcmread(out)
    assert pydicom.uid.UID(seg.FrameOfReferenceUID).is_valid


@pytest.mark.parametrize("uid", [None, "", "not.a.uid"], ids=["absent", "empty", "invalid"])
def test_slice_without_a_usable_sop_instance_uid(tmp_path, uid):
    d, files = _ct(tmp_path)
    _rewrite(files[1], SOPInstanceUID=uid)
    with pytest.raises(DicomSeriesError, match=f"{files[1].name}' of series .* SOPInstanceUID.*not a UID"):
        load_series([d])


# --------------------------------------------------------------------------- spacing
@pytest.mark.parametrize(
    "changes, keyword",
    [
        (dict(PixelSpacing=["0", "0"]), "PixelSpacing"),
        (dict(PixelSpacing=["0.7", "-0.9"]), "PixelSpacing"),
        (dict(PixelSpacing=None), "PixelSpacing"),
        (dict(ImageOrientationPatient=None), "ImageOrientationPatient"),
    ],
    ids=["zero", "negative", "missing", "no-orientation"],
)
def test_bad_pixel_spacing_is_one_error_naming_file_and_attribute(tmp_path, changes, keyword):
    d, files = _ct(tmp_path)
    _rewrite(files[1], **changes)
    with pytest.raises(DicomSeriesError) as info:
        load_series([d])
    msg = str(info.value)
    assert "\n" not in msg and files[1].name in msg and keyword in msg
    assert info.value.keyword == keyword and info.value.path == str(files[1])


def test_non_finite_pixel_spacing(tmp_path):
    d, files = _ct(tmp_path)
    raw = files[0].read_bytes()
    old = pydicom.dcmread(files[0]).PixelSpacing
    text = "\\".join(str(v) for v in old).encode()
    assert raw.count(text) == 1
    files[0].write_bytes(raw.replace(text, b"nan\\nan".ljust(len(text), b" ")))
    with pytest.raises(DicomSeriesError, match=f"{files[0].name}: PixelSpacing.*'nan\\\\\\\\nan'.*finite"):
        load_series([d])


@pytest.mark.parametrize("value", ["0", "-2"])
def test_single_slice_with_zero_thickness(tmp_path, value):
    d, files = _ct(tmp_path, geometry=axial_geometry(shape=(1, 8, 8)))
    _rewrite(files[0], SliceThickness=value)
    with pytest.raises(DicomSeriesError, match=f"{files[0].name}: SliceThickness.*one slice.*positive"):
        load_series([d])
    _rewrite(files[0], SpacingBetweenSlices="1.5")  # a usable SpacingBetweenSlices gives the step
    assert series_geometry(load_series([d])).spacing[2] == pytest.approx(1.5)
    _rewrite(files[0], SpacingBetweenSlices=None, SliceThickness=None)  # nothing at all: 1 mm, as before
    assert series_geometry(load_series([d])).spacing[2] == pytest.approx(1.0)


def test_gantry_tilt_is_refused_with_the_angle(tmp_path):
    d, files = _ct(tmp_path, geometry=tilted_geometry(tilt_deg=12.3))
    for f in files:
        _rewrite(f, GantryDetectorTilt="12.3")
    with pytest.raises(DicomSeriesError) as info:
        load_series([d])
    msg = str(info.value)
    assert (
        "gantry-tilted" in msg and "sheared by 12.30 degrees" in msg and "GantryDetectorTilt (0018,1120) is 12.3" in msg
    )
    assert "resample" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "sop_class",
    ["1.2.840.10008.1.3.10", "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.22"],
    ids=["DICOMDIR", "SEG", "SR"],
)
def test_non_images_are_not_parsed_past_their_file_meta(tmp_path, sop_class):
    """A DICOMDIR, SEG or SR beside the CT is skipped by its Media Storage SOP Class: even a data set
    that would not parse (here 1 MB of junk) costs nothing and is no error."""
    d, files = _ct(tmp_path)
    ds = pydicom.dcmread(files[0])
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.save_as(d / "other", enforce_file_format=True)
    raw = (d / "other").read_bytes()
    start = 132 + 12 + struct.unpack_from("<I", raw, 140)[0]
    (d / "other").write_bytes(raw[:start] + b"\xff" * (1 << 20))
    head = read_source_header(d / "other")
    assert head is not None and len(head.dataset) == 0
    assert len(load_series([d])) == len(files)


def test_junk_that_looks_like_a_bare_data_set_is_not_dicom(tmp_path):
    """A file starting with the bytes of a group 0x0008 element but junk after it: not DICOM, skipped."""
    d, files = _ct(tmp_path)
    (d / "junk.bin").write_bytes(b"\x08\x00\x08\x00CS\x02\x00AB" + b"\x01\x00\x00\x00\xff\xff" * 5000)
    assert sniff((d / "junk.bin").read_bytes()[:64], 60000) == "explicit"
    assert read_source_header(d / "junk.bin") is None
    assert len(load_series([d])) == len(files)


# --------------------------------------------------------------------------- through the command line
def _longer_than_file(d: Path, files: list[Path]) -> None:
    raw = bytearray(files[2].read_bytes())
    at = raw.index(b"\x10\x00\x10\x00PN")
    raw[at + 6 : at + 8] = struct.pack("<H", 40000)
    files[2].write_bytes(bytes(raw[: at + 200]))


def _tilted(d: Path, files: list[Path]) -> None:
    for f in files:
        f.unlink()
    for f in write_ct_series(d, tilted_geometry(shape=GEOMETRY.shape, tilt_deg=20)):
        _rewrite(f, GantryDetectorTilt="20")


CLI_CASES = {
    "two files with one SOPInstanceUID": (
        lambda d, files: _rewrite(files[2], SOPInstanceUID=pydicom.dcmread(files[0]).SOPInstanceUID),
        ["same SOPInstanceUID", "CT000001.dcm", "CT000003.dcm"],
    ),
    "PixelSpacing 0": (lambda d, files: _rewrite(files[1], PixelSpacing=["0", "0"]), ["CT000002.dcm", "PixelSpacing"]),
    "PixelSpacing missing": (lambda d, files: _rewrite(files[3], PixelSpacing=None), ["CT000004.dcm", "missing"]),
    "element longer than the file": (_longer_than_file, ["CT000003.dcm", "damaged", "past the end"]),
    "gantry tilt": (_tilted, ["gantry-tilted", "20.00 degrees", "GantryDetectorTilt", "resample"]),
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_source_errors_are_one_line_through_the_cli(tmp_path, capsys, name):
    d, files = _ct(tmp_path)
    lab, meta = _label_case(tmp_path, d)
    make, expected = CLI_CASES[name]
    make(d, files)
    out = tmp_path / "out.seg.dcm"
    rc, _, err = run_cli(capsys, "itk2seg", lab, "-d", d, "-m", meta, "-o", out)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(e in lines[0] for e in expected), lines[0]
    assert not out.exists()


def test_folders_nested_deeper_than_the_recursion_limit(tmp_path):
    """The folder walk is iterative: a slice 300 folders down is found with the recursion limit 100
    frames above the current stack (os.walk recurses once per level).  Shallow enough for pytest's
    own clean-up (shutil.rmtree recurses too)."""
    import sys

    d, files = _ct(tmp_path)
    deep = d
    for _ in range(300):
        deep = deep / "d"
        os.mkdir(deep)
    shutil.move(str(files[2]), deep / "slice.dcm")
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 100)
    try:
        series = load_series([d])
    finally:
        sys.setrecursionlimit(limit)
    assert len(series) == len(files) and str(deep / "slice.dcm") in series.files


def test_slices_with_different_frames_of_reference_are_warned(tmp_path):
    d, files = _ct(tmp_path)
    _rewrite(files[2], FrameOfReferenceUID=generate_uid())
    series = load_series([d])
    assert any("different FrameOfReferenceUIDs" in n and files[2].name in n for n in series.notes)
    assert series.dataset.FrameOfReferenceUID == pydicom.dcmread(files[0]).FrameOfReferenceUID
