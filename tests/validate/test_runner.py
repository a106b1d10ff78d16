"""Running the rules (validate/runner.py): damage never raises; a crashing rule is reported, or raised when strict."""

from __future__ import annotations

import random

import pytest

from labelmap.validate import runner, validate_seg


@pytest.mark.parametrize("base", ["labelmap-none", "labelmap-deflate", "labelmap-rle", "binary-none", "fractional"])
def test_random_damage_never_raises(made, tmp_path, base):
    data = made(base).read_bytes()
    rng = random.Random(f"validate-{base}")
    for n in range(40):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 4, 16))):
            damaged[rng.randrange(132, len(damaged))] = rng.randrange(256)
        if n % 5 == 0:
            damaged = damaged[: rng.randrange(132, len(damaged))]
        path = tmp_path / f"damaged-{n}.dcm"
        path.write_bytes(bytes(damaged))
        for v in validate_seg(path):
            assert "could not finish" not in v.message, (n, v)


def _crash(ctx):
    raise ZeroDivisionError("a bug")
    yield


def test_a_crashing_rule_could_not_finish(made, monkeypatch):
    """Users get the other rules' findings and one violation for the rule that crashed."""
    monkeypatch.delenv(runner.STRICT_ENV, raising=False)
    monkeypatch.setattr(runner, "RULES", (*runner.RULES[:2], ("crash", _crash), *runner.RULES[2:]))
    (v,) = validate_seg(made("labelmap-none"))
    assert (v.keyword, v.tag, v.severity) == ("File", None, "error")
    assert v.message == "check crash could not finish: ZeroDivisionError: a bug"


def test_a_crashing_rule_raises_when_strict(made, monkeypatch):
    monkeypatch.setenv(runner.STRICT_ENV, "1")
    monkeypatch.setattr(runner, "RULES", (*runner.RULES, ("crash", _crash)))
    with pytest.raises(ZeroDivisionError):
        validate_seg(made("labelmap-none"))
