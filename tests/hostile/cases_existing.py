"""The write-side bad-input table of tests/test_bad_input.py, run again under the hostile limits.

Those tests check the wording of each error in-process; here the same inputs go through a child
process with the 4 GiB address-space limit, where memory and time count too."""

from __future__ import annotations

from pathlib import Path

import test_bad_input
from _base import Base
from _harness import Case, Run


def _case_dict(base: Base) -> dict:
    return {
        "root": base.root,
        "geometry": base.geometry,
        "ct": base.ct,
        "labels": base.labels,
        "lab": base.lab,
        "nii": base.nii,
        "meta": base.meta,
        "meta_doc": base.meta_doc,
        "binary": base.binary,
        "labelmap": base.lm,
    }


def _builder(name: str):
    def build(base: Base, root: Path) -> Run:
        args, _needles = test_bad_input.ERRORS[name](_case_dict(base), root)
        out = test_bad_input.out_file(root)
        out.parent.mkdir(parents=True, exist_ok=True)
        (out.parent / "keep.txt").write_text("a file from an earlier run\n")
        return Run(list(args), output=out, expect=1)

    return build


def _slug(name: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())


CASES: list[Case] = [
    Case(f"bad-input/{_slug(name)}", "bad-input", _builder(name), slow=True) for name in test_bad_input.ERRORS
]
