"""Patient, General Study, Series, Equipment, Content Identification, SOP Common and Frame of Reference modules."""

from __future__ import annotations

import re
from collections.abc import Iterator

from labelmap.dicom.uids import is_uid
from labelmap.seg.types import SegmentationType
from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, mismatch, violation
from labelmap.validate.tables import FRAME_OF_REFERENCE, GENERAL, SEG_IMAGE, SERIES
from labelmap.validate.values import MISSING, Absent, get, is_empty, text

_CS_RULE = "PS3.5 6.2 Value Representation CS: at most 16 characters, upper case letters, digits, space, underscore"
_UID_RULE = "PS3.5 9.1 UID encoding: digits and dots, no leading zeros, at most 64 characters"


def check(ctx: SegContext) -> Iterator[Violation]:
    ds = ctx.ds
    for module in GENERAL:
        yield from module.check(ds)
    yield from mismatch("Modality", text(get(ds, "Modality")), "SEG", f"{SERIES.rule}: Modality is SEG")
    image_type = get(ds, "ImageType")
    if not isinstance(image_type, Absent) and not is_empty(image_type):
        values = [str(v) for v in (image_type if not isinstance(image_type, str) else [image_type])]
        if values != ["DERIVED", "PRIMARY"]:
            found = "\\".join(values)
            yield violation(
                "ImageType",
                f"is {found}, expected DERIVED\\PRIMARY",
                f"{SEG_IMAGE}: value 1 DERIVED, value 2 PRIMARY, no other values",
            )
    label = get(ds, "ContentLabel")
    if isinstance(label, str) and label and not re.fullmatch(r"[A-Z0-9_ ]{1,16}", label):
        yield violation("ContentLabel", f"{label!r} is not a valid CS value", _CS_RULE)
    for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        uid = get(ds, kw)
        if isinstance(uid, str) and uid.strip() and not is_uid(uid.strip("\0 ")):
            yield violation(kw, f"{uid!r} is not a valid UID", _UID_RULE)
    if get(ds, "PatientOrientation") is MISSING:
        seen = " (recent dciodvfy releases report this as an error in LABELMAP files)"
        yield violation(
            "PatientOrientation",
            f"is absent{seen if ctx.type_spec.type is SegmentationType.LABELMAP else ''}",
            "PS3.3 C.7.6.1 General Image Module: Type 2C, required when the image does not require Image "
            "Position/Orientation (Patient), as with Derivation Image frames; may be empty",
            "warning",
        )
    if get(ds, "FrameOfReferenceUID") is not MISSING:
        yield from FRAME_OF_REFERENCE.check(ds)
