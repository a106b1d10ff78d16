"""``labelmap-convert info``: prints :func:`labelmap.seg.summary.seg_summary` as a readable table."""

from __future__ import annotations

import os

from labelmap.seg.summary import seg_summary

__all__ = ["describe_seg"]


def describe_seg(path: str | os.PathLike[str]) -> None:
    """Print :func:`seg_summary` of ``path``: the header facts, then a table of the segments.

    Parameters
    ----------
    path
        A DICOM SEG file.

    Raises
    ------
    SegFormatError
        The file is not a readable DICOM SEG.
    """
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
