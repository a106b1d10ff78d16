"""SOP Class against Segmentation Type (A.51, Supplement 243), and the File Meta Information (PS3.10 7.1)."""

from __future__ import annotations

from collections.abc import Iterator

from labelmap.seg.types import LABEL_MAP_SEGMENTATION_STORAGE, SEG_SOP_CLASSES, SEG_TYPES, SEGMENTATION_STORAGE
from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, uid_name, violation
from labelmap.validate.tables import IOD, SEG_IMAGE
from labelmap.validate.values import get, text


def check(ctx: SegContext) -> Iterator[Violation]:
    """The SOP Class and Segmentation Type agree; when the type is unknown the runner stops after this."""
    sop, seg_type = text(get(ctx.ds, "SOPClassUID")), ctx.seg_type
    if sop not in SEG_SOP_CLASSES:
        yield violation(
            "SOPClassUID",
            f"{uid_name(sop) if sop else 'absent'} is not a Segmentation SOP Class",
            f"{IOD}: Segmentation Storage {SEGMENTATION_STORAGE} (BINARY, FRACTIONAL) or Label Map Segmentation "
            f"Storage {LABEL_MAP_SEGMENTATION_STORAGE} (LABELMAP)",
        )
        if not seg_type:
            return  # not a SEG at all: the other rules do not apply
    spec = ctx.spec
    if spec is None:
        yield violation(
            "SegmentationType",
            f"is {seg_type or 'absent'}, expected BINARY, FRACTIONAL or LABELMAP",
            f"{SEG_IMAGE}: Segmentation Type is Type 1 with these enumerated values",
        )
        return
    if sop in SEG_SOP_CLASSES and sop != spec.sop_class:
        kinds = [t.value for t, s in SEG_TYPES.items() if s.sop_class == spec.sop_class]
        stored = f"a {kinds[0]} is" if len(kinds) == 1 else f"{' and '.join(kinds)} are"
        yield violation(
            "SOPClassUID",
            f"is {SEG_SOP_CLASSES[sop]} but Segmentation Type is {seg_type}",
            f"{IOD} (Supplement 243): {stored} stored as {spec.sop_class_name} {spec.sop_class}",
        )
    yield from _file_meta(ctx)


def _file_meta(ctx: SegContext) -> Iterator[Violation]:
    meta = getattr(ctx.ds, "file_meta", None)
    if meta is None or not len(meta):
        if not ctx.is_dataset:
            yield violation("FileMetaInformation", "is absent", "PS3.10 7.1 DICOM File Meta Information")
        return
    rule = "PS3.10 7.1 DICOM File Meta Information: the Media Storage UIDs repeat the SOP Common values"
    for kw in ("SOPClassUID", "SOPInstanceUID"):
        a, b = text(get(meta, f"MediaStorage{kw}")), text(get(ctx.ds, kw))
        if a and b and a != b:
            yield violation(f"MediaStorage{kw}", f"{a} differs from {kw} {b}", rule)
    if not text(get(meta, "TransferSyntaxUID")):
        yield violation("TransferSyntaxUID", "is absent", "PS3.10 7.1 DICOM File Meta Information: Type 1")
