"""The numpy-free part of the model: segment and series descriptions, codes, and the option literals.

:mod:`labelmap.model` re-exports every name here; readers that must not pay numpy's import (the
plain LABELMAP read lane, :mod:`labelmap.pipeline.lean_read`) import them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Numbering", "SegType", "Code", "SegmentDescription", "SeriesAttributes", "DEFAULT_RGB", "SOURCE_ATTRIBUTES"]

#: "label": Segment Number = label value; "sequential": 1..N (files in order, labels ascending);
#: "auto": "label" when the type allows it, else "sequential" with a note.
Numbering = Literal["label", "sequential", "auto"]
#: Segmentation Type asked for; "auto" picks LABELMAP unless segments overlap or are fractional.
SegType = Literal["labelmap", "binary", "fractional", "auto"]

#: Patient / study / frame-of-reference attributes a SEG copies from its source series
#: (BodyPartExamined is series-level: the JSON's value wins over the source's, except in the dcmqi-compatible
#: itkimage2segimage, where a non-empty source value wins as in dcmqi).
SOURCE_ATTRIBUTES: tuple[str, ...] = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "BodyPartExamined",
)

#: dcmqi's default display colour when the JSON gives none.
DEFAULT_RGB = (128, 174, 128)


@dataclass(frozen=True)
class Code:
    """A coded concept: (CodeValue, CodingSchemeDesignator, CodeMeaning)."""

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True)
class SegmentDescription:
    """One segment: maps 1:1 to a dcmqi JSON segment object and a DICOM Segment Sequence item.

    ``label_id`` is the voxel value in the label image (dcmqi ``labelID``);
    ``number`` is the DICOM Segment Number (0 = not yet assigned).  ``terminology_context`` and
    ``anatomic_context`` name the 3D Slicer terminology lists the codes were chosen from
    (e.g. "Segmentation category and type - 3D Slicer General Anatomy list"), when known.
    """

    label_id: int
    category: Code
    type: Code
    algorithm_type: str = "MANUAL"
    number: int = 0
    label: str | None = None
    description: str | None = None
    algorithm_name: str | None = None
    type_modifier: Code | None = None
    anatomic_region: Code | None = None
    anatomic_region_modifier: Code | None = None
    rgb: tuple[int, int, int] | None = None
    cielab: tuple[int, int, int] | None = None
    tracking_id: str | None = None
    tracking_uid: str | None = None
    terminology_context: str | None = None
    anatomic_context: str | None = None

    @property
    def display_label(self) -> str:
        """SegmentLabel as dcmqi derives it: label, else description, else the type's meaning."""
        return self.label or self.description or self.type.meaning


@dataclass(frozen=True)
class SeriesAttributes:
    """The top-level (non-segment) fields of a dcmqi metadata JSON, with dcmqi's defaults."""

    content_creator_name: str = "Reader1"
    clinical_trial_series_id: str = "Session1"
    clinical_trial_time_point_id: str = "1"
    clinical_trial_coordinating_center_name: str | None = None
    series_description: str = "Segmentation"
    series_number: str = "300"
    instance_number: str = "1"
    body_part_examined: str | None = None
    content_label: str = "SEGMENTATION"
    content_description: str | None = None
