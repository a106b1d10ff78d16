"""The hostile list: every case through the CLI under the limits of :mod:`_harness`.

Cases live in the ``cases_*`` modules (one data-driven table per class of input); a case that
still fails on main is marked with its owner and cause in :data:`known.KNOWN`.
"""

from __future__ import annotations

import cases_dcmqi
import cases_existing
import cases_labels
import cases_paths
import cases_scale
import cases_seg
import cases_slide
import cases_sources
import pytest
from _harness import Run, problems
from known import KNOWN

ALL = [
    *cases_seg.CASES,
    *cases_labels.CASES,
    *cases_paths.CASES,
    *cases_sources.CASES,
    *cases_dcmqi.CASES,
    *cases_existing.CASES,
    *cases_scale.CASES,
    *cases_slide.CASES,
]


def _param(case):
    marks = []
    if case.slow:
        marks.append(pytest.mark.slow)
    if case.id in KNOWN:
        marks.append(pytest.mark.xfail(strict=False, reason=KNOWN[case.id]))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in ALL])
def test_hostile(case, hostile_runner):
    run, outcome = hostile_runner.result(case)
    found = problems(run or Run([]), outcome)
    assert not found, "\n".join(found) + "\n" + outcome.describe()


def test_the_list_is_long_and_its_ids_unique():
    ids = [c.id for c in ALL]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert len(ids) > 120
    assert set(KNOWN) <= set(ids), sorted(set(KNOWN) - set(ids))


def test_a_label_image_of_no_level_names_the_levels(hostile_runner):
    """The slide error lists every level's size, so the user can pick one (issue #12)."""
    case = next(c for c in cases_slide.CASES if c.id == "slide/label-size-matches-no-level")
    _, outcome = hostile_runner.result(case)
    listed = all(f"{r} x {c}" in outcome.stderr or f"{c} x {r}" in outcome.stderr for r, c in cases_slide.SIZES)
    assert outcome.rc == 1 and listed, outcome.describe()


def test_a_slide_label_image_on_a_ct_says_the_source_is_no_slide(hostile_runner):
    case = next(c for c in cases_slide.CASES if c.id == "slide/ct-source-with-2d-label")
    _, outcome = hostile_runner.result(case)
    assert outcome.rc == 1 and "no VL Whole Slide Microscopy image" in outcome.stderr, outcome.describe()
