"""Reading values from a possibly damaged data set without raising.

:func:`get` tells an absent attribute (:data:`MISSING`) from one pydicom cannot decode
(:data:`INVALID`); the converters turn anything odd into "no value" so that a rule reports
the attribute instead of raising.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag


class Absent:
    """No usable value: :data:`MISSING` (not in the data set) or :data:`INVALID` (cannot be decoded)."""

    def __repr__(self) -> str:
        return "<absent>"


MISSING = Absent()
INVALID = Absent()


_TAGS: dict[str, BaseTag] = {}  # keyword -> tag, so a lookup does not search pydicom's dictionary each time


def get(ds: Dataset | None, keyword: str) -> Any:
    """The value of ``keyword``: :data:`MISSING` when absent, :data:`INVALID` when it cannot be decoded."""
    if ds is None:
        return MISSING
    elements = getattr(ds, "_dict", None) if isinstance(ds, Dataset) else None
    tag = _TAGS.get(keyword)
    if tag is None and elements is not None:
        try:
            tag = _TAGS[keyword] = Tag(keyword)
        except Exception:
            tag = None
    if tag is not None and isinstance(elements, dict):
        element = elements.get(tag)
        if element is None:
            return MISSING
        try:
            if not isinstance(element, RawDataElement):
                return element.value  # decoded before: what ds[tag] would give, without its checks
            return ds[tag].value
        except Exception:
            return INVALID
    try:
        if keyword not in ds:
            return MISSING
        return ds[keyword].value
    except Exception:
        return INVALID


def is_empty(value: Any) -> bool:
    if value is None or isinstance(value, Absent):
        return True
    if isinstance(value, str):
        return not value.strip(" \0")
    if isinstance(value, bytes):
        return not value.strip(b" \0")
    try:
        return len(value) == 0
    except TypeError:
        return False


def as_int(value: Any) -> int | None:
    """The value as an int (None when absent, empty or not an integer)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def text(value: Any) -> str:
    """The value as stripped text ("" when absent)."""
    return "" if isinstance(value, Absent) or value is None else str(value).strip()


def upper_text(ds: Dataset | None, keyword: str) -> str:
    """The stripped, upper-case text of ``keyword`` ("" when absent)."""
    return text(get(ds, keyword)).upper()


def items(value: Any) -> list:
    """Items of a sequence value ([] when absent or not a sequence)."""
    try:
        return [item for item in value if isinstance(item, Dataset)]
    except TypeError:
        return []


def first_item(ds: Dataset | None, keyword: str) -> Dataset | None:
    """The first item of sequence ``keyword`` (None when it has none)."""
    found = items(get(ds, keyword))
    return found[0] if found else None


def floats(value: Any, width: int) -> np.ndarray | None:
    """The value as ``width`` finite floats (None when absent, not numbers, or another count)."""
    if isinstance(value, Absent) or value is None:
        return None
    try:
        out = np.array([float(v) for v in np.atleast_1d(value)], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return out if out.size == width and np.isfinite(out).all() else None
