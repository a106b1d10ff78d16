"""labelmap.dicom.bulk: the bulk per-frame reader agrees with pydicom and fails cleanly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import write_image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from labelmap.demo.sample import sample_metadata, write_ct_series
from labelmap.dicom.bulk import PixelDataInfo
from labelmap.errors import SegFormatError
from labelmap.seg.perframe import PerFrameTable, header_dataset, read_seg_header

from _geometries import axial_geometry, oblique_geometry

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def read_seg_fast(path):
    """:func:`read_seg_header` with the top level as a pydicom ``FileDataset``."""
    header, table, pixel = read_seg_header(path)
    return header_dataset(header), table, pixel


# --------------------------------------------------------------------------- synthetic files
def _code(value: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = "DCM"
    c.CodeMeaning = meaning
    return c


def _item(**kw) -> Dataset:
    d = Dataset()
    for k, v in kw.items():
        setattr(d, k, v)
    return d


def make_seg_like(
    n: int,
    *,
    rows: int = 4,
    columns: int = 5,
    per_frame_extras: bool = False,
    gaps: bool = False,
    pixels: str = "native",
    seed: int = 0,
) -> Dataset:
    """A SEG-like data set with ``n`` per-frame items shaped like dcmqi / highdicom output.

    ``per_frame_extras``: PixelMeasures and PlaneOrientation per frame (plus a Referenced Image
    sequence holding a decoy ReferencedSOPInstanceUID).  ``gaps``: some frames lack some fields.
    """
    rng = np.random.default_rng(seed)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SEG_CLASS
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["fr", str(seed), "sop"])
    ds.PatientName = "Fast^Reader"
    ds.Modality = "SEG"
    ds.Rows = rows
    ds.Columns = columns
    ds.NumberOfFrames = n
    ds.BitsAllocated = 1 if pixels == "native" else 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsAllocated - 1
    ds.SamplesPerPixel = 1
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.SegmentationType = "BINARY"
    shared = _item(
        PixelMeasuresSequence=Sequence([_item(PixelSpacing=[0.5, 0.75], SliceThickness=2.5)]),
        PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]),
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    segs = []
    for s in (1, 2, 3):
        seg = _item(SegmentNumber=s, SegmentLabel=f"seg {s}", SegmentAlgorithmType="MANUAL")
        seg.SegmentedPropertyCategoryCodeSequence = Sequence([_code("T-D0050", "Tissue")])
        seg.SegmentedPropertyTypeCodeSequence = Sequence([_code("T-D0050", "Tissue")])
        segs.append(seg)
    ds.SegmentSequence = Sequence(segs)
    items = []
    for k in range(n):
        fg = Dataset()
        # DerivationImage > SourceImage (two sources; the first counts)
        sources = []
        for j in range(2):
            src = _item(
                ReferencedSOPClassUID=CT_CLASS,
                ReferencedSOPInstanceUID=generate_uid(entropy_srcs=["fr", str(seed), str(k), str(j)]),
            )
            src.PurposeOfReferenceCodeSequence = Sequence([_code("121322", "Source image for processing")])
            sources.append(src)
        deriv = _item(SourceImageSequence=Sequence(sources))
        deriv.DerivationCodeSequence = Sequence([_code("113076", "Segmentation")])
        if not (gaps and k % 5 == 1):
            fg.DerivationImageSequence = Sequence([deriv])
        if not (gaps and k % 7 == 3):
            fg.FrameContentSequence = Sequence([_item(DimensionIndexValues=[k % 3 + 1, k + 1])])
        if not (gaps and k % 4 == 2):
            pos = rng.uniform(-500, 500, 3).round(rng.integers(0, 7))
            fg.PlanePositionSequence = Sequence([_item(ImagePositionPatient=[float(v) for v in pos])])
        if not (gaps and k % 6 == 5):
            fg.SegmentIdentificationSequence = Sequence([_item(ReferencedSegmentNumber=k % 3 + 1)])
        if per_frame_extras:
            fg.PixelMeasuresSequence = Sequence(
                [_item(PixelSpacing=[0.5 + k / 1000, 0.75], SliceThickness=2.5, SpacingBetweenSlices=3 + k)]
            )
            fg.PlaneOrientationSequence = Sequence(
                [_item(ImageOrientationPatient=[1, 0, 0, 0, float(np.cos(k / 10)), float(np.sin(k / 10))])]
            )
            fg.ReferencedImageSequence = Sequence(
                [_item(ReferencedSOPClassUID="1.2.3", ReferencedSOPInstanceUID=f"9.9.{k}")]
            )
        items.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    if pixels == "native":
        ds.PixelData = rng.integers(0, 256, (n * rows * columns + 7) // 8, dtype=np.uint8).tobytes()
        if len(ds.PixelData) % 2:
            ds.PixelData += b"\x00"
    elif pixels == "encapsulated":
        frames = [bytes([k % 251]) * (3 + k % 4) for k in range(n)]
        ds.PixelData = encapsulate(frames, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    ds.ContentLabel = "TRAILER"  # (0070,0080) before pixel data
    ds.DataSetTrailingPadding = b"\x00" * 4  # (FFFC,FFFC) after pixel data
    return ds


def set_undefined_lengths(ds: Dataset) -> None:
    """Make every sequence and item of ``ds`` undefined-length (like dcmqi writes)."""
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                set_undefined_lengths(item)


def save(ds: Dataset, path: Path, ts: str) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ts
    ds.save_as(path, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- reference (pydicom)
def _first(ds: Dataset, *keywords: str):
    """ds.K0[0].K1[0]...Kn or None."""
    cur = ds
    for kw in keywords[:-1]:
        seq = cur.get(kw)
        if not seq:
            return None
        cur = seq[0]
    return cur.get(keywords[-1])


def reference_table(ds: Dataset) -> dict:
    items = ds.PerFrameFunctionalGroupsSequence
    n = len(items)

    def floats(kws, width):
        vals = [_first(fg, *kws) for fg in items]
        if all(v is None for v in vals):
            return None
        out = np.full((n, width), np.nan)
        for k, v in enumerate(vals):
            if v is not None and v != "":
                out[k] = [float(x) for x in (v if width > 1 else [v])]
        return out if width > 1 else out[:, 0]

    segs = [_first(fg, "SegmentIdentificationSequence", "ReferencedSegmentNumber") for fg in items]
    dims = [_first(fg, "FrameContentSequence", "DimensionIndexValues") for fg in items]
    pos = floats(["PlanePositionSequence", "ImagePositionPatient"], 3)
    return dict(
        n_frames=n,
        positions=pos if pos is not None else np.full((n, 3), np.nan),
        segment_numbers=None if all(s is None for s in segs) else np.array([s or 0 for s in segs], dtype=np.int64),
        orientations=floats(["PlaneOrientationSequence", "ImageOrientationPatient"], 6),
        pixel_spacings=floats(["PixelMeasuresSequence", "PixelSpacing"], 2),
        slice_thickness=floats(["PixelMeasuresSequence", "SliceThickness"], 1),
        spacing_between_slices=floats(["PixelMeasuresSequence", "SpacingBetweenSlices"], 1),
        source_instance_uids=[
            _first(fg, "DerivationImageSequence", "SourceImageSequence", "ReferencedSOPInstanceUID") for fg in items
        ],
        source_class_uids=[
            _first(fg, "DerivationImageSequence", "SourceImageSequence", "ReferencedSOPClassUID") for fg in items
        ],
        dimension_index_values=None
        if all(d is None for d in dims)
        else [
            () if d is None else tuple(int(x) for x in (d if isinstance(d, (list, MultiValue)) else [d])) for d in dims
        ],
    )


def assert_matches_pydicom(path: Path) -> tuple[Dataset, PerFrameTable, PixelDataInfo]:
    ds, table, pixel = read_seg_fast(path)
    ref = pydicom.dcmread(path)
    expected = reference_table(ref)
    for field, want in expected.items():
        got = getattr(table, field)
        if isinstance(want, np.ndarray):
            assert got is not None, field
            assert got.shape == want.shape, field
            np.testing.assert_array_equal(got, want, err_msg=field)
        else:
            if field.endswith("uids"):
                got = [None if u is None else str(u) for u in got]
                want = [None if u is None else str(u) for u in want]
            assert got == want, field
    # the data set: everything but the two big elements, same values
    del ref.PerFrameFunctionalGroupsSequence
    if "PixelData" in ref:
        del ref.PixelData
    assert "PerFrameFunctionalGroupsSequence" not in ds and "PixelData" not in ds
    assert ds == ref
    assert ds.file_meta == ref.file_meta
    assert ds.preamble == ref.preamble
    # pixel data location
    ref_full = pydicom.dcmread(path)
    if "PixelData" in ref_full:
        assert pixel.present
        if not pixel.encapsulated:
            assert pixel.read_native().tobytes() == ref_full.PixelData
        else:
            frames = pixel.frame_fragments(table.n_frames)
            buf = pixel.buffer if pixel.buffer is not None else path.read_bytes()
            got_frames = [b"".join(buf[o : o + n] for o, n in fr) for fr in frames]
            want = list(pydicom.encaps.generate_frames(ref_full.PixelData, number_of_frames=table.n_frames))
            assert [g.rstrip(b"\x00") for g in got_frames] == [w.rstrip(b"\x00") for w in want]
    else:
        assert not pixel.present
    return ds, table, pixel


# --------------------------------------------------------------------------- synthetic cases
ENCODINGS = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]


@pytest.mark.parametrize("ts", ENCODINGS, ids=["explicit", "implicit", "deflated"])
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("variant", ["plain", "extras", "gaps"])
def test_matches_pydicom(tmp_path, ts, undefined, variant):
    ds = make_seg_like(23, per_frame_extras=variant == "extras", gaps=variant == "gaps")
    if undefined:
        set_undefined_lengths(ds)
    path = save(ds, tmp_path / "seg.dcm", ts)
    _, table, pixel = assert_matches_pydicom(path)
    assert table.n_frames == 23
    assert pixel.transfer_syntax == ts
    assert (pixel.buffer is not None) == (ts == DeflatedExplicitVRLittleEndian)
    if variant == "plain":
        assert table.orientations is None and table.pixel_spacings is None
        assert table.slice_thickness is None and table.spacing_between_slices is None
    if variant == "extras":
        assert table.orientations.shape == (23, 6) and table.spacing_between_slices.shape == (23,)


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_encapsulated_pixel_data(tmp_path, undefined):
    ds = make_seg_like(9, pixels="encapsulated")
    if undefined:
        set_undefined_lengths(ds)
    path = save(ds, tmp_path / "rle.dcm", RLELossless)
    _, table, pixel = assert_matches_pydicom(path)
    assert pixel.encapsulated and len(pixel.fragments) == 9 and len(pixel.basic_offset_table) == 9


def test_no_pixel_data_and_mixed_structures(tmp_path):
    """Frames whose structure changes every few frames (template cache misses) still match."""
    ds = make_seg_like(40, gaps=True, pixels="none")
    for k, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
        if k % 3 == 0:
            fg.is_undefined_length_sequence_item = True
            for elem in fg:
                elem.is_undefined_length = k % 2 == 0
    path = save(ds, tmp_path / "mixed.dcm", ExplicitVRLittleEndian)
    _, _, pixel = assert_matches_pydicom(path)
    assert not pixel.present and pixel.offset == -1


def test_empty_and_odd_values(tmp_path):
    ds = make_seg_like(6, pixels="none")
    items = ds.PerFrameFunctionalGroupsSequence
    items[1].PlanePositionSequence[0].ImagePositionPatient = None  # empty value
    items[2].PlanePositionSequence[0]["ImagePositionPatient"].value = ["1e2", " -3.5", "+0.25 "]
    path = save(ds, tmp_path / "odd.dcm", ExplicitVRLittleEndian)
    _, table, _ = assert_matches_pydicom(path)
    assert np.isnan(table.positions[1]).all()
    np.testing.assert_array_equal(table.positions[2], [100.0, -3.5, 0.25])


def test_bad_position_count(tmp_path):
    ds = make_seg_like(4, pixels="none")
    ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0].ImagePositionPatient = [1.0, 2.0]
    path = save(ds, tmp_path / "bad.dcm", ExplicitVRLittleEndian)
    with pytest.raises(SegFormatError, match=r"frame 3: ImagePositionPatient has 2 values"):
        read_seg_fast(path)


def test_big_endian_refused(tmp_path):
    ds = make_seg_like(3, pixels="none")
    path = tmp_path / "be.dcm"
    save(ds, path, ExplicitVRLittleEndian)
    raw = bytearray(path.read_bytes())
    old, new = ExplicitVRLittleEndian.encode() + b"\x00", ExplicitVRBigEndian.encode() + b"\x00"
    assert len(old) == len(new) and old in raw
    raw = raw.replace(old, new, 1)
    path.write_bytes(bytes(raw))
    with pytest.raises(SegFormatError, match="Big Endian"):
        read_seg_fast(path)


def test_not_dicom(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"hello" * 50)
    with pytest.raises(SegFormatError, match="not a DICOM file"):
        read_seg_fast(tmp_path / "x.dcm")
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(SegFormatError):
        read_seg_fast(tmp_path / "empty.dcm")
    with pytest.raises(SegFormatError, match="not found"):
        read_seg_fast(tmp_path / "missing.dcm")


def test_missing_per_frame_sequence(tmp_path):
    ds = make_seg_like(2, pixels="none")
    del ds.PerFrameFunctionalGroupsSequence
    path = save(ds, tmp_path / "nopf.dcm", ExplicitVRLittleEndian)
    with pytest.raises(SegFormatError, match="no Per-frame Functional Groups"):
        read_seg_fast(path)


# --------------------------------------------------------------------------- damaged files
def _per_frame_offset(raw: bytes) -> int:
    return raw.index(b"\x00\x52\x30\x92")


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian], ids=["explicit", "implicit"])
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_truncations_raise_only_segformaterror(tmp_path, ts, undefined):
    ds = make_seg_like(6, per_frame_extras=True)
    if undefined:
        set_undefined_lengths(ds)
    path = save(ds, tmp_path / "full.dcm", ts)
    raw = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    start = _per_frame_offset(raw)
    offsets = sorted(set(range(0, len(raw), 7)) | set(range(start - 4, min(len(raw), start + 900))))
    failures = 0
    for n in offsets:
        cut.write_bytes(raw[:n])
        try:
            read_seg_fast(cut)
        except SegFormatError as exc:
            failures += 1
            assert str(cut) in str(exc)
    assert failures > len(offsets) // 2


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_corruptions_raise_only_segformaterror(tmp_path, undefined):
    """Overwrite bytes inside the per-frame sequence with garbage: SegFormatError or success, quickly."""
    ds = make_seg_like(5)
    if undefined:
        set_undefined_lengths(ds)
    path = save(ds, tmp_path / "full.dcm", ExplicitVRLittleEndian)
    raw = path.read_bytes()
    start = _per_frame_offset(raw)
    rng = np.random.default_rng(1)
    bad = tmp_path / "bad.dcm"
    t0 = time.perf_counter()
    for offset in range(start, start + 1200, 3):
        for garbage in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", bytes(rng.integers(0, 256, 4, dtype=np.uint8))):
            data = bytearray(raw)
            data[offset : offset + 4] = garbage
            bad.write_bytes(bytes(data))
            try:
                read_seg_fast(bad)
            except SegFormatError:
                pass
    assert time.perf_counter() - t0 < 15


def test_error_messages_name_offset_and_expectation(tmp_path):
    ds = make_seg_like(3, pixels="none")
    set_undefined_lengths(ds)
    path = save(ds, tmp_path / "seg.dcm", ExplicitVRLittleEndian)
    raw = path.read_bytes()
    start = _per_frame_offset(raw)
    item = start + 12  # first per-frame item header
    assert raw[item : item + 4] == b"\xfe\xff\x00\xe0"
    bad = bytearray(raw)
    bad[item : item + 4] = b"\x08\x00\x16\x00"
    path.write_bytes(bytes(bad))
    with pytest.raises(
        SegFormatError,
        match=rf"seg\.dcm: expected an item tag \(FFFE,E000\), found \(0008,0016\) at byte offset {item}",
    ):
        read_seg_fast(path)
    path.write_bytes(raw[: start + 200])
    with pytest.raises(SegFormatError, match=r"truncated .*at byte offset \d+"):
        read_seg_fast(path)
    # a defined length running past the end of the file
    ds = make_seg_like(3, pixels="none")
    save(ds, path, ExplicitVRLittleEndian)
    raw = bytearray(path.read_bytes())
    start = _per_frame_offset(raw)
    raw[start + 8 : start + 12] = (len(raw)).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(SegFormatError, match=r"past the end of the file .* at byte offset"):
        read_seg_fast(path)


def test_deep_nesting_is_refused(tmp_path):
    ds = make_seg_like(2, pixels="none")
    inner = _item(PatientID="x")
    for _ in range(60):
        inner = _item(ReferencedImageSequence=Sequence([inner]))
    ds.PerFrameFunctionalGroupsSequence[0].ReferencedImageSequence = inner.ReferencedImageSequence
    set_undefined_lengths(ds)
    path = save(ds, tmp_path / "deep.dcm", ExplicitVRLittleEndian)
    with pytest.raises(SegFormatError, match="nested deeper"):
        read_seg_fast(path)


def test_truncated_deflate(tmp_path):
    ds = make_seg_like(5)
    path = save(ds, tmp_path / "d.dcm", DeflatedExplicitVRLittleEndian)
    raw = path.read_bytes()
    path.write_bytes(raw[:-30])
    with pytest.raises(SegFormatError, match="truncated"):
        read_seg_fast(path)


# --------------------------------------------------------------------------- dcmqi files
def _dcmqi_case(tmp_path: Path, geometry, seg_type: str | None) -> Path:
    exe = shutil.which("itkimage2segimage", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("dcmqi not installed")
    ct = tmp_path / "ct"
    write_ct_series(ct, geometry)
    labels = np.zeros(geometry.shape, dtype=np.uint16)
    labels[1:4, 3:12, 4:10] = 1
    labels[2:5, 10:18, 8:15] = 2
    labels[0, 0:3, 0:3] = 3
    write_image(tmp_path / "lab.nrrd", labels, geometry)
    (tmp_path / "m.json").write_text(json.dumps(sample_metadata([1, 2, 3])))
    out = tmp_path / f"seg_{seg_type or 'binary'}.dcm"
    args = [
        exe,
        "--inputImageList",
        str(tmp_path / "lab.nrrd"),
        "--inputDICOMDirectory",
        str(ct),
        "--inputMetadata",
        str(tmp_path / "m.json"),
        "--outputDICOM",
        str(out),
    ]
    if seg_type:
        args += ["--segmentationType", seg_type]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


@pytest.mark.interop
@pytest.mark.parametrize("seg_type", [None, "labelmap"], ids=["binary", "labelmap"])
@pytest.mark.parametrize("geometry", [axial_geometry, oblique_geometry], ids=["axial", "oblique"])
def test_dcmqi_files(tmp_path, seg_type, geometry):
    path = _dcmqi_case(tmp_path, geometry(), seg_type)
    assert b"\xff\xff\xff\xff" in path.read_bytes()  # dcmqi writes undefined lengths
    _, table, pixel = assert_matches_pydicom(path)
    assert np.isfinite(table.positions).all()
    assert all(u is not None for u in table.source_instance_uids)
    assert pixel.present and not pixel.encapsulated
    if seg_type is None:
        assert set(table.segment_numbers.tolist()) == {1, 2, 3}


# --------------------------------------------------------------------------- scale
def _big_dcmqi_like(tmp_path: Path, n: int) -> Path:
    """A dcmqi-shaped BINARY file with ``n`` frames (undefined lengths), 512x512 frames."""
    ds = make_seg_like(1, rows=512, columns=512)
    template = ds.PerFrameFunctionalGroupsSequence[0]
    items = []
    for k in range(n):
        fg = Dataset()
        src = _item(
            ReferencedSOPClassUID=CT_CLASS, ReferencedSOPInstanceUID=f"1.2.826.0.1.3680043.8.498.{10**12 + k % 500}"
        )
        src.PurposeOfReferenceCodeSequence = Sequence([_code("121322", "Source image for processing")])
        deriv = _item(SourceImageSequence=Sequence([src]))
        deriv.DerivationCodeSequence = Sequence([_code("113076", "Segmentation")])
        fg.DerivationImageSequence = Sequence([deriv])
        fg.FrameContentSequence = Sequence([_item(DimensionIndexValues=[k // 500 + 1, k % 500 + 1])])
        fg.PlanePositionSequence = Sequence(
            [_item(ImagePositionPatient=[-249.51171875, -399.51171875, f"{-1000 + (k % 500) * 1.5:g}"])]
        )
        fg.SegmentIdentificationSequence = Sequence([_item(ReferencedSegmentNumber=k // 500 + 1)])
        items.append(fg)
    del template
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    ds.NumberOfFrames = n
    ds.PixelData = b"\x00" * (512 * 512 // 8) * 4  # pixel data size is irrelevant to header parsing
    set_undefined_lengths(ds)
    return save(ds, tmp_path / "big.dcm", ExplicitVRLittleEndian)


@pytest.mark.slow
def test_17000_frames_timing(tmp_path):
    path = _big_dcmqi_like(tmp_path, 17000)
    read_seg_fast(path)  # warm the page cache
    t0 = time.perf_counter()
    ds, table, pixel = read_seg_fast(path)
    fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = pydicom.dcmread(path, stop_before_pixels=True)
    ref_pos = np.array(
        [fg.PlanePositionSequence[0].ImagePositionPatient for fg in ref.PerFrameFunctionalGroupsSequence], dtype=float
    )
    slow = time.perf_counter() - t0
    print(f"\n17000 frames: read_seg_fast {fast:.3f} s, pydicom {slow:.3f} s")
    np.testing.assert_array_equal(table.positions, ref_pos)
    assert table.n_frames == 17000
    assert fast < 1.0


def test_multi_fragment_frames(tmp_path):
    ds = make_seg_like(5, pixels="encapsulated")
    frames = [bytes([k + 1]) * (6 + 2 * k) for k in range(5)]
    ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=True)
    ds["PixelData"].is_undefined_length = True
    path = save(ds, tmp_path / "mf.dcm", RLELossless)
    _, table, pixel = read_seg_fast(path)
    assert len(pixel.fragments) == 10 and len(pixel.basic_offset_table) == 5
    raw = path.read_bytes()
    got = [b"".join(raw[o : o + n] for o, n in fr) for fr in pixel.frame_fragments(5)]
    assert [g.rstrip(b"\x00") for g in got] == frames


def _un_sequence(tag: bytes) -> bytes:
    """An explicit-VR UN element of undefined length holding one Implicit VR item."""
    inner = b"\x08\x00\x00\x01" + (4).to_bytes(4, "little") + b"ABCD"
    return (
        tag
        + b"UN\x00\x00\xff\xff\xff\xff"
        + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
        + inner
        + b"\xfe\xff\x0d\xe0"
        + bytes(4)
        + b"\xfe\xff\xdd\xe0"
        + bytes(4)
    )


def test_un_undefined_length_sequences(tmp_path):
    """Explicit UN with undefined length (Implicit VR content) at top level and inside a per-frame item."""
    ds = make_seg_like(4)
    set_undefined_lengths(ds)
    path = save(ds, tmp_path / "un.dcm", ExplicitVRLittleEndian)
    raw = path.read_bytes()
    # top level: private creator + UN sequence before PatientName (0010,0010)
    at = raw.index(b"\x10\x00\x10\x00PN")
    private = b"\x09\x00\x10\x00LO\x04\x00TEST" + _un_sequence(b"\x09\x00\x01\x10")
    raw = raw[:at] + private + raw[at:]
    # inside the first per-frame item, before its first element
    item = _per_frame_offset(raw) + 12
    assert raw[item : item + 8] == b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    raw = raw[: item + 8] + b"\x07\x00\x10\x00LO\x04\x00TEST" + _un_sequence(b"\x07\x00\x01\x10") + raw[item + 8 :]
    path.write_bytes(raw)
    ds2, table, _ = assert_matches_pydicom(path)
    assert (0x0009, 0x1001) in ds2
