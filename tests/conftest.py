"""Shared fixtures.  Geometry factories live in tests/_geometries.py (plain functions)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LABELMAP_VALIDATE_STRICT", "1")  # a crashing validation rule fails the suite

from labelmap.model import Geometry  # noqa: E402

from _geometries import axial_geometry, las_geometry, make_ct_series, oblique_geometry  # noqa: E402,F401


@pytest.fixture
def ct_series(tmp_path):
    """Factory fixture: ``ct_series(geometry, **kw) -> Path`` (a folder under tmp_path)."""
    counter = {"n": 0}

    def factory(geometry: Geometry | None = None, **kw) -> Path:
        counter["n"] += 1
        kw.setdefault("name", f"ct{counter['n']}")
        return make_ct_series(tmp_path, geometry if geometry is not None else axial_geometry(), **kw)

    return factory


@pytest.fixture
def axial():
    return axial_geometry()


@pytest.fixture
def oblique():
    return oblique_geometry()


@pytest.fixture
def las():
    return las_geometry()


if os.environ.get("LABELMAP_VALIDATE_WRITES") == "1":  # opt-in: every SEG the suite writes must validate clean

    def _validate_every_write() -> None:
        import labelmap.seg.encode as encode
        from labelmap.validate import validate_seg

        write = encode.write_seg_file

        def checked(ds, path, **kw):
            write(ds, path, **kw)
            errors = [v.format(str(path)) for v in validate_seg(path) if v.severity == "error"]
            assert not errors, "\n".join(errors)

        encode.write_seg_file = checked

    _validate_every_write()
