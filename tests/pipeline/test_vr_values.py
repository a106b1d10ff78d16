"""Valid DICOM, always (issue #11 item 3): values checked against their VRs before writing, named
by their JSON field; long and URN code values; character sets (Latin-1, none, ISO 2022 Japanese)."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from _images import write_image

from labelmap.demo.sample import organ_phantom, sample_metadata, write_ct_series
from labelmap.validate import validate_seg

from _cli import listing, run_cli
from _geometries import axial_geometry

JAPANESE_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("vr")
    geometry = axial_geometry(shape=(4, 20, 18))
    labels = organ_phantom(geometry, 2, seed=1)
    values = sorted(int(v) for v in np.unique(labels) if v)
    write_image(root / "labels.nrrd", labels, geometry)
    write_ct_series(root / "ct", geometry)
    write_ct_series(root / "ct-none", geometry)
    write_ct_series(root / "ct-jp", geometry)
    write_ct_series(root / "ct-cyrillic", geometry)
    for folder, charset, name in (
        ("ct-none", None, "Smith^John"),
        ("ct-jp", ["", "ISO 2022 IR 87"], JAPANESE_NAME),
        ("ct-cyrillic", "ISO_IR 144", "Иванов^Иван"),
    ):
        for f in (root / folder).iterdir():
            ds = pydicom.dcmread(f)
            if charset is None:
                del ds.SpecificCharacterSet
            else:
                ds.SpecificCharacterSet = charset
            ds.PatientName = name
            ds.save_as(f)
    return root, values


def convert(capsys, case, edit, *, ct="ct", name="out.dcm"):
    root, values = case
    md = sample_metadata(values)
    edit(md)
    meta = root / "organs.json"
    meta.write_text(json.dumps(md, ensure_ascii=False), encoding="utf-8")
    out = root / "out" / name
    out.parent.mkdir(exist_ok=True)
    for f in out.parent.iterdir():
        f.unlink()
    rc, _, err = run_cli(capsys, "itk2seg", root / "labels.nrrd", "-d", root / ct, "-m", meta, "-o", out, "-q")
    return rc, err, out


def raw_name(path) -> bytes:
    """Patient Name as the bytes in the file (padding removed)."""
    return pydicom.dcmread(path).get_item("PatientName").value.rstrip(b" ")


def segment_field(key, value, j=0):
    return lambda md: md["segmentAttributes"][0][j].__setitem__(key, value)


def code_field(sequence, key, value):
    return lambda md: md["segmentAttributes"][0][0][sequence].__setitem__(key, value)


def top(key, value):
    return lambda md: md.__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (segment_field("SegmentLabel", "L" * 70), "segmentAttributes[0][0].SegmentLabel: 70 characters, the DICOM"),
        (segment_field("SegmentLabel", "liver\\spleen", 1), "segmentAttributes[0][1].SegmentLabel: holds a backslash"),
        (segment_field("SegmentLabel", "liver\nleft"), "SegmentLabel: holds a line break"),
        (segment_field("SegmentDescription", "d" * 1030), "SegmentDescription: 1030 characters"),
        (segment_field("SegmentAlgorithmName", "a" * 65), "SegmentAlgorithmName: 65 characters"),
        (segment_field("TrackingUniqueIdentifier", "tumour-1"), "TrackingUniqueIdentifier: 'tumour-1' is not a UID"),
        (
            code_field("SegmentedPropertyTypeCodeSequence", "CodingSchemeDesignator", "SNOMED-CT-INTERNATIONAL"),
            "SegmentedPropertyTypeCodeSequence.CodingSchemeDesignator: 23 characters, the DICOM limit (SH) is 16",
        ),
        (
            code_field("SegmentedPropertyCategoryCodeSequence", "CodeMeaning", "m" * 80),
            "SegmentedPropertyCategoryCodeSequence.CodeMeaning: 80 characters, the DICOM limit (LO) is 64",
        ),
        (top("SeriesDescription", "s" * 65), "organs.json: SeriesDescription: 65 characters"),
        (top("SeriesNumber", "123456789012345"), "organs.json: SeriesNumber: 15 characters"),
        (top("InstanceNumber", "3000000000"), "InstanceNumber: 3000000000 is outside the Integer String (IS) range"),
        (top("ContentCreatorName", "A^B^C^D^E^F"), "ContentCreatorName: 6 name components"),
        (top("ContentCreatorName", "Reader\\Two"), "ContentCreatorName: holds a backslash"),
        (top("BodyPartExamined", "abdomen-pelvis"), "BodyPartExamined: 'abdomen-pelvis' is not a Code String"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_json_field(capsys, case, edit, says):
    rc, err, out = convert(capsys, case, edit)
    assert rc == 1 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "organs.json: " in err and says in err, err
    assert "Traceback" not in err and listing(out.parent) == set()


def test_long_and_urn_code_values_and_lower_case_body_part(capsys, case, tmp_path):
    """An 18-digit SNOMED CT code goes to Long Code Value, a URN to URN Code Value; "abdomen" is
    written ABDOMEN; the file validates and the codes read back into meta.json."""

    def edit(md):
        md["BodyPartExamined"] = "abdomen"
        md["segmentAttributes"][0][0]["SegmentedPropertyTypeCodeSequence"]["CodeValue"] = "123456789012345678"
        md["segmentAttributes"][0][1]["SegmentedPropertyTypeCodeSequence"]["CodeValue"] = "urn:oid:2.25.4711"

    rc, err, out = convert(capsys, case, edit)
    assert rc == 0, err
    ds = pydicom.dcmread(out)
    assert ds.BodyPartExamined == "ABDOMEN"
    numbered = {int(s.SegmentNumber): s for s in ds.SegmentSequence}
    first, second = (numbered[n].SegmentedPropertyTypeCodeSequence[0] for n in sorted(numbered)[-2:])
    assert "CodeValue" not in first and first.LongCodeValue == "123456789012345678"
    assert "CodeValue" not in second and second.URNCodeValue == "urn:oid:2.25.4711"
    assert [v for v in validate_seg(out) if v.severity == "error"] == []
    (tmp_path / "back").mkdir()
    rc, _, err = run_cli(capsys, "seg2itk", out, "-o", tmp_path / "back")
    assert rc == 0, err
    meta = json.loads((tmp_path / "back" / "meta.json").read_text())
    codes = [s["SegmentedPropertyTypeCodeSequence"]["CodeValue"] for s in meta["segmentAttributes"][0]]
    assert "123456789012345678" in codes and "urn:oid:2.25.4711" in codes


@pytest.mark.parametrize(
    ("ct", "label", "charset"),
    [
        ("ct", "Läsion ü", "ISO_IR 100"),  # Latin-1 holds it: the source's set is kept
        ("ct", "肝臓 Сердце", "ISO_IR 192"),  # beyond Latin-1: UTF-8
        ("ct-none", "Läsion ü", "ISO_IR 192"),  # no set declared: UTF-8
        ("ct-jp", "Liver", ["", "ISO 2022 IR 87"]),  # ASCII: the ISO 2022 source's set and bytes kept
        ("ct-jp", "肝臓 Сердце", "ISO_IR 192"),  # beyond ASCII on ISO 2022: everything in UTF-8
        ("ct-jp", "Läsion ü", "ISO_IR 192"),
        ("ct-cyrillic", "Liver", "ISO_IR 144"),  # a single-byte set other than Latin-1: kept for ASCII labels
        ("ct-cyrillic", "Сердце", "ISO_IR 192"),  # and UTF-8 for anything else, even text the set holds
    ],
)
def test_text_is_written_in_a_declared_set_that_holds_it(capsys, case, ct, label, charset):
    rc, err, out = convert(capsys, case, segment_field("SegmentLabel", label), ct=ct)
    assert rc == 0, err
    ds = pydicom.dcmread(out)
    assert ds.SpecificCharacterSet == charset
    assert label in [str(s.SegmentLabel) for s in ds.SegmentSequence]
    source_file = sorted((case[0] / ct).iterdir())[0]
    raw, source_raw = raw_name(out), raw_name(source_file)
    source = pydicom.dcmread(source_file)
    assert str(ds.PatientName) == str(source.PatientName)
    if charset == source.get("SpecificCharacterSet"):
        assert raw == source_raw  # the source's bytes
    else:
        assert raw == str(source.PatientName).encode("utf-8")
    assert [v for v in validate_seg(out) if v.severity == "error"] == []


def edited_ct(root, name, edit):
    """A copy of the module's CT series with ``edit(ds)`` applied to every slice."""
    folder = root / name
    if not folder.exists():
        folder.mkdir()
        for f in sorted((root / "ct").iterdir()):
            ds = pydicom.dcmread(f)
            edit(ds)
            ds.save_as(folder / f.name)
    return name


def test_invalid_value_copied_from_the_source_is_named(capsys, case):
    ct = edited_ct(case[0], "ct-long-id", lambda d: setattr(d, "PatientID", "P" * 70))
    rc, err, out = convert(capsys, case, lambda md: None, ct=ct)
    assert rc == 1 and err.count("\n") == 1, err
    assert "PatientID (0010,0020): 70 characters, the DICOM limit (LO) is 64 (copied from the source series)" in err
    assert listing(out.parent) == set()


def test_source_code_strings_are_upper_cased_and_empty_type1_uids_replaced(capsys, case):
    def edit(ds):
        ds.PatientSex, ds.BodyPartExamined, ds.StudyInstanceUID = "m", "chest", ""

    ct = edited_ct(case[0], "ct-odd", edit)
    rc, err, out = convert(capsys, case, lambda md: md.pop("BodyPartExamined", None), ct=ct)
    assert rc == 0, err
    ds = pydicom.dcmread(out)
    assert (ds.PatientSex, ds.BodyPartExamined) == ("M", "CHEST")
    assert str(ds.StudyInstanceUID).startswith("2.25.")  # a new UID: Type 1 is never written empty
    assert [v for v in validate_seg(out) if v.severity == "error"] == []
