"""Zero or non-finite spacing in a SEG is a one-line error naming the attribute (issue 11 item 5)."""

from __future__ import annotations

import pydicom
import pytest

from labelmap.errors import SegFormatError
from labelmap.pipeline.convert import read_seg

from _cli import make_case, run_cli


@pytest.mark.parametrize("value", [["0", "0"], ["nan", "nan"], ["0.7", "inf"], ["-1", "1"]], ids=str)
def test_seg_pixel_spacing_must_be_positive_and_finite(tmp_path, capsys, value):
    case = make_case(tmp_path)
    ds = pydicom.dcmread(case["seg"])
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = value
    bad = tmp_path / "bad.seg.dcm"
    ds.save_as(bad)
    with pytest.raises(SegFormatError, match="PixelSpacing .* must be two positive,? finite values"):
        read_seg(bad)
    (tmp_path / "out").mkdir()
    rc, _, err = run_cli(capsys, "seg2itk", bad, "-o", tmp_path / "out")
    lines = [line for line in err.splitlines() if line.strip() and not line.lstrip().startswith("warn")]
    assert rc == 1 and len(lines) == 1 and "bad.seg.dcm" in lines[0] and "PixelSpacing" in lines[0], err
