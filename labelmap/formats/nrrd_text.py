"""The text of the NRRD headers the writers emit, from plain numbers (numpy-free).

:func:`labelmap.formats.nrrd_header.header_lines` feeds it a volume's array and geometry; the plain
LABELMAP read lane (:mod:`labelmap.pipeline.lean_read`) feeds it the same numbers without numpy, so
both write the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["NRRD_TYPE_NAMES", "vector_text", "header_text_lines"]

#: NRRD's names of the float types (integer types go by NumPy's name)
NRRD_TYPE_NAMES = {"float32": "float", "float64": "double"}


def vector_text(v: Iterable[float]) -> str:
    """``(x,y,z)`` with each number's shortest exact repr, so geometry round-trips."""
    return "(" + ",".join(repr(float(x)) for x in v) + ")"


def header_text_lines(
    type_name: str,
    sizes: Sequence[int],
    vectors: Sequence[Iterable[float]],
    origin: Iterable[float],
    compress: bool,
    *,
    layers: bool = False,
) -> list[str]:
    """The lines of a NRRD0004 attached header in LPS.

    Parameters
    ----------
    type_name
        NumPy's name of the pixel type (``uint8``, ``float32`` ...).
    sizes
        The axis sizes, fastest first (NRRD's order: i, j, k, then the layer axis).
    vectors
        The i, j and k axis vectors (spacing x direction).
    origin
        The centre of voxel (0, 0, 0).
    compress
        gzip encoding, else raw.
    layers
        A leading list axis (a multi-layer Slicer segmentation): ``sizes`` has four entries.
    """
    return [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {NRRD_TYPE_NAMES.get(type_name, type_name)}",
        f"dimension: {len(sizes)}",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(n) for n in sizes),
        "space directions: " + ("none " if layers else "") + " ".join(vector_text(v) for v in vectors),
        "kinds: " + ("list " if layers else "") + "domain domain domain",
        "endian: little",
        "encoding: " + ("gzip" if compress else "raw"),
        "space origin: " + vector_text(origin),
    ]
