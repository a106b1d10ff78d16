"""Write SEG files fast: the Per-frame Functional Groups Sequence as bytes, in bulk.

A classic SEG has one per-frame item per (segment, slice); building and
serialising one pydicom Dataset per frame is where Python writers spend their
time.  Frames differ only in a few values, so each item here is assembled
from byte pieces cached per slice (position, source reference) and per segment
(Segment Identification), plus the packed Dimension Index Values.  Everything
else in the file is written by pydicom.  Encoding: Explicit VR Little Endian
with defined lengths (also the inner encoding of the Deflated syntax).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from .lite import LONG_VRS

__all__ = ["PerFrameSpec", "write_seg_file"]

_PER_FRAME_TAG = 0x52009230
_ITEM = b"\xfe\xff\x00\xe0"


def _tag(tag: int) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF)


def _short(tag: int, vr: bytes, value: bytes) -> bytes:
    """An element with a 2-byte length (Explicit VR LE)."""
    return _tag(tag) + vr + struct.pack("<H", len(value)) + value


def _long(tag: int, vr: bytes, value: bytes) -> bytes:
    """An element with a 4-byte length (SQ, OB, UT ...)."""
    return _tag(tag) + vr + b"\0\0" + struct.pack("<I", len(value)) + value


def _pad(text: str, pad: bytes = b" ") -> bytes:
    raw = text.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def _item(body: bytes) -> bytes:
    return _ITEM + struct.pack("<I", len(body)) + body


def _sequence(tag: int, *items: bytes) -> bytes:
    return _long(tag, b"SQ", b"".join(_item(i) for i in items))


def _code(value: str, scheme: str, meaning: str) -> bytes:
    return (
        _short(0x00080100, b"SH", _pad(value))
        + _short(0x00080102, b"SH", _pad(scheme))
        + _short(0x00080104, b"LO", _pad(meaning))
    )


_DERIVATION_CODE = _sequence(0x00089215, _code("113076", "DCM", "Segmentation"))
_PURPOSE = _sequence(0x0040A170, _code("121322", "DCM", "Source image for image processing operation"))


@dataclass(eq=False)
class PerFrameSpec:
    """Values of every per-frame item: slice, segment and dimension index of each frame.

    ``position_text[k]`` are the ImagePositionPatient DS strings of slice k;
    ``sources[k]`` the (SOP Class, SOP Instance) UIDs of its source image or None.
    """

    frame_slices: np.ndarray
    frame_segments: Optional[np.ndarray]
    dimension_values: np.ndarray  # (F, 1) or (F, 2) uint32
    position_text: Sequence[Sequence[str]]
    sources: Sequence[Optional[tuple[str, str]]]

    def __len__(self) -> int:
        return len(self.frame_slices)

    # -- pydicom form (API users, tests) --------------------------------------
    def to_sequence(self) -> DicomSequence:
        """The Per-frame Functional Groups Sequence as pydicom Datasets."""
        derivations: dict[int, Dataset] = {}
        items = []
        for f, k in enumerate(self.frame_slices.tolist()):
            item = Dataset()
            src = self.sources[k]
            if src is not None:
                if k not in derivations:
                    derivations[k] = _derivation_dataset(*src)
                item.DerivationImageSequence = [derivations[k]]
            content = Dataset()
            content.DimensionIndexValues = [int(v) for v in self.dimension_values[f]]
            item.FrameContentSequence = [content]
            pos = Dataset()
            pos.ImagePositionPatient = list(self.position_text[k])
            item.PlanePositionSequence = [pos]
            if self.frame_segments is not None:
                seg_id = Dataset()
                seg_id.ReferencedSegmentNumber = int(self.frame_segments[f])
                item.SegmentIdentificationSequence = [seg_id]
            items.append(item)
        return DicomSequence(items)

    # -- byte form (writer) -----------------------------------------------------
    def encode(self) -> bytes:
        """The whole (5200,9230) element, Explicit VR Little Endian, defined lengths."""
        per_slice: dict[int, bytes] = {}
        per_segment: dict[int, bytes] = {}
        dims = np.ascontiguousarray(self.dimension_values, dtype="<u4")
        n_dims = dims.shape[1]
        content_head = _tag(0x00209157) + b"UL" + struct.pack("<H", 4 * n_dims)
        content_item_len = struct.pack("<I", 8 + 4 * n_dims)
        content_seq_head = _tag(0x00209111) + b"SQ\0\0" + struct.pack("<I", 16 + 4 * n_dims) + _ITEM
        dim_bytes = dims.tobytes()
        stride = 4 * n_dims
        segments = self.frame_segments.tolist() if self.frame_segments is not None else None
        items = []
        for f, k in enumerate(self.frame_slices.tolist()):
            head = per_slice.get(k)
            if head is None:
                src = self.sources[k]
                derivation = b""
                if src is not None:
                    source_item = (
                        _short(0x00081150, b"UI", _pad(src[0], b"\0"))
                        + _short(0x00081155, b"UI", _pad(src[1], b"\0"))
                        + _short(0x0028135A, b"CS", b"YES ")
                        + _PURPOSE
                    )
                    derivation = _sequence(0x00089124, _sequence(0x00082112, source_item) + _DERIVATION_CODE)
                position = _sequence(0x00209113, _short(0x00200032, b"DS", _pad("\\".join(self.position_text[k]))))
                head = per_slice[k] = (derivation, position)
            body = (
                head[0]
                + content_seq_head
                + content_item_len
                + content_head
                + dim_bytes[f * stride : (f + 1) * stride]
                + head[1]
            )
            if segments is not None:
                n = segments[f]
                seg = per_segment.get(n)
                if seg is None:
                    seg = per_segment[n] = _sequence(0x0062000A, _short(0x0062000B, b"US", struct.pack("<H", n)))
                body += seg
            items.append(_ITEM + struct.pack("<I", len(body)) + body)
        value = b"".join(items)
        return _tag(_PER_FRAME_TAG) + b"SQ\0\0" + struct.pack("<I", len(value)) + value


def _derivation_dataset(sop_class: str, sop_instance: str) -> Dataset:
    def code(value: str, scheme: str, meaning: str) -> Dataset:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
        return item

    src = Dataset()
    src.ReferencedSOPClassUID = sop_class
    src.ReferencedSOPInstanceUID = sop_instance
    src.SpatialLocationsPreserved = "YES"
    src.PurposeOfReferenceCodeSequence = [code("121322", "DCM", "Source image for image processing operation")]
    deriv = Dataset()
    deriv.SourceImageSequence = [src]
    deriv.DerivationCodeSequence = [code("113076", "DCM", "Segmentation")]
    return deriv


class _DeflatingWriter(io.RawIOBase):
    """A write-only stream whose content is raw-deflated into ``target`` on :meth:`finish`.

    Written data is buffered, then compressed in independent chunks on two
    threads (zlib-ng and ISA-L release the GIL): each chunk but the last ends with
    a full flush, so the concatenation is one valid deflate stream (as pigz does).
    """

    def __init__(self, target, level: int, threads: int = 2) -> None:
        self._target = target
        self._level = level
        self._threads = threads
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data) -> int:  # type: ignore[override]
        # Large buffers (the frame block) are kept as views, not copied: the caller keeps
        # them alive and unchanged until finish().
        view = memoryview(data).cast("B")
        self._parts.append(view if view.nbytes >= 1 << 20 else bytes(view))
        self._written += view.nbytes
        return view.nbytes

    def finish(self) -> None:
        from .._deflate import deflate_chunks

        parts, self._parts = self._parts, []
        for piece in deflate_chunks(parts, level=self._level, threads=self._threads):
            self._target.write(piece)


def write_seg_file(
    ds: Dataset,
    spec: Optional[PerFrameSpec],
    path: "os.PathLike[str] | str",
    *,
    pixels: Optional[tuple[np.ndarray, str]] = None,
    deflate_level: int = 6,
) -> None:
    """Write ``ds`` (without its per-frame sequence) plus ``spec``'s per-frame items to ``path``.

    ``pixels`` = (uint8 buffer, VR) is written as the native Pixel Data when the
    dataset holds none.  The caller handles atomicity (``path`` is normally a
    temporary file).  Implicit VR files, or datasets without a spec, go through
    pydicom entirely.
    """
    ts = ds.file_meta.TransferSyntaxUID
    if spec is None or ts == ImplicitVRLittleEndian:
        full = ds
        if spec is not None:
            full = _with_sequence(ds, spec)
        if pixels is not None:
            data = pixels[0].tobytes()
            full.PixelData = data + b"\0" if len(data) % 2 else data
            full["PixelData"].VR = pixels[1]
        full.save_as(path, enforce_file_format=True)
        return
    pre = Dataset()
    post = Dataset()
    for elem in ds:
        if elem.tag == _PER_FRAME_TAG:
            continue
        (pre if elem.tag < _PER_FRAME_TAG else post).add(elem)
    with open(path, "wb") as raw:
        raw.write(b"\0" * 128 + b"DICM")
        meta_fp = DicomFileLike(raw)
        meta_fp.is_little_endian = True
        meta_fp.is_implicit_VR = False
        write_file_meta_info(meta_fp, ds.file_meta, enforce_standard=True)
        deflater = _DeflatingWriter(raw, deflate_level) if ts == DeflatedExplicitVRLittleEndian else None
        sink = deflater if deflater is not None else raw
        fp = DicomFileLike(sink)
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        charset = ds.get("SpecificCharacterSet", None)
        _write(fp, pre, charset)
        sink.write(spec.encode())
        _write(fp, post, charset)
        if pixels is not None:
            if any(elem.tag > 0x7FE00010 for elem in post):
                raise ValueError("elements after Pixel Data are not supported by the bulk writer")
            data, vr = pixels
            n = data.nbytes
            sink.write(_tag(0x7FE00010) + vr.encode("ascii") + b"\0\0" + struct.pack("<I", n + n % 2))
            sink.write(memoryview(data))
            if n % 2:
                sink.write(b"\0")
        if deflater is not None:
            deflater.finish()


def _write(fp: DicomFileLike, ds: Dataset, charset) -> None:
    """Write ``ds`` (Explicit VR LE): our element encoder, or pydicom's for what it does not cover."""
    if not len(ds):
        return
    codec = _CODECS.get(str(charset).strip() if charset else "")
    if codec is not None:
        try:
            fp.write(_encode_dataset(ds, codec))
            return
        except _Unsupported:
            pass
    kwargs = {"parent_encoding": charset} if charset else {}
    write_dataset(fp, ds, **kwargs)


# --------------------------------------------------------------------------- top-level encoder
# pydicom's write_dataset costs about 1 ms per Segment Sequence item (0.1 s for 100 segments);
# the data sets built here hold plain values, encoded below exactly as pydicom encodes them
# (the byte-identity test in tests/test_fastwrite.py holds both to it).  Anything else (other
# character sets, raw or unusual elements) goes to pydicom.
_CODECS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_LONG = frozenset(vr.decode("ascii") for vr in LONG_VRS)
_TEXT = frozenset(("AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"))
_CHARSET_TEXT = frozenset(("LO", "LT", "PN", "SH", "ST", "UC", "UT"))
_BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}


class _Unsupported(Exception):
    pass


def _encode_dataset(ds: Dataset, codec: str, signed: bool = False) -> bytes:
    out = []
    signed = bool(ds.get("PixelRepresentation", int(signed)))
    for tag in sorted(ds.keys()):
        elem = ds[tag]  # RawDataElements (read from a file) are converted here
        if elem.is_undefined_length or (elem.VR == "SQ" and any(
                item.get("is_undefined_length_sequence_item", False) for item in (elem.value or ()))):
            raise _Unsupported("undefined length (encapsulated Pixel Data)")
        out.append(_encode_element(int(elem.tag), elem.VR, elem.value, codec, signed))
    return b"".join(out)


def _encode_element(tag: int, vr: str, value, codec: str, signed: bool = False) -> bytes:
    if vr == "US or SS":  # e.g. Pixel Padding Value: the sign follows Pixel Representation, as in pydicom
        vr = "SS" if signed else "US"
    if vr == "SQ":
        body = b"".join(_item(_encode_dataset(item, codec, signed)) for item in (value or ()))
        return _long(tag, b"SQ", body)
    raw = _encode_value(vr, value, codec)
    if len(raw) % 2:
        raw += b"\0" if vr in ("UI", "OB", "UN") else b" "
    vrb = vr.encode("ascii")
    return _long(tag, vrb, raw) if vr in _LONG else _short(tag, vrb, raw)


def _values(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]  # one value (str, number, PersonName, ...)


def _encode_value(vr: str, value, codec: str) -> bytes:
    if vr in _TEXT:
        parts = _values(value)
        if not all(isinstance(v, str) for v in parts) and vr != "PN":
            raise _Unsupported(vr)
        text = "\\".join(str(v) for v in parts)
        return text.encode(codec if vr in _CHARSET_TEXT else "ascii")
    if vr in ("DS", "IS"):
        parts = []
        for v in _values(value):
            original = getattr(v, "original_string", None)
            parts.append(original if isinstance(original, str) else str(v))
        return "\\".join(parts).encode("ascii")
    code = _BINARY.get(vr)
    if code is not None:
        values = _values(value)
        return struct.pack(f"<{len(values)}{code}", *values)
    if vr in ("OB", "OW", "UN"):
        if value is None:
            return b""
        if not isinstance(value, (bytes, bytearray)):
            raise _Unsupported(vr)
        return bytes(value)
    if vr == "AT":
        return b"".join(struct.pack("<HH", int(t) >> 16, int(t) & 0xFFFF) for t in _values(value))
    raise _Unsupported(vr)


def _with_sequence(ds: Dataset, spec: PerFrameSpec) -> Dataset:
    ds.PerFrameFunctionalGroupsSequence = spec.to_sequence()
    return ds
