"""Segment Identification (the Segmentation macro, C.8.20.3): each BINARY/FRACTIONAL frame names its segment."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, frames_text, violation
from labelmap.validate.tables import BOTH, FG, PER_FRAME, SEG_MACRO
from labelmap.validate.values import first_item

_SIS = "SegmentIdentificationSequence"


def check(ctx: SegContext) -> Iterator[Violation]:
    table = ctx.table
    if table is None:
        return
    numbers = table.segment_numbers
    if not ctx.type_spec.segment_identification:
        if numbers is not None:
            frames = np.flatnonzero(numbers != 0) + 1
            first = int(frames[0]) if frames.size else None
            yield violation(
                _SIS,
                f"is present in {frames_text(frames) if frames.size else 'some frames'} of a LABELMAP",
                f"{FG} (Table A.51-2): the Segmentation macro is not used for LABELMAP",
                item=f"{PER_FRAME}[{first or '*'}]",
                frame=first,
            )
        return
    shared = first_item(ctx.shared, _SIS)
    if numbers is not None and shared is not None and (numbers != 0).any():
        yield violation(_SIS, "is in both the shared and the per-frame functional groups", BOTH)
    numbers = ctx.frame_segments
    if numbers is None:  # neither per-frame nor shared
        if not ctx.tiled_full:
            found = f"is absent from every frame (BINARY/FRACTIONAL, {table.n_frames} frames)"
            rule = f"{SEG_MACRO}: required per frame (or shared) unless TILED_FULL"
            yield violation(_SIS, found, rule, item=f"{PER_FRAME}[*]")
        return
    referenced = partial(violation, "ReferencedSegmentNumber")
    missing = np.flatnonzero(numbers == 0) + 1
    if missing.size:
        yield referenced(
            f"is absent in {frames_text(missing)}",
            f"{SEG_MACRO}: Segment Identification Sequence > Referenced Segment Number, Type 1",
            item=f"{PER_FRAME}[{missing[0]}].{_SIS}[1]",
            frame=int(missing[0]),
        )
    if ctx.segment_numbers:
        unknown = sorted(set(int(v) for v in numbers[numbers != 0]) - set(ctx.segment_numbers))
        for number in unknown[:10]:
            frames = np.flatnonzero(numbers == number) + 1
            yield referenced(
                f"{number} ({frames_text(frames)}) has no Segment Sequence item",
                f"{SEG_MACRO}: refers to a Segment Number of the Segment Sequence",
                item=f"{PER_FRAME}[{frames[0]}].{_SIS}[1]",
                frame=int(frames[0]),
                segment=number,
            )
