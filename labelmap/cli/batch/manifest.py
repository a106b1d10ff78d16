"""A batch's jobs from a manifest CSV or from ``{id}`` path templates, every row checked before anything runs.

Relative paths are relative to the manifest's folder (to the current folder for templates) and
made absolute here, on the client, so workers anywhere on a shared file system get the same
paths.  Inputs are not looked at (126,000 rows on a network file system would cost millions of
stats): a missing input is that job's error.  What is checked: the columns, empty required
cells, duplicate ids and outputs, an output that is one of the row's inputs, and the options
(by the command's own parser, once per distinct option string).
"""

from __future__ import annotations

import csv
import glob
import os
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from labelmap.cli.batch.jobs import Job
from labelmap.errors import ManifestError

__all__ = ["COLUMNS", "Plan", "read_manifest", "discover", "write_manifest", "OptionChecker", "split_tokens"]

#: Per command: its required columns, then its optional ones (in the order a written manifest uses).
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "itk2seg": (("labels", "dicom", "metadata", "output"), ("id", "options", "series_uid")),
    "seg2itk": (("seg", "output"), ("id", "options", "reference", "series_uid")),
}
#: Flags that are columns (or the engine's): not allowed in an ``options`` cell or as batch-wide flags.
_COLUMN_FLAGS = {
    "itk2seg": {"--dicom": "dicom", "-d": "dicom", "--metadata": "metadata", "-m": "metadata"}
    | {"--output": "output", "-o": "output", "--series-uid": "series_uid"},
    "seg2itk": {"--output-dir": "output", "-o": "output", "--reference": "reference", "-r": "reference"}
    | {"--series-uid": "series_uid"},
}
#: Columns holding paths (``;`` separates several in labels / dicom / reference).
_PATH_COLUMNS = {"labels", "dicom", "metadata", "output", "seg", "reference"}
_MULTI = {"labels", "dicom", "reference"}


@dataclass(frozen=True)
class Plan:
    """The jobs of one batch, in manifest order, and where they came from."""

    command: str
    jobs: list[Job]
    source: str  # the manifest path, or "templates"
    base: str  # the folder relative paths were taken from


# --------------------------------------------------------------------------- options
def split_tokens(text: str, where: str) -> list[str]:
    """``text`` split as a shell would (quotes, backslashes), or a ManifestError naming ``where``."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ManifestError(f"{where}: cannot split {text!r} into flags ({exc}); check its quotes") from None


class OptionChecker:
    """Checks flags with the command's own parser, once per distinct set (a 126,000-row manifest
    usually has one or two)."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._seen: dict[tuple[str, ...], str | None] = {}
        self._parser: Any = None

    def problem(self, tokens: Sequence[str]) -> str | None:
        """Why ``tokens`` cannot be this command's extra flags, or None."""
        key = tuple(tokens)
        if key not in self._seen:
            self._seen[key] = self._check(key)
        return self._seen[key]

    def _check(self, tokens: tuple[str, ...]) -> str | None:
        for token in tokens:
            flag = token.split("=", 1)[0]
            if flag in _COLUMN_FLAGS[self.command]:
                return f"{flag} is given by the {_COLUMN_FLAGS[self.command][flag]!r} column, not as an option"
            if flag in ("--help", "-h"):
                return f"{flag} is not an option of a job"
        if self._parser is None:
            from labelmap.cli.app import _command

            self._parser = _command().commands[self.command]
        dummy = ["X", "--dicom", "X", "--output", "X"] if self.command == "itk2seg" else ["X", "--output-dir", "X"]
        try:
            ctx = self._parser.make_context(self.command, [*dummy, *tokens])
        except Exception as exc:  # the parser's usage errors
            text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            return " ".join(str(text).split())
        extra = [a for a in (ctx.params.get("labels") or ()) if a != "X"] if self.command == "itk2seg" else []
        if extra or ctx.args:
            return f"unexpected argument {(extra or ctx.args)[0]!r}; an options cell holds flags only"
        return None


# --------------------------------------------------------------------------- rows -> jobs
def _paths(cell: str, base: str, multi: bool) -> list[str]:
    """The absolute paths of a cell (``;``-separated when ``multi``), relative ones taken from ``base``."""
    parts = cell.split(";") if multi and ";" in cell else [cell]
    out = []
    for part in parts:
        p = part.strip()
        if not p:
            continue
        if p[0] == "~":
            p = os.path.expanduser(p)
        # plain concatenation + normpath: os.path.join costs as much again on 126,000 rows
        out.append(os.path.normpath(p if p[0] == os.sep else base + os.sep + p))
    return out


def _norm(path: str) -> str:
    return os.path.normcase(path)


class _Builder:
    """Turns checked rows into jobs, keeping the batch-wide checks (ids, outputs) as rows arrive."""

    def __init__(self, command: str, base: str, where: str, defaults: Sequence[str]) -> None:
        self.command, self.base, self.where = command, base, where
        self.defaults = tuple(defaults)
        self.checker = OptionChecker(command)
        self.ids: dict[str, int] = {}
        self.outputs: dict[str, int] = {}
        self.jobs: list[Job] = []
        required, optional = COLUMNS[command]
        self.required, self.known = required, set(required) | set(optional)
        self.path_columns = [(c, c in _MULTI) for c in sorted(_PATH_COLUMNS & self.known)]
        self._split: dict[str, list[str]] = {"": []}

    def fail(self, line: int, column: str | None, text: str) -> ManifestError:
        where = f"{self.where} line {line}" if line else f"{self.where} ({self.command} job {len(self.jobs) + 1})"
        return ManifestError(f"{where}{f', column {column!r}' if column else ''}: {text}")

    def add(self, line: int, row: dict[str, str]) -> None:
        for column in self.required:
            if not row.get(column, "").strip() and not (column == "metadata" and _lone_seg_nrrd(row)):
                fix = "give the dcmqi JSON (only a lone .seg.nrrd carries its own)" if column == "metadata" else ""
                raise self.fail(line, column, f"empty; {fix or 'every row needs it'}")
        job_id = row.get("id", "").strip() or f"row{line or len(self.jobs) + 1}"
        if job_id in self.ids:
            raise self.fail(line, "id", f"{job_id!r} is also the id of line {self.ids[job_id]}; ids must be unique")
        self.ids[job_id] = line
        cells = {c: _paths(row.get(c, ""), self.base, multi) for c, multi in self.path_columns}
        output = cells["output"][0]
        key = _norm(output)
        if key in self.outputs:
            raise self.fail(line, "output", f"{output!r} is also the output of line {self.outputs[key]}")
        self.outputs[key] = line
        inputs = [p for c in ("labels", "metadata", "seg", "reference") if c in cells for p in cells[c]]
        if any(_norm(p) == key for p in inputs):
            raise self.fail(line, "output", f"{output!r} is also an input of this row; write the output elsewhere")
        text = row.get("options", "")
        options = self._split.get(text)
        if options is None:
            options = self._split[text] = split_tokens(text, f"{self.where} line {line}, column 'options'")
        why = self.checker.problem(options)
        if why is not None:
            raise self.fail(line, "options", why)
        uid = row.get("series_uid", "").strip()
        if self.command == "itk2seg":
            argv = ["itk2seg", *cells["labels"], *_flags("--dicom", cells["dicom"])]
            argv += _flags("--metadata", cells["metadata"]) + ["--output", output]
            inputs += cells["dicom"]
        else:
            argv = ["seg2itk", *cells["seg"], "--output-dir", output, *_flags("--reference", cells["reference"])]
        argv += ["--series-uid", uid] if uid else []
        argv += [*self.defaults, *options, "--quiet"]
        self.jobs.append(Job(len(self.jobs), job_id, self.command, tuple(argv), output, tuple(inputs), line))


def _flags(flag: str, values: Iterable[str]) -> list[str]:
    return [token for v in values for token in (flag, v)]


def _lone_seg_nrrd(row: dict[str, str]) -> bool:
    """One label file that is a 3D Slicer .seg.nrrd: it carries its own segment metadata."""
    parts = [p.strip() for p in row.get("labels", "").split(";") if p.strip()]
    return len(parts) == 1 and parts[0].lower().endswith(".seg.nrrd")


# --------------------------------------------------------------------------- manifests
def _header(names: list[str], where: str) -> str:
    """The command a manifest header describes (its columns checked)."""
    names = [n.strip().lower() for n in names]
    kinds = [c for c in COLUMNS if COLUMNS[c][0][0] in names]
    if len(kinds) != 1:
        return _header_problem(names, where, kinds)
    command = kinds[0]
    required, optional = COLUMNS[command]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ManifestError(f"{where} line 1: column {name!r} appears twice")
        seen.add(name)
        if name not in required and name not in optional:
            allowed = ", ".join((*required, *optional))
            raise ManifestError(f"{where} line 1: unknown column {name!r}; an {command} manifest has {allowed}")
    missing = [c for c in required if c not in seen and c != "metadata"]  # rows of lone .seg.nrrd files need none
    if missing:
        raise ManifestError(f"{where} line 1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return command


def _header_problem(names: list[str], where: str, kinds: list[str]) -> str:
    if kinds:
        raise ManifestError(f"{where} line 1: both 'labels' and 'seg' columns; one manifest runs one command")
    raise ManifestError(
        f"{where} line 1: no 'labels' or 'seg' column (header {','.join(names)!r}); the first line names the "
        "columns: labels,dicom,metadata,output[,id,options,series_uid] (itk2seg) or seg,output[,id,options,reference] "
        "(seg2itk)"
    )


def _rows(path: str) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of a CSV file, UTF-8 with or without a byte-order mark; blank lines and lines whose first
    cell starts with ``#`` are skipped."""
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path!r}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            for cells in reader:
                if cells and not (len(cells) == 1 and not cells[0].strip()) and not cells[0].lstrip().startswith("#"):
                    yield reader.line_num, cells
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"manifest {path!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
            ) from None
        except csv.Error as exc:
            raise ManifestError(f"manifest {path!r} line {reader.line_num}: {exc}") from None


def read_manifest(path: str | os.PathLike[str], defaults: Sequence[str] = ()) -> Plan:
    """The jobs of a manifest CSV, every row checked.

    Parameters
    ----------
    path
        The manifest; relative paths in it are relative to its folder.
    defaults
        Batch-wide flags for every job (a row's ``options`` come after them and win).

    Returns
    -------
    Plan
        The command (from the header: ``labels`` -> itk2seg, ``seg`` -> seg2itk) and the jobs in row order.

    Raises
    ------
    ManifestError
        The first problem found, naming the line and column (nothing runs).
    """
    path = os.path.abspath(os.fspath(path))
    where = f"manifest {path!r}"
    if os.path.isdir(path):
        raise ManifestError(f"{where} is a folder; give the manifest CSV file")
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise ManifestError(f"{where} is empty; its first line names the columns")
    names = [n.strip().lower() for n in first[1]]
    command = _header(names, where)
    builder = _Builder(command, os.path.dirname(path), where, defaults)
    _check_defaults(builder)
    for line, cells in rows:
        if len(cells) != len(names):
            raise builder.fail(
                line, None, f"{len(cells)} cells, the header has {len(names)}; quote cells holding commas"
            )
        builder.add(line, dict(zip(names, cells)))
    if not builder.jobs:
        raise ManifestError(f"{where} has a header but no rows")
    return Plan(command, builder.jobs, path, os.path.dirname(path))


def _check_defaults(builder: _Builder) -> None:
    why = builder.checker.problem(builder.defaults)
    if why is not None:
        raise ManifestError(f"batch-wide {builder.command} flags {' '.join(builder.defaults)!r}: {why}")


# --------------------------------------------------------------------------- templates
_ID = "{id}"


def discover(templates: dict[str, str], defaults: Sequence[str] = (), base: str | None = None) -> Plan:
    """Jobs from path templates: the first path template (``labels`` or ``seg``) with ``{id}`` -> ``*`` is
    globbed, each match's ``{id}`` fills the other templates.

    Parameters
    ----------
    templates
        Column -> template (``{"labels": "seg/{id}/total.nii.gz", "dicom": "dicom/{id}", ...}``); ``{id}``
        stands for one path component (no ``/``).
    defaults
        Batch-wide flags for every job.
    base
        The folder relative templates start from (default: the current folder).

    Raises
    ------
    ManifestError
        A template without ``{id}``, missing columns, no match, or a row that fails the manifest checks.
    """
    base = os.path.abspath(base or os.getcwd())
    command = "seg2itk" if "seg" in templates else "itk2seg"
    required, _ = COLUMNS[command]
    key = required[0]
    where = "templates"
    missing = [
        c for c in required if not templates.get(c) and not (c == "metadata" and _lone_seg_nrrd_template(templates))
    ]
    if missing:
        flags = ", ".join(f"--{c}" for c in missing)
        raise ManifestError(f"{where}: {command} discovery needs {flags} as well")
    pattern = templates[key]
    if pattern.count(_ID) != 1:
        raise ManifestError(f"{where}: --{key} {pattern!r} needs exactly one {_ID} (one path component)")
    head, tail = os.path.join(base, os.path.expanduser(pattern)).split(_ID)
    matcher = re.compile(re.escape(head) + r"([^/]+)" + re.escape(tail) + r"\Z")
    found: list[str] = []
    for match in glob.iglob(glob.escape(head) + "*" + glob.escape(tail)):
        m = matcher.match(match)
        if m is not None and not m.group(1).startswith("."):
            found.append(m.group(1))
    if not found:
        raise ManifestError(f"{where}: nothing matches --{key} {pattern!r} (looked in {base!r})")
    builder = _Builder(command, base, where, defaults)
    _check_defaults(builder)
    for job_id in sorted(set(found)):
        row = {c: t.replace(_ID, job_id) for c, t in templates.items() if t}
        row["id"] = job_id
        builder.add(0, row)
    return Plan(command, builder.jobs, "templates", base)


def _lone_seg_nrrd_template(templates: dict[str, str]) -> bool:
    return templates.get("labels", "").lower().endswith(".seg.nrrd")


def write_manifest(plan: Plan, path: str | os.PathLike[str]) -> int:
    """Write ``plan``'s jobs as a manifest CSV (paths relative to its folder where they are below it), atomically.

    Returns
    -------
    int
        The number of rows written.
    """
    from labelmap._util.atomic import atomic_path, check_output_target

    path = os.path.abspath(os.fspath(path))
    check_output_target(path)
    folder = os.path.dirname(path)
    required, optional = COLUMNS[plan.command]
    columns = [*required, "id", "options"]

    def rel(p: str) -> str:
        r = os.path.relpath(p, folder)
        return p if r.startswith("..") else r

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for job in plan.jobs:
            writer.writerow(
                [";".join(rel(p) for p in _column(job, c)) if c not in ("id", "options") else "" for c in columns[:-2]]
                + [job.id, ""]
            )
    return len(plan.jobs)


def _column(job: Job, column: str) -> list[str]:
    """A path column's values back from a job's command line."""
    argv = job.argv
    if column == "output":
        return [job.output]
    if column in ("labels", "seg"):
        out: list[str] = []
        for token in argv[1:]:
            if token.startswith("-"):
                break
            out.append(token)
        return out
    flag = {"dicom": "--dicom", "metadata": "--metadata", "reference": "--reference"}[column]
    return [argv[i + 1] for i, t in enumerate(argv[:-1]) if t == flag]
