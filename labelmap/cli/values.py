"""Values of ``labelmap-convert``'s flags: checks and parsers shared by the typer app and the launcher.

Typer-free (and numpy-free): :mod:`labelmap.cli.launch` parses the hot commands' flags with these
without loading the typer app; :mod:`labelmap.cli.options` re-exports them next to the flags.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labelmap.pipeline.options import WriteOptions

#: Same value as :data:`labelmap.geometry.DEFAULT_TOLERANCE_MM` (not imported: it loads numpy; a test ties them).
DEFAULT_TOLERANCE = 0.01


# --------------------------------------------------------------------------- value checks (every command)
def path_problem(text: object) -> str | None:
    """Why a path argument cannot be used, or None: an empty string (never taken as the current
    folder), a NUL character, or an existing FIFO, device or socket (reading one could block or
    never end; writing one is not a file)."""
    import os
    import stat

    raw = os.fspath(text) if isinstance(text, (str, os.PathLike)) else str(text)
    if raw == "":
        return "an empty path; give a file or folder name ('.' is the current folder)"
    if "\0" in str(raw):
        return f"{raw!r} contains a NUL character"
    try:
        mode = os.stat(raw).st_mode
    except (OSError, ValueError):
        return None  # missing or unreachable: the command says so with its own words
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    from labelmap._util.atomic import kind_of

    return f"{raw!r} is {kind_of(mode)}, not a regular file or folder"


def number_problem(value: object) -> str | None:
    """Why a numeric option value cannot be used, or None: NaN and infinities are refused."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    return None


def split_paths(flag: str, values: list[str] | None, what: str) -> list[str]:
    """dcmqi list syntax, checked: comma-separated paths, the flag possibly given several times.

    Parameters
    ----------
    flag
        The option, for messages.
    values
        Its values as given.
    what
        What each item is ("label image"), for messages.

    Returns
    -------
    list
        The items, in order.

    Raises
    ------
    InputError
        An empty item (``a.nrrd,,b.nrrd``, a trailing comma, an empty value) or an unusable path.
    """
    from labelmap.errors import InputError

    given = ",".join(values or [])
    items = [p for v in values or [] for p in v.split(",")]
    for n, item in enumerate(items, 1):
        if not item:
            raise InputError(
                f"{flag} {given!r}: item {n} is empty; give each {what} path, separated by commas "
                "(an empty path is never the current folder)"
            )
        problem = path_problem(item)
        if problem is not None:
            raise InputError(f"{flag}: {what} {problem}")
    return items


def resources(threads: int, progress: object = None):  # -> Resources | None (numpy-free import at module level)
    """``--threads N`` and the progress bar (``Printer.progress``) as the pipelines' ``resources``: None for
    0 threads and no bar (each step's default: every core; nothing reported)."""
    from labelmap._util.resources import Resources

    return Resources(threads=threads, progress=progress) if threads or progress is not None else None  # type: ignore[arg-type]


def parse_tile_size(text: str | None) -> tuple[int, int] | None:
    """``--tile-size`` as (rows, columns): ``N`` or ``RxC``.

    Raises
    ------
    InputError
        Anything else, or sizes outside 1..65535.
    """
    from labelmap.errors import InputError

    if text is None:
        return None
    parts = text.lower().replace("\u00d7", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(1 <= v <= 65535 for v in values):
        raise InputError(f"--tile-size {text!r}: give N or RxC, each 1..65535 (e.g. 256 or 512x256)")
    return values[0], values[1]


def slide_write_options(
    options: WriteOptions,
    tiled: str | None,
    tile_size: str | None,
    level: int | None,
    pyramid: bool,
    compression: str | None,
) -> WriteOptions:  # noqa: PLR0913
    """``options`` (WriteOptions) with the slide flags of itk2seg / itkimage2segimage applied: TILED_FULL unless
    ``--tiled`` says otherwise, the parsed ``--tile-size``, the source level, ``--pyramid`` and the frame
    compression exactly as given (None: the slide writer's own default)."""
    from dataclasses import replace

    return replace(
        options,
        tiled=tiled if tiled is not None else "full",
        tile_size=parse_tile_size(tile_size),
        level=level,
        pyramid=pyramid,
        tiled_compression=compression,
    )


def slide_flags_problem(level: int | None, tiled: object, tile_size: str | None, pyramid: bool) -> str | None:
    """The slide-only flags given for a volume source, as a message, or None."""
    given = [
        flag
        for flag, value in (("--level", level), ("--tiled", tiled), ("--tile-size", tile_size), ("--pyramid", pyramid))
        if value not in (None, False)
    ]
    if not given:
        return None
    return f"{', '.join(given)} apply to whole-slide sources only; the --dicom source is not a slide"


def slide_image_problem(labels: Sequence[os.PathLike | str], dicom: Sequence[os.PathLike | str]) -> str | None:
    """A 2-D slide label image (TIFF, PNG, .npy) given with a source that is no slide, as a message, or None."""
    from labelmap.formats.slide_io import SLIDE_READ_SUFFIXES

    two_d = [s for s in SLIDE_READ_SUFFIXES if s not in (".nrrd", ".nhdr")]
    image = next((p for p in labels if str(p).lower().endswith(tuple(two_d))), None)
    if image is None:
        return None
    source = ", ".join(str(d) for d in dicom[:3]) + (" ..." if len(dicom) > 3 else "")
    return (
        f"{str(image)!r} is a 2-D slide label image, but the source {source} holds no VL Whole Slide Microscopy "
        "image; give the slide's folder with the DICOM source option (a CT or MR series takes a label volume: "
        ".nrrd, .nhdr, .nii, .nii.gz)"
    )


def parse_slices(text: str | None) -> int | list[int] | None:
    """``--slices``: a count (``12``), ``all``, or 0-based slice indices and ranges (``3,7,10-12``).

    A single number is a count; a list (any comma) or a range names slices (``5,`` is slice 5 alone).

    Raises
    ------
    InputError
        Anything else, naming the item at fault.
    """
    import sys

    from labelmap.errors import InputError

    if text is None:
        return None
    value = text.strip().lower()
    if value == "all":
        return sys.maxsize
    if value.isdigit():
        return int(value)
    picks: list[int] = []
    for item in (part.strip() for part in value.split(",")):
        if not item and "," in value:
            continue
        first, dash, last = item.partition("-")
        if first.isdigit() and (not dash or last.isdigit()):
            lo, hi = int(first), int(last) if dash else int(first)
            if hi < lo:
                raise InputError(f"--slices {text!r}: range {item!r} runs backwards; write {hi}-{lo}")
            picks.extend(range(lo, hi + 1))
            continue
        raise InputError(
            f"--slices {text!r}: {item!r} is not a slice index or range; give a count (12), 'all', or 0-based "
            "indices and ranges (3,7,10-12)"
        )
    if not picks:
        raise InputError(f"--slices {text!r} names no slice; give a count (12), 'all', or indices (3,7,10-12)")
    return picks


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``--window C,W``: the display window's center and width (width > 0).

    Raises
    ------
    InputError
        Not two finite numbers, or a width that is not positive.
    """
    import math

    from labelmap.errors import InputError

    if text is None:
        return None
    parts = text.split(",")
    try:
        center, width = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"--window {text!r}: give the center and width as two numbers, e.g. --window 40,400") from None
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise InputError(f"--window {text!r}: the center must be a number and the width a positive number")
    return center, width
