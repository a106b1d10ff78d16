"""One error tree for the whole package.

Every error a user can cause is a :class:`LabelmapError`; each subclass also
inherits the builtin that fits, so ``except ValueError`` keeps working.  The CLI
turns these into a one-line message and exit code 1; anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "LabelmapError",
    "InputError",
    "ImageFormatError",
    "GeometryError",
    "MetadataError",
    "DicomSeriesError",
    "SegFormatError",
    "OverlapError",
    "UnsupportedError",
    "MissingDependencyError",
    "OutputError",
]


class LabelmapError(Exception):
    """Base class of every error caused by input, options or environment."""


class InputError(LabelmapError, ValueError):
    """An option or argument value that cannot be used."""


class ImageFormatError(LabelmapError, ValueError):
    """A NRRD / NIfTI file that cannot be read or holds unusable data."""


class GeometryError(LabelmapError, ValueError):
    """Grids that do not line up (label vs. source series, label vs. label)."""


class MetadataError(LabelmapError, ValueError):
    """A dcmqi metadata JSON that is malformed or does not match the labels."""


class DicomSeriesError(LabelmapError, ValueError):
    """A source DICOM series that is missing, ambiguous or inconsistent."""


class SegFormatError(LabelmapError, ValueError):
    """A DICOM SEG file that is damaged or breaks a rule we rely on."""


class OverlapError(LabelmapError, ValueError):
    """Segments overlap where the chosen segmentation type forbids it."""


class UnsupportedError(LabelmapError, NotImplementedError):
    """A valid request this version does not implement (yet)."""


class MissingDependencyError(LabelmapError, ImportError):
    """An optional package needed for this request is not installed."""


class OutputError(LabelmapError, OSError):
    """The output location cannot be written."""
