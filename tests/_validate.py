"""Shared helpers of the validator tests (tests/validate): broken-file cases and data set edits."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGLSLossless, RLELossless

from labelmap.validate import Violation

LABEL_VALUES = [1, 2, 4, 9]

#: The one finding on every dcmqi 1.5.7 and highdicom 0.28 file (README "Validating a SEG").
PATIENT_ORIENTATION = ("PatientOrientation", "warning")


def kinds_found(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.keyword, v.severity) for v in violations]


def show(violations: list[Violation]) -> str:
    return "\n".join(v.format("SEG") for v in violations) or "(none)"


def frame_items(ds: Dataset) -> list[Dataset]:
    return list(ds.PerFrameFunctionalGroupsSequence)


def segment_item(ds: Dataset, number: int) -> Dataset:
    return next(s for s in ds.SegmentSequence if int(s.SegmentNumber) == number)


def drop_segment(ds: Dataset, number: int) -> None:
    ds.SegmentSequence = [s for s in ds.SegmentSequence if int(s.SegmentNumber) != number]


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def set_pixel(ds: Dataset, frame: int, value: int) -> None:
    """Set one pixel of a native 8-bit frame (the middle of the first row)."""
    data = bytearray(ds.PixelData)
    data[frame * int(ds.Rows) * int(ds.Columns) + int(ds.Columns) // 2] = value
    ds.PixelData = bytes(data)


def unpacked(ds: Dataset) -> np.ndarray:
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    return np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little")[: n * r * c].reshape(n, r, c)


def pad_each_frame(ds: Dataset) -> None:
    """Old MeVisLab layout: every 1-bit frame starts on a byte boundary."""
    data = b"".join(np.packbits(f.reshape(-1), bitorder="little").tobytes() for f in unpacked(ds))
    ds.PixelData = data + b"\0" * (len(data) % 2)


def binary_as(ds: Dataset, syntax: str) -> None:
    """Re-encode 1-bit frames with a syntax that has no 1-bit form here (JPEG-LS at 2 bits, RLE at 8)."""
    frames = unpacked(ds)
    if syntax == JPEGLSLossless:
        jpeg_ls = pytest.importorskip("jpeg_ls")
        fragments = [
            bytes(jpeg_ls.encode_buffer(f.tobytes(), f.shape[0], f.shape[1], 1, 2, lossy_error=0)) for f in frames
        ]
    else:
        from pydicom.pixels import get_encoder

        encoder = get_encoder(RLELossless)
        fragments = [
            encoder.encode(
                np.ascontiguousarray(f),
                encoding_plugin="pydicom",
                rows=f.shape[0],
                columns=f.shape[1],
                samples_per_pixel=1,
                bits_allocated=8,
                bits_stored=8,
                pixel_representation=0,
                photometric_interpretation="MONOCHROME2",
                number_of_frames=1,
            )
            for f in frames
        ]
    ds.PixelData = encapsulate(fragments, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax


def damage_first_fragment(ds: Dataset) -> None:
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames[0] = frames[0][:12]
    ds.PixelData = encapsulate(frames, has_bot=True)


def extra_fragment(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData + b"\xfe\xff\x00\xe0\x02\x00\x00\x00\x00\x00"


def no_derivation(ds: Dataset) -> None:
    for f in frame_items(ds):
        del f.DerivationImageSequence
    del ds.ReferencedSeriesSequence


def shared_groups(ds: Dataset) -> Dataset:
    return ds.SharedFunctionalGroupsSequence[0]


def icc_header(ds: Dataset, offset: int, value: bytes) -> None:
    ds.ICCProfile = ds.ICCProfile[:offset] + value + ds.ICCProfile[offset + len(value) :]


def lut_data_short(ds: Dataset) -> None:
    ds.RedPaletteColorLookupTableData = ds.RedPaletteColorLookupTableData[:-4]


def lut_descriptor(ds: Dataset, red=None, bits=None, entries=None) -> None:
    for colour in ("Red", "Green", "Blue") if red is None else ("Red",):
        desc = [int(v) for v in getattr(ds, f"{colour}PaletteColorLookupTableDescriptor")]
        if bits is not None:
            desc[2] = bits
        if entries is not None:
            desc[0] = entries
            data = getattr(ds, f"{colour}PaletteColorLookupTableData")
            setattr(ds, f"{colour}PaletteColorLookupTableData", data[: 2 * entries])
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", desc)


@dataclass(frozen=True)
class Broken:
    """A rule, the file kind it is broken on, the change, and the violation expected."""

    id: str
    base: str
    change: Callable[[Dataset], None]
    keyword: str
    severity: str = "error"
    says: str = ""  # a piece of the message


def assert_breaks(violations: list[Violation], case: Broken) -> None:
    """``case`` gives its violation; nothing could not finish; rules cite PS3 and tags are well formed."""
    hits = [
        v for v in violations if v.keyword == case.keyword and v.severity == case.severity and case.says in v.message
    ]
    assert hits, f"expected {case.severity} on {case.keyword} ({case.says!r}); got:\n{show(violations)}"
    for v in violations:
        assert "could not finish" not in v.message, show(violations)
        assert v.rule.startswith(("PS3.", "decoding")), v
        if v.tag is not None:
            assert re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", v.tag), v
