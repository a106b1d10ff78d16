"""Label-image files: the registry of formats, chosen by file name, and reading / writing through it.

Each format (:class:`~labelmap.formats.base.LabelFormat`) is one module registered in
:data:`FORMATS`.  A file's name picks its format (the longest matching suffix, any case);
when a read fails, the formats' ``sniff`` look at the content to say what the file really
is ("rename it to end in .nii").  Arrays are indexed ``[k, j, i]``; geometry is LPS.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelmap.errors import ImageFormatError, InputError

if TYPE_CHECKING:
    from labelmap.formats import nifti as nifti
    from labelmap.formats import nrrd as nrrd
    from labelmap.formats import segnrrd as segnrrd
    from labelmap.formats.base import LabelFormat, LabelSet, LayerSegments, PathLike

__all__ = [
    "FORMATS",
    "LabelFormat",
    "LabelSet",
    "find_format",
    "format_for",
    "output_format",
    "read_labels",
    "write_labels",
]

#: The formats, in the order a misnamed file's content is matched and ``--format`` lists them
#: (``FORMATS``, built on first use: the format modules import numpy, which the numpy-free modules of
#: this package, :mod:`~labelmap.formats.dcmqi_json` and :mod:`~labelmap.formats.nrrd_text`, must not pay).
FORMATS: tuple[LabelFormat, ...]
_SUBMODULES = ("nifti", "nrrd", "segnrrd")
_BASE_NAMES = ("LabelFormat", "LabelSet", "LayerSegments", "PathLike")


def _formats() -> tuple[LabelFormat, ...]:
    """:data:`FORMATS`, importing the format modules the first time."""
    found = globals().get("FORMATS")
    if found is None:
        from labelmap.formats import nifti, nrrd, segnrrd

        found = globals()["FORMATS"] = (nrrd.FORMAT, nifti.FORMAT, segnrrd.FORMAT)
    return found


def __getattr__(name: str) -> Any:
    """``FORMATS``, the format modules and :mod:`~labelmap.formats.base`'s names, imported on first use."""
    if name == "FORMATS":
        return _formats()
    if name in _SUBMODULES:
        return importlib.import_module(f"labelmap.formats.{name}")
    if name in _BASE_NAMES:
        value = getattr(importlib.import_module("labelmap.formats.base"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'labelmap.formats' has no attribute {name!r}")


_HEAD = 540  # bytes enough for every format's sniff (a NIfTI-2 header)


#: Each format module in :data:`FORMATS`' order with its FORMAT's name, aliases and suffixes (tests hold them to
#: the modules'), so a file name or ``--format`` picks a format without importing the other format modules.
_TABLE: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("nrrd", "nrrd", (), (".nrrd", ".nhdr")),
    ("nifti", "nifti", ("nii", "nii.gz"), (".nii", ".nii.gz")),
    ("segnrrd", "segnrrd", ("seg.nrrd",), (".seg.nrrd", ".seg.nhdr")),
)


def _format(module: str) -> LabelFormat:
    found: LabelFormat = importlib.import_module(f"labelmap.formats.{module}").FORMAT
    return found


def find_format(path: PathLike) -> LabelFormat | None:
    """The format whose suffix ends ``path``'s name (the longest such suffix), or None."""
    name = Path(path).name.lower()
    hits = [(len(s), n) for n, (_, _, _, suffixes) in enumerate(_TABLE) for s in suffixes if name.endswith(s)]
    return _format(_TABLE[max(hits)[1]][0]) if hits else None


def format_for(path: PathLike) -> LabelFormat:
    """The format of ``path`` by its name.

    Raises
    ------
    ImageFormatError
        No format claims the name; the message lists the suffixes that do.
    """
    found = find_format(path)
    if found is None:
        every = [s for f in _formats() for s in f.suffixes]
        shortest = [s for s in every if not any(t != s and s.endswith(t) for t in every)]
        raise ImageFormatError(
            f"cannot tell the image format of {str(path)!r} from its extension; "
            f"supported extensions: {', '.join(shortest)}"
        )
    return found


def output_format(name: str) -> LabelFormat:
    """The format ``--format`` names (its name or an alias, any case, a leading dot ignored).

    Raises
    ------
    InputError
        No format has that name.
    """
    key = name.lower().lstrip(".")
    for module, fmt_name, aliases, _ in _TABLE:
        if key == fmt_name or key in aliases:
            return _format(module)
    names = [row[1] for row in _TABLE]
    raise InputError(f"unknown output format {name!r}; use {', '.join(names[:-1])} or {names[-1]}")


def read_labels(
    path: PathLike, *, narrow: bool = False, segments: LayerSegments | None = None, threads: int | None = None
) -> LabelSet:
    """Read a label file in the format its name says.

    Parameters
    ----------
    path
        The file.
    narrow
        Integer labels all in 0..255 may come back as uint8 whatever the file's type.
    segments
        Descriptions of the file's layers, one list per layer (see :meth:`LabelFormat.read`).
    threads
        Threads for the label scans of a file describing its segments (None: every core).

    Returns
    -------
    LabelSet
        The file's volumes (LPS, ``[k, j, i]``).

    Raises
    ------
    ImageFormatError
        The file cannot be read; when its content is another format's (or DICOM, or
        gzip-wrapped, or empty) the message says so instead of the reader's complaint.
    """
    fmt = format_for(path)
    try:
        return fmt.read(path, narrow=narrow, segments=segments, threads=threads)
    except ImageFormatError:
        hint = _misnamed(fmt, path)
        if hint is None:
            raise
        raise fmt.fail(path, hint) from None


def write_labels(path: PathLike, labels: LabelSet, *, compress: bool = True, threads: int | None = None) -> None:
    """Write ``labels`` in the format ``path``'s name says, atomically (``threads``: as for :func:`read_labels`).

    Raises
    ------
    ImageFormatError
        No format claims the name (nothing is written), or it cannot store the data.
    OutputError
        The file cannot be written.
    """
    format_for(path).write(path, labels, compress=compress, threads=threads)


def _misnamed(fmt: LabelFormat, path: PathLike) -> str | None:
    """What ``path`` holds when that is not a ``fmt`` file; None when it is (or nothing is known)."""
    import gzip
    import zlib

    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return None
    if not head:
        return "the file is empty (0 bytes)"
    if fmt.sniff(head):
        return None
    other = next((f for f in _formats() if f.sniff(head)), None)
    if other is not None:
        return f"it is a {other.kind} file; rename it to end in {other.suffixes[0]}"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "it is a DICOM file, not a label image (NRRD or NIfTI)"
    if head[:2] != b"\x1f\x8b":
        return None
    gzipped = [s for s in fmt.suffixes if s.endswith(".gz")]
    try:
        with gzip.open(path, "rb") as gz:
            inner = gz.read(_HEAD)
    except (OSError, EOFError, zlib.error):
        inner = b""
    other = next((f for f in _formats() if f.sniff(inner)), None)
    if other is None:
        return None if gzipped else f"it is gzip-compressed data, not a {fmt.kind} file"
    if other.kind == fmt.kind:
        return None if gzipped else f"it is a {fmt.kind} file compressed as a whole with gzip; gunzip it first"
    other_gz = [s for s in other.suffixes if s.endswith(".gz")]
    if other_gz:
        return f"it is a gzip-compressed {other.kind} file; rename it to end in {other_gz[0]}"
    return f"it is a gzip-compressed {other.kind} file; gunzip it and name it {other.suffixes[0]}"
