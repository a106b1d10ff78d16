"""Draw a :class:`~labelmap.pipeline.preview.Picture` as a PNG (Pillow), with its layout in text chunks.

Layout (all sizes in pixels): a margin of :data:`MARGIN` around everything; the title lines at the
top; then the tiles in a grid of ``ceil(sqrt(n))`` columns, left to right and top to bottom in
slice order, each tile below a caption line and :data:`GAP` apart; then the legend in as many
columns as fit the picture's width.  The exact rectangle of every tile is written in the PNG text
chunk ``labelmap:tiles`` (JSON), so pixels map back to slices without redoing this arithmetic:
pixel (x, y) of a tile at (tile x, tile y) with ``width`` x ``height`` shows row
``floor((y - tile y + 0.5) * rows / height)`` and column ``floor((x - tile x + 0.5) * columns / width)``
of slice ``slice`` (0-based along the slice normal).  ``labelmap:legend`` lists every segment
(number, label, rgb, voxels, drawn), ``labelmap:seg`` the SEG's facts; ``Title`` holds the first
title line, ``Description`` the title lines, the notes and one line per segment (number, label, voxels).
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap.errors import MissingDependencyError

if TYPE_CHECKING:
    from labelmap.pipeline.preview import Picture, Tile

__all__ = ["MARGIN", "GAP", "LEGEND_MAX", "require_pillow", "render", "save_picture"]

MARGIN = 10
GAP = 8
#: Legend entries drawn (all of them are in the ``labelmap:legend`` text chunk).
LEGEND_MAX = 400
#: The legend runs to about this many rows before the picture widens for another column ...
LEGEND_ROWS = 25
#: ... up to this many columns.
LEGEND_COLUMNS = 6
#: Background of the picture outside the tiles (tiles without a source image are black).
BACKGROUND = (40, 40, 40)
TEXT = (235, 235, 235)
DIM = (150, 150, 150)
FONT_SIZE = 12
#: Longest legend entry in pixels (longer names are shortened with "..."; the text chunk has them whole).
LEGEND_TEXT = 300

#: the tile rule in words, repeated in the ``labelmap:tiles`` chunk for whoever reads it
TILE_RULE = (
    "pixel (x, y) inside a tile shows row floor((y - tile.y + 0.5) * tile.rows / tile.height) and column "
    "floor((x - tile.x + 0.5) * tile.columns / tile.width) of slice tile.slice (0-based along the slice normal; "
    "a slide: of the total pixel matrix); segments are drawn in Segment Number order, a later one over an earlier "
    "one, with opacity alpha over the source image (1: opaque, over black) and, when alpha < 1, their outline opaque"
)


def require_pillow() -> Any:
    """The PIL package, or an error naming the pip line.

    Raises
    ------
    MissingDependencyError
        Pillow is not installed.
    """
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "drawing a preview needs the Pillow package: pip install pillow (or pip install 'labelmap[preview]')"
        ) from None
    import PIL

    return PIL


def _font(size: int = FONT_SIZE) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # an old Pillow or one without FreeType: the bitmap font
        return ImageFont.load_default()


def _safe(text: str, font: Any) -> str:
    """``text`` as the font can draw it: characters the bitmap font (Pillow without FreeType) cannot encode
    become ``?``; a FreeType font takes any text (glyphs it lacks are drawn as boxes)."""
    if type(font).__name__ == "FreeTypeFont" or text.isascii():
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def _text_width(text: str, font: Any) -> int:
    box = font.getbbox(text)
    return int(box[2] - box[0])


def _fit(text: str, font: Any, width: int) -> tuple[str, int]:
    """``text``, shortened with "..." to at most ``width`` pixels, and its width."""
    full = _text_width(text, font)
    if full <= width:
        return text, full
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if _text_width(text[:mid] + "...", font) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "...", _text_width(text[:lo] + "...", font)


def _luts(picture: Picture) -> tuple[np.ndarray, np.ndarray]:
    """Colour (N, 3) float32 and opacity (N,) float32 per Segment Number (0 and undrawn: transparent)."""
    top = max(
        [e.number for e in picture.legend]
        + [int(n.max()) if n.size else 0 for t in picture.tiles for n, _ in t.layers]
        + [0]
    )
    colour = np.zeros((top + 1, 3), dtype=np.float32)
    opacity = np.zeros(top + 1, dtype=np.float32)
    for e in picture.legend:
        if e.drawn and e.number > 0:
            colour[e.number] = e.rgb
            opacity[e.number] = picture.alpha
    return colour, opacity


def compose_tile(tile: Tile, colour: np.ndarray, opacity: np.ndarray, alpha: float) -> np.ndarray:
    """The (height, width, 3) uint8 pixels of a tile: source grey (or black), segments blended in order,
    and, over a source image, each segment's outline in its own colour."""
    if tile.grey is not None:
        rgb = np.repeat(tile.grey[..., None].astype(np.float32), 3, axis=2)
    else:
        rgb = np.zeros((tile.height, tile.width, 3), dtype=np.float32)
    top = np.zeros((tile.height, tile.width), dtype=np.uint16)
    for numbers, weight in tile.layers:
        a = opacity[numbers]
        if weight is not None:
            a = a * weight
        rgb += (colour[numbers] - rgb) * a[..., None]
        top = np.where(a > 0, numbers, top)
    if alpha < 1 and top.any():
        padded = np.pad(top, 1, mode="edge")
        inner = padded[1:-1, 1:-1]
        edge = (
            (inner != padded[:-2, 1:-1])
            | (inner != padded[2:, 1:-1])
            | (inner != padded[1:-1, :-2])
            | (inner != padded[1:-1, 2:])
        ) & (top > 0)
        rgb[edge] = colour[top[edge]]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _legend_text(entry: Any) -> str:
    count = "-" if entry.voxels is None else f"{entry.voxels:,}"
    note = f" ({entry.note})" if entry.note else ""
    return f"{entry.number}  {entry.label}  {count}{note}"


def render(picture: Picture) -> tuple[Any, dict[str, Any]]:
    """The picture as a Pillow RGB image and the layout (tile rectangles, legend) for its text chunks."""
    require_pillow()
    from PIL import Image, ImageDraw

    font = _font()
    line = max(int(font.getbbox("Agjy|")[3]) + 4, 12)
    tiles = picture.tiles
    n = len(tiles)
    cols = max(1, math.ceil(math.sqrt(n)))
    grid_rows = max(1, math.ceil(n / cols))
    cell_w = max(t.width for t in tiles) if tiles else 0
    cell_h = (max(t.height for t in tiles) if tiles else 0) + line
    title = [_safe(s, font) for s in (*picture.title, *picture.notes)]
    grid_w = cols * cell_w + (cols - 1) * GAP
    # legend: columns of equal width (swatch, number, label, voxels); the picture widens (up to
    # LEGEND_COLUMNS columns) rather than let a long legend run down far below the tiles
    shown = picture.legend[:LEGEND_MAX]
    swatch = line - 4
    fitted = [_fit(_safe(_legend_text(e), font), font, LEGEND_TEXT) for e in shown]
    texts = [t for t, _ in fitted]
    entry_w = max([w for _, w in fitted] + [40]) + swatch + 6 + 16
    wanted = min(LEGEND_COLUMNS, math.ceil(len(shown) / LEGEND_ROWS)) * entry_w - 16
    width = max(grid_w, 360, wanted, *(_text_width(s, font) for s in title)) + 2 * MARGIN
    width = min(width, max(grid_w + 2 * MARGIN, 2400))
    entry_w = min(entry_w, width - 2 * MARGIN)
    legend_cols = max(1, (width - 2 * MARGIN + 16) // entry_w)
    per_col = max(1, math.ceil(len(shown) / legend_cols))
    legend_rows = per_col + (1 if len(picture.legend) > len(shown) else 0)
    y_grid = MARGIN + len(title) * line + GAP
    y_legend = y_grid + grid_rows * cell_h + (grid_rows - 1) * GAP + GAP + line
    height = y_legend + legend_rows * line + MARGIN
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[...] = BACKGROUND
    colour, opacity = _luts(picture)
    placed = []
    for i, tile in enumerate(tiles):
        x = MARGIN + (i % cols) * (cell_w + GAP)
        y = y_grid + (i // cols) * (cell_h + GAP) + line
        canvas[y : y + tile.height, x : x + tile.width] = compose_tile(tile, colour, opacity, picture.alpha)
        placed.append(
            {
                "slice": tile.slice,
                "x": x,
                "y": y,
                "width": tile.width,
                "height": tile.height,
                "rows": tile.rows,
                "columns": tile.columns,
                "frames": list(tile.frames),
                "position_mm": tile.position_mm,
                "caption": tile.caption,
                **tile.extra,
            }
        )
    image = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(image)
    for j, text in enumerate(title):
        draw.text((MARGIN, MARGIN + j * line), text, font=font, fill=TEXT if j < len(picture.title) else DIM)
    for tile, where in zip(tiles, placed):
        caption = _safe(tile.caption, font)
        draw.text((where["x"], where["y"] - line + 1), caption, font=font, fill=DIM)
    draw.text((MARGIN, y_legend - line), f"{len(picture.legend)} segments (number, name, voxels):", font=font, fill=DIM)
    for j, (entry, text) in enumerate(zip(shown, texts)):
        x = MARGIN + (j // per_col) * entry_w
        y = y_legend + (j % per_col) * line
        box = (x, y + 2, x + swatch, y + 2 + swatch)
        if entry.drawn:
            draw.rectangle(box, fill=tuple(entry.rgb))
        else:
            draw.rectangle(box, outline=DIM)
        draw.text((x + swatch + 6, y), text, font=font, fill=TEXT if entry.drawn else DIM)
    if len(picture.legend) > len(shown):
        more = len(picture.legend) - len(shown)
        y = y_legend + per_col * line
        draw.text(
            (MARGIN, y),
            f"... and {more:,} more segments (all in the PNG text chunk labelmap:legend)",
            font=font,
            fill=DIM,
        )
    layout = {"version": 1, "rule": TILE_RULE, "alpha": picture.alpha, "tiles": placed}
    return image, layout


def save_picture(picture: Picture, output: str | os.PathLike[str]) -> tuple[int, int]:
    """Render ``picture`` and write it to ``output`` as a PNG with its text chunks, atomically.

    Returns
    -------
    tuple
        (width, height) of the PNG in pixels.

    Raises
    ------
    OutputError
        The file cannot be written.
    """
    from PIL.PngImagePlugin import PngInfo

    from labelmap import __version__
    from labelmap._util.atomic import atomic_path

    image, layout = render(picture)
    legend = [
        {"number": e.number, "label": e.label, "rgb": list(e.rgb), "voxels": e.voxels, "drawn": e.drawn, "note": e.note}
        for e in picture.legend
    ]
    info = PngInfo()
    info.add_itxt("Title", picture.title[0])
    unit = "pixels" if picture.facts.get("slide") else "voxels"
    lines = [
        f"{e.number}  {e.label}  {'-' if e.voxels is None else f'{e.voxels:,}'} {unit}"
        + (f" ({e.note})" if e.note else "")
        for e in picture.legend
    ]
    info.add_itxt("Description", "\n".join((*picture.title, *picture.notes, "Segments:", *lines)), zip=True)
    info.add_text("Software", f"labelmap {__version__}")
    info.add_itxt("labelmap:tiles", json.dumps(layout, separators=(",", ":")), zip=True)
    info.add_itxt("labelmap:legend", json.dumps(legend, ensure_ascii=False, separators=(",", ":")), zip=True)
    info.add_itxt(
        "labelmap:seg", json.dumps({**picture.facts, "notes": list(picture.notes)}, separators=(",", ":")), zip=True
    )
    with atomic_path(output) as tmp:
        image.save(tmp, format="PNG", pnginfo=info, compress_level=1)
    return image.size
