"""The asv suite in benchmarks/ still runs: every time_/peakmem_/track_ benchmark is called once
on the small case (LABELMAP_BENCH_SMALL=1), the way asv calls it (setup_cache, setup, the
benchmark, teardown), so an API change cannot leave the suite broken until someone runs asv."""

from __future__ import annotations

import importlib
import inspect
import itertools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["bench_kernels", "bench_read", "bench_slide", "bench_write"]


@pytest.fixture(scope="module")
def bench_package(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("LABELMAP_BENCH_SMALL", "1")
    monkeypatch_module.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        del sys.modules[name]  # params are computed at import: import again under the small setting
    work = tmp_path_factory.mktemp("asv")
    monkeypatch_module.chdir(work)
    return {name: importlib.import_module(f"benchmarks.{name}") for name in MODULES}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _benchmarks(module):
    for cls_name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__ or cls_name.startswith("_"):
            continue
        methods = [m for m in dir(cls) if m.startswith(("time_", "peakmem_", "track_"))]
        if methods:
            yield cls, methods


def _one_combination(cls) -> list[tuple]:
    """The parameter combinations to run: the middle segment count, every other value."""
    params = getattr(cls, "params", None)
    if not params:
        return [()]
    if not isinstance(params[0], (list, tuple)):
        params = [params]
    picks = [[v[len(v) // 2]] if all(isinstance(x, int) for x in v) else list(v) for v in map(list, params)]
    return list(itertools.product(*picks))


@pytest.mark.parametrize("module_name", MODULES)
def test_asv_benchmarks_run(bench_package, module_name):
    module = bench_package[module_name]
    ran = 0
    caches: dict = {}
    for cls, methods in _benchmarks(module):
        for combo in _one_combination(cls):
            bench = cls()
            args: tuple = tuple(combo)
            if hasattr(bench, "setup_cache"):
                key = getattr(cls.setup_cache, "__qualname__", cls.__name__)
                if key not in caches:
                    caches[key] = bench.setup_cache()
                args = (caches[key],) + args
            try:
                if hasattr(bench, "setup"):
                    bench.setup(*args)
            except NotImplementedError:  # asv's way of skipping a combination
                continue
            try:
                for method in methods:
                    result = getattr(bench, method)(*args)
                    if method.startswith("track_"):
                        assert isinstance(result, (int, float)) and result > 0, (cls.__name__, method, result)
                    ran += 1
            finally:
                if hasattr(bench, "teardown"):
                    bench.teardown(*args)
    assert ran >= {"bench_kernels": 19, "bench_read": 10, "bench_slide": 18, "bench_write": 14}[module_name]
