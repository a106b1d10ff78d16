"""Damaged SEG files through ``labelmap-convert seg2itk`` (and the Python API).

The contract (issue #5): a bad SEG exits 1 with exactly one ``error: ...`` line on stderr that
names the file and the frame / attribute / segment at fault and what is wrong; never a
traceback, a hang or a crash, and no output file left behind.  Through the API only
:class:`~labelmap.errors.LabelmapError` subclasses escape.

Every case starts from a valid file written by our writer (highdicom's where noted) and
damages it with pydicom or by editing bytes.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.sequence import Sequence as DicomSequence

from labelmap.dicom.pixels.codecs import is_available
from labelmap.errors import GeometryError, LabelmapError, SegFormatError, UnsupportedError
from labelmap.pipeline.convert import read_seg

from _geometries import axial_geometry
from _segfiles import run_cli_error, small_geometry, write_files

PER_FRAME_TAG = b"\x00\x52\x30\x92"  # (5200,9230) little endian
IPP_TAG = b"\x20\x00\x32\x00"  # (0020,0032)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    ct, paths = write_files(root)
    paths["ct"] = ct
    return paths


# --------------------------------------------------------------------------- damage helpers
def edited(src: Path, dst: Path, change: Callable[[pydicom.Dataset], None]) -> Path:
    """``src`` read by pydicom, changed by ``change(ds)``, saved as ``dst`` (same transfer syntax)."""
    ds = pydicom.dcmread(src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values written on purpose
        change(ds)
        ds.save_as(dst)
    return dst


def written(dst: Path, data: bytes) -> Path:
    dst.write_bytes(data)
    return dst


def nth(data: bytes, needle: bytes, n: int) -> int:
    pos = -1
    for _ in range(n + 1):
        pos = data.index(needle, pos + 1)
    return pos


def replace_value(data: bytes, tag: bytes, occurrence: int, value: bytes) -> bytes:
    """Explicit VR data: the ``occurrence``-th element ``tag`` (short VR) gets ``value``, padded or
    checked to its old length, so that no enclosing length changes."""
    pos = nth(data, tag, occurrence)
    (length,) = struct.unpack_from("<H", data, pos + 6)
    assert len(value) <= length, (value, length)
    value = value + b" " * (length - len(value))
    return data[: pos + 8] + value + data[pos + 8 + length :]


def pixel_frames(ds) -> list[bytes]:
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


def api_error(path: Path) -> LabelmapError:
    with pytest.raises(LabelmapError) as info:
        read_seg(path)
    return info.value


def check(capsys, tmp_path, path: Path, *needles: str, error=SegFormatError) -> str:
    """seg2itk and segimage2itkimage fail with one line naming ``path`` and every needle; the API
    raises ``error``."""
    line = run_cli_error(capsys, ["seg2itk", path, "-o", tmp_path / "out"], tmp_path / "out")
    assert str(path) in line, line
    for needle in needles:
        assert re.search(needle, line), (needle, line)
    again = run_cli_error(
        capsys, ["segimage2itkimage", "--inputDICOM", path, "--outputDirectory", tmp_path / "out2"], tmp_path / "out2"
    )
    assert again == line
    exc = api_error(path)
    assert isinstance(exc, error), (type(exc), exc)
    assert f"error: {exc}" == line
    return line


# --------------------------------------------------------------------------- not a SEG at all
def test_non_seg_dicom_ct_image(files, tmp_path, capsys):
    ct_file = sorted(files["ct"].glob("*.dcm"))[0]
    check(capsys, tmp_path, ct_file, "SOP Class UID 1.2.840.10008.5.1.4.1.1.2 is not a Segmentation")


def test_non_dicom_file(tmp_path, capsys):
    check(capsys, tmp_path, written(tmp_path / "notes.dcm", b"just some text, not DICOM\n" * 20), "not a DICOM file")


def test_empty_file(tmp_path, capsys):
    check(capsys, tmp_path, written(tmp_path / "empty.dcm", b""), "empty file")


def test_directory_as_input(files, tmp_path, capsys):
    check(capsys, tmp_path, files["ct"], "is a folder")


def test_missing_file(tmp_path, capsys):
    check(capsys, tmp_path, tmp_path / "nope.dcm", "file not found")


def test_dicom_prefix_only(files, tmp_path, capsys):
    data = files["lm8-none"].read_bytes()
    check(
        capsys,
        tmp_path,
        written(tmp_path / "prefix.dcm", data[:132]),
        "truncated",
        "File Meta Information",
        "byte offset 132",
    )


# --------------------------------------------------------------------------- truncated files
def truncation_points(data: bytes) -> dict[str, int]:
    per_frame = data.index(PER_FRAME_TAG)
    return {
        "preamble": 100,
        "file meta": 160,
        "top-level data set": per_frame - 300,
        "per-frame group header": per_frame + 6,
        "per-frame groups": per_frame + 400,
        "last per-frame item": data.index(b"\xe0\x7f\x10\x00") - 20,
        "pixel data": len(data) - 101,
    }


@pytest.mark.parametrize(
    "where",
    [
        "preamble",
        "file meta",
        "top-level data set",
        "per-frame group header",
        "per-frame groups",
        "last per-frame item",
        "pixel data",
    ],
)
@pytest.mark.parametrize("key", ["lm8-none", "lm16-implicit", "bin-none", "frac-none"])
def test_truncated_native(files, tmp_path, capsys, key, where):
    data = files[key].read_bytes()
    cut = truncation_points(data)[where]
    path = written(tmp_path / f"{key}-cut.dcm", data[:cut])
    if where == "preamble":
        needles = ["not a DICOM file"]
    elif where == "pixel data":
        needles = [r"\(7FE0,0010\) \(length \d+\) runs to offset \d+, past the end of the file", f"{cut} bytes"]
    else:
        needles = [r"truncated|past the end of the file", f"({cut} bytes|byte offset)"]
    check(capsys, tmp_path, path, *needles)


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.999])
def test_truncated_deflated(files, tmp_path, capsys, fraction):
    data = files["lm8-deflate"].read_bytes()
    cut = int(len(data) * fraction)
    if cut < 300:
        cut = 300  # past the file meta: inside the deflate stream
    check(capsys, tmp_path, written(tmp_path / "deflate-cut.dcm", data[:cut]), "deflated data set")


@pytest.mark.parametrize("key", ["lm8-rle", "lm16-jpegls", "bin-j2k"])
@pytest.mark.parametrize("back", [9, 40, 300])
def test_truncated_encapsulated(files, tmp_path, capsys, key, back):
    if not is_available(key.split("-")[1]):
        pytest.skip("codec not installed")
    data = files[key].read_bytes()
    path = written(tmp_path / f"{key}-cut.dcm", data[:-back])
    check(capsys, tmp_path, path, r"past the end of the file|truncated", "byte offset")


# --------------------------------------------------------------------------- pixel data size
@pytest.mark.parametrize(
    "key, delta",
    [
        ("lm8-none", -2),
        ("lm8-none", -200),
        ("lm16-none", -2),
        ("frac-none", -462),
        ("bin-none", -2),
        ("bin-deflate", -10),
        ("lm8-none", +40),
        ("lm16-implicit", +462),
        ("bin-none", +2),
    ],
)
def test_pixel_data_length_disagrees(files, tmp_path, capsys, key, delta):
    def change(ds):
        data = ds.PixelData
        ds.PixelData = data[:delta] if delta < 0 else data + b"\0" * delta

    path = edited(files[key], tmp_path / "short.dcm", change)
    ds = pydicom.dcmread(files[key])
    frames, rows, cols = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    bits = int(ds.BitsAllocated)
    need = (frames * rows * cols * bits + 7) // 8
    check(
        capsys,
        tmp_path,
        path,
        f"Pixel Data holds {len(ds.PixelData) + delta} bytes",
        re.escape(f"({rows} x {cols} x {frames}) of {bits}-bit pixels need"),
        f"need {need}|needs {need}",
    )


def test_binary_frames_padded_each_to_whole_bytes(tmp_path, capsys):
    """A writer that pads every 1-bit frame to a byte boundary: the error says so."""
    _, paths = write_files(tmp_path / "in", small_geometry(shape=(4, 21, 21)), which=["bin-none"])

    def change(ds):
        n, npx = int(ds.NumberOfFrames), int(ds.Rows) * int(ds.Columns)
        bits = np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little", count=n * npx)
        ds.PixelData = b"".join(np.packbits(f, bitorder="little").tobytes() for f in bits.reshape(n, npx))

    path = edited(paths["bin-none"], tmp_path / "padded.dcm", change)
    check(capsys, tmp_path, path, "each frame padded to whole bytes")


def test_bits_allocated_1_packing_is_continuous(files, tmp_path):
    """4 frames of 21 x 22 = 1848 bits = 231 bytes exactly; one byte less is an error, more padding is not."""
    ds = pydicom.dcmread(files["bin-none"])
    need = (int(ds.NumberOfFrames) * int(ds.Rows) * int(ds.Columns) + 7) // 8
    assert len(ds.PixelData) in (need, need + 1)


# --------------------------------------------------------------------------- frame counts
@pytest.mark.parametrize("key", ["lm8-none", "bin-deflate", "lm8-rle"])
@pytest.mark.parametrize("frames", [1, 3, 5, 1000])
def test_number_of_frames_disagrees(files, tmp_path, capsys, key, frames):
    if key.endswith("rle") and not is_available("rle"):
        pytest.skip("codec not installed")
    n = int(pydicom.dcmread(files[key]).NumberOfFrames)
    if frames == n:
        frames += 1

    def change(ds):
        ds.NumberOfFrames = frames

    path = edited(files[key], tmp_path / "nframes.dcm", change)
    check(capsys, tmp_path, path, f"Number of Frames is {frames}", f"has {n} items")


@pytest.mark.parametrize("value", ["", "-3", ".5", "ab"])
def test_number_of_frames_not_a_count(files, tmp_path, capsys, value):
    data = files["lm8-none"].read_bytes()
    tag = b"\x28\x00\x08\x00IS"
    path = written(tmp_path / "nframes.dcm", replace_value(data, tag, 0, value.encode()))
    if value == "":
        check(capsys, tmp_path, path, "Number of Frames is 1", "has 4 items")
    else:
        check(
            capsys,
            tmp_path,
            path,
            r"NumberOfFrames \(0028,0008\)",
            "not an integer|expected at least 1|cannot be decoded",
        )


def test_encapsulated_frames_fewer_than_number_of_frames(files, tmp_path, capsys):
    if not is_available("rle"):
        pytest.skip("codec not installed")

    def change(ds):
        ds.PixelData = encapsulate(pixel_frames(ds)[:-1], has_bot=True)

    path = edited(files["lm8-rle"], tmp_path / "fewer.dcm", change)
    check(capsys, tmp_path, path, "3 Pixel Data fragments for 4 frames")


def test_encapsulated_without_offset_table_and_split_fragments(files, tmp_path, capsys):
    """More fragments than frames and no Basic Offset Table: frames cannot be told apart."""
    if not is_available("rle"):
        pytest.skip("codec not installed")

    def change(ds):
        frames = pixel_frames(ds)
        fragments = [frames[0][:70], frames[0][70:], *frames[1:]]
        ds.PixelData = encapsulate(fragments, has_bot=False, fragments_per_frame=1)

    path = edited(files["lm8-rle"], tmp_path / "split.dcm", change)
    check(capsys, tmp_path, path, "5 Pixel Data fragments for 4 frames")


# --------------------------------------------------------------------------- per-frame groups
def test_per_frame_sequence_missing(files, tmp_path, capsys):
    def change(ds):
        del ds.PerFrameFunctionalGroupsSequence

    path = edited(files["lm8-none"], tmp_path / "noperframe.dcm", change)
    check(capsys, tmp_path, path, r"no Per-frame Functional Groups Sequence \(5200,9230\)")


@pytest.mark.parametrize("key", ["lm8-none", "bin-none", "lm16-deflate"])
def test_plane_position_missing_in_one_frame(files, tmp_path, capsys, key):
    def change(ds):
        del ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence

    path = edited(files[key], tmp_path / "nopos.dcm", change)
    check(capsys, tmp_path, path, "frame 3 has no valid ImagePositionPatient")


def test_plane_position_missing_everywhere(files, tmp_path, capsys):
    def change(ds):
        for item in ds.PerFrameFunctionalGroupsSequence:
            del item.PlanePositionSequence

    path = edited(files["lm8-none"], tmp_path / "nopos.dcm", change)
    check(capsys, tmp_path, path, "frame 1 has no valid ImagePositionPatient")


def test_orientation_missing_everywhere(files, tmp_path, capsys):
    def change(ds):
        del ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence

    path = edited(files["lm8-none"], tmp_path / "noorient.dcm", change)
    check(capsys, tmp_path, path, "no valid ImageOrientationPatient")


def test_pixel_spacing_missing(files, tmp_path, capsys):
    def change(ds):
        del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing

    path = edited(files["bin-none"], tmp_path / "nospacing.dcm", change)
    check(capsys, tmp_path, path, "no valid PixelSpacing")


@pytest.mark.parametrize("spacing", [[0, 0.7], [-0.9, 0.7]])
def test_pixel_spacing_not_positive(files, tmp_path, capsys, spacing):
    def change(ds):
        ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = spacing

    path = edited(files["lm8-none"], tmp_path / "spacing.dcm", change)
    check(capsys, tmp_path, path, "PixelSpacing", "positive")


def test_segment_identification_missing_in_one_binary_frame(files, tmp_path, capsys):
    def change(ds):
        del ds.PerFrameFunctionalGroupsSequence[1].SegmentIdentificationSequence

    path = edited(files["bin-none"], tmp_path / "noseg.dcm", change)
    check(capsys, tmp_path, path, "frame 2 has no Referenced Segment Number")


def test_segment_identification_missing_in_every_binary_frame(files, tmp_path, capsys):
    def change(ds):
        for item in ds.PerFrameFunctionalGroupsSequence:
            del item.SegmentIdentificationSequence

    path = edited(files["bin-none"], tmp_path / "noseg.dcm", change)
    check(capsys, tmp_path, path, r"no Segment Identification Sequence \(0062,000A\)")


def test_highdicom_binary_without_segment_identification(tmp_path, capsys):
    from _interop import write_highdicom_seg

    g = axial_geometry(shape=(3, 22, 21))
    mask = np.zeros((3, 22, 21, 2), bool)
    mask[0, 2:5, 2:5, 0] = True
    mask[1:, 10:15, 3:9, 1] = True
    _, seg = write_highdicom_seg(tmp_path, g, mask, seg_type="BINARY", numbers=[1, 2])
    ok = read_seg(seg)
    assert [s.number for s in ok.segments] == [1, 2]

    def change(ds):
        del ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence

    path = edited(seg, tmp_path / "hd-noseg.dcm", change)
    check(capsys, tmp_path, path, "frame 1 has no Referenced Segment Number")


def test_orientation_differs_between_frames(files, tmp_path, capsys):
    def change(ds):
        shared = ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence
        item = pydicom.Dataset()
        item.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        assert list(shared[0].ImageOrientationPatient) != [1, 0, 0, 0, 1, 0]
        ds.PerFrameFunctionalGroupsSequence[1].PlaneOrientationSequence = DicomSequence([item])

    path = edited(files["lm8-none"], tmp_path / "orient.dcm", change)
    check(capsys, tmp_path, path, "frame 2 has a different orientation than frame 1", error=UnsupportedError)


@pytest.mark.parametrize("key", ["lm8-none", "frac-none"])
def test_positions_not_on_one_grid(files, tmp_path, capsys, key):
    def change(ds):
        item = ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0]
        item.ImagePositionPatient = [float(v) + 0.6 for v in item.ImagePositionPatient]

    path = edited(files[key], tmp_path / "offgrid.dcm", change)
    check(capsys, tmp_path, path, r"frame \d .* mm off a regular grid", error=GeometryError)


def test_two_labelmap_frames_at_one_position(files, tmp_path, capsys):
    def change(ds):
        items = ds.PerFrameFunctionalGroupsSequence
        items[1].PlanePositionSequence[0].ImagePositionPatient = items[0].PlanePositionSequence[0].ImagePositionPatient

    path = edited(files["lm8-none"], tmp_path / "twice.dcm", change)
    check(capsys, tmp_path, path, "frame")


@pytest.mark.parametrize("key, occurrence", [("lm8-none", 0), ("lm8-none", 2), ("bin-none", 3)])
def test_position_not_numeric(files, tmp_path, capsys, key, occurrence):
    data = files[key].read_bytes()
    pos = nth(data, IPP_TAG + b"DS", occurrence)
    (length,) = struct.unpack_from("<H", data, pos + 6)
    path = written(tmp_path / "ipp.dcm", replace_value(data, IPP_TAG + b"DS", occurrence, b"abc\\def\\ghi"))
    check(capsys, tmp_path, path, f"frame {occurrence + 1}: ImagePositionPatient", "not a decimal string")


@pytest.mark.parametrize("values", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
def test_position_wrong_multiplicity(files, tmp_path, capsys, values):
    def change(ds):
        ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0].ImagePositionPatient = values

    path = edited(files["lm8-none"], tmp_path / "vm.dcm", change)
    check(capsys, tmp_path, path, f"frame 3: ImagePositionPatient has {len(values)} values, expected 3")


def test_orientation_wrong_multiplicity(files, tmp_path, capsys):
    def change(ds):
        ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient = [1, 0, 0, 0, 1]

    path = edited(files["lm8-none"], tmp_path / "vm.dcm", change)
    check(capsys, tmp_path, path, "ImageOrientationPatient")


# --------------------------------------------------------------------------- segments
def test_duplicated_segment_numbers(files, tmp_path, capsys):
    def change(ds):
        ds.SegmentSequence[2].SegmentNumber = ds.SegmentSequence[1].SegmentNumber

    path = edited(files["lm8-none"], tmp_path / "dup.dcm", change)
    check(capsys, tmp_path, path, r"segment number 1 is described twice in the Segment Sequence \(items 2 and 3\)")


def test_duplicated_segment_numbers_binary(files, tmp_path, capsys):
    def change(ds):
        ds.SegmentSequence[1].SegmentNumber = 1

    path = edited(files["bin-none"], tmp_path / "dup.dcm", change)
    check(capsys, tmp_path, path, "segment number 1 is described twice")


def test_referenced_segment_number_not_described(files, tmp_path, capsys):
    def change(ds):
        ds.PerFrameFunctionalGroupsSequence[2].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 7

    path = edited(files["bin-none"], tmp_path / "ref7.dcm", change)
    check(capsys, tmp_path, path, r"segment number\(s\) \[7\]", "Segment Sequence does not describe")


def test_labelmap_pixel_values_not_described(files, tmp_path, capsys):
    def change(ds):
        ds.SegmentSequence = DicomSequence([s for s in ds.SegmentSequence if s.SegmentNumber != 2])

    path = edited(files["lm8-none"], tmp_path / "undescribed.dcm", change)
    check(capsys, tmp_path, path, r"pixel values \[2\]", "no Segment Sequence item describes")


def test_segment_sequence_missing(files, tmp_path, capsys):
    def change(ds):
        del ds.SegmentSequence

    path = edited(files["bin-none"], tmp_path / "noseq.dcm", change)
    check(capsys, tmp_path, path, r"Segment Sequence \(0062,0002\)")


def test_segment_item_without_required_code(files, tmp_path, capsys):
    def change(ds):
        del ds.SegmentSequence[1].SegmentedPropertyTypeCodeSequence

    path = edited(files["lm16-none"], tmp_path / "nocode.dcm", change)
    check(capsys, tmp_path, path, "Segment Sequence item 2", "SegmentedPropertyTypeCodeSequence")


def test_segment_number_with_two_values(files, tmp_path, capsys):
    def change(ds):
        ds.SegmentSequence[0].SegmentNumber = [1, 2]

    path = edited(files["lm8-none"], tmp_path / "vm.dcm", change)
    check(capsys, tmp_path, path, r"SegmentNumber \(0062,0004\) in Segment Sequence item 1 has 2 values, expected 1")


# --------------------------------------------------------------------------- image pixel attributes
@pytest.mark.parametrize("keyword", ["Rows", "Columns", "BitsAllocated"])
@pytest.mark.parametrize("key", ["lm8-none", "bin-none", "lm8-rle"])
def test_image_attribute_missing(files, tmp_path, capsys, keyword, key):
    if key.endswith("rle") and not is_available("rle"):
        pytest.skip("codec not installed")

    def change(ds):
        delattr(ds, keyword)

    path = edited(files[key], tmp_path / f"no{keyword}.dcm", change)
    check(capsys, tmp_path, path, f"missing or empty attribute {keyword}")


@pytest.mark.parametrize(
    "key, bits",
    [
        ("lm8-none", 32),
        ("lm8-none", 12),
        ("lm16-none", 1),
        ("lm8-deflate", 64),
        ("bin-none", 8),
        ("frac-none", 16),
        ("lm8-rle", 32),
    ],
)
def test_unsupported_bits_allocated(files, tmp_path, capsys, key, bits):
    if key.endswith("rle") and not is_available("rle"):
        pytest.skip("codec not installed")

    def change(ds):
        ds.BitsAllocated = bits

    path = edited(files[key], tmp_path / f"bits{bits}.dcm", change)
    check(capsys, tmp_path, path, "Bits Allocated", rf"\b{bits}\b", error=LabelmapError)


@pytest.mark.parametrize("keyword, value", [("Rows", 0), ("Columns", 0)])
def test_zero_rows_or_columns(files, tmp_path, capsys, keyword, value):
    def change(ds):
        setattr(ds, keyword, value)

    path = edited(files["lm8-none"], tmp_path / "zero.dcm", change)
    check(capsys, tmp_path, path, rf"{keyword} \(0028,001[01]\) is 0, expected 1..65535")


def test_rows_wrong_vr(files, tmp_path, capsys):
    """(0028,0010) re-typed as a text VR holding garbage: named, not an int() traceback."""
    data = files["lm8-none"].read_bytes()
    pos = data.index(b"\x28\x00\x10\x00US")
    bad = data[: pos + 4] + b"SH" + data[pos + 6 : pos + 8] + b"4>" + data[pos + 10 :]
    check(capsys, tmp_path, written(tmp_path / "rowsvr.dcm", bad), r"Rows \(0028,0010\)", "has VR SH, expected US")


def test_unknown_vr_in_segment_item(files, tmp_path, capsys):
    data = files["lm8-none"].read_bytes()
    pos = data.index(b"\x62\x00\x05\x00LO")  # SegmentLabel of the first segment item
    bad = data[: pos + 4] + b"Q?" + data[pos + 6 :]
    check(capsys, tmp_path, written(tmp_path / "vr.dcm", bad), r"invalid VR|SegmentLabel|\(0062,0005\)")


def test_sop_class_missing(files, tmp_path, capsys):
    def change(ds):
        del ds.SOPClassUID

    path = edited(files["lm8-none"], tmp_path / "nosop.dcm", change)
    check(capsys, tmp_path, path, r"SOP Class UID \(missing\) is not a Segmentation")


def test_transfer_syntax_not_known(files, tmp_path, capsys):
    def change(ds):
        ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"

    path = edited(files["lm8-none"], tmp_path / "ts.dcm", change)
    check(capsys, tmp_path, path, "1.2.3.4.5", "transfer syntax")


def test_garbled_transfer_syntax_of_a_compressed_binary_through_bin2label(files, tmp_path, capsys):
    """Found by the fuzzer: a J2K BINARY whose Transfer Syntax UID has one digit garbled made
    pydicom warn while bin2label failed, a second stderr line; library warnings stay silent."""
    data = files["bin-j2k"].read_bytes()
    bad = data.replace(b"1.2.840.10008.1.2.4.90", b"1.2.840.1000:.1.2.4.90", 1)
    assert bad != data
    path = written(tmp_path / "ts-bin.dcm", bad)
    out = tmp_path / "out-b2l"
    line = run_cli_error(capsys, ["bin2label", path, "-o", out / "label.dcm"], out)
    assert "ts-bin.dcm" in line


# --------------------------------------------------------------------------- corrupt compressed frames
def _corrupt_fragment(ds, frame: int, how: Callable[[bytes], bytes]) -> None:
    frames = pixel_frames(ds)
    frames[frame] = how(frames[frame])
    ds.PixelData = encapsulate(frames, has_bot=True)


@pytest.mark.parametrize(
    "key, how, needle",
    [
        ("lm8-rle", lambda b: struct.pack("<I", 5) + b[4:], "RLE Lossless frame has 5 segments"),
        ("lm16-rle", lambda b: b[:64] + b"\x7f" * (len(b) - 64), "RLE Lossless"),
        (
            "lm16-rle",
            lambda b: b[:64] + b"\x81\x05" * ((len(b) - 64) // 2),
            "frame 2: an RLE Lossless frame does not decode to exactly 22 x 21 pixels",
        ),
        (
            "lm8-rle",
            lambda b: b[:64] + b"\x81\x05" * ((len(b) - 64) // 2),
            "an RLE Lossless frame does not decode to exactly",
        ),
        ("lm8-rle", lambda b: b[:70], "RLE Lossless"),
        ("lm8-jpegls", lambda b: b[:2] + b"\x00" * (len(b) - 2), "JPEG-LS"),
        ("lm16-jpegls", lambda b: b[: len(b) // 3], "JPEG-LS"),
        ("frac-jpegls", lambda b: b"\xff\xd8" + bytes(range(256)) * 2, "JPEG-LS"),
        ("lm8-j2k", lambda b: b[:2] + b"\x00" * (len(b) - 2), "JPEG 2000"),
        ("lm16-j2k", lambda b: b[: len(b) // 4], "JPEG 2000"),
        ("bin-j2k", lambda b: b[:40] + b"\xff" * (len(b) - 40), "JPEG 2000"),
    ],
)
def test_corrupt_fragment(files, tmp_path, capsys, key, how, needle):
    if not is_available(key.split("-")[1]):
        pytest.skip("codec not installed")

    def change(ds):
        _corrupt_fragment(ds, 1, how)

    path = edited(files[key], tmp_path / "corrupt.dcm", change)
    check(capsys, tmp_path, path, "frame 2", needle)


def test_rle_16bit_overlong_segment_does_not_panic(files, tmp_path, capfd):
    """pylibjpeg-rle 2.2 panics on an over-long segment of a 16-bit frame (a Rust message on stderr)."""
    if not is_available("rle"):
        pytest.skip("codec not installed")

    def change(ds):
        # high-byte segment: replicate runs of 128 bytes, far more than 21 x 22
        _corrupt_fragment(
            ds, 0, lambda b: struct.pack("<3I", 2, 64, 64 + 40) + b"\0" * 52 + b"\x81\x01" * 20 + b"\x81\x02" * 20
        )

    path = edited(files["lm16-rle"], tmp_path / "panic.dcm", change)
    capfd.readouterr()
    exc = api_error(path)
    assert isinstance(exc, SegFormatError) and "frame 1" in str(exc), exc
    assert "panicked" not in capfd.readouterr().err


# --------------------------------------------------------------------------- the reader still reads what it should
@pytest.mark.parametrize("key", ["lm8-none", "lm16-rle", "bin-j2k", "frac-deflate"])
def test_undamaged_files_read(files, tmp_path, capsys, key):
    if not is_available(key.split("-")[1]):
        pytest.skip("codec not installed")
    from labelmap.cli import main

    out = tmp_path / "out"
    out.mkdir()
    assert main(["seg2itk", str(files[key]), "-o", str(out), "-q"]) == 0
    assert (out / "meta.json").exists()


def test_odd_length_pixel_data_padding_is_accepted(tmp_path):
    """3 x 5 x 3 = 45 bytes of 8-bit frames (and 45 bits of 1-bit frames): the pad byte to an even length
    is not an error."""
    g = axial_geometry(shape=(3, 5, 3))
    ct, paths = write_files(tmp_path, g, which=["lm8-none", "bin-none"])
    for key in ("lm8-none", "bin-none"):
        read_seg(paths[key])


# --------------------------------------------------------------------------- geometry that cannot be a grid
def test_orientation_not_orthonormal(files, tmp_path, capsys):
    def change(ds):
        ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient = [1, 0, 0, 1, 0, 0]

    path = edited(files["lm8-none"], tmp_path / "iop.dcm", change)
    check(
        capsys,
        tmp_path,
        path,
        r"ImageOrientationPatient \[1.0, 0.0, 0.0, 1.0, 0.0, 0.0\]",
        "not two orthogonal unit vectors",
        error=GeometryError,
    )


@pytest.mark.parametrize("value", ["1e300", "-1e12"])
def test_position_far_outside_patient_space(files, tmp_path, capsys, value):
    def change(ds):
        item = ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0]
        item.ImagePositionPatient = [item.ImagePositionPatient[0], item.ImagePositionPatient[1], value]

    path = edited(files["lm8-none"], tmp_path / "far.dcm", change)
    check(capsys, tmp_path, path, "frame 2 has ImagePositionPatient", "not a position", error=GeometryError)


def test_frames_spanning_too_many_slices(files, tmp_path, capsys):
    """A position moved 10 km along the normal, on the slice grid: refused, not a 4,000,000-slice volume."""

    def change(ds):
        normal = np.cross(
            *np.array(
                ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float
            ).reshape(2, 3)
        )
        item = ds.PerFrameFunctionalGroupsSequence[-1].PlanePositionSequence[0]
        pos = np.array(item.ImagePositionPatient, dtype=float) + normal * 2.5 * 4_000_000
        item.ImagePositionPatient = [f"{v:.6f}" for v in pos]

    path = edited(files["lm8-none"], tmp_path / "span.dcm", change)
    check(capsys, tmp_path, path, r"frame 4 .* more than 100000 slices", error=GeometryError)


def test_frames_in_one_plane(files, tmp_path, capsys):
    """Two frames side by side in one plane are not a stack."""

    def change(ds):
        iop = np.array(
            ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float
        )
        items = ds.PerFrameFunctionalGroupsSequence
        first = np.array(items[0].PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        for n, item in enumerate(items):
            item.PlanePositionSequence[0].ImagePositionPatient = [f"{v:.6f}" for v in first + iop[:3] * 30 * n]

    path = edited(files["lm8-none"], tmp_path / "plane.dcm", change)
    check(capsys, tmp_path, path, "lie in one plane", error=GeometryError)


# ------------------------------------------------------------------------- the other read commands and the Dataset API
def test_info_on_damaged_files(files, tmp_path, capsys):
    data = files["lm8-none"].read_bytes()
    cases = {
        "cut.dcm": data[: len(data) // 2],
        "rows.dcm": data[: data.index(b"\x28\x00\x10\x00US")]
        + b"\x28\x00\x10\x00SH\x02\x004>"
        + data[data.index(b"\x28\x00\x10\x00US") + 10 :],
    }
    for file_name, content in cases.items():
        path = written(tmp_path / file_name, content)
        line = run_cli_error(capsys, ["info", path], tmp_path / "out")
        assert str(path) in line


@pytest.mark.parametrize("damage", ["cut", "bits", "overlap-free-but-undescribed"])
def test_bin2label_on_damaged_binary(files, tmp_path, capsys, damage):
    src = files["bin-none"]
    if damage == "cut":
        data = src.read_bytes()
        # cut inside the value of the Per-frame Functional Groups Sequence (5200,9230)
        path = written(tmp_path / "in.dcm", data[: data.index(b"\x00\x52\x30\x92SQ") + 200])
        needle = "past the end of the file"
    elif damage == "bits":
        path = edited(src, tmp_path / "in.dcm", lambda ds: setattr(ds, "BitsAllocated", 8))
        needle = "Bits Allocated 1, found 8"
    else:

        def change(ds):
            ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 9

        path = edited(src, tmp_path / "in.dcm", change)
        needle = r"segment number\(s\) \[9\]"
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["bin2label", path, "-o", out / "label.dcm"], out)
    assert str(path) in line and re.search(needle, line), line


def test_bin2label_source_reference_not_a_uid(files, tmp_path, capsys):
    def change(ds):
        src = ds.PerFrameFunctionalGroupsSequence[2].DerivationImageSequence[0].SourceImageSequence[0]
        src.ReferencedSOPInstanceUID = "1.2.3.x4"

    path = edited(files["bin-none"], tmp_path / "in.dcm", change)
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["bin2label", path, "-o", out / "label.dcm"], out)
    assert "frame 3: ReferencedSOPInstanceUID '1.2.3.x4'" in line and "not a valid UID" in line


@pytest.mark.parametrize(
    "change, needle",
    [
        (
            lambda ds: delattr(ds.PerFrameFunctionalGroupsSequence[1], "PlanePositionSequence"),
            "frame 2 has no PlanePositionSequence",
        ),
        (lambda ds: setattr(ds, "NumberOfFrames", 7), "Number of Frames is 7"),
        (lambda ds: setattr(ds.SegmentSequence[1], "SegmentNumber", [1, 2]), "has 2 values"),
        (lambda ds: delattr(ds, "Rows"), "missing or empty attribute Rows"),
    ],
)
def test_dataset_api(files, change, needle):
    """A damaged pydicom Dataset given to read_seg: a SegFormatError naming the attribute."""
    ds = pydicom.dcmread(files["lm8-none"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        change(ds)
    with pytest.raises(SegFormatError, match=needle):
        read_seg(ds)


def test_dataset_api_raw_element_with_unknown_vr(files):
    """pydicom keeps damaged elements raw until first use; the reader converts them all up front."""
    data = bytearray(files["lm8-none"].read_bytes())
    pos = data.index(b"\x62\x00\x05\x00LO")
    data[pos + 4 : pos + 6] = b"QQ"
    ds = pydicom.dcmread(io.BytesIO(bytes(data)))
    with pytest.raises(SegFormatError, match=r"SegmentLabel \(0062,0005\) in item 1 of SegmentSequence"):
        read_seg(ds)


def test_unusual_character_set_still_reads_and_fails_cleanly(files, tmp_path, capsys):
    """A character set the lite reader leaves to pydicom: the pydicom path reads the file, and a damaged
    one fails in one line without pydicom's warnings."""

    def charset(ds):
        ds.SpecificCharacterSet = "ISO 2022 IR 100"

    ok = edited(files["lm8-none"], tmp_path / "charset.dcm", charset)
    assert read_seg(ok).volume.array.any()

    def damaged(ds):
        charset(ds)
        del ds.SegmentSequence[1].SegmentedPropertyCategoryCodeSequence

    path = edited(files["lm8-none"], tmp_path / "charset-bad.dcm", damaged)
    check(capsys, tmp_path, path, "Segment Sequence item 2", "SegmentedPropertyCategoryCodeSequence")


def test_text_attribute_holding_a_number(files, tmp_path, capsys):
    """(0010,0010) re-typed US: named when read, not an AttributeError when bin2label copies it."""
    data = files["bin-none"].read_bytes()
    pos = data.index(b"\x10\x00\x10\x00PN")
    (length,) = struct.unpack_from("<H", data, pos + 6)
    bad = data[: pos + 4] + b"US" + data[pos + 6 :]
    path = written(tmp_path / "pn.dcm", bad)
    line = check(capsys, tmp_path, path, r"PatientName \(0010,0010\) has VR US, expected PN")
    out = tmp_path / "out3"
    assert run_cli_error(capsys, ["bin2label", path, "-o", out / "label.dcm"], out) == line


def test_dataset_api_empty_pixel_data(files):
    ds = pydicom.dcmread(files["lm8-none"])
    ds.PixelData = None
    with pytest.raises(SegFormatError, match=r"Pixel Data \(7FE0,0010\) is empty"):
        read_seg(ds)
