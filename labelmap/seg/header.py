"""The numpy-free half of reading a SEG's header: the per-frame field paths the bulk reader captures,
checked access raising :class:`~labelmap.errors.SegFormatError`, and the Segment Sequence and
series attributes as model objects.

:mod:`labelmap.seg.perframe` and :mod:`labelmap.seg.read` re-export these names; the plain LABELMAP
read lane (:mod:`labelmap.pipeline.lean_read`) imports them from here without numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from labelmap.descriptions import SegmentDescription, SeriesAttributes
from labelmap.dicom import values as dicom_values
from labelmap.errors import DicomFormatError, MetadataError, SegFormatError
from labelmap.seg.segments import segment_from_dataset

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "FIELD_PATHS",
    "seg_error",
    "seg_errors",
    "check_header",
    "int_value",
    "check_sop_class",
    "series_attributes",
    "segment_descriptions",
]

# Fields decoded from each per-frame item: path of sequence tags below the item, then the leaf.
_F_POSITION, _F_SEGMENT, _F_ORIENT, _F_SPACING, _F_THICK, _F_BETWEEN, _F_SOP_UID, _F_SOP_CLASS, _F_DIM, _F_SOP_FRAME = (
    range(10)
)
#: field path -> column of the bulk reader's :class:`~labelmap.dicom.bulk.FrameValues`
FIELD_PATHS: dict[tuple[int, ...], int] = {
    (0x00209113, 0x00200032): _F_POSITION,  # PlanePositionSequence > ImagePositionPatient
    (0x0062000A, 0x0062000B): _F_SEGMENT,  # SegmentIdentificationSequence > ReferencedSegmentNumber
    (0x00209116, 0x00200037): _F_ORIENT,  # PlaneOrientationSequence > ImageOrientationPatient
    (0x00289110, 0x00280030): _F_SPACING,  # PixelMeasuresSequence > PixelSpacing
    (0x00289110, 0x00180050): _F_THICK,  # PixelMeasuresSequence > SliceThickness
    (0x00289110, 0x00180088): _F_BETWEEN,  # PixelMeasuresSequence > SpacingBetweenSlices
    (0x00089124, 0x00082112, 0x00081155): _F_SOP_UID,  # DerivationImage > SourceImage > RefSOPInstanceUID
    (0x00089124, 0x00082112, 0x00081150): _F_SOP_CLASS,  # DerivationImage > SourceImage > RefSOPClassUID
    (0x00209111, 0x00209157): _F_DIM,  # FrameContentSequence > DimensionIndexValues
    (0x00089124, 0x00082112, 0x00081160): _F_SOP_FRAME,  # DerivationImage > SourceImage > RefFrameNumber
}


def seg_error(exc: DicomFormatError) -> SegFormatError:
    """A byte-level error of a SEG file as a :class:`SegFormatError` (same text and fields)."""
    return exc if isinstance(exc, SegFormatError) else SegFormatError(exc.what, **exc.fields())


P = ParamSpec("P")
R = TypeVar("R")


def seg_errors(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` with its DicomFormatError raised as SegFormatError (see :func:`seg_error`)."""

    @wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except DicomFormatError as exc:
            raise seg_error(exc) from None

    return checked


#: :mod:`labelmap.dicom.values`' checked access, raising :class:`SegFormatError` for a SEG.
check_header = seg_errors(dicom_values.check_header)
int_value = seg_errors(dicom_values.int_value)


def check_sop_class(ds: Any, name: str) -> None:
    sop = str(ds.get("SOPClassUID", ""))
    from labelmap.seg.types import SEG_SOP_CLASSES  # its enums and table: on use

    if sop not in SEG_SOP_CLASSES:
        raise SegFormatError(
            f"{name}: SOP Class UID {sop or '(missing)'} is not a Segmentation "
            f"({', '.join(f'{v} {k}' for k, v in SEG_SOP_CLASSES.items())})"
        )


def series_attributes(ds: Dataset | Any, *, defaults: bool = True) -> SeriesAttributes:
    """The dcmqi JSON top-level fields, read from a SEG (each field's keyword is its name in CamelCase).

    An attribute the SEG lacks (or leaves empty) takes dcmqi's default for writing, or with
    ``defaults=False`` is ``""`` (None for the optional ones), as dcmqi's reader reports it.
    """
    values: dict[str, Any] = {}
    for f in fields(SeriesAttributes):
        keyword = "".join(word.upper() if word == "id" else word.capitalize() for word in f.name.split("_"))
        value = ds.get(keyword, None)
        if value not in (None, ""):
            values[f.name] = str(value)
        else:
            values[f.name] = f.default if defaults or f.default is None else ""
    return SeriesAttributes(**values)


def segment_descriptions(ds: Dataset | Any, name: str) -> list[SegmentDescription]:
    """Segment Sequence items as descriptions, colours from the palette when PALETTE COLOR."""
    items = ds.get("SegmentSequence")
    if not items:
        raise SegFormatError(f"{name}: missing or empty Segment Sequence (0062,0002)")
    palette = {}
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        from labelmap.seg.palette import read_palette  # numpy: only palette SEGs pay for it

        palette = read_palette(ds)
    out: list[SegmentDescription] = []
    seen: dict[int, int] = {}
    for idx, item in enumerate(items):
        where = f" in Segment Sequence item {idx + 1}"
        if "SegmentNumber" not in item:
            raise SegFormatError(f"{name}: Segment Sequence item {idx + 1} has no SegmentNumber")
        int_value(item, "SegmentNumber", name, where=where, minimum=0, maximum=0xFFFF)
        try:
            seg = segment_from_dataset(item)
        except MetadataError as exc:
            raise SegFormatError(f"{name}: Segment Sequence item {idx + 1}: {exc}") from None
        except (TypeError, ValueError, AttributeError, IndexError) as exc:  # a damaged item (kinds checked above)
            raise SegFormatError(f"{name}: Segment Sequence item {idx + 1} cannot be read ({exc})") from None
        if seg.number in seen:
            raise SegFormatError(
                f"{name}: segment number {seg.number} is described twice in the Segment Sequence (items "
                f"{seen[seg.number] + 1} and {idx + 1})"
            )
        seen[seg.number] = idx
        if palette and seg.number in palette and seg.cielab is None:
            seg = replace(seg, rgb=palette[seg.number])
        out.append(seg)
    return out
