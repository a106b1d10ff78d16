"""UIDs and coded values of the Segmentation IOD (PS3.3 A.51, PS3.6, PS3.16).

Plain strings, so the read path can check a SOP Class without importing pydicom; writers
wrap transfer syntaxes in ``pydicom.uid.UID`` where they need its properties.
"""

from __future__ import annotations

__all__ = [
    "SEGMENTATION_STORAGE",
    "LABEL_MAP_SEGMENTATION_STORAGE",
    "SEG_SOP_CLASSES",
    "TRANSFER_SYNTAXES",
    "NATIVE_SYNTAXES",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "FRAME_CODEC_SYNTAXES",
    "SYNTAX_NAMES",
    "allowed_for",
]

#: Segmentation Storage (BINARY, FRACTIONAL).
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
#: Label Map Segmentation Storage (Supplement 243); pydicom 3.0 has no constant for it.
LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
SEG_SOP_CLASSES = {
    SEGMENTATION_STORAGE: "Segmentation Storage",
    LABEL_MAP_SEGMENTATION_STORAGE: "Label Map Segmentation Storage",
}

#: Names accepted by --compression / --compress, mapped to transfer syntaxes.
TRANSFER_SYNTAXES = {
    "none": "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "implicit": "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "deflate": "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "jpegls": "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "j2k": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
}
EXPLICIT_VR_LITTLE_ENDIAN = TRANSFER_SYNTAXES["none"]
IMPLICIT_VR_LITTLE_ENDIAN = TRANSFER_SYNTAXES["implicit"]
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = TRANSFER_SYNTAXES["deflate"]
#: Syntaxes whose frames are compressed one by one (encapsulated Pixel Data).
FRAME_CODEC_SYNTAXES = frozenset((TRANSFER_SYNTAXES["rle"], TRANSFER_SYNTAXES["jpegls"], TRANSFER_SYNTAXES["j2k"]))
#: Transfer syntax names as PS3.6 (and pydicom's UID.name) give them.
SYNTAX_NAMES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless Image Compression",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Image Compression (Lossless Only)",
}
#: Syntaxes whose Pixel Data is native (Big Endian included, for recognising it).
NATIVE_SYNTAXES = frozenset(
    ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2")
)

#: Our implementation class UID (a UUID-derived 2.25 UID fixed for this project).
IMPLEMENTATION_CLASS_UID = "2.25.208844935137218410958916425468497361822"
IMPLEMENTATION_VERSION_NAME = "LABELMAP_010"


def allowed_for(seg_type: str) -> tuple[str, ...]:
    """Names of :data:`TRANSFER_SYNTAXES` a Segmentation Type may be written with.

    LABELMAP and FRACTIONAL (8/16-bit frames): all.  BINARY (1-bit frames): ``none``,
    ``implicit``, ``deflate`` and ``j2k`` -- RLE and JPEG-LS have no 1-bit form that
    DICOM readers (highdicom, dcmqi) accept for SEG.
    """
    from labelmap.errors import InputError

    kind = seg_type.upper()
    if kind in ("LABELMAP", "FRACTIONAL"):
        return tuple(TRANSFER_SYNTAXES)
    if kind == "BINARY":
        return ("none", "implicit", "deflate", "j2k")
    raise InputError(f"unknown Segmentation Type {seg_type!r}")
