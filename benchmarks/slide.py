#!/usr/bin/env python
"""Whole-process comparison of labelmap with highdicom on one slide: LABELMAP TILED_FULL write and read.

    python benchmarks/slide.py [--rows 20000 --columns 20000 --runs 3] [--workdir DIR]
                               [--variants rle,deflate,jpegls] [--only labelmap,highdicom] [--quick]

The case (issue #12's comparison): a synthetic 20,000 x 20,000 slide label map (20 classes: stroma,
glands, nuclei over ~40 % tissue; ``_slide_data.py``) saved as ``.npy`` (uint8 by default, as the
issue's highdicom reference of ~950 MB implies; ``--dtype uint16`` for 800 MB of labels), its VL Whole
Slide Microscopy source level (headers and one tiny repeated frame) and dcmqi JSON, all deterministic and
cached in ``--workdir`` (default $LABELMAP_SLIDE_DATA, else ``benchmarks/.data``; 0.4-0.8 GB).

Timed, each as its own process, tools alternating within each run, medians over the runs:

- write: ``labelmap-convert itk2seg labels.npy --dicom wsi/ -m meta.json -o OUT.dcm --tiled full
  --compression rle`` (plus the other ``--variants``) against ``highdicom_slide.py write`` (the
  memory-mapped labels into ``hd.seg.Segmentation(tile_pixel_array=True, TILED_FULL,
  omit_empty_frames=False, RLELossless)`` and ``save_as``);
- read: ``labelmap-convert seg2itk SEG -o DIR`` (``1.ome.tif``) against ``highdicom_slide.py read``
  (``get_total_pixel_matrix(combine_segments=True)`` written as a tiled zlib TIFF by tifffile), on
  highdicom's RLE file and on ours.

Then every output is checked: highdicom must read our RLE (and JPEG-LS) SEG to the labels (in row
blocks), and every TIFF written by a read must equal the labels band by band.  Peak RSS is each
command's own (GNU time ``%M``; see compare.run_process).  The issue's targets: our RLE write at least
10x faster than highdicom's with at most a quarter of its peak memory.  ``--quick``: 2,000 x 3,000,
one run.  The table is printed as markdown and saved with the raw timings as
``<workdir>/<case>/slide-compare-<dtype>.md`` and ``.json``; the exit code is 1 if a command fails or a check differs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
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
    _fmt_size,
    _loadavg,
    _mem_total_gib,
    _size_of,
    _venv_bin,
    _version,
    run_process,
)

import _slide_case  # noqa: E402
import _slide_data  # noqa: E402

TOOLS = ("labelmap", "highdicom")
#: our write variants: --compression values (deflate = Deflated Image Frame Compression for slides)
VARIANTS = ("rle", "deflate", "jpegls")
#: highdicom can read these of ours (pydicom knows no Deflated Image Frame Compression)
HD_READABLE = ("rle", "jpegls", "none")
TIMEOUT_S = 3600


def ours_available() -> tuple[str, str]:
    """('' or why not) for our slide writer and reader on this checkout (found without importing them)."""

    def has(module: str, name: str) -> bool:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return False
        return bool(spec and spec.origin and f"def {name}(" in Path(spec.origin).read_text())

    write = "" if has("labelmap.pipeline.slide", "slide_to_seg") else "n/a: no slide writer on this checkout"
    read = "" if has("labelmap.pipeline.slide_read", "seg_to_slide") else "n/a: no slide reader on this checkout"
    return write, read


@dataclass
class Entry:
    operation: str
    tool: str
    variant: str
    cmd: list[str]
    output: Path
    output_is_dir: bool = False
    unavailable: str = ""
    runs: list[Measurement] = field(default_factory=list)
    output_bytes: int = 0
    failure: str = ""
    check: str = ""

    @property
    def key(self) -> str:
        return f"{self.operation} | {self.tool} | {self.variant}"

    def median(self) -> float | None:
        ok = [m.seconds for m in self.runs if m.returncode == 0]
        return statistics.median(ok) if ok and not self.failure else None

    def cpu(self) -> float | None:
        ok = [m.cpu_seconds for m in self.runs if m.returncode == 0]
        return statistics.median(ok) if ok and not self.failure else None

    def peak(self) -> float | None:
        ok = [m.peak_rss_mb for m in self.runs if m.returncode == 0]
        return statistics.median(ok) if ok and not self.failure else None


def _run(entry: Entry, logs: Path, run: int, timeout: float) -> None:
    out = entry.output
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    if entry.output_is_dir:
        out.mkdir(parents=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in entry.key.lower())
    m = run_process(entry.cmd, logs / f"{slug}-run{run}", timeout=timeout)
    entry.runs.append(m)
    if m.returncode != 0:
        entry.failure = m.stderr_first or f"exit code {m.returncode}"
        print(f"[run {run}] {entry.key}: failed: {entry.failure}", file=sys.stderr)
        return
    entry.output_bytes = _size_of(out)
    print(
        f"[run {run}] {entry.key}: {m.seconds:.2f} s ({m.cpu_seconds:.2f} s CPU), {m.peak_rss_mb:.0f} MB, "
        f"{_fmt_size(entry.output_bytes)}",
        file=sys.stderr,
        flush=True,
    )


def _tiff_in(folder: Path) -> Path | None:
    found = sorted(p for p in folder.rglob("*") if p.suffix in (".tif", ".tiff"))
    return found[0] if found else None


def check_tiff(tiff: Path, labels: Path) -> str:
    """'ok' when the TIFF's first page equals the .npy labels band by band, else what differs."""
    import numpy as np

    ref = np.load(labels, mmap_mode="r")
    import tifffile

    with tifffile.TiffFile(tiff) as tif:
        shape = tuple(tif.pages.first.shape[:2])
    if shape != ref.shape:
        return f"shape {shape} != {ref.shape}"
    for row0, band in _slide_data.iter_tiff_bands(tiff):
        want = ref[row0 : row0 + band.shape[0]]
        if not np.array_equal(band, want):
            bad = row0 + int(np.nonzero((band != want).any(axis=1))[0][0])
            return f"row {bad} differs"
    return "ok"


def build(case: _slide_case.SlideCase, out_root: Path, variants: list[str], only: set[str]) -> list[Entry]:
    lm = _venv_bin("labelmap-convert") or "labelmap-convert"
    py = sys.executable
    runner = str(HERE / "highdicom_slide.py")
    no_write, no_read = ours_available()
    have_hd = importlib.util.find_spec("highdicom") is not None
    entries: list[Entry] = []

    def add(op, tool, variant, cmd, output, *, is_dir=False, unavailable=""):
        if tool not in only:
            return
        if tool == "highdicom" and not have_hd:
            unavailable = "n/a: highdicom not installed"
        entries.append(Entry(op, tool, variant, cmd, output, is_dir, unavailable))

    op = "write LABELMAP TILED_FULL"
    for comp in variants:
        out = out_root / f"write-labelmap-{comp}.dcm"
        cmd = [lm, "itk2seg", str(case.npy), "--dicom", str(case.wsi), "-m", str(case.metadata), "-o", str(out)]
        cmd += ["--tiled", "full", "--compression", comp, "-q"]
        add(op, "labelmap", comp, cmd, out, unavailable=no_write)
    out = out_root / "write-highdicom-rle.dcm"
    cmd = [py, runner, "write", "--labels", str(case.npy), "--wsi", str(case.wsi_level0)]
    cmd += ["--metadata", str(case.metadata), "--output", str(out), "--transfer-syntax", "rle"]
    add(op, "highdicom", "rle", cmd, out)

    op = "read LABELMAP -> TIFF"
    for src_tool in ("highdicom", "labelmap"):
        src = out_root / "inputs" / f"{src_tool}-rle.dcm"
        missing = "" if src_tool in only else f"n/a: no {src_tool} file (--only)"
        if src_tool == "labelmap" and no_write:
            missing = no_write
        variant = f"{src_tool}'s rle file"
        out = out_root / f"read-labelmap-from-{src_tool}"
        add(op, "labelmap", variant, [lm, "seg2itk", str(src), "-o", str(out), "-q"], out, is_dir=True,
            unavailable=no_read or missing)  # fmt: skip
        out = out_root / f"read-highdicom-from-{src_tool}" / "labels.tif"
        add(op, "highdicom", variant, [py, runner, "read", "--seg", str(src), "--output", str(out)], out,
            unavailable=missing)  # fmt: skip
    return entries


def summarize(entries: list[Entry]) -> list[dict]:
    """Rows with the ratios against highdicom in the same operation (same variant/input, else its rle cell)."""
    rows = []
    for e in entries:
        med, peak = e.median(), e.peak()
        hd = [h for h in entries if h.operation == e.operation and h.tool == "highdicom" and h.median() is not None]
        ref = next((h for h in hd if h.variant == e.variant), hd[0] if hd else None)
        speed = mem = None
        if e.tool != "highdicom" and ref is not None and med is not None and peak is not None:
            speed = ref.median() / med  # type: ignore[operator]
            mem = peak / ref.peak()  # type: ignore[operator]
        status = e.unavailable or (f"failed: {e.failure}" if e.failure else "ok")
        rows.append(
            {
                "operation": e.operation,
                "tool": e.tool,
                "variant": e.variant,
                "status": status,
                "median_s": med,
                "cpu_s": e.cpu(),
                "runs_s": [round(m.seconds, 3) for m in e.runs],
                "peak_rss_mb": peak,
                "speed_vs_highdicom": speed,
                "memory_vs_highdicom": mem,
                "output_bytes": e.output_bytes if med is not None else 0,
                "check": e.check,
            }
        )
    return rows


def markdown(rows: list[dict], info: dict) -> str:
    lines = [
        f"## labelmap vs highdicom on a slide: {info['case']}",
        "",
        f"- date: {info['date']}; load average before / after: {info['load_before']} / {info['load_after']}",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['platform']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- runs: {info['runs']} (tools alternate within each run; medians shown)",
        "",
        "| operation | tool | variant | median s | CPU s | speed vs highdicom | peak RSS MB | memory vs highdicom "
        "| output | check |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["median_s"] is None:
            lines.append(f"| {r['operation']} | {r['tool']} | {r['variant']} | {r['status']} | | | | | | |")
            continue
        speed = "" if r["speed_vs_highdicom"] is None else f"{r['speed_vs_highdicom']:.1f}x"
        mem = "" if r["memory_vs_highdicom"] is None else f"{r['memory_vs_highdicom']:.2f}"
        lines.append(
            f"| {r['operation']} | {r['tool']} | {r['variant']} | {r['median_s']:.2f} | {r['cpu_s']:.2f} | {speed} | "
            f"{r['peak_rss_mb']:.0f} | {mem} | {_fmt_size(r['output_bytes'])} | {r['check']} |"
        )
    lines += [
        "",
        "speed vs highdicom = highdicom's median / this median (> 1: faster); memory vs highdicom = this",
        "peak RSS / highdicom's (< 1: less), both against highdicom's cell of the same operation and input.",
        "Whole processes (start-up and imports included); CPU s = user + system time (steadier than the wall",
        "clock on a shared machine); peak RSS = each command's own maximum resident set.",
        "check: write = highdicom reads the SEG back to the labels (our deflate: our reader, highdicom cannot);",
        "read = the TIFF equals the labels. Issue #12 targets: write >= 10x, memory <= 0.25.",
    ]
    if info.get("targets"):
        lines += ["", *info["targets"]]
    return "\n".join(lines) + "\n"


def _targets(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if r["tool"] != "labelmap" or r["speed_vs_highdicom"] is None:
            continue
        if r["operation"].startswith("write") and r["variant"] == "rle":
            s, m = r["speed_vs_highdicom"], r["memory_vs_highdicom"]
            out.append(
                f"- target write (rle): speed {s:.1f}x ({'met' if s >= 10 else 'NOT met'}, >= 10x), "
                f"memory {m:.2f} of highdicom's ({'met' if m <= 0.25 else 'NOT met'}, <= 0.25)"
            )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--columns", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=_slide_data.SEED)
    parser.add_argument(
        "--dtype", choices=["uint8", "uint16"], default="uint8", help="the .npy labels' type (default uint8)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="case cache + outputs (default $LABELMAP_SLIDE_DATA)"
    )
    parser.add_argument("--variants", default="rle", help=f"our --compression values among {','.join(VARIANTS)}")
    parser.add_argument("--only", default=",".join(TOOLS), help="comma-separated tools among labelmap,highdicom")
    parser.add_argument("--no-check", action="store_true", help="skip the output checks")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2,000 x 3,000, one run")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.columns, args.runs = 2000, 3000, 1
    only = {t.strip() for t in args.only.split(",") if t.strip()}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not only <= set(TOOLS) or not set(variants) <= set(VARIANTS):
        parser.error(f"--only among {','.join(TOOLS)}; --variants among {','.join(VARIANTS)}")
    if "rle" not in variants:
        variants.insert(0, "rle")  # the compared cell and the read inputs

    t0 = time.perf_counter()
    case = _slide_case.make_case(args.workdir, args.rows, args.columns, seed=args.seed, npy_dtype=args.dtype)
    _compile_bytecode()
    print(f"case ready in {time.perf_counter() - t0:.1f} s: {case.root}", file=sys.stderr)
    out_root = case.root / f"outputs-{args.dtype}"
    logs = case.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    entries = build(case, out_root, variants, only)
    load_before = _loadavg()

    writes = [e for e in entries if e.operation.startswith("write")]
    reads = [e for e in entries if e.operation.startswith("read")]
    inputs = out_root / "inputs"
    for run in range(1, args.runs + 1):
        for e in writes:
            if not (e.unavailable or e.failure):
                _run(e, logs, run, args.timeout)
        if run == 1:  # the read inputs: the first run's RLE files, kept apart from later writes
            inputs.mkdir(parents=True, exist_ok=True)
            for e in writes:
                if e.variant == "rle" and not e.failure and e.output.exists():
                    shutil.copyfile(e.output, inputs / f"{e.tool}-rle.dcm")
            for e in reads:
                src = Path(e.cmd[e.cmd.index("--seg") + 1] if "--seg" in e.cmd else e.cmd[2])
                if not e.unavailable and not src.exists():
                    e.unavailable = f"n/a: input {src.name} was not written"
        for e in reads:
            if not (e.unavailable or e.failure):
                _run(e, logs, run, args.timeout)

    failed = any(e.failure for e in entries)
    if not args.no_check:
        failed |= run_checks(case, entries)
    rows = summarize(entries)
    info = {
        "case": f"{args.rows} x {args.columns} {args.dtype} labels, {_slide_data.N_CLASSES} classes, seed {args.seed}",
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "load_before": load_before,
        "load_after": _loadavg(),
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "memory": _mem_total_gib(),
        "platform": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "runs": args.runs,
        "versions": {m: _version(m) for m in ("labelmap", "highdicom", "pydicom", "numpy", "tifffile")},
    }
    info["targets"] = _targets(rows)
    text = markdown(rows, info)
    print(text)
    stem = case.root / f"slide-compare-{args.dtype}"
    Path(f"{stem}.md").write_text(text)
    Path(f"{stem}.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    print(f"saved {stem}.md and {stem}.json", file=sys.stderr)
    return 1 if failed else 0


def run_checks(case: _slide_case.SlideCase, entries: list[Entry]) -> bool:
    """Fill each entry's ``check``; True when something differs."""
    import subprocess

    failed = False
    runner = str(HERE / "highdicom_slide.py")
    for e in entries:
        if e.median() is None or not e.output.exists():
            continue
        if e.operation.startswith("write"):
            if e.tool == "highdicom":
                continue  # highdicom's file is checked by the reads
            if e.variant in HD_READABLE:
                proc = subprocess.run(
                    [sys.executable, runner, "check", "--seg", str(e.output), "--labels", str(case.npy)],
                    capture_output=True,
                    text=True,
                )
                ok = proc.returncode == 0
                e.check = "highdicom reads it: equal" if ok else (proc.stderr.strip() or "differs")
            else:  # highdicom cannot read it (Deflated Image Frame Compression): our reader must
                back = e.output.parent / f"check-{e.output.stem}"
                shutil.rmtree(back, ignore_errors=True)
                lm = _venv_bin("labelmap-convert") or "labelmap-convert"
                proc = subprocess.run(
                    [lm, "seg2itk", str(e.output), "-o", str(back), "-q"], capture_output=True, text=True
                )
                tiff = _tiff_in(back) if proc.returncode == 0 else None
                result = check_tiff(tiff, case.npy) if tiff else (proc.stderr.strip() or "seg2itk wrote no TIFF")
                e.check = "our reader reads it: equal" if result == "ok" else result
                shutil.rmtree(back, ignore_errors=True)
        else:
            tiff = _tiff_in(e.output) if e.output.is_dir() else e.output
            e.check = "no TIFF written" if tiff is None else check_tiff(tiff, case.npy)
            e.check = "equal" if e.check == "ok" else e.check
        print(f"check {e.key}: {e.check}", file=sys.stderr, flush=True)
        failed |= "equal" not in e.check
    return failed


if __name__ == "__main__":
    sys.exit(main())
