"""``labelmap-convert info``: prints :func:`labelmap.seg.summary.seg_summary` as a readable table."""

from __future__ import annotations

import os
import re

from labelmap.seg.summary import seg_summary

__all__ = ["describe_seg"]

#: C0 and C1 control characters and DEL: a value read from a file must not drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: object) -> str:
    """``str(value)`` with control characters written as escapes (``\\x1b``, ``\\n``), so that a value
    read from a file prints on its own line and cannot send terminal control sequences.

    Parameters
    ----------
    value
        Any value of the summary.

    Returns
    -------
    str
        The text, safe to print (not yet escaped for rich markup).
    """
    text = str(value)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


#: Above this many segments the table is printed as plain aligned columns: rich lays out each row
#: in turn (about a millisecond each), which for 65,535 segments would take about a minute.
PLAIN_TABLE_ROWS = 2000
_COLUMNS = ("#", "label", "category", "type", "code", "voxels")


def _count(seg: dict) -> str:
    return "-" if seg["voxels"] is None else f"{seg['voxels']:,}"


def _plain_table(segments: list[dict]) -> str:
    """The segment table as text: a title, a header, a rule and one line per segment (no wrapping)."""
    rows = [
        (str(seg["number"]), *(printable(seg[k]) for k in ("label", "category", "type", "code")), _count(seg))
        for seg in segments
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in (0, 5) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [f"{len(segments)} segments", line(_COLUMNS), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(out) + "\n"


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
        f"[bold]{escape(printable(s['file']))}[/bold]" + (f"  ({size:,} bytes)" if size is not None else ""),
        soft_wrap=True,
    )
    if s.get("slide"):
        _describe_slide(console, s)
        return
    for key, label in (
        ("sop_class", "SOP Class"),
        ("segmentation_type", "Segmentation Type"),
        ("transfer_syntax", "Transfer Syntax"),
        ("frames", "Frames"),
        ("bits_allocated", "Bits Allocated"),
        ("photometric_interpretation", "Photometric"),
        ("pixel_padding_value", "Pixel Padding Value"),
    ):
        console.print(f"  {label:<20} {escape(printable(s[key]))}", soft_wrap=True)
    console.print(
        f"  {'Geometry':<20} {s['columns']} x {s['rows']} px, spacing {s['pixel_spacing'][1]:g} x "
        f"{s['pixel_spacing'][0]:g} mm, slice spacing {s['slice_spacing']}, "
        f"{s['distinct_positions']} positions from {s['positions_along_normal'][0]:.2f} to "
        f"{s['positions_along_normal'][1]:.2f} mm along the normal",
        soft_wrap=True,
    )
    console.print(f"  {'Orientation':<20} {escape(printable(s['orientation']))}", soft_wrap=True)
    if len(s["segments"]) > PLAIN_TABLE_ROWS:
        console.file.write(_plain_table(s["segments"]))
        return
    table = Table(title=f"{len(s['segments'])} segments")
    for col in ("#", "label", "category", "type", "code", "voxels"):
        table.add_column(col, justify="right" if col in ("#", "voxels") else "left")
    for seg in s["segments"]:
        table.add_row(
            str(seg["number"]), *(escape(printable(seg[k])) for k in ("label", "category", "type", "code")), _count(seg)
        )
    console.print(table)


def _describe_slide(console, s: dict) -> None:  # console: rich.console.Console
    """The header lines of a slide SEG (matrix, tiles, organisation, spacing, origin), then its segments."""
    from rich.markup import escape

    rows, columns = s["matrix"]
    spacing = s["pixel_spacing_um"]
    x, y, z = s["origin"]
    lines = [
        ("SOP Class", s["sop_class"]),
        ("Segmentation Type", s["segmentation_type"]),
        ("Transfer Syntax", s["transfer_syntax"]),
        ("Organization", s["organization"]),
        ("Frames", s["frames"]),
        ("Bits Allocated", s["bits_allocated"]),
        ("Pixel Padding Value", s["pixel_padding_value"]),
        ("Total Pixel Matrix", f"{columns:,} x {rows:,} px (columns x rows)"),
        (
            "Tiles",
            f"{s['tile'][1]} x {s['tile'][0]} px, {s['tiles'][1]} x {s['tiles'][0]} = "
            f"{s['tiles'][0] * s['tiles'][1]:,} tiles",
        ),
        ("Pixel Spacing", f"{spacing[0]:g} x {spacing[1]:g} um (between rows x between columns)"),
        ("Origin", f"X {x:g} mm, Y {y:g} mm, Z {z:g} um"),
        ("Orientation", s["orientation"]),
    ]
    if s.get("pyramid_uid"):
        lines.append(("Pyramid UID", s["pyramid_uid"]))
    for label, value in lines:
        console.print(f"  {label:<20} {escape(printable(value))}", soft_wrap=True)
    for warning in s["warnings"]:
        console.print(f"  warning: {escape(printable(warning))}", soft_wrap=True)
    segments = s["segments"]
    if len(segments) > PLAIN_TABLE_ROWS:
        console.file.write(_plain_table(segments))
        return
    from rich.table import Table

    table = Table(title=f"{len(segments)} segments (pixels not counted for slides)")
    for col in _COLUMNS[:-1]:
        table.add_column(col, justify="right" if col == "#" else "left")
    for seg in segments:
        table.add_row(str(seg["number"]), *(escape(printable(seg[k])) for k in ("label", "category", "type", "code")))
    console.print(table)
