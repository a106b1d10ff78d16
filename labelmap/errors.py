"""One error tree for the whole package.

Every error a user can cause is a :class:`LabelmapError`; each subclass also
inherits the builtin that fits, so ``except ValueError`` keeps working.  The CLI
turns these into a one-line message and exit code 1; anything else is a bug.

Errors carry their facts as fields (``path``, ``keyword``, ``tag``, ``frame``,
``segment``, ``offset``, ``hint``) instead of baking them into a string that
other code would have to parse: validators and the CLI read the fields, and
``str(error)`` puts them together for people.  ``hint`` is a code (see
:data:`HINTS`) that a front end turns into the advice its own flags spell: the
native CLI says ``--renumber`` where the dcmqi-compatible one says
``leave out --useLabelIDAsSegmentNumber``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "HINTS",
    "LabelmapError",
    "InputError",
    "ImageFormatError",
    "GeometryError",
    "SliceMatchError",
    "MetadataError",
    "DicomSeriesError",
    "DicomFormatError",
    "SegFormatError",
    "OverlapError",
    "UnsupportedError",
    "MissingDependencyError",
    "OutputError",
    "ResourceError",
    "ManifestError",
    "ClusterError",
]

#: Hint codes and the front-end-neutral advice each stands for (the API's wording; the
#: CLI replaces it with its own flags).
HINTS: dict[str, str] = {
    "renumber": "number the segments 1..N instead of by label value",
    "keep_empty_slices": "keep the empty slices, or write a LABELMAP",
    "type_fractional": "write a FRACTIONAL segmentation for probability maps",
    "type_binary": "write a classic BINARY segmentation (or let the type be chosen automatically)",
    "tolerance": "a larger slice-matching tolerance accepts small differences",
    "palette_labelmap_only": "a palette applies to LABELMAP only",
    "metadata": "give one; only a Slicer .seg.nrrd carries its own",
    "keep_absent_segments": "keep them as empty segments with keep_absent_segments",
}


class LabelmapError(Exception):
    """Base class of every error caused by input, options or environment.

    Parameters
    ----------
    what
        What is wrong, in one sentence, without the location fields below.
    path
        The file (or folder) concerned.
    keyword, tag
        The DICOM attribute concerned (keyword such as ``"Rows"``; tag as an int).
    frame, segment
        The frame (1-based, as DICOM counts) or Segment Number concerned.
    offset
        Byte offset in ``path`` where the damage was found.
    hint
        A key of :data:`HINTS`: what the user can do about it.
    """

    def __init__(
        self,
        what: str = "",
        *,
        path: str | os.PathLike[str] | None = None,
        keyword: str | None = None,
        tag: int | None = None,
        frame: int | None = None,
        segment: int | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.path = None if path is None else os.fspath(path)
        self.keyword = keyword
        self.tag = tag
        self.frame = frame
        self.segment = segment
        self.offset = offset
        self.hint = hint

    def fields(self) -> dict[str, Any]:
        """The location fields that are set, for reports and JSON."""
        names = ("path", "keyword", "tag", "frame", "segment", "offset", "hint")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def message(self, hint_text: str | None = None) -> str:
        """The one-line message; ``hint_text`` replaces the API wording of :attr:`hint`."""
        text = self.what
        where = []
        if self.keyword is not None or self.tag is not None:
            tag = "" if self.tag is None else f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})"
            where.append(" ".join(p for p in (self.keyword, tag) if p))
        for label, value in (("frame", self.frame), ("segment", self.segment), ("byte", self.offset)):
            if value is not None:
                where.append(f"{label} {value}")
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.path is not None:
            text = f"{self.path}: {text}"
        if self.hint is not None:
            advice = hint_text if hint_text is not None else HINTS.get(self.hint, self.hint)
            text = f"{text} ({advice})"
        return text

    def __str__(self) -> str:
        return self.message()


class InputError(LabelmapError, ValueError):
    """An option or argument value that cannot be used."""


class ImageFormatError(LabelmapError, ValueError):
    """A NRRD / NIfTI file that cannot be read or holds unusable data."""


class GeometryError(LabelmapError, ValueError):
    """Grids that do not line up (label vs. source series, label vs. label)."""


class SliceMatchError(GeometryError):
    """A label slice has no source image at its position (within the tolerance)."""


class MetadataError(LabelmapError, ValueError):
    """A dcmqi metadata JSON that is malformed or does not match the labels."""


class DicomSeriesError(LabelmapError, ValueError):
    """A source DICOM series that is missing, ambiguous or inconsistent."""


class DicomFormatError(LabelmapError, ValueError):
    """A DICOM file that is damaged or not DICOM at all (any IOD)."""


class SegFormatError(DicomFormatError):
    """A DICOM SEG file that is damaged or breaks a rule of the Segmentation IOD we rely on."""


class OverlapError(LabelmapError, ValueError):
    """Segments overlap where the chosen segmentation type forbids it."""


class UnsupportedError(LabelmapError, NotImplementedError):
    """A valid request this version does not implement (yet)."""


class MissingDependencyError(LabelmapError, ImportError):
    """An optional package needed for this request is not installed."""


class OutputError(LabelmapError, OSError):
    """The output location cannot be written."""


class ResourceError(LabelmapError, ValueError):
    """The input would need more memory (or time) than this machine or the configured limit allows."""


class ManifestError(LabelmapError, ValueError):
    """A batch manifest (or discovery template) that cannot be run: a bad column, cell, row or option."""


class ClusterError(LabelmapError, RuntimeError):
    """The batch's cluster cannot be started or reached, or fails its preflight (versions, shared folder)."""
