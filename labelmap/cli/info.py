"""``labelmap-convert info``: a readable summary of a DICOM SEG file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from labelmap.dicom.uids import SEG_SOP_CLASSES
from labelmap.dicom.values import int_value, quiet_pydicom
from labelmap.seg.decode import frames_array, open_seg, segment_descriptions

__all__ = ["seg_summary", "describe_seg"]


def seg_summary(path: str | os.PathLike[str]) -> dict:
    """The facts ``info`` prints, as a dict (also handy in notebooks)."""
    with quiet_pydicom():
        return _summary(path)


def _summary(path: str | os.PathLike[str]) -> dict:
    opened = open_seg(path)
    ds, name = opened.header, opened.name  # (checked when opened; read with int_value)
    seg_type = str(ds.get("SegmentationType", ""))
    info = opened.info
    segments = segment_descriptions(ds, name)
    n_frames = opened.n_frames
    counts: dict[int, int] = {}
    bits = int_value(ds, "BitsAllocated", name, default=0)
    if seg_type == "LABELMAP":
        frames = frames_array(opened)
        bc = np.bincount(frames.ravel())
        counts = {int(v): int(c) for v, c in enumerate(bc) if c}
    elif bits == 1 and info.segment_numbers is not None:
        from labelmap.seg.decode_classic import _binary_stream

        counts = _bit_counts(_binary_stream(opened), info.segment_numbers, info.rows * info.columns)
    elif bits == 8 and info.segment_numbers is not None:
        frames = frames_array(opened)
        for num, frame in zip(info.segment_numbers, frames):
            counts[int(num)] = counts.get(int(num), 0) + int(np.count_nonzero(frame))
    normal = np.cross(info.orientation[:3], info.orientation[3:])
    proj = info.positions @ normal
    return {
        "file": name,
        "size_bytes": Path(name).stat().st_size if Path(name).exists() else None,
        "sop_class": f"{ds.SOPClassUID} ({SEG_SOP_CLASSES.get(str(ds.SOPClassUID), '?')})",
        "segmentation_type": seg_type,
        "transfer_syntax": _syntax_name(opened.transfer_syntax),
        "frames": n_frames,
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


def describe_seg(path: str | os.PathLike[str]) -> None:
    """Print :func:`seg_summary` as a table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    s = seg_summary(path)
    console = Console()
    size = s["size_bytes"]
    console.print(
        f"[bold]{escape(str(s['file']))}[/bold]" + (f"  ({size:,} bytes)" if size is not None else ""), soft_wrap=True
    )
    for key, label in (
        ("sop_class", "SOP Class"),
        ("segmentation_type", "Segmentation Type"),
        ("transfer_syntax", "Transfer Syntax"),
        ("frames", "Frames"),
        ("bits_allocated", "Bits Allocated"),
        ("photometric_interpretation", "Photometric"),
        ("pixel_padding_value", "Pixel Padding Value"),
    ):
        console.print(f"  {label:<20} {escape(str(s[key]))}", soft_wrap=True)
    console.print(
        f"  {'Geometry':<20} {s['columns']} x {s['rows']} px, spacing {s['pixel_spacing'][1]:g} x "
        f"{s['pixel_spacing'][0]:g} mm, slice spacing {s['slice_spacing']}, "
        f"{s['distinct_positions']} positions from {s['positions_along_normal'][0]:.2f} to "
        f"{s['positions_along_normal'][1]:.2f} mm along the normal",
        soft_wrap=True,
    )
    console.print(f"  {'Orientation':<20} {escape(str(s['orientation']))}", soft_wrap=True)
    table = Table(title=f"{len(s['segments'])} segments")
    for col in ("#", "label", "category", "type", "code", "voxels"):
        table.add_column(col, justify="right" if col in ("#", "voxels") else "left")
    for seg in s["segments"]:
        table.add_row(
            str(seg["number"]),
            *(escape(str(seg[k])) for k in ("label", "category", "type", "code")),
            f"{seg['voxels']:,}",
        )
    console.print(table)
