"""Multi-frame Dimension Module (C.7.6.17) and the Dimension Index Values of each frame (C.7.6.16.2.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import partial

import numpy as np
from pydicom.dataset import Dataset

from labelmap.validate.context import SegContext
from labelmap.validate.report import Severity, Violation, frames_text, keyword_of, tag_text, violation
from labelmap.validate.tables import DIM, DIMENSION_INDEX, DIMENSION_ORGANIZATION, FG, PER_FRAME, UNLESS_TILED
from labelmap.validate.values import MISSING, as_int, get, items, text

# Dimension Index Pointer -> the functional group sequence that holds it
_POINTER_GROUPS = {
    0x00200032: 0x00209113,  # ImagePositionPatient in PlanePositionSequence
    0x0062000B: 0x0062000A,  # ReferencedSegmentNumber in SegmentIdentificationSequence
    0x00209056: 0x00209111,  # StackID in FrameContentSequence
    0x00209057: 0x00209111,  # InStackPositionNumber in FrameContentSequence
    0x0048021E: 0x0048021A,  # ColumnPositionInTotalImagePixelMatrix in PlanePositionSlideSequence
    0x0048021F: 0x0048021A,  # RowPositionInTotalImagePixelMatrix in PlanePositionSlideSequence
}
_REFERENCED_SEGMENT_NUMBER = 0x0062000B
_VALUES_RULE = "PS3.3 C.7.6.16.2.2 Frame Content Macro"
_VALUES_REQUIRED = f"{_VALUES_RULE}: Type 1C, required when a Dimension Index Sequence exists"


def check(ctx: SegContext) -> Iterator[Violation]:
    ds = ctx.ds
    organisation = items(get(ds, "DimensionOrganizationSequence"))
    if not organisation:
        yield violation("DimensionOrganizationSequence", "is absent or empty", f"{DIM}: Type 1")
    for i, item in enumerate(organisation, start=1):
        yield from DIMENSION_ORGANIZATION.check(item, f"DimensionOrganizationSequence[{i}]")
    uids = {u.strip() for u in (get(item, "DimensionOrganizationUID") for item in organisation) if isinstance(u, str)}
    index = items(get(ds, "DimensionIndexSequence"))
    if not index and not ctx.tiled_full:
        yield violation("DimensionIndexSequence", "is absent or empty", f"{DIM}: {UNLESS_TILED}")
    for i, item in enumerate(index, start=1):
        yield from _index_item(ctx, item, f"DimensionIndexSequence[{i}]", uids)
    if ctx.table is not None and index:
        yield from _index_values(ctx.table.dimension_index_values, len(index))


def _index_item(ctx: SegContext, item: Dataset, path: str, uids: set[str]) -> Iterator[Violation]:
    """One Dimension Index Sequence item: its pointers and organization."""
    yield from DIMENSION_INDEX.check(item, path)
    bad = partial(violation, item=path)
    pointer = as_int(get(item, "DimensionIndexPointer"))
    group = get(item, "FunctionalGroupPointer")
    if group is MISSING:
        yield bad(
            "FunctionalGroupPointer", "is absent", f"{DIM}: Type 1C, required for attributes in functional groups"
        )
    uid = text(get(item, "DimensionOrganizationUID"))
    if not uid:
        yield bad("DimensionOrganizationUID", "is absent or empty", f"{DIM}: Type 1")
    elif uids and uid not in uids:
        found = f"{uid} is not in the Dimension Organization Sequence"
        yield bad("DimensionOrganizationUID", found, f"{DIM}: each index belongs to a declared organization")
    if pointer is None:
        return
    if pointer == _REFERENCED_SEGMENT_NUMBER and not ctx.type_spec.segment_identification:
        yield bad(
            "DimensionIndexPointer",
            "is Referenced Segment Number (0062,000B) in a LABELMAP",
            f"{FG} (Table A.51-2): a LABELMAP has no Segment Identification Sequence to index",
        )
    expected = _POINTER_GROUPS.get(pointer)
    group_tag = as_int(group)
    if expected is not None and group_tag is not None and group_tag != expected:
        yield bad(
            "FunctionalGroupPointer",
            f"is {tag_text(group_tag)} but {keyword_of(pointer)} {tag_text(pointer)} lives in "
            f"{keyword_of(expected)} {tag_text(expected)}",
            f"{DIM}: the pointer names the functional group sequence that holds the indexed attribute",
        )


def _values_violation(message: str, rule: str, frame: int | None = None, severity: Severity = "error") -> Violation:
    path = f"{PER_FRAME}[{frame or '*'}].FrameContentSequence[1].DimensionIndexValues"
    return violation("DimensionIndexValues", message, rule, severity, path=path, frame=frame)


def _index_values(values: list | None, n_dims: int) -> Iterator[Violation]:
    """Dimension Index Values of each frame: present, one per dimension, telling frames apart."""
    if values is None:
        yield _values_violation(f"is absent from every frame ({n_dims} dimension(s) declared)", _VALUES_REQUIRED)
        return
    lengths = np.array([len(v) for v in values])
    absent = np.flatnonzero(lengths == 0)
    if absent.size:
        yield _values_violation(f"is absent in {frames_text(absent + 1)}", _VALUES_REQUIRED, int(absent[0]) + 1)
    wrong = np.flatnonzero((lengths != 0) & (lengths != n_dims))
    if wrong.size:
        f = int(wrong[0])
        found = f"holds {lengths[f]} values in {frames_text(wrong + 1)}"
        rule = f"{_VALUES_RULE}: one value per Dimension Index Sequence item"
        yield _values_violation(f"{found}, but the Dimension Index Sequence has {n_dims} items", rule, f + 1)
    full = [tuple(v) for v in values if len(v) == n_dims]
    if full and len(set(full)) != len(full):
        dup, count = Counter(full).most_common(1)[0]
        found = f"{list(dup)} is shared by {count} frames; the index does not tell frames apart"
        rule = f"{DIM} (C.7.6.17.1): each frame has its own position in the dimension space"
        yield _values_violation(found, rule, severity="warning")
