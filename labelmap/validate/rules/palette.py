"""Palette Color Lookup Table (C.7.9) and ICC Profile (C.11.15) modules of a PALETTE COLOR LABELMAP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, violation
from labelmap.validate.tables import IOD, PALETTE
from labelmap.validate.values import MISSING, Absent, get, upper_text


def check(ctx: SegContext) -> Iterator[Violation]:
    ds = ctx.ds
    pi = upper_text(ds, "PhotometricInterpretation")
    if pi != "PALETTE COLOR" or pi not in ctx.type_spec.photometric:
        return
    rule = f"{IOD}: the Palette Color Lookup Table Module is required for PALETTE COLOR"
    descriptors = []
    for colour in ("Red", "Green", "Blue"):
        kw = f"{colour}PaletteColorLookupTableDescriptor"
        value = get(ds, kw)
        if isinstance(value, Absent):
            yield violation(kw, "is absent" if value is MISSING else "cannot be decoded", f"{rule} ({PALETTE}: Type 1)")
            continue
        desc = lut_descriptor(value)
        if len(desc) != 3:
            yield violation(
                kw, f"{value!r} does not hold 3 values", f"{PALETTE} (C.7.6.3.1.5): entries, first mapped value, bits"
            )
            continue
        if desc[2] not in (8, 16):
            yield violation(kw, f"bits per entry is {desc[2]}, expected 8 or 16", f"{PALETTE} (C.7.6.3.1.5)")
        descriptors.append(desc)
        data_kw, segmented_kw = f"{colour}PaletteColorLookupTableData", f"Segmented{colour}PaletteColorLookupTableData"
        data = get(ds, data_kw)
        if isinstance(data, Absent) and get(ds, segmented_kw) is MISSING:
            yield violation(data_kw, "is absent (and no segmented table either)", f"{PALETTE}: Type 1C")
        elif not isinstance(data, Absent) and desc[2] in (8, 16):
            entries = desc[0] or 65536
            size = len(data) if isinstance(data, (bytes, bytearray)) else -1
            allowed = {2 * entries} if desc[2] == 16 else {entries, entries + entries % 2, 2 * entries}
            if size not in allowed:
                yield violation(
                    data_kw,
                    f"holds {size} bytes for {entries} entries of {desc[2]} bits",
                    f"{PALETTE} (C.7.6.3.1.6): one entry per table entry",
                )
    if len(descriptors) == 3 and len({tuple(d[:2]) for d in descriptors}) != 1:
        yield violation(
            "RedPaletteColorLookupTableDescriptor",
            f"entries / first mapped value differ between colours: {descriptors}",
            f"{PALETTE} (C.7.6.3.1.5): the first two descriptor values are the same for red, green and blue",
        )
    yield from _icc_profile(get(ds, "ICCProfile"))


def lut_descriptor(value: Any) -> list[int]:
    """The values of a palette descriptor ([] when they are absent or not integers)."""
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


def _icc_profile(icc: object) -> Iterator[Violation]:
    if icc is MISSING:
        yield violation(
            "ICCProfile", "is absent", f"{IOD}: the ICC Profile Module (C.11.15) is required for PALETTE COLOR"
        )
        return
    if not isinstance(icc, (bytes, bytearray)):
        return
    if len(icc) < 132 or icc[36:40] != b"acsp" or int.from_bytes(icc[:4], "big") > len(icc):
        yield violation(
            "ICCProfile",
            f"{len(icc)} bytes that are not an ICC profile (no 'acsp' header)",
            "PS3.3 C.11.15 ICC Profile Module: an ICC.1 profile",
        )
        return
    rule = (
        "PS3.3 C.11.15.1.1 ICC Profile: an Input Device profile (class 'scnr'; highdicom also takes "
        "'spac'), data colour space RGB, PCS Lab or XYZ"
    )
    header = (
        ("device class", icc[12:16], (b"scnr", b"spac")),
        ("colour space", icc[16:20], (b"RGB ",)),
        ("connection space", icc[20:24], (b"Lab ", b"XYZ ")),
    )
    for what, found, allowed in header:
        if found not in allowed:
            yield violation(
                "ICCProfile",
                f"{what} is {found.decode('latin-1').strip()!r}, expected "
                f"{' or '.join(repr(a.decode().strip()) for a in allowed)}",
                rule,
            )
