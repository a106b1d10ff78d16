"""The bulk per-frame writer produces exactly what pydicom would write for the same items."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom
import pytest

from labelmap.dicom.write import write_seg_file
from labelmap.model import Code, LabelVolume, SegmentDescription, SeriesAttributes
from labelmap.pipeline.convert import encode_seg, load_source
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.encode import save_dataset

from _geometries import make_ct_series, oblique_geometry

CAT = Code("123037004", "SCT", "Anatomical Structure")


def _segments(values):
    return tuple(
        SegmentDescription(
            label_id=v,
            category=CAT,
            type=Code("10200004", "SCT", f"Organ {v}"),
            algorithm_type="AUTOMATIC",
            algorithm_name="test",
            rgb=(v * 20 % 255, 10, 200),
        )
        for v in values
    )


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastwrite")
    g = oblique_geometry(shape=(5, 22, 21))
    ct = make_ct_series(tmp, g)
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, size=g.shape).astype(np.uint8)
    labels[0] = 0
    return tmp, LabelVolume(labels, g, _segments([1, 2, 3])), load_source([ct])


def _elements(ds):
    """A comparable rendering of a dataset's per-frame items and top-level keywords."""
    return [str(item) for item in ds.PerFrameFunctionalGroupsSequence], sorted(e.keyword for e in ds)


@pytest.mark.parametrize("seg_type", ["labelmap", "binary", "fractional"])
@pytest.mark.parametrize("compression", ["none", "deflate", "implicit"])
def test_bulk_writer_matches_pydicom(case, tmp_path, seg_type, compression):
    _, volume, source = case
    if seg_type == "fractional":
        volume = LabelVolume((volume.array * 60).astype(np.uint8), volume.geometry, volume.segments[:1])
    lazy, _ = encode_seg(
        volume, source, options=WriteOptions(seg_type=seg_type, compression=compression), materialize=False
    )
    assert "PerFrameFunctionalGroupsSequence" not in lazy
    assert "pydicom" not in type(lazy).__module__
    full = lazy.to_pydicom()  # per-frame items and native pixels included

    fast_path = tmp_path / "fast.dcm"
    save_dataset(lazy, fast_path)
    ref_path = tmp_path / "ref.dcm"
    full.save_as(ref_path, enforce_file_format=True)

    fast = pydicom.dcmread(fast_path)
    ref = pydicom.dcmread(ref_path)
    assert fast.file_meta.TransferSyntaxUID == ref.file_meta.TransferSyntaxUID
    assert _elements(fast) == _elements(ref)
    assert fast.PixelData == ref.PixelData
    for keyword in ("SOPInstanceUID", "NumberOfFrames", "SegmentSequence", "SharedFunctionalGroupsSequence"):
        assert str(fast[keyword].value) == str(ref[keyword].value)
    if compression != "deflate":
        # same bytes apart from nothing: pydicom and the bulk writer agree on every element
        assert fast_path.read_bytes() == ref_path.read_bytes()


def test_spec_without_sources_and_single_frame(case, tmp_path):
    tmp, volume, source = case
    one = np.zeros(volume.geometry.shape, dtype=np.uint8)
    one[2, 3, 4] = 1
    ds, _ = encode_seg(
        LabelVolume(one, volume.geometry, volume.segments[:1]),
        source,
        options=WriteOptions(seg_type="binary"),
        materialize=False,
    )
    ds.frames.sources = [None] * len(ds.frames.sources)
    path = tmp_path / "x.dcm"
    write_seg_file(ds, path)
    back = pydicom.dcmread(path)
    assert int(back.NumberOfFrames) == 1
    item = back.PerFrameFunctionalGroupsSequence[0]
    assert "DerivationImageSequence" not in item
    assert int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber) == 1


def test_deflate_level_trades_size_for_time(case, tmp_path):
    """A higher --deflate-level gives a file no larger, and the same labels."""
    from labelmap.pipeline.convert import read_seg, write_seg
    from labelmap.pipeline.options import WriteOptions

    _, volume, source = case
    big = LabelVolume(np.repeat(volume.array, 1, axis=0), volume.geometry, volume.segments)
    sizes = {}
    for level in (1, 8):
        out = tmp_path / f"l{level}.dcm"
        report = write_seg(big, source, out, options=WriteOptions(compression="deflate", deflate_level=level))
        sizes[level] = report.size_bytes
        back = read_seg(out, reference=source)
        np.testing.assert_array_equal(back.volume.array, volume.array)
    assert sizes[8] <= sizes[1]


def test_deflate_level_out_of_range(case, tmp_path):
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import write_seg
    from labelmap.pipeline.options import WriteOptions

    _, volume, source = case
    with pytest.raises(InputError, match="deflate level"):
        write_seg(volume, source, tmp_path / "x.dcm", options=WriteOptions(compression="deflate", deflate_level=12))
    assert not list(tmp_path.iterdir())


def test_bulk_writer_matches_pydicom_for_palette_and_16_bit(case, tmp_path):
    """The top-level encoder (palette LUTs as OW, ICC profile as OB, 16-bit Pixel Padding) writes
    pydicom's bytes."""
    _, volume, source = case
    arr = volume.array.astype(np.uint16)
    arr[arr == 3] = 300
    segs = volume.segments[:2] + (replace(volume.segments[2], label_id=300),)
    lazy, _ = encode_seg(
        LabelVolume(arr, volume.geometry, segs),
        source,
        options=WriteOptions(seg_type="labelmap", compression="none", palette=True),
        materialize=False,
    )
    full = lazy.to_pydicom()
    save_dataset(lazy, tmp_path / "fast.dcm")
    full.save_as(tmp_path / "ref.dcm", enforce_file_format=True)
    assert (tmp_path / "fast.dcm").read_bytes() == (tmp_path / "ref.dcm").read_bytes()
    assert "RedPaletteColorLookupTableData" in full and full.BitsAllocated == 16


def test_labels_beyond_ascii_declare_utf8(case, tmp_path):
    """A segment label outside ASCII on a source without a character set: the SEG declares
    ISO_IR 192 and the label reads back exactly."""
    from labelmap.dicom.read import LiteDataset

    _, volume, source = case
    source = replace(source, dataset=LiteDataset({e.tag: e for e in source.dataset if e.tag != 0x00080005}))
    segs = (replace(volume.segments[0], label="Läsion ü"),) + volume.segments[1:]
    ds, _ = encode_seg(LabelVolume(volume.array, volume.geometry, segs), source, materialize=False)
    save_dataset(ds, tmp_path / "u.dcm")
    back = pydicom.dcmread(tmp_path / "u.dcm")
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert [str(s.SegmentLabel) for s in back.SegmentSequence if s.SegmentNumber == 1] == ["Läsion ü"]


def test_label_outside_the_source_character_set_makes_the_seg_utf8(case, tmp_path):
    """A label ISO_IR 100 cannot hold: the SEG is written in UTF-8 (ISO_IR 192), the copied Latin-1
    patient name re-encoded from its decoded text; nothing becomes a question mark.  (This used to be
    refused; issue #11 asks for a declared set that holds the label.)"""
    from labelmap.dicom.read import LiteElement

    _, volume, source = case
    assert source.dataset.SpecificCharacterSet == "ISO_IR 100"
    name = LiteElement(0x00100010, "PN", "Müller^Jürgen".encode("latin-1"), "latin-1")
    elements = {e.tag: e for e in source.dataset}
    elements[0x00100010] = name
    source = replace(source, dataset=type(source.dataset)(elements))
    segs = (replace(volume.segments[0], label="肝臓 Сердце"),) + volume.segments[1:]
    ds, _ = encode_seg(LabelVolume(volume.array, volume.geometry, segs), source, materialize=False)
    save_dataset(ds, tmp_path / "u.dcm")
    back = pydicom.dcmread(tmp_path / "u.dcm")
    assert back.get_item("PatientName").value.rstrip(b" ") == "Müller^Jürgen".encode()  # the bytes: UTF-8
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert str(back.PatientName) == "Müller^Jürgen"
    assert [str(s.SegmentLabel) for s in back.SegmentSequence if s.SegmentNumber == 1] == ["肝臓 Сердце"]


def test_latin1_label_keeps_the_source_character_set(case, tmp_path):
    """A label ISO_IR 100 holds: the source's set and the copied bytes are kept."""
    _, volume, source = case
    segs = (replace(volume.segments[0], label="Läsion ü"),) + volume.segments[1:]
    ds, _ = encode_seg(LabelVolume(volume.array, volume.geometry, segs), source, materialize=False)
    save_dataset(ds, tmp_path / "l.dcm")
    back = pydicom.dcmread(tmp_path / "l.dcm")
    assert back.SpecificCharacterSet == "ISO_IR 100"
    assert [str(s.SegmentLabel) for s in back.SegmentSequence if s.SegmentNumber == 1] == ["Läsion ü"]


def test_write_path_does_not_import_pydicom(case, tmp_path):
    """The LABELMAP / BINARY writers (native and deflate) and BINARY -> LABELMAP never import
    pydicom (0.12 s of start-up)."""
    import subprocess
    import sys

    tmp, volume, _ = case
    code = (
        "import sys, numpy as np\n"
        "from labelmap.pipeline.convert import load_source, write_seg\n"
        "from labelmap.pipeline.options import WriteOptions\n"
        "from labelmap.model import LabelVolume\n"
        "import pickle\n"
        "volume = pickle.load(open(sys.argv[1], 'rb'))\n"
        "source = load_source(sys.argv[2])\n"
        "for t in ('labelmap', 'binary'):\n"
        "    for c in ('none', 'deflate'):\n"
        "        options = WriteOptions(seg_type=t, compression=c)\n"
        "        write_seg(volume, source, sys.argv[3] + t + c + '.dcm', options=options)\n"
        "from labelmap.pipeline.bin2label import binary_to_labelmap\n"
        "b2l = WriteOptions(compression='deflate')\n"
        "binary_to_labelmap(sys.argv[3] + 'binarydeflate.dcm', sys.argv[3] + 'b2l.dcm', options=b2l)\n"
        "print('pydicom' in sys.modules)\n"
    )
    import pickle

    (tmp_path / "v.pkl").write_bytes(pickle.dumps(volume))
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "v.pkl"), str(tmp / "ct"), str(tmp_path) + "/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
    assert len(list(tmp_path.glob("*.dcm"))) == 5


def test_encapsulated_pixels_with_extended_offset_table_match_pydicom(case, tmp_path):
    """Encapsulated Pixel Data (undefined length) and the OV Extended Offset Table are
    encoded by our writer as pydicom encodes them."""
    from labelmap.dicom.pixels.codecs import encode_frames
    from labelmap.dicom.pixels.encaps import encapsulate_frames

    _, volume, source = case
    lazy, _ = encode_seg(volume, source, options=WriteOptions(compression="rle"), materialize=False)
    frames = volume.array[np.asarray(lazy.frames.frame_slices)]
    pixel_data, eot, lengths = encapsulate_frames(
        encode_frames(frames, "rle", bits_allocated=8), extended_offset_table=True
    )
    lazy.PixelData = pixel_data
    lazy["PixelData"].VR = "OB"
    lazy["PixelData"].is_undefined_length = True
    lazy.ExtendedOffsetTable = eot
    lazy.ExtendedOffsetTableLengths = lengths
    save_dataset(lazy, tmp_path / "fast.dcm")
    lazy.to_pydicom().save_as(tmp_path / "ref.dcm", enforce_file_format=True)
    assert (tmp_path / "fast.dcm").read_bytes() == (tmp_path / "ref.dcm").read_bytes()
    back = pydicom.dcmread(tmp_path / "fast.dcm")
    np.testing.assert_array_equal(back.pixel_array, frames)


def test_materialized_dataset_is_checked_and_in_a_set_that_holds_its_text(case):
    """encode_seg(materialize=True) gives API users a pydicom Dataset: its values are checked and its
    character set settled as the bulk writer does (pydicom would write '?' for text its set lacks)."""
    from labelmap.errors import InputError

    _, volume, source = case
    segs = (replace(volume.segments[0], label="肝臓"),) + volume.segments[1:]
    ds, _ = encode_seg(LabelVolume(volume.array, volume.geometry, segs), source, materialize=True)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert "肝臓" in [str(s.SegmentLabel) for s in ds.SegmentSequence]
    series = SeriesAttributes(series_description="x" * 65)
    with pytest.raises(InputError, match="SeriesDescription .*65 characters, the DICOM limit"):
        encode_seg(volume, source, series=series, materialize=True)
