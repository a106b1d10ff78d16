"""Patient, Study, Series, Equipment, Content and Frame of Reference modules (rules/general.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks

from labelmap.validate import validate_seg

BROKEN = [
    Broken("modality", "labelmap-none", lambda d: setattr(d, "Modality", "CT"), "Modality", says="expected SEG"),
    Broken(
        "bad-uid",
        "labelmap-none",
        lambda d: setattr(d, "SeriesInstanceUID", "1.2.03.4"),
        "SeriesInstanceUID",
        says="not a valid UID",
    ),
    Broken("patient-id-absent", "labelmap-none", lambda d: delattr(d, "PatientID"), "PatientID", says="absent"),
    Broken(
        "study-uid-empty",
        "labelmap-none",
        lambda d: setattr(d, "StudyInstanceUID", ""),
        "StudyInstanceUID",
        says="empty",
    ),
    Broken("series-number", "binary-none", lambda d: delattr(d, "SeriesNumber"), "SeriesNumber"),
    Broken("manufacturer", "labelmap-none", lambda d: delattr(d, "Manufacturer"), "Manufacturer"),
    Broken("software-versions", "fractional", lambda d: setattr(d, "SoftwareVersions", ""), "SoftwareVersions"),
    Broken("image-type", "labelmap-none", lambda d: setattr(d, "ImageType", ["DERIVED", "SECONDARY"]), "ImageType"),
    Broken(
        "content-label",
        "labelmap-none",
        lambda d: setattr(d, "ContentLabel", "my label"),
        "ContentLabel",
        says="not a valid CS",
    ),
    Broken("content-description", "binary-none", lambda d: delattr(d, "ContentDescription"), "ContentDescription"),
    Broken("content-date", "labelmap-none", lambda d: delattr(d, "ContentDate"), "ContentDate"),
    Broken(
        "patient-orientation",
        "labelmap-none",
        lambda d: delattr(d, "PatientOrientation"),
        "PatientOrientation",
        "warning",
    ),
    Broken(
        "position-reference",
        "labelmap-none",
        lambda d: delattr(d, "PositionReferenceIndicator"),
        "PositionReferenceIndicator",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
