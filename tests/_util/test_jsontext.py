"""dumps_indented gives json.dumps(indent=n, ensure_ascii=False)'s text, its errors included."""

from __future__ import annotations

import enum
import json

import pytest

from labelmap._util.jsontext import dumps_indented

DOCS = [
    {},
    [],
    {"a": [], "b": {}, "c": [[], {}]},
    [1, 2.5, -0.0, 1e300, 1e-7, float("nan"), float("inf"), -float("inf"), True, False, None],
    ['é\n"\\\x01\u2028 \U0001f600', "", "plain"],
    {"x": [{"y": [1, [2, [3, []]]], "z": (1, 2)}], "": "", "k\u00e9": {"n": None}},
    "s",
    3,
    1.0,
    None,
]


class Number(enum.IntEnum):
    ONE = 1


@pytest.mark.parametrize("indent", [0, 1, 2, 4])
@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_same_text_as_json_dumps(doc, indent):
    assert dumps_indented(doc, indent) == json.dumps(doc, indent=indent, ensure_ascii=False)


@pytest.mark.parametrize("doc", [{"e": Number.ONE}, {1: "int key"}, {"t": (1, {"u": 2})}])
def test_other_types_as_json_dumps(doc):
    assert dumps_indented(doc) == json.dumps(doc, indent=2, ensure_ascii=False)


def test_errors_as_json_dumps():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indented({"a": object()})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indented(loop)
