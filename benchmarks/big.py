#!/usr/bin/env python
"""Big-input benchmark: write and read a 1024 x 1024 x 600 label map with 200 labels.

    python benchmarks/big.py [--size 1024 --slices 600 --labels 200 --workdir .bench-cache]
                             [--compression deflate,none] [--limit 3.0]

The case (CT series of ``slices`` 1024 x 1024 images, organ phantom stored as uint8 gzip
NRRD, dcmqi JSON) is generated once and cached.  Each step runs ``labelmap-convert`` as its
own process; the table gives wall time, output size and peak RSS as a multiple of the label
volume's size (``size * size * slices`` bytes of uint8).  The target is a peak below
``--limit`` (3x) for every step; the exit code is 1 if a step fails or misses it.  This is a
benchmark, not a test: it needs about 2 GB of disk and a few minutes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare import _compile_bytecode, _cpu_model, _fmt_size, _mem_total_gib, _venv_bin, run_process  # noqa: E402

import _cases  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--seed", type=int, default=_cases.SEED)
    parser.add_argument("--workdir", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--compression", default="deflate,none", help="comma-separated --compression values")
    parser.add_argument("--limit", type=float, default=3.0, help="peak RSS limit as a multiple of the label volume")
    args = parser.parse_args(argv)

    lm = _venv_bin("labelmap-convert")
    if lm is None:
        print("labelmap-convert not found; install the package first", file=sys.stderr)
        return 1
    workdir = args.workdir.resolve()
    print(f"case: {args.size}x{args.size}x{args.slices}, {args.labels} labels (uint8), cache {workdir}", flush=True)
    case = _cases.make_case(workdir, args.size, args.slices, args.labels, args.seed, dtype="uint8")
    _compile_bytecode()
    volume_bytes = args.size * args.size * args.slices
    out_root = workdir / "big-outputs" / case.root.name
    if out_root.exists():
        shutil.rmtree(out_root)
    out_root.mkdir(parents=True)
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    rows, failed = [], False
    for comp in [c.strip() for c in args.compression.split(",") if c.strip()]:
        seg = out_root / f"labelmap-{comp}.dcm"
        back = out_root / f"read-{comp}"
        back.mkdir()
        steps = [
            (
                f"write LABELMAP ({comp})",
                [
                    lm,
                    "itk2seg",
                    str(case.labels),
                    "--dicom",
                    str(case.ct),
                    "-m",
                    str(case.metadata),
                    "-o",
                    str(seg),
                    "--compression",
                    comp,
                    "-q",
                ],
                seg,
            ),
            (f"read LABELMAP ({comp}) -> NRRD", [lm, "seg2itk", str(seg), "-o", str(back), "-q"], back / "1.nrrd"),
        ]
        for label, cmd, output in steps:
            print(f"  {label} ...", flush=True)
            m = run_process(
                cmd, logs / f"big-{label.replace(' ', '-').replace('>', '').replace('(', '').replace(')', '')}"
            )
            ratio = m.peak_rss_mb * 2**20 / volume_bytes
            ok = m.returncode == 0 and ratio < args.limit
            failed |= not ok
            rows.append(
                (
                    label,
                    m.seconds,
                    _fmt_size(output.stat().st_size) if output.exists() else "-",
                    m.peak_rss_mb,
                    ratio,
                    "yes" if ok else f"NO {m.stderr_first}",
                )
            )
        if (back / "1.nrrd").exists():
            _check_roundtrip(case.labels, back / "1.nrrd")

    lines = [
        f"## Big input: {args.size}x{args.size}x{args.slices}, {args.labels} labels",
        "",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}",
        f"- machine: {_cpu_model()}, {len(__import__('os').sched_getaffinity(0))} cores, {_mem_total_gib()}, "
        f"Python {platform.python_version()}",
        f"- label volume: {volume_bytes / 2**20:.0f} MiB (uint8); limit {args.limit:g}x = "
        f"{args.limit * volume_bytes / 2**20:.0f} MiB",
        "",
        "| step | s | output | peak RSS MiB | x label volume | below limit |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r[0]} | {r[1]:.2f} | {r[2]} | {r[3]:.0f} | {r[4]:.2f} | {r[5]} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (workdir / f"big-{case.root.name}.md").write_text(text)
    return 1 if failed else 0


def _check_roundtrip(labels: Path, read_back: Path) -> None:
    """The read-back labels equal the input voxel for voxel (else the benchmark is meaningless)."""
    import numpy as np

    from labelmap import read_labels

    va, vb = read_labels(labels), read_labels(read_back)
    a, ga, b, gb = va.array, va.geometry, vb.array, vb.geometry
    # the reader gives the smallest grid holding every frame: compare on the input's grid
    k0 = int(round((gb.origin - ga.origin) @ ga.direction[:, 2] / ga.spacing[2]))
    if not np.array_equal(a[k0 : k0 + b.shape[0]], b) or a[:k0].any() or a[k0 + b.shape[0] :].any():
        raise SystemExit(f"round trip differs: {labels} vs {read_back}")
    print("    read-back labels equal the input", flush=True)


if __name__ == "__main__":
    sys.exit(main())
