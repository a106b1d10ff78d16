"""Frame codecs (labelmap.dicom.pixels.codecs): exact round trips, the registry, files pydicom / highdicom read."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from labelmap.demo.sample import write_ct_series
from labelmap.dicom.pixels.codecs import (
    CODECS,
    check_available,
    codec_module,
    decode_frames,
    encode_frames,
    has_module,
    is_available,
    syntaxes_for_bits,
)
from labelmap.dicom.pixels.encaps import encapsulate_frames
from labelmap.dicom.uids import SYNTAX_TABLE, WRITABLE, lookup
from labelmap.errors import InputError, MissingDependencyError, SegFormatError, UnsupportedError
from labelmap.model import Code, LabelVolume, SegmentDescription
from labelmap.pipeline.convert import load_source, read_seg, write_seg
from labelmap.pipeline.options import WriteOptions

from _geometries import axial_geometry

pytest.importorskip("jpeg_ls")
pytest.importorskip("openjpeg")

FRAME_CODECS = ("rle", "jpegls", "j2k")
SHAPES = [(21, 22), (23, 38), (40, 33)]
HAS_IMAGECODECS = has_module("imagecodecs")
SYNTAXES = {name: lookup(name).uid for name in WRITABLE}
ONE_BIT = tuple(ts.name for ts in syntaxes_for_bits((1,)))


def _frames(kind: str, shape, seed=0) -> tuple[np.ndarray, int]:
    """Four frames: empty, blobs, random noise, a saturated corner (65535 / 255 / 1)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    hi, dtype, bits = {"u8": (255, np.uint8, 8), "u16": (65535, np.uint16, 16), "binary": (1, np.uint8, 1)}[kind]
    out = np.zeros((4, rows, cols), dtype=dtype)
    yy, xx = np.mgrid[:rows, :cols]
    for v in rng.integers(1, hi, 6, endpoint=True):
        cy, cx, r = rng.integers(0, rows), rng.integers(0, cols), rng.integers(2, 8)
        out[1][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    out[2] = rng.integers(0, hi, (rows, cols), endpoint=True, dtype=dtype)
    out[3, : rows // 2, : cols // 3] = hi
    out[3, -1, -1] = hi
    return out, bits


def _expect_ok(name: str, kind: str, shape) -> bool:
    if kind == "binary" and name not in ONE_BIT:
        return False
    if name == "j2k" and min(shape) < 32 and not HAS_IMAGECODECS:
        return False
    return True


# ----------------------------------------------------------------------------- frame round trips
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", ["u8", "u16", "binary"])
@pytest.mark.parametrize("name", FRAME_CODECS)
def test_frames_round_trip_exactly(name, kind, shape):
    frames, bits = _frames(kind, shape)
    if not _expect_ok(name, kind, shape):
        with pytest.raises(UnsupportedError):
            encode_frames(frames, SYNTAXES[name], bits_allocated=bits)
        return
    encoded = encode_frames(frames, SYNTAXES[name], bits_allocated=bits)
    assert len(encoded) == len(frames) and all(isinstance(e, bytes) for e in encoded)
    back = decode_frames(encoded, name, rows=shape[0], columns=shape[1], bits_allocated=bits)
    assert back.dtype == frames.dtype and back.shape == frames.shape
    np.testing.assert_array_equal(back, frames)
    # threads give the same bytes
    assert encode_frames(frames, name, bits_allocated=bits, threads=2) == encoded
    np.testing.assert_array_equal(
        decode_frames(encoded, name, rows=shape[0], columns=shape[1], bits_allocated=bits, threads=2), frames
    )


@pytest.mark.parametrize("kind", ["u8", "u16"])
def test_rle_encoder_is_the_kernel_and_both_backends_decode(monkeypatch, kind):
    """Encoding is labelmap's kernel whatever decodes; its frames are no larger than
    pylibjpeg-rle's and pydicom's encoders' and each decoder reads every encoder's frames."""
    pytest.importorskip("rle")
    from pydicom.pixels import get_encoder
    from rle.rle import encode_frame

    from labelmap.kernels import rle_encode_frames

    frames, bits = _frames(kind, (23, 38), seed=4)
    ours = encode_frames(frames, "rle", bits_allocated=bits)
    assert ours == rle_encode_frames(frames)
    theirs_rle = [encode_frame(f.tobytes(), 23, 38, 1, bits, "<") for f in frames]
    opts = dict(
        rows=23,
        columns=38,
        samples_per_pixel=1,
        bits_allocated=bits,
        bits_stored=bits,
        pixel_representation=0,
        photometric_interpretation="MONOCHROME2",
        number_of_frames=1,
    )
    theirs_py = [get_encoder(pydicom.uid.RLELossless).encode(f, encoding_plugin="pydicom", **opts) for f in frames]
    for a, b, c in zip(ours, theirs_rle, theirs_py):
        assert len(a) <= len(b) and len(a) <= len(c)
    for enc in (ours, theirs_rle, theirs_py):  # pylibjpeg-rle decodes
        np.testing.assert_array_equal(decode_frames(enc, "rle", rows=23, columns=38, bits_allocated=bits), frames)
    with monkeypatch.context() as m:  # without pylibjpeg-rle, pydicom decodes (pylibjpeg-rle would fail)
        m.setattr("rle.rle.decode_frame", lambda *a: pytest.fail("pylibjpeg-rle was used"))
        m.setitem(sys.modules, "rle", None)
        assert encode_frames(frames, "rle", bits_allocated=bits) == ours
        for enc in (ours, theirs_rle, theirs_py):
            np.testing.assert_array_equal(decode_frames(enc, "rle", rows=23, columns=38, bits_allocated=bits), frames)


def test_rle_encode_frames_threads_give_the_same_bytes():
    frames, _ = _frames("u16", (40, 33), seed=6)
    frames = np.concatenate([frames] * 4)
    one = encode_frames(frames, "rle", bits_allocated=16, threads=1)
    for threads in (None, 2, 3, 0):
        assert encode_frames(frames, "rle", bits_allocated=16, threads=threads) == one
    # uint8 frames coded with 16 bits allocated: two segments, the first all zero bytes
    small = (frames & 0xFF).astype(np.uint8)
    wide = encode_frames(small, "rle", bits_allocated=16)
    assert wide == encode_frames(small.astype(np.uint16), "rle", bits_allocated=16)
    assert all(struct.unpack_from("<I", w)[0] == 2 for w in wide)


def test_rle_16bit_uses_two_segments_msb_first():
    frame = np.full((1, 3, 5), 0x1234, dtype=np.uint16)
    (enc,) = encode_frames(frame, "rle", bits_allocated=16)
    header = struct.unpack("<16I", enc[:64])
    assert header[0] == 2 and header[1] == 64
    # first segment: a replicate run of 0x12 per row (the high byte)
    assert enc[64:66] == bytes([256 - 4, 0x12])
    (enc8,) = encode_frames(np.zeros((1, 3, 5), np.uint8), "rle", bits_allocated=8)
    assert struct.unpack("<I", enc8[:4])[0] == 1


def test_jpegls_is_lossless_and_has_precision_of_bits_allocated():
    import jpeg_ls

    frames, _ = _frames("u16", (21, 22))
    enc = encode_frames(frames, "jpegls", bits_allocated=16)
    info = jpeg_ls.decode_buffer(enc[0])[1]
    assert info["allowed_lossy_error"] == 0 and info["bits_per_sample"] == 16
    # an all-zero 8-bit frame (encode_array would derive precision 0 and fail)
    assert (
        jpeg_ls.decode_buffer(encode_frames(np.zeros((1, 21, 22), np.uint8), "jpegls", bits_allocated=8)[0])[1][
            "bits_per_sample"
        ]
        == 8
    )


def test_j2k_binary_is_1bit_codestream():
    openjpeg = pytest.importorskip("openjpeg")
    frames, _ = _frames("binary", (40, 33))
    enc = encode_frames(frames, "j2k", bits_allocated=1)
    params = openjpeg.get_parameters(enc[1])
    assert params["precision"] == 1 and params["samples_per_pixel"] == 1


def test_small_j2k_frames_need_imagecodecs(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    with pytest.raises(UnsupportedError, match="pip install imagecodecs"):
        encode_frames(np.zeros((1, 21, 22), np.uint8), "j2k", bits_allocated=8)


def test_rejects_non_frame_syntaxes_and_bad_input():
    f = np.zeros((2, 4, 4), np.uint8)
    for name in ("none", "implicit", "deflate"):
        with pytest.raises(InputError, match="no frame codec"):
            encode_frames(f, name, bits_allocated=8)
    with pytest.raises(InputError, match="unknown transfer syntax"):
        encode_frames(f, "lzw", bits_allocated=8)
    with pytest.raises(InputError, match="must be uint8"):
        encode_frames(f.astype(np.uint16), "rle", bits_allocated=8)
    with pytest.raises(InputError, match="only 0 and 1"):
        encode_frames(f + 2, "j2k", bits_allocated=1)
    with pytest.raises(UnsupportedError):
        encode_frames(f, "rle", bits_allocated=1)


def test_registry_is_the_table_and_codecs_declare_their_bits():
    assert set(CODECS) == {ts.uid for ts in SYNTAX_TABLE if ts.codec}
    assert [lookup(uid).name for uid in CODECS] == ["rle", "jpegls", "j2k", "deflate-frame"]
    bits = {lookup(uid).name: codec_module(lookup(uid)).BITS for uid in CODECS}
    assert bits == {"rle": (8, 16), "jpegls": (8, 16), "j2k": (1, 8, 16), "deflate-frame": (1, 8, 16)}
    for uid in CODECS:
        module = codec_module(lookup(uid))
        assert is_available(uid) == all(has_module(m) for m, _ in module.DEPENDENCIES)
    assert ONE_BIT == ("none", "implicit", "deflate", "j2k")
    assert tuple(ts.name for ts in syntaxes_for_bits((8, 16))) == WRITABLE
    with pytest.raises(InputError, match="is native"):
        codec_module(lookup("implicit"))
    with pytest.raises(InputError, match="unknown transfer syntax"):
        is_available("jpeg-baseline")  # known, but not written


# ----------------------------------------------------------------------------- missing packages
@pytest.mark.parametrize(
    "name,module,package", [("jpegls", "jpeg_ls", "pyjpegls"), ("j2k", "openjpeg", "pylibjpeg-openjpeg")]
)
def test_missing_package_is_named(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import fails, find_spec gives None
    assert not is_available(name) and not is_available(SYNTAXES[name])
    with pytest.raises(MissingDependencyError, match=f"pip install {package}"):
        check_available(SYNTAXES[name], purpose="writing")
    with pytest.raises(MissingDependencyError, match=f"pip install {package}"):
        encode_frames(np.zeros((1, 40, 40), np.uint8), name, bits_allocated=8)
    with pytest.raises(MissingDependencyError, match=f"reading .* pip install {package}"):
        decode_frames([b"\0\0"], name, rows=40, columns=40, bits_allocated=8)
    with pytest.raises(ImportError):  # MissingDependencyError is an ImportError
        check_available(SYNTAXES[name], purpose="reading")


def test_availability_of_builtin_syntaxes(monkeypatch):
    monkeypatch.setitem(sys.modules, "rle", None)
    for name in ("none", "implicit", "deflate", "rle"):
        assert is_available(name)
        check_available(SYNTAXES[name], purpose="writing")
    check_available(pydicom.uid.JPEGBaseline8Bit, purpose="reading")  # not ours: pydicom decides


def test_damaged_frame_is_named():
    frames, bits = _frames("u8", (40, 33), seed=3)
    encoded = encode_frames(frames, "j2k", bits_allocated=bits)
    with pytest.raises(SegFormatError, match="frame 3: cannot decode a JPEG 2000 frame"):
        decode_frames([*encoded[:2], b"\0" * 8, encoded[3]], "j2k", rows=40, columns=33, bits_allocated=bits)
    two = encode_frames(np.full((1, 40, 33), 2, np.uint8), "j2k", bits_allocated=8)
    with pytest.raises(SegFormatError, match="frame 2: a 1-bit JPEG 2000 frame decoded to values other than 0 and 1"):
        decode_frames([encoded[0], two[0]], "j2k", rows=40, columns=33, bits_allocated=1)


@pytest.mark.parametrize("name", FRAME_CODECS)
def test_encapsulated_frames_decode(name):
    frames, bits = _frames("u16", (40, 33), seed=2)
    pd, _, _ = encapsulate_frames(encode_frames(frames, name, bits_allocated=bits))
    back = decode_frames(list(generate_frames(pd, number_of_frames=4)), name, rows=40, columns=33, bits_allocated=16)
    np.testing.assert_array_equal(back, frames)


# ----------------------------------------------------------------------------- whole files
CATEGORY = Code("85756007", "SCT", "Tissue")


def _segs(numbers):
    return tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=CATEGORY, label=f"seg {n}") for n in numbers
    )


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("codecs")
    g = axial_geometry(shape=(4, 38, 33))
    write_ct_series(tmp / "ct", g)
    return tmp, g, load_source(tmp / "ct")


def _labels(g, values, seed=1):
    rng = np.random.default_rng(seed)
    arr = np.zeros(g.shape, dtype=np.uint16 if max(values) > 255 else np.uint8)
    yy, xx = np.mgrid[: g.shape[1], : g.shape[2]]
    for k in range(1, g.shape[0]):
        for v in values:
            cy, cx, r = rng.integers(0, g.shape[1]), rng.integers(0, g.shape[2]), rng.integers(3, 9)
            arr[k][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    return arr


def _write(case, values, name, **kw):
    tmp, g, source = case
    arr = _labels(g, values)
    out = tmp / f"{name}-{kw.get('seg_type', 'labelmap')}-{max(values)}.dcm"
    write_seg(LabelVolume(arr, g, _segs(values)), source, out, options=WriteOptions(compression=name, **kw))
    return arr, out


@pytest.mark.interop
@pytest.mark.parametrize("values", [[1, 7, 200], [2, 300, 65535]], ids=["8bit", "16bit"])
@pytest.mark.parametrize("name", ["rle", "jpegls", "j2k"])
def test_labelmap_files_decode_identically(case, name, values):
    hd = pytest.importorskip("highdicom")
    arr, ref_path = _write(case, values, "none")
    _, path = _write(case, values, name)
    ref, ds = pydicom.dcmread(ref_path), pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == SYNTAXES[name]
    assert ds["PixelData"].VR == "OB" and ds["PixelData"].is_undefined_length
    assert "ExtendedOffsetTable" not in ds
    np.testing.assert_array_equal(ds.pixel_array, ref.pixel_array)
    np.testing.assert_array_equal(
        hd.seg.segread(str(path)).get_volume(combine_segments=True, relabel=False).array,
        hd.seg.segread(str(ref_path)).get_volume(combine_segments=True, relabel=False).array,
    )
    g = case[1]
    np.testing.assert_array_equal(read_seg(path, reference=g).volume.array, arr)
    np.testing.assert_array_equal(read_seg(ref_path, reference=g).volume.array, arr)


@pytest.mark.interop
@pytest.mark.parametrize("seg_type,name", [("binary", "j2k"), ("fractional", "jpegls"), ("fractional", "rle")])
def test_classic_files_decode_identically(case, seg_type, name):
    hd = pytest.importorskip("highdicom")
    values = [1, 5] if seg_type == "binary" else [200]  # FRACTIONAL: one segment, uint8 0..255
    _, ref_path = _write(case, values, "none", seg_type=seg_type)
    _, path = _write(case, values, name, seg_type=seg_type)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == SYNTAXES[name]
    a = hd.seg.segread(str(path)).get_volume(combine_segments=False).array
    b = hd.seg.segread(str(ref_path)).get_volume(combine_segments=False).array
    np.testing.assert_array_equal(a, b)
    assert a.any()
    ra, rb = read_seg(path), read_seg(ref_path)
    for n in values:
        np.testing.assert_array_equal(ra.volume_of([n]), rb.volume_of([n]))


def _rle_file_frames(path) -> tuple[pydicom.Dataset, list[bytes]]:
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    n = int(ds.NumberOfFrames)
    return ds, list(generate_frames(ds.PixelData, number_of_frames=n))


def _check_rle_file(path, native_path) -> None:
    """Every frame of the RLE file is the reference encoder's codestream of the native file's
    frame, and pydicom's and pylibjpeg-rle's decoders (through pydicom) read it exactly."""
    import _reference as ref

    ds, streams = _rle_file_frames(path)
    native = pydicom.dcmread(native_path).pixel_array.reshape(len(streams), ds.Rows, ds.Columns)
    assert [len(b) for b in streams] and all(len(b) % 2 == 0 for b in streams)
    for frame, stream in zip(native, streams):
        assert stream == ref.rle_encode_frame(frame.astype(np.uint16 if ds.BitsAllocated == 16 else np.uint8))
    for plugin in ("pydicom", "pylibjpeg"):
        ds.pixel_array_options(decoding_plugin=plugin)  # (also drops the decoded array)
        np.testing.assert_array_equal(ds.pixel_array.reshape(native.shape), native)


@pytest.mark.interop
@pytest.mark.parametrize(
    "values", [[1, 7, 200], [2, 300, 65535], [256, 257, 511]], ids=["8bit", "16bit", "16bit-high-bytes"]
)
def test_rle_labelmap_files_read_back_exactly(case, values):
    pytest.importorskip("rle")
    hd = pytest.importorskip("highdicom")
    arr, native = _write(case, values, "none")
    _, path = _write(case, values, "rle")
    ds = pydicom.dcmread(path)
    assert ds.BitsAllocated == (8 if max(values) <= 255 else 16)
    _check_rle_file(path, native)
    g = case[1]
    np.testing.assert_array_equal(read_seg(path, reference=g).volume.array, arr)

    def volume(p):
        return hd.seg.segread(str(p)).get_volume(combine_segments=True, relabel=False).array

    np.testing.assert_array_equal(volume(path), volume(native))


@pytest.mark.interop
def test_rle_fractional_file_reads_back_exactly(case):
    pytest.importorskip("rle")
    hd = pytest.importorskip("highdicom")
    _, native = _write(case, [200], "none", seg_type="fractional")
    _, path = _write(case, [200], "rle", seg_type="fractional")
    _check_rle_file(path, native)
    a = hd.seg.segread(str(path)).get_volume(combine_segments=False).array
    np.testing.assert_array_equal(a, hd.seg.segread(str(native)).get_volume(combine_segments=False).array)
    np.testing.assert_array_equal(read_seg(path).volume_of([200]), read_seg(native).volume_of([200]))


@pytest.mark.interop
@pytest.mark.parametrize("force_16bit", [False, True])
def test_rle_from_the_command_line(case, tmp_path, capsys, force_16bit):
    """``itk2seg --compression rle`` and ``bin2label --compression rle`` (8- and 16-bit frames)."""
    pytest.importorskip("rle")
    from _images import write_image

    from _cli import run_cli

    _, g, _ = case
    tmp = case[0]
    arr = _labels(g, [3, 9, 40])
    write_image(tmp_path / "lab.nrrd", arr, g)
    meta = {
        "segmentAttributes": [
            [
                {
                    "labelID": v,
                    "SegmentLabel": f"s{v}",
                    "SegmentDescription": f"s{v}",
                    "SegmentAlgorithmType": "MANUAL",
                    "SegmentedPropertyCategoryCodeSequence": {
                        "CodeValue": "85756007",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Tissue",
                    },
                    "SegmentedPropertyTypeCodeSequence": {
                        "CodeValue": "85756007",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Tissue",
                    },
                }
                for v in (3, 9, 40)
            ]
        ]
    }
    import json

    (tmp_path / "m.json").write_text(json.dumps(meta))
    common = ["-d", tmp / "ct", "-m", tmp_path / "m.json", "-q"]
    rc, _, err = run_cli(
        capsys,
        "itk2seg",
        tmp_path / "lab.nrrd",
        *common,
        "-o",
        tmp_path / "lm.dcm",
        "--type",
        "labelmap",
        "--compression",
        "rle",
    )
    assert rc == 0, err
    rc, _, err = run_cli(
        capsys,
        "itk2seg",
        tmp_path / "lab.nrrd",
        *common,
        "-o",
        tmp_path / "lm-none.dcm",
        "--type",
        "labelmap",
        "--compression",
        "none",
    )
    assert rc == 0, err
    _check_rle_file(tmp_path / "lm.dcm", tmp_path / "lm-none.dcm")
    rc, _, err = run_cli(
        capsys,
        "itk2seg",
        tmp_path / "lab.nrrd",
        *common,
        "-o",
        tmp_path / "bin.dcm",
        "--type",
        "binary",
        "--compression",
        "none",
    )
    assert rc == 0, err
    extra = ["--force-16bit"] if force_16bit else []
    for out, compression in (("b2l.dcm", "rle"), ("b2l-none.dcm", "none")):
        rc, _, err = run_cli(
            capsys, "bin2label", tmp_path / "bin.dcm", "-o", tmp_path / out, "--compression", compression, *extra
        )
        assert rc == 0, err
    assert pydicom.dcmread(tmp_path / "b2l.dcm").BitsAllocated == (16 if force_16bit else 8)
    _check_rle_file(tmp_path / "b2l.dcm", tmp_path / "b2l-none.dcm")
    # BINARY renumbers the labels 1..N: the voxels are the uncompressed bin2label output's
    back = read_seg(tmp_path / "b2l.dcm", reference=g).volume.array
    np.testing.assert_array_equal(back, read_seg(tmp_path / "b2l-none.dcm", reference=g).volume.array)
    np.testing.assert_array_equal(back != 0, arr != 0)
