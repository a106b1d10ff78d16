"""The ``labelmap-convert`` typer app and its entry point :func:`main`.

Exit codes: 0 success; 1 a user error (one line on stderr, no traceback).  A
:class:`~labelmap.errors.LabelmapError` carrying a hint code is worded with the flags
of the command that was run (native or dcmqi-compatible).
"""

from __future__ import annotations

import functools
import sys
from types import ModuleType
from typing import Any

import typer

from labelmap.cli import dcmqi, native
from labelmap.cli.batch import command as batch_command
from labelmap.cli.hints import hint_texts as hint_texts
from labelmap.cli.runtime import RUNNING as _RUNNING
from labelmap.cli.runtime import Interrupted as Interrupted
from labelmap.cli.runtime import Outcome as Outcome
from labelmap.cli.runtime import Terminated as Terminated
from labelmap.cli.runtime import _interrupt as _interrupt
from labelmap.cli.runtime import error_line as error_line
from labelmap.cli.runtime import quiet_memory as _quiet_memory

app = typer.Typer(
    name="labelmap-convert",
    help="Convert NRRD / NIfTI label maps + dcmqi JSON to and from DICOM Segmentation (LABELMAP).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    """``--version``: the package version, then exit (eager: no command runs)."""
    if value:
        from labelmap import __version__

        typer.echo(f"labelmap-convert {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Show the version and exit."
    ),
) -> None:
    """Convert NRRD / NIfTI label maps + dcmqi JSON to and from DICOM Segmentation (LABELMAP)."""


#: Command name -> the module of its family (which defines it and its :data:`HINT_TEXT`), in ``--help`` order.
_ORDER = (
    "itk2seg seg2itk preview info validate batch demo itkimage2segimage segimage2itkimage bin2label bin2labelsegimage"
)
COMMANDS: dict[str, ModuleType] = {
    name: batch_command if name == "batch" else native if hasattr(native, name) else dcmqi for name in _ORDER.split()
}
for _name, _family in COMMANDS.items():
    app.command(_name, context_settings=getattr(_family, "CONTEXT_SETTINGS", None))(getattr(_family, _name))


def _checked_params(command: Any) -> Any:
    """``command`` (the click group typer builds) with every path and number parameter checked on parse
    (see :func:`labelmap.cli.options.path_problem` and :func:`~labelmap.cli.options.number_problem`)
    and Ctrl-C during a command raised as :class:`Interrupted`."""
    import copy

    from typer._click.types import FloatParamType
    from typer.models import TyperPath

    from labelmap.cli.options import number_problem, path_problem

    def checked(ptype: Any, problem: Any, before: bool) -> Any:
        ptype = copy.copy(ptype)  # FLOAT is a shared instance
        convert = ptype.convert

        def checked_convert(value: Any, param: Any, ctx: Any) -> Any:
            why = problem(value) if before else None
            if why is None:
                value = convert(value, param, ctx)
                why = None if before else problem(value)
            if why is not None:
                ptype.fail(why, param, ctx)
            return value

        ptype.convert = checked_convert
        return ptype

    def interruptible(callback: Any, name: str, first: str | None) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            _RUNNING[:] = [name, kwargs.get(first) if first else None]
            try:
                return callback(*args, **kwargs)
            except KeyboardInterrupt:
                raise Interrupted from None  # typer would turn it into a silent exit 130

        return run

    for sub in getattr(command, "commands", {}).values():
        if sub.callback is not None:
            sub.callback = interruptible(sub.callback, sub.name, sub.params[0].name if sub.params else None)
        for param in sub.params:
            if isinstance(param.type, TyperPath):
                param.type = checked(param.type, path_problem, before=True)
            elif isinstance(param.type, FloatParamType):
                param.type = checked(param.type, number_problem, before=False)
    return command


@functools.lru_cache(maxsize=1)
def _command() -> Any:
    """The click group of :data:`app` with checked parameters, built once per process: building it costs
    10-40 ms, as much as a small conversion, and a batch worker runs thousands of command lines."""
    return _checked_params(typer.main.get_command(app))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app; every failure is one ``error:`` line on stderr and exit 1.

    Parameters
    ----------
    argv
        The command line without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit code: 0 success, 1 a failure (a user error, a failed check, the environment: memory,
        disk, permissions) with one line on stderr.  A bug is one line too (``please report``);
        ``LABELMAP_DEBUG=1`` shows its traceback instead.
    """
    from labelmap.cli.streams import guarded_streams

    _quiet_memory()
    args = sys.argv[1:] if argv is None else list(argv)
    with guarded_streams():
        return _run(args)


def _run(args: list[str]) -> int:
    """:func:`main` inside the guarded streams: run, print the error line, return the exit code."""
    from labelmap.cli import runtime

    return runtime.run(args, functools.partial(_main, args))


def _main(args: list[str]) -> Any:
    """The click group's run of ``args``: the command's report, an exit code, or the exception."""
    return _command().main(args=args, standalone_mode=False, prog_name="labelmap-convert")


def execute(args: list[str]) -> Outcome:
    """Run one command line in this process and say how it ended, printing no error (a batch job's runner
    records it): every failure becomes the one line the command line would print after ``error: ``.

    Parameters
    ----------
    args
        The command line without the program name.

    Returns
    -------
    Outcome
        Code 0 and the command's report, or code 1 with the error text and the exception.
    """
    from labelmap.cli import runtime

    return runtime.execute(args, functools.partial(_main, args))
