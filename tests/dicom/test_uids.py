"""The transfer syntax table (labelmap.dicom.uids): one row per syntax, agreeing with pydicom; UID syntax."""

from __future__ import annotations

import pydicom.uid
import pytest

from labelmap.dicom.uids import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    NATIVE_SYNTAXES,
    RLE_LOSSLESS,
    SYNTAX_TABLE,
    WRITABLE,
    is_uid,
    lookup,
    title_of,
)


def test_table_rows_are_distinct_and_agree_with_pydicom():
    assert len({ts.uid for ts in SYNTAX_TABLE}) == len({ts.name for ts in SYNTAX_TABLE}) == len(SYNTAX_TABLE)
    for ts in SYNTAX_TABLE:
        uid = pydicom.uid.UID(ts.uid)
        assert lookup(ts.uid) is lookup(ts.name) is ts
        assert title_of(ts.uid) == ts.title
        if uid.is_transfer_syntax:  # pydicom 3.0 does not know Deflated Image Frame Compression
            assert uid.name == ts.title
            assert uid.is_compressed == ts.encapsulated
            assert uid.is_deflated == ts.deflated
            assert uid.is_implicit_VR == ts.implicit_vr
            assert uid.is_little_endian != ts.big_endian


def test_writable_syntaxes_are_the_compression_choices():
    assert WRITABLE == ("none", "implicit", "deflate", "rle", "jpegls", "j2k")
    from labelmap.cli.options import Compression

    assert tuple(c.value for c in Compression) == WRITABLE
    assert all(lookup(name).fidelity == "lossless" for name in WRITABLE)
    assert [ts.codec for ts in SYNTAX_TABLE if ts.codec] == ["rle", "jpegls", "j2k", "deflate_frame"]
    assert NATIVE_SYNTAXES == {
        pydicom.uid.ExplicitVRLittleEndian,
        pydicom.uid.ImplicitVRLittleEndian,
        pydicom.uid.DeflatedExplicitVRLittleEndian,
        pydicom.uid.ExplicitVRBigEndian,
    }
    assert (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) == (
        pydicom.uid.ExplicitVRLittleEndian,
        pydicom.uid.ImplicitVRLittleEndian,
        pydicom.uid.DeflatedExplicitVRLittleEndian,
    )
    assert (EXPLICIT_VR_BIG_ENDIAN, RLE_LOSSLESS) == (pydicom.uid.ExplicitVRBigEndian, pydicom.uid.RLELossless)


def test_recognised_syntaxes_are_classified():
    lossy = {ts.uid for ts in SYNTAX_TABLE if ts.fidelity == "lossy"}
    maybe = {ts.uid for ts in SYNTAX_TABLE if ts.fidelity == "maybe-lossy"}
    assert lossy == {pydicom.uid.JPEGBaseline8Bit, pydicom.uid.JPEGExtended12Bit, pydicom.uid.JPEGLSNearLossless}
    assert maybe == {pydicom.uid.JPEG2000, pydicom.uid.HTJ2K}
    assert lookup(pydicom.uid.ExplicitVRBigEndian).retired and not lookup("big-endian").writable
    frames = lookup("deflate-frame")
    assert frames.writable and frames.slides_only and frames.encapsulated and frames.name not in WRITABLE
    assert lookup("1.2.3") is None and title_of("1.2.3") == "1.2.3" and title_of("rle") == "rle"


@pytest.mark.parametrize(
    "value,strict,lenient",
    [
        ("1.2.840.10008.1.2", True, True),
        ("0", True, True),
        ("1.02.3", False, True),  # leading zero: PS3.5 9.1 forbids it
        ("1." + "2" * 62, True, True),
        ("1." + "2" * 63, False, False),  # 65 characters
        ("", False, False),
        ("1..2", False, False),
        ("1.2.", False, False),
        ("1.2a", False, False),
        (" 1.2", False, False),
        (12, False, False),
        (None, False, False),
    ],
)
def test_is_uid(value, strict, lenient):
    assert is_uid(value) is strict
    assert is_uid(value, strict=False) is lenient
