"""The ``labelmap-convert`` typer app and its entry point :func:`main`.

Exit codes: 0 success; 1 a user error (one line on stderr, no traceback).  A
:class:`~labelmap.errors.LabelmapError` carrying a hint code is worded with the flags
of the command that was run (native or dcmqi-compatible).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

import typer

from labelmap.cli import dcmqi, native

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

#: Command name -> the module of its family (which defines it and its :data:`HINT_TEXT`), in ``--help`` order.
_ORDER = "itk2seg seg2itk info validate demo itkimage2segimage segimage2itkimage bin2label bin2labelsegimage"
COMMANDS: dict[str, ModuleType] = {name: native if hasattr(native, name) else dcmqi for name in _ORDER.split()}
for _name, _family in COMMANDS.items():
    app.command(_name)(getattr(_family, _name))


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


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app; user errors become one line on stderr and exit 1.

    Parameters
    ----------
    argv
        The command line without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit code: 0 success, 1 a user error (or a failed check), click's code for usage errors.
    """
    _quiet_memory()
    import warnings

    from labelmap.errors import LabelmapError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # Library warnings (pydicom's value checks on damaged input, numpy) would add stray stderr
        # lines; the converter checks what it relies on itself and reports it as one error line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rv = app(args=args, standalone_mode=False, prog_name="labelmap-convert")
    except LabelmapError as exc:
        typer.echo(error_line(exc, hint_texts(args)), err=True)
        return 1
    except OSError as exc:
        # the environment, not the program: a full disk, a permission, a vanished file
        where = f"{exc.filename!r}: " if exc.filename else ""
        if exc.filename2:
            where = f"{exc.filename!r} -> {exc.filename2!r}: "
        reason = " ".join(str(exc.strerror or exc).split())
        typer.echo(f"error: {where}{reason}; check the path, its permissions and the free disk space", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 1
    except Exception as exc:
        # typer / click signalling: Exit carries a code; usage errors format their own message
        if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
            return int(exc.exit_code or 0)
        if type(exc).__name__ == "Abort":
            typer.echo("error: aborted", err=True)
            return 1
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            message = " ".join(str(exc.format_message()).split())
            typer.echo(f"error: {message} (see --help)", err=True)
            return 1
        raise
    return rv if isinstance(rv, int) else 0
