"""The asv suite in benchmarks/ still runs: every time_/peakmem_/track_ benchmark is called once
on the small case (LABELMAP_BENCH_SMALL=1), the way asv calls it (setup_cache, setup, the
benchmark, teardown), so an API change cannot leave the suite broken until someone runs asv."""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import os
import subprocess
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


def test_batch_benchmark_checks_every_output(tmp_path, monkeypatch):
    """batch.py's output check: each case's file must be a LABELMAP SEG of its own series with all labels."""
    from labelmap.cli.app import execute

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    batch = importlib.import_module("batch")
    col = batch.make_collection(tmp_path / "data", "tiny", 2, 32, 5, 3)
    assert len(set(col.series_uids)) == 2 and all(c.ct.is_dir() and not c.ct.is_symlink() for c in col.cases)
    assert not [p for p in col.cases[0].ct.iterdir() if p.suffix != ".dcm"]  # the series folder holds DICOM only
    out = tmp_path / "out"
    out.mkdir()
    manifest = batch.write_manifest(tmp_path / "m.csv", col, out)
    assert manifest.read_text().splitlines()[0] == "id,labels,dicom,metadata,output"
    for case in col.cases:
        argv = ["itk2seg", str(case.labels), "--dicom", str(case.ct), "-m", str(col.metadata)]
        outcome = execute([*argv, "-o", str(out / f"{case.root.name}.seg.dcm"), *batch.OUR_FLAGS, "-q"])
        assert outcome.code == 0, outcome.error
    assert batch.check_outputs(col, out) == "ok"
    report = tmp_path / "r.csv"
    report.write_text("id,status,error\ncase000,ok,\ncase001,failed,boom\n")
    assert batch.check_outputs(col, out, report) == "report has 2 rows, 1 not ok: case001 failed boom"
    first, second = (out / f"{i}.seg.dcm" for i in col.ids)
    first.rename(tmp_path / "x")
    second.rename(first)
    (tmp_path / "x").rename(second)
    assert "references series" in batch.check_outputs(col, out)
    first.unlink()
    assert batch.check_outputs(col, out) == "case000.seg.dcm missing"


@pytest.mark.slow
def test_batch_benchmark_quick(tmp_path):
    """benchmarks/batch.py --quick runs every converter on a tiny collection, checks their outputs and plans."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "batch.py"), "--quick", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((tmp_path / "batch-compare.json").read_text())
    rows = {r["tool"]: r for r in saved["rows"]}
    assert set(rows) == {"batch", "batch-w1", "loop", "dcmqi-pip", "dcmqi-bin"}
    for tool, row in rows.items():
        assert row["status"] == "ok", (tool, row["status"])
        assert row["jobs"] == 4 and row["median_s"] > 0 and row["jobs_per_s"] > 0, row
        assert row["checks"] == ["ok"], (tool, row["checks"])  # 4 LABELMAP SEGs of their own series
        assert len(list((tmp_path / "runs" / "small" / tool).glob("case*.seg.dcm"))) == 4
    assert rows["loop"]["vs_dcmqi-bin"] > 0 and rows["loop"]["vs_dcmqi-pip"] > 0
    text = (tmp_path / "batch-compare.md").read_text()
    assert "| small (4 jobs) | labelmap itk2seg, shell loop |" in text
    assert "load average before / after" in text
    plan = saved["plan"]
    assert plan["status"] == "ok" and plan["rows"] == 2000 and plan["median_s"] > 0 and plan["peak_rss_mb"] > 0
    assert "plan of 2,000 rows" in text  # the bars are stated
    assert rows["batch"]["vs_dcmqi-bin"] > 0 and rows["batch"]["vs_loop"] > 0
    assert "small: batch " in text and "x the dcmqi executable loop (" in text
