"""The header of one VL Whole Slide Microscopy Image file and the slide geometry it declares.

Every file of a source folder is first sniffed without pydicom (:func:`sniff_file`: SOP class,
series, Image Type), so a CT folder costs a few kilobytes per file and never imports pydicom.
Whole-slide files are then read by pydicom up to their Per-frame Functional Groups (which a
TILED_SPARSE level may hold by the hundred thousand and which a slide source never needs):
:func:`read_wsi_header`.  :func:`instance_geometry` turns one header into a
:class:`~labelmap.model.SlideGeometry`, refusing in one line what a SEG cannot be built on.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelmap.dicom.dictionary import KEYWORDS
from labelmap.dicom.read import NeedsPydicom
from labelmap.errors import DicomFormatError, DicomSeriesError
from labelmap.model import SlideGeometry
from labelmap.sources.headers import not_an_image, read_source_header
from labelmap.sources.slide_sniff import WSI_SOP_CLASS

__all__ = ["WSI_SOP_CLASS", "NOT_LEVELS", "Sniffed", "instance_geometry", "read_wsi_header", "sniff_file"]

#: Image Type value 3 of whole-slide images that are not pyramid levels
NOT_LEVELS = ("LABEL", "OVERVIEW", "THUMBNAIL")
#: Largest Total Pixel Matrix Rows / Columns (UL): legal, and only ever used as a number
MAX_MATRIX = 2**32 - 1

_SNIFF_TAGS = frozenset(
    KEYWORDS[k][0]
    for k in ("SOPClassUID SOPInstanceUID SeriesInstanceUID Modality SeriesNumber SeriesDescription ImageType".split())
)
#: (5200,9230) Per-frame Functional Groups Sequence: the pydicom read stops there
_PER_FRAME = 0x52009230

_CLASS_NAMES = {
    "1.2.840.10008.5.1.4.1.1.77.1.2": "VL Microscopic Image",
    "1.2.840.10008.5.1.4.1.1.77.1.3": "VL Slide-Coordinates Microscopic Image",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image",
}


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of a DICOM file say: enough to sort a folder into slides and the rest."""

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    modality: str
    series_number: str
    series_description: str
    image_type: tuple[str, ...]
    damage: str | None
    image: bool

    @property
    def is_wsi(self) -> bool:
        return self.sop_class_uid == WSI_SOP_CLASS

    @property
    def flavour(self) -> str:
        """Image Type value 3 (VOLUME, LABEL, OVERVIEW, THUMBNAIL), upper case; "" when absent."""
        return self.image_type[2].upper() if len(self.image_type) > 2 else ""

    @property
    def class_name(self) -> str:
        return _CLASS_NAMES.get(self.sop_class_uid, f"SOP class {self.sop_class_uid or '(none)'}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\\".join(str(v) for v in value)
    return str(value).strip(" \x00")


def _image_type(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, (list, tuple)) else str(value).split("\\")
    return tuple(str(v).strip(" \x00") for v in values)


def sniff_file(path: Path) -> Sniffed | None:
    """The SOP class, series and Image Type of a DICOM file, or None when it is not DICOM.

    Raises
    ------
    DicomSeriesError
        A file that starts as DICOM but whose header is damaged (naming the file and the fix).
    OSError
        The file cannot be read.
    """
    try:
        # the walk ends at the Per-frame Functional Groups: a TILED_SPARSE level may hold 10^5 items there
        head = read_source_header(path, _SNIFF_TAGS, stop=_PER_FRAME)
    except NeedsPydicom:  # Big Endian or an unusual character set: pydicom decodes the few values needed
        return _sniff_with_pydicom(path)
    except DicomFormatError as exc:
        raise damaged(path, exc.what) from None
    if head is None:
        return None
    ds, meta = head.dataset, head.meta
    try:
        sop_class = _text(ds.get("SOPClassUID")) or (_text(meta.get("MediaStorageSOPClassUID")) if meta else "")
        return _sniffed(path, ds, sop_class, head.damage)
    except NeedsPydicom:
        return _sniff_with_pydicom(path)


def _sniffed(path: Path, ds: Any, sop_class: str, damage: str | None) -> Sniffed:
    """What a header (ours or pydicom's) says of a file."""
    return Sniffed(
        path=str(path),
        sop_class_uid=sop_class,
        sop_instance_uid=_text(ds.get("SOPInstanceUID")),
        series_instance_uid=_text(ds.get("SeriesInstanceUID")),
        modality=_text(ds.get("Modality")),
        series_number=_text(ds.get("SeriesNumber")),
        series_description=_text(ds.get("SeriesDescription")),
        image_type=_image_type(ds.get("ImageType")),
        damage=damage,
        image=not not_an_image(sop_class),
    )


def _sniff_with_pydicom(path: Path) -> Sniffed | None:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=sorted(_SNIFF_TAGS))
        sop_class = _text(ds.get("SOPClassUID"))
        return _sniffed(path, ds, sop_class, None)
    except OSError:
        raise
    except Exception as exc:  # pydicom raises assorted errors on junk
        raise damaged(path, f"its header cannot be read ({type(exc).__name__}: {exc})") from None


def damaged(path: str | os.PathLike, what: str) -> DicomSeriesError:
    """The error for a slide file whose header is damaged."""
    return DicomSeriesError(
        f"DICOM file is damaged: {what}; copy it again from the original or remove it from the slide folder", path=path
    )


def read_wsi_header(path: str | os.PathLike) -> Any:
    """The pydicom data set of a whole-slide file up to its Per-frame Functional Groups (no pixels).

    The file's structure has been checked by :func:`sniff_file` (every element within the file),
    so pydicom never reads far; per-frame items, which a slide source does not need, are not parsed.

    Raises
    ------
    DicomSeriesError
        pydicom cannot parse the header.
    """
    from pydicom.filereader import read_partial

    try:
        with open(path, "rb") as fp:
            return read_partial(fp, stop_when=lambda tag, vr, length: tag >= _PER_FRAME, force=True)
    except OSError as exc:
        raise DicomSeriesError(f"cannot read the slide file: {exc.strerror or exc}", path=path) from None
    except Exception as exc:  # pydicom raises assorted errors on damaged headers
        raise damaged(path, f"its header cannot be parsed ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- geometry
def _missing(path: str, keyword: str, what: str, fix: str) -> DicomSeriesError:
    tag = KEYWORDS[keyword][0] if keyword in KEYWORDS else _TAGS.get(keyword)
    return DicomSeriesError(f"{what}; {fix}", path=path, keyword=keyword, tag=tag)


#: tags of the slide attributes named in errors (not all are in labelmap's own dictionary)
_TAGS = {
    "TotalPixelMatrixRows": 0x00480007,
    "TotalPixelMatrixColumns": 0x00480006,
    "TotalPixelMatrixOriginSequence": 0x00480008,
    "TotalPixelMatrixFocalPlanes": 0x00480303,
    "ImageOrientationSlide": 0x00480102,
    "PixelSpacing": 0x00280030,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "XOffsetInSlideCoordinateSystem": 0x0040072A,
    "YOffsetInSlideCoordinateSystem": 0x0040073A,
    "ZOffsetInSlideCoordinateSystem": 0x0040074A,
}

_REEXPORT = "re-export the slide with a DICOM WSI converter that writes it (e.g. wsidicomizer)"


def _integer(ds: Any, keyword: str, path: str, *, maximum: int, required: bool = True) -> int | None:
    try:
        raw = ds.get(keyword)
    except Exception:  # pydicom raises on values it cannot convert
        raw = "?"
    if raw is None or raw == "":
        if not required:
            return None
        raise _missing(path, keyword, "missing: a whole-slide level needs it", _REEXPORT)
    try:
        value = float(raw)
        ok = math.isfinite(value) and value == int(value) and 1 <= value <= maximum
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise _missing(path, keyword, f"{raw!r:.40} is not a whole number from 1 to {maximum}", _REEXPORT)
    return int(value)


def _floats(value: Any) -> list[float] | None:
    if value is None or value == "":
        return None
    items = [value] if isinstance(value, (str, bytes, int, float)) else value
    try:
        return [float(v) for v in items]
    except (TypeError, ValueError):
        return None


def _shared_spacing(ds: Any, path: str) -> tuple[float, float]:
    where = "Shared Functional Groups > Pixel Measures > PixelSpacing"
    try:
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        raw = measures.get("PixelSpacing")
    except Exception:  # absent sequence, no item, undecodable value
        raw = None
    if raw is None or raw == "":
        raise _missing(path, "PixelSpacing", f"missing ({where}): the level's pixel spacing is needed", _REEXPORT)
    values = _floats(raw)
    if values is None or len(values) != 2:
        raise _missing(path, "PixelSpacing", f"{where} {raw!r:.60} is not two numbers", _REEXPORT)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise _missing(
            path, "PixelSpacing", f"{where} {values} is zero, negative or not finite", "fix the slide file's spacing"
        )
    return values[0], values[1]


def _origin(ds: Any, path: str) -> tuple[float, float, float]:
    try:
        items = ds.get("TotalPixelMatrixOriginSequence")
        item = items[0] if items else None
    except Exception:
        item = None
    if item is None:
        raise _missing(
            path,
            "TotalPixelMatrixOriginSequence",
            "missing: the SEG must copy the slide position of pixel (1,1)",
            "add the origin (X, Y mm; Z um) to the slide file or " + _REEXPORT,
        )
    out = []
    for keyword, default in (
        ("XOffsetInSlideCoordinateSystem", None),
        ("YOffsetInSlideCoordinateSystem", None),
        ("ZOffsetInSlideCoordinateSystem", 0.0),  # 1C: required if not zero
    ):
        try:
            raw = item.get(keyword)
        except Exception:
            raw = "?"
        if raw is None or raw == "":
            if default is None:
                raise _missing(path, keyword, "missing in Total Pixel Matrix Origin Sequence", "add it or " + _REEXPORT)
            out.append(default)
            continue
        values = _floats(raw)
        if values is None or len(values) != 1 or not math.isfinite(values[0]):
            raise _missing(
                path,
                keyword,
                f"{raw!r:.40} in Total Pixel Matrix Origin Sequence is not a number",
                "fix the slide file",
            )
        out.append(values[0])
    return out[0], out[1], out[2]


def _orientation(ds: Any, path: str) -> tuple[float, float, float, float, float, float]:
    try:
        raw = ds.get("ImageOrientationSlide")
    except Exception:
        raw = "?"
    if raw is None or raw == "":
        raise _missing(path, "ImageOrientationSlide", "missing: a whole-slide level needs it", _REEXPORT)
    values = _floats(raw)
    if values is None or len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise _missing(path, "ImageOrientationSlide", f"{raw!r:.60} is not six numbers", "fix the slide file")
    row, col = values[:3], values[3:]
    unit = all(abs(math.fsum(v * v for v in d) - 1.0) < 1e-3 for d in (row, col))
    if not unit or abs(math.fsum(a * b for a, b in zip(row, col))) > 1e-3:
        raise _missing(
            path,
            "ImageOrientationSlide",
            f"{values} is not two orthogonal unit vectors",
            "fix the slide file's orientation",
        )
    return (values[0], values[1], values[2], values[3], values[4], values[5])


def instance_geometry(ds: Any, path: str) -> tuple[SlideGeometry, int]:
    """(geometry, focal planes) one whole-slide header declares.

    Raises
    ------
    DicomSeriesError
        A missing or invalid Total Pixel Matrix size, tile size, spacing, origin or orientation
        (one line naming the file, the attribute and the fix).
    """
    rows = _integer(ds, "TotalPixelMatrixRows", path, maximum=MAX_MATRIX)
    columns = _integer(ds, "TotalPixelMatrixColumns", path, maximum=MAX_MATRIX)
    tile_rows = _integer(ds, "Rows", path, maximum=65535)
    tile_columns = _integer(ds, "Columns", path, maximum=65535)
    planes = _integer(ds, "TotalPixelMatrixFocalPlanes", path, maximum=MAX_MATRIX, required=False) or 1
    geometry = SlideGeometry(
        rows=rows,  # type: ignore[arg-type]
        columns=columns,  # type: ignore[arg-type]
        tile_rows=tile_rows,  # type: ignore[arg-type]
        tile_columns=tile_columns,  # type: ignore[arg-type]
        pixel_spacing=_shared_spacing(ds, path),
        origin=_origin(ds, path),
        orientation=_orientation(ds, path),
    )
    return geometry, planes
