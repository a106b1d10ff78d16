#!/usr/bin/env python
"""Big-slide benchmark (``make big-slide``): a 100,000 x 80,000 uint16 label map to a LABELMAP SEG and back.

    python benchmarks/big_slide.py [--rows 100000 --columns 80000] [--workdir DIR] [--compression C]
                                   [--max-seconds 20 --max-mb 500] [--strict]

The label map (20 classes drawn as nuclei- and gland-sized blobs over ~40 % tissue, ``_slide_data.py``)
is generated once, band by band on two threads, as a tiled (256 x 256) zlib BigTIFF (about 0.4 GB;
about 1.5-2 minutes), with its VL WSI source level and dcmqi JSON; they are cached in ``--workdir``
(default $LABELMAP_SLIDE_DATA, else ``benchmarks/.data``).  Outputs need about 0.5 GB more.

Steps, each its own process (wall time and the command's peak RSS, as compare.py measures them):

1. ``labelmap-convert itk2seg labels.tif --dicom wsi/ -m meta.json -o big.dcm --tiled full`` (the default
   syntax unless ``--compression``);
2. ``labelmap-convert seg2itk big.dcm -o back/`` (``back/1.ome.tif``);
3. the read-back TIFF compared with the input TIFF band by band (both decoded as streams, never whole).

Issue #12's targets: write and read each at most 20 s and 500 MB on 2 cores.  The exit code is 1 if a
step fails or the read-back differs (with ``--strict``, also if a target is missed).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare import _compile_bytecode, _cpu_model, _fmt_size, _loadavg, _mem_total_gib, _venv_bin, run_process  # noqa: E402

import _slide_case  # noqa: E402
import _slide_data  # noqa: E402


def rebanded(bands: Iterator[tuple[int, object]], height: int, columns: int, dtype) -> Iterator[tuple[int, object]]:
    """(row0, rows) in bands of exactly ``height`` rows (the last shorter), from bands of any height."""
    import numpy as np

    buf = np.empty((height, columns), dtype)
    filled, row0 = 0, 0
    for _, band in bands:
        band = np.asarray(band)
        at = 0
        while at < band.shape[0]:
            take = min(height - filled, band.shape[0] - at)
            buf[filled : filled + take] = band[at : at + take]
            filled += take
            at += take
            if filled == height:
                yield row0, buf
                row0 += height
                filled = 0
    if filled:
        yield row0, buf[:filled]


def compare_tiffs(a: Path, b: Path, *, height: int = 1024) -> str:
    """'equal' when the first pages of two TIFFs hold the same matrix, else the first differing row."""
    import numpy as np
    import tifffile

    shapes = []
    for path in (a, b):
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            shapes.append((tuple(page.shape[:2]), page.dtype))
    if shapes[0][0] != shapes[1][0]:
        return f"shape {shapes[1][0]} != {shapes[0][0]}"
    cols = shapes[0][0][1]
    ia = rebanded(_slide_data.iter_tiff_bands(a, threads=1), height, cols, shapes[0][1])
    ib = rebanded(_slide_data.iter_tiff_bands(b, threads=1), height, cols, shapes[1][1])
    rows = 0
    for (r0, x), (_, y) in zip(ia, ib):
        if not np.array_equal(x, y):
            return f"row {r0 + int(np.nonzero((x != y).any(axis=1))[0][0])} differs"
        rows += x.shape[0]
    if rows != shapes[0][0][0]:
        return f"read {rows} of {shapes[0][0][0]} rows"
    return "equal"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=80_000)
    parser.add_argument("--seed", type=int, default=_slide_data.SEED)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="case cache + outputs (default $LABELMAP_SLIDE_DATA)"
    )
    parser.add_argument("--compression", default="", help="itk2seg --compression (default: the writer's default)")
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.add_argument("--max-mb", type=float, default=500.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed too")
    args = parser.parse_args(argv)

    lm = _venv_bin("labelmap-convert")
    if lm is None:
        print("labelmap-convert not found; install the package first", file=sys.stderr)
        return 1
    slide = _slide_data.SyntheticSlide(args.rows, args.columns, args.seed)
    root = _slide_case.data_dir(args.workdir) / slide.name
    print(f"case: {args.rows} x {args.columns} uint16, cache {root}", flush=True)
    t0 = time.perf_counter()
    fresh = not (root / "labels.tif").exists()
    case = _slide_case.make_case(args.workdir, args.rows, args.columns, seed=args.seed, npy=False, tiff=True)
    made = time.perf_counter() - t0
    print(
        f"  labels {'generated' if fresh else 'cached'} in {made:.1f} s: {case.tiff} "
        f"({_fmt_size(case.tiff.stat().st_size)})",
        flush=True,
    )
    _compile_bytecode()
    out = root / "big-outputs"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    seg, back = out / "big.dcm", out / "back"
    back.mkdir()
    write = [lm, "itk2seg", str(case.tiff), "--dicom", str(case.wsi), "-m", str(case.metadata), "-o", str(seg)]
    write += ["--tiled", "full", "-q"] + (["--compression", args.compression] if args.compression else [])
    steps = [
        (f"write LABELMAP TILED_FULL ({args.compression or 'default'})", write, seg),
        ("read LABELMAP -> OME-TIFF", [lm, "seg2itk", str(seg), "-o", str(back), "-q"], back),
    ]
    load_before = _loadavg()
    rows, failed, missed = [], False, False
    for label, cmd, output in steps:
        print(f"  {label} ...", flush=True)
        m = run_process(cmd, logs / ("big-" + "".join(c if c.isalnum() else "-" for c in label)))
        size = sum(p.stat().st_size for p in output.rglob("*")) if output.is_dir() else output.stat().st_size
        ok = m.returncode == 0
        met = ok and m.seconds <= args.max_seconds and m.peak_rss_mb <= args.max_mb
        failed |= not ok
        missed |= not met
        note = ("met" if met else "NOT met") if ok else f"failed: {m.stderr_first}"
        rows.append((label, m.seconds, m.cpu_seconds, m.peak_rss_mb, _fmt_size(size) if ok else "-", note))
        print(f"    {m.seconds:.1f} s ({m.cpu_seconds:.1f} s CPU), {m.peak_rss_mb:.0f} MB: {note}", flush=True)
        if not ok:
            break

    check = "not run"
    if not failed:
        tiffs = sorted(back.rglob("*.tif"))
        if not tiffs:
            check, failed = f"no TIFF in {back}", True
        else:
            t1 = time.perf_counter()
            check = compare_tiffs(case.tiff, tiffs[0])
            check += f" ({tiffs[0].name} vs {case.tiff.name}, {time.perf_counter() - t1:.0f} s)"
            failed |= not check.startswith("equal")
    print(f"  read-back: {check}", flush=True)

    lines = [
        f"## Big slide: {args.rows:,} x {args.columns:,} uint16 label map, {_slide_data.N_CLASSES} classes",
        "",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}; "
        f"load average before / after: {load_before} / {_loadavg()}",
        f"- machine: {_cpu_model()}, {len(os.sched_getaffinity(0))} cores, {_mem_total_gib()}, "
        f"Python {platform.python_version()}",
        f"- input: {case.tiff.name}, tiled 256 x 256 zlib BigTIFF, {_fmt_size(case.tiff.stat().st_size)} "
        f"({'generated' if fresh else 'cached'}, {made:.0f} s)",
        f"- targets: each step <= {args.max_seconds:g} s and <= {args.max_mb:g} MB peak RSS",
        "",
        "| step | s | CPU s | peak RSS MB | output | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.0f} | {r[4]} | {r[5]} |" for r in rows]
    lines += ["", f"Read-back equal to the input: {check}"]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (root / "big-slide.md").write_text(text)
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
