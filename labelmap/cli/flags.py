"""The launcher's flag table and stored top-level help, GENERATED from the typer app's definitions.

:mod:`labelmap.cli.launch` parses the hot commands' flags with :data:`COMMANDS` and prints
:data:`HELP_LINES` without loading typer.  Both are written by ``python -m labelmap.cli.flags`` from
the typer app (:mod:`labelmap.cli.app`); ``tests/cli/test_flags.py`` regenerates them in memory and
asserts they equal the stored ones, so a flag changed in the app and not regenerated fails the tests.

:data:`HELP_LINES` is typer's top-level ``--help`` as rich renders it without colour at 80 columns
(stdout not a terminal, no terminal on any standard descriptor, UTF-8, none of :data:`HELP_ENV`); the
launcher prints it only under those conditions and lets typer render the help otherwise.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not imported: --help starts without it
if TYPE_CHECKING:
    from typing import Any


class Param:
    """One parameter of a command as the launcher parses it (a plain class: no typing import).

    Attributes
    ----------
    name
        The command function's parameter name (the keyword its body takes).
    opts
        Option strings (``--output``, ``-o``); empty for a positional argument.
    kind
        ``path`` | ``str`` | ``int`` | ``float`` | ``choice`` | ``flag``.
    multiple
        A repeatable option, or an argument taking every positional (a list); False: one value.
    required
        Must be given.
    default
        The value the command receives when it is not given (choices as their value string).
    choices
        ``choice``: the accepted values (case-sensitive).
    low, high
        ``int`` / ``float``: the closed range (None: unbounded).
    """

    __slots__ = ("name", "opts", "kind", "multiple", "required", "default", "choices", "low", "high")

    def __init__(
        self,
        name: str,
        opts: tuple[str, ...],
        kind: str,
        multiple: bool,
        required: bool,
        default: Any = None,
        choices: tuple[str, ...] = (),
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        self.name, self.opts, self.kind, self.multiple, self.required = name, opts, kind, multiple, required
        self.default, self.choices, self.low, self.high = default, choices, low, high

    def _values(self) -> tuple:
        return tuple(getattr(self, field) for field in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is Param and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"Param{self._values()!r}"


#: :class:`Param`'s optional fields and their defaults (the generated source leaves these out).
_OPTIONAL = {"choices": (), "low": None, "high": None}


#: The commands the launcher parses itself (every other command line goes to the typer app).
HOT = ("itk2seg", "seg2itk", "itkimage2segimage", "segimage2itkimage")

#: Environment variables that change how typer / rich render ``--help``: any of them set, and typer renders.
HELP_ENV = (
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERMINAL_WIDTH",
    "TYPER_USE_RICH",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "JUPYTER_COLUMNS",
)

#: The width :data:`HELP_LINES` is rendered at (rich's default when no descriptor is a terminal).
HELP_WIDTH = 80

# ---------------------------------------------------------------- generated: python -m labelmap.cli.flags
COMMANDS: dict[str, tuple[Param, ...]] = {
    "itk2seg": (
        Param("labels", (), "path", True, True, None),
        Param("dicom", ("--dicom", "-d"), "path", True, True, None),
        Param("metadata", ("--metadata", "-m"), "path", False, False, None),
        Param("output", ("--output", "-o"), "path", False, True, None),
        Param(
            "seg_type",
            ("--type",),
            "choice",
            False,
            False,
            "auto",
            choices=("labelmap", "binary", "fractional", "auto"),
        ),
        Param(
            "fractional_type",
            ("--fractional-type",),
            "choice",
            False,
            False,
            "probability",
            choices=("probability", "occupancy"),
        ),
        Param("palette", ("--palette",), "flag", False, False, False),
        Param("keep_empty_slices", ("--keep-empty-slices",), "flag", False, False, False),
        Param("renumber", ("--renumber",), "flag", False, False, False),
        Param("keep_absent_segments", ("--keep-absent-segments",), "flag", False, False, False),
        Param(
            "compression",
            ("--compression",),
            "choice",
            False,
            False,
            None,
            choices=("none", "implicit", "deflate", "rle", "jpegls", "j2k"),
        ),
        Param("deflate_level", ("--deflate-level",), "int", False, False, 6, low=1, high=9),
        Param("series_uid", ("--series-uid",), "str", False, False, None),
        Param("tolerance", ("--tolerance",), "float", False, False, 0.01, low=0.0),
        Param("level", ("--level",), "int", False, False, None, low=0),
        Param("tiled", ("--tiled",), "choice", False, False, None, choices=("full", "sparse")),
        Param("tile_size", ("--tile-size",), "str", False, False, None),
        Param("pyramid", ("--pyramid",), "flag", False, False, False),
        Param("deterministic_uids", ("--deterministic-uids",), "flag", False, False, False),
        Param("threads", ("--threads",), "int", False, False, 0, low=0),
        Param("quiet", ("--quiet", "-q"), "flag", False, False, False),
    ),
    "seg2itk": (
        Param("seg", (), "path", False, True, None),
        Param("output_dir", ("--output-dir", "-o"), "path", False, True, None),
        Param(
            "fmt", ("--format", "-f"), "choice", False, False, None, choices=("nrrd", "nifti", "segnrrd", "ome-tiff")
        ),
        Param("prefix", ("--prefix", "-p"), "str", False, False, ""),
        Param("reference", ("--reference", "-r"), "path", True, False, None),
        Param("series_uid", ("--series-uid",), "str", False, False, None),
        Param("tolerance", ("--tolerance",), "float", False, False, 0.01, low=0.0),
        Param("merge_segments", ("--merge-segments",), "flag", False, False, False),
        Param("level", ("--level",), "int", False, False, None, low=0),
        Param("preview", ("--preview",), "flag", False, False, False),
        Param("threads", ("--threads",), "int", False, False, 0, low=0),
        Param("quiet", ("--quiet", "-q"), "flag", False, False, False),
    ),
    "itkimage2segimage": (
        Param("input_image_list", ("--inputImageList",), "str", True, True, None),
        Param("input_metadata", ("--inputMetadata",), "path", False, True, None),
        Param("output_dicom", ("--outputDICOM",), "path", False, True, None),
        Param("input_dicom_directory", ("--inputDICOMDirectory",), "path", False, False, None),
        Param("input_dicom_list", ("--inputDICOMList",), "str", True, False, None),
        Param("segmentation_type", ("--segmentationType",), "str", False, False, "binary"),
        Param("use_label_id", ("--useLabelIDAsSegmentNumber",), "flag", False, False, False),
        Param("skip", ("--skip",), "int", False, False, 1),
        Param("compress", ("--compress",), "str", False, False, None),
        Param("references_geometry_check", ("--referencesGeometryCheck",), "int", False, False, 1),
        Param("no_dicom_value_checks", ("--noDicomValueChecks",), "flag", False, False, False),
        Param("level", ("--level",), "int", False, False, None, low=0),
        Param("tiled", ("--tiled",), "choice", False, False, None, choices=("full", "sparse")),
        Param("tile_size", ("--tile-size",), "str", False, False, None),
        Param("pyramid", ("--pyramid",), "flag", False, False, False),
        Param("deterministic_uids", ("--deterministic-uids",), "flag", False, False, False),
        Param("verbose", ("--verbose",), "flag", False, False, False),
    ),
    "segimage2itkimage": (
        Param("input_dicom", ("--inputDICOM",), "path", False, True, None),
        Param("output_directory", ("--outputDirectory",), "path", False, True, None),
        Param("prefix", ("--prefix", "-p"), "str", False, False, ""),
        Param("output_type", ("--outputType", "-t"), "str", False, False, "nrrd"),
        Param("merge_segments", ("--mergeSegments",), "flag", False, False, False),
        Param("level", ("--level",), "int", False, False, None, low=0),
        Param("verbose", ("--verbose",), "flag", False, False, False),
    ),
}
HELP_LINES: tuple[str, ...] = (
    "                                                                                ",
    " Usage: labelmap-convert [OPTIONS] COMMAND [ARGS]...                            ",
    "                                                                                ",
    " Convert NRRD / NIfTI label maps + dcmqi JSON to and from DICOM Segmentation    ",
    " (LABELMAP).                                                                    ",
    "                                                                                ",
    "╭─ Options ────────────────────────────────────────────────────────────────────╮",
    "│ --version            Show the version and exit.                              │",
    "│ --help     -h        Show this message and exit.                             │",
    "╰──────────────────────────────────────────────────────────────────────────────╯",
    "╭─ Commands ───────────────────────────────────────────────────────────────────╮",
    "│ itk2seg            Label image(s) + dcmqi JSON + source DICOM series (or     │",
    "│                    whole-slide image) -> DICOM SEG.                          │",
    "│ seg2itk            DICOM SEG -> label image(s) + dcmqi meta.json (a slide    │",
    "│                    SEG: its total pixel matrix, OME-TIFF by default).        │",
    "│ preview            Draw a SEG as a PNG: slices with each segment in its      │",
    "│                    colour, a legend (numbers, names, voxels), a title.       │",
    "│ info               Summarise a DICOM SEG: type, syntax, frames, geometry,    │",
    "│                    segments with codes and voxel counts.                     │",
    "│ validate           Check SEG file(s) against the Segmentation IOD rules; one │",
    "│                    line per violation, exit 1 on errors.                     │",
    "│ batch              Run many itk2seg (or seg2itk) jobs from a manifest or     │",
    "│                    {id} templates, in parallel; one report row per job.      │",
    "│ demo               Make a synthetic CT + organ label map, convert to         │",
    "│                    LABELMAP SEG and back, check, print sizes and times.      │",
    "│ itkimage2segimage  dcmqi-compatible: same flags, list syntax and defaults as │",
    "│                    dcmqi 1.5.7's itkimage2segimage.                          │",
    "│ segimage2itkimage  dcmqi-compatible: same flags and output names as dcmqi    │",
    "│                    1.5.7's segimage2itkimage (slide SEGs too).               │",
    "│ bin2label          BINARY SEG -> LABELMAP SEG (refuses overlapping segments, │",
    "│                    naming the pairs).                                        │",
    "│ bin2labelsegimage  dcmqi-compatible: same flags as dcmqi 1.5.7's             │",
    "│                    bin2labelsegimage.                                        │",
    "╰──────────────────────────────────────────────────────────────────────────────╯",
    "",
)
# ---------------------------------------------------------------- end of generated part


def help_text() -> str:
    """The stored top-level ``--help`` output (what typer prints under :data:`HELP_LINES`' conditions)."""
    return "\n".join(HELP_LINES) + "\n"


def table() -> dict[str, tuple[Param, ...]]:
    """The flag table of the :data:`HOT` commands, read from the typer app's click commands.

    Returns
    -------
    dict
        Command name -> its parameters in declaration order; a command with a parameter the
        launcher cannot represent is left out (the typer app parses it).
    """
    import typer

    from labelmap.cli.app import app

    group = typer.main.get_command(app)
    commands = {}
    for name in HOT:
        params = [_param(p) for p in group.commands[name].params]  # type: ignore[attr-defined]
        if all(p is not None for p in params):
            commands[name] = tuple(p for p in params if p is not None)
    return commands


def _param(param: Any) -> Param | None:
    """``param`` (a click parameter typer built) as a :class:`Param`, or None when the launcher cannot
    parse it as click would (an environment variable, a callback, a prompt, a count, nargs > 1 ...)."""
    from enum import Enum

    from typer._click import types
    from typer._types import TyperChoice
    from typer.models import TyperPath

    option = param.param_type_name == "option"
    plain = (
        param.envvar is None
        and param.callback is None
        and not param.is_eager
        and (param.nargs == 1 if option else param.nargs in (1, -1))
        and not getattr(param, "prompt", None)
        and not getattr(param, "count", False)
        and not getattr(param, "secondary_opts", [])
        and not getattr(param, "deprecated", False)
    )
    ptype = param.type
    multiple = bool(param.multiple) if option else param.nargs == -1
    default = param.default.value if isinstance(param.default, Enum) else param.default
    if not plain or (multiple and default not in (None, ())):
        return None
    fields: dict[str, Any] = {}
    if option and param.is_flag:
        if not isinstance(ptype, types.BoolParamType) or not param.is_bool_flag or default is not False:
            return None
        kind = "flag"
    elif isinstance(ptype, TyperPath):
        usual = (False, True, True, False, True, False, False, None)
        attrs = ("exists", "file_okay", "dir_okay", "writable", "readable", "resolve_path", "allow_dash", "type")
        if tuple(getattr(ptype, a) for a in attrs) != usual:
            return None
        kind = "path"
    elif isinstance(ptype, TyperChoice):
        if not ptype.case_sensitive:
            return None
        kind, fields["choices"] = "choice", tuple(str(c.value if isinstance(c, Enum) else c) for c in ptype.choices)
    elif isinstance(ptype, (types.IntParamType, types.FloatParamType)):
        if isinstance(ptype, types._NumberRangeBase):
            if ptype.min_open or ptype.max_open or ptype.clamp:
                return None
            fields["low"], fields["high"] = ptype.min, ptype.max
        kind = "int" if isinstance(ptype, types.IntParamType) else "float"
    elif type(ptype) is types.StringParamType:
        kind = "str"
    else:
        return None
    opts = tuple(param.opts) if option else ()
    default = None if multiple or param.required else default
    return Param(param.name, opts, kind, multiple, bool(param.required), default, **fields)


def render_help() -> tuple[str, ...]:
    """typer's top-level ``--help``, rendered live in a child process under :data:`HELP_LINES`' conditions
    (no terminal on stdin, stdout or stderr; none of :data:`HELP_ENV`; ``COLUMNS`` unset; UTF-8).

    Returns
    -------
    tuple
        Its lines (without line breaks).

    Raises
    ------
    RuntimeError
        The child process failed.
    """
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in (*HELP_ENV, "COLUMNS", "LINES")}
    env["PYTHONIOENCODING"] = "utf-8"
    code = "import sys; from labelmap.cli.app import main; sys.exit(main(['--help']))"
    proc = subprocess.run(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=120
    )
    if proc.returncode != 0 or proc.stderr:
        raise RuntimeError(f"rendering the help failed: {proc.stderr.decode(errors='replace')}")
    text = proc.stdout.decode("utf-8")
    if not text.endswith("\n"):
        raise RuntimeError("the rendered help does not end with a line break")
    return tuple(text[:-1].split("\n"))


def generated_source() -> str:
    """The text of this module's generated part (between its two marker lines), from the typer app."""
    lines = ["COMMANDS: dict[str, tuple[Param, ...]] = {"]
    for name, params in table().items():
        lines.append(f"    {name!r}: (")
        for p in params:
            extra = "".join(
                f", {field}={getattr(p, field)!r}" for field in _OPTIONAL if getattr(p, field) != _OPTIONAL[field]
            )
            lines.append(
                f"        Param({p.name!r}, {p.opts!r}, {p.kind!r}, {p.multiple!r}, {p.required!r}, {p.default!r}"
                f"{extra}),"
            )
        lines.append("    ),")
    lines.append("}")
    lines.append("HELP_LINES: tuple[str, ...] = (")
    lines.extend(f"    {line!r}," for line in render_help())
    lines.append(")")
    return "\n".join(lines) + "\n"


_BEGIN = "# ---------------------------------------------------------------- generated: python -m labelmap.cli.flags\n"
_END = "# ---------------------------------------------------------------- end of generated part\n"


def write() -> str:
    """Rewrite this module's generated part from the typer app (then ``ruff format`` it when ruff is
    installed, as the project's lint expects) and return the module's path."""
    import os
    import shutil
    import subprocess

    path = os.path.abspath(__file__)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    new = head + _BEGIN + generated_source() + _END + tail  # everything computed before the file is touched
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff:
        subprocess.run([ruff, "format", "-q", path], check=False)
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")
