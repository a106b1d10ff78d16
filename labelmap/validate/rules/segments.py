"""Segment Sequence: the Segment Description macro (C.8.20.4) and the Segment Numbers (C.8.20.2.4)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial

from pydicom.dataset import Dataset

from labelmap.dicom.vr import is_urn
from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, values_text, violation
from labelmap.validate.tables import CODE, SEG_IMAGE, SEGMENT
from labelmap.validate.values import MISSING, as_int, get, is_empty, items, text, upper_text


def check(ctx: SegContext) -> Iterator[Violation]:
    ds, spec = ctx.ds, ctx.type_spec
    value = get(ds, "SegmentSequence")
    segments = items(value)
    if not segments:
        found = "is absent" if value is MISSING else "holds no items"
        yield violation("SegmentSequence", found, f"{SEG_IMAGE}: Type 1, one or more items")
        return
    no_cielab = upper_text(ds, "PhotometricInterpretation") == "PALETTE COLOR" and "PALETTE COLOR" in spec.photometric
    for i, item in enumerate(segments, start=1):
        yield from _segment(item, i, ctx.segment_numbers, no_cielab)
    numbers = sorted(ctx.segment_numbers)
    if spec.segment_identification and numbers and numbers != list(range(1, len(numbers) + 1)):
        yield violation(
            "SegmentNumber",
            f"Segment Numbers are {values_text(numbers)}, expected 1..{len(numbers)}",
            "PS3.3 C.8.20.2.4 Segment Number: BINARY and FRACTIONAL numbers start at 1 and increase by 1",
            path="SegmentSequence[*].SegmentNumber",
        )
    if spec.segment_identification:
        return
    # LABELMAP: pixel values are Segment Numbers, the Pixel Padding Value is the background
    bits = as_int(get(ds, "BitsStored"))
    too_big = [n for n in numbers if bits in (8, 16) and n >= 1 << bits]
    if too_big:
        yield violation(
            "SegmentNumber",
            f"{values_text(too_big)} cannot occur in {bits}-bit pixels",
            f"{SEG_IMAGE} (C.8.20.2.3.3): a LABELMAP pixel value is a Segment Number",
            "warning",
            path="SegmentSequence[*].SegmentNumber",
            segment=too_big[0],
        )
    ppv = as_int(get(ds, "PixelPaddingValue"))
    if ppv is not None and ppv not in ctx.segment_numbers:
        yield violation(
            "PixelPaddingValue",
            f"{ppv} (background) has no Segment Sequence item",
            f"{SEG_IMAGE} (Supplement 243): the background Segment Number is described like any other",
            "warning",
            segment=ppv,
        )


def _segment(item: Dataset, i: int, first_use: Mapping[int, int], no_cielab: bool) -> Iterator[Violation]:
    """Segment Sequence item ``i``; ``first_use`` maps each Segment Number to the first item with it."""
    path = f"SegmentSequence[{i}]"
    seg = as_int(get(item, "SegmentNumber"))
    bad = partial(violation, item=path, segment=seg)
    if seg is None:
        yield bad("SegmentNumber", "is absent or not a number", f"{SEGMENT}: Type 1")
    elif first_use.get(seg, i) != i:  # a damaged item may read differently the second time
        found = f"{seg} is also used by SegmentSequence[{first_use[seg]}]"
        yield bad("SegmentNumber", found, f"{SEGMENT}: Segment Number is unique within the instance")
    if is_empty(get(item, "SegmentLabel")):
        yield bad("SegmentLabel", "is absent or empty", f"{SEGMENT}: Type 1")
    algorithm = text(get(item, "SegmentAlgorithmType"))
    if algorithm not in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        found = f"is {algorithm or 'absent'}, expected AUTOMATIC, SEMIAUTOMATIC or MANUAL"
        yield bad("SegmentAlgorithmType", found, f"{SEGMENT}: Type 1, enumerated values")
    if algorithm and algorithm != "MANUAL" and is_empty(get(item, "SegmentAlgorithmName")):
        found = f"is absent or empty (Segment Algorithm Type is {algorithm})"
        yield bad(
            "SegmentAlgorithmName", found, f"{SEG_IMAGE}: Type 1C, required unless Segment Algorithm Type is MANUAL"
        )
    for kw in ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"):
        codes = items(get(item, kw))
        if len(codes) != 1:
            yield bad(kw, f"holds {len(codes)} items, expected exactly 1", f"{SEGMENT}: Type 1, a single item")
        for j, code in enumerate(codes, start=1):
            yield from _code(code, f"{path}.{kw}[{j}]", seg)
            if kw == "SegmentedPropertyTypeCodeSequence":
                modifiers = items(get(code, "SegmentedPropertyTypeModifierCodeSequence"))
                for k, modifier in enumerate(modifiers, 1):
                    yield from _code(modifier, f"{path}.{kw}[{j}].SegmentedPropertyTypeModifierCodeSequence[{k}]", seg)
    for j, code in enumerate(items(get(item, "AnatomicRegionSequence")), start=1):
        yield from _code(code, f"{path}.AnatomicRegionSequence[{j}]", seg)
    for kw, other, name in (
        ("TrackingUID", "TrackingID", "Tracking ID"),
        ("TrackingID", "TrackingUID", "Tracking UID"),
    ):
        if get(item, other) is not MISSING and is_empty(get(item, kw)):
            yield bad(kw, f"is absent while {name} is present", f"{SEGMENT}: Type 1C, each requires the other")
    lab = get(item, "RecommendedDisplayCIELabValue")
    if lab is not MISSING and no_cielab:
        yield bad(
            "RecommendedDisplayCIELabValue",
            "is present in a PALETTE COLOR label map",
            f"{SEG_IMAGE}: not present when Segmentation Type is LABELMAP and Photometric "
            "Interpretation is PALETTE COLOR (the palette gives the colours)",
        )
    elif lab is not MISSING and not (hasattr(lab, "__len__") and len(lab) == 3):
        yield bad("RecommendedDisplayCIELabValue", f"{lab!r} does not hold 3 values (L*, a*, b*)", f"{SEG_IMAGE}: VM 3")


_CODE_KEYWORDS = ("CodeValue", "LongCodeValue", "URNCodeValue", "CodingSchemeDesignator", "CodeMeaning")


def _code(item: Dataset, path: str, segment: int | None) -> Iterator[Violation]:
    """Code Sequence macro (8.8) of a Segment Description."""
    bad = partial(violation, item=path, segment=segment)
    values = {kw: get(item, kw) for kw in _CODE_KEYWORDS}  # each read once: 65,535 segments hold 2 codes or more
    if all(is_empty(values[kw]) for kw in ("CodeValue", "LongCodeValue", "URNCodeValue")):
        yield bad("CodeValue", "is absent (nor Long Code Value or URN Code Value)", f"{CODE}: Type 1C ({SEGMENT})")
    long_value = text(values["LongCodeValue"])
    if long_value and not is_urn(long_value) and len(long_value) <= 16:
        yield bad(
            "LongCodeValue",
            f"holds {long_value!r}, 16 characters or fewer",
            f"{CODE}: a code value of up to 16 characters goes in Code Value, not Long Code Value",
        )
    present = [kw for kw in ("CodeValue", "LongCodeValue", "URNCodeValue") if not is_empty(values[kw])]
    if len(present) > 1:
        yield bad(present[1], f"is present with {present[0]}", f"{CODE}: the code value is in one of them only")
    coded = not all(is_empty(values[kw]) for kw in ("CodeValue", "LongCodeValue"))
    if coded and is_empty(values["CodingSchemeDesignator"]):
        yield bad("CodingSchemeDesignator", "is absent or empty", f"{CODE}: Type 1C ({SEGMENT})")
    if is_empty(values["CodeMeaning"]):
        yield bad("CodeMeaning", "is absent or empty", f"{CODE}: Type 1 ({SEGMENT})")
