"""Derivation Image, Common Instance Reference (C.12.2) and Frame of Reference conditions (Table A.51-1)."""

from __future__ import annotations

from collections.abc import Iterator

from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, violation
from labelmap.validate.tables import CIR, IOD, REFERENCED_INSTANCE, REFERENCED_SERIES
from labelmap.validate.values import MISSING, get, items, text


def check(ctx: SegContext) -> Iterator[Violation]:
    ds, table = ctx.ds, ctx.table
    referenced = {u for u in (table.source_instance_uids if table is not None else ()) if u}
    shared_derivation = items(get(ctx.shared, "DerivationImageSequence"))
    for d in shared_derivation:
        referenced.update(text(get(s, "ReferencedSOPInstanceUID")) for s in items(get(d, "SourceImageSequence")))
    referenced.discard("")
    has_derivation = bool(referenced) or bool(shared_derivation)
    if get(ds, "FrameOfReferenceUID") is MISSING and not has_derivation and table is not None:
        yield violation(
            "FrameOfReferenceUID",
            "is absent and no frame has a Derivation Image",
            f"{IOD} (Table A.51-1): the Frame of Reference Module is required without Derivation Image",
        )
    if not has_derivation:
        return
    series, other = get(ds, "ReferencedSeriesSequence"), get(ds, "StudiesContainingOtherReferencedInstancesSequence")
    if series is MISSING and other is MISSING:
        yield violation(
            "ReferencedSeriesSequence",
            "is absent although frames reference source images",
            f"{IOD} (Table A.51-1): the Common Instance Reference Module is required with Derivation Image "
            f"({CIR}: Type 1C)",
        )
        return
    listed: set[str] = set()
    for i, item in enumerate(items(series), start=1):
        path = f"ReferencedSeriesSequence[{i}]"
        yield from REFERENCED_SERIES.check(item, path)
        instances = items(get(item, "ReferencedInstanceSequence"))
        if not instances:
            yield violation("ReferencedInstanceSequence", "is absent or empty", f"{CIR}: Type 1", item=path)
        for j, inst in enumerate(instances, start=1):
            yield from REFERENCED_INSTANCE.check(inst, f"{path}.ReferencedInstanceSequence[{j}]")
            listed.add(text(get(inst, "ReferencedSOPInstanceUID")))
    for study in items(other):
        for item in items(get(study, "ReferencedSeriesSequence")):
            for inst in items(get(item, "ReferencedInstanceSequence")):
                listed.add(text(get(inst, "ReferencedSOPInstanceUID")))
    unlisted = sorted(referenced - listed)
    if unlisted:
        yield violation(
            "ReferencedInstanceSequence",
            f"does not list {len(unlisted)} source instance(s) the frames derive from, e.g. {unlisted[0]}",
            f"{CIR}: lists every instance referenced by this one",
            "warning",
            path="ReferencedSeriesSequence[*].ReferencedInstanceSequence",
        )
