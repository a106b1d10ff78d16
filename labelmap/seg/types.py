"""What each Segmentation Type is, in one table (PS3.3 C.8.20.2, A.51, Supplement 243).

Planner, encoders, decoders and the validator read these facts here instead of
re-stating them: the SOP Class a type is stored as, the bit depths its frames may
have, the photometric interpretations it allows, whether frames carry a Segment
Identification (one segment per frame) and whether a Pixel Padding Value marks
background.  Which transfer syntaxes a type may be written with follows from its
bit depths and the codec table (:func:`allowed_syntaxes`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labelmap.dicom.uids import TransferSyntax

__all__ = [
    "SEGMENTATION_STORAGE",
    "LABEL_MAP_SEGMENTATION_STORAGE",
    "SEG_SOP_CLASSES",
    "SegmentationType",
    "FractionalType",
    "SegmentsOverlap",
    "SegTypeSpec",
    "SEG_TYPES",
    "spec_for",
    "allowed_syntaxes",
]

#: Segmentation Storage (BINARY, FRACTIONAL).
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
#: Label Map Segmentation Storage (Supplement 243); pydicom 3.0 has no constant for it.
LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
SEG_SOP_CLASSES = {
    SEGMENTATION_STORAGE: "Segmentation Storage",
    LABEL_MAP_SEGMENTATION_STORAGE: "Label Map Segmentation Storage",
}


class SegmentationType(str, Enum):
    """Segmentation Type (0062,0001)."""

    BINARY = "BINARY"
    FRACTIONAL = "FRACTIONAL"
    LABELMAP = "LABELMAP"


class FractionalType(str, Enum):
    """Segmentation Fractional Type (0062,0010)."""

    PROBABILITY = "PROBABILITY"
    OCCUPANCY = "OCCUPANCY"


class SegmentsOverlap(str, Enum):
    """Segments Overlap (0062,0013)."""

    YES = "YES"
    NO = "NO"
    UNDEFINED = "UNDEFINED"


@dataclass(frozen=True)
class SegTypeSpec:
    """The facts of one Segmentation Type."""

    type: SegmentationType
    sop_class: str
    #: Bits Allocated values allowed (Bits Stored = Bits Allocated, High Bit = Bits Stored - 1).
    bits: tuple[int, ...]
    photometric: tuple[str, ...]
    #: Frames carry Segment Identification (one segment per frame); LABELMAP frames hold many.
    segment_identification: bool
    #: Background is marked by Pixel Padding Value 0 and a background segment may be described.
    pixel_padding: bool
    #: Segments Overlap values the type may declare.
    overlap: tuple[SegmentsOverlap, ...]

    @property
    def one_bit(self) -> bool:
        """Frames are 1-bit, packed (BINARY)."""
        return self.bits == (1,)

    @property
    def sop_class_name(self) -> str:
        return SEG_SOP_CLASSES[self.sop_class]


_BINARY = SegTypeSpec(
    type=SegmentationType.BINARY,
    sop_class=SEGMENTATION_STORAGE,
    bits=(1,),
    photometric=("MONOCHROME2",),
    segment_identification=True,
    pixel_padding=False,
    overlap=tuple(SegmentsOverlap),
)
SEG_TYPES: dict[SegmentationType, SegTypeSpec] = {
    SegmentationType.BINARY: _BINARY,
    SegmentationType.FRACTIONAL: replace(_BINARY, type=SegmentationType.FRACTIONAL, bits=(8,)),
    SegmentationType.LABELMAP: SegTypeSpec(
        type=SegmentationType.LABELMAP,
        sop_class=LABEL_MAP_SEGMENTATION_STORAGE,
        bits=(8, 16),
        photometric=("MONOCHROME2", "PALETTE COLOR"),
        segment_identification=False,
        pixel_padding=True,
        overlap=(SegmentsOverlap.NO,),
    ),
}


def spec_for(seg_type: str | SegmentationType) -> SegTypeSpec:
    """The :class:`SegTypeSpec` of a Segmentation Type given by name (any case) or enum.

    Raises ``ValueError`` (a programming error, not a user one) for an unknown name.
    """
    try:
        return SEG_TYPES[SegmentationType(str(getattr(seg_type, "value", seg_type)).upper())]
    except ValueError:
        raise ValueError(f"unknown Segmentation Type {seg_type!r}") from None


def allowed_syntaxes(spec: SegTypeSpec) -> tuple[TransferSyntax, ...]:
    """The transfer syntaxes a Segmentation Type may be written with, in ``--compression`` order.

    They follow from the type's bit depths and the codec table: every native syntax, and
    each frame codec that takes all of ``spec.bits`` (BINARY's 1-bit frames: JPEG 2000 only;
    RLE and JPEG-LS have no 1-bit form that DICOM readers such as highdicom and dcmqi accept).

    Parameters
    ----------
    spec
        The type, e.g. ``spec_for("BINARY")``.

    Returns
    -------
    tuple[TransferSyntax, ...]
    """
    from labelmap.dicom.pixels.codecs import syntaxes_for_bits

    return syntaxes_for_bits(spec.bits)
