"""The options of a conversion, declared once for the Python API, the CLI and batch runs.

A pipeline function takes one :class:`WriteOptions` or :class:`ReadOptions` (plus a
:class:`~labelmap._util.resources.Resources`) instead of re-declaring the same ten keywords; the CLI builds
them from its flags and a batch manifest from its columns.  :class:`WriteOptions` is
defined with the SEG encoders (:mod:`labelmap.seg.options`), which take it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.seg.options import WriteOptions

__all__ = ["WriteOptions", "ReadOptions"]


@dataclass(frozen=True)
class ReadOptions:
    """How a SEG is read back into label images.

    Parameters
    ----------
    fmt
        Output format name (``"nrrd"``, ``"nifti"``, ``"segnrrd"``).
    prefix
        Output file name prefix (dcmqi's ``--prefix``).
    merge_segments
        BINARY / FRACTIONAL: the fewest images of non-overlapping segments instead of one per segment.
    tol_mm
        How far (mm) a frame may lie from the reference grid.
    create_dir
        Create the output folder when it does not exist.
    dcmqi_pixel_types
        Label images in the pixel type dcmqi's ``segimage2itkimage`` writes: 16-bit signed for
        BINARY / FRACTIONAL and for 16-bit LABELMAP frames, 8-bit unsigned for 8-bit LABELMAP frames
        (16-bit unsigned when a value exceeds 32767, which dcmqi's type cannot hold).  Otherwise the
        smallest unsigned type that holds the values.
    """

    fmt: str = "nrrd"
    prefix: str = ""
    merge_segments: bool = False
    tol_mm: float = DEFAULT_TOLERANCE_MM
    create_dir: bool = True
    dcmqi_pixel_types: bool = False
