"""All-or-nothing output: files are written to temporaries beside their targets, then renamed.

:func:`atomic_path` does this for one file; :class:`OutputSet` for a group (the label
images and ``meta.json`` of ``seg2itk``): nothing is renamed until every file is
written, and a failure (a full disk, an error on the 5th of 8 files, Ctrl-C) leaves the
folder as it was - no new files, existing ones untouched.  Temporary names are short
(``.lm-<8 hex>-<8 hex tag of the target's name>.tmp`` plus the target's format suffix, e.g.
``.nii.gz``) whatever the target's name, so a target name near the 255-byte limit still gets a
temporary; the tag lets a rerun find and remove what a killed run left of its own target
(:func:`stale_temporaries`) without touching other jobs' temporaries in the same folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from labelmap.errors import LabelmapError, OutputError

try:  # the C module hashlib wraps: the same digests without loading OpenSSL's (4 ms of a command's start-up)
    from _blake2 import blake2s as _blake2s
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import blake2s as _blake2s

__all__ = [
    "TEMP_PREFIX",
    "OutputSet",
    "atomic_path",
    "check_not_input",
    "check_output_dir",
    "check_output_target",
    "is_temporary",
    "kind_of",
    "missing_dirs",
    "stale_temporaries",
    "target_tag",
]

#: Every temporary file this package creates starts with this (and is hidden).
TEMP_PREFIX = ".lm-"
_TEMP = re.compile(r"\.lm-[0-9a-f]{8}(?:-([0-9a-f]{8}))?\.(tmp|old)")
#: A suffix a writer may look at (``.gz``, ``.nii``, ``.nrrd``): short and alphanumeric.
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def is_temporary(name: str) -> bool:
    """True when ``name`` is one of this package's temporary file names."""
    return _TEMP.match(name) is not None


def _token() -> str:
    """8 random hex digits (what ``secrets.token_hex(4)`` gives, without importing secrets)."""
    return os.urandom(4).hex()


def target_tag(name: str) -> str:
    """The 8-hex tag of a target file name that its temporaries carry."""
    return _blake2s(name.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()


def stale_temporaries(target: str | os.PathLike[str], *, every: bool = False) -> list[Path]:
    """Temporaries left beside ``target`` by a run that was killed (SIGKILL skips the cleanup).

    Parameters
    ----------
    target
        An output file: its own temporaries and backups are found by their tag.
    every
        Every temporary in the folder ``target`` (an output folder that one job owns).

    Returns
    -------
    list of Path
        The leftovers (empty when the folder does not exist).
    """
    target = Path(target)
    folder, tag = (target, None) if every else (target.parent, target_tag(target.name))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        m = _TEMP.match(name)
        if m is not None and (tag is None or m.group(1) == tag):
            found.append(folder / name)
    return sorted(found)


def kind_of(mode: int) -> str:
    """What a ``st_mode`` is, for messages: "a file", "a folder", "a FIFO (named pipe)", "a character device", ..."""
    kinds = (
        (stat.S_ISREG, "a file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def _kept_suffix(name: str) -> str:
    """The last one or two short suffixes of ``name`` (``.nii.gz``, ``.seg.nrrd``, ``.dcm``): writers that
    choose the encoding by the extension (nibabel: ``.gz``) see it on the temporary too."""
    kept = ""
    for _ in range(2):
        m = _SUFFIX.search(name)
        if m is None or m.start() == 0:
            break
        kept, name = m.group() + kept, name[: m.start()]
    return kept


def _new_temp(parent: Path, target: Path, kind: str = "tmp") -> Path:
    """Create (exclusively, mode 0666 minus the umask) and return a fresh temporary file in ``parent``."""
    for _ in range(100):
        tmp = parent / f"{TEMP_PREFIX}{_token()}-{target_tag(target.name)}.{kind}{_kept_suffix(target.name)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write in {str(parent)!r}: {_reason(exc)}") from None
        os.close(fd)
        return tmp
    raise OutputError(f"cannot create a temporary file in {str(parent)!r}")  # pragma: no cover


def _reason(exc: BaseException) -> str:
    """An OSError's reason in one line (its strerror, else its text)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def check_output_dir(directory: str | os.PathLike[str], *, create: bool = False) -> Path:
    """Return ``directory`` as a Path after checking it exists (or creating it) and is writable.

    Parameters
    ----------
    directory
        The output folder; an empty string is refused (never the current folder).
    create
        Create it (and its parents) when it does not exist.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OutputError
        Empty, missing (without ``create``), not a folder, not writable, or cannot be created.
    """
    if os.fspath(directory) == "":
        raise OutputError("the output folder is an empty string; give a folder name (use '.' for the current one)")
    d = Path(directory)
    try:
        st = os.stat(d)
    except FileNotFoundError:
        if os.path.islink(d):
            raise OutputError(f"output folder {str(d)!r} is a symbolic link to a missing folder") from None
        if not create:
            raise OutputError(f"output folder {str(d)!r} does not exist; create it first") from None
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {str(d)!r}: {_reason(exc)}") from None
        st = os.stat(d)
    except OSError as exc:  # ENOTDIR (a path through a file), ENAMETOOLONG, ELOOP, EACCES
        if exc.errno == errno.ENOTDIR:
            raise OutputError(f"output folder {str(d)!r} is not a folder: a part of its path is a file") from None
        raise OutputError(f"cannot use output folder {str(d)!r}: {_reason(exc)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(
            f"output path {str(d)!r} is {kind_of(st.st_mode)}, not a folder; write the output into a folder"
        )
    if not os.access(d, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {str(d)!r} is not writable; fix its permissions or choose another folder")
    return d


def _refuse_empty(output: str | os.PathLike[str]) -> None:
    """An empty string is no file name (``Path("")`` would be the current folder)."""
    if os.fspath(output) == "":
        raise OutputError("the output file name is an empty string; give a file name")


def missing_dirs(directory: str | os.PathLike[str]) -> list[Path]:
    """The folders of ``directory``'s path that do not exist yet, deepest first (what creating it would make).

    Parameters
    ----------
    directory
        A folder path.

    Returns
    -------
    list
        Folders to remove again if the run fails (:class:`OutputSet` ``created``).
    """
    out: list[Path] = []
    d = Path(os.path.abspath(directory))
    while not os.path.lexists(d) and d != d.parent:
        out.append(d)
        d = d.parent
    return out


def _resolved_target(target: Path, example: str = "") -> Path:
    """The file a write to ``target`` replaces (a symbolic link is followed), after checking it can be one.

    Raises
    ------
    OutputError
        Empty, a folder, a device / FIFO / socket, a dangling link, or an unusable folder.
    """
    if target.name in ("", ".", ".."):
        raise OutputError(f"output {str(target)!r} is a folder; give a file name{example}")
    if os.path.islink(target):
        real = Path(os.path.realpath(target))
        if not os.path.lexists(real) or os.path.islink(real):
            raise OutputError(
                f"output {str(target)!r} is a symbolic link to {str(real)!r}, which does not exist; "
                "remove the link or give another name"
            )
        target = real
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise OutputError(f"output {str(target)!r}: a part of its folder path is a file, not a folder") from None
        raise OutputError(f"cannot write {str(target)!r}: {_reason(exc)}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"output {str(target)!r} is a folder; give a file name{example}")
    if st is not None and not stat.S_ISREG(st.st_mode):
        # a device, FIFO or socket: the rename would replace it with a regular file
        raise OutputError(f"output {str(target)!r} is {kind_of(st.st_mode)}, not a regular file; give a file name")
    check_output_dir(target.parent)
    return target


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(device, inode) of the regular file ``path`` (links followed), None for anything else."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_not_input(
    outputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    what: str = "an input file",
) -> None:
    """Refuse ``outputs`` that are (through symbolic links, ``..`` or hard links) one of the ``inputs`` files.

    Parameters
    ----------
    outputs
        The file(s) about to be written; those that do not exist yet are fine.
    inputs
        Files the run reads (folders among them are skipped: the callers check a series' files).
    what
        What the inputs are, for the message ("a file of the source series").

    Raises
    ------
    OutputError
        An output would replace one of them; the message names both.
    """
    outs = [outputs] if isinstance(outputs, (str, os.PathLike)) else list(outputs)
    existing = {ident: out for out in outs if (ident := _identity(out)) is not None}
    if not existing:
        return
    for source in inputs:
        out = existing.get(_identity(source))  # type: ignore[arg-type]
        if out is not None:
            named = "" if os.path.abspath(source) == os.path.abspath(out) else f" ({str(source)!r})"
            raise OutputError(
                f"output {str(out)!r} is also {what}{named}; writing it would replace that file - "
                "give another output name"
            )


def check_output_target(output: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Fail before any work when the output file cannot be created (the write checks again)
    or would replace one of the ``inputs`` (files; folders are checked against the series after reading it).

    Raises
    ------
    OutputError
        An unusable output path, or one of the input files.
    """
    _refuse_empty(output)
    target = Path(output)
    _resolved_target(target, f" such as {str(target / 'seg.dcm')!r}")
    check_not_input(target, inputs)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``target`` on success.

    The temporary has a short name keeping the target's format suffixes (``.nii.gz``), so
    format writers that look at the extension behave as they would for the target.  A
    symbolic link as ``target`` is written through (the link stays).

    Raises
    ------
    OutputError
        The target cannot be written (an OSError while writing is reported naming the target).
    """
    _refuse_empty(target)
    target = _resolved_target(Path(target))
    tmp = _new_temp(target.parent, target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, LabelmapError):
            # a failed write (disk full, file too large, I/O error) names the target, not the temp file
            raise OutputError(f"cannot write {str(target)!r}: {_reason(exc)}") from exc
        raise


class OutputSet:
    """A group of output files written all or nothing.

    ``stage(target)`` gives a temporary path to write in place of ``target``; leaving the
    ``with`` block normally renames every temporary onto its target (:meth:`commit`); an
    exception removes them (:meth:`abort`) and leaves every target as it was, and removes the
    ``created`` folders (made for this run, deepest first) again when they are empty.  When a rename
    fails half-way through the commit, the files already replaced are restored from hard-link
    backups of the old ones (taken before the first rename), so the folder still ends up as it was.

    Examples
    --------
    >>> with OutputSet() as out:                         # doctest: +SKIP
    ...     write_nrrd(out.stage(folder / "1.nrrd"), array, geometry)
    ...     write_json(out.stage(folder / "meta.json"))
    """

    def __init__(self, created: Sequence[Path] = ()) -> None:
        self._staged: dict[Path, Path] = {}  # target -> temporary
        self._created = list(created)  # folders made for this run (deepest first): removed on abort if empty
        self._closed = False

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.commit()
            return
        self.abort()
        if isinstance(exc, OSError) and not isinstance(exc, LabelmapError):
            target = self._target_of(exc)
            if target is not None:  # a write failed; other OS errors (reading an input) pass as they are
                raise OutputError(f"cannot write {str(target)!r}: {_reason(exc)}") from exc
        if isinstance(exc, LabelmapError) and exc.path is None:
            # a writer named a temporary: name its target instead
            fixed = self._untemp(exc.what)
            if fixed != exc.what:
                exc.what = fixed
                exc.args = (fixed,)

    @property
    def targets(self) -> list[Path]:
        """The staged targets, in staging order."""
        return list(self._staged)

    def stage(self, target: str | os.PathLike[str]) -> Path:
        """Check ``target`` can be written and return a new temporary file to write instead.

        Raises
        ------
        OutputError
            The target is unusable (a folder, a device, a dangling link, an unwritable folder), or
            names the same file as an earlier target of this set.
        """
        if self._closed:
            raise RuntimeError("this OutputSet was already committed or aborted")
        _refuse_empty(target)
        given = Path(target)
        real = _resolved_target(given)
        for other in self._staged:
            if (
                other == real
                or (os.path.normcase(os.path.abspath(other)) == os.path.normcase(os.path.abspath(real)))
                or (os.path.exists(real) and _same_file(other, real))
            ):
                raise OutputError(f"two outputs of this run are named {str(given)!r}; give them different names")
        tmp = _new_temp(real.parent, real)
        self._staged[real] = tmp
        return tmp

    def commit(self) -> None:
        """Rename every temporary onto its target; on a failure restore every target and remove the temporaries.

        Raises
        ------
        OutputError
            A rename failed (nothing is changed then).
        """
        if self._closed:
            return
        self._closed = True
        backups: dict[Path, Path] = {}
        existed: set[Path] = set()
        done: list[Path] = []
        try:
            for target in self._staged:
                if os.path.lexists(target):
                    existed.add(target)
                    backup = self._backup(target)
                    if backup is not None:
                        backups[target] = backup
            for target, tmp in self._staged.items():
                os.replace(tmp, target)
                done.append(target)
        except BaseException as exc:
            for target in reversed(done):
                with contextlib.suppress(OSError):
                    if target in backups:
                        os.replace(backups.pop(target), target)
                    elif target not in existed:
                        target.unlink()
            self._remove([*self._staged.values(), *backups.values()])
            if isinstance(exc, LabelmapError) or not isinstance(exc, OSError):
                raise
            failed = self._target_of(exc)
            where = repr(str(failed)) if failed is not None else ", ".join(repr(str(t)) for t in self._staged)
            raise OutputError(f"cannot write {where}: {_reason(exc)}") from exc
        self._remove(backups.values())

    def abort(self) -> None:
        """Remove every temporary; the targets are left as they were."""
        if not self._closed:
            self._closed = True
            self._remove(self._staged.values())
            for folder in self._created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: never a folder that holds anything

    # ---------------------------------------------------------------- internals
    @staticmethod
    def _backup(target: Path) -> Path | None:
        """A hard link to ``target``'s current file (restored if the commit fails); None where the
        file system has no hard links (the commit is then all-or-nothing up to a failing rename)."""
        for _ in range(100):
            backup = target.parent / f"{TEMP_PREFIX}{_token()}-{target_tag(target.name)}.old"
            try:
                os.link(target, backup, follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError:
                return None
            return backup
        return None  # pragma: no cover

    @staticmethod
    def _remove(paths: Iterable[Path]) -> None:
        for p in list(paths):
            with contextlib.suppress(OSError):
                p.unlink()

    def _untemp(self, text: str) -> str:
        for target, tmp in self._staged.items():
            text = text.replace(str(tmp), str(target))
        return text

    def _target_of(self, exc: OSError) -> Path | None:
        """The target an OSError is about: by its file names, else (no name: a failed ``write``) the
        target staged last; None when it names some other file."""
        names = [os.fspath(n) for n in (exc.filename, exc.filename2) if n is not None]
        for name in names:
            for target, tmp in self._staged.items():
                if name in (str(tmp), str(target)):
                    return target
        if names or not self._staged:
            return None
        return list(self._staged)[-1]
