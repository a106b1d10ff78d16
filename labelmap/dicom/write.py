"""Write multi-frame DICOM files fast, without pydicom: the top level by our element encoder,
the Per-frame Functional Groups Sequence as bytes given by the caller, in bulk.

A classic SEG has one per-frame item per (segment, slice); building and
serialising one pydicom Dataset per frame is where Python writers spend their
time.  The IOD layer assembles those items from cached byte pieces (``ds.frames.encode()``,
see :mod:`labelmap.seg.perframe`) with the element helpers below.  The rest of the
:class:`~labelmap.dicom.dataset.WriteDataset` is encoded as pydicom would encode it
(tests hold the two to the same bytes); pydicom writes only Implicit VR files and
text in character sets other than ASCII, Latin-1 and UTF-8.  Encoding: Explicit VR
Little Endian with defined lengths (also the inner encoding of the Deflated syntax).
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from labelmap._util.progress import BYTES
from labelmap.dicom.dataset import WriteDataset
from labelmap.dicom.dictionary import (
    BYTES_VRS,
    CHARSET_TEXT_VRS,
    KEYWORD_OF,
    LONG_VRS,
    MULTIPLICITY,
    NUMBER_CODES,
    PER_FRAME_GROUPS,
    PIXEL_DATA,
    SEQUENCE_DELIMITER_BYTES,
    TEXT_VRS,
    tag_str,
)
from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from labelmap.dicom.vr import VRS, check, check_value, normalise_cs
from labelmap.errors import InputError

if TYPE_CHECKING:
    from labelmap._util.progress import Progress

__all__ = ["InvalidValue", "UnencodableText", "check_values", "encode_file_meta", "encode_header", "write_seg_file"]

ITEM_BYTES = b"\xfe\xff\x00\xe0"
#: Bytes written between two progress reports.
_REPORT_EVERY = 16 << 20


class UnencodableText(InputError):
    """Text that the data set's Specific Character Set cannot hold (``keyword``/``tag``: where).

    ``text`` and ``charset`` are kept for callers that phrase the advice in their own terms.
    """

    def __init__(self, text: str, charset: object, tag: int) -> None:
        super().__init__(
            f"text {text[:64]!r} cannot be written in Specific Character Set {charset!r}",
            keyword=KEYWORD_OF.get(tag),
            tag=tag,
        )
        self.text, self.charset = text, charset


class InvalidValue(InputError):
    """A value that breaks the rules of its VR (PS3.5 6.2); ``keyword``/``tag``: which attribute.

    ``problem`` (:class:`~labelmap.dicom.vr.Problem`) and ``item_path`` (where in the data set,
    e.g. ``SegmentSequence[2].SegmentLabel``) are kept for callers that name the input field.
    """

    def __init__(self, problem, tag: int, item_path: str, copied: bool) -> None:
        nested = "." in item_path
        where = f"in {item_path.rpartition('.')[0]}: " if nested else ""
        fix = "correct it in the source series" if copied else problem.fix
        origin = " (copied from the source series)" if copied else ""
        super().__init__(f"{where}{problem.what}{origin}: {fix}", keyword=KEYWORD_OF.get(tag), tag=tag)
        self.problem, self.item_path = problem, item_path


def check_values(ds: WriteDataset) -> None:
    """Check every text value of ``ds`` (items included) against its VR, and settle its character set.

    Code Strings that are only lower-case are written in upper case (``abdomen`` -> ``ABDOMEN``:
    the CS repertoire has no lower-case letters, PS3.5 6.2).  Text beyond what the declared
    Specific Character Set holds makes the whole data set UTF-8 (``ISO_IR 192``), the values
    copied from a source (kept as its bytes otherwise) re-encoded from their decoded text; see
    README "Text".  The per-frame items (``ds.frames``) hold numbers and the UIDs that the
    Referenced Series Sequence also holds, checked there.

    Raises
    ------
    InvalidValue
        A value that breaks its VR, naming the attribute and where it is.
    InputError
        A copied value that cannot be decoded with the source's character set (so it cannot be
        re-encoded without losing characters).
    """
    own: list[str] = []  # text we add beyond ASCII, in the character-set VRs
    _check_items(ds, "", own)
    _settle_charset(ds, own)


#: Value Multiplicity by tag (None: an attribute outside the dictionary, not checked).
_VM_OF = {tag: MULTIPLICITY.get(keyword, (1, 1)) for tag, keyword in KEYWORD_OF.items()}


def _where(path: str, tag: int) -> str:
    return f"{path}{KEYWORD_OF.get(tag) or tag_str(tag)}"


def _check_items(ds: WriteDataset, path: str, own: list[str]) -> None:
    for elem in ds._elements.values():
        vr = elem.VR
        if vr == "SQ":
            where = _where(path, elem.tag)
            for i, item in enumerate(elem.value or (), 1):
                if isinstance(item, WriteDataset):
                    _check_items(item, f"{where}[{i}].", own)
            continue
        spec = VRS.get(vr)
        if spec is None or elem.is_undefined_length:
            continue
        value = elem.value
        if vr == "CS" and not (type(value) is str and check_value("CS", value) is None):
            value = _upper_case(elem)
        problem = check(vr, value, vm=_VM_OF.get(elem.tag))
        if problem is not None:
            raise InvalidValue(problem, elem.tag, _where(path, elem.tag), elem.raw is not None)
        if spec.charset and elem.raw is None and not (type(value) is str and value.isascii()):
            own.extend(t for t in _texts(value) if not t.isascii())


def _texts(value) -> list[str]:
    return [str(v) for v in _values(value)]


def _upper_case(elem) -> object:
    """The CS value of ``elem``, upper-cased in place when only its case is wrong."""
    values = _texts(elem.value)
    fixed = [normalise_cs(v) for v in values]
    if not any(fixed):
        return elem.value
    new = [f if f is not None else v for f, v in zip(fixed, values)]
    elem.value, elem.raw = (new[0] if len(new) == 1 else new), None
    return elem.value


def _charset_terms(value) -> list[str]:
    return [str(v).strip() for v in _values(value)] or [""]


def _settle_charset(ds: WriteDataset, own: list[str]) -> None:
    """Keep the declared character set when it holds our text, else declare UTF-8 and re-encode copies."""
    terms = _charset_terms(ds.get("SpecificCharacterSet", None))
    codec = _CODECS.get(terms[0]) if len(terms) == 1 else None
    if not own:
        return  # ASCII: every character set holds it (value 1 of each is ASCII-based, PS3.5 6.1.2.5)
    if codec in ("latin-1", "utf-8"):
        try:
            for text in own:
                text.encode(codec)
            return
        except UnicodeEncodeError:
            pass
    for elem in ds:  # copied values sit at the top level
        if elem.raw is not None and elem.VR in CHARSET_TEXT_VRS:
            if any("\ufffd" in t for t in _texts(elem.value)):
                declared = "\\".join(terms)
                raise InputError(
                    f"copied from the source series, it does not decode in the source's Specific Character Set "
                    f"{declared!r}, so it cannot be re-encoded in UTF-8 (needed for {own[0][:40]!r}): "
                    "correct the source, or use text that its character set holds",
                    keyword=KEYWORD_OF.get(elem.tag),
                    tag=elem.tag,
                )
            elem.raw = None  # the decoded value is written, in UTF-8
    ds.SpecificCharacterSet = "ISO_IR 192"


def tag_bytes(tag: int) -> bytes:
    """A tag as written (Little Endian group, element)."""
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF)


def short_element(tag: int, vr: bytes, value: bytes) -> bytes:
    """An element with a 2-byte length (Explicit VR LE)."""
    return tag_bytes(tag) + vr + struct.pack("<H", len(value)) + value


def long_element(tag: int, vr: bytes, value: bytes) -> bytes:
    """An element with a 4-byte length (SQ, OB, UT ...)."""
    return tag_bytes(tag) + vr + b"\0\0" + struct.pack("<I", len(value)) + value


def pad_text(text: str, pad: bytes = b" ") -> bytes:
    """ASCII ``text`` padded to even length with ``pad``."""
    raw = text.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def item_bytes(body: bytes) -> bytes:
    """An item of defined length holding the encoded elements ``body``."""
    return ITEM_BYTES + struct.pack("<I", len(body)) + body


def sequence_bytes(tag: int, *items: bytes) -> bytes:
    """A sequence of defined length whose items hold the encoded elements ``items``."""
    return long_element(tag, b"SQ", b"".join(item_bytes(i) for i in items))


def write_seg_file(
    ds: WriteDataset,
    path: os.PathLike[str] | str,
    *,
    deflate_level: int = 6,
    threads: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Write ``ds`` with its per-frame items (``ds.frames``) and native pixels (``ds.pixels``) to ``path``.

    The caller handles atomicity (``path`` is normally a temporary file).  Implicit VR
    files go through pydicom entirely.

    Parameters
    ----------
    ds, path
        The data set and the file to write.
    deflate_level
        Compression level of the Deflated transfer syntax.
    threads
        Threads deflating at once (zlib-ng and ISA-L release the GIL); None: every core
        (:class:`~labelmap._util.resources.Resources`).
    progress
        Told the steps ``compressing`` (Deflated) and ``writing the SEG`` (in bytes, every 16 MB);
        None: no calls.

    Raises
    ------
    UnencodableText
        Text outside the data set's Specific Character Set (when it declares one).
    InputError
        Text outside the default repertoire in a VR that allows no other (UI, CS ...).
    """
    ts = str(ds.file_meta.TransferSyntaxUID)
    check_values(ds)
    if ts == IMPLICIT_VR_LITTLE_ENDIAN:
        ds.to_pydicom().save_as(path, enforce_file_format=True)
        return
    head, tail = encode_header(ds)
    # the pixels are passed as a view of the caller's array (not copied), and deflated where they lie
    parts: list[bytes | memoryview] = [head, b"" if ds.frames is None else ds.frames.encode(), tail]
    if ds.pixels is not None and "PixelData" not in ds:
        data, vr = ds.pixels
        n = data.nbytes
        parts.append(tag_bytes(PIXEL_DATA) + vr.encode("ascii") + b"\0\0" + struct.pack("<I", n + n % 2))
        parts += [memoryview(data), b"\0" * (n % 2)]
    if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        from labelmap._util.deflate import deflate_chunks

        if progress is not None:
            progress.step("compressing")
        parts = list(deflate_chunks(parts, level=deflate_level, threads=threads))
    with open(path, "wb") as raw:
        raw.write(b"\0" * 128 + b"DICM" + encode_file_meta(ds.file_meta))
        if progress is None:
            for part in parts:
                raw.write(part)
        else:
            _write_reporting(raw, parts, progress)


def _write_reporting(raw, parts: list[bytes | memoryview], progress: Progress) -> None:
    """Write ``parts`` in pieces of at most 16 MB, telling ``progress`` after each."""
    views = [memoryview(p).cast("B") for p in parts]
    progress.step("writing the SEG", sum(v.nbytes for v in views), BYTES)
    for view in views:
        for start in range(0, view.nbytes, _REPORT_EVERY):
            piece = view[start : start + _REPORT_EVERY]
            raw.write(piece)
            progress.advance(piece.nbytes, nbytes=piece.nbytes)


def encode_header(ds: WriteDataset) -> tuple[bytes, bytes]:
    """The elements of ``ds`` before and after the Per-frame Functional Groups Sequence (Explicit VR LE),
    Pixel Data and the per-frame items left out; call :func:`check_values` first.

    Raises
    ------
    UnencodableText
        Text outside the data set's Specific Character Set.
    """
    pre, post = WriteDataset(), WriteDataset()
    for elem in ds:
        if elem.tag == PER_FRAME_GROUPS:
            continue
        if elem.tag > PIXEL_DATA:
            raise ValueError("elements after Pixel Data are not supported by the bulk writer")
        (pre if elem.tag < PER_FRAME_GROUPS else post)._elements[elem.tag] = elem
    charset = ds.get("SpecificCharacterSet", None)  # settled by check_values: it holds every value
    try:
        return _encode_part(pre, charset), _encode_part(post, charset)
    except _NeedsUnicode as exc:  # not expected after check_values; never written as question marks
        raise UnencodableText(exc.args[0], charset, exc.args[1]) from None


def encode_file_meta(meta: WriteDataset) -> bytes:
    """The File Meta Information group (Explicit VR LE) with its group length first."""
    body = WriteDataset()
    body._elements.update((t, e) for t, e in meta._elements.items() if t != 0x00020000)
    encoded = _encode_dataset(body, "ascii")
    return short_element(0x00020000, b"UL", struct.pack("<I", len(encoded))) + encoded


def _encode_part(ds: WriteDataset, charset) -> bytes:
    """``ds`` encoded (Explicit VR LE): our element encoder, or pydicom's for other character sets."""
    if not len(ds):
        return b""
    terms = _charset_terms(charset)
    # another character set: what we add is ASCII (check_values), copied values are kept as their bytes
    codec = _CODECS.get(terms[0], "ascii") if len(terms) == 1 else "ascii"
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


# --------------------------------------------------------------------------- top-level encoder
# pydicom's write_dataset costs about 1 ms per Segment Sequence item (0.1 s for 100 segments);
# the data sets built here hold plain values, encoded below exactly as pydicom encodes them
# (the byte-identity test in tests/test_fastwrite.py holds both to it).  Anything else (other
# character sets, raw or unusual elements) goes to pydicom.
_CODECS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_LONG = frozenset(vr.decode("ascii") for vr in LONG_VRS)


class _Unsupported(Exception):
    pass


class _NeedsUnicode(Exception):
    """Text the data set's character set cannot hold: (text,) then (text, tag) once the element is known."""


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
            head = tag_bytes(elem.tag) + elem.VR.encode("ascii") + b"\0\0\xff\xff\xff\xff"
            out.append(head + bytes(elem.value) + SEQUENCE_DELIMITER_BYTES)
        else:
            out.append(_encode_element(elem.tag, elem.VR, elem.value, codec, signed))
    return b"".join(out)


def _encode_element(tag: int, vr: str, value, codec: str, signed: bool = False) -> bytes:
    if vr == "US or SS":  # e.g. Pixel Padding Value: the sign follows Pixel Representation, as in pydicom
        vr = "SS" if signed else "US"
    if vr == "SQ":
        body = b"".join(item_bytes(_encode_dataset(item, codec, signed)) for item in (value or ()))
        return long_element(tag, b"SQ", body)
    try:
        raw = _encode_value(vr, value, codec)
    except _NeedsUnicode as exc:
        raise _NeedsUnicode(exc.args[0], tag) from None
    except _BadText as exc:
        raise InputError(
            f"attribute {tag_str(tag)} {vr} value {exc.args[1][:64]!r} holds characters "
            f"a {vr} value cannot store (ASCII only); correct it in the input"
        ) from None
    return _encoded(tag, vr, raw)


def _encoded(tag: int, vr: str, raw: bytes) -> bytes:
    """The element for an encoded value, padded to even length as PS3.5 6.2 asks."""
    if len(raw) % 2:
        raw += b"\0" if vr in ("UI", "OB", "UN") else b" "
    vrb = vr.encode("ascii")
    return long_element(tag, vrb, raw) if vr in _LONG else short_element(tag, vrb, raw)


def _values(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]  # one value (str, number, PersonName, ...)


def _encode_value(vr: str, value, codec: str) -> bytes:
    if vr in TEXT_VRS:
        parts = _values(value)
        if not all(isinstance(v, str) for v in parts) and vr != "PN":
            raise _Unsupported(vr)
        text = "\\".join(str(v) for v in parts)
        if vr not in CHARSET_TEXT_VRS:
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
    code = NUMBER_CODES.get(vr)
    if code is not None:
        values = _values(value)
        return struct.pack(f"<{len(values)}{code}", *values)
    if vr in BYTES_VRS and (value is None or isinstance(value, (bytes, bytearray))):
        return bytes(value or b"")
    if vr == "AT":
        return b"".join(struct.pack("<HH", int(t) >> 16, int(t) & 0xFFFF) for t in _values(value))
    raise _Unsupported(vr)
