"""A mutable data set for the SEG writers, built and encoded without pydicom.

Importing pydicom costs about 0.12 s (it pulls in its pixel plug-ins, PIL and http), a
quarter of a whole LABELMAP write; building one pydicom Dataset per segment item costs
another 0.04 s for 100 segments.  The writers fill a :class:`WriteDataset` instead: keyword
attributes (``ds.Rows = 512``) backed by the tag / VR table of :mod:`labelmap.dicom.dictionary`,
values kept as given (str, int, lists, bytes, lists of data sets for sequences).
:mod:`labelmap.dicom.write` encodes it; :meth:`WriteDataset.to_pydicom` gives the same
content as a pydicom Dataset for API callers and for the paths pydicom still writes
(Implicit VR, compressed frames, unusual character sets).
"""

from __future__ import annotations

from typing import Any

from labelmap.dicom.dictionary import KEYWORDS, TEXT_VRS, KeywordAccess, tag_of, tag_str

__all__ = ["WriteDataset", "WriteElement", "copy_attribute"]


class WriteElement:
    """One element of a :class:`WriteDataset`: tag, VR, value, or its encoded bytes (``raw``)."""

    __slots__ = ("tag", "VR", "value", "raw", "is_undefined_length")

    def __init__(self, tag: int, vr: str, value: Any, raw: bytes | None = None) -> None:
        self.tag, self.VR, self.value, self.raw = tag, vr, value, raw
        #: encapsulated Pixel Data: ``value`` holds the items, the writer adds the delimiter
        self.is_undefined_length = False

    def __repr__(self) -> str:
        return f"WriteElement({tag_str(self.tag)} {self.VR})"


class WriteDataset(KeywordAccess[WriteElement]):
    """Elements by tag, set and read by keyword like a pydicom Dataset.

    Besides its elements it carries what the bulk writer needs: ``file_meta`` (a
    WriteDataset of group 0002), ``frames`` (the per-frame items as a
    :class:`~labelmap.seg.perframe.PerFrameSpec`) and ``pixels`` ((uint8 array, VR) of
    native Pixel Data, streamed to the file without a copy).
    """

    __slots__ = ("file_meta", "frames", "pixels")
    _OWN = frozenset(("_elements", *__slots__))

    def __init__(self) -> None:
        object.__setattr__(self, "_elements", {})
        for name in WriteDataset.__slots__:  # file_meta, frames, pixels
            object.__setattr__(self, name, None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in WriteDataset._OWN:
            object.__setattr__(self, name, value)
            return
        tag = tag_of(name)  # LookupError for a keyword outside the table: the writers only set those
        vr = KEYWORDS[name][1]
        if vr == "SQ":
            value = list(value)
        self._elements[tag] = WriteElement(tag, vr, value)

    def __delattr__(self, name: str) -> None:
        del self._elements[tag_of(name)]

    def keys(self) -> list[int]:
        return sorted(self._elements)

    # -- pydicom form ------------------------------------------------------------------------
    def to_pydicom(self, *, per_frame: bool = True, pixel_data: bool = True):
        """The same content as a pydicom Dataset (``file_meta`` included).

        ``per_frame`` adds the Per-frame Functional Groups Sequence from ``frames``;
        ``pixel_data`` the native Pixel Data from ``pixels``.
        """
        from pydicom.dataset import FileMetaDataset

        out = _pydicom_dataset(self)
        if self.file_meta is not None:
            out.file_meta = FileMetaDataset(_pydicom_dataset(self.file_meta))
        if per_frame and self.frames is not None and "PerFrameFunctionalGroupsSequence" not in self:
            out.PerFrameFunctionalGroupsSequence = self.frames.to_sequence()
        if pixel_data and self.pixels is not None and "PixelData" not in self:
            data, vr = self.pixels
            raw = data.tobytes()
            out.PixelData = raw + b"\0" if len(raw) % 2 else raw
            out["PixelData"].VR = vr
        return out


def _pydicom_dataset(ds: WriteDataset):
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.tag import Tag

    out = Dataset()
    for element in ds:
        tag = Tag(element.tag)
        if element.raw is not None:
            out[tag] = RawDataElement(tag, element.VR, len(element.raw), element.raw, 0, False, True)
        elif element.VR == "SQ":
            out[tag] = DataElement(tag, "SQ", DicomSequence([_pydicom_dataset(item) for item in element.value]))
        else:
            out[tag] = DataElement(tag, element.VR, element.value, is_undefined_length=element.is_undefined_length)
    return out


def copy_attribute(target: WriteDataset, source: Any, keyword: str) -> bool:
    """Copy ``keyword`` from a source header (pydicom Dataset or lite data set) if present.

    Text is copied as its encoded bytes (the source's characters, character set and number
    formatting kept exactly) along with what it decodes to; other values by value.  Returns
    whether it was present.
    """
    if keyword not in source:
        return False
    element = source[keyword]
    raw = getattr(element, "_raw", None)  # a lite element
    if raw is None and KEYWORDS[keyword][1] in TEXT_VRS and hasattr(source, "get_item"):
        item = source.get_item(keyword)  # pydicom: the element as read, if not decoded yet
        raw = item.value if type(item).__name__ == "RawDataElement" else None
        original = getattr(element.value, "original_string", None)  # a decoded PersonName keeps its bytes
        raw = original if raw is None and isinstance(original, bytes) else raw
    if isinstance(raw, bytes):  # written byte for byte; ``value`` is what it decodes to
        vr = KEYWORDS[keyword][1] if element.VR not in TEXT_VRS else element.VR
        target._elements[element.tag] = WriteElement(element.tag, vr, element.value, raw)
    else:
        setattr(target, keyword, element.value)
    return True
