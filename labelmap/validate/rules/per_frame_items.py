"""Per-frame items read one by one (small files or ``deep=True``): item counts, Frame Content, derivation codes.

Frames usually share their functional group bytes, so each distinct group is examined once
and its findings are reported for every frame that holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.datadict import tag_for_keyword

from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, frames_text, violation
from labelmap.validate.tables import FG
from labelmap.validate.values import get, is_empty, items, text

_SINGLE_ITEM_GROUPS = (
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "FrameContentSequence",
    "SegmentIdentificationSequence",
    "DerivationImageSequence",
)
_TAG_OF: dict[str, int] = {kw: tag_for_keyword(kw) for kw in _SINGLE_ITEM_GROUPS}  # type: ignore[misc]
_PER_FRAME = "PerFrameFunctionalGroupsSequence"
_DERIVATION = f"{_PER_FRAME}[{{first}}].DerivationImageSequence[1]"


def check(ctx: SegContext) -> Iterator[Violation]:
    if ctx.per_frame_items is None:
        return
    found: dict[tuple, list[int]] = {}
    cache: dict[tuple, list[tuple]] = {}  # (tag, raw bytes of the group) -> notes: frames often share groups
    groups = {_TAG_OF[kw]: kw for kw in _SINGLE_ITEM_GROUPS}
    content_tag = _TAG_OF["FrameContentSequence"]
    for f, item in enumerate(ctx.per_frame_items, start=1):
        if content_tag not in item:
            found.setdefault(("absent", "FrameContentSequence"), []).append(f)
        for tag, kw in groups.items():
            try:
                elem = item.get_item(tag)
            except Exception:
                elem = None
            if elem is None:
                continue
            raw = elem.value
            if kw != "DerivationImageSequence" and _one_raw_item(raw):
                continue  # exactly one item, seen from the bytes without parsing them
            key = (tag, bytes(raw)) if isinstance(raw, (bytes, bytearray)) else (tag, id(raw))
            notes = cache.get(key)
            if notes is None:
                notes = cache[key] = _group_notes(kw, get(item, kw))
            for note in notes:
                found.setdefault(note, []).append(f)
    for key, frames in found.items():
        yield _report(key, frames)


def _report(key: tuple, frames: list[int]) -> Violation:
    """The violation for one finding of :func:`_group_notes` (or an absent Frame Content) in ``frames``."""
    first, where = frames[0], frames_text(frames)
    derivation = _DERIVATION.format(first=first)
    kind = key[0]
    if kind == "absent":
        return violation(
            key[1],
            f"is absent in {where}",
            f"{FG} (Table A.51-2): Frame Content is mandatory, per frame",
            path=f"{_PER_FRAME}[{first}].{key[1]}",
            frame=first,
        )
    if kind == "count":
        return violation(
            key[1],
            f"holds {key[2]} items in {where}, expected exactly 1",
            "PS3.3 C.7.6.16.2 functional group macros: a single item",
            path=f"{_PER_FRAME}[{first}].{key[1]}",
            frame=first,
        )
    if kind == "derivation":
        found_code = f"{key[1][0][0]}, {key[1][0][1]}" if key[1] else "none"
        return violation(
            "DerivationCodeSequence",
            f"is ({found_code}) in {where}, expected (113076, DCM, Segmentation)",
            "PS3.3 A.51.5.1 Segmentation Functional Groups Description",
            path=f"{derivation}.DerivationCodeSequence",
            frame=first,
        )
    if kind == "no-source":
        return violation(
            "SourceImageSequence",
            f"is absent or empty in {where}",
            "PS3.3 C.7.6.16.2.6 Derivation Image Macro: Type 2 sequence of the source images",
            "warning",
            path=f"{derivation}.SourceImageSequence",
            frame=first,
        )
    if kind == "source-uid":
        return violation(
            key[1],
            f"is absent or empty in {where}",
            "PS3.3 C.7.6.16.2.6 Derivation Image Macro: Type 1",
            path=f"{derivation}.SourceImageSequence[1].{key[1]}",
            frame=first,
        )
    found_code = f"{key[1][0][0]}, {key[1][0][1]}" if key[1] else "none"  # "purpose"
    return violation(
        "PurposeOfReferenceCodeSequence",
        f"is ({found_code}) in {where}, expected (121322, DCM, Source image for image processing operation)",
        "PS3.3 A.51.5.1 Segmentation Functional Groups Description",
        path=f"{derivation}.SourceImageSequence[1].PurposeOfReferenceCodeSequence",
        frame=first,
    )


def _one_raw_item(raw: Any) -> bool:
    """True when the undecoded value of a sequence is exactly one item of defined length."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) < 8 or raw[:4] != b"\xfe\xff\x00\xe0":
        return False
    length = int.from_bytes(raw[4:8], "little")
    return length != 0xFFFFFFFF and 8 + length == len(raw)


def _codes(items_: list) -> list[tuple[str, str]]:
    return [(text(get(c, "CodeValue")), text(get(c, "CodingSchemeDesignator"))) for c in items_]


def _group_notes(keyword: str, value: Any) -> list[tuple]:
    """What is wrong with one functional group sequence of a per-frame item (no frame numbers)."""
    notes: list[tuple] = []
    groups = items(value)
    if keyword != "DerivationImageSequence":
        if len(groups) != 1:
            notes.append(("count", keyword, len(groups)))
        return notes
    for d in groups:
        codes = _codes(items(get(d, "DerivationCodeSequence")))
        if ("113076", "DCM") not in codes:
            notes.append(("derivation", tuple(codes[:1])))
        sources = items(get(d, "SourceImageSequence"))
        if not sources:
            notes.append(("no-source",))
        for src in sources:
            for kw in ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"):
                if is_empty(get(src, kw)):
                    notes.append(("source-uid", kw))
            purposes = _codes(items(get(src, "PurposeOfReferenceCodeSequence")))
            if ("121322", "DCM") not in purposes:
                notes.append(("purpose", tuple(purposes[:1])))
    return list(dict.fromkeys(notes))
