"""A small read-only DICOM data set parsed without pydicom, for the fast read path.

Importing pydicom costs about 0.1 s, a quarter of a whole LABELMAP -> NRRD conversion.
:func:`read_element` turns Little Endian element bytes into :class:`LiteElement` s, held by a
:class:`LiteDataset` whose keyword access (``ds.Rows``, ``ds.get(...)``, ``"X" in ds``,
``ds["X"].value``) follows pydicom's value rules for the attributes in
:data:`~labelmap.dicom.dictionary.KEYWORDS`: text is stripped, multi-valued
text and numbers are lists, empty numbers are ``None``, sequences are lists of data sets.
Anything the reader would get wrong (a character set other than ASCII, Latin-1 or UTF-8) raises
:class:`NeedsPydicom`, and the caller falls back to pydicom.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Collection
from typing import Any, cast

from labelmap.dicom.dictionary import (
    CHARSET_TEXT_VRS,
    LONG_VRS,
    NUMBER_CODES,
    PIXEL_DATA,
    SPECIFIC_CHARACTER_SET,
    TAG_VR,
    TEXT_VRS,
    UNDEFINED_LENGTH,
    KeywordAccess,
    tag_str,
)
from labelmap.dicom.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN as _DEFLATED_LE
from labelmap.dicom.uids import EXPLICIT_VR_BIG_ENDIAN as _EXPLICIT_BE
from labelmap.dicom.uids import IMPLICIT_VR_LITTLE_ENDIAN as _IMPLICIT_LE
from labelmap.dicom.walk import Buffer, Header, Walker
from labelmap.errors import DicomFormatError

__all__ = [
    "LiteDataset",
    "LiteElement",
    "NeedsPydicom",
    "pixel_damage",
    "read_element",
    "read_image_header",
    "read_meta",
]

_TAG = struct.Struct("<HH").unpack_from
_ENCODINGS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_SINGLE_TEXT = frozenset(("LT", "ST", "UT", "UR"))  # backslash is not a value separator


class NeedsPydicom(Exception):
    """The data set uses something the lite reader does not decode; read it with pydicom."""


class LiteElement:
    """One element: tag, VR and the value, decoded from its bytes on first use."""

    __slots__ = ("tag", "VR", "_raw", "_value", "_decoded", "_encoding")

    def __init__(self, tag: int, vr: str, raw: bytes | list, encoding: str) -> None:
        self.tag, self.VR, self._raw, self._encoding = tag, vr, raw, encoding
        self._decoded = isinstance(raw, list)
        self._value = raw if self._decoded else None

    @property
    def value(self) -> Any:
        if not self._decoded:
            self._value = _decode(cast(bytes, self._raw), self.VR, self._encoding, self.tag)
            self._decoded = True
        return self._value

    def __repr__(self) -> str:
        return f"LiteElement({tag_str(self.tag)} {self.VR})"


class LiteDataset(KeywordAccess[LiteElement]):
    """Elements by tag, read by keyword like a pydicom Dataset (read-only)."""

    __slots__ = ()

    def __init__(self, elements: dict[int, LiteElement]) -> None:
        self._elements = elements


def _decode(raw: bytes, vr: str, encoding: str, tag: int) -> Any:
    if vr in TEXT_VRS:
        text = raw.decode(encoding if vr in CHARSET_TEXT_VRS else "latin-1", "replace")
        if vr == "UI":
            text = text.rstrip("\x00 ")
        if vr in _SINGLE_TEXT:
            return text.rstrip(" \x00")
        parts = [
            p.strip(" \x00") if vr not in ("LO", "SH", "PN", "UC") else p.rstrip(" \x00").lstrip(" ")
            for p in text.split("\\")
        ]
        return parts[0] if len(parts) == 1 else parts
    if vr in ("DS", "IS"):
        parts = [p.strip(" \x00") for p in raw.decode("latin-1").split("\\")]
        if parts == [""]:
            return None
        try:
            values = [float(p) if vr == "DS" else _int(p) for p in parts]
        except ValueError:
            raise NeedsPydicom(f"{vr} value {raw[:40]!r} of {tag_str(tag)}") from None
        return values[0] if len(values) == 1 else values
    if vr == "AT":  # a tag is stored as group, element: two 16-bit numbers
        if len(raw) % 4:
            raise NeedsPydicom(f"AT value of length {len(raw)}")
        pairs = struct.unpack(f"<{len(raw) // 2}H", raw)
        tags = [pairs[i] << 16 | pairs[i + 1] for i in range(0, len(pairs), 2)]
        return None if not tags else tags[0] if len(tags) == 1 else tags
    code = NUMBER_CODES.get(vr)
    if code is not None:
        size = struct.calcsize(code)
        if len(raw) % size:
            raise NeedsPydicom(f"{vr} value of length {len(raw)}")
        if not raw:
            return None
        values = list(struct.unpack(f"<{len(raw) // size}{code}", raw))
        return values[0] if len(values) == 1 else values
    return raw  # OB, OW, OF, OD, OL, OV, UN: bytes


def _int(text: str) -> int:
    value = float(text)
    if value != int(value):
        raise ValueError(text)
    return int(value)


def _charset(raw: bytes) -> str:
    terms = [t.strip(" \x00") for t in raw.decode("latin-1").split("\\")]
    if len(terms) > 1 or terms[0] not in _ENCODINGS:
        raise NeedsPydicom(f"Specific Character Set {raw!r}")
    return _ENCODINGS[terms[0]]


def read_element(
    walker: Walker, pos: int, limit: int, implicit: bool, encoding: str | None
) -> tuple[LiteElement, int, str | None]:
    """The top-level element whose header is at ``pos``, the offset after it, and the text
    encoding from there on (a Specific Character Set element sets it).

    Raises
    ------
    DicomFormatError
        Damaged element (from ``walker``).
    NeedsPydicom
        A Specific Character Set the lite reader does not decode.
    """
    head = walker.header(pos, limit, implicit)
    if head[0] >> 16 == 0xFFFE:
        raise walker.error(pos, f"unexpected {tag_str(head[0])} among data elements")
    element, end = _element(walker, pos, head, limit, implicit, encoding, 0)
    if element.tag == SPECIFIC_CHARACTER_SET:
        encoding = _charset(cast(bytes, element._raw))
    return element, end, encoding


def _element(
    walker: Walker, pos: int, head: Header, limit: int, implicit: bool, encoding: str | None, depth: int
) -> tuple[LiteElement, int]:
    tag, vr_b, length, vpos = head
    known = TAG_VR.get(tag)
    vr = vr_b.decode("latin-1") if vr_b is not None else (known or "UN")
    if vr == "UN" and known is not None:
        vr = known  # like pydicom: UN of a known tag is read with the dictionary VR
    if vr != "SQ" and length != UNDEFINED_LENGTH:
        end = walker.value_end(pos, tag, vpos, length, limit)
        return LiteElement(tag, vr, bytes(walker.buf[vpos:end]), encoding or "latin-1"), end
    if vr not in ("SQ", "UN"):
        raise walker.error(pos, f"element {tag_str(tag)} with VR {vr} has an undefined length")
    inner = implicit or vr_b == b"UN"
    items: list[LiteDataset] = []

    def item(ipos: int, ilimit: int) -> int:
        ivpos, iend, ilim = walker.item(ipos, ilimit)
        elements: dict[int, LiteElement] = {}

        def element(epos: int, ehead: Header) -> int:
            elements[ehead[0]], after = _element(walker, epos, ehead, ilim, inner, encoding, depth + 1)
            return after

        after = walker.elements(ivpos, iend, ilim, inner, element)
        items.append(LiteDataset(elements))
        return after

    end = walker.sequence(vpos, length, limit, depth + 1, item)
    return LiteElement(tag, "SQ", items, encoding or "latin-1"), end


# --------------------------------------------------------------------------- file level
def read_meta(buf: Buffer, name: str) -> tuple[LiteDataset, int]:
    """File Meta Information and the offset where the data set starts (DicomFormatError if not DICOM)."""
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise DicomFormatError("not a DICOM file (no 'DICM' prefix at byte offset 128)", path=name)
    walker = Walker(buf, name)
    pos, elements = 132, {}
    while pos + 8 <= walker.size and _TAG(buf, pos)[0] == 0x0002:
        element, pos, _ = read_element(walker, pos, walker.size, False, None)
        elements[element.tag] = element
    if pos + 8 > walker.size:
        where = "inside" if pos < walker.size else "at the end of"
        raise DicomFormatError(
            f"file truncated {where} the File Meta Information at byte offset {pos} ({walker.size} bytes)", path=name
        )
    return LiteDataset(elements), pos


def read_image_header(
    path: str | os.PathLike, tags: Collection[int] | None = None
) -> tuple[LiteDataset, LiteDataset, str | None]:
    """File Meta Information and the elements before Pixel Data of one DICOM file, without pydicom.

    ``tags``: keep only these top-level elements; the others are skipped by their length
    (their headers still checked), which is 4x faster on CT headers of ~60 elements.

    Returns (meta, data set, damage): ``damage`` says why the Pixel Data is incomplete (the
    file ends before or inside it), else None.  Reads the first 64 KB, and maps the file
    only when the elements run further.

    Raises
    ------
    NeedsPydicom
        What it leaves to pydicom (Deflated or Big Endian data sets, unusual character sets).
    DicomFormatError
        Files that are not DICOM or are damaged.
    """
    name = str(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        buf = fh.read(min(size, 1 << 16))
        try:
            return _image_header(buf, name, size, tags)
        except DicomFormatError:
            if len(buf) >= size:
                raise
        # the elements run further: map the file (values skipped by length are never touched)
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # an address-space limit below the file's size
            raise DicomFormatError(f"cannot map the file ({exc})", path=name) from None
        with mm:
            return _image_header(mm, name, size, tags)


def _image_header(
    buf: Buffer, name: str, size: int, tags: Collection[int] | None = None
) -> tuple[LiteDataset, LiteDataset, str | None]:
    meta, pos = read_meta(buf, name)
    ts = str(meta.get("TransferSyntaxUID", "") or "").rstrip("\x00 ")
    if ts in ("", _DEFLATED_LE, _EXPLICIT_BE):
        raise NeedsPydicom(f"transfer syntax {ts or '(none)'}")
    implicit = ts == _IMPLICIT_LE
    walker = Walker(buf, name)
    elements: dict = {}
    encoding: str | None = None
    while pos < walker.size:
        if pos + 8 > walker.size:
            raise walker.error(pos, "file truncated inside an element header")
        group, elem = _TAG(buf, pos)
        tag = group << 16 | elem
        if tag >= PIXEL_DATA:
            if pos + 12 > walker.size and walker.size < size:  # cut by the partial read: read it all
                raise walker.error(pos, "Pixel Data header past the bytes read")
            return meta, LiteDataset(elements), pixel_damage(buf[pos : pos + 12], pos, size, implicit)
        if tags is not None and tag not in tags and tag != SPECIFIC_CHARACTER_SET:
            _, _, length, vpos = walker.header(pos, walker.size, implicit)
            if length != UNDEFINED_LENGTH:
                pos = walker.value_end(pos, tag, vpos, length, walker.size)
                continue
        element, pos, encoding = read_element(walker, pos, walker.size, implicit, encoding)
        if tags is None or element.tag in tags:
            elements[element.tag] = element
    if walker.size < size:  # stopped at the end of the bytes read, not of the file
        raise walker.error(pos, "element runs past the bytes read")
    return meta, LiteDataset(elements), pixel_damage(b"", pos, size, implicit)


def pixel_damage(head: bytes, pos: int, size: int, implicit: bool, little: bool = True) -> str | None:
    """Why the Pixel Data of a file of ``size`` bytes is incomplete, or None.

    ``head`` holds the (up to 12) bytes at ``pos``, where the elements before Pixel Data end:
    none when the file ends there.  Only the length of a (7FE0,xxxx) element is checked, and
    not when it is undefined (encapsulated).
    """
    if not head:
        return "it ends before its Pixel Data"
    order = "<" if little else ">"
    if len(head) < 8 or (not implicit and head[4:6] in LONG_VRS and len(head) < 12):
        return "it ends inside its Pixel Data element"
    if struct.unpack_from(order + "H", head)[0] != PIXEL_DATA >> 16:
        return None
    if implicit:
        length, start = struct.unpack_from(order + "I", head, 4)[0], pos + 8
    elif head[4:6] in LONG_VRS:
        length, start = struct.unpack_from(order + "I", head, 8)[0], pos + 12
    else:
        length, start = struct.unpack_from(order + "H", head, 6)[0], pos + 8
    if length == UNDEFINED_LENGTH or start + length <= size:
        return None
    return f"its Pixel Data holds {size - start} of {length} bytes"
