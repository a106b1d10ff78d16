"""bin2label needs the source series: a BINARY SEG without a usable Referenced Series Sequence is
refused with one line (it used to become a LABELMAP with an empty Type 1 Series Instance UID)."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset

from labelmap.pipeline.convert import itk_to_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.validate import validate_seg

from _cli import listing, make_case, run_cli


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    root = tmp_path_factory.mktemp("b2l")
    case = make_case(root)
    path = root / "binary.dcm"
    itk_to_seg([case["lab"]], [case["ct"]], case["meta"], path, options=WriteOptions(seg_type="binary"))
    return path


def drop(ds: Dataset) -> None:
    del ds.ReferencedSeriesSequence


def empty_uid(ds: Dataset) -> None:
    ds.ReferencedSeriesSequence[0].SeriesInstanceUID = ""


def bad_uid(ds: Dataset) -> None:
    ds.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.03.x"


def two_series(ds: Dataset) -> None:
    other = Dataset()
    other.SeriesInstanceUID = "1.2.3.4"
    other.ReferencedInstanceSequence = []
    ds.ReferencedSeriesSequence.append(other)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (drop, "Referenced Series Sequence (0008,1115) is absent or empty"),
        (lambda d: setattr(d, "ReferencedSeriesSequence", []), "is absent or empty"),
        (empty_uid, "Series Instance UID in Referenced Series Sequence (0008,1115) is absent or empty"),
        (bad_uid, "'1.2.03.x' is not a valid UID"),
        (two_series, "names 2 source series"),
    ],
)
@pytest.mark.parametrize("command", ["bin2label", "bin2labelsegimage"])
def test_binary_without_its_series_is_refused(capsys, tmp_path, binary, change, says, command):
    ds = pydicom.dcmread(binary)
    change(ds)
    seg = tmp_path / "in.dcm"
    ds.save_as(seg)
    out = tmp_path / "out" / "labelmap.dcm"
    out.parent.mkdir()
    args = ["--inputDICOM", seg, "--outputDICOM", out] if command == "bin2labelsegimage" else [seg, "-o", out]
    rc, _, err = run_cli(capsys, command, *args)
    assert rc == 1 and err.count("\n") == 1 and err.startswith("error: "), err
    assert says in err and str(seg) in err and "Traceback" not in err, err
    assert listing(out.parent) == set()


def test_bin2label_output_carries_every_type1_uid(capsys, tmp_path, binary):
    out = tmp_path / "labelmap.dcm"
    rc, _, err = run_cli(capsys, "bin2label", binary, "-o", out)
    assert rc == 0, err
    ds = pydicom.dcmread(out)
    source = pydicom.dcmread(binary)
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == source.ReferencedSeriesSequence[0].SeriesInstanceUID
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert str(ds.get(keyword, "")).strip(), keyword
    assert [v for v in validate_seg(out) if v.severity == "error"] == []
