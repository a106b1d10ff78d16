"""RGB <-> DICOM CIELab (PS3.3 C.10.7.1.1), rounded exactly as dcmqi does."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from numbers import Integral
from typing import Any

__all__ = ["rgb_to_cielab", "cielab_to_rgb", "check_triplet", "distinct_rgb"]


def _f32(x: float) -> float:
    """Round to single precision, as dcmqi stores its intermediates in ``float`` (a C cast, as numpy's)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _c_round(x: float) -> int:
    """C ``round``: half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def check_triplet(values: Any, what: str, hi: int) -> tuple[int, int, int]:
    try:
        vals = tuple(values)
    except TypeError:
        raise ValueError(f"{what} must be three integers, got {values!r}") from None
    if len(vals) != 3 or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"{what} must be three integers, got {values!r}")
    if not all(0 <= int(v) <= hi for v in vals):
        raise ValueError(f"{what} values must be in 0..{hi}, got {list(vals)}")
    return (int(vals[0]), int(vals[1]), int(vals[2]))


def rgb_to_cielab(rgb: Sequence[int]) -> tuple[int, int, int]:
    """sRGB (0..255) -> DICOM scaled CIELab (0..65535), exactly as dcmqi's ColorUtilities does it."""
    r, g, b = check_triplet(rgb, "RGB colour", 255)

    def lin(v: int) -> float:
        c = v / 255.0
        c = ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92
        return c * 100

    lr, lg, lb = lin(r), lin(g), lin(b)
    x = _f32(lr * 0.4124 + lg * 0.3576 + lb * 0.1805)
    y = _f32(lr * 0.2126 + lg * 0.7152 + lb * 0.0722)
    z = _f32(lr * 0.0193 + lg * 0.1192 + lb * 0.9505)

    def f(t: float) -> float:
        return t ** (1.0 / 3) if t > 0.008856 else 7.787 * t + 16.0 / 116

    fx, fy, fz = f(x / 95.047), f(y / 100.0), f(z / 108.883)
    L = _f32(116 * fy - 16)
    A = _f32(500 * (fx - fy))
    B = _f32(200 * (fy - fz))
    return (_c_round(L * 65535 / 100), _c_round((A + 128) * 65535 / 255), _c_round((B + 128) * 65535 / 255))


def cielab_to_rgb(lab: Sequence[int]) -> tuple[int, int, int]:
    """DICOM scaled CIELab (0..65535) -> sRGB, clipped to 0..255 and rounded.

    Same constants as dcmqi, but without its ``16 / 116`` integer-division slip
    in the dark branch, and clipped (dcmqi does not clip out-of-gamut values).
    """
    sl, sa, sb = check_triplet(lab, "CIELab colour", 65535)
    L = sl / 65535 * 100
    A = sa / 65535 * 255 - 128
    B = sb / 65535 * 255 - 128
    fy = (L + 16) / 116
    fx = A / 500 + fy
    fz = fy - B / 200

    def finv(t: float) -> float:
        t3 = t**3
        return t3 if t3 > 0.008856 else (t - 16.0 / 116) / 7.787

    x = 95.047 * finv(fx) / 100
    y = 100.0 * finv(fy) / 100
    z = 108.883 * finv(fz) / 100
    lin = (
        x * 3.2406 + y * -1.5372 + z * -0.4986,
        x * -0.9689 + y * 1.8758 + z * 0.0415,
        x * 0.0557 + y * -0.2040 + z * 1.0570,
    )
    out = []
    for c in lin:
        c = 1.055 * c ** (1 / 2.4) - 0.055 if c > 0.0031308 else 12.92 * c
        out.append(min(255, max(0, _c_round(c * 255))))
    return (out[0], out[1], out[2])


def distinct_rgb(number: int) -> tuple[int, int, int]:
    """A stable colour for a segment without a recommended one: far from its neighbours' and never grey.

    Hues step by the golden ratio from the number (neighbouring numbers land far apart on the colour
    wheel), in three lightness and saturation levels; the same number always gives the same colour.
    """
    import colorsys

    n = int(number)
    hue = (n * 0.618033988749895) % 1.0
    light = (0.5, 0.62, 0.4)[n % 3]
    sat = (0.85, 0.7, 0.95)[(n // 3) % 3]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))
