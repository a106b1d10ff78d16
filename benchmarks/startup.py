#!/usr/bin/env python
"""Where a command's fixed cost goes: interpreter, site, numpy, typer, our modules, and the work itself.

    python benchmarks/startup.py [--size 256 --slices 120 --labels 30 --runs 7 --top 10] [--workdir benchmarks/.data]

For ``--version``, ``--help``, ``itk2seg`` (LABELMAP, uncompressed and deflated) and ``seg2itk`` of a
generated case (:mod:`_cases`, cached under the work folder), every run starts fresh processes:

- ``python -S -c pass`` (the interpreter), and ``site.main()`` timed in such a process (the ``.pth`` files);
- the command itself, whole, as ``python -m labelmap.cli`` (what the console script runs);
- the command in a process whose import system times each module's own body (its imports of other
  modules excluded), which then runs the command a second time: the second call is the work alone.

Each run first removes the command's output (``-o``), as ``compare.py`` does: a file replaced by rename
costs more than a new one (ext4 starts writing the new file back when a rename replaces another).

Module times are grouped into numpy, typer (typer, click and what they import), labelmap (ours, with the
slowest ``--top`` listed) and other (the standard library and other packages); each cell is the median
over ``--runs``.  The timing hook costs a few microseconds per module, so the groups add up to a little
more than the whole process spends importing.  The commands run whatever ``labelmap`` the interpreter
imports (this checkout with the repository on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: Top-level packages counted as the command line's framework.
TYPER = frozenset(("typer", "click", "rich", "shellingham", "annotated_doc", "pygments", "markdown_it", "mdurl"))

#: The child: time each module's own import (its nested imports subtracted), then run the command twice.
CHILD = r"""
import sys, time, json
own = {}
stack = []


class Timed:  # a finder needs only find_spec (importlib.abc would import pathlib before the timing starts)
    def find_spec(self, name, path, target=None):
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = Loader(spec.loader, name)
                return spec
        return None


class Loader:
    def __init__(self, loader, name):
        self.loader, self.name = loader, name

    def __getattr__(self, attr):
        return getattr(self.loader, attr)

    def create_module(self, spec):
        return self.timed(self.loader.create_module, spec)

    def exec_module(self, module):
        try:
            return self.timed(self.loader.exec_module, module)
        finally:
            for where in (module, getattr(module, "__spec__", None)):
                for attr in ("__loader__", "loader"):
                    if getattr(where, attr, None) is self:
                        setattr(where, attr, self.loader)

    def timed(self, call, arg):
        start = time.perf_counter()
        stack.append(0.0)
        try:
            return call(arg)
        finally:
            spent = time.perf_counter() - start
            nested = stack.pop()
            own[self.name] = own.get(self.name, 0.0) + spent - nested
            if stack:
                stack[-1] += spent


sys.meta_path.insert(0, Timed())
argv = json.loads(sys.argv[1])


def run():
    import os, shutil
    from labelmap.cli import main

    if "-o" in argv:  # as compare.py: each run writes where nothing is (no file to replace, no folder to fill)
        out = argv[argv.index("-o") + 1]
        shutil.rmtree(out) if os.path.isdir(out) else os.path.exists(out) and os.remove(out)
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    if code not in (0, None):
        raise SystemExit(f"exit status {code}: {argv}")


start = time.perf_counter()
run()
first = time.perf_counter() - start
start = time.perf_counter()
run()
second = time.perf_counter() - start
with open(sys.argv[2], "w") as out:
    out.write(json.dumps({"own": own, "first": first, "second": second}))
"""

#: What ``site`` costs at start-up (its ``.pth`` files, sitecustomize), timed inside a process started without it.
SITE = "import time; t = time.perf_counter(); import site; site.main(); print(time.perf_counter() - t)"

#: Whole process, as ``python -m labelmap.cli`` (``-P``: like the console script, the current folder is not on
#: the import path, so a checkout's ``labelmap`` there does not shadow the one on PYTHONPATH).
WHOLE = ["-P", "-m", "labelmap.cli"]


def group(module: str) -> str:
    """numpy, typer, labelmap or other."""
    top = module.split(".", 1)[0]
    if top == "numpy":
        return "numpy"
    if top in TYPER:
        return "typer"
    return "labelmap" if top == "labelmap" else "other"


def _seconds(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    spent = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-400:]}")
    return spent


def _clear(argv: list[str]) -> None:
    """Remove the command's output (``-o``) first, as compare.py does before each run."""
    if "-o" in argv:
        out = Path(argv[argv.index("-o") + 1])
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()


def _profile(argv: list[str], env: dict[str, str], result: Path) -> dict:
    """The child's module times and calls; its output goes to /dev/null, as a command's in a pipeline would."""
    cmd = [sys.executable, "-P", "-c", CHILD, json.dumps(argv), str(result)]
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"profiling {argv} failed: {done.stderr.strip()[-400:]}")
    return json.loads(result.read_text())


def commands(case, out: Path) -> dict[str, list[str]]:
    """The command lines measured (the SEG ``seg2itk`` reads is written by the first itk2seg run)."""
    write = ["itk2seg", str(case.labels), "--dicom", str(case.ct), "-m", str(case.metadata), "--type", "labelmap"]
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "itk2seg none": [*write, "-o", str(out / "none.dcm"), "--compression", "none", "-q"],
        "itk2seg deflate": [*write, "-o", str(out / "deflate.dcm"), "--compression", "deflate", "-q"],
        "seg2itk": ["seg2itk", str(out / "deflate.dcm"), "-o", str(out / "read"), "-q"],
    }


def measure(cmds: dict[str, list[str]], runs: int, env: dict[str, str], result: Path) -> tuple[dict, dict]:
    """Medians (seconds) per command of each part, and of each labelmap module's own import."""
    bare = {"interpreter": [], "site": []}
    parts: dict[str, dict[str, list[float]]] = {name: {} for name in cmds}
    modules: dict[str, dict[str, list[float]]] = {name: {} for name in cmds}
    for _ in range(runs):
        bare["interpreter"].append(_seconds([sys.executable, "-S", "-c", "pass"], env))
        done = subprocess.run([sys.executable, "-S", "-c", SITE], env=env, capture_output=True, text=True, check=True)
        bare["site"].append(float(done.stdout))
        for name, argv in cmds.items():  # alternating commands within a run, as compare.py does
            _clear(argv)
            whole = _seconds([sys.executable, *WHOLE, *argv], env)
            found = _profile(argv, env, result)
            sums = {"numpy": 0.0, "typer": 0.0, "labelmap": 0.0, "other": 0.0}
            for module, spent in found["own"].items():
                sums[group(module)] += spent
                if module.startswith("labelmap"):
                    modules[name].setdefault(module, []).append(spent)
            row = {**sums, "work (second call)": found["second"], "whole process": whole}
            for key, value in row.items():
                parts[name].setdefault(key, []).append(value)
    medians = {
        name: {
            "interpreter": statistics.median(bare["interpreter"]),
            "site": statistics.median(bare["site"]),
            **{key: statistics.median(values) for key, values in row.items()},
        }
        for name, row in parts.items()
    }
    own = {
        name: {m: statistics.median(v + [0.0] * (runs - len(v))) for m, v in found.items()}
        for name, found in modules.items()
    }
    return medians, own


ROWS = ("interpreter", "site", "numpy", "typer", "labelmap", "other", "work (second call)", "whole process")
TITLES = {
    "interpreter": "interpreter (python -S)",
    "site": "site (.pth, sitecustomize)",
    "numpy": "numpy",
    "typer": "typer + click",
    "labelmap": "labelmap modules",
    "other": "other modules (stdlib, isal ...)",
    "work (second call)": "work (second call, in process)",
    "whole process": "whole process (measured)",
}


def table(medians: dict, own: dict, top: int) -> str:
    """The markdown tables: parts by command, then each command's slowest labelmap modules."""
    names = list(medians)
    lines = ["| part | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in ROWS:
        cells = " | ".join(f"{medians[n][key] * 1000:.1f}" for n in names)
        lines.append(f"| {TITLES[key]} | {cells} |")
    for name in names:
        slowest = sorted(own[name].items(), key=lambda kv: -kv[1])[:top]
        lines += ["", f"{name}: slowest labelmap modules (own import, ms)", "", "| module | ms |", "|---|---:|"]
        lines += [f"| {module} | {spent * 1000:.2f} |" for module, spent in slowest]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build the case (cached), write the SEG the read takes, measure, print the tables (ms)."""
    from compare import _compile_bytecode

    import _cases

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--slices", type=int, default=120)
    p.add_argument("--labels", type=int, default=30)
    p.add_argument("--seed", type=int, default=_cases.SEED)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--top", type=int, default=10, help="labelmap modules listed per command")
    p.add_argument("--workdir", type=Path, default=HERE / ".data", help="case cache (default benchmarks/.data)")
    p.add_argument("--json", type=Path, help="also write the medians here")
    args = p.parse_args(argv)
    workdir = args.workdir.resolve()
    _compile_bytecode()  # as a wheel install: no run pays for compiling edited sources
    case = _cases.make_case(workdir, args.size, args.slices, args.labels, args.seed)
    out = workdir / "startup" / case.root.name
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NUMPY_MADVISE_HUGEPAGE=os.environ.get("NUMPY_MADVISE_HUGEPAGE", "0"))
    cmds = commands(case, out)
    _seconds([sys.executable, *WHOLE, *cmds["itk2seg deflate"]], env)  # the SEG seg2itk reads
    medians, own = measure(cmds, args.runs, env, out / "child.json")
    print(f"case {case.root.name}; {args.runs} runs, medians in ms; python {sys.version.split()[0]}\n")
    print(table(medians, own, args.top))
    if args.json:
        args.json.write_text(json.dumps({"medians": medians, "modules": own}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
