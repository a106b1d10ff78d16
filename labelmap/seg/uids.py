"""UIDs and coded values of the Segmentation IOD (PS3.3 A.51, PS3.6, PS3.16)."""

from __future__ import annotations

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    UID,
)

__all__ = [
    "SEGMENTATION_STORAGE",
    "LABEL_MAP_SEGMENTATION_STORAGE",
    "SEG_SOP_CLASSES",
    "TRANSFER_SYNTAXES",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
]

#: Segmentation Storage (BINARY, FRACTIONAL).
SEGMENTATION_STORAGE = UID("1.2.840.10008.5.1.4.1.1.66.4")
#: Label Map Segmentation Storage (Supplement 243); pydicom 3.0 has no constant for it.
LABEL_MAP_SEGMENTATION_STORAGE = UID("1.2.840.10008.5.1.4.1.1.66.7")
SEG_SOP_CLASSES = {
    SEGMENTATION_STORAGE: "Segmentation Storage",
    LABEL_MAP_SEGMENTATION_STORAGE: "Label Map Segmentation Storage",
}

#: Names accepted by --compression / --compress, mapped to transfer syntaxes.
TRANSFER_SYNTAXES = {
    "none": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "deflate": DeflatedExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
}

#: Our implementation class UID (a UUID-derived 2.25 UID fixed for this project).
IMPLEMENTATION_CLASS_UID = UID("2.25.208844935137218410958916425468497361822")
IMPLEMENTATION_VERSION_NAME = "LABELMAP_010"
