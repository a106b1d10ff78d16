"""Finding the files of a source series: every regular file under the paths given, nothing else.

Folders are walked recursively in sorted order without following links to folders (no loops);
FIFOs, sockets, devices and dangling or looping links are counted and left out, so nothing here
can block or recurse forever.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from labelmap.errors import DicomSeriesError

__all__ = ["find_dicom_files", "find_files"]


def find_dicom_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Every regular file under ``paths`` (folders walked recursively in sorted order, files kept as given).

    Non-DICOM files are not filtered here; :func:`load_series` ignores them.  Symbolic links to
    folders are not followed (no loops); FIFOs, sockets, devices and dangling links are left out.

    Raises
    ------
    DicomSeriesError
        A path that does not exist, or that is neither a file nor a folder.
    """
    return find_files(paths)[0]


def find_files(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], int]:
    """(regular files under ``paths``, how many other entries were left out)."""
    files: list[Path] = []
    skipped = 0
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found, left_out = _walk(path)
            files += found
            skipped += left_out
        elif path.is_file():
            files.append(path)
        elif os.path.lexists(path):
            raise DicomSeriesError(
                f"DICOM input {str(path)!r} is neither a file nor a folder ({_file_type(path)}); "
                "give the folder or files of the source image series"
            )
        else:
            raise DicomSeriesError(
                f"DICOM input {str(path)!r} does not exist; give the folder or files of the source image series"
            )
    return list(dict.fromkeys(files)), skipped


def _walk(top: Path) -> tuple[list[Path], int]:
    """Files under ``top`` in os.walk's top-down sorted order, without recursion (any depth) and
    without following links to folders; (files, entries left out)."""
    files: list[Path] = []
    skipped = 0
    stack = [str(top)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # unreadable, vanished or a path too long for the system
            skipped += 1
            continue
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                elif entry.is_file():  # follows a link to a file; False for FIFOs, sockets, devices, loops
                    files.append(Path(entry.path))
                elif not (entry.is_symlink() and entry.is_dir()):  # links to folders: not followed, not counted
                    skipped += 1
            except OSError:
                skipped += 1
        stack.extend(reversed(subfolders))
    return files, skipped


def _file_type(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as exc:  # a dangling link or a link loop
        return f"a link that cannot be followed: {exc.strerror}"
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device")):
        if test(mode):
            return name
    return "a device" if stat.S_ISBLK(mode) else "not a regular file"
