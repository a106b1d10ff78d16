"""Check a DICOM SEG file against the Segmentation IOD rules (BINARY, FRACTIONAL and LABELMAP).

:func:`validate_seg` returns one :class:`Violation` per broken rule, naming the attribute,
where it sits, what was found and the rule (PS3.3 A.51 / C.8.20, Supplement 243 for
LABELMAP, PS3.5 for the encoding).  It never raises on a damaged file: what cannot be read
becomes a violation.  Per-frame values come from the bulk reader (:mod:`labelmap.dicom.bulk`)
so 17,000-frame files are quick; the per-frame item structure (codes, item counts) is read
with pydicom on files up to :data:`DEEP_FRAME_LIMIT` frames, or always with ``deep=True``.

The file is loaded once into a :class:`~labelmap.validate.context.SegContext`; the rules of
:mod:`labelmap.validate.rules` (one module per IOD module group) read it, and
:mod:`labelmap.validate.runner` runs them in order.
"""

from __future__ import annotations

import os

from pydicom.dataset import Dataset

from labelmap.validate.context import DEEP_FRAME_LIMIT
from labelmap.validate.report import SegValidation, Severity, Violation
from labelmap.validate.runner import run

__all__ = ["Violation", "SegValidation", "Severity", "check_seg", "validate_seg", "DEEP_FRAME_LIMIT"]


def validate_seg(source: str | os.PathLike[str] | Dataset, *, deep: bool | None = None) -> list[Violation]:
    """Check a SEG file (or pydicom Dataset) against the Segmentation IOD; [] when it is clean.

    Parameters
    ----------
    source
        Path of a DICOM SEG file, or a pydicom Dataset.
    deep
        See :func:`check_seg`.

    Returns
    -------
    list[Violation]
        One per broken rule, in rule order; a file that cannot be read gives one "File" violation.
    """
    return check_seg(source, deep=deep).violations


def check_seg(source: str | os.PathLike[str] | Dataset, *, deep: bool | None = None) -> SegValidation:
    """Like :func:`validate_seg`, also saying which type, how many frames and whether items were read.

    Parameters
    ----------
    source
        Path of a DICOM SEG file, or a pydicom Dataset.
    deep
        Read every per-frame item with pydicom (derivation codes, item counts); None does so
        for files up to :data:`DEEP_FRAME_LIMIT` frames and for Datasets.

    Returns
    -------
    SegValidation
        The violations, the Segmentation Type, the frame count and whether items were read.
    """
    return run(source, deep)
