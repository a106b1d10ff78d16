"""The ``labelmap-convert`` typer app and its entry point :func:`main`.

Exit codes: 0 success; 1 a user error (one line on stderr, no traceback).  A
:class:`~labelmap.errors.LabelmapError` carrying a hint code is worded with the flags
of the command that was run (native or dcmqi-compatible).
"""

from __future__ import annotations

import functools
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

import typer

from labelmap.cli import dcmqi, native
from labelmap.cli.batch import command as batch_command

if TYPE_CHECKING:
    from labelmap.errors import LabelmapError

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


def hint_texts(argv: list[str]) -> dict[str, str]:
    """The hint wording of the command ``argv`` runs (native wording when it names none).

    Parameters
    ----------
    argv
        The command line without the program name.

    Returns
    -------
    dict
        Hint code -> advice text in that command's flags.
    """
    name = next((a for a in argv if not a.startswith("-")), None)
    return (COMMANDS[name] if name in COMMANDS else native).HINT_TEXT


def error_line(error: LabelmapError, hint_text: dict[str, str]) -> str:
    """The ``error:`` line for a user error: one line, hints in the command's flags.

    Parameters
    ----------
    error
        The user error; a message that is still a plain string (no hint) is printed as it is.
    hint_text
        Advice per hint code, as :func:`hint_texts` gives it.

    Returns
    -------
    str
        ``error: <message>`` with multi-line messages (e.g. lists of series) folded.
    """
    text = error.message(hint_text=None if error.hint is None else hint_text.get(error.hint))
    return "error: " + " ".join(line.strip() for line in text.splitlines() if line.strip())


def _quiet_memory() -> None:
    """Before numpy loads in a command's own process: no transparent-huge-page advice on its arrays.

    With the kernel's usual ``defrag=madvise`` a huge-page fault may compact memory
    synchronously and stall a write (see benchmarks/).  A value the user set wins; a
    process that already has numpy (a test, an API caller) is left alone.
    """
    if "numpy" not in sys.modules:
        import os

        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during a command (carried past typer, which would exit 130 without a word)."""


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


#: The command being run and its first parameter's value (its main input), for messages.
_RUNNING: list[Any] = []


def _running(argv: list[str]) -> str:
    """What the command line was doing, for an error without a file of its own: ``seg2itk of 'x.dcm'``."""
    if _RUNNING:
        name, value = _RUNNING
        values = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
        shown = ", ".join(repr(str(v)) for v in values[:3]) + (", ..." if len(values) > 3 else "")
        return f"{name} of {shown}" if shown else str(name)
    return next((a for a in argv if not a.startswith("-")), "labelmap-convert")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C; ``signum`` says which (a batch exits 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP end a run like Ctrl-C: temporaries are removed, no output is half-written."""
    raise Terminated(signum)


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
    from labelmap.cli.output import guarded_streams

    _quiet_memory()
    args = sys.argv[1:] if argv is None else list(argv)
    with guarded_streams():
        return _run(args)


class Outcome:
    """What one command run came to: exit ``code``, the ``error`` line's text (after ``error: ``, None on
    success), the command's return value (its report) and the exception behind a failure."""

    __slots__ = ("code", "error", "value", "exc")

    def __init__(self, code: int, error: str | None = None, value: Any = None, exc: BaseException | None = None):
        self.code, self.error, self.value, self.exc = code, error, value, exc


def _run(args: list[str]) -> int:
    """:func:`main` inside the guarded streams: run, print the error line, return the exit code."""
    import signal
    import threading

    restore = {}  # SIGTERM and SIGHUP (a closed terminal) end a run like Ctrl-C, where nobody else handles them
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                restore[signum] = signal.signal(signum, _interrupt)
    try:
        outcome = execute(args)
    finally:
        for signum, handler in restore.items():
            signal.signal(signum, handler)
    if outcome.error is not None:
        typer.echo("error: " + outcome.error, err=True)
    return outcome.code


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
    import os
    import warnings

    from labelmap.errors import LabelmapError

    def fail(text: str, exc: BaseException) -> Outcome:
        return Outcome(1, " ".join(text.split()), exc=exc)

    _RUNNING.clear()
    try:
        # Library warnings (pydicom's value checks on damaged input, numpy) would add stray stderr
        # lines; the converter checks what it relies on itself and reports it as one error line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rv = _command().main(args=args, standalone_mode=False, prog_name="labelmap-convert")
    except LabelmapError as exc:
        return Outcome(1, error_line(exc, hint_texts(args))[len("error: ") :], exc=exc)
    except (KeyboardInterrupt, Interrupted) as exc:
        return fail(f"interrupted during {_running(args)}; no output was written or replaced", exc)
    except MemoryError as exc:
        return fail(
            f"out of memory during {_running(args)}; the input is larger than this machine can convert, "
            "or damaged (a header claiming a huge size)",
            exc,
        )
    except RecursionError as exc:
        return fail(f"{_running(args)}: the input is nested too deeply to process (recursion limit)", exc)
    except OSError as exc:
        # the environment, not the program: a full disk, a permission, a vanished file
        where = f"{exc.filename!r}: " if exc.filename else ""
        if exc.filename2:
            where = f"{exc.filename!r} -> {exc.filename2!r}: "
        reason = str(exc.strerror or exc)
        return fail(f"{_running(args)}: {where}{reason}; check the path, its permissions and the free disk space", exc)
    except Exception as exc:
        # typer / click signalling: Exit carries a code; usage errors format their own message
        if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
            return Outcome(int(exc.exit_code or 0))
        if type(exc).__name__ == "Abort":
            return fail("aborted", exc)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            return fail(f"{exc.format_message()} (see --help)", exc)
        if os.environ.get("LABELMAP_DEBUG", "") not in ("", "0"):
            raise
        return fail(
            f"internal error during {_running(args)}: {type(exc).__name__}: {exc} - please report it with the "
            "command line (LABELMAP_DEBUG=1 shows the traceback)",
            exc,
        )
    return Outcome(rv, value=None) if isinstance(rv, int) else Outcome(0, value=rv)
