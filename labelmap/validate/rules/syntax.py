"""The transfer syntax: lossless, known, and able to hold 1-bit frames (PS3.5 8, A.4, C.8.20.2.2)."""

from __future__ import annotations

from collections.abc import Iterator

from labelmap.dicom.uids import NATIVE_SYNTAXES
from labelmap.validate.context import SegContext
from labelmap.validate.report import Severity, Violation, uid_name, violation
from labelmap.validate.tables import ENCODING, SEG_IMAGE
from labelmap.validate.values import upper_text

# transfer syntaxes by what they do to pixels
BIG_ENDIAN = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS, J2K_ANY = "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"
_JPEGLS_LOSSLESS, _JPEGLS_NEAR = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"
_JPEG_LOSSLESS = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
_JPEG_LOSSY = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")
_HTJ2K_LOSSLESS = ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202")
_HTJ2K_ANY = "1.2.840.10008.1.2.4.203"
_DEFLATED_FRAMES = "1.2.840.10008.1.2.8.1"
_LOSSLESS_ENCAPSULATED = (RLE, J2K_LOSSLESS, _JPEGLS_LOSSLESS, *_JPEG_LOSSLESS, *_HTJ2K_LOSSLESS, _DEFLATED_FRAMES)
_LOSSY = (*_JPEG_LOSSY, _JPEGLS_NEAR)
_MAYBE_LOSSY = (J2K_ANY, _HTJ2K_ANY)
#: Syntaxes whose codestreams hold at least 2 bits per sample.
_NO_ONE_BIT = (_JPEGLS_LOSSLESS, _JPEGLS_NEAR, *_JPEG_LOSSLESS, *_JPEG_LOSSY)


def check(ctx: SegContext) -> Iterator[Violation]:
    ts = ctx.transfer_syntax
    if not ts:
        return
    kw = "TransferSyntaxUID"
    if ts == BIG_ENDIAN:
        yield violation(kw, f"{uid_name(ts)} is retired", "PS3.5 A.3 (retired): readers need not support it", "warning")
    if ts in _LOSSY or ts.startswith("1.2.840.10008.1.2.4.10"):
        severity: Severity = "error" if upper_text(ctx.ds, "LossyImageCompression") != "01" else "warning"
        yield violation(
            kw,
            f"{uid_name(ts)} is lossy" + (" while Lossy Image Compression is 00" if severity == "error" else ""),
            f"{SEG_IMAGE} (C.8.20.2.2): lossy encoding sets Lossy Image Compression 01 and is not advisable "
            "for a segmentation (it changes labels)",
            severity,
        )
    elif ts in _MAYBE_LOSSY:
        yield violation(
            kw,
            f"{uid_name(ts)} may be lossy; readers cannot tell that the frames are exact",
            f"{SEG_IMAGE} (C.8.20.2.2): prefer the lossless-only syntax (e.g. {J2K_LOSSLESS})",
            "warning",
        )
    elif ts not in NATIVE_SYNTAXES and ts not in _LOSSLESS_ENCAPSULATED:
        yield violation(
            kw,
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
    if ts in _NO_ONE_BIT:
        yield violation(kw, f"{uid_name(ts)} has no 1-bit form (its codestreams hold at least 2 bits per sample)", rule)
    elif ts == RLE:
        yield violation(
            kw,
            f"{uid_name(ts)} for 1-bit frames: only recent editions of PS3.5 (8.2.2) define it and "
            "DCMTK, dcmqi and highdicom do not read or write it",
            rule,
            "warning",
        )
