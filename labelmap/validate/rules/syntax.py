"""The transfer syntax: lossless, known, and able to hold 1-bit frames (PS3.5 8, A.4, C.8.20.2.2).

What each syntax does to pixels comes from :data:`labelmap.dicom.uids.SYNTAX_TABLE`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from labelmap.dicom.uids import RLE_LOSSLESS, SYNTAX_TABLE, TransferSyntax, lookup
from labelmap.validate.context import SegContext
from labelmap.validate.report import Severity, Violation, uid_name, violation
from labelmap.validate.tables import ENCODING, SEG_IMAGE
from labelmap.validate.values import upper_text

#: UID prefix of the video syntaxes (MPEG2, MPEG-4, HEVC: 1.2.840.10008.1.2.4.100-108), all lossy.
_VIDEO_PREFIX = "1.2.840.10008.1.2.4.10"
#: Syntaxes whose codestreams hold at least 2 bits per sample (the JPEG and JPEG-LS families).
_NO_ONE_BIT = ("jpeg-baseline", "jpeg-extended", "jpeg-lossless", "jpeg-lossless-sv1", "jpegls", "jpegls-near")
_J2K_LOSSLESS = next(ts.uid for ts in SYNTAX_TABLE if ts.name == "j2k")


def syntax_of(uid: str) -> TransferSyntax | None:
    """The table row of a Transfer Syntax UID (None when labelmap does not know it)."""
    found = lookup(uid)
    return found if found is not None and found.uid == uid else None


def check(ctx: SegContext) -> Iterator[Violation]:
    ts = ctx.transfer_syntax
    if not ts:
        return
    syntax, bad = syntax_of(ts), partial(violation, "TransferSyntaxUID")
    if syntax is not None and syntax.retired:
        yield bad(f"{uid_name(ts)} is retired", "PS3.5 A.3 (retired): readers need not support it", "warning")
    if (syntax is not None and syntax.fidelity == "lossy") or ts.startswith(_VIDEO_PREFIX):
        severity: Severity = "error" if upper_text(ctx.ds, "LossyImageCompression") != "01" else "warning"
        yield bad(
            f"{uid_name(ts)} is lossy" + (" while Lossy Image Compression is 00" if severity == "error" else ""),
            f"{SEG_IMAGE} (C.8.20.2.2): lossy encoding sets Lossy Image Compression 01 and is not advisable "
            "for a segmentation (it changes labels)",
            severity,
        )
    elif syntax is not None and syntax.fidelity == "maybe-lossy":
        yield bad(
            f"{uid_name(ts)} may be lossy; readers cannot tell that the frames are exact",
            f"{SEG_IMAGE} (C.8.20.2.2): prefer the lossless-only syntax (e.g. {_J2K_LOSSLESS})",
            "warning",
        )
    elif syntax is None:
        yield bad(
            f"{uid_name(ts)} is not a transfer syntax known to hold exact segmentation frames",
            f"{ENCODING}: SEG frames need a lossless encoding",
            "warning",
        )
    if not ctx.type_spec.one_bit:
        return
    rule = (
        f"{ENCODING}: 1-bit frames (Bits Allocated 1) can be stored native, deflated, or as JPEG 2000 / "
        "Deflated Image Frame Compression"
    )
    if syntax is not None and syntax.name in _NO_ONE_BIT:
        yield bad(f"{uid_name(ts)} has no 1-bit form (its codestreams hold at least 2 bits per sample)", rule)
    elif ts == RLE_LOSSLESS:
        yield bad(
            f"{uid_name(ts)} for 1-bit frames: only recent editions of PS3.5 (8.2.2) define it and "
            "DCMTK, dcmqi and highdicom do not read or write it",
            rule,
            "warning",
        )
