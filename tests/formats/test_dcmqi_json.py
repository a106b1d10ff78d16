"""Tests for labelmap.formats.dcmqi_json: dcmqi JSON parsing/writing, colours, Segment Sequence items."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from labelmap._util.color import cielab_to_rgb, rgb_to_cielab
from labelmap.errors import MetadataError
from labelmap.formats.dcmqi_json import Metadata, load_metadata, metadata_to_dict, write_metadata
from labelmap.model import DEFAULT_RGB, Code, SegmentDescription, SeriesAttributes
from labelmap.seg.segments import background_segment, is_background, segment_from_dataset, segment_to_dataset


def _code(value, scheme, meaning):
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


ANATOMY = _code("123037004", "SCT", "Anatomical Structure")
KIDNEY = _code("64033007", "SCT", "Kidney")
RIGHT = _code("24028007", "SCT", "Right")

MINIMAL = {
    "segmentAttributes": [
        [
            {
                "labelID": 1,
                "SegmentAlgorithmType": "MANUAL",
                "SegmentedPropertyCategoryCodeSequence": ANATOMY,
                "SegmentedPropertyTypeCodeSequence": KIDNEY,
            }
        ]
    ]
}

FULL = {
    "@schema": "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/schemas/seg-schema.json#",
    "ContentCreatorName": "Reader^Alice",
    "ClinicalTrialSeriesID": "S01",
    "ClinicalTrialTimePointID": "T2",
    "ClinicalTrialCoordinatingCenterName": "Site A",
    "SeriesDescription": "Kidney and liver masks",
    "SeriesNumber": "901",
    "InstanceNumber": "1",
    "BodyPartExamined": "ABDOMEN",
    "segmentAttributesFileMapping": ["kidney.nii.gz", "liver.nrrd"],
    "segmentAttributes": [
        [
            {
                "labelID": 1,
                "SegmentLabel": "Right kidney",
                "SegmentDescription": "Whole organ",
                "SegmentAlgorithmType": "AUTOMATIC",
                "SegmentAlgorithmName": "OrganNet 2.1",
                "SegmentedPropertyCategoryCodeSequence": ANATOMY,
                "SegmentedPropertyTypeCodeSequence": KIDNEY,
                "SegmentedPropertyTypeModifierCodeSequence": RIGHT,
                "recommendedDisplayRGBValue": [185, 102, 83],
                "TrackingIdentifier": "RK-1",
                "TrackingUniqueIdentifier": "2.25.1234567890123",
            },
            {
                "labelID": 2,
                "SegmentLabel": "Renal mass",
                "SegmentAlgorithmType": "SEMIAUTOMATIC",
                "SegmentAlgorithmName": "GrowCut",
                "SegmentedPropertyCategoryCodeSequence": _code("49755003", "SCT", "Morphologically Altered Structure"),
                "SegmentedPropertyTypeCodeSequence": _code("4147007", "SCT", "Mass"),
                "AnatomicRegionSequence": KIDNEY,
                "AnatomicRegionModifierSequence": RIGHT,
                "recommendedDisplayRGBValue": [255, 0, 0],
            },
        ],
        [
            {
                "labelID": 1,
                "SegmentLabel": "Liver",
                "SegmentAlgorithmType": "MANUAL",
                "SegmentedPropertyCategoryCodeSequence": ANATOMY,
                "SegmentedPropertyTypeCodeSequence": _code("10200004", "SCT", "Liver"),
                "recommendedDisplayRGBValue": [221, 130, 101],
            }
        ],
    ],
}


def _full():
    return json.loads(json.dumps(FULL))  # no aliasing of the shared code dicts


def _err(doc, *needles):
    with pytest.raises(MetadataError) as info:
        load_metadata(doc, name="meta.json")
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------------------
# loading and round trips


def test_minimal_defaults():
    m = load_metadata(MINIMAL)
    assert m.series == SeriesAttributes()
    assert m.file_mapping is None
    (seg,) = m.segments[0]
    assert seg.label_id == 1 and seg.number == 0
    assert seg.type == Code("64033007", "SCT", "Kidney")
    assert seg.label is None and seg.display_label == "Kidney"
    assert seg.rgb is None


def test_full_fields():
    m = load_metadata(FULL)
    assert m.series.series_number == "901"
    assert m.series.body_part_examined == "ABDOMEN"
    assert m.file_mapping == ("kidney.nii.gz", "liver.nrrd")
    assert [len(inner) for inner in m.segments] == [2, 1]
    rk, mass = m.segments[0]
    assert rk.type_modifier == Code("24028007", "SCT", "Right")
    assert rk.tracking_id == "RK-1" and rk.tracking_uid == "2.25.1234567890123"
    assert rk.rgb == (185, 102, 83)
    assert mass.anatomic_region == Code("64033007", "SCT", "Kidney")
    assert mass.anatomic_region_modifier == Code("24028007", "SCT", "Right")
    assert m.segments[1][0].label_id == 1


@pytest.mark.parametrize("doc", [MINIMAL, FULL], ids=["minimal", "full"])
def test_json_round_trip(doc, tmp_path):
    m = load_metadata(doc)
    d = metadata_to_dict(m.series, m.segments, file_mapping=m.file_mapping)
    assert load_metadata(d) == m
    path = tmp_path / "out.json"
    write_metadata(path, m.series, m.segments, file_mapping=m.file_mapping)
    assert load_metadata(path) == m
    assert json.loads(path.read_text()) == d
    assert path.read_text().startswith('{\n  "@schema"')


def test_dict_layout_matches_dcmqi():
    m = load_metadata(FULL)
    d = metadata_to_dict(m.series, m.segments)
    # dcmqi (JsonCpp) writes keys in ASCII order.
    assert list(d) == sorted(d)
    assert d["SeriesNumber"] == "901" and d["InstanceNumber"] == "1"
    seg = d["segmentAttributes"][0][0]
    assert list(seg) == sorted(seg)
    assert seg["labelID"] == 1
    assert seg["recommendedDisplayRGBValue"] == [185, 102, 83]
    assert seg["SegmentedPropertyTypeModifierCodeSequence"] == {
        "CodeMeaning": "Right",
        "CodeValue": "24028007",
        "CodingSchemeDesignator": "SCT",
    }
    assert seg["TrackingIdentifier"] == "RK-1"
    assert "RecommendedDisplayCIELabValue" not in seg
    assert "segmentAttributesFileMapping" not in d


def test_reads_dcmqi_meta_json_layout():
    # What segimage2itkimage writes: empty BodyPartExamined / SegmentDescription, sorted keys.
    doc = {
        "BodyPartExamined": "",
        "ClinicalTrialSeriesID": "Session1",
        "ClinicalTrialTimePointID": "1",
        "ContentCreatorName": "Reader1",
        "InstanceNumber": "1",
        "SeriesDescription": "Segmentation",
        "SeriesNumber": "300",
        "segmentAttributes": [
            [
                {
                    "SegmentAlgorithmType": "MANUAL",
                    "SegmentDescription": "",
                    "SegmentLabel": "Kidney",
                    "SegmentedPropertyCategoryCodeSequence": ANATOMY,
                    "SegmentedPropertyTypeCodeSequence": KIDNEY,
                    "labelID": 1,
                    "recommendedDisplayRGBValue": [128, 174, 128],
                }
            ]
        ],
    }
    m = load_metadata(doc)
    assert m.series.body_part_examined is None
    assert m.segments[0][0].description is None
    assert m.segments[0][0].rgb == DEFAULT_RGB


def test_series_attributes_object_and_content_label():
    doc = copy.deepcopy(MINIMAL)
    doc["seriesAttributes"] = {"ContentLabel": "KIDNEY_SEG", "ContentDescription": "kidneys"}
    m = load_metadata(doc)
    assert m.series.content_label == "KIDNEY_SEG"
    assert m.series.content_description == "kidneys"
    doc = copy.deepcopy(MINIMAL)
    doc["ContentLabel"] = "TOP LEVEL"
    assert load_metadata(doc).series.content_label == "TOP LEVEL"


def test_series_number_int_or_string():
    doc = copy.deepcopy(MINIMAL)
    doc["SeriesNumber"] = 42
    doc["InstanceNumber"] = "7"
    m = load_metadata(doc)
    assert m.series.series_number == "42" and m.series.instance_number == "7"
    doc["SeriesNumber"] = "4x"
    _err(doc, "SeriesNumber", "integer")


def test_cielab_in_json_kept():
    doc = copy.deepcopy(MINIMAL)
    doc["segmentAttributes"][0][0]["RecommendedDisplayCIELabValue"] = [34886, 53484, 50173]
    m = load_metadata(doc)
    seg = m.segments[0][0]
    assert seg.cielab == (34886, 53484, 50173)
    assert seg.rgb == (255, 0, 0)
    assert segment_to_dataset(seg, number=1).RecommendedDisplayCIELabValue == [34886, 53484, 50173]
    # Written back (RGB alone would not reproduce it) and reloaded unchanged.
    d = metadata_to_dict(m.series, m.segments)
    assert load_metadata(d) == m


def test_stale_cielab_dropped_when_rgb_edited():
    doc = copy.deepcopy(MINIMAL)
    doc["segmentAttributes"][0][0]["RecommendedDisplayCIELabValue"] = [34886, 53484, 50172]  # red
    doc["segmentAttributes"][0][0]["recommendedDisplayRGBValue"] = [0, 0, 255]
    seg = load_metadata(doc).segments[0][0]
    assert seg.rgb == (0, 0, 255) and seg.cielab is None


def test_code_as_one_element_list_tolerated():
    doc = copy.deepcopy(MINIMAL)
    doc["segmentAttributes"][0][0]["SegmentedPropertyTypeCodeSequence"] = [KIDNEY]
    assert load_metadata(doc).segments[0][0].type.meaning == "Kidney"


def test_file_path_and_name(tmp_path):
    path = tmp_path / "seg.json"
    path.write_text(json.dumps(FULL))
    assert load_metadata(path) == load_metadata(FULL)
    assert isinstance(load_metadata(str(path)), Metadata)


# ---------------------------------------------------------------------------
# validation errors


def test_malformed_json_reports_position(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "segmentAttributes": [[\n    {"labelID": 1,}\n  ]]\n}\n')
    with pytest.raises(MetadataError) as info:
        load_metadata(path)
    msg = str(info.value)
    assert "bad.json" in msg and "line 3" in msg and "column" in msg
    assert "property name" in msg  # the parser's own message


def test_missing_file(tmp_path):
    with pytest.raises(MetadataError, match="does not exist"):
        load_metadata(tmp_path / "nope.json")


def test_unknown_top_level_keys():
    doc = _full()
    doc["SeriesDescriptoin"] = "typo"
    doc["Extra"] = 1
    _err(doc, "'Extra'", "'SeriesDescriptoin'", "unknown top-level")


def test_unknown_series_attributes_key():
    doc = copy.deepcopy(MINIMAL)
    doc["seriesAttributes"] = {"Bogus": 1}
    _err(doc, "seriesAttributes", "'Bogus'")


@pytest.mark.parametrize(
    "value", [None, "x", [], [{"labelID": 1}], [[1]]], ids=["missing", "string", "empty", "flat list", "not objects"]
)
def test_segment_attributes_shape(value):
    doc = {} if value is None else {"segmentAttributes": value}
    _err(doc, "segmentAttributes", "list", '[[{"labelID": 1')


def test_empty_inner_list():
    _err({"segmentAttributes": [[]]}, "segmentAttributes[0]", "empty")


def _seg_err(mutate, *needles, i=0, j=1):
    doc = _full()
    mutate(doc["segmentAttributes"][i][j])
    return _err(doc, *needles)


def test_label_id_missing():
    _seg_err(lambda s: s.pop("labelID"), "segmentAttributes[0][1]", "labelID", "missing")


@pytest.mark.parametrize("bad", [0, -3])
def test_label_id_must_be_positive(bad):
    _seg_err(lambda s: s.update(labelID=bad), "segmentAttributes[0][1]", "labelID", "1 or more")


def test_label_id_not_int():
    _seg_err(lambda s: s.update(labelID="2"), "segmentAttributes[0][1]", "labelID", "integer")


@pytest.mark.parametrize("key", ["SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"])
def test_required_codes(key):
    _seg_err(lambda s: s.pop(key), "segmentAttributes[0][1]", "labelID 2", key, "missing")


def test_algorithm_type_missing_or_bad():
    _seg_err(lambda s: s.pop("SegmentAlgorithmType"), "segmentAttributes[0][1] (labelID 2)", "SegmentAlgorithmType")
    _seg_err(
        lambda s: s.update(SegmentAlgorithmType="AUTO"),
        "segmentAttributes[0][1] (labelID 2)",
        "SegmentAlgorithmType",
        "MANUAL",
    )


def test_algorithm_name_required_unless_manual():
    _seg_err(
        lambda s: s.pop("SegmentAlgorithmName"),
        "segmentAttributes[0][1] (labelID 2)",
        "SegmentAlgorithmName",
        "SEMIAUTOMATIC",
    )
    doc = _full()
    del doc["segmentAttributes"][0][1]["SegmentAlgorithmName"]
    doc["segmentAttributes"][0][1]["SegmentAlgorithmType"] = "MANUAL"
    assert load_metadata(doc).segments[0][1].algorithm_name is None


@pytest.mark.parametrize("field", ["CodeValue", "CodingSchemeDesignator", "CodeMeaning"])
def test_code_fields_required(field):
    def mutate(s):
        s["AnatomicRegionSequence"] = dict(KIDNEY)
        s["AnatomicRegionSequence"][field] = ""

    _seg_err(mutate, "segmentAttributes[0][1] (labelID 2)", f"AnatomicRegionSequence.{field}")
    _seg_err(lambda s: s["SegmentedPropertyTypeCodeSequence"].pop(field), "SegmentedPropertyTypeCodeSequence", field)


def test_code_unknown_key_and_bad_shape():
    _seg_err(lambda s: s["AnatomicRegionSequence"].update(Foo="x"), "AnatomicRegionSequence", "'Foo'")
    _seg_err(lambda s: s.update(AnatomicRegionSequence=[KIDNEY, RIGHT]), "AnatomicRegionSequence", "exactly one")
    _seg_err(lambda s: s.update(AnatomicRegionSequence="Kidney"), "AnatomicRegionSequence", "code object")


def test_unknown_segment_keys():
    _seg_err(
        lambda s: s.update(TrackingID="x", color=1), "segmentAttributes[0][1] (labelID 2)", "'TrackingID'", "'color'"
    )


@pytest.mark.parametrize("bad", [[1, 2], [1, 2, 300], [1, 2, -1], [1.5, 2, 3], "red"])
def test_rgb_validation(bad):
    _seg_err(lambda s: s.update(recommendedDisplayRGBValue=bad), "labelID 2", "recommendedDisplayRGBValue", "0..255")


def test_duplicate_label_id():
    msg = _seg_err(lambda s: s.update(labelID=1), "segmentAttributes[0][1]", "labelID 1", "duplicate")
    assert "segmentAttributes[0][0]" in msg


def test_same_label_id_in_different_files_ok():
    m = load_metadata(FULL)
    assert m.segments[0][0].label_id == m.segments[1][0].label_id == 1


def test_inner_list_position_in_error():
    doc = _full()
    doc["segmentAttributes"][1][0]["SegmentAlgorithmType"] = "NONE"
    _err(doc, "segmentAttributes[1][0] (labelID 1)")


@pytest.mark.parametrize("label", ["lower", "WAY_TOO_LONG_CONTENT_LABEL", "BAD-DASH", ""])
def test_content_label_must_be_cs(label):
    doc = copy.deepcopy(MINIMAL)
    doc["ContentLabel"] = label
    _err(doc, "ContentLabel", "16", "uppercase")
    doc = copy.deepcopy(MINIMAL)
    doc["seriesAttributes"] = {"ContentLabel": label}
    _err(doc, "seriesAttributes.ContentLabel")


def test_file_mapping_length_mismatch():
    doc = _full()
    doc["segmentAttributesFileMapping"] = ["a.nrrd"]
    _err(doc, "segmentAttributesFileMapping", "2 inner lists")


# ---------------------------------------------------------------------------
# colour


@pytest.mark.parametrize(
    "rgb,lab",
    [
        ((221, 130, 101), (41661, 41167, 40792)),
        ((128, 174, 128), (43803, 26565, 37722)),
        ((255, 0, 0), (34886, 53484, 50172)),
        ((0, 0, 0), (0, 32896, 32896)),
        ((185, 102, 83), (34296, 40957, 39424)),  # what dcmqi 1.5.7 wrote into a SEG
    ],
)
def test_cielab_vectors(rgb, lab):
    got = rgb_to_cielab(rgb)
    assert all(abs(a - b) <= 1 for a, b in zip(got, lab)), got
    assert cielab_to_rgb(lab) == rgb


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.integers(0, 255)] * 3))
def test_cielab_round_trip(rgb):
    back = cielab_to_rgb(rgb_to_cielab(rgb))
    assert all(abs(a - b) <= 1 for a, b in zip(back, rgb))


def test_cielab_to_rgb_clips():
    for lab in [(65535, 0, 65535), (0, 65535, 0), (65535, 65535, 65535)]:
        assert all(0 <= v <= 255 for v in cielab_to_rgb(lab))


def test_colour_argument_checks():
    with pytest.raises(ValueError):
        rgb_to_cielab((1, 2))
    with pytest.raises(ValueError):
        rgb_to_cielab((1, 2, 256))


# ---------------------------------------------------------------------------
# DICOM Segment Sequence items


def _all_segments():
    return [s for inner in load_metadata(FULL).segments for s in inner]


def _close_lab(a, b):
    return all(abs(x - y) <= 1 for x, y in zip(a, b))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_dataset_round_trip(index):
    seg = _all_segments()[index]
    item = segment_to_dataset(seg, number=5)
    back = segment_from_dataset(item)
    assert back.number == back.label_id == 5
    assert _close_lab(back.cielab, rgb_to_cielab(seg.rgb))
    assert back.rgb == seg.rgb

    expected = replace(seg, label_id=5, number=5, label=seg.display_label, cielab=back.cielab)
    assert back == expected


def test_dataset_structure_nested_modifiers():
    rk, mass, _ = _all_segments()
    item = segment_to_dataset(rk, number=1)
    assert item.SegmentNumber == 1
    assert item.SegmentLabel == "Right kidney"
    assert item.SegmentDescription == "Whole organ"
    assert item.SegmentAlgorithmName == "OrganNet 2.1"
    assert len(item.SegmentedPropertyTypeCodeSequence) == 1
    type_item = item.SegmentedPropertyTypeCodeSequence[0]
    assert type_item.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "24028007"
    assert "SegmentedPropertyTypeModifierCodeSequence" not in item
    assert item.TrackingID == "RK-1" and item.TrackingUID == "2.25.1234567890123"
    assert item.RecommendedDisplayCIELabValue == [34296, 40957, 39424]

    item = segment_to_dataset(mass, number=2)
    region = item.AnatomicRegionSequence[0]
    assert region.CodeMeaning == "Kidney"
    assert region.AnatomicRegionModifierSequence[0].CodeMeaning == "Right"
    assert "AnatomicRegionModifierSequence" not in item
    assert "TrackingID" not in item and "TrackingUID" not in item
    assert "SegmentDescription" not in item


def test_dataset_defaults_and_palette():
    seg = load_metadata(MINIMAL).segments[0][0]
    item = segment_to_dataset(seg, number=1)
    assert item.SegmentLabel == "Kidney"
    assert item.SegmentAlgorithmType == "MANUAL"
    assert "SegmentAlgorithmName" not in item
    assert list(item.RecommendedDisplayCIELabValue) == list(rgb_to_cielab(DEFAULT_RGB))
    assert "RecommendedDisplayCIELabValue" not in segment_to_dataset(seg, number=1, cielab=False)
    assert "AnatomicRegionSequence" not in item


def test_dataset_tracking_1c():
    base = load_metadata(MINIMAL).segments[0][0]

    item = segment_to_dataset(replace(base, tracking_id="T1"), number=1)
    assert item.TrackingID == "T1" and item.TrackingUID
    assert str(item.TrackingUID).replace(".", "").isdigit()
    item = segment_to_dataset(replace(base, tracking_uid="1.2.3"), number=1)
    assert item.TrackingUID == "1.2.3" and item.TrackingID == "1.2.3"


def test_dataset_algorithm_name_required():

    seg = replace(load_metadata(MINIMAL).segments[0][0], algorithm_type="AUTOMATIC")
    with pytest.raises(MetadataError, match="SegmentAlgorithmName"):
        segment_to_dataset(seg, number=1)


def _code_item(value, scheme, meaning):
    ds = Dataset()
    ds.CodeValue, ds.CodingSchemeDesignator, ds.CodeMeaning = value, scheme, meaning
    return ds


def test_from_dataset_accepts_top_level_modifiers():
    item = Dataset()
    item.SegmentNumber = 3
    item.SegmentLabel = "Mass"
    item.SegmentAlgorithmType = "MANUAL"
    item.SegmentedPropertyCategoryCodeSequence = DicomSequence([_code_item("49755003", "SCT", "Morph")])
    item.SegmentedPropertyTypeCodeSequence = DicomSequence([_code_item("4147007", "SCT", "Mass")])
    item.SegmentedPropertyTypeModifierCodeSequence = DicomSequence([_code_item("24028007", "SCT", "Right")])
    item.AnatomicRegionSequence = DicomSequence([_code_item("64033007", "SCT", "Kidney")])
    item.AnatomicRegionModifierSequence = DicomSequence([_code_item("7771000", "SCT", "Left")])
    seg = segment_from_dataset(item)
    assert seg.type_modifier == Code("24028007", "SCT", "Right")
    assert seg.anatomic_region_modifier == Code("7771000", "SCT", "Left")
    assert seg.rgb is None and seg.cielab is None
    assert seg.label_id == seg.number == 3


@pytest.mark.parametrize(
    "attr", ["SegmentedPropertyTypeCodeSequence", "SegmentedPropertyCategoryCodeSequence", "SegmentAlgorithmType"]
)
def test_from_dataset_missing_required(attr):
    item = segment_to_dataset(_all_segments()[0], number=4)
    delattr(item, attr)
    with pytest.raises(MetadataError) as info:
        segment_from_dataset(item)
    assert "segment 4" in str(info.value) and attr in str(info.value)


def test_from_dataset_code_missing_field():
    item = segment_to_dataset(_all_segments()[0], number=4)
    del item.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning
    with pytest.raises(MetadataError, match="segment 4.*CodeMeaning"):
        segment_from_dataset(item)


# ---------------------------------------------------------------------------
# background


def test_background():
    bg = background_segment()
    assert bg.label == "Background" and bg.label_id == 0 and bg.number == 0
    assert bg.type == Code("125040", "DCM", "Background")
    assert bg.category == Code("309825002", "SCT", "Spatial and Relational Concept")
    assert bg.algorithm_type == "MANUAL"
    assert bg.rgb == (0, 0, 0) and bg.cielab == (0, 32768, 32768)
    assert is_background(bg)
    assert not is_background(_all_segments()[0])
    item = segment_to_dataset(bg, number=1, cielab=True)
    assert item.RecommendedDisplayCIELabValue == [0, 32768, 32768]
    assert is_background(segment_from_dataset(item))


def test_segment_description_is_frozen_input():
    # metadata_to_dict must not need number / must accept plain lists.
    seg = SegmentDescription(1, Code("1", "S", "c"), Code("2", "S", "t"))
    d = metadata_to_dict(SeriesAttributes(), [[seg]])
    assert d["segmentAttributes"] == [
        [
            {
                "SegmentAlgorithmType": "MANUAL",
                "SegmentedPropertyCategoryCodeSequence": {
                    "CodeMeaning": "c",
                    "CodeValue": "1",
                    "CodingSchemeDesignator": "S",
                },
                "SegmentedPropertyTypeCodeSequence": {
                    "CodeMeaning": "t",
                    "CodeValue": "2",
                    "CodingSchemeDesignator": "S",
                },
                "labelID": 1,
            }
        ]
    ]
