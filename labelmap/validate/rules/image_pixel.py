"""Image Pixel attributes of the Segmentation Image Module (C.7.6.3, C.8.20.2), fractional values, frame count."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from labelmap.seg.types import FractionalType, SegmentationType, SegmentsOverlap
from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, mismatch, violation
from labelmap.validate.tables import FRACTIONAL, IMAGE_PIXEL, IOD, MF, PIXEL, SEG_IMAGE, SEGMENTATION_PIXEL
from labelmap.validate.values import MISSING, as_int, get, text, upper_text


def check(ctx: SegContext) -> Iterator[Violation]:
    ds, spec = ctx.ds, ctx.type_spec
    t = spec.type.value
    yield from IMAGE_PIXEL.check(ds)
    for kw, value in (("Rows", ctx.rows), ("Columns", ctx.columns)):
        if value is not None and value <= 0:
            yield violation(kw, f"is {value}", f"{PIXEL}: at least 1")
    yield from SEGMENTATION_PIXEL.check(ds)
    keywords = ("SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation")
    spp, bits, stored, high, pr = (as_int(get(ds, kw)) for kw in keywords)
    yield from mismatch("SamplesPerPixel", spp, 1, f"{SEG_IMAGE}: Samples per Pixel is 1")
    pi = text(get(ds, "PhotometricInterpretation"))
    if pi and pi not in spec.photometric:
        yield violation(
            "PhotometricInterpretation",
            f"is {pi}, expected {' or '.join(spec.photometric)} for {t}",
            f"{SEG_IMAGE}: MONOCHROME2 for BINARY and FRACTIONAL, MONOCHROME2 or PALETTE COLOR for LABELMAP",
        )
    rule = f"{SEG_IMAGE}: Bits Allocated = Bits Stored = High Bit + 1 = 1 (BINARY), 8 (FRACTIONAL), 8 or 16 (LABELMAP)"
    if bits is not None and bits not in spec.bits:
        yield violation("BitsAllocated", f"is {bits}, expected {' or '.join(map(str, spec.bits))} for {t}", rule)
    yield from mismatch("BitsStored", stored, bits, rule, " (= Bits Allocated)")
    yield from mismatch("HighBit", high, None if stored is None else stored - 1, rule, " (Bits Stored - 1)")
    yield from mismatch("PixelRepresentation", pr, 0, f"{SEG_IMAGE}: Pixel Representation is 0", " (unsigned)")
    lossy, bad_lossy = text(get(ds, "LossyImageCompression")), partial(violation, "LossyImageCompression")
    if lossy == "01":
        yield bad_lossy(
            "is 01: the segmentation or its sources were lossy compressed",
            f"{SEG_IMAGE} (C.8.20.2.2): allowed only for lossy sources or encoding; not advisable for a SEG",
            "warning",
        )
    elif lossy and lossy != "00":
        yield bad_lossy(f"is {lossy!r}, expected 00 (or 01)", f"{SEG_IMAGE}: enumerated values 00, 01")
    overlap = get(ds, "SegmentsOverlap")
    if overlap is not MISSING:
        flag, bad = text(overlap).upper(), partial(violation, "SegmentsOverlap")
        if flag not in SegmentsOverlap.__members__:
            yield bad(f"is {flag or 'empty'}, expected YES, NO or UNDEFINED", f"{SEG_IMAGE}: Type 3, enumerated values")
        elif flag not in spec.overlap:
            yield bad(f"is {flag} in a {t}", f"{SEG_IMAGE}: if present, NO for LABELMAP (one segment per pixel)")
    yield from _pixel_padding(ctx, stored)
    n = get(ds, "NumberOfFrames")
    if n is MISSING:
        yield violation("NumberOfFrames", "is absent", f"{MF}: Type 1")
    elif ctx.n_frames is None:
        yield violation("NumberOfFrames", f"{n!r} is not a positive integer", f"{MF}: Type 1, at least 1")
    yield from _fractional(ctx)


def _pixel_padding(ctx: SegContext, stored: int | None) -> Iterator[Violation]:
    """Pixel Padding Value: the background Segment Number of a LABELMAP."""
    ppv = get(ctx.ds, "PixelPaddingValue")
    if ppv is MISSING:
        return
    value, bad = as_int(ppv), partial(violation, "PixelPaddingValue")
    if not ctx.type_spec.pixel_padding:
        yield bad(
            f"is present ({ppv}) in a {ctx.seg_type} SEG",
            f"{IOD} content constraints (Supplement 243): Pixel Padding Value is used only for LABELMAP",
            "warning",
        )
    elif value is None or value < 0 or (stored in (8, 16) and value >= 1 << stored):
        yield bad(
            f"{ppv!r} is not a pixel value of {stored}-bit data",
            "PS3.3 C.7.5.1.1.2 Pixel Padding Value: a value of the stored pixel range",
        )


def _fractional(ctx: SegContext) -> Iterator[Violation]:
    """Segmentation Fractional Type and Maximum Fractional Value: required for FRACTIONAL, else unexpected."""
    ds = ctx.ds
    if ctx.type_spec.type is not SegmentationType.FRACTIONAL:
        for kw, _ in FRACTIONAL.attributes:
            if get(ds, kw) is not MISSING:
                yield violation(
                    kw, f"is present in a {ctx.seg_type} SEG", f"{SEG_IMAGE}: Type 1C, only for FRACTIONAL", "warning"
                )
        return
    yield from FRACTIONAL.check(ds)
    kind = upper_text(ds, "SegmentationFractionalType")
    if kind and kind not in FractionalType.__members__:
        yield violation(
            "SegmentationFractionalType",
            f"is {kind}, expected PROBABILITY or OCCUPANCY",
            f"{SEG_IMAGE} (C.8.20.2.3): enumerated values PROBABILITY, OCCUPANCY",
        )
    mfv = get(ds, "MaximumFractionalValue")
    if mfv is not MISSING and not 1 <= (as_int(mfv) or 0) <= 255:
        yield violation(
            "MaximumFractionalValue",
            f"{mfv!r} is not in 1..255",
            f"{SEG_IMAGE}: the stored value meaning 1.0; 8-bit pixels hold at most 255",
        )
