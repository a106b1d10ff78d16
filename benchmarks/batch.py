#!/usr/bin/env python
"""Batch conversion of a collection: ``labelmap-convert batch`` against shell loops of our CLI and of dcmqi.

    python benchmarks/batch.py [--runs 3] [--workdir DIR] [--small 50 --small-shape 128x128x40 --small-labels 10]
                               [--reference 12 --reference-shape 512x512x300 --reference-labels 100]
                               [--plan-rows 126000] [--only batch,batch-w1,loop,dcmqi-pip,dcmqi-bin,plan] [--quick]

Issue #13's measurement.  Two collections are generated once (deterministic, cached in ``--workdir``,
default $LABELMAP_BATCH_DATA, else ``benchmarks/.data/batch``):

- **small**: 50 cases of 128 x 128 x 40 with 10 labels (compare.py's ``--quick`` case), where a job is
  mostly process start-up;
- **reference**: 12 cases of 512 x 512 x 300 with 100 labels (compare.py's reference case, about 160 MB
  of CT each), where a job is mostly conversion.

Every case is a folder of its own (``caseNNN/ct/`` a CT series, ``caseNNN/labels.nrrd`` a gzip NRRD organ
phantom) generated from its own seed, so every job reads its own series (its own UIDs, noise and label
content); all cases of a collection share one dcmqi JSON (``meta.json``), as IDC's template does.

Each collection is converted, tools alternating within each of the ``--runs`` runs, by:

- ``batch``: ``labelmap-convert batch MANIFEST.csv --type labelmap --compression deflate --quiet`` (its
  default worker count), and ``batch-w1``: the same with ``--workers 1``;
- ``loop``: ``for ...; do labelmap-convert itk2seg ... --type labelmap --compression deflate -q; done`` in
  one ``bash -c``;
- ``dcmqi-pip``: the same loop over ``itkimage2segimage`` as ``pip install dcmqi`` installs it (a Python
  console script that starts dcmqi's executable), and ``dcmqi-bin``: over that executable itself, both
  with ``--segmentationType labelmap --useLabelIDAsSegmentNumber --compress deflate`` (LABELMAP,
  segment numbers = label values and a deflated data set, as ours).

Every command is one whole process (GNU time; see compare.run_process): wall clock, CPU (user + system,
children included) and the peak RSS of its largest process.  After every run each output is checked:
it exists and is a LABELMAP SEG referencing its own case's series with segments 1..labels (and the
batch's report says every row ``ok``).  Then ``plan``: a ``--plan-rows`` manifest (126,000 rows by
default, IDC's NLST scale; UID-like ids, paths that need not exist) planned with ``labelmap-convert
batch M.csv --dry-run`` (parse, check, plan; nothing converted): its wall time and the client's peak RSS.

The table is printed as markdown and saved with the raw timings as ``<workdir>/batch-compare.md`` and
``.json``; the exit code is 1 when a command fails or an output check fails.  ``--quick``: 4 small cases
of 64 x 64 x 12 with 4 labels, no reference collection, a 2,000-row plan, one run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare import (  # noqa: E402
    Measurement,
    _compile_bytecode,
    _cpu_model,
    _dcmqi_bin,
    _loadavg,
    _mem_total_gib,
    _venv_bin,
    _version,
    run_process,
)

import _cases  # noqa: E402

#: The converters compared on each collection, in the order they run within a run.
TOOLS = {
    "batch": "labelmap batch (default workers)",
    "batch-w1": "labelmap batch --workers 1",
    "loop": "labelmap itk2seg, shell loop",
    "dcmqi-pip": "dcmqi itkimage2segimage (pip script), shell loop",
    "dcmqi-bin": "dcmqi itkimage2segimage (executable), shell loop",
}
PLAN = "plan"
#: Issue #13's bars: batch throughput >= 3x each dcmqi loop and > our loop; a 126k-row plan < 10 s, < 500 MB.
SPEEDUP_VS_DCMQI = 3.0
PLAN_SECONDS = 10.0
PLAN_MB = 500.0
SEG_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}  # Segmentation, Label Map Seg.
TIMEOUT_S = 3600
SEED = _cases.SEED + 1300  # the collections' first seed (case i uses SEED + i)


# --------------------------------------------------------------------------- the collections
@dataclass(frozen=True)
class Collection:
    """One generated collection: ``root/caseNNN/{ct,labels.nrrd}`` and the shared ``root/meta.json``."""

    name: str
    root: Path
    size: int
    slices: int
    n_labels: int
    cases: tuple[_cases.Case, ...]
    series_uids: tuple[str, ...]

    @property
    def metadata(self) -> Path:
        return self.root / "meta.json"

    @property
    def ids(self) -> list[str]:
        return [c.root.name for c in self.cases]

    def describe(self) -> str:
        return f"{len(self.cases)} x {self.size}x{self.size}x{self.slices} CT, {self.n_labels} labels"


def make_collection(
    workdir: Path, name: str, count: int, size: int, slices: int, n_labels: int, seed: int = SEED
) -> Collection:
    """Generate (or reuse) ``count`` cases of one shape under ``workdir`` (case i from seed ``seed + i``).

    A larger ``count`` later reuses the cases already made; the JSON lists labels 1..n_labels, which
    every organ phantom holds.
    """
    from labelmap.demo.sample import sample_metadata

    root = Path(workdir).resolve() / f"collection-{size}x{size}x{slices}-L{n_labels}-s{seed}"
    root.mkdir(parents=True, exist_ok=True)
    cases = []
    for i in range(count):
        cases.append(_cases.make_own_case(root / f"case{i:03d}", size, slices, n_labels, seed=seed + i))
    meta = root / "meta.json"
    if not meta.exists():
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(sample_metadata(list(range(1, n_labels + 1))), indent=2))
        tmp.rename(meta)
    return Collection(name, root, size, slices, n_labels, tuple(cases), tuple(_series_uid(c.ct) for c in cases))


def _series_uid(ct: Path) -> str:
    import pydicom

    first = min(p for p in ct.iterdir() if p.suffix == ".dcm")
    return str(pydicom.dcmread(first, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"]).SeriesInstanceUID)


def write_manifest(path: Path, collection: Collection, out_dir: Path) -> Path:
    """The batch manifest of a collection: one row per case, absolute paths, outputs in ``out_dir``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "labels", "dicom", "metadata", "output"])
        for case in collection.cases:
            cid = case.root.name
            writer.writerow([cid, case.labels, case.ct, collection.metadata, out_dir / f"{cid}.seg.dcm"])
    return path


def write_plan_manifest(path: Path, rows: int) -> Path:
    """A ``rows``-row manifest shaped like IDC's NLST run (UID ids, one shared JSON); no path exists.

    Written once per row count (about 330 bytes a row: 42 MB for 126,000 rows).
    """
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "labels", "dicom", "metadata", "output"])
        for i in range(rows):
            uid = f"1.3.6.1.4.1.14519.5.2.1.7009.9004.{(i * 7919 + 104729) % 10**12:012d}{i:06d}"
            writer.writerow(
                [
                    uid,
                    f"/data/nlst/totalsegmentator/{uid}/segmentations.nii.gz",
                    f"/data/nlst/dicom/{uid}",
                    "/data/nlst/totalsegmentator/dicomseg_metadata_whole.json",
                    f"/data/nlst/seg/{uid}.seg.dcm",
                ]
            )
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------- commands
def ours_available(engine: bool = True) -> str:
    """'' when this checkout has the batch command (and its engine), else why not (found without importing them).

    ``--dry-run`` needs no engine: it only reads, checks and plans the manifest.
    """
    for module in ("labelmap.cli.batch.command", "labelmap.cli.batch.engine")[: 2 if engine else 1]:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return f"n/a: no {module} on this checkout"
    if engine and importlib.util.find_spec("distributed") is None:
        return "n/a: dask.distributed not installed (pip install 'labelmap[batch]')"
    return ""


def dcmqi_pip_script() -> str | None:
    """The ``itkimage2segimage`` console script that ``pip install dcmqi`` puts next to this interpreter."""
    path = _venv_bin("itkimage2segimage")
    if path is None:
        return None
    try:
        head = Path(path).read_text(errors="replace")[:2000]
    except OSError:
        return None
    return path if "dcmqi" in head else None


OUR_FLAGS = ["--type", "labelmap", "--compression", "deflate"]
DCMQI_FLAGS = ["--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber", "--compress", "deflate"]


def loop_script(collection: Collection, out_dir: Path, exe: str, tool: str) -> str:
    """A bash loop converting every case, one process per case; the exit status is 1 if any failed."""
    q = shlex.quote
    meta = q(str(collection.metadata))
    if tool == "loop":
        body = f'{q(exe)} itk2seg "$c/labels.nrrd" --dicom "$c/ct" -m {meta} -o "$out/$id.seg.dcm" '
        body += " ".join(OUR_FLAGS) + " -q"
    else:
        body = f'{q(exe)} --inputImageList "$c/labels.nrrd" --inputDICOMDirectory "$c/ct" --inputMetadata {meta} '
        body += f'--outputDICOM "$out/$id.seg.dcm" {" ".join(DCMQI_FLAGS)}'
    ids = " ".join(collection.ids)
    return (
        f"root={q(str(collection.root))}; out={q(str(out_dir))}; fail=0\n"
        f'for id in {ids}; do\n  c="$root/$id"\n  {body} || {{ echo "failed: $id" >&2; fail=1; }}\ndone\n'
        'exit "$fail"\n'
    )


@dataclass
class Entry:
    """One (collection, tool) cell: its command, where its outputs go and what its runs measured."""

    collection: Collection
    tool: str
    cmd: list[str]
    out_dir: Path
    report: Path | None = None
    unavailable: str = ""
    runs: list[Measurement] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)  # the 1-minute load average as each run started
    failure: str = ""

    @property
    def key(self) -> str:
        return f"{self.collection.name} | {self.tool}"

    @property
    def jobs(self) -> int:
        return len(self.collection.cases)

    def _ok(self) -> list[Measurement]:
        return [m for m in self.runs if m.returncode == 0] if not self.failure else []

    def median(self) -> float | None:
        ok = self._ok()
        return statistics.median(m.seconds for m in ok) if ok else None

    def cpu(self) -> float | None:
        ok = self._ok()
        return statistics.median(m.cpu_seconds for m in ok) if ok else None

    def peak(self) -> float | None:
        ok = self._ok()
        return statistics.median(m.peak_rss_mb for m in ok) if ok else None


def build(collections: list[Collection], runs_dir: Path, only: set[str]) -> list[Entry]:
    lm = _venv_bin("labelmap-convert") or "labelmap-convert"
    no_batch = ours_available()
    exes = {"loop": lm, "dcmqi-pip": dcmqi_pip_script(), "dcmqi-bin": _dcmqi_bin("itkimage2segimage")}
    why = {
        "dcmqi-pip": "n/a: no pip-installed itkimage2segimage (pip install dcmqi)",
        "dcmqi-bin": "n/a: dcmqi's itkimage2segimage not found",
    }
    entries = []
    for col in collections:
        for tool in TOOLS:
            if tool not in only:
                continue
            out_dir = runs_dir / col.name / tool
            if tool.startswith("batch"):
                manifest = write_manifest(runs_dir / col.name / f"{tool}.csv", col, out_dir)
                report = runs_dir / col.name / f"{tool}.report.csv"
                cmd = [lm, "batch", str(manifest), "--report", str(report), *OUR_FLAGS, "--quiet"]
                if tool == "batch-w1":
                    cmd[3:3] = ["--workers", "1"]
                entries.append(Entry(col, tool, cmd, out_dir, report, unavailable=no_batch))
                continue
            exe = exes[tool]
            if exe is None:
                entries.append(Entry(col, tool, [], out_dir, unavailable=why[tool]))
                continue
            entries.append(Entry(col, tool, ["bash", "-c", loop_script(col, out_dir, exe, tool)], out_dir))
    return entries


# --------------------------------------------------------------------------- checks
def check_outputs(collection: Collection, out_dir: Path, report: Path | None = None) -> str:
    """'ok' when every case's output is a LABELMAP SEG of its own series with segments 1..n, else what is not.

    With ``report`` (a batch's CSV report) every row must also say ``ok``.
    """
    import pydicom

    want = set(range(1, collection.n_labels + 1))
    for case, series_uid in zip(collection.cases, collection.series_uids):
        path = out_dir / f"{case.root.name}.seg.dcm"
        if not path.is_file():
            return f"{path.name} missing"
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # any unreadable file is a failed check, named
            return f"{path.name} unreadable: {type(exc).__name__}: {exc}"
        if str(ds.get("SOPClassUID", "")) not in SEG_SOP_CLASSES:
            return f"{path.name} is no SEG (SOP Class {ds.get('SOPClassUID', 'missing')})"
        if ds.get("SegmentationType") != "LABELMAP":
            return f"{path.name}: SegmentationType {ds.get('SegmentationType')}"
        referenced = [str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", [])]
        if referenced != [series_uid]:
            return f"{path.name} references series {referenced}, not its case's {series_uid}"
        numbers = {int(s.SegmentNumber) for s in ds.get("SegmentSequence", [])} - {0}
        if numbers != want:
            return f"{path.name}: segments {sorted(numbers)[:5]}... not 1..{collection.n_labels}"
    if report is not None:
        if not report.is_file():
            return f"no report {report.name}"
        with open(report, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        bad = [r for r in rows if r.get("status") != "ok"]
        if len(rows) != len(collection.cases) or bad:
            first = f": {bad[0].get('id')} {bad[0].get('status')} {bad[0].get('error', '')}" if bad else ""
            return f"report has {len(rows)} rows, {len(bad)} not ok{first}"
    return "ok"


# --------------------------------------------------------------------------- running
def _clear(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def run_entry(entry: Entry, logs: Path, run: int, timeout: float) -> None:
    _clear(entry.out_dir)
    if entry.report is not None and entry.report.exists():
        entry.report.unlink()
    load = _loadavg().split()[0]
    entry.loads.append(load)
    slug = f"{entry.collection.name}-{entry.tool}-run{run}"
    m = run_process(entry.cmd, logs / slug, timeout=timeout)
    entry.runs.append(m)
    check = check_outputs(entry.collection, entry.out_dir, entry.report)
    entry.checks.append(check)
    if m.returncode != 0 or check != "ok":
        if m.returncode != 0:
            entry.failure = m.stderr_first or f"exit code {m.returncode}"
        else:
            entry.failure = f"check: {check}"
        print(f"[run {run}] {entry.key}: failed: {entry.failure}", file=sys.stderr, flush=True)
        return
    print(
        f"[run {run}] {entry.key}: {m.seconds:.2f} s ({entry.jobs / m.seconds:.1f} jobs/s, {m.cpu_seconds:.1f} s CPU, "
        f"{m.peak_rss_mb:.0f} MB; load {load}), outputs {check}",
        file=sys.stderr,
        flush=True,
    )


@dataclass
class Plan:
    """The ``--dry-run`` of a large manifest: one whole process per run."""

    rows: int
    cmd: list[str]
    unavailable: str = ""
    runs: list[Measurement] = field(default_factory=list)
    failure: str = ""

    def median(self, attr: str) -> float | None:
        ok = [getattr(m, attr) for m in self.runs if m.returncode == 0]
        return statistics.median(ok) if ok and not self.failure else None


def run_plan(plan: Plan, logs: Path, run: int, timeout: float) -> None:
    m = run_process(plan.cmd, logs / f"plan-{plan.rows}-run{run}", timeout=timeout)
    plan.runs.append(m)
    if m.returncode != 0:
        plan.failure = m.stderr_first or f"exit code {m.returncode}"
        print(f"[run {run}] plan {plan.rows} rows: failed: {plan.failure}", file=sys.stderr, flush=True)
        return
    print(
        f"[run {run}] plan {plan.rows} rows: {m.seconds:.2f} s ({m.cpu_seconds:.1f} s CPU), {m.peak_rss_mb:.0f} MB",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------- report
def summarize(entries: list[Entry]) -> list[dict]:
    """One row per entry with its throughput and its speed against the loops of the same collection."""
    rows = []
    for e in entries:
        med = e.median()
        peers = {p.tool: p.median() for p in entries if p.collection is e.collection}
        ratios = {}
        for ref in ("dcmqi-pip", "dcmqi-bin", "loop"):
            ref_s = peers.get(ref)
            ratios[f"vs_{ref}"] = ref_s / med if (ref_s and med and ref != e.tool) else None
        status = e.unavailable or (f"failed: {e.failure}" if e.failure else "ok")
        rows.append(
            {
                "collection": e.collection.name,
                "cases": e.collection.describe(),
                "tool": e.tool,
                "label": TOOLS[e.tool],
                "status": status,
                "jobs": e.jobs,
                "median_s": med,
                "jobs_per_s": e.jobs / med if med else None,
                "cpu_s": e.cpu(),
                "peak_rss_mb": e.peak(),
                **ratios,
                "runs_s": [round(m.seconds, 3) for m in e.runs],
                "checks": e.checks,
                "loads": e.loads,
                "command": e.cmd[:-1] + ["<loop script>"] if e.cmd[:2] == ["bash", "-c"] else e.cmd,
            }
        )
    return rows


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def targets(rows: list[dict], plan: dict | None) -> list[str]:
    """Issue #13's bars, met or not, from the measured medians (wall clock; CPU time's ratio beside it)."""
    out = []
    for r in rows:
        if r["tool"] != "batch" or r["median_s"] is None:
            continue
        peers = {w["tool"]: w for w in rows if w["collection"] == r["collection"] and w["median_s"] is not None}
        for ref, bar, name in (
            ("dcmqi-pip", SPEEDUP_VS_DCMQI, "the dcmqi pip-script loop"),
            ("dcmqi-bin", SPEEDUP_VS_DCMQI, "the dcmqi executable loop"),
            ("loop", 1.0, "our CLI loop"),
            ("batch-w1", None, "batch --workers 1"),
        ):
            if ref not in peers:
                continue
            wall = peers[ref]["median_s"] / r["median_s"]
            cpu = peers[ref]["cpu_s"] / r["cpu_s"] if r["cpu_s"] else float("nan")
            if bar is None:
                verdict = "no bar"
            elif bar > 1:
                verdict = f"{'met' if wall >= bar else 'NOT met'}, >= {bar:g}x"
            else:
                verdict = f"{'met' if wall > bar else 'NOT met'}, > {bar:g}x"
            out.append(f"- {r['collection']}: batch {wall:.2f}x {name} ({verdict}; CPU time {cpu:.2f}x)")
    if plan and plan["median_s"] is not None:
        s, mb = plan["median_s"], plan["peak_rss_mb"]
        out.append(
            f"- plan of {plan['rows']:,} rows: {s:.2f} s ({'met' if s < PLAN_SECONDS else 'NOT met'}, "
            f"< {PLAN_SECONDS:g} s), client peak {mb:.0f} MB ({'met' if mb < PLAN_MB else 'NOT met'}, < {PLAN_MB:g} MB)"
        )
    return out


def markdown(rows: list[dict], plan: dict | None, info: dict) -> str:
    lines = [
        "## labelmap batch vs shell loops of our CLI and of dcmqi",
        "",
        f"- date: {info['date']}; load average before / after: {info['load_before']} / {info['load_after']}",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['platform']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- runs: {info['runs']} (tools alternate within each run; medians shown)",
        "- collections: " + "; ".join(info["collections"]),
        "",
        "| collection | tool | median s | jobs/s | vs dcmqi pip loop | vs dcmqi exe loop | vs our loop | CPU s "
        "| peak RSS MB | outputs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["median_s"] is None:
            lines.append(f"| {r['collection']} ({r['jobs']} jobs) | {r['label']} | {r['status']} | | | | | | | |")
            continue
        checks = "all SEGs of their series" if all(c == "ok" for c in r["checks"]) else "; ".join(r["checks"])
        lines.append(
            f"| {r['collection']} ({r['jobs']} jobs) | {r['label']} | {r['median_s']:.2f} | {r['jobs_per_s']:.2f} | "
            f"{_x(r['vs_dcmqi-pip'])} | {_x(r['vs_dcmqi-bin'])} | {_x(r['vs_loop'])} | {r['cpu_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {checks} |"
        )
    if plan is not None:
        lines += [
            "",
            "| plan (`batch M.csv --dry-run`) | median s | CPU s | client peak RSS MB |",
            "|---|---:|---:|---:|",
        ]
        if plan["median_s"] is None:
            lines.append(f"| {plan['rows']:,} rows | {plan['status']} | | |")
        else:
            lines.append(
                f"| {plan['rows']:,} rows | {plan['median_s']:.2f} | {plan['cpu_s']:.2f} | {plan['peak_rss_mb']:.0f} |"
            )
    lines += [
        "",
        "vs X = X's median / this median (> 1: faster). Whole processes: a loop is one `bash -c` running one",
        "process per case; batch includes starting and stopping its local Dask cluster. CPU s = user + system",
        "of the command and all its children (steadier than the wall clock on a shared machine); peak RSS = the",
        "largest single process (GNU time %M). outputs: after each run every case's file is a LABELMAP SEG",
        "referencing its own series with segments 1..labels (and batch's report has every row ok).",
    ]
    if info.get("targets"):
        lines += ["", "Issue #13's bars:", *info["targets"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols, slices = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RxCxS such as 128x128x40, got {text!r}") from None
    if rows != cols or min(rows, slices) < 3:
        raise argparse.ArgumentTypeError(f"rows must equal columns and every size be >= 3, got {text!r}")
    return rows, slices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="collections + outputs (default $LABELMAP_BATCH_DATA)"
    )
    parser.add_argument("--small", type=int, default=50, help="cases in the small collection (0: none)")
    parser.add_argument("--small-shape", type=_shape, default=(128, 40), help="default 128x128x40")
    parser.add_argument("--small-labels", type=int, default=10)
    parser.add_argument("--reference", type=int, default=12, help="cases in the reference collection (0: none)")
    parser.add_argument("--reference-shape", type=_shape, default=(512, 300), help="default 512x512x300")
    parser.add_argument("--reference-labels", type=int, default=100)
    parser.add_argument("--plan-rows", type=int, default=126_000, help="rows of the --dry-run manifest (0: none)")
    parser.add_argument("--only", default=",".join([*TOOLS, PLAN]), help="comma-separated among %(default)s")
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 cases of 64x64x12, 4 labels, 1 run")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds before a command is killed")
    args = parser.parse_args(argv)
    if args.quick:
        args.small, args.small_shape, args.small_labels = 4, (64, 12), 4
        args.reference, args.plan_rows, args.runs = 0, 2000, 1
    only = {t.strip() for t in args.only.split(",") if t.strip()}
    if not only <= {*TOOLS, PLAN}:
        parser.error(f"--only among {','.join([*TOOLS, PLAN])}")
    workdir = args.workdir or Path(os.environ.get("LABELMAP_BATCH_DATA") or HERE / ".data" / "batch")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    collections = []
    for name, count, (size, slices), n_labels in (
        ("small", args.small, args.small_shape, args.small_labels),
        ("reference", args.reference, args.reference_shape, args.reference_labels),
    ):
        if count > 0:
            collections.append(make_collection(workdir, name, count, size, slices, n_labels))
    runs_dir = workdir / "runs"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    entries = build(collections, runs_dir, only)
    lm = _venv_bin("labelmap-convert") or "labelmap-convert"
    plan = None
    if PLAN in only and args.plan_rows > 0:
        manifest = write_plan_manifest(workdir / f"plan-{args.plan_rows}.csv", args.plan_rows)
        plan = Plan(args.plan_rows, [lm, "batch", str(manifest), "--dry-run"], unavailable=ours_available(engine=False))
    _compile_bytecode()
    print(f"collections ready in {time.perf_counter() - t0:.1f} s under {workdir}", file=sys.stderr, flush=True)

    load_before = _loadavg()
    for run in range(1, args.runs + 1):
        for e in entries:
            if not (e.unavailable or e.failure):
                run_entry(e, logs, run, args.timeout)
        if plan is not None and not (plan.unavailable or plan.failure):
            run_plan(plan, logs, run, args.timeout)
    load_after = _loadavg()

    rows = summarize(entries)
    plan_row = None
    if plan is not None:
        plan_row = {
            "rows": plan.rows,
            "status": plan.unavailable or (f"failed: {plan.failure}" if plan.failure else "ok"),
            "median_s": plan.median("seconds"),
            "cpu_s": plan.median("cpu_seconds"),
            "peak_rss_mb": plan.median("peak_rss_mb"),
            "runs_s": [round(m.seconds, 3) for m in plan.runs],
            "runs_mb": [round(m.peak_rss_mb, 1) for m in plan.runs],
            "command": plan.cmd,
        }
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "load_before": load_before,
        "load_after": load_after,
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "memory": _mem_total_gib(),
        "platform": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "runs": args.runs,
        "collections": [f"{c.name}: {c.describe()} ({c.root})" for c in collections],
        "versions": {m: _version(m) for m in ("labelmap", "dcmqi", "dask", "distributed", "pydicom", "numpy")},
    }
    info["targets"] = targets(rows, plan_row)
    text = markdown(rows, plan_row, info)
    print(text)
    stem = workdir / "batch-compare"
    Path(f"{stem}.md").write_text(text)
    Path(f"{stem}.json").write_text(json.dumps({"info": info, "rows": rows, "plan": plan_row}, indent=2))
    print(f"saved {stem}.md and {stem}.json", file=sys.stderr)
    failed = any(e.failure for e in entries) or (plan is not None and bool(plan.failure))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
