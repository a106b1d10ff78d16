#!/usr/bin/env python
"""Whole-process comparison of labelmap with dcmqi and highdicom on one reference case.

    python benchmarks/compare.py [--size 512 --slices 300 --labels 100 --runs 3]
                                 [--workdir .bench-cache] [--only labelmap,dcmqi,highdicom,floor] [--quick]

The case (synthetic CT series, organ phantom of non-overlapping labels as gzip
NRRD, dcmqi metadata JSON) is generated deterministically from a fixed seed and
cached in the work folder, keyed by its parameters.  Every command runs as its
own process; the wall clock is ``time.perf_counter`` around start and
``os.wait4``, and the peak memory is the command's own maximum RSS as GNU time
(``/usr/bin/time -f %M``) reports it (see :func:`run_process` for why not the
``ru_maxrss`` of a child forked from this script).  Within each run the tools alternate
(labelmap, dcmqi, highdicom, ...); the table shows medians over the runs.

``--quick`` runs a small case (128 x 128 x 40, 10 labels, 1 run) as a smoke test.
The table is printed as markdown and saved (with the raw timings) as
``<workdir>/compare-<case>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _cases  # noqa: E402

TOOLS = ("labelmap", "dcmqi", "highdicom", "floor")
TIMEOUT_S = 3600


# --------------------------------------------------------------------------- tools
def _venv_bin(name: str) -> str | None:
    """An executable next to this interpreter (the venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def _dcmqi_bin(name: str) -> str | None:
    """The dcmqi executable itself (not the pip package's Python wrapper, whose start-up would be counted)."""
    spec = importlib.util.find_spec("dcmqi")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / "bin" / name
            if candidate.exists() and os.access(candidate, os.X_OK):
                return str(candidate)
    return shutil.which(name)


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    """The 1, 5 and 15 minute load averages, for the report header ("?" where /proc has none)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _mem_total_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


# --------------------------------------------------------------------------- running a process
@dataclass
class Measurement:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stderr_first: str
    #: user + system seconds of the command (GNU time's included): steadier than wall time on a busy machine
    cpu_seconds: float = 0.0


TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_process(cmd: list[str], log_prefix: Path, timeout: float = TIMEOUT_S) -> Measurement:
    """Run ``cmd``: wall clock around start and ``os.wait4``, and the command's own peak RSS.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``), which forks the
    command from its own ~1 MB image.  ``ru_maxrss`` of a child forked straight
    from this (numpy-loaded) script would report at least this script's RSS,
    because Linux keeps the pre-exec high-water mark; without GNU time that is
    the fallback, and an upper bound.
    """
    rss_file = Path(f"{log_prefix}.maxrss")
    full = [TIME_BIN, "-f", "%M", "-o", str(rss_file), *cmd] if TIME_BIN else list(cmd)
    out = open(f"{log_prefix}.stdout", "wb")
    err = open(f"{log_prefix}.stderr", "wb")
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        timer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # stop Popen from waiting again
    finally:
        out.close()
        err.close()
    rss_kb = None
    text_lines: list[str] = []
    if TIME_BIN and rss_file.exists():
        text_lines = rss_file.read_text(errors="replace").strip().splitlines()
        digits = [ln.strip() for ln in text_lines if ln.strip().isdigit()]
        if digits:
            rss_kb = int(digits[-1])
    if rss_kb is None:  # Linux: ru_maxrss in KiB (macOS: bytes)
        rss_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    returncode = proc.returncode
    signalled = [ln for ln in text_lines if "terminated by signal" in ln]
    first = ""
    if returncode != 0 or signalled:
        text = Path(f"{log_prefix}.stderr").read_text(errors="replace").strip().splitlines()
        text = text or Path(f"{log_prefix}.stdout").read_text(errors="replace").strip().splitlines()
        # prefer an "error" line; else the last line (a traceback's message); else the exit status
        errors = [ln for ln in text if "error" in ln.lower()]
        first = (errors[0] if errors else (text[-1] if text else f"exit code {returncode}")).strip()
        if signalled or returncode < 0:
            first = (signalled[0].strip() if signalled else f"killed by signal {-returncode}") + (
                f" ({first})" if text else ""
            )
        returncode = returncode or 1
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(seconds, rss_kb / 1024.0, returncode, first[:160], cpu)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


# --------------------------------------------------------------------------- the operations
@dataclass
class Entry:
    """One (operation, tool, variant) cell: how to run it and where its output goes."""

    operation: str
    tool: str
    variant: str
    make_cmd: Callable[[Path], list[str]]  # output path -> command
    output_is_dir: bool = False
    unavailable: str = ""  # non-empty: "n/a: ..." without running
    runs: list[Measurement] = field(default_factory=list)
    output_bytes: int = 0
    failure: str = ""

    @property
    def key(self) -> str:
        return f"{self.operation} | {self.tool} | {self.variant}"

    def slug(self) -> str:
        text = f"{self.operation}-{self.tool}-{self.variant}".lower()
        return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def build_entries(case: _cases.Case, inputs: dict[str, Path], only: set[str]) -> list[Entry]:
    lm = _venv_bin("labelmap-convert")
    py = sys.executable
    runner = str(HERE / "highdicom_runner.py")
    dq = {n: _dcmqi_bin(n) for n in ("itkimage2segimage", "segimage2itkimage", "bin2labelsegimage")}
    have_hd = _has_module("highdicom")
    codec_missing = {
        "jpegls": "" if _has_module("jpeg_ls") else "n/a: pip install pyjpegls",
        "j2k": "" if _has_module("openjpeg") else "n/a: pip install pylibjpeg-openjpeg",
    }
    labels, ct, meta = str(case.labels), str(case.ct), str(case.metadata)
    entries: list[Entry] = []

    def add(op, tool, variant, make_cmd, *, is_dir=False, unavailable=""):
        if tool not in only:
            return
        if tool == "labelmap" and lm is None:
            unavailable = "n/a: labelmap-convert not found"
        if tool == "highdicom" and not have_hd:
            unavailable = "n/a: highdicom not installed"
        entries.append(Entry(op, tool, variant, make_cmd, is_dir, unavailable))

    def dcmqi(name):
        return dq[name], ("" if dq[name] else f"n/a: {name} not found")

    # 1. write LABELMAP
    op = "write LABELMAP"
    for comp in ("none", "deflate", "rle", "jpegls", "j2k"):
        add(
            op,
            "labelmap",
            comp,
            lambda out, comp=comp: [
                lm,
                "itk2seg",
                labels,
                "--dicom",
                ct,
                "-m",
                meta,
                "-o",
                str(out),
                "--type",
                "labelmap",
                "--compression",
                comp,
                "-q",
            ],
            unavailable=codec_missing.get(comp, ""),
        )
    exe, na = dcmqi("itkimage2segimage")
    for comp in ("none", "deflate"):
        add(
            op,
            "dcmqi",
            comp,
            lambda out, comp=comp: [
                exe,
                "--inputImageList",
                labels,
                "--inputDICOMDirectory",
                ct,
                "--inputMetadata",
                meta,
                "--outputDICOM",
                str(out),
                "--segmentationType",
                "labelmap",
                "--compress",
                comp,
            ],
            unavailable=na,
        )
    add(
        op,
        "labelmap",
        "deflate level 8",
        lambda out: [
            lm,
            "itk2seg",
            labels,
            "--dicom",
            ct,
            "-m",
            meta,
            "-o",
            str(out),
            "--type",
            "labelmap",
            "--compression",
            "deflate",
            "--deflate-level",
            "8",
            "-q",
        ],
    )
    hd_ts = "jpegls" if not codec_missing["jpegls"] else "explicit"
    for ts in dict.fromkeys(["explicit", hd_ts]):
        add(
            op,
            "highdicom",
            "none" if ts == "explicit" else ts,
            lambda out, ts=ts: [
                py,
                runner,
                "write",
                "--labels",
                labels,
                "--ct",
                ct,
                "--metadata",
                meta,
                "--output",
                str(out),
                "--type",
                "labelmap",
                "--transfer-syntax",
                ts,
            ],
        )

    # 2. write BINARY
    op = "write BINARY"
    for comp in ("none", "deflate"):
        add(
            op,
            "labelmap",
            comp,
            lambda out, comp=comp: [
                lm,
                "itk2seg",
                labels,
                "--dicom",
                ct,
                "-m",
                meta,
                "-o",
                str(out),
                "--type",
                "binary",
                "--compression",
                comp,
                "-q",
            ],
        )
    add(
        op,
        "dcmqi",
        "none",
        lambda out: [
            exe,
            "--inputImageList",
            labels,
            "--inputDICOMDirectory",
            ct,
            "--inputMetadata",
            meta,
            "--outputDICOM",
            str(out),
        ],
        unavailable=na,
    )
    add(
        op,
        "highdicom",
        "none",
        lambda out: [
            py,
            runner,
            "write",
            "--labels",
            labels,
            "--ct",
            ct,
            "--metadata",
            meta,
            "--output",
            str(out),
            "--type",
            "binary",
            "--transfer-syntax",
            "explicit",
        ],
    )

    # 3. read LABELMAP -> NRRD, the same input files for every tool
    exe_r, na_r = dcmqi("segimage2itkimage")
    op = "read LABELMAP -> NRRD"
    for variant, key in (("dcmqi deflate file", "dcmqi-labelmap-deflate"), ("labelmap file", "labelmap-labelmap")):
        src = inputs.get(key)
        missing = "" if src else f"failed: input {key} could not be made"
        add(
            op,
            "labelmap",
            variant,
            lambda out, src=src: [lm, "seg2itk", str(src), "-o", str(out), "-q"],
            is_dir=True,
            unavailable=missing,
        )
        add(
            op,
            "dcmqi",
            variant,
            lambda out, src=src: [exe_r, "--inputDICOM", str(src), "--outputDirectory", str(out)],
            is_dir=True,
            unavailable=na_r or missing,
        )
        add(
            op,
            "highdicom",
            variant,
            lambda out, src=src: [py, runner, "read", "--seg", str(src), "--output", str(out / "labels.nrrd")],
            is_dir=True,
            unavailable=missing,
        )

    # 4. read BINARY -> merged NRRD (dcmqi's BINARY file)
    op = "read BINARY -> merged NRRD"
    src_b = inputs.get("dcmqi-binary")
    missing = "" if src_b else "failed: input dcmqi-binary could not be made"
    add(
        op,
        "labelmap",
        "dcmqi file",
        lambda out: [lm, "seg2itk", str(src_b), "-o", str(out), "--merge-segments", "-q"],
        is_dir=True,
        unavailable=missing,
    )
    add(
        op,
        "dcmqi",
        "dcmqi file",
        lambda out: [exe_r, "--inputDICOM", str(src_b), "--outputDirectory", str(out), "--mergeSegments"],
        is_dir=True,
        unavailable=na_r or missing,
    )
    add(
        op,
        "highdicom",
        "dcmqi file",
        lambda out: [py, runner, "read", "--seg", str(src_b), "--output", str(out / "labels.nrrd")],
        is_dir=True,
        unavailable=missing,
    )

    # 5. BINARY -> LABELMAP (dcmqi's BINARY file)
    op = "BINARY -> LABELMAP"
    exe_b, na_b = dcmqi("bin2labelsegimage")
    for comp in ("none", "deflate"):
        add(
            op,
            "labelmap",
            comp,
            lambda out, comp=comp: [lm, "bin2label", str(src_b), "-o", str(out), "--compression", comp, "-q"],
            unavailable=missing,
        )
        add(
            op,
            "dcmqi",
            comp,
            lambda out, comp=comp: [exe_b, "--inputDICOM", str(src_b), "--outputDICOM", str(out), "--compress", comp],
            unavailable=na_b or missing,
        )

    # 6. the floor: read the NRRD, copy the array, write the raw bytes
    floor = (
        "import sys, nrrd, numpy as np\n"
        "a, h = nrrd.read(sys.argv[1], index_order='C')\n"
        "b = np.array(a, copy=True)\n"
        "open(sys.argv[2], 'wb').write(b.tobytes())\n"
    )
    add("floor: read NRRD + write raw", "floor", "python+pynrrd", lambda out: [py, "-c", floor, labels, str(out)])
    return entries


def make_inputs(case: _cases.Case, workdir: Path, log_dir: Path) -> dict[str, Path]:
    """The SEG files the read / bin2label operations share: dcmqi's where possible, else ours."""
    inputs_dir = workdir / "inputs" / case.root.name
    inputs_dir.mkdir(parents=True, exist_ok=True)
    lm = _venv_bin("labelmap-convert")
    dq = _dcmqi_bin("itkimage2segimage")
    labels, ct, meta = str(case.labels), str(case.ct), str(case.metadata)
    plans = {
        "dcmqi-labelmap-deflate": [
            [
                dq,
                "--inputImageList",
                labels,
                "--inputDICOMDirectory",
                ct,
                "--inputMetadata",
                meta,
                "--segmentationType",
                "labelmap",
                "--compress",
                "deflate",
                "--outputDICOM",
            ],
            [
                lm,
                "itk2seg",
                labels,
                "--dicom",
                ct,
                "-m",
                meta,
                "--type",
                "labelmap",
                "--compression",
                "deflate",
                "-q",
                "-o",
            ],
        ],
        "labelmap-labelmap": [
            [
                lm,
                "itk2seg",
                labels,
                "--dicom",
                ct,
                "-m",
                meta,
                "--type",
                "labelmap",
                "--compression",
                "deflate",
                "-q",
                "-o",
            ]
        ],
        "dcmqi-binary": [
            [dq, "--inputImageList", labels, "--inputDICOMDirectory", ct, "--inputMetadata", meta, "--outputDICOM"],
            [lm, "itk2seg", labels, "--dicom", ct, "-m", meta, "--type", "binary", "--compression", "none", "-q", "-o"],
        ],
    }
    out: dict[str, Path] = {}
    for key, cmds in plans.items():
        path = inputs_dir / f"{key}.dcm"
        if path.exists() and path.stat().st_size > 0:
            out[key] = path
            continue
        for cmd in cmds:
            if cmd[0] is None:
                continue
            tmp = path.with_suffix(".tmp.dcm")
            m = run_process(cmd + [str(tmp)], log_dir / f"input-{key}")
            if m.returncode == 0 and tmp.exists():
                tmp.rename(path)
                out[key] = path
                if cmd is not cmds[0]:
                    print(f"note: {key} made with {Path(cmd[0]).name} (first choice failed)", file=sys.stderr)
                break
            print(f"warning: making {key} with {Path(cmd[0]).name} failed: {m.stderr_first}", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- report
def _fmt_size(n: int) -> str:
    if n <= 0:
        return "-"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def summarize(entries: list[Entry]) -> list[dict]:
    rows = []
    by_op: dict[str, list[Entry]] = {}
    for e in entries:
        by_op.setdefault(e.operation, []).append(e)

    def median_of(e: Entry) -> float | None:
        ok = [m.seconds for m in e.runs if m.returncode == 0]
        return statistics.median(ok) if ok and not e.failure else None

    for op, group in by_op.items():
        dcmqi_times = {e.variant: median_of(e) for e in group if e.tool == "dcmqi" and median_of(e) is not None}
        for e in group:
            med = median_of(e)
            ok_runs = [m for m in e.runs if m.returncode == 0]
            rss = statistics.median([m.peak_rss_mb for m in ok_runs]) if ok_runs and med is not None else None
            ratio, ref = None, ""
            if med is not None and dcmqi_times:
                if e.variant in dcmqi_times:
                    ratio = dcmqi_times[e.variant] / med
                else:  # no dcmqi cell with this variant: compare with dcmqi's fastest
                    ref_variant = min(dcmqi_times, key=dcmqi_times.get)
                    ratio, ref = dcmqi_times[ref_variant] / med, ref_variant
            if e.unavailable:
                status = e.unavailable
            elif e.failure:
                status = f"failed: {e.failure}"
            else:
                status = "ok"
            rows.append(
                {
                    "operation": op,
                    "tool": e.tool,
                    "variant": e.variant,
                    "status": status,
                    "median_s": med,
                    "runs_s": [round(m.seconds, 4) for m in e.runs],
                    "vs_dcmqi": ratio,
                    "vs_dcmqi_reference": ref,
                    "output_bytes": e.output_bytes if med is not None else 0,
                    "peak_rss_mb": rss,
                }
            )
    return rows


def markdown(rows: list[dict], info: dict) -> str:
    lines = [
        f"## labelmap vs dcmqi vs highdicom: {info['case']}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['platform']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- runs: {info['runs']} (tools alternate within each run; medians shown)",
        "",
        "| operation | tool | variant | median s | vs dcmqi | output | peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["median_s"] is None:
            lines.append(f"| {r['operation']} | {r['tool']} | {r['variant']} | {r['status']} | | | |")
            continue
        ratio = "" if r["vs_dcmqi"] is None else f"{r['vs_dcmqi']:.2f}x"
        if ratio and r["vs_dcmqi_reference"]:
            ratio += f" (vs {r['vs_dcmqi_reference']})"
        lines.append(
            f"| {r['operation']} | {r['tool']} | {r['variant']} | {r['median_s']:.2f} | {ratio} | "
            f"{_fmt_size(r['output_bytes'])} | {r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "vs dcmqi = dcmqi's median / this median (> 1: faster than dcmqi), against dcmqi's cell with the same",
        "variant, else (marked) dcmqi's fastest variant of the operation. Times are whole processes",
        "(interpreter start-up and imports included); dcmqi runs its own executables, not the pip wrappers.",
        "Peak RSS is each command's maximum resident set size (GNU time %M, i.e. its own wait4 ru_maxrss).",
        "highdicom = benchmarks/highdicom_runner.py (pydicom headers + pynrrd).",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def _compile_bytecode() -> None:
    """Byte-compile labelmap as a wheel install does, so no run pays for compiling edited sources.

    (An editable install writes no bytecode where PYTHONDONTWRITEBYTECODE is set, and every
    process would then compile about 20 modules: some 40 ms.)
    """
    spec = importlib.util.find_spec("labelmap")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            subprocess.run([sys.executable, "-m", "compileall", "-q", loc], check=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Time labelmap, dcmqi and highdicom on one reference case.")
    parser.add_argument("--size", type=int, default=512, help="rows = columns of the CT (default 512)")
    parser.add_argument("--slices", type=int, default=300, help="slices of the CT (default 300)")
    parser.add_argument("--labels", type=int, default=100, help="number of labels (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="runs per command (default 3)")
    parser.add_argument("--seed", type=int, default=_cases.SEED)
    parser.add_argument(
        "--workdir", type=Path, default=Path(".bench-cache"), help="case cache + outputs (default .bench-cache)"
    )
    parser.add_argument("--only", default=",".join(TOOLS), help=f"comma-separated tools among {','.join(TOOLS)}")
    parser.add_argument("--quick", action="store_true", help="smoke test: 128x128x40, 10 labels, 1 run")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds before a command is killed")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.slices, args.labels, args.runs = 128, 40, 10, 1
    only = {t.strip() for t in args.only.split(",") if t.strip()}
    unknown = only - set(TOOLS)
    if unknown:
        parser.error(f"unknown tool(s) in --only: {', '.join(sorted(unknown))}; choose among {', '.join(TOOLS)}")

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"case: {args.size}x{args.size}x{args.slices}, {args.labels} labels, seed {args.seed} (cache {workdir})",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    case = _cases.make_case(workdir, args.size, args.slices, args.labels, args.seed)
    _compile_bytecode()
    print(f"case ready in {time.perf_counter() - t0:.1f} s: {case.root}", file=sys.stderr)

    out_root = workdir / "outputs" / case.root.name
    log_dir = workdir / "logs" / case.root.name
    log_dir.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs(case, workdir, log_dir)
    entries = build_entries(case, inputs, only)

    # tools alternate inside each run: order the entries by operation, then tool, within one run
    for run in range(1, args.runs + 1):
        for e in entries:
            if e.unavailable or e.failure:
                continue
            out = out_root / e.slug() / ("out" if e.output_is_dir else "out.dcm")
            if out.parent.exists():
                shutil.rmtree(out.parent)
            out.parent.mkdir(parents=True)
            if e.output_is_dir:
                out.mkdir()
            if e.tool == "floor":
                out = out.with_name("labels.raw")
            m = run_process(e.make_cmd(out), log_dir / f"{e.slug()}-run{run}", timeout=args.timeout)
            e.runs.append(m)
            if m.returncode != 0:
                e.failure = m.stderr_first or f"exit code {m.returncode}"
                print(f"[run {run}] {e.key}: failed: {e.failure}", file=sys.stderr)
                continue
            e.output_bytes = _size_of(out)
            print(
                f"[run {run}] {e.key}: {m.seconds:.2f} s, {m.peak_rss_mb:.0f} MB, {_fmt_size(e.output_bytes)}",
                file=sys.stderr,
            )

    rows = summarize(entries)
    info = {
        "case": f"{args.size}x{args.size}x{args.slices} CT, {args.labels} labels (seed {args.seed})",
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": _mem_total_gib(),
        "platform": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "runs": args.runs,
        "versions": {
            "labelmap": _version("labelmap"),
            "dcmqi": _version("dcmqi"),
            "highdicom": _version("highdicom"),
            "pydicom": _version("pydicom"),
            "numpy": _version("numpy"),
            "pynrrd": _version("pynrrd"),
        },
    }
    text = markdown(rows, info)
    print(text)
    stem = workdir / f"compare-{case.root.name}"
    Path(f"{stem}.md").write_text(text)
    Path(f"{stem}.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    print(f"saved {stem}.md and {stem}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
