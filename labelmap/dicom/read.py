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

import struct
from collections.abc import Iterator
from typing import Any, cast

from labelmap.dicom.dictionary import (
    CHARSET_TEXT_VRS,
    KEYWORDS,
    NUMBER_CODES,
    TAG_VR,
    TEXT_VRS,
    UNDEFINED_LENGTH,
    tag_str,
)
from labelmap.dicom.walk import Header, Walker

__all__ = ["LiteDataset", "LiteElement", "NeedsPydicom", "charset_of", "read_element"]

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


class LiteDataset:
    """Elements by tag, read by keyword like a pydicom Dataset (read-only)."""

    __slots__ = ("_elements",)

    def __init__(self, elements: dict[int, LiteElement]) -> None:
        self._elements = elements

    @staticmethod
    def _tag(key: str | int) -> int:
        if isinstance(key, int):
            return key
        try:
            return KEYWORDS[key][0]
        except KeyError:
            # a programming error, not a damaged file: extend KEYWORDS
            raise LookupError(f"{key!r} is not in labelmap.dicom.dictionary.KEYWORDS") from None

    def __contains__(self, key: str | int) -> bool:
        return self._tag(key) in self._elements

    def __getitem__(self, key: str | int) -> LiteElement:
        return self._elements[self._tag(key)]

    def __getattr__(self, keyword: str) -> Any:
        if keyword.startswith("_") or not keyword[:1].isupper():
            raise AttributeError(keyword)
        element = self._elements.get(self._tag(keyword))
        if element is None:
            raise AttributeError(f"data set has no {keyword}")
        return element.value

    def get(self, key: str | int, default: Any = None) -> Any:
        element = self._elements.get(self._tag(key))
        return default if element is None else element.value

    def __iter__(self) -> Iterator[LiteElement]:
        return iter(self._elements[t] for t in sorted(self._elements))

    def __len__(self) -> int:
        return len(self._elements)

    def __repr__(self) -> str:
        return f"LiteDataset({len(self._elements)} elements)"


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
    name = terms[0] if terms else ""
    if len(terms) > 1 or name not in _ENCODINGS:
        raise NeedsPydicom(f"Specific Character Set {raw!r}")
    return _ENCODINGS[name]


def read_element(walker: Walker, pos: int, limit: int, implicit: bool, encoding: str | None) -> tuple[LiteElement, int]:
    """The top-level element whose header is at ``pos`` and the offset after it.

    Raises
    ------
    DicomFormatError
        Damaged element (from ``walker``).
    NeedsPydicom
        A nested Specific Character Set the lite reader does not decode.
    """
    head = walker.header(pos, limit, implicit)
    if head[0] >> 16 == 0xFFFE:
        raise walker.error(pos, f"unexpected {tag_str(head[0])} among data elements")
    return _element(walker, pos, head, limit, implicit, encoding, 0)


def charset_of(element: LiteElement) -> str:
    """The Python codec for a Specific Character Set element (NeedsPydicom if not a simple one)."""
    return _charset(cast(bytes, element._raw))


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
