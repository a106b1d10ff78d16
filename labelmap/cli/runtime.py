"""How one command line runs, shared by the typer app (:func:`labelmap.cli.app.main`) and the typer-free
launcher (:func:`labelmap.cli.launch.main`): signals, the exception -> exit code and ``error:`` line
mapping, the running command's name for messages.  Importing it stays cheap (no typer, numpy, pydicom).
"""

from __future__ import annotations

import sys

from labelmap.cli.hints import hint_texts

TYPE_CHECKING = False  # typing itself is not imported: --version and --help start without it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from labelmap.errors import LabelmapError


def error_line(error: LabelmapError, hint_text: dict[str, str]) -> str:
    """The ``error:`` line for a user error: one line, hints in the command's flags.

    Parameters
    ----------
    error
        The user error; a message that is still a plain string (no hint) is printed as it is.
    hint_text
        Advice per hint code, as :func:`~labelmap.cli.hints.hint_texts` gives it.

    Returns
    -------
    str
        ``error: <message>`` with multi-line messages (e.g. lists of series) folded.
    """
    text = error.message(hint_text=None if error.hint is None else hint_text.get(error.hint))
    return "error: " + " ".join(line.strip() for line in text.splitlines() if line.strip())


def quiet_memory() -> None:
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


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C; ``signum`` says which (a batch exits 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP end a run like Ctrl-C: temporaries are removed, no output is half-written."""
    raise Terminated(signum)


#: The command being run and its first parameter's value (its main input), for messages.
RUNNING: list[Any] = []


def running(argv: list[str]) -> str:
    """What the command line was doing, for an error without a file of its own: ``seg2itk of 'x.dcm'``."""
    if RUNNING:
        name, value = RUNNING
        values = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
        shown = ", ".join(repr(str(v)) for v in values[:3]) + (", ..." if len(values) > 3 else "")
        return f"{name} of {shown}" if shown else str(name)
    return next((a for a in argv if not a.startswith("-")), "labelmap-convert")


class Outcome:
    """What one command run came to: exit ``code``, the ``error`` line's text (after ``error: ``, None on
    success), the command's return value (its report) and the exception behind a failure."""

    __slots__ = ("code", "error", "value", "exc")

    def __init__(self, code: int, error: str | None = None, value: Any = None, exc: BaseException | None = None):
        self.code, self.error, self.value, self.exc = code, error, value, exc


def echo(message: str, err: bool = False) -> None:
    """``message`` and a line break on stdout (``err``: stderr), flushed, as ``typer.echo`` writes a line.

    The same bytes as click's echo without loading it: nothing when the stream is None; ANSI escape
    sequences removed when the stream is not a terminal.  A stream click would rewrap (no text
    stream, no encoding or errors setting, an ASCII encoding) is left to click itself.
    """
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    if not (isinstance(message, str) and _plain_text_stream(stream)):
        from typer import echo as click_echo

        click_echo(message, err=err)
        return
    text = message + "\n"
    if "\033" in text and not _isatty(stream):
        import re

        text = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)
    stream.write(text)
    stream.flush()


def _plain_text_stream(stream: Any) -> bool:
    """A text stream click writes to as it is (see click's ``_force_correct_text_writer``)."""
    import codecs
    import io

    encoding = getattr(stream, "encoding", None)
    if not isinstance(stream, io.TextIOBase) or not encoding or getattr(stream, "errors", None) is None:
        return False
    if type(stream).__module__.startswith("ipykernel."):
        return False
    try:
        return codecs.lookup(encoding).name != "ascii"
    except LookupError:
        return True


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def run(args: list[str], call: Callable[[], Any]) -> int:
    """Run ``call`` (one command line, ``args``) with SIGTERM / SIGHUP ending it like Ctrl-C, print the
    ``error:`` line of a failure and return the exit code (see :func:`execute`).

    Parameters
    ----------
    args
        The command line without the program name (for messages).
    call
        Runs the command; returns its report or an exit code.

    Returns
    -------
    int
        The exit code.
    """
    import signal
    import threading

    restore = {}  # SIGTERM and SIGHUP (a closed terminal) end a run like Ctrl-C, where nobody else handles them
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                restore[signum] = signal.signal(signum, _interrupt)
    try:
        outcome = execute(args, call)
    finally:
        for signum, handler in restore.items():
            signal.signal(signum, handler)
    if outcome.error is not None:
        echo("error: " + outcome.error, err=True)
    return outcome.code


def execute(args: list[str], call: Callable[[], Any]) -> Outcome:
    """Run ``call`` (one command line, ``args``) in this process and say how it ended, printing no error:
    every failure becomes the one line the command line would print after ``error: ``.

    Parameters
    ----------
    args
        The command line without the program name (for messages).
    call
        Runs the command; returns its report or an exit code.

    Returns
    -------
    Outcome
        Code 0 and the command's report, or code 1 with the error text and the exception.
    """
    import warnings

    RUNNING.clear()
    try:
        # Library warnings (pydicom's value checks on damaged input, numpy) would add stray stderr
        # lines; the converter checks what it relies on itself and reports it as one error line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rv = call()
    except (KeyboardInterrupt, Exception) as exc:
        return failure(exc, args)
    return Outcome(rv, value=None) if isinstance(rv, int) else Outcome(0, value=rv)


def failure(exc: BaseException, args: list[str]) -> Outcome:
    """The :class:`Outcome` of a command line that raised ``exc`` (called while it is being handled):
    one line for the user, worded by kind (user error, interruption, memory, the environment, a bug).

    Raises
    ------
    BaseException
        ``exc`` again for a bug when ``LABELMAP_DEBUG`` is set (its traceback is shown).
    """
    import os

    from labelmap.errors import LabelmapError

    def fail(text: str) -> Outcome:
        return Outcome(1, " ".join(text.split()), exc=exc)

    if isinstance(exc, LabelmapError):
        return Outcome(1, error_line(exc, hint_texts(args))[len("error: ") :], exc=exc)
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return fail(f"interrupted during {running(args)}; no output was written or replaced")
    if isinstance(exc, MemoryError):
        return fail(
            f"out of memory during {running(args)}; the input is larger than this machine can convert, "
            "or damaged (a header claiming a huge size)"
        )
    if isinstance(exc, RecursionError):
        return fail(f"{running(args)}: the input is nested too deeply to process (recursion limit)")
    if isinstance(exc, OSError):
        # the environment, not the program: a full disk, a permission, a vanished file
        where = f"{exc.filename!r}: " if exc.filename else ""
        if exc.filename2:
            where = f"{exc.filename!r} -> {exc.filename2!r}: "
        reason = str(exc.strerror or exc)
        return fail(f"{running(args)}: {where}{reason}; check the path, its permissions and the free disk space")
    # typer / click signalling: Exit carries a code; usage errors format their own message
    if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
        return Outcome(int(exc.exit_code or 0))
    if type(exc).__name__ == "Abort":
        return fail("aborted")
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
        return fail(f"{exc.format_message()} (see --help)")
    if os.environ.get("LABELMAP_DEBUG", "") not in ("", "0"):
        raise exc
    return fail(
        f"internal error during {running(args)}: {type(exc).__name__}: {exc} - please report it with the "
        "command line (LABELMAP_DEBUG=1 shows the traceback)"
    )
