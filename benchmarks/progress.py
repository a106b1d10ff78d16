"""Does reporting progress slow a conversion?  The reference write and read, without and with a listener.

Each operation runs, interleaved, with ``resources=None`` (what every caller but a terminal gets), with a
:class:`~labelmap._util.progress.ProgressLog` (every call recorded) and with the command line's rich bar
drawing to a terminal stand-in from the first second (``LABELMAP_PROGRESS_AFTER=0``: every refresh paid).
Volume: the compare.py reference case (512 x 512 x 300, 100 labels) written as LABELMAP (deflate) and
BINARY and read back; slide: a synthetic slide written as a BINARY slide SEG and read back.  Prints the
median wall-clock and CPU seconds (every thread of the process) per variant and the ratios to ``none``;
on a shared machine the CPU ratio is the steadier one.

    python benchmarks/progress.py [--size 512 --slices 300 --labels 100] [--slide 8192] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cases  # noqa: E402
import _slide_case  # noqa: E402


class _Terminal:
    """A stderr that says it is a terminal and throws the drawing away (what a real one costs to render)."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def _listener(kind: str):
    from labelmap._util.progress import ProgressLog
    from labelmap._util.resources import Resources

    if kind == "none":
        yield None
    elif kind == "log":
        yield Resources(progress=ProgressLog())
    else:
        from labelmap.cli.output import PROGRESS_AFTER_ENV, Printer

        saved, sys.stderr = sys.stderr, _Terminal()
        os.environ[PROGRESS_AFTER_ENV] = "0"
        try:
            with Printer().progress("benchmark") as bar:
                yield Resources(progress=bar)
        finally:
            sys.stderr = saved
            os.environ.pop(PROGRESS_AFTER_ENV, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--slide", type=int, default=8192, help="rows = columns of the slide case (0: none)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default=os.environ.get("LABELMAP_BENCH_DIR", tempfile.gettempdir()))
    args = parser.parse_args(argv)

    from labelmap.pipeline.convert import itk_to_seg, seg_to_itk
    from labelmap.pipeline.options import WriteOptions
    from labelmap.pipeline.slide import slide_to_seg
    from labelmap.pipeline.slide_read import seg_to_slide

    work = Path(args.workdir) / "labelmap-progress-bench"
    case = _cases.make_case(work / "cases", args.size, args.slices, args.labels)
    out = Path(tempfile.mkdtemp(prefix="progress-", dir=work))
    ops = {}

    def volume_write(kind: str, seg_type: str):
        def run(resources):
            options = WriteOptions(seg_type=seg_type, compression="deflate")
            itk_to_seg([case.labels], [case.ct], case.metadata, out / f"{seg_type}-{kind}.dcm", options=options,
                       resources=resources)  # fmt: skip

        return run

    def volume_read(kind: str, seg_type: str):
        def run(resources):
            target = out / f"read-{seg_type}-{kind}"
            shutil.rmtree(target, ignore_errors=True)
            seg_to_itk(out / f"{seg_type}-none.dcm", target, resources=resources)

        return run

    for seg_type in ("labelmap", "binary"):
        ops[f"itk2seg {seg_type}"] = lambda kind, t=seg_type: volume_write(kind, t)
        ops[f"seg2itk {seg_type}"] = lambda kind, t=seg_type: volume_read(kind, t)
    if args.slide:
        sc = _slide_case.make_case(work / "slides", args.slide, args.slide, npy_dtype="uint8")

        def slide_write(kind: str):
            def run(resources):
                slide_to_seg(sc.npy, sc.wsi, out / f"slide-{kind}.dcm", metadata=sc.metadata,
                             options=WriteOptions(seg_type="binary"), resources=resources)  # fmt: skip

            return run

        def slide_read(kind: str):
            def run(resources):
                target = out / f"slide-read-{kind}"
                shutil.rmtree(target, ignore_errors=True)
                progress = None if resources is None else resources.progress
                seg_to_slide(out / "slide-none.dcm", target, progress=progress)

            return run

        ops["slide write binary"] = slide_write
        ops["slide read binary"] = slide_read
    kinds = ("none", "log", "bar")
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, make in ops.items():
        for run in range(args.runs + 1):  # the first round warms the caches and is not counted
            for kind in kinds:
                with _listener(kind) as resources:
                    t0, c0 = time.perf_counter(), time.process_time()
                    make(kind)(resources)
                    took = (time.perf_counter() - t0, time.process_time() - c0)
                if run:
                    times.setdefault((name, kind), []).append(took)
    print(f"medians of {args.runs} runs; wall-clock s (CPU s)")
    print("| operation | none | ProgressLog | rich bar | log / none wall (CPU) | bar / none wall (CPU) |")
    print("|---|---|---|---|---|---|")
    for name in ops:
        wall = {k: statistics.median(t[0] for t in times[(name, k)]) for k in kinds}
        cpu = {k: statistics.median(t[1] for t in times[(name, k)]) for k in kinds}
        cells = [f"{wall[k]:.3f} ({cpu[k]:.3f})" for k in kinds]
        ratios = [f"{wall[k] / wall['none']:.2f} ({cpu[k] / cpu['none']:.2f})" for k in ("log", "bar")]
        print(f"| {name} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
