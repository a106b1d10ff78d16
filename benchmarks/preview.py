#!/usr/bin/env python
"""Whole-process time of ``labelmap-convert preview`` on the reference case, against our own LABELMAP read.

    python benchmarks/preview.py [--size 512 --slices 300 --labels 100 --runs 3] [--workdir .bench-cache]

The case is :mod:`compare`'s (cached under the work folder); its LABELMAP (deflated) and BINARY SEGs
are written once with ``itk2seg``.  Each run alternates the peer (``seg2itk`` of the LABELMAP SEG to
NRRD: a read of the same file) with the previews (over black, over the CT series, the BINARY SEG),
each a process of its own; the table gives medians of wall and CPU (user + system) seconds, the ratio
to the peer's median in the same run (steady on a busy machine), and peak RSS.  The commands run
this checkout's ``labelmap`` (``python -m labelmap.cli`` with the repository on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare import _cpu_model, _loadavg, run_process  # noqa: E402

import _cases  # noqa: E402


def _lm(*args: object) -> list[str]:
    return [sys.executable, "-m", "labelmap.cli", *(str(a) for a in args)]


def main(argv: list[str] | None = None) -> int:
    """Build the SEGs once, time the commands alternately, print the markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--slices", type=int, default=300)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir", default=str(HERE.parent / ".bench-cache"))
    args = p.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    case = _cases.make_case(args.workdir, args.size, args.slices, args.labels)
    work = case.root / "preview-bench"
    work.mkdir(exist_ok=True)
    segs = {"labelmap": work / "labelmap.seg.dcm", "binary": work / "binary.seg.dcm"}
    for kind, seg in segs.items():
        if not seg.exists():
            made = run_process(
                _lm("itk2seg", case.labels, "-d", case.ct, "-m", case.metadata, "-o", seg, "--type", kind, "-q"),
                work / f"make-{kind}",
            )
            if made.returncode:
                print(f"itk2seg --type {kind} failed: {made.stderr_first}", file=sys.stderr)
                return 1
    commands = {
        "seg2itk LABELMAP -> NRRD (peer)": _lm("seg2itk", segs["labelmap"], "-o", work / "read", "-q"),
        "preview LABELMAP over black": _lm("preview", segs["labelmap"], "-o", work / "black.png", "-q"),
        "preview LABELMAP over the CT": _lm("preview", segs["labelmap"], "-r", case.ct, "-o", work / "ct.png", "-q"),
        "preview BINARY over black": _lm("preview", segs["binary"], "-o", work / "binary.png", "-q"),
    }
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for run in range(args.runs):
        for name, cmd in commands.items():
            m = run_process(cmd, work / f"run{run}-{len(times[name])}")
            if m.returncode:
                print(f"{name} failed: {m.stderr_first}", file=sys.stderr)
                return 1
            times[name].append((m.seconds, m.cpu_seconds, m.peak_rss_mb))
    peer = statistics.median(t[0] for t in times["seg2itk LABELMAP -> NRRD (peer)"])
    print(f"case {case.root.name}, {args.runs} runs, {_cpu_model()}, load average {_loadavg()}\n")
    print("| command | median s | CPU s | vs seg2itk read | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        rss = statistics.median(v[2] for v in values)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / peer:.2f}x | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
