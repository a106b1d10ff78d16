"""Hand a SEG that labelmap read over to highdicom, as a ``highdicom.seg.Segmentation``.

The conversion is highdicom's own reader (``segread`` / ``Segmentation.from_dataset``) on what the
result was read from (its ``read_from``: the file, or the pydicom Dataset given), so no pixel is
decoded twice and highdicom sees the SEG exactly as stored.  What highdicom cannot read is refused
here first, in one line (a transfer syntax its pydicom has no decoder for, a codec package that is
missing), instead of a traceback from inside highdicom later.  highdicom is optional and imported
only when called.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from labelmap.errors import InputError, MissingDependencyError, SegFormatError, UnsupportedError
from labelmap.model import SlideLabelImage
from labelmap.seg.types import SEG_SOP_CLASSES

if TYPE_CHECKING:
    from highdicom.seg import Segmentation

__all__ = ["to_highdicom", "require_highdicom"]

#: Transfer Syntax UID (0002,0010): named in the errors about the SEG's syntax.
_TS_TAG = 0x00020010
_DEFLATED_IMAGE_FRAME = "1.2.840.10008.1.2.8.1"
_REWRITE = "write the SEG with compression 'rle' or 'none' for highdicom (itk2seg --compression rle)"


def require_highdicom() -> Any:
    """The ``highdicom`` module, or a :class:`MissingDependencyError` naming the pip line."""
    try:
        import highdicom
    except ImportError:
        raise MissingDependencyError(
            "continuing in highdicom needs the highdicom package: pip install highdicom "
            "(or pip install 'labelmap[highdicom]')"
        ) from None
    return highdicom


def to_highdicom(seg: Any, *, lazy_frame_retrieval: bool = False) -> Segmentation:
    """The SEG as a ``highdicom.seg.Segmentation``, read by highdicom from the same file or Dataset.

    Parameters
    ----------
    seg
        What :func:`labelmap.read_seg` returned (a LABELMAP / BINARY / FRACTIONAL result, or a
        slide SEG's :class:`~labelmap.model.SlideLabelImage`): highdicom reads its ``read_from``;
        or a SEG file path; or a pydicom Dataset (copied, so the one given is left unchanged).
    lazy_frame_retrieval
        highdicom's ``segread`` option for files: read frames from the file only when asked for
        (for a big slide SEG).  Ignored for a Dataset.

    Returns
    -------
    highdicom.seg.Segmentation
        The SEG as stored: its own grid and segments, whatever ``reference`` the read used.

    Raises
    ------
    MissingDependencyError
        highdicom (or the pydicom codec plugin its Transfer Syntax needs) is not installed.
    InputError
        ``seg`` is none of the above, was not read from a SEG, or is a Dataset without a
        Transfer Syntax UID in its file meta.
    SegFormatError
        The file is missing, a folder, or not DICOM.
    UnsupportedError
        The installed highdicom / pydicom cannot read this SEG (e.g. Deflated Image Frame
        Compression before pydicom 3.1); the message names the version and what to do.
    """
    origin = _origin(seg)
    highdicom = require_highdicom()
    import pydicom

    if isinstance(origin, pydicom.Dataset):
        name = str(getattr(origin, "filename", None) or "SEG dataset")
        meta = getattr(origin, "file_meta", None)
        uid = None if meta is None else meta.get("TransferSyntaxUID")
        if not uid:
            raise InputError(
                "the Dataset has no file_meta.TransferSyntaxUID, which highdicom needs to read its Pixel Data: "
                "set it (pydicom.uid.ExplicitVRLittleEndian for native frames)",
                keyword="TransferSyntaxUID",
                tag=_TS_TAG,
            )
        _check_sop_class(origin.get("SOPClassUID"), name)
        _check_syntax(str(uid), name, highdicom, pydicom)
        return _load(lambda: highdicom.seg.Segmentation.from_dataset(origin, copy=True), name, highdicom)
    name = os.fspath(origin)
    meta = _file_meta(name, pydicom)
    _check_sop_class(meta.get("MediaStorageSOPClassUID"), name)
    uid = meta.get("TransferSyntaxUID")
    _check_syntax(str(uid) if uid else None, name, highdicom, pydicom)
    return _load(lambda: highdicom.seg.segread(name, lazy_frame_retrieval=lazy_frame_retrieval), name, highdicom)


def _origin(seg: Any) -> Any:
    """The path or Dataset to hand to highdicom: ``seg`` itself, or the ``read_from`` of a read result."""
    if isinstance(seg, (str, os.PathLike)):
        return seg
    pydicom = sys.modules.get("pydicom")  # not loaded: ``seg`` is no Dataset
    if pydicom is not None and isinstance(seg, pydicom.Dataset):
        return seg  # a highdicom Segmentation too (a Dataset subclass): highdicom copies it
    if isinstance(seg, SlideLabelImage) or hasattr(seg, "volume_of"):
        origin = getattr(seg, "read_from", None)
        if origin is None:
            raise InputError(
                f"this {type(seg).__name__} was not read from a SEG, so there is nothing for highdicom to read: "
                "write it with labelmap.write_seg and read that file with highdicom.seg.segread"
            )
        return origin
    raise InputError(
        f"to_highdicom takes what labelmap.read_seg returns, a SEG file path or a pydicom Dataset, "
        f"not {type(seg).__name__}"
    )


def _file_meta(name: str, pydicom: Any) -> Any:
    """A file's File Meta Information (what highdicom would read first), as a pydicom Dataset."""
    if not os.path.exists(name):
        raise SegFormatError("file not found", path=name)
    if os.path.isdir(name):
        raise SegFormatError("is a folder, expected a DICOM SEG file", path=name)
    try:
        meta = pydicom.filereader.read_file_meta_info(name)
    except pydicom.errors.InvalidDicomError:
        raise SegFormatError("not a DICOM file (no 'DICM' prefix and File Meta Information)", path=name) from None
    except OSError as exc:
        raise SegFormatError(f"cannot be read: {exc.strerror or exc}", path=name) from None
    return meta


def _check_sop_class(sop: Any, name: str) -> None:
    """Refuse what is not a Segmentation before highdicom does (its message does not name the class)."""
    if sop and str(sop) not in SEG_SOP_CLASSES:
        raise SegFormatError(
            f"SOP Class UID {sop} is not a Segmentation ({', '.join(f'{v} {k}' for k, v in SEG_SOP_CLASSES.items())})",
            path=name,
            keyword="SOPClassUID",
        )


def _check_syntax(uid: str | None, name: str, highdicom: Any, pydicom: Any) -> None:
    """Refuse a Transfer Syntax the installed pydicom cannot decode (highdicom decodes frames with it)."""
    if uid is None:
        return  # highdicom's own error says what is missing
    from pydicom.pixels import get_decoder

    from labelmap.dicom.uids import title_of

    versions = f"highdicom {highdicom.__version__} (pydicom {pydicom.__version__})"
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError):
        later = " (pydicom 3.1 adds a decoder)" if uid == _DEFLATED_IMAGE_FRAME else ""
        raise UnsupportedError(
            f"{versions} cannot decode {title_of(uid)} ({uid}) frames{later}: {_REWRITE}",
            path=name,
            keyword="TransferSyntaxUID",
            tag=_TS_TAG,
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)  # pydicom's "plugin - requires package>=x"
        raise MissingDependencyError(
            f"highdicom decodes {title_of(uid)} frames with a pydicom plugin, and none is installed ({missing}): "
            "pip install 'labelmap[codecs]'",
            path=name,
            keyword="TransferSyntaxUID",
            tag=_TS_TAG,
        )


def _load(read: Any, name: str, highdicom: Any) -> Segmentation:
    """``read()``, with anything highdicom raises turned into one line naming its version."""
    try:
        return read()
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:300]
        raise UnsupportedError(
            f"highdicom {highdicom.__version__} cannot load this SEG ({type(exc).__name__}: {reason}); "
            "labelmap-convert validate lists what in it departs from the standard",
            path=name,
        ) from None
