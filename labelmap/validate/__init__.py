"""Check a DICOM SEG file against the Segmentation IOD rules (BINARY, FRACTIONAL and LABELMAP).

:func:`validate_seg` returns one :class:`Violation` per broken rule, naming the attribute,
where it sits, what was found and the rule (PS3.3 A.51 / C.8.20, Supplement 243 for
LABELMAP, PS3.5 for the encoding).  It never raises on a damaged file: what cannot be read
becomes a violation.  Per-frame values come from the bulk reader (:mod:`labelmap.dicom.bulk`)
so 17,000-frame files are quick; the per-frame item structure (codes, item counts) is read
with pydicom on files up to :data:`DEEP_FRAME_LIMIT` frames, or always with ``deep=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional, Union

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from labelmap.errors import LabelmapError, MissingDependencyError

__all__ = ["Violation", "SegValidation", "check_seg", "validate_seg", "DEEP_FRAME_LIMIT"]

Severity = Literal["error", "warning"]

#: Files with more frames get their per-frame items checked by values only (``deep=None``).
DEEP_FRAME_LIMIT = 2000

_SEG_SOP = "1.2.840.10008.5.1.4.1.1.66.4"
_LABELMAP_SOP = "1.2.840.10008.5.1.4.1.1.66.7"
_TYPES = ("BINARY", "FRACTIONAL", "LABELMAP")

# transfer syntaxes by what they do to pixels
_IMPLICIT, _EXPLICIT, _DEFLATED, _BIG_ENDIAN = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
)
_RLE = "1.2.840.10008.1.2.5"
_J2K_LOSSLESS, _J2K_ANY = "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"
_JPEGLS_LOSSLESS, _JPEGLS_NEAR = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"
_JPEG_LOSSLESS = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
_HTJ2K_LOSSLESS = ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202")
_HTJ2K_ANY = "1.2.840.10008.1.2.4.203"
_DEFLATED_FRAMES = "1.2.840.10008.1.2.8.1"
_NATIVE = (_IMPLICIT, _EXPLICIT, _DEFLATED, _BIG_ENDIAN)
_LOSSLESS_ENCAPSULATED = (_RLE, _J2K_LOSSLESS, _JPEGLS_LOSSLESS, *_JPEG_LOSSLESS, *_HTJ2K_LOSSLESS, _DEFLATED_FRAMES)
_LOSSY = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", _JPEGLS_NEAR)
_MAYBE_LOSSY = (_J2K_ANY, _HTJ2K_ANY)

# Dimension Index Pointer -> the functional group sequence that holds it
_POINTER_GROUPS = {
    0x00200032: 0x00209113,  # ImagePositionPatient in PlanePositionSequence
    0x0062000B: 0x0062000A,  # ReferencedSegmentNumber in SegmentIdentificationSequence
    0x00209056: 0x00209111,  # StackID in FrameContentSequence
    0x00209057: 0x00209111,  # InStackPositionNumber in FrameContentSequence
    0x0048021E: 0x0048021A,  # ColumnPositionInTotalImagePixelMatrix in PlanePositionSlideSequence
    0x0048021F: 0x0048021A,  # RowPositionInTotalImagePixelMatrix in PlanePositionSlideSequence
}

_UID_RE = re.compile(r"(?=.{1,64}$)(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")

# section names used in rule texts
_IOD = "PS3.3 A.51 Segmentation IOD"
_FG = "PS3.3 A.51.5 Segmentation Functional Groups"
_SEG_IMAGE = "PS3.3 C.8.20.2 Segmentation Image Module"
_SEGMENT = "PS3.3 C.8.20.4 Segment Description Macro"
_SEG_MACRO = "PS3.3 C.8.20.3 Segmentation Macro"
_MF = "PS3.3 C.7.6.16 Multi-frame Functional Groups Module"
_DIM = "PS3.3 C.7.6.17 Multi-frame Dimension Module"
_PIXEL = "PS3.3 C.7.6.3 Image Pixel Module"
_CODE = "PS3.3 8.8 Code Sequence Macro"
_CIR = "PS3.3 C.12.2 Common Instance Reference Module"
_PALETTE = "PS3.3 C.7.9 Palette Color Lookup Table Module"
_ENCODING = "PS3.5 8 Encoding of Pixel Data"


@dataclass(frozen=True)
class Violation:
    """One broken rule: the attribute (keyword and tag), where it is, what was found, the rule.

    ``path`` locates the attribute, e.g. ``SegmentSequence[3].SegmentAlgorithmName`` (items
    counted from 1); ``frame`` (1-based) and ``segment`` (a Segment Number) are set when the
    violation concerns one frame or segment (for several frames: the first of them).
    """

    keyword: str
    tag: str | None
    message: str
    rule: str
    severity: Severity = "error"
    path: str = ""
    frame: int | None = None
    segment: int | None = None

    def format(self, name: str) -> str:
        """One line: ``<name>: <severity>: <tag> <path>: <message> — <rule>``."""
        tag = f"{self.tag} " if self.tag else ""
        return f"{name}: {self.severity}: {tag}{self.path or self.keyword}: {self.message} — {self.rule}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SegValidation:
    """Result of :func:`check_seg`: the violations plus what was checked."""

    name: str
    segmentation_type: str | None = None
    frames: int | None = None
    per_frame_items_checked: bool = False
    violations: list[Violation] = field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warning"]


def validate_seg(source: str | os.PathLike[str] | Dataset, *, deep: bool | None = None) -> list[Violation]:
    """Check a SEG file (or pydicom Dataset) against the Segmentation IOD; [] when it is clean."""
    return check_seg(source, deep=deep).violations


def check_seg(source: str | os.PathLike[str] | Dataset, *, deep: bool | None = None) -> SegValidation:
    """Like :func:`validate_seg`, also saying which type, how many frames and whether items were read.

    ``deep``: read every per-frame item with pydicom (derivation codes, item counts);
    None does so for files up to :data:`DEEP_FRAME_LIMIT` frames and for Datasets.
    """
    checker = _Checker(source, deep)
    checker.run()
    return checker.result


# --------------------------------------------------------------------------- helpers
class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_MISSING = _Absent()
_INVALID = _Absent()


def _tag_text(keyword_or_tag: str | int) -> str | None:
    from pydicom.datadict import tag_for_keyword

    tag = keyword_or_tag if isinstance(keyword_or_tag, int) else tag_for_keyword(keyword_or_tag)
    if tag is None:
        return None
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or _tag_text(tag) or hex(tag)


def _get(ds: Dataset | None, keyword: str) -> Any:
    """The value of ``keyword``: ``_MISSING`` when absent, ``_INVALID`` when it cannot be decoded."""
    if ds is None:
        return _MISSING
    try:
        if keyword not in ds:
            return _MISSING
        return ds[keyword].value
    except Exception:
        return _INVALID


def _is_empty(value: Any) -> bool:
    if value is None or isinstance(value, _Absent):
        return True
    if isinstance(value, (str, bytes)):
        return not value.strip(b" \0" if isinstance(value, bytes) else " \0")
    try:
        return len(value) == 0
    except TypeError:
        return False


def _int(value: Any) -> int | None:
    if isinstance(value, _Absent) or value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    if isinstance(value, _Absent) or value is None:
        return ""
    return str(value).strip()


def _items(value: Any) -> list:
    """Items of a sequence value ([] when absent or not a sequence)."""
    if isinstance(value, _Absent) or value is None:
        return []
    try:
        return [item for item in value if isinstance(item, Dataset)]
    except TypeError:
        return []


def _frames_text(frames: Sequence[int], limit: int = 5) -> str:
    frames = sorted(set(int(f) for f in frames))
    head = ", ".join(str(f) for f in frames[:limit])
    more = f" and {len(frames) - limit} more" if len(frames) > limit else ""
    return f"frame{'s' if len(frames) > 1 else ''} {head}{more}"


def _values_text(values: Iterable[Any], limit: int = 10) -> str:
    values = list(values)
    head = ", ".join(str(v) for v in values[:limit])
    return head + (f" ... ({len(values)} in all)" if len(values) > limit else "")


def _uid_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return f"{uid} ({name})" if name and name != uid else uid


# --------------------------------------------------------------------------- the checker
class _Checker:
    """Runs every check on one SEG and collects the violations."""

    def __init__(self, source: str | os.PathLike[str] | Dataset, deep: bool | None) -> None:
        self.source = source
        self.deep = deep
        name = (getattr(source, "filename", None) or "SEG dataset") if isinstance(source, Dataset) else str(source)
        self.result = SegValidation(name=str(name))
        self.out = self.result.violations
        self.ds: Dataset | None = None
        self.table: Any = None  # fastread.PerFrameTable
        self.pixels: Any = None  # fastread.PixelDataInfo (files) or None (use ds.PixelData)
        self.items: list | None = None  # per-frame items as pydicom Datasets, when read
        self.seg_type = ""
        self.n_frames: int | None = None
        self.rows = self.columns = self.bits = None
        self.numbers: dict[int, int] = {}  # Segment Number -> item index (1-based)
        self.slide = False
        self.frame_segments: np.ndarray | None = None  # BINARY/FRACTIONAL: Referenced Segment Number per frame
        self.position_ids: np.ndarray | None = None  # per frame: index of its distinct Image Position Patient
        self.palette_range: tuple[int, int] | None = None  # pixel values the palette maps

    # -- collecting --------------------------------------------------------------------
    def add(
        self,
        keyword: str,
        message: str,
        rule: str,
        severity: Severity = "error",
        *,
        path: str = "",
        tag: str | int | None = "",
        frame: int | None = None,
        segment: int | None = None,
    ) -> None:
        if tag == "":
            tag_text = _tag_text(keyword)
        elif isinstance(tag, int):
            tag_text = _tag_text(tag)
        else:
            tag_text = tag
        self.out.append(Violation(keyword, tag_text, message, rule, severity, path or keyword, frame, segment))

    def run(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about bad values; they become violations here
            self._run()

    def _run(self) -> None:
        if not self._load():
            return
        if not self._check_sop_and_type():
            return
        for check in (
            self._check_file_meta,
            self._check_required,
            self._check_image_pixel,
            self._check_fractional,
            self._check_palette,
            self._check_segments,
            self._check_shared_groups,
            self._check_frames,
            self._check_references,
            self._check_dimensions,
            self._check_deep_items,
            self._check_transfer_syntax,
            self._check_pixels,
        ):
            try:
                check()
            except Exception as exc:  # a damaged value must not end the validation with a traceback
                self.add(
                    "File",
                    f"check {check.__name__.lstrip('_')} could not finish: {type(exc).__name__}: {exc}",
                    "the file is damaged in a way the validator could not describe more precisely",
                    tag=None,
                )

    # -- reading -----------------------------------------------------------------------
    def _cannot_read(self, message: str) -> None:
        self.add("File", f"cannot be read: {message}", "PS3.10 7 DICOM File Format", tag=None)

    def _load(self) -> bool:
        from labelmap.dicom.bulk import read_seg_fast

        if isinstance(self.source, Dataset):
            self.ds = self.source
            self.items = _items(_get(self.ds, "PerFrameFunctionalGroupsSequence"))
            self.table = _table_from_items(self.items, self.result.name) if self.items else None
            return True
        name = self.result.name
        if not os.path.exists(name):
            self._cannot_read("file not found")
            return False
        if os.path.isdir(name):
            self._cannot_read("is a folder, expected a DICOM SEG file")
            return False
        try:
            self.ds, self.table, self.pixels = read_seg_fast(name)
            return True
        except LabelmapError as exc:
            fast_error = str(exc)
        except Exception as exc:  # pragma: no cover - the bulk reader should only raise SegFormatError
            fast_error = f"{type(exc).__name__}: {exc}"
        # the bulk reader refuses Big Endian files and files without per-frame items (TILED_FULL);
        # anything else it refuses is damaged, even when pydicom reads part of it
        message = fast_error.replace(f"{name}: ", "", 1)
        try:
            ds = pydicom.dcmread(name)
        except Exception:
            self._cannot_read(message)
            return False
        ts = _text(_get(getattr(ds, "file_meta", None), "TransferSyntaxUID"))
        complete = "PixelData" in ds and "PerFrameFunctionalGroupsSequence" not in ds
        if ts != _BIG_ENDIAN and not complete:
            self._cannot_read(message)
            return False
        self.ds = ds
        self.items = _items(_get(ds, "PerFrameFunctionalGroupsSequence"))
        try:
            self.table = _table_from_items(self.items, name) if self.items else None
        except LabelmapError as exc:
            self._cannot_read(str(exc))
            return False
        return True

    # -- SOP class and type --------------------------------------------------------------
    def _check_sop_and_type(self) -> bool:
        ds = self.ds
        sop = _text(_get(ds, "SOPClassUID"))
        seg_type = _text(_get(ds, "SegmentationType")).upper()
        self.result.segmentation_type = seg_type or None
        if sop not in (_SEG_SOP, _LABELMAP_SOP):
            self.add(
                "SOPClassUID",
                f"{_uid_name(sop) if sop else 'absent'} is not a Segmentation SOP Class",
                f"{_IOD}: Segmentation Storage {_SEG_SOP} (BINARY, FRACTIONAL) or Label Map Segmentation Storage "
                f"{_LABELMAP_SOP} (LABELMAP)",
            )
            if not seg_type:
                return False  # not a SEG at all: the other rules do not apply
        if seg_type not in _TYPES:
            self.add(
                "SegmentationType",
                f"is {seg_type or 'absent'}, expected BINARY, FRACTIONAL or LABELMAP",
                f"{_SEG_IMAGE}: Segmentation Type is Type 1 with these enumerated values",
            )
            return False
        self.seg_type = seg_type
        if sop == _SEG_SOP and seg_type == "LABELMAP":
            self.add(
                "SOPClassUID",
                "is Segmentation Storage but Segmentation Type is LABELMAP",
                f"{_IOD} (Supplement 243): a LABELMAP is stored as Label Map Segmentation Storage {_LABELMAP_SOP}",
            )
        elif sop == _LABELMAP_SOP and seg_type != "LABELMAP":
            self.add(
                "SOPClassUID",
                f"is Label Map Segmentation Storage but Segmentation Type is {seg_type}",
                f"{_IOD} (Supplement 243): BINARY and FRACTIONAL are stored as Segmentation Storage {_SEG_SOP}",
            )
        return True

    def _check_file_meta(self) -> None:
        meta = getattr(self.ds, "file_meta", None)
        if meta is None or not len(meta):
            if not isinstance(self.source, Dataset):
                self.add("FileMetaInformation", "is absent", "PS3.10 7.1 DICOM File Meta Information", tag=None)
            return
        rule = "PS3.10 7.1 DICOM File Meta Information: the Media Storage UIDs repeat the SOP Common values"
        for meta_kw, kw in (
            ("MediaStorageSOPClassUID", "SOPClassUID"),
            ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
        ):
            a, b = _text(_get(meta, meta_kw)), _text(_get(self.ds, kw))
            if a and b and a != b:
                self.add(meta_kw, f"{a} differs from {kw} {b}", rule)
        if not _text(_get(meta, "TransferSyntaxUID")):
            self.add("TransferSyntaxUID", "is absent", "PS3.10 7.1 DICOM File Meta Information: Type 1")

    # -- module attributes ------------------------------------------------------------------
    def _require(self, keyword: str, type_: str, rule: str, ds: Dataset | None = None, path: str = "") -> Any:
        """Report an absent Type 1/2 attribute or an empty Type 1 one; returns the value."""
        ds = self.ds if ds is None else ds
        value = _get(ds, keyword)
        where = path or keyword
        if value is _MISSING:
            self.add(keyword, "is absent", f"{rule}: Type {type_}", path=where)
        elif value is _INVALID:
            self.add(keyword, "cannot be decoded", f"{rule}: Type {type_}", path=where)
        elif type_ == "1" and _is_empty(value):
            self.add(keyword, "is empty", f"{rule}: Type 1 (a value is required)", path=where)
        return value

    def _check_required(self) -> None:
        patient, study = "PS3.3 C.7.1.1 Patient Module", "PS3.3 C.7.2.1 General Study Module"
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
            self._require(kw, "2", patient)
        self._require("StudyInstanceUID", "1", study)
        for kw in ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"):
            self._require(kw, "2", study)
        series = "PS3.3 C.7.3.1 General Series / C.8.20.1 Segmentation Series Module"
        modality = self._require("Modality", "1", series)
        if not isinstance(modality, _Absent) and _text(modality) and _text(modality) != "SEG":
            self.add("Modality", f"is {_text(modality)}, expected SEG", f"{series}: Modality is SEG")
        self._require("SeriesInstanceUID", "1", series)
        self._require("SeriesNumber", "1", series)
        equipment = "PS3.3 C.7.5.2 Enhanced General Equipment Module"
        for kw in ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions"):
            self._require(kw, "1", equipment)
        image_type = self._require("ImageType", "1", _SEG_IMAGE)
        if not isinstance(image_type, _Absent) and not _is_empty(image_type):
            values = [str(v) for v in (image_type if not isinstance(image_type, str) else [image_type])]
            if values != ["DERIVED", "PRIMARY"]:
                found = "\\".join(values)
                self.add(
                    "ImageType",
                    f"is {found}, expected DERIVED\\PRIMARY",
                    f"{_SEG_IMAGE}: value 1 DERIVED, value 2 PRIMARY, no other values",
                )
        content = "PS3.3 10.9 Content Identification Macro (in the Segmentation Image Module)"
        self._require("InstanceNumber", "1", content)
        label = self._require("ContentLabel", "1", content)
        if isinstance(label, str) and label and not re.fullmatch(r"[A-Z0-9_ ]{1,16}", label):
            self.add(
                "ContentLabel",
                f"{label!r} is not a valid CS value",
                "PS3.5 6.2 Value Representation CS: at most 16 characters, upper case letters, digits, space, underscore",
            )
        self._require("ContentDescription", "2", content)
        self._require("ContentDate", "1", _MF)
        self._require("ContentTime", "1", _MF)
        self._require("SOPInstanceUID", "1", "PS3.3 C.12.1 SOP Common Module")
        for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            uid = _get(self.ds, kw)
            if isinstance(uid, str) and uid.strip() and not _UID_RE.fullmatch(uid.strip("\0 ")):
                self.add(
                    kw,
                    f"{uid!r} is not a valid UID",
                    "PS3.5 9.1 UID encoding: digits and dots, no leading zeros, at most 64 characters",
                )
        if _get(self.ds, "PatientOrientation") is _MISSING:
            seen = " (recent dciodvfy releases report this as an error in LABELMAP files)"
            seen = seen if self.seg_type == "LABELMAP" else ""
            self.add(
                "PatientOrientation",
                f"is absent{seen}",
                "PS3.3 C.7.6.1 General Image Module: Type 2C, required when the image does not require Image "
                "Position/Orientation (Patient), as with Derivation Image frames; may be empty",
                "warning",
            )
        frame_of_reference = _get(self.ds, "FrameOfReferenceUID")
        if frame_of_reference is not _MISSING:
            self._require("FrameOfReferenceUID", "1", "PS3.3 C.7.4.1 Frame of Reference Module")
            self._require("PositionReferenceIndicator", "2", "PS3.3 C.7.4.1 Frame of Reference Module")

    def _check_image_pixel(self) -> None:
        ds, t = self.ds, self.seg_type
        self.rows = _int(self._require("Rows", "1", _PIXEL))
        self.columns = _int(self._require("Columns", "1", _PIXEL))
        for kw, value in (("Rows", self.rows), ("Columns", self.columns)):
            if value is not None and value <= 0:
                self.add(kw, f"is {value}", f"{_PIXEL}: at least 1")
        spp = _int(self._require("SamplesPerPixel", "1", _SEG_IMAGE))
        if spp is not None and spp != 1:
            self.add("SamplesPerPixel", f"is {spp}, expected 1", f"{_SEG_IMAGE}: Samples per Pixel is 1")
        pi = _text(self._require("PhotometricInterpretation", "1", _SEG_IMAGE))
        allowed = ("MONOCHROME2", "PALETTE COLOR") if t == "LABELMAP" else ("MONOCHROME2",)
        if pi and pi not in allowed:
            self.add(
                "PhotometricInterpretation",
                f"is {pi}, expected {' or '.join(allowed)} for {t}",
                f"{_SEG_IMAGE}: MONOCHROME2 for BINARY and FRACTIONAL, MONOCHROME2 or PALETTE COLOR for LABELMAP",
            )
        bits = _int(self._require("BitsAllocated", "1", _SEG_IMAGE))
        stored = _int(self._require("BitsStored", "1", _SEG_IMAGE))
        high = _int(self._require("HighBit", "1", _SEG_IMAGE))
        expected = {"BINARY": (1,), "FRACTIONAL": (8,), "LABELMAP": (8, 16)}[t]
        rule = f"{_SEG_IMAGE}: Bits Allocated = Bits Stored = High Bit + 1 = 1 (BINARY), 8 (FRACTIONAL), 8 or 16 (LABELMAP)"
        if bits is not None and bits not in expected:
            self.add("BitsAllocated", f"is {bits}, expected {' or '.join(map(str, expected))} for {t}", rule)
        else:
            self.bits = bits
        if bits is not None and stored is not None and stored != bits:
            self.add("BitsStored", f"is {stored}, expected {bits} (= Bits Allocated)", rule)
        if stored is not None and high is not None and high != stored - 1:
            self.add("HighBit", f"is {high}, expected {stored - 1} (Bits Stored - 1)", rule)
        representation = _int(self._require("PixelRepresentation", "1", _SEG_IMAGE))
        if representation is not None and representation != 0:
            self.add(
                "PixelRepresentation",
                f"is {representation}, expected 0 (unsigned)",
                f"{_SEG_IMAGE}: Pixel Representation is 0",
            )
        lossy = _text(self._require("LossyImageCompression", "1", _SEG_IMAGE))
        if lossy == "01":
            self.add(
                "LossyImageCompression",
                "is 01: the segmentation or its sources were lossy compressed",
                f"{_SEG_IMAGE} (C.8.20.2.2): allowed only for lossy sources or encoding; not advisable for a SEG",
                "warning",
            )
        elif lossy and lossy != "00":
            self.add(
                "LossyImageCompression", f"is {lossy!r}, expected 00 (or 01)", f"{_SEG_IMAGE}: enumerated values 00, 01"
            )
        overlap = _get(ds, "SegmentsOverlap")
        if overlap is not _MISSING:
            flag = _text(overlap).upper()
            if flag not in ("YES", "NO", "UNDEFINED"):
                self.add(
                    "SegmentsOverlap",
                    f"is {flag or 'empty'}, expected YES, NO or UNDEFINED",
                    f"{_SEG_IMAGE}: Type 3, enumerated values",
                )
            elif t == "LABELMAP" and flag != "NO":
                self.add(
                    "SegmentsOverlap",
                    f"is {flag} in a LABELMAP",
                    f"{_SEG_IMAGE}: if present, NO for LABELMAP (one segment per pixel)",
                )
        # Pixel Padding Value: the background Segment Number of a LABELMAP
        ppv = _get(ds, "PixelPaddingValue")
        if ppv is not _MISSING:
            value = _int(ppv)
            if t != "LABELMAP":
                self.add(
                    "PixelPaddingValue",
                    f"is present ({ppv}) in a {t} SEG",
                    f"{_IOD} content constraints (Supplement 243): Pixel Padding Value is used only for LABELMAP",
                    "warning",
                )
            elif value is None or value < 0 or (stored in (8, 16) and value >= 1 << stored):
                self.add(
                    "PixelPaddingValue",
                    f"{ppv!r} is not a pixel value of {stored}-bit data",
                    "PS3.3 C.7.5.1.1.2 Pixel Padding Value: a value of the stored pixel range",
                )
        n = _get(ds, "NumberOfFrames")
        if n is _MISSING:
            self.add("NumberOfFrames", "is absent", f"{_MF}: Type 1")
        elif _int(n) is None or _int(n) < 1:
            self.add("NumberOfFrames", f"{n!r} is not a positive integer", f"{_MF}: Type 1, at least 1")
        else:
            self.n_frames = _int(n)
        self.result.frames = (
            self.n_frames if self.n_frames is not None else (self.table.n_frames if self.table else None)
        )

    def _check_fractional(self) -> None:
        kind = self._get_text("SegmentationFractionalType")
        mfv = _get(self.ds, "MaximumFractionalValue")
        if self.seg_type == "FRACTIONAL":
            rule = f"{_SEG_IMAGE}: Type 1C, required for FRACTIONAL"
            self._require("SegmentationFractionalType", "1C", rule)
            if kind and kind not in ("PROBABILITY", "OCCUPANCY"):
                self.add(
                    "SegmentationFractionalType",
                    f"is {kind}, expected PROBABILITY or OCCUPANCY",
                    f"{_SEG_IMAGE} (C.8.20.2.3): enumerated values PROBABILITY, OCCUPANCY",
                )
            self._require("MaximumFractionalValue", "1C", rule)
            value = _int(mfv)
            if mfv is not _MISSING and (value is None or not 1 <= value <= 255):
                self.add(
                    "MaximumFractionalValue",
                    f"{mfv!r} is not in 1..255",
                    f"{_SEG_IMAGE}: the stored value meaning 1.0; 8-bit pixels hold at most 255",
                )
        else:
            for kw in ("SegmentationFractionalType", "MaximumFractionalValue"):
                if _get(self.ds, kw) is not _MISSING:
                    self.add(
                        kw,
                        f"is present in a {self.seg_type} SEG",
                        f"{_SEG_IMAGE}: Type 1C, only for FRACTIONAL",
                        "warning",
                    )

    def _get_text(self, keyword: str) -> str:
        return _text(_get(self.ds, keyword)).upper()

    # -- palette -----------------------------------------------------------------------
    def _check_palette(self) -> None:
        if self._get_text("PhotometricInterpretation") != "PALETTE COLOR" or self.seg_type != "LABELMAP":
            return
        rule = f"{_IOD}: the Palette Color Lookup Table Module is required for PALETTE COLOR"
        descriptors = []
        for colour in ("Red", "Green", "Blue"):
            kw = f"{colour}PaletteColorLookupTableDescriptor"
            value = _get(self.ds, kw)
            if isinstance(value, _Absent):
                self.add(kw, "is absent" if value is _MISSING else "cannot be decoded", f"{rule} ({_PALETTE}: Type 1)")
                continue
            try:
                desc = [int(v) for v in value]
            except (TypeError, ValueError):
                desc = []
            if len(desc) != 3:
                self.add(
                    kw,
                    f"{value!r} does not hold 3 values",
                    f"{_PALETTE} (C.7.6.3.1.5): entries, first mapped value, bits",
                )
                continue
            if desc[2] not in (8, 16):
                self.add(kw, f"bits per entry is {desc[2]}, expected 8 or 16", f"{_PALETTE} (C.7.6.3.1.5)")
            descriptors.append((colour, desc))
            data_kw, segmented_kw = (
                f"{colour}PaletteColorLookupTableData",
                f"Segmented{colour}PaletteColorLookupTableData",
            )
            data = _get(self.ds, data_kw)
            if isinstance(data, _Absent) and _get(self.ds, segmented_kw) is _MISSING:
                self.add(data_kw, "is absent (and no segmented table either)", f"{_PALETTE}: Type 1C")
            elif not isinstance(data, _Absent) and desc[2] in (8, 16):
                entries = desc[0] or 65536
                size = len(data) if isinstance(data, (bytes, bytearray)) else -1
                allowed = {2 * entries} if desc[2] == 16 else {entries, entries + entries % 2, 2 * entries}
                if size not in allowed:
                    self.add(
                        data_kw,
                        f"holds {size} bytes for {entries} entries of {desc[2]} bits",
                        f"{_PALETTE} (C.7.6.3.1.6): one entry per table entry",
                    )
        if len(descriptors) == 3 and len({tuple(d[:2]) for _, d in descriptors}) != 1:
            self.add(
                "RedPaletteColorLookupTableDescriptor",
                f"entries / first mapped value differ between colours: {[d for _, d in descriptors]}",
                f"{_PALETTE} (C.7.6.3.1.5): the first two descriptor values are the same for red, green and blue",
            )
        if descriptors:
            self.palette_range = (descriptors[0][1][1], descriptors[0][1][1] + (descriptors[0][1][0] or 65536) - 1)
        icc = _get(self.ds, "ICCProfile")
        if icc is _MISSING:
            self.add(
                "ICCProfile", "is absent", f"{_IOD}: the ICC Profile Module (C.11.15) is required for PALETTE COLOR"
            )
        elif isinstance(icc, (bytes, bytearray)):
            if len(icc) < 132 or icc[36:40] != b"acsp" or int.from_bytes(icc[:4], "big") > len(icc):
                self.add(
                    "ICCProfile",
                    f"{len(icc)} bytes that are not an ICC profile (no 'acsp' header)",
                    "PS3.3 C.11.15 ICC Profile Module: an ICC.1 profile",
                )
                return
            rule = (
                "PS3.3 C.11.15.1.1 ICC Profile: an Input Device profile (class 'scnr'; highdicom also takes "
                "'spac'), data colour space RGB, PCS Lab or XYZ"
            )
            header = (
                ("device class", icc[12:16], (b"scnr", b"spac")),
                ("colour space", icc[16:20], (b"RGB ",)),
                ("connection space", icc[20:24], (b"Lab ", b"XYZ ")),
            )
            for what, found, allowed in header:
                if found not in allowed:
                    self.add(
                        "ICCProfile",
                        f"{what} is {found.decode('latin-1').strip()!r}, expected "
                        f"{' or '.join(repr(a.decode().strip()) for a in allowed)}",
                        rule,
                    )

    # -- segments ------------------------------------------------------------------------
    def _check_code(self, item: Dataset, path: str, rule: str, segment: int | None) -> None:
        has_value = False
        for kw in ("CodeValue", "LongCodeValue", "URNCodeValue"):
            if not _is_empty(_get(item, kw)):
                has_value = True
        if not has_value:
            self.add(
                "CodeValue",
                "is absent (nor Long Code Value or URN Code Value)",
                f"{_CODE}: Type 1C ({rule})",
                path=f"{path}.CodeValue",
                segment=segment,
            )
        if (not _is_empty(_get(item, "CodeValue")) or not _is_empty(_get(item, "LongCodeValue"))) and _is_empty(
            _get(item, "CodingSchemeDesignator")
        ):
            self.add(
                "CodingSchemeDesignator",
                "is absent or empty",
                f"{_CODE}: Type 1C ({rule})",
                path=f"{path}.CodingSchemeDesignator",
                segment=segment,
            )
        if _is_empty(_get(item, "CodeMeaning")):
            self.add(
                "CodeMeaning",
                "is absent or empty",
                f"{_CODE}: Type 1 ({rule})",
                path=f"{path}.CodeMeaning",
                segment=segment,
            )

    def _check_segments(self) -> None:
        value = _get(self.ds, "SegmentSequence")
        items = _items(value)
        if not items:
            found = "is absent" if value is _MISSING else "holds no items"
            self.add("SegmentSequence", found, f"{_SEG_IMAGE}: Type 1, one or more items")
            return
        palette = self._get_text("PhotometricInterpretation") == "PALETTE COLOR"
        seen: dict[int, int] = {}
        for i, item in enumerate(items, start=1):
            path = f"SegmentSequence[{i}]"
            number = _int(_get(item, "SegmentNumber"))
            if number is None:
                self.add(
                    "SegmentNumber", "is absent or not a number", f"{_SEGMENT}: Type 1", path=f"{path}.SegmentNumber"
                )
            elif number in seen:
                self.add(
                    "SegmentNumber",
                    f"{number} is also used by SegmentSequence[{seen[number]}]",
                    f"{_SEGMENT}: Segment Number is unique within the instance",
                    path=f"{path}.SegmentNumber",
                    segment=number,
                )
            else:
                seen[number] = i
            seg = number
            if _is_empty(_get(item, "SegmentLabel")):
                self.add(
                    "SegmentLabel",
                    "is absent or empty",
                    f"{_SEGMENT}: Type 1",
                    path=f"{path}.SegmentLabel",
                    segment=seg,
                )
            algorithm = _text(_get(item, "SegmentAlgorithmType"))
            if algorithm not in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
                self.add(
                    "SegmentAlgorithmType",
                    f"is {algorithm or 'absent'}, expected AUTOMATIC, SEMIAUTOMATIC or MANUAL",
                    f"{_SEGMENT}: Type 1, enumerated values",
                    path=f"{path}.SegmentAlgorithmType",
                    segment=seg,
                )
            if algorithm and algorithm != "MANUAL" and _is_empty(_get(item, "SegmentAlgorithmName")):
                self.add(
                    "SegmentAlgorithmName",
                    f"is absent or empty (Segment Algorithm Type is {algorithm})",
                    f"{_SEG_IMAGE}: Type 1C, required unless Segment Algorithm Type is MANUAL",
                    path=f"{path}.SegmentAlgorithmName",
                    segment=seg,
                )
            for kw in ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"):
                codes = _items(_get(item, kw))
                if len(codes) != 1:
                    self.add(
                        kw,
                        f"holds {len(codes)} items, expected exactly 1",
                        f"{_SEGMENT}: Type 1, a single item",
                        path=f"{path}.{kw}",
                        segment=seg,
                    )
                for j, code in enumerate(codes, start=1):
                    self._check_code(code, f"{path}.{kw}[{j}]", _SEGMENT, seg)
                    if kw == "SegmentedPropertyTypeCodeSequence":
                        for k, modifier in enumerate(
                            _items(_get(code, "SegmentedPropertyTypeModifierCodeSequence")), 1
                        ):
                            self._check_code(
                                modifier,
                                f"{path}.{kw}[{j}].SegmentedPropertyTypeModifierCodeSequence[{k}]",
                                _SEGMENT,
                                seg,
                            )
            for j, code in enumerate(_items(_get(item, "AnatomicRegionSequence")), start=1):
                self._check_code(code, f"{path}.AnatomicRegionSequence[{j}]", _SEGMENT, seg)
            tracking_id, tracking_uid = _get(item, "TrackingID"), _get(item, "TrackingUID")
            if tracking_id is not _MISSING and _is_empty(tracking_uid):
                self.add(
                    "TrackingUID",
                    "is absent while Tracking ID is present",
                    f"{_SEGMENT}: Type 1C, each requires the other",
                    path=f"{path}.TrackingUID",
                    segment=seg,
                )
            if tracking_uid is not _MISSING and _is_empty(tracking_id):
                self.add(
                    "TrackingID",
                    "is absent while Tracking UID is present",
                    f"{_SEGMENT}: Type 1C, each requires the other",
                    path=f"{path}.TrackingID",
                    segment=seg,
                )
            lab = _get(item, "RecommendedDisplayCIELabValue")
            if lab is not _MISSING:
                if palette and self.seg_type == "LABELMAP":
                    self.add(
                        "RecommendedDisplayCIELabValue",
                        "is present in a PALETTE COLOR label map",
                        f"{_SEG_IMAGE}: not present when Segmentation Type is LABELMAP and Photometric "
                        "Interpretation is PALETTE COLOR (the palette gives the colours)",
                        path=f"{path}.RecommendedDisplayCIELabValue",
                        segment=seg,
                    )
                else:
                    try:
                        ok = len(lab) == 3
                    except TypeError:
                        ok = False
                    if not ok:
                        self.add(
                            "RecommendedDisplayCIELabValue",
                            f"{lab!r} does not hold 3 values (L*, a*, b*)",
                            f"{_SEG_IMAGE}: VM 3",
                            path=f"{path}.RecommendedDisplayCIELabValue",
                            segment=seg,
                        )
        self.numbers = seen
        numbers = sorted(seen)
        if self.seg_type in ("BINARY", "FRACTIONAL") and numbers and numbers != list(range(1, len(numbers) + 1)):
            self.add(
                "SegmentNumber",
                f"Segment Numbers are {_values_text(numbers)}, expected 1..{len(numbers)}",
                "PS3.3 C.8.20.2.4 Segment Number: BINARY and FRACTIONAL numbers start at 1 and increase by 1",
                path="SegmentSequence[*].SegmentNumber",
            )
        if self.seg_type == "LABELMAP":
            bits = _int(_get(self.ds, "BitsStored"))
            if bits in (8, 16):
                too_big = [n for n in numbers if n >= 1 << bits]
                if too_big:
                    self.add(
                        "SegmentNumber",
                        f"{_values_text(too_big)} cannot occur in {bits}-bit pixels",
                        f"{_SEG_IMAGE} (C.8.20.2.3.3): a LABELMAP pixel value is a Segment Number",
                        "warning",
                        path="SegmentSequence[*].SegmentNumber",
                        segment=too_big[0],
                    )
            ppv = _int(_get(self.ds, "PixelPaddingValue"))
            if ppv is not None and ppv not in seen:
                self.add(
                    "PixelPaddingValue",
                    f"{ppv} (background) has no Segment Sequence item",
                    f"{_SEG_IMAGE} (Supplement 243): the background Segment Number is described like any other",
                    "warning",
                    segment=ppv,
                )

    # -- functional groups ------------------------------------------------------------------
    def _shared(self) -> Dataset | None:
        items = _items(_get(self.ds, "SharedFunctionalGroupsSequence"))
        return items[0] if items else None

    def _shared_item(self, seq: str) -> Dataset | None:
        shared = self._shared()
        items = _items(_get(shared, seq))
        return items[0] if items else None

    def _tiled_full(self) -> bool:
        return self._get_text("DimensionOrganizationType") == "TILED_FULL"

    def _check_shared_groups(self) -> None:
        value = _get(self.ds, "SharedFunctionalGroupsSequence")
        items = _items(value)
        if value is _MISSING:
            self.add("SharedFunctionalGroupsSequence", "is absent", f"{_MF}: Type 1")
        elif len(items) != 1:
            self.add(
                "SharedFunctionalGroupsSequence",
                f"holds {len(items)} items, expected exactly 1",
                f"{_MF}: Type 1, one item",
            )
        shared = items[0] if items else None
        if shared is not None and _get(shared, "FrameContentSequence") is not _MISSING:
            self.add(
                "FrameContentSequence",
                "is in the Shared Functional Groups Sequence",
                "PS3.3 C.7.6.16.2.2 Frame Content Macro: per-frame only",
                path="SharedFunctionalGroupsSequence[1].FrameContentSequence",
            )
        if (
            self.seg_type == "LABELMAP"
            and shared is not None
            and _get(shared, "SegmentIdentificationSequence") is not _MISSING
        ):
            self.add(
                "SegmentIdentificationSequence",
                "is present in the Shared Functional Groups Sequence of a LABELMAP",
                f"{_FG} (Table A.51-2): the Segmentation macro is not used for LABELMAP (pixel values are the numbers)",
                path="SharedFunctionalGroupsSequence[1].SegmentIdentificationSequence",
            )
        self.slide = (
            any(_get(self.ds, kw) is not _MISSING for kw in ("ImageOrientationSlide", "TotalPixelMatrixRows"))
            or _get(shared, "PlanePositionSlideSequence") is not _MISSING
        )
        if self._tiled_full():
            for kw in ("TotalPixelMatrixRows", "TotalPixelMatrixColumns", "TotalPixelMatrixOriginSequence"):
                self._require(
                    kw,
                    "1",
                    f"{_IOD}: the Microscope Slide Layer Tile Organization Module (C.8.12.14) "
                    "is required for TILED_FULL",
                )

    def _check_frames(self) -> None:
        """Per-frame values (from the bulk table): count, geometry, segment identification."""
        table, t = self.table, self.seg_type
        per_frame = "PerFrameFunctionalGroupsSequence"
        if table is None:
            if not self._tiled_full():
                self.add(
                    per_frame,
                    "is absent or empty",
                    f"{_MF}: Type 1C, required unless Dimension Organization Type is TILED_FULL",
                )
            return
        if self.n_frames is not None and table.n_frames != self.n_frames:
            self.add(
                "NumberOfFrames",
                f"is {self.n_frames} but the Per-frame Functional Groups Sequence has {table.n_frames} items",
                f"{_MF}: one Per-frame Functional Groups item per frame",
            )
        n = table.n_frames
        shared = self._shared()
        derived = np.array([u is not None for u in table.source_instance_uids], dtype=bool)
        if _get(shared, "DerivationImageSequence") is not _MISSING:
            derived[:] = True
        if not self.slide:
            self._check_geometry(table, shared, derived)
        # Segment Identification (Segmentation macro)
        seg_shared = self._shared_item("SegmentIdentificationSequence")
        numbers = table.segment_numbers
        if t == "LABELMAP":
            if numbers is not None:
                frames = np.flatnonzero(numbers != 0) + 1
                first = int(frames[0]) if frames.size else None
                self.add(
                    "SegmentIdentificationSequence",
                    f"is present in {_frames_text(frames) if frames.size else 'some frames'} of a LABELMAP",
                    f"{_FG} (Table A.51-2): the Segmentation macro is not used for LABELMAP",
                    path=f"{per_frame}[{first or '*'}].SegmentIdentificationSequence",
                    frame=first,
                )
            return
        if numbers is not None and seg_shared is not None and (numbers != 0).any():
            self.add(
                "SegmentIdentificationSequence",
                "is in both the shared and the per-frame functional groups",
                "PS3.3 C.7.6.16.1: a functional group macro is either shared or per-frame, not both",
            )
        if numbers is None:
            shared_number = _int(_get(seg_shared, "ReferencedSegmentNumber"))
            if shared_number is None:
                if not self._tiled_full():
                    self.add(
                        "SegmentIdentificationSequence",
                        f"is absent from every frame (BINARY/FRACTIONAL, {n} frames)",
                        f"{_SEG_MACRO}: required per frame (or shared) unless TILED_FULL",
                        path=f"{per_frame}[*].SegmentIdentificationSequence",
                    )
                return
            numbers = np.full(n, shared_number, dtype=np.int64)
        missing = np.flatnonzero(numbers == 0)
        if missing.size:
            self.add(
                "ReferencedSegmentNumber",
                f"is absent in {_frames_text(missing + 1)}",
                f"{_SEG_MACRO}: Segment Identification Sequence > Referenced Segment Number, Type 1",
                path=f"{per_frame}[{missing[0] + 1}].SegmentIdentificationSequence[1].ReferencedSegmentNumber",
                frame=int(missing[0]) + 1,
            )
        if self.numbers:
            unknown = sorted(set(int(v) for v in numbers[numbers != 0]) - set(self.numbers))
            for number in unknown[:10]:
                frames = np.flatnonzero(numbers == number) + 1
                self.add(
                    "ReferencedSegmentNumber",
                    f"{number} ({_frames_text(frames)}) has no Segment Sequence item",
                    f"{_SEG_MACRO}: refers to a Segment Number of the Segment Sequence",
                    path=f"{per_frame}[{frames[0]}].SegmentIdentificationSequence[1].ReferencedSegmentNumber",
                    frame=int(frames[0]),
                    segment=number,
                )
        self.frame_segments = numbers

    def _check_geometry(self, table: Any, shared: Dataset | None, derived: np.ndarray) -> None:
        per_frame = "PerFrameFunctionalGroupsSequence"
        n = table.n_frames
        has_for = _get(self.ds, "FrameOfReferenceUID") is not _MISSING
        groups = (
            (
                "PlanePositionSequence",
                "ImagePositionPatient",
                table.positions,
                3,
                "PS3.3 C.7.6.16.2.3 Plane Position (Patient)",
            ),
            (
                "PlaneOrientationSequence",
                "ImageOrientationPatient",
                table.orientations,
                6,
                "PS3.3 C.7.6.16.2.4 Plane Orientation (Patient)",
            ),
            ("PixelMeasuresSequence", "PixelSpacing", table.pixel_spacings, 2, "PS3.3 C.7.6.16.2.1 Pixel Measures"),
        )
        values_of: dict[str, np.ndarray] = {}
        for seq, kw, column, width, rule in groups:
            shared_item = self._shared_item(seq)
            shared_value = None
            if shared_item is not None:
                try:
                    shared_value = np.array([float(v) for v in np.atleast_1d(_get(shared_item, kw))], dtype=float)
                except (TypeError, ValueError):
                    shared_value = np.array([])
                if shared_value.size != width:
                    self.add(
                        kw,
                        f"holds {shared_value.size} values, expected {width}",
                        f"{rule} macro",
                        path=f"SharedFunctionalGroupsSequence[1].{seq}[1].{kw}",
                    )
                    shared_value = None
            values = np.full((n, width), np.nan)
            present = np.zeros(n, dtype=bool)
            if column is not None:
                col = np.asarray(column, dtype=float).reshape(n, width)
                present = np.isfinite(col).all(axis=1)
                values[present] = col[present]
                if shared_item is not None and present.any():
                    self.add(
                        seq,
                        "is in both the shared and the per-frame functional groups",
                        "PS3.3 C.7.6.16.1: a functional group macro is either shared or per-frame, not both",
                    )
            if shared_value is not None:
                values[~present] = shared_value
                present[:] = True
            lacking = np.flatnonzero(~present)
            if lacking.size:
                needed = lacking[~derived[lacking]] if has_for else lacking[:0]
                frames = (needed if needed.size else lacking) + 1
                severity: Severity = "error" if needed.size else "warning"
                self.add(
                    kw,
                    f"is absent in {_frames_text(frames)} (neither per-frame nor shared)",
                    f"{_FG} (Table A.51-2): {rule} is required when there is no Derivation Image; "
                    "without it frames cannot be placed in patient space",
                    severity,
                    path=f"{per_frame}[{frames[0]}].{seq}[1].{kw}",
                    frame=int(frames[0]),
                )
            values_of[kw] = values
        orientation = values_of["ImageOrientationPatient"]
        ok = np.isfinite(orientation).all(axis=1)
        if ok.any():
            rows, cols = orientation[:, :3], orientation[:, 3:]
            bad = ok & (
                (np.abs(np.linalg.norm(rows, axis=1) - 1) > 1e-3)
                | (np.abs(np.linalg.norm(cols, axis=1) - 1) > 1e-3)
                | (np.abs(np.einsum("ij,ij->i", rows, cols)) > 1e-3)
            )
            if bad.any():
                f = int(np.flatnonzero(bad)[0])
                self.add(
                    "ImageOrientationPatient",
                    f"{orientation[f].tolist()} ({_frames_text(np.flatnonzero(bad) + 1)}) "
                    "are not two orthogonal unit vectors",
                    "PS3.3 C.7.6.2.1.1 Image Orientation (Patient): row and column direction cosines",
                    frame=f + 1,
                )
        spacing = values_of["PixelSpacing"]
        bad = np.isfinite(spacing).all(axis=1) & (spacing <= 0).any(axis=1)
        if bad.any():
            f = int(np.flatnonzero(bad)[0])
            self.add(
                "PixelSpacing",
                f"{spacing[f].tolist()} ({_frames_text(np.flatnonzero(bad) + 1)}) is not positive",
                "PS3.3 10.7.1.3 Pixel Spacing: row and column spacing in mm, positive",
                frame=f + 1,
            )
        positions = values_of["ImagePositionPatient"]
        if np.isfinite(positions).all():
            # LABELMAP: one frame per position; BINARY/FRACTIONAL: one frame per (segment, position)
            _, position_id = np.unique(np.round(positions, 3), axis=0, return_inverse=True)
            self.position_ids = position_id.reshape(-1)

    def _check_references(self) -> None:
        """Derivation Image / Common Instance Reference / Frame of Reference conditions (A.51-1)."""
        table = self.table
        shared = self._shared()
        sources: list[str | None] = list(table.source_instance_uids) if table is not None else []
        shared_derivation = _items(_get(shared, "DerivationImageSequence"))
        for d in shared_derivation:
            for s in _items(_get(d, "SourceImageSequence")):
                sources.append(_text(_get(s, "ReferencedSOPInstanceUID")) or None)
        referenced = {u for u in sources if u}
        has_derivation = bool(referenced) or bool(shared_derivation)
        series = _get(self.ds, "ReferencedSeriesSequence")
        other = _get(self.ds, "StudiesContainingOtherReferencedInstancesSequence")
        if _get(self.ds, "FrameOfReferenceUID") is _MISSING and not has_derivation and table is not None:
            self.add(
                "FrameOfReferenceUID",
                "is absent and no frame has a Derivation Image",
                f"{_IOD} (Table A.51-1): the Frame of Reference Module is required without Derivation Image",
            )
        if not has_derivation:
            return
        if series is _MISSING and other is _MISSING:
            self.add(
                "ReferencedSeriesSequence",
                "is absent although frames reference source images",
                f"{_IOD} (Table A.51-1): the Common Instance Reference Module is required with Derivation Image "
                f"({_CIR}: Type 1C)",
            )
            return
        listed: set[str] = set()
        for i, item in enumerate(_items(series), start=1):
            path = f"ReferencedSeriesSequence[{i}]"
            self._require("SeriesInstanceUID", "1", _CIR, item, f"{path}.SeriesInstanceUID")
            instances = _items(_get(item, "ReferencedInstanceSequence"))
            if not instances:
                self.add(
                    "ReferencedInstanceSequence",
                    "is absent or empty",
                    f"{_CIR}: Type 1",
                    path=f"{path}.ReferencedInstanceSequence",
                )
            for j, inst in enumerate(instances, start=1):
                where = f"{path}.ReferencedInstanceSequence[{j}]"
                self._require("ReferencedSOPClassUID", "1", _CIR, inst, f"{where}.ReferencedSOPClassUID")
                uid = self._require("ReferencedSOPInstanceUID", "1", _CIR, inst, f"{where}.ReferencedSOPInstanceUID")
                if isinstance(uid, str):
                    listed.add(uid.strip())
        for study in _items(other):
            for item in _items(_get(study, "ReferencedSeriesSequence")):
                for inst in _items(_get(item, "ReferencedInstanceSequence")):
                    listed.add(_text(_get(inst, "ReferencedSOPInstanceUID")))
        unlisted = sorted(referenced - listed)
        if unlisted:
            self.add(
                "ReferencedInstanceSequence",
                f"does not list {len(unlisted)} source instance(s) the frames derive from, e.g. {unlisted[0]}",
                f"{_CIR}: lists every instance referenced by this one",
                "warning",
                path="ReferencedSeriesSequence[*].ReferencedInstanceSequence",
            )

    def _check_dimensions(self) -> None:
        ds, table = self.ds, self.table
        organisation = _get(ds, "DimensionOrganizationSequence")
        uids: set[str] = set()
        if organisation is _MISSING or not _items(organisation):
            self.add("DimensionOrganizationSequence", "is absent or empty", f"{_DIM}: Type 1")
        for i, item in enumerate(_items(organisation), start=1):
            uid = self._require(
                "DimensionOrganizationUID",
                "1",
                _DIM,
                item,
                f"DimensionOrganizationSequence[{i}].DimensionOrganizationUID",
            )
            if isinstance(uid, str):
                uids.add(uid.strip())
        index_value = _get(ds, "DimensionIndexSequence")
        index = _items(index_value)
        if not index:
            if not self._tiled_full():
                self.add(
                    "DimensionIndexSequence",
                    "is absent or empty",
                    f"{_DIM}: Type 1C, required unless Dimension Organization Type is TILED_FULL",
                )
        for i, item in enumerate(index, start=1):
            path = f"DimensionIndexSequence[{i}]"
            pointer = _int(self._require("DimensionIndexPointer", "1", _DIM, item, f"{path}.DimensionIndexPointer"))
            group = _get(item, "FunctionalGroupPointer")
            if group is _MISSING:
                self.add(
                    "FunctionalGroupPointer",
                    "is absent",
                    f"{_DIM}: Type 1C, required for attributes in functional groups",
                    path=f"{path}.FunctionalGroupPointer",
                )
            uid = _text(_get(item, "DimensionOrganizationUID"))
            if not uid:
                self.add(
                    "DimensionOrganizationUID",
                    "is absent or empty",
                    f"{_DIM}: Type 1",
                    path=f"{path}.DimensionOrganizationUID",
                )
            elif uids and uid not in uids:
                self.add(
                    "DimensionOrganizationUID",
                    f"{uid} is not in the Dimension Organization Sequence",
                    f"{_DIM}: each index belongs to a declared organization",
                    path=f"{path}.DimensionOrganizationUID",
                )
            if pointer is None:
                continue
            if pointer == 0x0062000B and self.seg_type == "LABELMAP":
                self.add(
                    "DimensionIndexPointer",
                    "is Referenced Segment Number (0062,000B) in a LABELMAP",
                    f"{_FG} (Table A.51-2): a LABELMAP has no Segment Identification Sequence to index",
                    path=f"{path}.DimensionIndexPointer",
                )
            expected = _POINTER_GROUPS.get(pointer)
            if expected is not None and _int(group) is not None and _int(group) != expected:
                self.add(
                    "FunctionalGroupPointer",
                    f"is {_tag_text(_int(group))} but {_keyword(pointer)} {_tag_text(pointer)} lives in "
                    f"{_keyword(expected)} {_tag_text(expected)}",
                    f"{_DIM}: the pointer names the functional group sequence that holds the indexed attribute",
                    path=f"{path}.FunctionalGroupPointer",
                )
        if table is None or not index:
            return
        values = table.dimension_index_values
        n_dims = len(index)
        per_frame = "PerFrameFunctionalGroupsSequence"
        if values is None:
            self.add(
                "DimensionIndexValues",
                f"is absent from every frame ({n_dims} dimension(s) declared)",
                "PS3.3 C.7.6.16.2.2 Frame Content Macro: Type 1C, required when a Dimension Index Sequence exists",
                path=f"{per_frame}[*].FrameContentSequence[1].DimensionIndexValues",
            )
            return
        lengths = np.array([len(v) for v in values])
        absent = np.flatnonzero(lengths == 0)
        if absent.size:
            self.add(
                "DimensionIndexValues",
                f"is absent in {_frames_text(absent + 1)}",
                "PS3.3 C.7.6.16.2.2 Frame Content Macro: Type 1C, required when a Dimension Index Sequence exists",
                path=f"{per_frame}[{absent[0] + 1}].FrameContentSequence[1].DimensionIndexValues",
                frame=int(absent[0]) + 1,
            )
        wrong = np.flatnonzero((lengths != 0) & (lengths != n_dims))
        if wrong.size:
            f = int(wrong[0])
            self.add(
                "DimensionIndexValues",
                f"holds {lengths[f]} values in {_frames_text(wrong + 1)}, but the Dimension "
                f"Index Sequence has {n_dims} items",
                "PS3.3 C.7.6.16.2.2 Frame Content Macro: one value per Dimension Index Sequence item",
                path=f"{per_frame}[{f + 1}].FrameContentSequence[1].DimensionIndexValues",
                frame=f + 1,
            )
        full = [tuple(v) for v in values if len(v) == n_dims]
        if full and len(set(full)) != len(full):
            from collections import Counter

            dup, count = Counter(full).most_common(1)[0]
            self.add(
                "DimensionIndexValues",
                f"{list(dup)} is shared by {count} frames; the index does not tell frames apart",
                f"{_DIM} (C.7.6.17.1): each frame has its own position in the dimension space",
                "warning",
                path=f"{per_frame}[*].FrameContentSequence[1].DimensionIndexValues",
            )

    def _check_deep_items(self) -> None:
        """Structure of every per-frame item read with pydicom: item counts, derivation codes."""
        n = self.table.n_frames if self.table is not None else 0
        deep = self.deep if self.deep is not None else (self.items is not None or n <= DEEP_FRAME_LIMIT)
        if not n or not deep:
            return
        items = self.items
        if items is None:
            try:
                items = _items(
                    _get(pydicom.dcmread(self.result.name, stop_before_pixels=True), "PerFrameFunctionalGroupsSequence")
                )
            except Exception:
                return  # the bulk reader read it; structure problems were reported there
        self.result.per_frame_items_checked = True
        found: dict[tuple, list[int]] = {}
        cache: dict[tuple, list[tuple]] = {}  # (tag, raw bytes of the group) -> notes: frames often share groups
        groups = {_TAG_OF[kw]: kw for kw in _SINGLE_ITEM_GROUPS}
        content_tag = _TAG_OF["FrameContentSequence"]
        for f, item in enumerate(items, start=1):
            if content_tag not in item:
                found.setdefault(("absent", "FrameContentSequence"), []).append(f)
            for tag, kw in groups.items():
                try:
                    elem = item.get_item(tag)
                except Exception:
                    elem = None
                if elem is None:
                    continue
                raw = elem.value
                if kw != "DerivationImageSequence" and _one_raw_item(raw):
                    continue  # exactly one item, seen from the bytes without parsing them
                key = (tag, bytes(raw)) if isinstance(raw, (bytes, bytearray)) else (tag, id(raw))
                notes = cache.get(key)
                if notes is None:
                    notes = cache[key] = _group_notes(kw, _get(item, kw))
                for note in notes:
                    found.setdefault(note, []).append(f)
        per_frame = "PerFrameFunctionalGroupsSequence"
        for key, frames in found.items():
            first = frames[0]
            where = _frames_text(frames)
            if key[0] == "absent":
                self.add(
                    key[1],
                    f"is absent in {where}",
                    f"{_FG} (Table A.51-2): Frame Content is mandatory, per frame",
                    path=f"{per_frame}[{first}].{key[1]}",
                    frame=first,
                )
            elif key[0] == "count":
                self.add(
                    key[1],
                    f"holds {key[2]} items in {where}, expected exactly 1",
                    "PS3.3 C.7.6.16.2 functional group macros: a single item",
                    path=f"{per_frame}[{first}].{key[1]}",
                    frame=first,
                )
            elif key[0] == "derivation":
                found_code = f"{key[1][0][0]}, {key[1][0][1]}" if key[1] else "none"
                self.add(
                    "DerivationCodeSequence",
                    f"is ({found_code}) in {where}, expected (113076, DCM, Segmentation)",
                    "PS3.3 A.51.5.1 Segmentation Functional Groups Description",
                    path=f"{per_frame}[{first}].DerivationImageSequence[1].DerivationCodeSequence",
                    frame=first,
                )
            elif key[0] == "no-source":
                self.add(
                    "SourceImageSequence",
                    f"is absent or empty in {where}",
                    "PS3.3 C.7.6.16.2.6 Derivation Image Macro: Type 2 sequence of the source images",
                    "warning",
                    path=f"{per_frame}[{first}].DerivationImageSequence[1].SourceImageSequence",
                    frame=first,
                )
            elif key[0] == "source-uid":
                self.add(
                    key[1],
                    f"is absent or empty in {where}",
                    "PS3.3 C.7.6.16.2.6 Derivation Image Macro: Type 1",
                    path=f"{per_frame}[{first}].DerivationImageSequence[1].SourceImageSequence[1].{key[1]}",
                    frame=first,
                )
            elif key[0] == "purpose":
                found_code = f"{key[1][0][0]}, {key[1][0][1]}" if key[1] else "none"
                self.add(
                    "PurposeOfReferenceCodeSequence",
                    f"is ({found_code}) in {where}, expected (121322, DCM, Source image for image processing operation)",
                    "PS3.3 A.51.5.1 Segmentation Functional Groups Description",
                    path=f"{per_frame}[{first}].DerivationImageSequence[1].SourceImageSequence[1]."
                    "PurposeOfReferenceCodeSequence",
                    frame=first,
                )

    # -- encoding ------------------------------------------------------------------------
    def _transfer_syntax(self) -> str:
        return _text(_get(getattr(self.ds, "file_meta", None), "TransferSyntaxUID"))

    def _check_transfer_syntax(self) -> None:
        ts = self._transfer_syntax()
        if not ts:
            return
        kw = "TransferSyntaxUID"
        lossy_flag = self._get_text("LossyImageCompression")
        if ts == _BIG_ENDIAN:
            self.add(kw, f"{_uid_name(ts)} is retired", "PS3.5 A.3 (retired): readers need not support it", "warning")
        if ts in _LOSSY or ts.startswith("1.2.840.10008.1.2.4.10"):
            severity: Severity = "error" if lossy_flag != "01" else "warning"
            self.add(
                kw,
                f"{_uid_name(ts)} is lossy" + (" while Lossy Image Compression is 00" if severity == "error" else ""),
                f"{_SEG_IMAGE} (C.8.20.2.2): lossy encoding sets Lossy Image Compression 01 and is not advisable "
                "for a segmentation (it changes labels)",
                severity,
            )
        elif ts in _MAYBE_LOSSY:
            self.add(
                kw,
                f"{_uid_name(ts)} may be lossy; readers cannot tell that the frames are exact",
                f"{_SEG_IMAGE} (C.8.20.2.2): prefer the lossless-only syntax (e.g. {_J2K_LOSSLESS})",
                "warning",
            )
        elif ts not in _NATIVE and ts not in _LOSSLESS_ENCAPSULATED:
            self.add(
                kw,
                f"{_uid_name(ts)} is not a transfer syntax known to hold exact segmentation frames",
                f"{_ENCODING}: SEG frames need a lossless encoding",
                "warning",
            )
        if self.seg_type == "BINARY":
            rule = (
                f"{_ENCODING}: 1-bit frames (Bits Allocated 1) can be stored native, deflated, or as JPEG 2000 / "
                "Deflated Image Frame Compression"
            )
            if ts in (
                _JPEGLS_LOSSLESS,
                _JPEGLS_NEAR,
                *_JPEG_LOSSLESS,
                "1.2.840.10008.1.2.4.50",
                "1.2.840.10008.1.2.4.51",
            ):
                self.add(
                    kw, f"{_uid_name(ts)} has no 1-bit form (its codestreams hold at least 2 bits per sample)", rule
                )
            elif ts == _RLE:
                self.add(
                    kw,
                    f"{_uid_name(ts)} for 1-bit frames: only recent editions of PS3.5 (8.2.2) define it and "
                    "DCMTK, dcmqi and highdicom do not read or write it",
                    rule,
                    "warning",
                )

    # -- pixels --------------------------------------------------------------------------
    def _check_pixels(self) -> None:
        from labelmap.seg.decode import FrameInfo, OpenedSeg

        n, rows, columns, bits = self.n_frames, self.rows, self.columns, self.bits
        if n is None or not rows or not columns or bits is None:
            return  # the attributes that size Pixel Data are broken and were reported
        ts = self._transfer_syntax()
        encapsulated = ts not in _NATIVE if ts else _pixel_data_is_encapsulated(self.ds)
        present, length = self._pixel_data_length()
        if not present:
            self.add("PixelData", "is absent", f"{_PIXEL}: Type 1C, the frames", tag="(7FE0,0010)")
            return
        npx = rows * columns
        if not encapsulated:
            need = (n * npx + 7) // 8 if bits == 1 else n * npx * (bits // 8)
            rule = (
                "PS3.5 8.1.1 native Pixel Data: Rows x Columns x Number of Frames x Bits Allocated / 8, padded to even"
            )
            if length % 2:
                self.add(
                    "PixelData",
                    f"has an odd length ({length} bytes)",
                    "PS3.5 7.1.1: values have an even length",
                    tag="(7FE0,0010)",
                )
            if (
                bits == 1
                and npx % 8
                and length in (n * ((npx + 7) // 8), n * ((npx + 7) // 8) + 1)
                and length > need + 1
            ):
                self.add(
                    "PixelData",
                    f"holds {length} bytes: each 1-bit frame is padded to a byte boundary "
                    f"({rows} x {columns} = {npx} pixels is not a multiple of 8)",
                    "PS3.5 8.1.1: 1-bit frames are packed continuously, with no padding between frames",
                    tag="(7FE0,0010)",
                )
                return
            if length < need:
                self.add(
                    "PixelData",
                    f"holds {length} bytes but {n} frames of {rows} x {columns} at {bits} bit(s) need {need}",
                    rule,
                    tag="(7FE0,0010)",
                )
                return
            if length > need + 1:
                self.add(
                    "PixelData",
                    f"holds {length} bytes, {length - need} more than {n} frames need ({need})",
                    rule,
                    "warning",
                    tag="(7FE0,0010)",
                )
        else:
            if not self._check_fragments(ts, n):
                return
            if bits == 1 and ts not in (_J2K_LOSSLESS, _J2K_ANY):
                return  # no 1-bit codec for this syntax here; the syntax itself was reported
            from labelmap.dicom.pixels.codecs import SYNTAXES

            if ts and ts not in {str(uid) for uid in SYNTAXES.values()}:
                self.add(
                    "PixelData",
                    f"pixel values not checked: labelmap has no decoder for {_uid_name(ts)}",
                    "decoding the frames needs a codec for the transfer syntax",
                    "warning",
                    tag="(7FE0,0010)",
                )
                return
        info = FrameInfo(
            positions=np.zeros((n, 3)),
            orientation=np.array([1.0, 0, 0, 0, 1, 0]),
            pixel_spacing=(1.0, 1.0),
            slice_spacing=None,
            segment_numbers=None,
            rows=rows,
            columns=columns,
        )
        opened = OpenedSeg(self.ds, self.result.name, info, self.pixels)
        try:
            if bits == 1:
                from labelmap.seg.decode_classic import _binary_stream

                self._check_binary_pixels(_binary_stream(opened), n, npx)
            else:
                from labelmap.seg.decode import frames_array

                frames = np.asarray(frames_array(opened))
                if self.seg_type == "LABELMAP":
                    self._check_labelmap_pixels(frames)
                elif self.seg_type == "FRACTIONAL":
                    self._check_fractional_pixels(frames)
        except MissingDependencyError as exc:
            self.add(
                "PixelData",
                f"pixel values not checked: {exc}",
                "decoding the frames needs a codec package",
                "warning",
                tag="(7FE0,0010)",
            )
        except LabelmapError as exc:
            message = str(exc).replace(f"{self.result.name}: ", "")
            self.add(
                "PixelData",
                f"frames cannot be decoded: {message}",
                f"{_ENCODING}: the frames of the transfer syntax",
                tag="(7FE0,0010)",
            )

    def _pixel_data_length(self) -> tuple[bool, int]:
        if self.pixels is not None:
            return bool(self.pixels.present), int(self.pixels.length)
        value = _get(self.ds, "PixelData")
        if isinstance(value, _Absent) or value is None:
            return False, 0
        return True, len(value)

    def _check_fragments(self, ts: str, n: int) -> bool:
        """Encapsulated Pixel Data: fragments and offset table against the frame count."""
        if self.pixels is not None:
            if not self.pixels.encapsulated:
                self.add(
                    "PixelData",
                    f"is native although {_uid_name(ts)} is encapsulated",
                    "PS3.5 A.4: compressed transfer syntaxes encapsulate Pixel Data",
                    tag="(7FE0,0010)",
                )
                return False
            fragments, bot = len(self.pixels.fragments), len(self.pixels.basic_offset_table)
        else:
            from pydicom.encaps import parse_basic_offsets, parse_fragments

            value = _get(self.ds, "PixelData")
            try:
                bot = len(parse_basic_offsets(value))
                fragments = parse_fragments(value[8 + 4 * bot :])[0]
            except Exception as exc:
                self.add("PixelData", f"encapsulated items cannot be parsed ({exc})", "PS3.5 A.4", tag="(7FE0,0010)")
                return False
        if bot not in (0, n):
            self.add(
                "PixelData",
                f"Basic Offset Table has {bot} entries for {n} frames",
                "PS3.5 A.4: the Basic Offset Table is empty or has one entry per frame",
                tag="(7FE0,0010)",
            )
            return False
        if fragments < n:
            self.add(
                "PixelData",
                f"holds {fragments} fragments for {n} frames",
                "PS3.5 A.4: each frame is encoded in at least one fragment",
                tag="(7FE0,0010)",
            )
            return False
        if ts == _RLE and fragments != n:
            self.add(
                "PixelData",
                f"holds {fragments} fragments for {n} RLE frames",
                "PS3.5 A.4.2: each RLE frame is one fragment",
                tag="(7FE0,0010)",
            )
            return False
        return True

    def _check_labelmap_pixels(self, frames: np.ndarray) -> None:
        from labelmap import kernels

        presence, counts = kernels.label_presence(frames, source=self.result.name)
        present = [int(v) for v in np.flatnonzero(counts)]
        undescribed = [v for v in present if v not in self.numbers]
        if undescribed and self.numbers:
            ppv = _int(_get(self.ds, "PixelPaddingValue"))
            where = np.flatnonzero(presence[:, undescribed[0]]) + 1
            note = " (the Pixel Padding Value, i.e. the background)" if undescribed == [ppv] else ""
            self.add(
                "SegmentSequence",
                f"has no item for pixel value(s) {_values_text(undescribed)}{note}; "
                f"value {undescribed[0]} occurs {int(counts[undescribed[0]])} times, first in {_frames_text(where)}",
                f"{_SEG_IMAGE} (C.8.20.2.3.3): every pixel value of a LABELMAP, background included, is described "
                "by a Segment Sequence item",
                frame=int(where[0]),
                segment=undescribed[0],
            )
        lut = getattr(self, "palette_range", None)
        if lut is not None:
            outside = [v for v in present if not lut[0] <= v <= lut[1]]
            if outside:
                self.add(
                    "RedPaletteColorLookupTableDescriptor",
                    f"maps values {lut[0]}..{lut[1]} but pixel value(s) {_values_text(outside)} occur; they show in "
                    "the first or last entry's colour",
                    f"{_PALETTE} (C.7.6.3.1.5)",
                    "warning",
                )
        positions = getattr(self, "position_ids", None)
        if positions is not None and len(positions) == len(frames) and len(np.unique(positions)) != len(positions):
            dup = int(np.flatnonzero(np.bincount(positions) > 1)[0])
            where = np.flatnonzero(positions == dup) + 1
            self.add(
                "ImagePositionPatient",
                f"{_frames_text(where)} lie at one position",
                f"{_SEG_IMAGE} (Supplement 243): a label map has one frame per position; overlapping labels need "
                "separate instances",
                "warning",
                path="PerFrameFunctionalGroupsSequence[*].PlanePositionSequence",
                frame=int(where[0]),
            )

    def _check_fractional_pixels(self, frames: np.ndarray) -> None:
        mfv = _int(_get(self.ds, "MaximumFractionalValue"))
        if mfv is None or not frames.size:
            return
        top = frames.reshape(len(frames), -1).max(axis=1)
        bad = np.flatnonzero(top > mfv)
        if bad.size:
            self.add(
                "MaximumFractionalValue",
                f"is {mfv} but {_frames_text(bad + 1)} hold values up to {int(top.max())}",
                f"{_SEG_IMAGE}: no stored value exceeds Maximum Fractional Value",
                frame=int(bad[0]) + 1,
            )

    def _check_binary_pixels(self, packed: np.ndarray, n: int, npx: int) -> None:
        from labelmap import kernels

        overlap_flag = self._get_text("SegmentsOverlap")
        segments = getattr(self, "frame_segments", None)
        positions = getattr(self, "position_ids", None)
        if segments is None or positions is None or len(segments) != n or len(positions) != n or not self.numbers:
            return
        numbers = sorted(self.numbers)
        index = {v: i for i, v in enumerate(numbers)}
        if any(int(s) not in index for s in segments):
            return  # undescribed segments were reported
        seg_idx = np.array([index[int(s)] for s in segments], dtype=np.int64)
        key = seg_idx * (int(positions.max()) + 1) + positions
        if len(np.unique(key)) != len(key):
            dup = int(np.flatnonzero(np.bincount(key) > 1)[0])
            where = np.flatnonzero(key == dup) + 1
            self.add(
                "ImagePositionPatient",
                f"{_frames_text(where)} of segment {numbers[dup // (int(positions.max()) + 1)]} lie at one position",
                f"{_FG}: a segment has one frame per position (readers disagree otherwise)",
                "warning",
                path="PerFrameFunctionalGroupsSequence[*].PlanePositionSequence",
                frame=int(where[0]),
            )
        overlap = kernels.frame_overlap(packed, positions, seg_idx, len(numbers), npx)
        pairs = [(numbers[a], numbers[b], int(overlap[a, b])) for a, b in zip(*np.nonzero(np.triu(overlap)))]
        if pairs and overlap_flag == "NO":
            text = ", ".join(f"{a} and {b} ({c} pixels)" for a, b, c in pairs[:5])
            self.add(
                "SegmentsOverlap",
                f"is NO but segments overlap: {text}" + (" ..." if len(pairs) > 5 else ""),
                f"{_SEG_IMAGE} (C.8.20.2.3): NO promises that no pixel is in two segments",
                segment=pairs[0][0],
            )
        elif not pairs and overlap_flag == "YES":
            self.add(
                "SegmentsOverlap",
                "is YES but no two segments share a pixel",
                f"{_SEG_IMAGE} (C.8.20.2.3): YES says some segments overlap; NO would let readers skip the check",
                "warning",
            )


def _pixel_data_is_encapsulated(ds: Dataset) -> bool:
    try:
        return bool(ds["PixelData"].is_undefined_length)
    except Exception:
        return False


_SINGLE_ITEM_GROUPS = (
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "FrameContentSequence",
    "SegmentIdentificationSequence",
    "DerivationImageSequence",
)


def _tag_of(keyword: str) -> int:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag


_TAG_OF = {kw: _tag_of(kw) for kw in _SINGLE_ITEM_GROUPS}


def _one_raw_item(raw: Any) -> bool:
    """True when the undecoded value of a sequence is exactly one item of defined length."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) < 8 or raw[:4] != b"\xfe\xff\x00\xe0":
        return False
    length = int.from_bytes(raw[4:8], "little")
    return length != 0xFFFFFFFF and 8 + length == len(raw)


def _group_notes(keyword: str, value: Any) -> list[tuple]:
    """What is wrong with one functional group sequence of a per-frame item (no frame numbers)."""
    notes: list[tuple] = []
    items = _items(value)
    if keyword != "DerivationImageSequence":
        if len(items) != 1:
            notes.append(("count", keyword, len(items)))
        return notes
    for d in items:
        codes = [
            (_text(_get(c, "CodeValue")), _text(_get(c, "CodingSchemeDesignator")))
            for c in _items(_get(d, "DerivationCodeSequence"))
        ]
        if ("113076", "DCM") not in codes:
            notes.append(("derivation", tuple(codes[:1])))
        sources = _items(_get(d, "SourceImageSequence"))
        if not sources:
            notes.append(("no-source",))
        for src in sources:
            for kw in ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"):
                if _is_empty(_get(src, kw)):
                    notes.append(("source-uid", kw))
            purposes = [
                (_text(_get(c, "CodeValue")), _text(_get(c, "CodingSchemeDesignator")))
                for c in _items(_get(src, "PurposeOfReferenceCodeSequence"))
            ]
            if ("121322", "DCM") not in purposes:
                notes.append(("purpose", tuple(purposes[:1])))
    return list(dict.fromkeys(notes))


def _table_from_items(items: list, name: str) -> Any:
    """A :class:`~labelmap.dicom.bulk.PerFrameTable` built from pydicom per-frame items."""
    from labelmap.dicom.bulk import PerFrameTable

    n = len(items)

    def first(item: Dataset, *path: str) -> Any:
        node: Any = item
        for seq in path[:-1]:
            got = _items(_get(node, seq))
            if not got:
                return _MISSING
            node = got[0]
        return _get(node, path[-1])

    def floats(path: tuple, width: int) -> np.ndarray | None:
        out = np.full((n, width), np.nan)
        seen = False
        for f, item in enumerate(items):
            value = first(item, *path)
            if isinstance(value, _Absent) or _is_empty(value):
                continue
            seen = True
            try:
                numbers = [float(v) for v in np.atleast_1d(value)]
            except (TypeError, ValueError):
                continue
            if len(numbers) == width:
                out[f] = numbers
        if not seen:
            return None
        return out if width > 1 else out[:, 0]

    positions = floats(("PlanePositionSequence", "ImagePositionPatient"), 3)
    numbers = np.zeros(n, dtype=np.int64)
    seen_numbers = False
    dims: list = []
    seen_dims = False
    uids: list = []
    classes: list = []
    for f, item in enumerate(items):
        number = first(item, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
        if not isinstance(number, _Absent):
            seen_numbers = True
            numbers[f] = _int(number) or 0
        values = first(item, "FrameContentSequence", "DimensionIndexValues")
        if isinstance(values, _Absent) or values is None:
            dims.append(())
        else:
            seen_dims = True
            try:
                dims.append(tuple(int(v) for v in np.atleast_1d(values)))
            except (TypeError, ValueError):
                dims.append(())
        uid = first(item, "DerivationImageSequence", "SourceImageSequence", "ReferencedSOPInstanceUID")
        cls = first(item, "DerivationImageSequence", "SourceImageSequence", "ReferencedSOPClassUID")
        uids.append(_text(uid) or None)
        classes.append(_text(cls) or None)
    return PerFrameTable(
        n_frames=n,
        positions=positions if positions is not None else np.full((n, 3), np.nan),
        segment_numbers=numbers if seen_numbers else None,
        orientations=floats(("PlaneOrientationSequence", "ImageOrientationPatient"), 6),
        pixel_spacings=floats(("PixelMeasuresSequence", "PixelSpacing"), 2),
        slice_thickness=floats(("PixelMeasuresSequence", "SliceThickness"), 1),
        spacing_between_slices=floats(("PixelMeasuresSequence", "SpacingBetweenSlices"), 1),
        source_instance_uids=uids,
        source_class_uids=classes,
        dimension_index_values=dims if seen_dims else None,
    )
