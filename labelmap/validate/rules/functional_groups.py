"""Shared and Per-frame Functional Groups Sequences (C.7.6.16, A.51.5): item counts and where macros sit."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, violation
from labelmap.validate.tables import FG, MF, TILED_FULL, UNLESS_TILED
from labelmap.validate.values import MISSING, get, items


def check(ctx: SegContext) -> Iterator[Violation]:
    value, bad = get(ctx.ds, "SharedFunctionalGroupsSequence"), partial(violation, "SharedFunctionalGroupsSequence")
    if value is MISSING:
        yield bad("is absent", f"{MF}: Type 1")
    elif len(items(value)) != 1:
        yield bad(f"holds {len(items(value))} items, expected exactly 1", f"{MF}: Type 1, one item")
    shared = ctx.shared
    if get(shared, "FrameContentSequence") is not MISSING:
        yield violation(
            "FrameContentSequence",
            "is in the Shared Functional Groups Sequence",
            "PS3.3 C.7.6.16.2.2 Frame Content Macro: per-frame only",
            path="SharedFunctionalGroupsSequence[1].FrameContentSequence",
        )
    if not ctx.type_spec.segment_identification and get(shared, "SegmentIdentificationSequence") is not MISSING:
        yield violation(
            "SegmentIdentificationSequence",
            "is present in the Shared Functional Groups Sequence of a LABELMAP",
            f"{FG} (Table A.51-2): the Segmentation macro is not used for LABELMAP (pixel values are the numbers)",
            path="SharedFunctionalGroupsSequence[1].SegmentIdentificationSequence",
        )
    if ctx.tiled_full:
        yield from TILED_FULL.check(ctx.ds)
    table = ctx.table
    if table is None:
        if not ctx.tiled_full:
            yield violation("PerFrameFunctionalGroupsSequence", "is absent or empty", f"{MF}: {UNLESS_TILED}")
    elif ctx.n_frames is not None and table.n_frames != ctx.n_frames:
        yield violation(
            "NumberOfFrames",
            f"is {ctx.n_frames} but the Per-frame Functional Groups Sequence has {table.n_frames} items",
            f"{MF}: one Per-frame Functional Groups item per frame",
        )
