"""The pixel spacing a TIFF states: OME-XML PhysicalSizeX / Y, X/YResolution in cm or inch, ImageJ's unit."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ome_spacing", "tiff_spacing"]

#: OME length units -> millimetres
_OME_UNITS = {
    "pm": 1e-9,
    "nm": 1e-6,
    "µm": 1e-3,
    "μm": 1e-3,
    "um": 1e-3,
    "mm": 1.0,
    "cm": 10.0,
    "m": 1000.0,
    "Å": 1e-7,
    "in": 25.4,
}


def tiff_spacing(tif: Any, key: Any) -> tuple[float, float] | None:
    """(between rows, between columns) in mm that the open TIFF ``tif`` states for its page ``key``, or None.

    OME-XML first; then the resolution tags when ResolutionUnit is cm or inch (or ImageJ names a unit).
    """
    spacing = ome_spacing(tif.ome_metadata) if tif.is_ome and tif.ome_metadata else None
    return spacing if spacing is not None else _resolution_spacing(tif, key)


def ome_spacing(xml: str) -> tuple[float, float] | None:
    """(between rows, between columns) in mm from the first OME ``Pixels``' PhysicalSizeY / X.

    Units default to micrometres, as OME says; a missing size takes the other one's (square
    pixels); None when neither is given or a value cannot be used.
    """
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    pixels = next((e for e in root.iter() if e.tag == "Pixels" or e.tag.endswith("}Pixels")), None)
    if pixels is None:
        return None

    def size(axis: str) -> float | None:
        text = pixels.get(f"PhysicalSize{axis}")
        scale = _OME_UNITS.get(pixels.get(f"PhysicalSize{axis}Unit", "µm").strip())
        try:
            value = float(text) * scale if text is not None and scale is not None else None
        except ValueError:
            return None
        return value if value is not None and math.isfinite(value) and value > 0 else None

    x, y = size("X"), size("Y")
    if x is None and y is None:
        return None
    return (y or x, x or y)  # type: ignore[return-value]


def _resolution_spacing(tif: Any, key: Any) -> tuple[float, float] | None:
    """Spacing from XResolution / YResolution: cm or inch when ResolutionUnit says so, or ImageJ's micron."""
    tags = key.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    xres, yres = (float(v) for v in key.resolution)
    if not (math.isfinite(xres) and math.isfinite(yres) and xres > 0 and yres > 0):
        return None
    unit = int(key.resolutionunit) if "ResolutionUnit" in tags else None
    mm = {2: 25.4, 3: 10.0}.get(unit or 0)
    if mm is None and tif.is_imagej:
        meta = tif.imagej_metadata or {}
        name = str(meta.get("unit", "")).strip().replace("\\u00B5", "µ")
        mm = {"micron": 1e-3, "µm": 1e-3, "um": 1e-3, "nm": 1e-6, "mm": 1.0, "cm": 10.0}.get(name)
    if mm is None:
        return None
    return (mm / yres, mm / xres)
