"""SOP Class against Segmentation Type, File Meta Information (rules/sop.py).

Each case is a valid file with one change (pydicom) and the violation it must give.
"""

from __future__ import annotations

import pytest
from _validate import Broken, assert_breaks

from labelmap.validate import validate_seg

BROKEN = [
    Broken(
        "labelmap-in-seg-storage",
        "labelmap-none",
        lambda d: (
            setattr(d, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.66.4"),
            setattr(d.file_meta, "MediaStorageSOPClassUID", "1.2.840.10008.5.1.4.1.1.66.4"),
        ),
        "SOPClassUID",
        says="Segmentation Type is LABELMAP",
    ),
    Broken(
        "binary-in-labelmap-storage",
        "binary-none",
        lambda d: (
            setattr(d, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.66.7"),
            setattr(d.file_meta, "MediaStorageSOPClassUID", "1.2.840.10008.5.1.4.1.1.66.7"),
        ),
        "SOPClassUID",
        says="Segmentation Type is BINARY",
    ),
    Broken("unknown-type", "labelmap-none", lambda d: setattr(d, "SegmentationType", "MASK"), "SegmentationType"),
    Broken(
        "media-storage-uid",
        "labelmap-none",
        lambda d: setattr(d.file_meta, "MediaStorageSOPInstanceUID", "1.2.3.4"),
        "MediaStorageSOPInstanceUID",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on the broken values we set
@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_each_rule_has_a_file_that_breaks_it(broken_file, case):
    assert_breaks(validate_seg(broken_file(case)), case)
