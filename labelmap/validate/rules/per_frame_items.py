"""Per-frame items read one by one (small files or ``deep=True``): item counts, Frame Content, derivation codes.

Frames usually share their functional group bytes, so each distinct group is examined once
and its findings are reported for every frame that holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from pydicom.datadict import tag_for_keyword

from labelmap.validate.context import SegContext
from labelmap.validate.report import Severity, Violation, frames_text, violation
from labelmap.validate.tables import FG, PER_FRAME
from labelmap.validate.values import get, is_empty, items, text

_GROUPS: dict[int, str] = {
    tag_for_keyword(kw): kw  # type: ignore[misc]
    for kw in "PlanePositionSequence PlaneOrientationSequence PixelMeasuresSequence FrameContentSequence "
    "SegmentIdentificationSequence DerivationImageSequence".split()
}
_FRAME_CONTENT = 0x00209111
_DERIVATION = "DerivationImageSequence[1]."
_SOURCE = f"{_DERIVATION}SourceImageSequence[1]."
_A51 = "PS3.3 A.51.5.1 Segmentation Functional Groups Description"
_MACRO = "PS3.3 C.7.6.16.2.6 Derivation Image Macro"
_SINGLE_ITEM = "PS3.3 C.7.6.16.2 functional group macros: a single item"


class _Note(NamedTuple):
    """One finding in a per-frame item; the frames that hold it complete the violation."""

    keyword: str
    at: str  # the attribute's place in the per-frame item, before its keyword
    head: str  # the message before " in <frames>"
    rule: str
    tail: str = ""  # the message after the frames
    severity: Severity = "error"


_NO_FRAME_CONTENT = _Note(
    "FrameContentSequence", "", "is absent", f"{FG} (Table A.51-2): Frame Content is mandatory, per frame"
)


def check(ctx: SegContext) -> Iterator[Violation]:
    if ctx.per_frame_items is None:
        return
    found: dict[_Note, list[int]] = {}
    cache: dict[tuple, list[_Note]] = {}  # (tag, raw bytes of the group) -> notes: frames often share groups
    for f, item in enumerate(ctx.per_frame_items, start=1):
        if _FRAME_CONTENT not in item:
            found.setdefault(_NO_FRAME_CONTENT, []).append(f)
        for tag, kw in _GROUPS.items():
            try:
                raw = item.get_item(tag).value
            except Exception:
                continue  # absent (get_item gives None) or damaged
            if kw != "DerivationImageSequence" and _one_raw_item(raw):
                continue  # exactly one item, seen from the bytes without parsing them
            key = (tag, bytes(raw)) if isinstance(raw, (bytes, bytearray)) else (tag, id(raw))
            if key not in cache:
                cache[key] = _group_notes(kw, get(item, kw))
            for note in cache[key]:
                found.setdefault(note, []).append(f)
    for note, frames in found.items():
        yield violation(
            note.keyword,
            f"{note.head} in {frames_text(frames)}{note.tail}",
            note.rule,
            note.severity,
            path=f"{PER_FRAME}[{frames[0]}].{note.at}{note.keyword}",
            frame=frames[0],
        )


def _one_raw_item(raw: Any) -> bool:
    """True when the undecoded value of a sequence is exactly one item of defined length."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) < 8 or raw[:4] != b"\xfe\xff\x00\xe0":
        return False
    length = int.from_bytes(raw[4:8], "little")
    return length != 0xFFFFFFFF and 8 + length == len(raw)


def _codes(items_: list) -> tuple[list[tuple[str, str]], str]:
    """The (value, scheme) pairs of code items, and the first one as text ("none" without one)."""
    codes = [(text(get(c, "CodeValue")), text(get(c, "CodingSchemeDesignator"))) for c in items_]
    return codes, ", ".join(codes[0]) if codes else "none"


def _group_notes(keyword: str, value: Any) -> list[_Note]:
    """What is wrong with one functional group sequence of a per-frame item (no frame numbers)."""
    groups = items(value)
    if keyword != "DerivationImageSequence":
        if len(groups) == 1:
            return []
        return [_Note(keyword, "", f"holds {len(groups)} items", _SINGLE_ITEM, ", expected exactly 1")]
    notes = []
    for d in groups:
        codes, first = _codes(items(get(d, "DerivationCodeSequence")))
        if ("113076", "DCM") not in codes:
            expected = ", expected (113076, DCM, Segmentation)"
            notes.append(_Note("DerivationCodeSequence", _DERIVATION, f"is ({first})", _A51, expected))
        sources = items(get(d, "SourceImageSequence"))
        if not sources:
            rule = f"{_MACRO}: Type 2 sequence of the source images"
            notes.append(_Note("SourceImageSequence", _DERIVATION, "is absent or empty", rule, severity="warning"))
        for src in sources:
            for kw in ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"):
                if is_empty(get(src, kw)):
                    notes.append(_Note(kw, _SOURCE, "is absent or empty", f"{_MACRO}: Type 1"))
            codes, first = _codes(items(get(src, "PurposeOfReferenceCodeSequence")))
            if ("121322", "DCM") not in codes:
                expected = ", expected (121322, DCM, Source image for image processing operation)"
                notes.append(_Note("PurposeOfReferenceCodeSequence", _SOURCE, f"is ({first})", _A51, expected))
    return list(dict.fromkeys(notes))
