"""Runs every rule on one SEG, in order, and collects the violations.

A rule that raises (a damaged value nobody foresaw) becomes one "could not finish"
violation so that users still get the rest of the report; with the environment variable
``LABELMAP_VALIDATE_STRICT=1`` (set by the test suite) it is re-raised instead, so that a
broken rule cannot hide behind that violation.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Iterator

from pydicom.dataset import Dataset

from labelmap.validate.context import SegContext, Unreadable, load_context
from labelmap.validate.report import SegValidation, Violation, violation

#: Environment variable: "1" re-raises a rule's crash instead of reporting it.
STRICT_ENV = "LABELMAP_VALIDATE_STRICT"

#: The rules (modules of :mod:`labelmap.validate.rules`) in the order their violations are reported; the first
#: decides whether the others apply.
RULES: tuple[tuple[str, Callable[[SegContext], Iterator[Violation]]], ...] = tuple(
    (name, importlib.import_module(f"labelmap.validate.rules.{name}").check)
    for name in "sop general image_pixel palette segments functional_groups geometry segment_identification "
    "references dimensions slide per_frame_items syntax pixels vr".split()
)
#: The rule text of a rule's crash.
_CRASHED = "the file is damaged in a way the validator could not describe more precisely"


def run(source: str | os.PathLike[str] | Dataset, deep: bool | None) -> SegValidation:
    """Check ``source`` with every rule of :data:`RULES`.

    Parameters
    ----------
    source
        Path of a DICOM SEG file, or a pydicom Dataset.
    deep
        See :func:`labelmap.validate.check_seg`.

    Returns
    -------
    SegValidation

    Raises
    ------
    Exception
        Whatever a rule raises, only when ``LABELMAP_VALIDATE_STRICT=1``.
    """
    name = (getattr(source, "filename", None) or "SEG dataset") if isinstance(source, Dataset) else str(source)
    result = SegValidation(name=str(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about bad values; they become violations here
        _run(source, deep, result)
    return result


def _run(source: str | os.PathLike[str] | Dataset, deep: bool | None, result: SegValidation) -> None:
    out = result.violations
    try:
        ctx = load_context(source, result.name, deep)
    except Unreadable as exc:
        out.append(violation("File", f"cannot be read: {exc}", "PS3.10 7 DICOM File Format"))
        return
    result.segmentation_type = ctx.seg_type or None
    strict = os.environ.get(STRICT_ENV) == "1"
    for name, rule in RULES:
        try:
            for found in rule(ctx):
                out.append(found)
        except Exception as exc:  # a damaged value must not end the validation with a traceback
            if strict:
                raise
            out.append(violation("File", f"check {name} could not finish: {type(exc).__name__}: {exc}", _CRASHED))
        if ctx.spec is None:
            return  # not a Segmentation Type (reported by the first rule): the others do not apply
    result.frames = ctx.n_frames if ctx.n_frames is not None else (ctx.table.n_frames if ctx.table else None)
    result.per_frame_items_checked = ctx.per_frame_items is not None
