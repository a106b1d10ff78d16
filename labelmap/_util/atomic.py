"""Atomic output: write to a temporary file beside the target, then rename.

A failure at any point leaves no partial file and never touches an existing
good file at the target path.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from labelmap.errors import LabelmapError, OutputError

__all__ = ["atomic_path", "check_output_dir", "check_output_target"]


def check_output_dir(directory: str | os.PathLike[str], *, create: bool = False) -> Path:
    """Return ``directory`` as a Path after checking it exists (or creating it) and is writable."""
    d = Path(directory)
    if not d.exists():
        if not create:
            raise OutputError(f"output folder {str(d)!r} does not exist; create it first")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {str(d)!r}: {exc.strerror or exc}") from None
    if not d.is_dir():
        raise OutputError(f"output path {str(d)!r} is a file, not a folder; write the output into an existing folder")
    if not os.access(d, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {str(d)!r} is not writable; fix its permissions or choose another folder")
    return d


def _file_target(target: Path, example: str) -> Path:
    """The checked folder of ``target``; OutputError when ``target`` is a folder (``example`` ends the advice)."""
    if target.is_dir():
        raise OutputError(f"output {str(target)!r} is a folder; give a file name{example}")
    if target.exists() and not target.is_file():
        # a device, FIFO or socket: the rename would replace it with a regular file
        raise OutputError(f"output {str(target)!r} exists and is not a regular file; give a file name")
    return check_output_dir(target.parent)


def check_output_target(output: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Fail before any work when the output file cannot be created (the write checks again)
    or would replace one of the ``inputs``."""
    target = Path(output)
    _file_target(target, f" such as {str(target / 'seg.dcm')!r}")
    if target.exists():
        for source in inputs:
            try:
                same = Path(source).is_file() and os.path.samefile(source, target)
            except OSError:
                same = False
            if same:
                raise OutputError(
                    f"output {str(target)!r} is also an input file; it would be overwritten - give another output name"
                )


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``target`` on success.

    The temporary file keeps the target's suffixes so format writers that look at
    the extension (``.nii.gz``, ``.nrrd``) behave as they would for the target.
    """
    target = Path(target)
    parent = _file_target(target, "")
    suffix = "".join(target.suffixes) if target.suffixes else ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{suffix}", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write in {str(parent)!r}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the file the mode a plain open() would (0666 minus the umask)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, LabelmapError):
            # a failed write (disk full, file too large, I/O error) names the target, not the temp file
            raise OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from exc
        raise
