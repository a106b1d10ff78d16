"""Multi-frame Dimension Module (C.7.6.17) and the Dimension Index Values of each frame (C.7.6.16.2.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset

from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, frames_text, keyword_of, tag_text, violation
from labelmap.validate.required import check_module
from labelmap.validate.tables import DIM, DIMENSION_INDEX, DIMENSION_ORGANIZATION, FG
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
_PER_FRAME = "PerFrameFunctionalGroupsSequence"


def check(ctx: SegContext) -> Iterator[Violation]:
    ds = ctx.ds
    organisation = get(ds, "DimensionOrganizationSequence")
    uids: set[str] = set()
    if organisation is MISSING or not items(organisation):
        yield violation("DimensionOrganizationSequence", "is absent or empty", f"{DIM}: Type 1")
    for i, item in enumerate(items(organisation), start=1):
        yield from check_module(item, DIMENSION_ORGANIZATION, f"DimensionOrganizationSequence[{i}]")
        uid = get(item, "DimensionOrganizationUID")
        if isinstance(uid, str):
            uids.add(uid.strip())
    index = items(get(ds, "DimensionIndexSequence"))
    if not index and not ctx.tiled_full:
        yield violation(
            "DimensionIndexSequence",
            "is absent or empty",
            f"{DIM}: Type 1C, required unless Dimension Organization Type is TILED_FULL",
        )
    for i, item in enumerate(index, start=1):
        yield from _index_item(ctx, item, f"DimensionIndexSequence[{i}]", uids)
    if ctx.table is not None and index:
        yield from _index_values(ctx.table.dimension_index_values, len(index))


def _index_item(ctx: SegContext, item: Dataset, path: str, uids: set[str]) -> Iterator[Violation]:
    """One Dimension Index Sequence item: its pointers and organization."""
    yield from check_module(item, DIMENSION_INDEX, path)
    pointer = as_int(get(item, "DimensionIndexPointer"))
    group = get(item, "FunctionalGroupPointer")
    if group is MISSING:
        yield violation(
            "FunctionalGroupPointer",
            "is absent",
            f"{DIM}: Type 1C, required for attributes in functional groups",
            path=f"{path}.FunctionalGroupPointer",
        )
    uid = text(get(item, "DimensionOrganizationUID"))
    if not uid:
        yield violation(
            "DimensionOrganizationUID", "is absent or empty", f"{DIM}: Type 1", path=f"{path}.DimensionOrganizationUID"
        )
    elif uids and uid not in uids:
        yield violation(
            "DimensionOrganizationUID",
            f"{uid} is not in the Dimension Organization Sequence",
            f"{DIM}: each index belongs to a declared organization",
            path=f"{path}.DimensionOrganizationUID",
        )
    if pointer is None:
        return
    if pointer == _REFERENCED_SEGMENT_NUMBER and not ctx.type_spec.segment_identification:
        yield violation(
            "DimensionIndexPointer",
            "is Referenced Segment Number (0062,000B) in a LABELMAP",
            f"{FG} (Table A.51-2): a LABELMAP has no Segment Identification Sequence to index",
            path=f"{path}.DimensionIndexPointer",
        )
    expected = _POINTER_GROUPS.get(pointer)
    group_tag = as_int(group)
    if expected is not None and group_tag is not None and group_tag != expected:
        yield violation(
            "FunctionalGroupPointer",
            f"is {tag_text(group_tag)} but {keyword_of(pointer)} {tag_text(pointer)} lives in "
            f"{keyword_of(expected)} {tag_text(expected)}",
            f"{DIM}: the pointer names the functional group sequence that holds the indexed attribute",
            path=f"{path}.FunctionalGroupPointer",
        )


def _index_values(values: list | None, n_dims: int) -> Iterator[Violation]:
    """Dimension Index Values of each frame: present, one per dimension, telling frames apart."""
    if values is None:
        yield violation(
            "DimensionIndexValues",
            f"is absent from every frame ({n_dims} dimension(s) declared)",
            f"{_VALUES_RULE}: Type 1C, required when a Dimension Index Sequence exists",
            path=f"{_PER_FRAME}[*].FrameContentSequence[1].DimensionIndexValues",
        )
        return
    lengths = np.array([len(v) for v in values])
    absent = np.flatnonzero(lengths == 0)
    if absent.size:
        yield violation(
            "DimensionIndexValues",
            f"is absent in {frames_text(absent + 1)}",
            f"{_VALUES_RULE}: Type 1C, required when a Dimension Index Sequence exists",
            path=f"{_PER_FRAME}[{absent[0] + 1}].FrameContentSequence[1].DimensionIndexValues",
            frame=int(absent[0]) + 1,
        )
    wrong = np.flatnonzero((lengths != 0) & (lengths != n_dims))
    if wrong.size:
        f = int(wrong[0])
        yield violation(
            "DimensionIndexValues",
            f"holds {lengths[f]} values in {frames_text(wrong + 1)}, but the Dimension "
            f"Index Sequence has {n_dims} items",
            f"{_VALUES_RULE}: one value per Dimension Index Sequence item",
            path=f"{_PER_FRAME}[{f + 1}].FrameContentSequence[1].DimensionIndexValues",
            frame=f + 1,
        )
    full = [tuple(v) for v in values if len(v) == n_dims]
    if full and len(set(full)) != len(full):
        dup, count = Counter(full).most_common(1)[0]
        yield violation(
            "DimensionIndexValues",
            f"{list(dup)} is shared by {count} frames; the index does not tell frames apart",
            f"{DIM} (C.7.6.17.1): each frame has its own position in the dimension space",
            "warning",
            path=f"{_PER_FRAME}[*].FrameContentSequence[1].DimensionIndexValues",
        )
