"""Test helpers for internal functions: ``misuse`` (a builtin error, not a user error) and
``spy_parts`` (the part counts a module hands to ``run_parts``)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from labelmap.errors import LabelmapError


@contextmanager
def misuse(kind: type[Exception], match: str):
    """Expect ``kind`` (TypeError / ValueError) matching ``match``, and no :class:`LabelmapError`:
    programmer misuse of an internal function is a bug, not the user's bad input."""
    with pytest.raises(kind, match=match) as info:
        yield info
    assert not isinstance(info.value, LabelmapError)


def spy_parts(monkeypatch, module) -> list[int]:
    """Record the part counts ``module`` hands to its ``run_parts`` (the parts still run)."""
    calls: list[int] = []
    real = module.run_parts

    def spy(work, parts: int, name: str) -> None:
        calls.append(parts)
        real(work, parts, name)

    monkeypatch.setattr(module, "run_parts", spy)
    return calls
