"""labelmap.dicom.read: the pydicom-free top-level reader must give pydicom's values, and the
LABELMAP read path must not import pydicom at all."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import PersonName

from labelmap.demo.sample import write_ct_series
from labelmap.dicom.dictionary import KEYWORDS
from labelmap.dicom.read import LiteDataset
from labelmap.geometry import match_slices
from labelmap.model import Code, LabelVolume, SegmentDescription, SeriesAttributes
from labelmap.pipeline.convert import load_source, read_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.encode import encode_labelmap, save_dataset
from labelmap.seg.perframe import read_seg_header
from labelmap.seg.read import open_seg

from _geometries import axial_geometry, las_geometry, oblique_geometry
from _interop import dcmqi_write, make_case, write_highdicom_seg

CATEGORY = Code("123037004", "SCT", "Anatomical Structure")
TISSUE = Code("85756007", "SCT", "Tissue")


def _segments(numbers, **kw):
    return tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=TISSUE, label=f"s{n}", **kw) for n in numbers
    )


def _plain(value):
    """pydicom value -> plain Python (lists for multi-values, str for names, lists of dicts for sequences)."""
    if isinstance(value, DicomSequence):
        return [_as_dict(item) for item in value]
    if isinstance(value, LiteDataset):
        return _as_dict(value)
    if isinstance(value, list) and value and isinstance(value[0], LiteDataset):
        return [_as_dict(item) for item in value]
    if isinstance(value, (MultiValue, list)):
        return [_plain(v) for v in value]
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    return value


def _as_dict(ds) -> dict:
    """{keyword: plain value} for the attributes the lite dictionary knows."""
    out = {}
    for elem in ds:
        tag = elem.tag if isinstance(elem.tag, int) else int(elem.tag)
        keyword = next((k for k, (t, _) in KEYWORDS.items() if t == tag), None)
        if keyword is None:
            continue
        out[keyword] = _plain(elem.value)
    return out


def _assert_same(path: Path) -> None:
    header, _, _ = read_seg_header(path)
    assert header.ds is not None, "the lite reader fell back to pydicom"
    full = pydicom.dcmread(path, stop_before_pixels=True)
    del full.PerFrameFunctionalGroupsSequence
    assert _as_dict(header.ds) == _as_dict(full)
    assert _as_dict(header.meta) == _as_dict(full.file_meta)
    # the pydicom conversion is the same data set
    converted = header.to_pydicom()
    assert _as_dict(converted) == _as_dict(full)
    assert str(converted.file_meta.TransferSyntaxUID) == header.transfer_syntax


@pytest.fixture(scope="module")
def our_files(tmp_path_factory):
    """Our LABELMAP writes: oblique 16-bit native, LAS palette deflated, axial RLE; patient name with '^'."""
    base = tmp_path_factory.mktemp("lite")
    out = []
    for k, (geometry, palette, compression, numbers) in enumerate(
        [
            (oblique_geometry(shape=(4, 12, 10)), False, "none", (1, 2, 300)),
            (las_geometry(), True, "deflate", (1, 5, 7)),
            (axial_geometry(shape=(3, 22, 21)), False, "rle", (2, 3)),
        ]
    ):
        ct = base / f"ct{k}"
        write_ct_series(ct, geometry, patient_name="Doe^Jane^^Dr")
        source = load_source(ct)
        arr = np.zeros(geometry.shape, np.uint16 if max(numbers) > 255 else np.uint8)
        for i, n in enumerate(numbers):
            arr[i % geometry.shape[0], i : i + 3, 1:4] = n
        ds = encode_labelmap(
            LabelVolume(arr, geometry, _segments(numbers, description=" liver  part ", tracking_id=f"id {k}")),
            source,
            match_slices(geometry, source),
            options=WriteOptions(palette=palette, compression=compression),
            series=SeriesAttributes(series_description="lite test ", series_number="7", instance_number="3"),
        )
        path = base / f"seg{k}.dcm"
        save_dataset(ds, path)
        out.append((path, arr, geometry))
    return out


def test_lite_equals_pydicom_on_our_files(our_files):
    for path, _, _ in our_files:
        _assert_same(path)


def test_lite_equals_pydicom_on_dcmqi_file(tmp_path):
    g = axial_geometry(shape=(4, 21, 22))
    arr = np.zeros(g.shape, np.uint8)
    arr[1, 3:9, 4:12] = 1
    arr[2, 10:15, 2:6] = 3
    ct, image, meta, _ = make_case(tmp_path, g, arr)
    out = tmp_path / "dcmqi.dcm"
    dcmqi_write(image, ct, meta, out, compress="deflate")
    _assert_same(out)


def test_lite_equals_pydicom_on_highdicom_file(tmp_path):
    g = oblique_geometry(shape=(3, 23, 38))
    arr = np.zeros(g.shape, np.uint8)
    arr[0, 2:9, 3:20] = 1
    arr[2, 10:20, 1:5] = 2
    _, path = write_highdicom_seg(tmp_path, g, arr, seg_type="LABELMAP", numbers=[1, 2], colours=True)
    _assert_same(path)


def test_unknown_keyword_is_a_programming_error(our_files):
    header, _, _ = read_seg_header(our_files[0][0])
    with pytest.raises(LookupError, match="not in labelmap.dicom.dictionary.KEYWORDS"):
        header.ds.get("PatientComments")
    assert "NotAnAttribute" not in dir(header.ds)
    with pytest.raises(AttributeError):
        _ = header.ds.SliceLocation  # known keyword, absent from a SEG
    assert header.ds.get("SliceLocation", "x") == "x"


def test_unusual_character_set_falls_back_to_pydicom(our_files, tmp_path):
    path, arr, _ = our_files[0]
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 144"  # Cyrillic: the lite reader leaves it to pydicom
    ds.SeriesDescription = "Сегментация"
    ds.save_as(tmp_path / "cyrillic.dcm", enforce_file_format=True)
    header, _, _ = read_seg_header(tmp_path / "cyrillic.dcm")
    assert header.ds is None
    opened = open_seg(tmp_path / "cyrillic.dcm")
    assert opened.header.SeriesDescription == "Сегментация"
    decoded = read_seg(tmp_path / "cyrillic.dcm")
    np.testing.assert_array_equal(decoded.volume.array, arr[[k for k in range(len(arr)) if arr[k].any()]])
    assert decoded.series.series_description == "Сегментация"


def test_utf8_labels_read_without_pydicom(our_files, tmp_path):
    path, _, _ = our_files[1]
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SegmentSequence[1].SegmentLabel = "Leber ü"
    ds.save_as(tmp_path / "utf8.dcm", enforce_file_format=True)
    header, _, _ = read_seg_header(tmp_path / "utf8.dcm")
    assert header.ds is not None
    assert header.ds.SegmentSequence[1].SegmentLabel == "Leber ü"
    _assert_same(tmp_path / "utf8.dcm")


def test_labelmap_read_does_not_import_pydicom(our_files, tmp_path):
    path, arr, _ = our_files[1]  # deflated, palette
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import sys\n"
        "from labelmap.cli import main\n"
        f"rc = main(['seg2itk', {str(path)!r}, '-o', {str(out)!r}, '-q'])\n"
        "print(rc, 'pydicom' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["0", "False"], run.stdout + run.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [1, 5, 7]


def test_pixel_damage_reads_the_pixel_data_length():
    from labelmap.dicom.read import pixel_damage

    explicit = b"\xe0\x7f\x10\x00OW\0\0" + struct.pack("<I", 100)  # value from byte 12
    implicit = b"\xe0\x7f\x10\x00" + struct.pack("<I", 100)  # value from byte 8
    assert pixel_damage(b"", 40, 40, False) == "it ends before its Pixel Data"
    assert pixel_damage(explicit[:10], 40, 50, False) == "it ends inside its Pixel Data element"
    assert pixel_damage(explicit, 40, 102, False) == "its Pixel Data holds 50 of 100 bytes"
    assert pixel_damage(explicit, 40, 152, False) is None
    assert pixel_damage(implicit, 40, 98, True) == "its Pixel Data holds 50 of 100 bytes"
    assert pixel_damage(struct.pack(">HHI", 0x7FE0, 0x0010, 100), 0, 58, True, little=False) is not None
    assert pixel_damage(explicit[:8] + b"\xff" * 4, 40, 52, False) is None  # encapsulated: not checked
    assert pixel_damage(b"\xfc\xff\xfc\xff" + implicit[4:], 40, 50, True) is None  # not Pixel Data
