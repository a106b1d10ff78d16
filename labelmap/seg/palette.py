"""PALETTE COLOR support for LABELMAP SEG: the colour lookup table and an sRGB ICC profile.

A label map stored as PALETTE COLOR needs the Palette Color LUT module
(C.7.9) and the ICC Profile module (C.11.15), and its segment items must not
carry Recommended Display CIELab Value.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from labelmap.dicom.dataset import WriteDataset

__all__ = ["palette_lut", "apply_palette", "srgb_icc_profile", "read_palette"]


def palette_lut(colours: Mapping[int, tuple[int, int, int]], n_entries: int) -> np.ndarray:
    """A (n_entries, 3) uint16 LUT: entry v is segment v's colour scaled to 16 bits, black elsewhere."""
    lut = np.zeros((n_entries, 3), dtype=np.uint16)
    for number, rgb in colours.items():
        if 0 <= number < n_entries:
            lut[number] = np.asarray(rgb, dtype=np.uint16) * 257
    return lut


def apply_palette(ds: Dataset | WriteDataset, lut: np.ndarray) -> None:
    """Write the Palette Color LUT and ICC Profile attributes for ``lut`` (16 bits per entry, first mapped 0)."""
    n = lut.shape[0]
    descriptor = [n if n < 65536 else 0, 0, 16]
    for i, name in enumerate(("Red", "Green", "Blue")):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", descriptor)
        setattr(ds, f"{name}PaletteColorLookupTableData", np.ascontiguousarray(lut[:, i]).astype("<u2").tobytes())
    ds.ICCProfile = srgb_icc_profile()
    ds.ColorSpace = "SRGB"


def read_palette(ds: Dataset) -> dict[int, tuple[int, int, int]]:
    """Segment colours (8-bit RGB) from a dataset's Palette Color LUT, keyed by pixel value."""
    try:
        desc = [int(v) for v in ds.RedPaletteColorLookupTableDescriptor]
    except (AttributeError, TypeError, ValueError):
        return {}
    if len(desc) != 3 or desc[2] not in (8, 16) or not 0 <= desc[1] <= 0xFFFF:
        return {}  # a damaged descriptor: the colours are cosmetic, the segments keep their defaults
    n, first, bits = desc[0] or 65536, desc[1], desc[2]
    channels = []
    for name in ("Red", "Green", "Blue"):
        data = getattr(ds, f"{name}PaletteColorLookupTableData", None)
        if not isinstance(data, (bytes, bytearray)):
            return {}
        if bits == 8 and len(data) >= n and len(data) < 2 * n:
            values = np.frombuffer(data, dtype=np.uint8)[:n].astype(np.uint16)
        else:
            values = np.frombuffer(data[: 2 * (len(data) // 2)], dtype="<u2")[:n]
            values = values if bits == 8 else np.rint(values / 257.0)
        channels.append(np.clip(values, 0, 255).astype(np.int64))  # (8-bit entries in 16-bit words)
    if min(len(c) for c in channels) < n:
        return {}
    return {first + i: (int(channels[0][i]), int(channels[1][i]), int(channels[2][i])) for i in range(n)}


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


@lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes:
    """A small ICC v2 display profile for sRGB (D50-adapted colorants, sRGB tone curve as a table)."""
    text = b"sRGB (labelmap)"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text) + 1) + text + b"\0"
    desc += b"\0" * 8 + b"\0" * 3 + b"\0" * 67  # no Unicode / ScriptCode description
    cprt = b"text" + b"\0" * 4 + b"No copyright, use freely\0"
    x = np.arange(256) / 255.0
    curve = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    trc = b"curv" + b"\0" * 4 + struct.pack(">I", 256) + np.rint(curve * 65535).astype(">u2").tobytes()
    tags = [
        (b"desc", desc),
        (b"cprt", cprt),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", _xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", _xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", trc),
    ]
    table_size = 4 + 12 * (len(tags) + 2)
    entries = body = b""
    for sig, data in tags:
        entries += sig + struct.pack(">II", 128 + table_size + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)  # each tag starts on a 4-byte boundary
    red_curve = entries[-8:]  # (offset, size) of rTRC: the green and blue curves are the same
    entries += b"gTRC" + red_curve + b"bTRC" + red_curve
    total = 128 + table_size + len(body)
    header = struct.pack(">I", total) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"scnr" + b"RGB " + b"XYZ "
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 4 + b"\0" * 4 + b"\0" * 8 + b"\0" * 8
    header += struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 4
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags) + 2) + entries + body
