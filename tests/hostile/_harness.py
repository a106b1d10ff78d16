"""Runs one hostile case through ``python -m labelmap.cli`` in a child process and checks the contract.

The contract (issue #11): under a 4 GiB address-space limit every case exits 0 with a valid
result or 1 with one ``error:`` line on stderr, never a traceback, leaves nothing half-written
(on failure the watched folders hold exactly what they held, byte for byte), peaks below
1.5 GB resident and ends within 30 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ADDRESS_SPACE = 4 << 30  # RLIMIT_AS of the child
MAX_RSS = 1_500_000_000  # bytes: peak resident set of the child
MAX_SECONDS = 30.0
REPO = Path(__file__).resolve().parents[2]

#: Commands whose output is one SEG file / a folder of label files / nothing.
SEG_WRITERS = {"itk2seg", "bin2label", "itkimage2segimage", "bin2labelsegimage"}
DIR_WRITERS = {"seg2itk", "segimage2itkimage"}

# A small launcher forks the CLI and waits for it with wait4: the CLI's rusage then starts from the
# launcher's few MB.  (ru_maxrss of a process forked from this test process and exec'd would include
# this process's resident set at the fork, since the kernel carries the high-water mark across exec.)
# The CLI sets its address-space limit before exec (exec keeps rlimits); this stands in for
# preexec_fn, which is unsafe while other threads of this process build inputs.  The launcher writes
# "<exit status> <peak RSS in KiB>" to the report file.
_LAUNCH = """
import os, resource, sys
limit, report, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(sys.executable, [sys.executable, '-m', 'labelmap.cli', *argv])
_, status, usage = os.wait4(pid, 0)
with open(report, 'w') as f:
    f.write(f'{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}')
"""


@dataclass(frozen=True)
class Run:
    """What a case's builder made: the command line and what may change.

    ``output`` is the SEG file (SEG writers) or folder (seg2itk) the command writes; on success it
    is validated.  ``expect`` pins the exit status when only one is right (None: 0 or 1).
    ``stdin_closed`` etc. are not needed: every child gets /dev/null as stdin.
    """

    argv: list
    output: Path | None = None
    expect: int | None = None


@dataclass(frozen=True)
class Case:
    """One hostile case: ``build(base, root) -> Run`` makes its inputs below ``root``."""

    id: str
    group: str
    build: Callable[..., Run]
    slow: bool = False


@dataclass
class Outcome:
    """What the child did."""

    argv: list[str]
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int
    timed_out: bool
    before: dict[str, tuple[str, str]] = field(default_factory=dict)
    after: dict[str, tuple[str, str]] = field(default_factory=dict)
    build_error: str | None = None
    root: str | None = None

    def describe(self) -> str:
        return (
            f"argv: labelmap-convert {' '.join(self.argv)}\nexit {self.rc}, {self.seconds:.1f} s, "
            f"peak RSS {self.peak_rss / 1e6:.0f} MB{', TIMED OUT' if self.timed_out else ''}\n"
            f"stderr: {self.stderr[-1500:]!r}\nstdout: {self.stdout[-400:]!r}"
        )


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry below ``root`` (hidden ones included) -> (kind, content digest for regular files).

    FIFOs and devices are listed, never opened (that could block or never end)."""
    found: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.blake2b(digest_size=16)
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                found[rel] = ("file", digest.hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", "")
            else:
                found[rel] = ("other", str(stat.S_IFMT(st.st_mode)))
    return found


def run_cli(argv: list[str], cwd: Path, timeout: float = MAX_SECONDS) -> Outcome:
    """``python -m labelmap.cli argv`` under the address-space limit; waits with wait4 for its rusage."""
    env = dict(os.environ)
    env.pop("LABELMAP_VALIDATE_STRICT", None)  # a user's environment, as the judge runs it
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "200")
    out_path, err_path = cwd / ".hostile-stdout", cwd / ".hostile-stderr"
    report = cwd / ".hostile-status"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, str(ADDRESS_SPACE), str(report), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: a timeout kills launcher and CLI together
        )
    start = time.monotonic()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    seconds = time.monotonic() - start
    rc, peak_kib = None, 0
    if report.exists():
        status, rss = report.read_text().split()
        rc, peak_kib = int(status), int(rss)
        report.unlink()
    stdout = out_path.read_bytes().decode("utf-8", "replace")
    stderr = err_path.read_bytes().decode("utf-8", "replace")
    out_path.unlink()
    err_path.unlink()
    return Outcome(
        argv=argv,
        rc=None if timed_out else rc,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        peak_rss=peak_kib * 1024,
        timed_out=timed_out,
    )


def execute(case: Case, base, root: Path, timeout: float = MAX_SECONDS) -> tuple[Run | None, Outcome]:
    """Build ``case`` below ``root`` (its watched folder), run it, snapshot the folder before and after."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        run = case.build(base, root)
    except Exception as exc:  # a broken builder is reported by the case's test, not the whole session
        import traceback

        return None, Outcome([], None, "", "", 0.0, 0, False, build_error=traceback.format_exc(limit=6) + repr(exc))
    argv = [os.fsdecode(a) if isinstance(a, bytes | os.PathLike) else str(a) for a in run.argv]
    before = snapshot(root)
    outcome = run_cli(argv, cwd=root, timeout=timeout)
    outcome.before, outcome.after, outcome.root = before, snapshot(root), str(root)
    return run, outcome


#: C0 controls other than tab / newline / carriage return, and DEL: a value echoed raw could drive the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def command_of(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def problems(run: Run, outcome: Outcome) -> list[str]:
    """Every way ``outcome`` breaks the contract (empty when it holds)."""
    if outcome.build_error:
        return [f"the case's builder failed:\n{outcome.build_error}"]
    found: list[str] = []
    command = command_of(outcome.argv)
    err, rc = outcome.stderr, outcome.rc
    if outcome.timed_out:
        found.append(f"still running after {outcome.seconds:.0f} s (killed)")
    elif rc not in (0, 1):
        found.append(f"exit status {rc} (0 or 1 expected)")
    elif run.expect is not None and rc != run.expect:
        found.append(f"exit status {rc}, this case must exit {run.expect}")
    for marker in ("Traceback", "Exception ignored", "Fatal Python error", "Segmentation fault"):
        if marker in err or marker in outcome.stdout:
            found.append(f"{marker!r} in the output")
    for stream, text in (("stdout", outcome.stdout), ("stderr", err)):
        control = _CONTROL.search(text)
        if control:
            found.append(f"a terminal control character {control.group()!r} in {stream} (print values with repr)")
    lines = [line for line in err.splitlines() if line.strip()]
    if rc == 1:
        if command == "validate" and not lines:
            pass  # violations go to stdout, one per line; the exit status says whether any is an error
        elif len(lines) != 1 or not lines[0].startswith("error: ") or not lines[0][7:].strip():
            found.append(f"stderr is not one 'error: ...' line: {err[-800:]!r}")
        elif "internal error during" in lines[0]:
            found.append(f"a bug reported as one line: {lines[0][:300]!r}")
    elif rc == 0:
        stray = [line for line in lines if not line.startswith("warning: ")]
        if stray:
            found.append(f"stderr lines that are not warnings on success: {stray[:3]!r}")
        found += _check_result(run, outcome, command)
    if command == "validate" and "could not finish" in outcome.stdout:
        found.append("a validation rule crashed ('could not finish')")
    if outcome.peak_rss >= MAX_RSS:
        found.append(f"peak RSS {outcome.peak_rss / 1e6:.0f} MB >= {MAX_RSS / 1e6:.0f} MB")
    if outcome.seconds >= MAX_SECONDS:
        found.append(f"took {outcome.seconds:.1f} s")
    found += _check_files(run, outcome)
    return found


def _check_files(run: Run, outcome: Outcome) -> list[str]:
    """On failure nothing changed; on success only the declared output (and its new parents) changed."""
    before, after = outcome.before, outcome.after
    allowed: set[str] = set()
    if outcome.rc == 0 and run.output is not None and outcome.root is not None:
        rel = os.path.relpath(os.path.abspath(run.output), outcome.root)
        for k in set(before) | set(after):
            if k == rel or k.startswith(rel + os.sep) or (k not in before and rel.startswith(k + os.sep)):
                allowed.add(k)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k not in allowed)
    if not changed:
        return []
    what = [f"{k}: {'new' if k not in before else 'gone' if k not in after else 'changed'}" for k in changed[:8]]
    return [f"files {'changed' if outcome.rc == 0 else 'left changed after a failure'}: {what}"]


def _check_result(run: Run, outcome: Outcome, command: str) -> list[str]:
    """A successful command left a valid result."""
    if command == "info":
        return [] if outcome.stdout.strip() else ["info printed nothing"]
    if command == "validate":
        return [] if outcome.stdout.strip() else ["validate printed nothing"]
    if run.output is None:
        return []
    output = Path(run.output)
    if command in SEG_WRITERS:
        if not output.is_file():
            return [f"exit 0 but no output file {output}"]
        from labelmap.validate import check_seg

        result = check_seg(output)
        return (
            [f"the output fails validate: {[v.format(output.name) for v in result.errors][:4]}"]
            if result.errors
            else []
        )
    if command in DIR_WRITERS:
        return _check_label_folder(output)
    return []


def _check_label_folder(folder: Path) -> list[str]:
    from labelmap.formats import read_labels

    if not folder.is_dir():
        return [f"exit 0 but no output folder {folder}"]
    names = sorted(p.name for p in folder.iterdir())
    images = [folder / n for n in names if n.endswith((".nrrd", ".nii", ".nii.gz", ".nhdr", ".tif", ".tiff"))]
    if not images:
        return [f"exit 0 but no label image in {folder}: {names}"]
    found = []
    for path in images:
        if path.stat().st_size > 300_000_000:
            continue  # not read into the test process
        try:
            if path.name.endswith((".tif", ".tiff")):  # a slide SEG's total pixel matrix (OME-TIFF)
                import tifffile

                tifffile.imread(path)
            else:
                read_labels(path)
        except Exception as exc:
            found.append(f"{path.name} does not read back: {exc}")
    for path in folder.glob("*.json"):
        try:
            json.loads(path.read_text())
        except ValueError as exc:
            found.append(f"{path.name} is not JSON: {exc}")
    return found
