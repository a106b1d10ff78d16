"""Write SEG files fast, without pydicom: the top level by our element encoder, the
Per-frame Functional Groups Sequence as bytes, in bulk.

A classic SEG has one per-frame item per (segment, slice); building and
serialising one pydicom Dataset per frame is where Python writers spend their
time.  Frames differ only in a few values, so each item here is assembled
from byte pieces cached per slice (position, source reference) and per segment
(Segment Identification), plus the packed Dimension Index Values.  The rest of the
:class:`~labelmap.dicom.dataset.WriteDataset` is encoded as pydicom would encode it
(tests hold the two to the same bytes); pydicom writes only Implicit VR files and
text in character sets other than ASCII, Latin-1 and UTF-8.  Encoding: Explicit VR
Little Endian with defined lengths (also the inner encoding of the Deflated syntax).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labelmap.dicom.dataset import WriteDataset
from labelmap.dicom.read import LONG_VRS
from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

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
    frame_segments: np.ndarray | None
    dimension_values: np.ndarray  # (F, 1) or (F, 2) uint32
    position_text: Sequence[Sequence[str]]
    sources: Sequence[tuple[str, str] | None]

    def __len__(self) -> int:
        return len(self.frame_slices)

    # -- pydicom form (API users, tests) --------------------------------------
    def to_sequence(self) -> DicomSequence:
        """The Per-frame Functional Groups Sequence as pydicom Datasets."""
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence as DicomSequence

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
    from pydicom.dataset import Dataset

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
        from labelmap._util.deflate import deflate_chunks

        parts, self._parts = self._parts, []
        for piece in deflate_chunks(parts, level=self._level, threads=self._threads):
            self._target.write(piece)


def write_seg_file(ds: WriteDataset, path: os.PathLike[str] | str, *, deflate_level: int = 6) -> None:
    """Write ``ds`` with its per-frame items (``ds.frames``) and native pixels (``ds.pixels``) to ``path``.

    The caller handles atomicity (``path`` is normally a temporary file).  Implicit VR
    files go through pydicom entirely.
    """
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts == IMPLICIT_VR_LITTLE_ENDIAN:
        ds.to_pydicom().save_as(path, enforce_file_format=True)
        return
    pre = WriteDataset()
    post = WriteDataset()
    for elem in ds:
        if elem.tag == _PER_FRAME_TAG:
            continue
        if elem.tag > 0x7FE00010:
            raise ValueError("elements after Pixel Data are not supported by the bulk writer")
        (pre if elem.tag < _PER_FRAME_TAG else post)._elements[elem.tag] = elem
    charset = ds.get("SpecificCharacterSet", None)
    try:
        head, tail = _encode_part(pre, charset), _encode_part(post, charset)
    except _NeedsUnicode as exc:
        if charset:
            from labelmap.errors import InputError

            raise InputError(
                f"text {exc.args[0][:64]!r} cannot be written in the source series' Specific Character Set "
                f"{charset!r}; use characters of that set in the metadata JSON"
            ) from None
        # labels beyond ASCII without a character set from the source: declare UTF-8
        pre.SpecificCharacterSet = "ISO_IR 192"
        head, tail = _encode_part(pre, "ISO_IR 192"), _encode_part(post, "ISO_IR 192")
    with open(path, "wb") as raw:
        raw.write(b"\0" * 128 + b"DICM")
        raw.write(encode_file_meta(ds.file_meta))
        deflater = _DeflatingWriter(raw, deflate_level) if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN else None
        sink = deflater if deflater is not None else raw
        sink.write(head)
        if ds.frames is not None:
            sink.write(ds.frames.encode())
        sink.write(tail)
        if ds.pixels is not None and "PixelData" not in ds:
            data, vr = ds.pixels
            n = data.nbytes
            sink.write(_tag(0x7FE00010) + vr.encode("ascii") + b"\0\0" + struct.pack("<I", n + n % 2))
            sink.write(memoryview(data))
            if n % 2:
                sink.write(b"\0")
        if deflater is not None:
            deflater.finish()


def encode_file_meta(meta: WriteDataset) -> bytes:
    """The File Meta Information group (Explicit VR LE) with its group length first."""
    body = _encode_dataset(_without(meta, 0x00020000), "ascii")
    return _short(0x00020000, b"UL", struct.pack("<I", len(body))) + body


def _without(ds: WriteDataset, tag: int) -> WriteDataset:
    out = WriteDataset()
    out._elements.update((t, e) for t, e in ds._elements.items() if t != tag)
    return out


def _encode_part(ds: WriteDataset, charset) -> bytes:
    """``ds`` encoded (Explicit VR LE): our element encoder, or pydicom's for other character sets."""
    if not len(ds):
        return b""
    codec = _CODECS.get(_charset_key(charset))
    if codec is not None:
        try:
            return _encode_dataset(ds, codec)
        except _Unsupported:
            pass
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    kwargs = {"parent_encoding": charset} if charset else {}
    write_dataset(fp, ds.to_pydicom(per_frame=False, pixel_data=False), **kwargs)
    return fp.getvalue()


def _charset_key(charset) -> str:
    if not charset:
        return ""
    if isinstance(charset, (list, tuple)):
        return "\x00multiple" if len(charset) > 1 else str(charset[0]).strip()
    return str(charset).strip()


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


class _NeedsUnicode(Exception):
    """Text the data set's character set cannot hold."""


class _BadText(Exception):
    """Text outside the default repertoire in a VR that allows no other (UI, CS, DA ...)."""


def _encode_dataset(ds: WriteDataset, codec: str, signed: bool = False) -> bytes:
    out = []
    signed = bool(ds.get("PixelRepresentation", int(signed)))
    for elem in ds:
        if elem.raw is not None:  # copied from a source header as encoded
            out.append(_encoded(elem.tag, elem.VR, elem.raw))
        elif elem.is_undefined_length:
            if elem.VR not in ("OB", "OW") or not isinstance(elem.value, (bytes, bytearray)):
                raise _Unsupported("undefined length")
            # encapsulated Pixel Data: the items as given, then the sequence delimiter
            out.append(
                _tag(elem.tag)
                + elem.VR.encode("ascii")
                + b"\0\0\xff\xff\xff\xff"
                + bytes(elem.value)
                + b"\xfe\xff\xdd\xe0\0\0\0\0"
            )
        else:
            out.append(_encode_element(elem.tag, elem.VR, elem.value, codec, signed))
    return b"".join(out)


def _encode_element(tag: int, vr: str, value, codec: str, signed: bool = False) -> bytes:
    if vr == "US or SS":  # e.g. Pixel Padding Value: the sign follows Pixel Representation, as in pydicom
        vr = "SS" if signed else "US"
    if vr == "SQ":
        body = b"".join(_item(_encode_dataset(item, codec, signed)) for item in (value or ()))
        return _long(tag, b"SQ", body)
    try:
        raw = _encode_value(vr, value, codec)
    except _BadText as exc:
        from labelmap.errors import InputError

        raise InputError(
            f"attribute ({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr} value {exc.args[1][:64]!r} holds characters "
            f"a {vr} value cannot store (ASCII only); correct it in the input"
        ) from None
    return _encoded(tag, vr, raw)


def _encoded(tag: int, vr: str, raw: bytes) -> bytes:
    """The element for an encoded value, padded to even length as PS3.5 6.2 asks."""
    if len(raw) % 2:
        raw += b"\0" if vr in ("UI", "OB", "UN") else b" "
    vrb = vr.encode("ascii")
    return _long(tag, vrb, raw) if vr in _LONG else _short(tag, vrb, raw)


def _values(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]  # one value (str, number, PersonName, ...)


def _encode_value(vr: str, value, codec: str) -> bytes:
    if vr in _TEXT:
        parts = _values(value)
        if not all(isinstance(v, str) for v in parts) and vr != "PN":
            raise _Unsupported(vr)
        text = "\\".join(str(v) for v in parts)
        if vr not in _CHARSET_TEXT:
            try:  # the default repertoire, written as pydicom writes it
                return text.encode("latin-1")
            except UnicodeEncodeError:
                raise _BadText(vr, text) from None
        try:
            return text.encode(codec)
        except UnicodeEncodeError:
            raise _NeedsUnicode(text) from None
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
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        if value is None:
            return b""
        if not isinstance(value, (bytes, bytearray)):
            raise _Unsupported(vr)
        return bytes(value)
    if vr == "AT":
        return b"".join(struct.pack("<HH", int(t) >> 16, int(t) & 0xFFFF) for t in _values(value))
    raise _Unsupported(vr)
