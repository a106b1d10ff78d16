"""Presence of Type 1, 2 and 1C attributes, driven by the module tables of :mod:`labelmap.validate.tables`."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset

from labelmap.validate.report import Violation, violation
from labelmap.validate.tables import Module
from labelmap.validate.values import INVALID, MISSING, get, is_empty


def require(ds: Dataset | None, keyword: str, type_: str, rule: str, path: str = "") -> Iterator[Violation]:
    """An absent Type 1/2/1C attribute, one that cannot be decoded, or an empty Type 1 one."""
    value = get(ds, keyword)
    where = path or keyword
    if value is MISSING:
        yield violation(keyword, "is absent", f"{rule}: Type {type_}", path=where)
    elif value is INVALID:
        yield violation(keyword, "cannot be decoded", f"{rule}: Type {type_}", path=where)
    elif type_ == "1" and is_empty(value):
        yield violation(keyword, "is empty", f"{rule}: Type 1 (a value is required)", path=where)


def check_module(ds: Dataset | None, module: Module, path: str = "") -> Iterator[Violation]:
    """:func:`require` for every attribute of ``module`` in ``ds`` (an item at ``path``, if given)."""
    for keyword, type_ in module.attributes:
        yield from require(ds, keyword, type_, module.rule, f"{path}.{keyword}" if path else "")
