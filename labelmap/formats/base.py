"""What a label-file format is (:class:`LabelFormat`), what it reads into (:class:`LabelSet`),
and the one way a failed read is worded (:func:`read_error`, :func:`describe_read_error`)."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from labelmap.errors import ImageFormatError, LabelmapError, OutputError
from labelmap.model import Geometry, LabelVolume, SegmentDescription

__all__ = ["LabelSet", "LabelFormat", "read_error", "describe_read_error", "checked_array", "native", "output_errors"]

PathLike = str | os.PathLike[str]
#: Segment descriptions of a file's layers, one list per layer (label_id = the voxel value in that layer).
LayerSegments = Sequence[Sequence[SegmentDescription]]


@dataclass(frozen=True)
class LabelSet:
    """What a label file holds: its label volumes (a file with layers has several, all on one grid).

    ``described``: the file carries its own segment descriptions (``volumes[m].segments``), as a
    3D Slicer ``.seg.nrrd`` does; a plain image's volumes describe only what the caller gave them.
    """

    volumes: tuple[LabelVolume, ...]
    described: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "volumes", tuple(self.volumes))

    @classmethod
    def of(cls, array: np.ndarray, geometry: Geometry, segments: LayerSegments | None) -> LabelSet:
        """One plain image; ``segments`` (one list, for its one layer) describe its values."""
        if segments is not None and len(segments) != 1:
            raise ValueError(f"a plain label image has one layer, got descriptions of {len(segments)}")
        return cls((LabelVolume(array, geometry, tuple(segments[0]) if segments else ()),))

    def only(self) -> LabelVolume:
        """The one volume of a single-layer set (for formats that store one)."""
        if len(self.volumes) != 1:
            raise ValueError(f"this format stores one label volume, got {len(self.volumes)}")
        return self.volumes[0]


class LabelFormat(ABC):
    """One label-file format: how its files are named, recognised, read and written.

    Formats are registered, in order, in :data:`labelmap.formats.FORMATS`.
    """

    #: what ``--format`` calls it, and other accepted spellings
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    #: what its content is called ("NRRD") and what a read error calls the file ("NRRD file")
    kind: ClassVar[str]
    title: ClassVar[str]
    #: file-name endings, matched case-insensitively (the longest match wins across formats);
    #: the first names a renamed file, ``output_suffix`` a written one
    suffixes: ClassVar[tuple[str, ...]]
    output_suffix: ClassVar[str]
    #: its files describe their own segments (and may hold several layers)
    describes_segments: ClassVar[bool] = False
    #: a plain image's reader ``(path, *, narrow) -> (array, geometry)`` and writer
    #: ``(path, array, geometry, *, compress)``, as staticmethods (formats with layers override read / write)
    read_image: ClassVar[Callable[..., tuple[np.ndarray, Geometry]]]
    write_image: ClassVar[Callable[..., None]]

    @abstractmethod
    def sniff(self, head: bytes) -> bool:
        """True when ``head`` (a file's first bytes, decompressed) starts a file of this format."""

    def read(
        self, path: PathLike, *, narrow: bool = False, segments: LayerSegments | None = None, threads: int | None = None
    ) -> LabelSet:
        """Read ``path`` into volumes in LPS, arrays ``[k, j, i]``.

        ``narrow``: integer labels all in 0..255 may come back as uint8 whatever the file's type.
        ``segments``: descriptions of the file's layers, one list per layer (label_id = voxel value
        in that layer); where the file describes its own, these replace or add to them.
        ``threads``: for the label scans of formats that describe their segments (None: every core).

        Raises
        ------
        ImageFormatError
            The file cannot be read or holds unusable data.
        """
        return LabelSet.of(*self.read_image(path, narrow=narrow), segments)

    def write(self, path: PathLike, labels: LabelSet, *, compress: bool = True, threads: int | None = None) -> None:
        """Write ``labels`` to ``path`` atomically (``compress``: gzip where the format chooses;
        ``threads`` as for :meth:`read`).

        Raises
        ------
        OutputError
            The file cannot be written.
        """
        volume = labels.only()
        self.write_image(path, volume.array, volume.geometry, compress=compress)

    def fail(self, path: object, reason: str) -> ImageFormatError:
        """The error for a file of this format that cannot be read, and why."""
        return read_error(self.title, path, reason)


def read_error(title: str, path: object, reason: str) -> ImageFormatError:
    """``cannot read <title> '<path>': <reason>`` as an :class:`ImageFormatError`."""
    return ImageFormatError(f"cannot read {title} {str(path)!r}: {reason}")


def _is(exc: BaseException, module: str, name: str) -> bool:
    """``exc`` is an instance of ``module.name`` (never imports it: an unloaded module raised nothing)."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


#: The pixel types the image writers store.
WRITABLE_DTYPES = frozenset(map(np.dtype, ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8")))


def checked_array(array: np.ndarray, geometry: Geometry, where: str) -> np.ndarray:
    """``array`` ready to store on ``geometry`` (bool as uint8), or why not.

    Raises
    ------
    ValueError
        The shapes differ (a programming error).
    ImageFormatError
        The pixel type cannot be stored (``where`` names the target, e.g. "a NIfTI file").
    """
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.ndim != 3 or tuple(array.shape) != tuple(geometry.shape):
        raise ValueError(f"array shape {array.shape} does not match geometry shape {geometry.shape}")
    if array.dtype.newbyteorder("=") not in WRITABLE_DTYPES:
        raise ImageFormatError(f"cannot store pixel type {array.dtype} in {where}")
    return array


def native(array: np.ndarray) -> np.ndarray:
    """``array`` in native byte order, C-contiguous and writable (copied only when needed)."""
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


@contextmanager
def output_errors(target: PathLike) -> Iterator[None]:
    """Turn an OSError while writing ``target`` into an :class:`OutputError` naming it."""
    try:
        yield
    except LabelmapError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None


_NOT_NIFTI = "not a NIfTI file, or its header is damaged (label images must be NRRD or NIfTI-1/2)"


_TYPED_REASONS = (
    (PermissionError, "permission denied"),
    (IsADirectoryError, "is a folder, not a file"),
    (UnicodeDecodeError, "the header is not text - not a NRRD file or a damaged header"),
)


def describe_read_error(exc: BaseException) -> str:
    """Why a reader (ours, pynrrd, nibabel, zlib, the OS) failed, in the user's terms.

    Typed errors are classified first (OS errors, pynrrd's ``NRRDError``, nibabel's
    ``ImageFileError`` / ``HeaderDataError``), then the message text of the rest.
    """
    import zlib

    msg = str(exc).strip() or type(exc).__name__
    low = msg.lower()
    if isinstance(exc, FileNotFoundError):
        return f"its detached data file {str(exc.filename or msg)!r} was not found"
    for kind, why in _TYPED_REASONS:
        if isinstance(exc, kind):
            return why
    if "not a gzip" in low or "bad gzip" in low:
        return f"the file ends in .gz but is not gzip data ({msg})"
    if "empty file" in low:
        return "the file is empty"
    if _is(exc, "nrrd.errors", "NRRDError"):
        if "missing required field" in low:
            return f"the header is incomplete ({msg}); the file is truncated or damaged - write or copy it again"
        if "magic" in low:
            return "not a NRRD file (the first line is not a 'NRRD000x' magic line)"
    if _is(exc, "nibabel.filebasedimages", "ImageFileError") or _is(exc, "nibabel.spatialimages", "HeaderDataError"):
        return _NOT_NIFTI
    if isinstance(exc, (zlib.error, EOFError)) or any(
        s in low for s in ("compressed", "end-of-stream", "end marker", "gzip")
    ):
        return f"compressed data is damaged or truncated ({msg}); the file is incomplete - write or copy it again"
    if "expected" in low and "bytes" in low:
        return f"the data is shorter than the header says ({msg}); the file is truncated - write or copy it again"
    if any(s in low for s in ("size of the data", "reshape", "buffer", "fewer", "requested", "mmap")):
        return f"the data is shorter or longer than the header says ({msg}); the file is truncated? - write or copy it again"  # noqa: E501
    if "sizeof_hdr" in low or "cannot work out file type" in low:
        return _NOT_NIFTI
    return f"damaged or unsupported file ({type(exc).__name__}: {msg})"
