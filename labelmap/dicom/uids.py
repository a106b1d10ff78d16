"""Transfer syntaxes (PS3.5 8, 10; PS3.6 A) in one table, and our implementation UIDs.

:data:`SYNTAX_TABLE` is the only place a transfer-syntax UID is spelled: the syntaxes
labelmap writes (their ``name`` is the ``--compression`` choice; ``deflate-frame`` is written
for slides only) and the ones a reader or
validator must recognise but labelmap does not write.  Plain strings and no imports, so
the read path and the CLI can use them without pydicom.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

__all__ = [
    "TransferSyntax",
    "SYNTAX_TABLE",
    "WRITABLE",
    "NATIVE_SYNTAXES",
    "lookup",
    "title_of",
    "is_uid",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "RLE_LOSSLESS",
    "DEFLATED_IMAGE_FRAME",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
]

#: ``lossless``: frames are exact; ``lossy``: they are not; ``maybe-lossy``: the syntax allows
#: either and a reader cannot tell which was used.
Fidelity = Literal["lossless", "lossy", "maybe-lossy"]


class TransferSyntax(NamedTuple):
    """One transfer syntax: how a data set and its Pixel Data are encoded (a named tuple: cheap at start-up)."""

    #: short name: the ``--compression`` choice for the syntaxes labelmap writes
    name: str
    uid: str
    #: PS3.6 name (pydicom's ``UID.name``)
    title: str
    #: Pixel Data holds encapsulated, compressed frames (else native)
    encapsulated: bool = False
    #: the whole data set after the File Meta Information is deflated (not the frames one by one)
    deflated: bool = False
    implicit_vr: bool = False
    big_endian: bool = False
    fidelity: Fidelity = "lossless"
    retired: bool = False
    #: module of :mod:`labelmap.dicom.pixels.codecs` that codes its frames (None: no codec here)
    codec: str | None = None
    #: written for slide SEGs only (few readers know it): not a volume ``--compression`` choice
    slides_only: bool = False

    @property
    def native(self) -> bool:
        return not self.encapsulated

    @property
    def writable(self) -> bool:
        """labelmap writes it: a native current syntax, or one with a frame codec."""
        return self.codec is not None if self.encapsulated else not self.retired


def _encapsulated(
    name: str, uid: str, title: str, fidelity: Fidelity = "lossless", *, coded: bool = False
) -> TransferSyntax:
    """A row for encapsulated frames; ``coded``: labelmap has a codec for them, the module called ``name``."""
    return TransferSyntax(name, uid, title, encapsulated=True, fidelity=fidelity, codec=name if coded else None)


#: Every transfer syntax labelmap knows; the writable ones first, in ``--compression`` order.
SYNTAX_TABLE: tuple[TransferSyntax, ...] = (
    TransferSyntax("none", "1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    TransferSyntax("implicit", "1.2.840.10008.1.2", "Implicit VR Little Endian", implicit_vr=True),
    TransferSyntax("deflate", "1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", deflated=True),
    _encapsulated("rle", "1.2.840.10008.1.2.5", "RLE Lossless", coded=True),
    _encapsulated("jpegls", "1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", coded=True),
    _encapsulated("j2k", "1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", coded=True),
    # recognised, not written
    TransferSyntax("big-endian", "1.2.840.10008.1.2.2", "Explicit VR Big Endian", big_endian=True, retired=True),
    _encapsulated("jpeg-baseline", "1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", "lossy"),
    _encapsulated("jpeg-extended", "1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 and 4)", "lossy"),
    _encapsulated("jpeg-lossless", "1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"),
    _encapsulated(
        "jpeg-lossless-sv1",
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
    ),
    _encapsulated("jpegls-near", "1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", "lossy"),
    _encapsulated("j2k-any", "1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", "maybe-lossy"),
    _encapsulated("htj2k", "1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)"),
    _encapsulated(
        "htj2k-rpcl",
        "1.2.840.10008.1.2.4.202",
        "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
    ),
    _encapsulated("htj2k-any", "1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", "maybe-lossy"),
    # raw DEFLATE per frame (PS3.5 A.4.13, 2025): written for slides (``--compression deflate`` there)
    TransferSyntax(
        "deflate-frame",
        "1.2.840.10008.1.2.8.1",
        "Deflated Image Frame Compression",
        encapsulated=True,
        codec="deflate_frame",
        slides_only=True,
    ),
)

_BY_KEY: dict[str, TransferSyntax] = {**{ts.uid: ts for ts in SYNTAX_TABLE}, **{ts.name: ts for ts in SYNTAX_TABLE}}

#: Names of the syntaxes labelmap writes for volumes (the ``--compression`` choices).
WRITABLE: tuple[str, ...] = tuple(ts.name for ts in SYNTAX_TABLE if ts.writable and not ts.slides_only)
#: UIDs of the syntaxes whose Pixel Data is native (Big Endian and Deflated included).
NATIVE_SYNTAXES = frozenset(ts.uid for ts in SYNTAX_TABLE if ts.native)

EXPLICIT_VR_LITTLE_ENDIAN = _BY_KEY["none"].uid
IMPLICIT_VR_LITTLE_ENDIAN = _BY_KEY["implicit"].uid
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = _BY_KEY["deflate"].uid
EXPLICIT_VR_BIG_ENDIAN = _BY_KEY["big-endian"].uid
RLE_LOSSLESS = _BY_KEY["rle"].uid
DEFLATED_IMAGE_FRAME = _BY_KEY["deflate-frame"].uid

#: Our implementation class UID (a UUID-derived 2.25 UID fixed for this project).
IMPLEMENTATION_CLASS_UID = "2.25.208844935137218410958916425468497361822"
IMPLEMENTATION_VERSION_NAME = "LABELMAP_010"


def lookup(name_or_uid: str) -> TransferSyntax | None:
    """The :class:`TransferSyntax` of a short name or a UID, or None when labelmap does not know it.

    Parameters
    ----------
    name_or_uid
        A ``name`` of :data:`SYNTAX_TABLE` (``"rle"``) or a Transfer Syntax UID.
    """
    return _BY_KEY.get(str(name_or_uid))


def title_of(uid: str) -> str:
    """The PS3.6 name of a Transfer Syntax UID, or the UID itself when labelmap does not know it."""
    ts = _BY_KEY.get(str(uid))
    return ts.title if ts is not None and ts.uid == str(uid) else str(uid)


_UID_STRICT = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_UID_LENIENT = re.compile(r"[0-9]+(\.[0-9]+)*")


def is_uid(value: object, *, strict: bool = True) -> bool:
    """Whether ``value`` is a DICOM UID string (PS3.5 9.1): dot-separated digits, 1 to 64 characters.

    Parameters
    ----------
    value
        Anything; only a ``str`` can be a UID.
    strict
        True: components have no leading zero, as PS3.5 9.1 requires (the validator).
        False: leading zeros pass (reading references of files written by lax writers).
    """
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return False
    return (_UID_STRICT if strict else _UID_LENIENT).fullmatch(value) is not None
