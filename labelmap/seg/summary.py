"""The facts of a DICOM SEG file that ``labelmap-convert info`` prints: type, syntax, geometry, voxels per segment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from labelmap.dicom.values import quiet_pydicom
from labelmap.seg.read import int_value, open_seg, segment_descriptions
from labelmap.seg.types import SEG_SOP_CLASSES

__all__ = ["seg_summary", "slide_summary"]


def seg_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The facts ``info`` prints, as a dict (also handy in notebooks).

    Parameters
    ----------
    path
        A DICOM SEG file (LABELMAP, BINARY or FRACTIONAL).

    Returns
    -------
    dict
        File, size, SOP Class, Segmentation Type, transfer syntax, frame and pixel facts,
        geometry, and per segment its number, label, codes and voxel count.

    Raises
    ------
    SegFormatError
        The file is not a readable DICOM SEG.
    """
    from labelmap.seg.tiled_sniff import is_slide_seg

    if is_slide_seg(path):
        return slide_summary(path)
    with quiet_pydicom():
        opened = open_seg(path)
        ds, name = opened.header, opened.name  # (checked when opened; read with int_value)
        seg_type = str(ds.get("SegmentationType", ""))
        info = opened.info
        segments = segment_descriptions(ds, name)
        counts: dict[int, int] = {}
        bits = int_value(ds, "BitsAllocated", name, default=0)
        if seg_type == "LABELMAP":
            frames = opened.pixels.frames(opened.shape, int_value(ds, "BitsAllocated", name, minimum=1))
            bc = np.bincount(frames.ravel())
            counts = {int(v): int(c) for v, c in enumerate(bc) if c}
        elif bits == 1 and info.segment_numbers is not None:
            counts = _bit_counts(
                opened.pixels.binary_stream(opened.shape), info.segment_numbers, info.rows * info.columns
            )
        elif bits == 8 and info.segment_numbers is not None:
            frames = opened.pixels.frames(opened.shape, 8)
            for num, frame in zip(info.segment_numbers, frames):
                counts[int(num)] = counts.get(int(num), 0) + int(np.count_nonzero(frame))
        proj = info.positions @ np.cross(info.orientation[:3], info.orientation[3:])
        return {
            "file": name,
            "size_bytes": Path(name).stat().st_size if Path(name).exists() else None,
            "sop_class": f"{ds.SOPClassUID} ({SEG_SOP_CLASSES.get(str(ds.SOPClassUID), '?')})",
            "segmentation_type": seg_type,
            "transfer_syntax": _syntax_name(opened.pixels.transfer_syntax),
            "frames": opened.n_frames,
            "bits_allocated": bits,
            "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
            "pixel_padding_value": int_value(ds, "PixelPaddingValue", name, default=None),
            "rows": info.rows,
            "columns": info.columns,
            "pixel_spacing": info.pixel_spacing,
            "slice_spacing": info.slice_spacing,
            "orientation": [round(float(v), 6) for v in info.orientation],
            "positions_along_normal": (float(proj.min()), float(proj.max())),
            "distinct_positions": int(len(np.unique(np.round(proj, 3)))),
            "segments": [
                {
                    "number": s.number,
                    "label": s.display_label,
                    "category": s.category.meaning,
                    "type": s.type.meaning + (f" ({s.type_modifier.meaning})" if s.type_modifier else ""),
                    "code": f"{s.type.scheme} {s.type.value}",
                    "voxels": counts.get(s.number, 0),
                }
                for s in sorted(segments, key=lambda s: s.number)
            ],
        }


def slide_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The facts ``info`` prints about a slide (tiled) SEG, from its headers only (no frame is decoded).

    Parameters
    ----------
    path
        A slide SEG file.

    Returns
    -------
    dict
        ``slide: True``, file, size, SOP Class, type, syntax, frames, bits, organisation, matrix
        and tile size, tiles, spacing (mm and um), origin, orientation, warnings and per segment
        its number, label and codes (``voxels`` None: not counted).

    Raises
    ------
    SegFormatError
        The file is not a readable slide SEG.
    """
    from labelmap.seg.tiled_read import open_slide_seg

    with quiet_pydicom():
        slide = open_slide_seg(path)
    g, ds = slide.geometry, slide.header
    return {
        "slide": True,
        "file": slide.name,
        "size_bytes": Path(slide.name).stat().st_size,
        "sop_class": f"{ds.SOPClassUID} ({SEG_SOP_CLASSES.get(str(ds.SOPClassUID), '?')})",
        "segmentation_type": slide.seg_type,
        "transfer_syntax": _syntax_name(slide.transfer_syntax),
        "frames": slide.n_frames,
        "bits_allocated": slide.bits,
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
        "pixel_padding_value": slide.pixel_padding_value,
        "organization": slide.organization or "(none: sparse)",
        "matrix": (g.rows, g.columns),
        "tile": (g.tile_rows, g.tile_columns),
        "tiles": (g.tiles_down, g.tiles_across),
        "pixel_spacing": g.pixel_spacing,
        "pixel_spacing_um": (g.pixel_spacing[0] * 1000.0, g.pixel_spacing[1] * 1000.0),
        "origin": g.origin,
        "orientation": [round(float(v), 6) for v in g.orientation],
        "pyramid_uid": str(ds.get("PyramidUID", "") or "") or None,
        "warnings": list(slide.warnings),
        "segments": [
            {
                "number": s.number,
                "label": s.display_label,
                "category": s.category.meaning,
                "type": s.type.meaning + (f" ({s.type_modifier.meaning})" if s.type_modifier else ""),
                "code": f"{s.type.scheme} {s.type.value}",
                "voxels": None,
            }
            for s in sorted(slide.segments, key=lambda s: s.number)
        ],
    }


def _syntax_name(uid: str | None) -> str:
    if not uid:
        return "(none)"
    from pydicom.uid import UID

    return f"{uid} ({UID(uid).name})"


def _bit_counts(packed: np.ndarray, segment_numbers: np.ndarray, npx: int, chunk: int = 256) -> dict[int, int]:
    """Set voxels per segment in a 1-bit stream, unpacking ``chunk`` frames at a time."""
    counts: dict[int, int] = {}
    n_frames = len(segment_numbers)
    for start in range(0, n_frames, chunk):
        stop = min(n_frames, start + chunk)
        first_bit, last_bit = start * npx, stop * npx
        raw = packed[first_bit // 8 : (last_bit + 7) // 8]
        bits = np.unpackbits(raw, bitorder="little")[first_bit % 8 : first_bit % 8 + (last_bit - first_bit)]
        per_frame = bits.reshape(stop - start, npx).sum(axis=1)
        for num, c in zip(segment_numbers[start:stop], per_frame):
            counts[int(num)] = counts.get(int(num), 0) + int(c)
    return counts
