"""The ``labelmap-convert`` console entry: the common command lines without loading typer.

``--version``, the top-level ``--help`` and the conversions ``itk2seg``, ``seg2itk``,
``itkimage2segimage`` and ``segimage2itkimage`` are parsed here from the generated flag table
(:mod:`labelmap.cli.flags`) into the values typer would give, and run the same command bodies
(:mod:`labelmap.cli.run_native`, :mod:`labelmap.cli.run_dcmqi`) under the same signal handling,
streams and error mapping (:mod:`labelmap.cli.runtime`).  Anything else - another command, an
unknown flag, a bad or missing value, ``--help`` of a command, ``--`` - goes to the typer app
(:func:`labelmap.cli.app.main`) with the original argv, so its behaviour and messages are today's.
Starting this way saves typer, click and the command modules (about 50-100 ms a process).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not imported: --version and --help start without it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from labelmap.cli.flags import Param

#: Command name -> (module, function) of its typer-free body.
BODIES = {
    "itk2seg": ("labelmap.cli.run_native", "itk2seg"),
    "seg2itk": ("labelmap.cli.run_native", "seg2itk"),
    "itkimage2segimage": ("labelmap.cli.run_dcmqi", "itkimage2segimage"),
    "segimage2itkimage": ("labelmap.cli.run_dcmqi", "segimage2itkimage"),
}


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``labelmap-convert``, ``python -m labelmap.cli``): the same exit codes, output
    and messages as :func:`labelmap.cli.app.main`, faster for the common command lines.

    Parameters
    ----------
    argv
        The command line without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit code: 0 success, 1 a failure with one ``error:`` line on stderr.
    """
    from labelmap.cli.runtime import quiet_memory

    quiet_memory()
    args = sys.argv[1:] if argv is None else list(argv)
    if args in ([], ["--help"], ["-h"], ["--version"]):
        code = _top_level(args)
        if code is not None:
            return code
    else:
        parsed = parse(args)
        if parsed is not None:
            code = _without_gc(lambda: _run(args, *parsed))
            if argv is None and _is_the_program():
                _exit_now(code)
            return code
    from labelmap.cli.app import main as typer_main

    return typer_main(args)


def parse(args: list[str]) -> tuple[str, dict[str, Any]] | None:
    """The command and the values typer would pass its function for ``args``, or None when the flag
    table cannot say (not a table command, or anything click would refuse or treat specially).

    Parameters
    ----------
    args
        The command line without the program name.

    Returns
    -------
    tuple or None
        (command name, parameter name -> value) with paths as :class:`~pathlib.Path`, choices as
        their strings, repeatable options as lists (None when not given), defaults filled in.
    """
    from labelmap.cli.flags import COMMANDS

    if not args or args[0] not in COMMANDS:
        return None
    table = COMMANDS[args[0]]
    positional = [p for p in table if not p.opts]
    if len(positional) > 1:
        return None
    tokens = _tokens(args[1:], {opt: p for p in table for opt in p.opts})
    if tokens is None:
        return None
    given, loose = tokens
    try:
        if positional:
            p = positional[0]
            if not p.multiple and len(loose) > 1:
                return None
            given[p.name] = loose if p.multiple else loose[-1:]
        elif loose:
            return None
        return args[0], {p.name: _value(p, given.get(p.name) or []) for p in table}
    except _NotMine:
        return None


class _NotMine(Exception):
    """A value click would refuse (or a missing one): the typer app parses the command line."""


def _tokens(rest: list[str], options: dict[str, Param]) -> tuple[dict[str, list[Any]], list[str]] | None:
    """Split a command's arguments as click's parser does: option name -> values given (flags: [True]),
    and the positionals; None for anything the launcher leaves to click (``--``, help, an unknown
    option, a short option with its value attached, a flag given a value, a missing value)."""
    given: dict[str, list[Any]] = {}
    loose: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token[:1] != "-" or len(token) == 1:
            loose.append(token)
            continue
        if token.startswith("--"):
            name, eq, value = token.partition("=")
        else:
            name, eq, value = token, "", ""
        p = options.get(name)
        if p is None or (p.kind == "flag" and eq):
            return None  # --, -h / --help, an unknown option, -oVALUE, --flag=value
        if p.kind == "flag":
            given[p.name] = [True]
            continue
        if not eq:
            if i >= len(rest):
                return None  # the option's value is missing
            value = rest[i]
            i += 1
        given.setdefault(p.name, []).append(value)
    return given, loose


def _value(p: Param, values: list[Any]) -> Any:
    """The value typer gives parameter ``p`` for ``values`` (as given, in order), checked as click and the
    app's parameter checks do.

    Raises
    ------
    _NotMine
        A value they would refuse, or a required parameter not given.
    """
    if not values:
        if p.required:
            raise _NotMine
        return p.default
    if p.kind == "flag":
        return True
    if p.multiple:
        return [_convert(p, v) for v in values]
    return _convert(p, values[-1])  # click keeps an option's last value


def _convert(p: Param, text: str) -> Any:
    """One value of ``p`` as click converts it (and the app checks it: paths, finite numbers)."""
    if p.kind == "str":
        return text
    if p.kind == "choice":
        if text not in p.choices:
            raise _NotMine
        return text
    if p.kind == "path":
        return _path(text)
    from labelmap.cli.values import number_problem

    number: int | float
    try:
        number = int(text) if p.kind == "int" else float(text)
    except ValueError:
        raise _NotMine from None
    if (p.low is not None and number < p.low) or (p.high is not None and number > p.high):
        raise _NotMine
    if p.kind == "float" and number_problem(number) is not None:
        raise _NotMine
    return number


def _path(text: str) -> Any:
    """A path value: refused like the app's check (empty, NUL, a FIFO or device) and typer's Path type
    (an existing path that cannot be read)."""
    import os
    from pathlib import Path

    from labelmap.cli.values import path_problem

    if path_problem(text) is not None:
        raise _NotMine
    try:
        os.stat(text)
    except OSError:
        return Path(text)
    if not os.access(text, os.R_OK):
        raise _NotMine
    return Path(text)


def _run(args: list[str], name: str, values: dict[str, Any]) -> int:
    """Run command ``name``'s body with ``values`` as the typer app runs its command: guarded streams,
    SIGTERM / SIGHUP like Ctrl-C, one ``error:`` line and exit 1 on failure."""
    import importlib

    from labelmap.cli import runtime
    from labelmap.cli.flags import COMMANDS
    from labelmap.cli.streams import guarded_streams

    module, function = BODIES[name]
    first = COMMANDS[name][0].name

    def call() -> Any:
        body: Callable[..., Any] = getattr(importlib.import_module(module), function)
        runtime.RUNNING[:] = [name, values[first]]
        return body(**values)

    with guarded_streams():
        return runtime.run(args, call)


def _without_gc(call: Callable[[], int]) -> int:
    """``call()`` with the cyclic garbage collector paused (its state restored after): a conversion's start
    creates some 10^5 objects (numpy's and our modules) that collection after collection walks again
    (about 10 ms of a 256x256x120 write), while the conversion itself leaves little cyclic garbage (the
    peak memory of a 512x512x300 write is the same with the collector off)."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        return call()
    finally:
        if paused:
            gc.enable()


def _is_the_program() -> bool:
    """This process is ``labelmap-convert`` (the console script) or ``python -m labelmap.cli``, not a
    program calling :func:`main` (a test, a notebook)."""
    top = sys.modules.get("__main__")
    spec = getattr(top, "__spec__", None)
    script = str(getattr(top, "__file__", "") or "")
    return script.replace("\\", "/").rsplit("/", 1)[-1] == "labelmap-convert" or (
        spec is not None and spec.name == "labelmap.cli.__main__"
    )


def _exit_now(code: int) -> None:
    """End the process with ``code`` once its output is flushed, without the interpreter's teardown (freeing
    numpy and every module's objects one by one: about 20 ms): the command has closed its files and joined
    its threads, and registers no exit handlers."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: the interpreter's own exit would fail to flush too
            code = code or 120
    os._exit(code)


def _top_level(args: list[str]) -> int | None:
    """``--version``, and ``--help`` / ``-h`` / no arguments when the stored help is what typer would
    print (:func:`stored_help_applies`); None: the typer app renders the help."""
    from labelmap.cli.runtime import echo
    from labelmap.cli.streams import guarded_streams

    with guarded_streams():
        if args == ["--version"]:
            from labelmap import __version__

            echo(f"labelmap-convert {__version__}")
            return 0
        if not stored_help_applies():
            return None
        from labelmap.cli.flags import help_text

        text = help_text()
        if args:
            sys.stdout.write(text)
            sys.stdout.flush()
            return 0
        # no arguments: typer prints the help without the closing blank line and fails with an empty usage error
        sys.stdout.write(text[:-1])
        sys.stdout.flush()
        echo("error: (see --help)", err=True)
        return 1


def stored_help_applies() -> bool:
    """Whether typer would print exactly the stored help now: rich renders without colour (stdout is not a
    terminal) at 80 columns (no standard descriptor is a terminal of another width; ``COLUMNS``, if set,
    says 80) with box-drawing characters (a UTF encoding), and no variable of
    :data:`~labelmap.cli.flags.HELP_ENV` (or a notebook) changes that."""
    import builtins
    import os

    from labelmap.cli.flags import HELP_ENV, HELP_WIDTH

    stdout = sys.stdout
    if stdout is None or any(name in os.environ for name in HELP_ENV) or hasattr(builtins, "get_ipython"):
        return False
    try:
        if stdout.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    if not str(getattr(stdout, "encoding", None) or "utf-8").lower().startswith("utf"):
        return False
    width = None
    for fd in (0, 1, 2):  # rich asks the descriptors in this order
        try:
            width = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return (width or 80) == HELP_WIDTH
