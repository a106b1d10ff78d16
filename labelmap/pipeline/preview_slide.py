"""The preview of a slide (tiled) SEG: one thumbnail of its total pixel matrix with the overlay.

The matrix is read band by band (:meth:`~labelmap.seg.tiled_read.SlideSeg.iter_bands`): each band
adds to the pixel counts and gives the thumbnail the rows nearest-neighbour sampling picks from it,
so memory stays at a few bands whatever the slide's size.  Given a folder of a SEG pyramid's levels,
the smallest level still at least the thumbnail's size is read instead of level 0.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap.pipeline.preview import LegendEntry, Picture, Tile, _nearest, _size_text, display_size, segment_rgb

if TYPE_CHECKING:
    from labelmap.seg.tiled_read import SlideSeg

__all__ = ["slide_picture"]


def _choose_level(levels: list[SlideSeg], longest: int) -> tuple[int, SlideSeg]:
    """The smallest level whose longer side is at least ``longest`` (level 0 when every level is smaller)."""
    pick = 0
    for i, level in enumerate(levels):
        if max(level.geometry.rows, level.geometry.columns) >= longest:
            pick = i
    return pick, levels[pick]


def slide_picture(seg: str | os.PathLike[str], *, longest: int, threads: int | None = None) -> Picture:
    """A :class:`~labelmap.pipeline.preview.Picture` of one thumbnail of a slide SEG (file or pyramid folder).

    Raises
    ------
    SegFormatError
        Not a readable slide SEG.
    """
    from labelmap.dicom.values import quiet_pydicom
    from labelmap.seg.tiled_read import open_slide_levels, open_slide_seg

    with quiet_pydicom():
        levels = open_slide_levels(seg) if os.path.isdir(seg) else [open_slide_seg(seg)]
    level, slide = _choose_level(levels, longest)
    g = slide.geometry
    height, width = display_size(g.rows, g.columns, g.pixel_spacing, longest)
    ri, ci = _nearest(g.rows, height), _nearest(g.columns, width)
    thumb = np.zeros((height, width), dtype=np.uint16)
    counts: dict[int, int] = {}
    overlap = 0
    segments = sorted(slide.segments, key=lambda s: s.number)
    if slide.seg_type == "LABELMAP":
        lut = np.zeros(1 << 16, dtype=np.uint16)
        for s in segments:
            if s.number > 0:
                lut[s.number] = s.number
        hist = np.zeros(256 if slide.dtype == np.uint8 else 1 << 16, dtype=np.int64)
        from labelmap.kernels.tiles import count_values

        for row0, band in slide.iter_bands(0, threads=threads):
            count_values(band, hist, threads=threads)
            sel = (ri >= row0) & (ri < row0 + len(band))
            if sel.any():
                thumb[sel] = lut[band[ri[sel] - row0][:, ci]]
        counts = {int(v): int(c) for v, c in enumerate(hist.tolist()) if c}
    else:
        mfv = _max_fractional(slide)
        for layer, s in enumerate(slide.segments):  # sorted by number: a later segment is drawn over an earlier one
            total = 0
            for row0, band in slide.iter_bands(layer, threads=threads):
                total += int(np.count_nonzero(band))
                sel = (ri >= row0) & (ri < row0 + len(band))
                if sel.any():
                    sampled = band[ri[sel] - row0][:, ci]
                    mask = sampled != 0 if slide.seg_type == "BINARY" else sampled.astype(np.int32) * 2 >= mfv
                    view = thumb[sel]
                    overlap += int(np.count_nonzero(mask & (view > 0)))
                    view[mask] = s.number
                    thumb[sel] = view
            counts[s.number] = counts.get(s.number, 0) + total
    tile = Tile(
        slice=0,
        caption=f"level {level}: {g.columns:,} x {g.rows:,} px"
        if len(levels) > 1
        else f"{g.columns:,} x {g.rows:,} px",
        rows=g.rows,
        columns=g.columns,
        height=height,
        width=width,
        grey=None,
        layers=((thumb, None),),
        frames=(),
        extra={"level": level, "file": slide.name},
    )
    legend = tuple(
        LegendEntry(number=s.number, label=s.display_label, rgb=segment_rgb(s), voxels=counts.get(s.number, 0))
        for s in segments
    )
    notes, warnings = [], []
    if slide.seg_type != "LABELMAP":
        found = f"; {overlap:,} thumbnail pixels hold several segments" if overlap else ""
        notes.append(
            f"segments are drawn in Segment Number order{found}: where they overlap a later (higher-numbered) one "
            "is drawn over an earlier one"
        )
        if overlap:
            warnings.append(
                f"{slide.name}: {overlap:,} thumbnail pixels hold several segments; the preview shows the "
                "highest-numbered one there"
            )
    if slide.seg_type == "FRACTIONAL":
        notes.append("FRACTIONAL: drawn where the value is at least half the maximum; pixels counted above 0")
    size = Path(slide.name).stat().st_size
    title = (
        f"{Path(slide.name).name}: {slide.seg_type} slide SEG, {slide.n_frames:,} frames, {_size_text(size)}",
        f"{len(segments)} segments, total pixel matrix {g.columns:,} x {g.rows:,}"
        + (f" (level {level} of {len(levels)})" if len(levels) > 1 else "")
        + f"; thumbnail {width} x {height} over black",
    )
    facts: dict[str, Any] = {
        "file": slide.name,
        "segmentation_type": slide.seg_type,
        "frames": slide.n_frames,
        "size_bytes": size,
        "matrix": [g.columns, g.rows],
        "level": level,
        "slide": True,
    }
    return Picture(title, (tile,), legend, 1.0, facts, tuple(notes), tuple(warnings))


def _max_fractional(slide: SlideSeg) -> int:
    try:
        value = int(slide.header.get("MaximumFractionalValue", 255) or 255)
    except (TypeError, ValueError):
        value = 255
    return min(255, max(1, value))
