"""``json.dumps(obj, indent=n, ensure_ascii=False)``, byte for byte, without the slow pure-Python encoder.

With ``indent`` the standard library falls back to its generator-based encoder, which costs
seconds for a meta.json of 65,535 segments; this one builds the same text with one recursive
join per container and the C string escaper.  Anything but dicts with ``str`` keys, lists,
tuples, ``str``, ``int``, ``float``, ``bool`` and ``None`` goes to ``json.dumps`` unchanged.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

__all__ = ["dumps_indented"]

_INF = float("inf")


class _Unsupported(Exception):
    """A value the fast path leaves to ``json.dumps`` (its own types, errors and messages)."""


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _encode(value: Any, newline: str, step: str) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + step
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unsupported
            parts.append(encode_basestring(key) + ": " + _encode(item, inner, step))
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + step
        return "[" + inner + ("," + inner).join([_encode(item, inner, step) for item in value]) + newline + "]"
    raise _Unsupported


def dumps_indented(obj: Any, indent: int = 2) -> str:
    """The text of ``json.dumps(obj, indent=indent, ensure_ascii=False)``.

    Parameters
    ----------
    obj
        A JSON document of plain Python values.
    indent
        Spaces per nesting level.

    Returns
    -------
    str
        The same text ``json.dumps`` gives (its errors too, for values it refuses).
    """
    try:
        return _encode(obj, "\n", " " * indent)
    except (_Unsupported, RecursionError):
        return json.dumps(obj, indent=indent, ensure_ascii=False)
