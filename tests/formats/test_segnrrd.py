"""3D Slicer .seg.nrrd: reading (3-D, 4-D layers, legacy, no keys, LPS/RAS, oblique), writing, round
trips through LABELMAP and BINARY SEG, the itk2seg / seg2itk hooks, bad input and highdicom."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import nrrd
import numpy as np
import pydicom
import pytest

from labelmap.errors import ImageFormatError, InputError, MetadataError
from labelmap.formats import format_for
from labelmap.formats.segnrrd import DEFAULT_TYPE, read_segnrrd, write_segnrrd
from labelmap.model import Code, Geometry, LabelVolume, SegmentDescription
from labelmap.pipeline.options import WriteOptions

from _cli import listing, run_cli
from _geometries import axial_geometry, make_ct_series, oblique_geometry
from _segfiles import run_cli_error

ANATOMY = Code("123037004", "SCT", "Anatomical Structure")
LIVER = Code("10200004", "SCT", "Liver")
KIDNEY = Code("64033007", "SCT", "Kidney")
RIGHT = Code("24028007", "SCT", "Right")
MASS = Code("4147007", "SCT", "Mass")
ALTERED = Code("49755003", "SCT", "Morphologically Altered Structure")


def _code(c: Code | None) -> str:
    return f"{c.scheme}^{c.value}^{c.meaning}" if c else "^^"


def terminology(
    category: Code,
    type_: Code,
    modifier: Code | None = None,
    region: Code | None = None,
    region_modifier: Code | None = None,
) -> str:
    return "~".join(
        [
            "Segmentation category and type - 3D Slicer General Anatomy list",
            _code(category),
            _code(type_),
            _code(modifier),
            "Anatomic codes - DICOM master list",
            _code(region),
            _code(region_modifier),
        ]
    )


def slicer_file(
    path: Path,
    layers: Sequence[np.ndarray],
    geometry: Geometry,
    segments: Sequence[dict] = (),
    *,
    space: str = "LPS",
    extra: dict | None = None,
    dtype=np.uint8,
) -> Path:
    """Write a .seg.nrrd the way Slicer lays it out, with pynrrd: ``segments`` are {field: value} per segment N."""
    vecs = (geometry.direction * geometry.spacing[np.newaxis, :]).T
    origin = geometry.origin.copy()
    if space == "RAS":
        vecs = vecs * np.array([-1.0, -1.0, 1.0])
        origin = origin * np.array([-1.0, -1.0, 1.0])
    header: dict = {
        "space": {"LPS": "left-posterior-superior", "RAS": "right-anterior-superior"}[space],
        "space origin": origin,
        "encoding": "gzip",
    }
    if len(layers) == 1:
        data = np.asarray(layers[0], dtype=dtype)
        header.update({"kinds": ["domain"] * 3, "space directions": vecs})
    else:
        data = np.stack([np.asarray(a, dtype=dtype) for a in layers], axis=-1)
        header.update({"kinds": ["list"] + ["domain"] * 3, "space directions": np.vstack([[np.nan] * 3, vecs])})
    header.update(
        {
            "Segmentation_MasterRepresentation": "Binary labelmap",
            "Segmentation_ContainedRepresentationNames": "Binary labelmap|Closed surface|",
            "Segmentation_ReferenceImageExtentOffset": "0 0 0",
        }
    )
    for n, fields in enumerate(segments):
        for key, value in fields.items():
            header[f"Segment{n}_{key}"] = str(value)
    header.update(extra or {})
    nrrd.write(str(path), data, header, index_order="C")
    return path


def organs(geometry: Geometry) -> np.ndarray:
    """Labels 1 (liver) and 2 (kidney) on every slice, so a SEG written from them spans the grid."""
    a = np.zeros(geometry.shape, np.uint8)
    k, j, i = geometry.shape
    a[:, 1 : j // 2, 1 : i // 2] = 1
    a[:, j // 2 : j - 1, i // 2 : i - 1] = 2
    a[0, 0, 0] = 2
    return a


def organ_segments() -> list[dict]:
    return [
        {
            "ID": "Segment_1",
            "Name": "liver",
            "Color": "0.866667 0.509804 0.396078",
            "Layer": 0,
            "LabelValue": 1,
            "Tags": "Segmentation.Status:inprogress|TerminologyEntry:" + terminology(ANATOMY, LIVER) + "|",
        },
        {
            "ID": "Segment_2",
            "Name": "right kidney",
            "Color": "0.72549 0.4 0.32549",
            "Layer": 0,
            "LabelValue": 2,
            "Tags": "TerminologyEntry:" + terminology(ANATOMY, KIDNEY, RIGHT) + "|",
        },
    ]


def overlapping(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Layer 0: liver (1), kidney (2); layer 1: a mass (value 1 again) across both."""
    a = organs(geometry)
    b = np.zeros(geometry.shape, np.uint8)
    k, j, i = geometry.shape
    b[:, j // 3 : 2 * j // 3, i // 3 : 2 * i // 3] = 1
    return a, b


def overlap_segments() -> list[dict]:
    mass = {
        "ID": "mass",
        "Name": "renal mass",
        "Color": "1 0 0",
        "Layer": 1,
        "LabelValue": 1,
        "Tags": "TerminologyEntry:"
        + terminology(ALTERED, MASS, None, KIDNEY, RIGHT)
        + "|DICOM.SegmentAlgorithmType:SEMIAUTOMATIC|DICOM.SegmentAlgorithmName:GrowCut|",
    }
    return organ_segments() + [mass]


def masks_by_name(volumes: Sequence[LabelVolume]) -> dict[str, np.ndarray]:
    return {s.label: v.array == s.label_id for v in volumes for s in v.segments}


def segments_by_name(volumes: Sequence[LabelVolume]) -> dict[str, SegmentDescription]:
    return {s.label: s for v in volumes for s in v.segments}


def dcmqi_json(path: Path, inner: list, **series) -> Path:
    path.write_text(json.dumps({**series, "segmentAttributes": inner}))
    return path


def json_segment(label_id: int, label: str, type_: Code, rgb=(10, 20, 30)) -> dict:
    code = lambda c: {"CodeValue": c.value, "CodingSchemeDesignator": c.scheme, "CodeMeaning": c.meaning}  # noqa: E731
    return {
        "labelID": label_id,
        "SegmentLabel": label,
        "SegmentAlgorithmType": "MANUAL",
        "SegmentedPropertyCategoryCodeSequence": code(ANATOMY),
        "SegmentedPropertyTypeCodeSequence": code(type_),
        "recommendedDisplayRGBValue": list(rgb),
    }


# --------------------------------------------------------------------------- reading
@pytest.mark.parametrize("space", ["LPS", "RAS"])
@pytest.mark.parametrize("make", [axial_geometry, oblique_geometry])
def test_read_3d(tmp_path, space, make):
    geometry = make(shape=(3, 38, 23))  # 23 x 38 x 3 voxels (i x j x k)
    path = slicer_file(tmp_path / "o.seg.nrrd", [organs(geometry)], geometry, organ_segments(), space=space)
    (volume,) = read_segnrrd(path)
    assert volume.array.shape == (3, 38, 23)
    np.testing.assert_array_equal(volume.array, organs(geometry))
    assert volume.geometry.max_deviation(geometry) < 1e-6
    liver, kidney = volume.segments
    assert (liver.label, liver.label_id, liver.rgb, liver.category, liver.type) == (
        "liver",
        1,
        (221, 130, 101),
        ANATOMY,
        LIVER,
    )
    assert (kidney.label, kidney.label_id, kidney.rgb, kidney.type, kidney.type_modifier) == (
        "right kidney",
        2,
        (185, 102, 83),
        KIDNEY,
        RIGHT,
    )
    assert liver.algorithm_type == "MANUAL" and liver.anatomic_region is None


def test_read_4d_layers_reuse_values(tmp_path):
    geometry = oblique_geometry(shape=(4, 22, 21))
    a, b = overlapping(geometry)
    path = slicer_file(tmp_path / "o.seg.nrrd", [a, b], geometry, overlap_segments(), space="RAS")
    volumes = read_segnrrd(path)
    assert len(volumes) == 2
    for v in volumes:
        assert v.geometry.max_deviation(geometry) < 1e-6 and v.array.flags.c_contiguous
    np.testing.assert_array_equal(volumes[0].array, a)
    np.testing.assert_array_equal(volumes[1].array, b)
    assert [s.label for s in volumes[0].segments] == ["liver", "right kidney"]
    (mass,) = volumes[1].segments
    assert (mass.label_id, mass.type, mass.category, mass.anatomic_region, mass.anatomic_region_modifier) == (
        1,
        MASS,
        ALTERED,
        KIDNEY,
        RIGHT,
    )
    assert (mass.algorithm_type, mass.algorithm_name, mass.rgb) == ("SEMIAUTOMATIC", "GrowCut", (255, 0, 0))


def test_read_legacy_without_layer_keys(tmp_path):
    """Segment N lies in layer N; a missing LabelValue is 1."""
    geometry = axial_geometry(shape=(3, 10, 12))
    a = np.zeros(geometry.shape, np.uint8)
    a[1, 2:5, 2:5] = 1
    b = np.zeros(geometry.shape, np.uint8)
    b[1:3, 3:8, 3:8] = 1
    segs = [{"Name": "first", "Color": "0 1 0"}, {"Name": "second", "Color": "0 0 1"}]
    volumes = read_segnrrd(slicer_file(tmp_path / "legacy.seg.nrrd", [a, b], geometry, segs))
    assert [[(s.label, s.label_id) for s in v.segments] for v in volumes] == [[("first", 1)], [("second", 1)]]
    assert volumes[0].segments[0].type == DEFAULT_TYPE  # no TerminologyEntry: Slicer's default "Tissue"


@pytest.mark.parametrize("n_layers", [1, 2])
def test_read_without_segment_keys(tmp_path, n_layers):
    geometry = axial_geometry(shape=(2, 9, 7))
    a = np.zeros(geometry.shape, np.uint8)
    a[0, :3, :3] = 3
    a[1, 4:, 4:] = 7
    layers = [a, (a == 3).astype(np.uint8) * 5][:n_layers]
    volumes = read_segnrrd(slicer_file(tmp_path / "bare.seg.nrrd", layers, geometry))
    assert [[s.label_id for s in v.segments] for v in volumes] == [[3, 7], [5]][:n_layers]
    seg = volumes[0].segments[0]
    assert seg.type == DEFAULT_TYPE and seg.category.value == "85756007" and seg.rgb is None and seg.label


def test_read_metadata_wins(tmp_path):
    geometry = axial_geometry(shape=(2, 9, 7))
    a, b = overlapping(geometry)
    path = slicer_file(tmp_path / "o.seg.nrrd", [a, b], geometry, overlap_segments())
    from labelmap.formats.dcmqi_json import load_metadata

    md = load_metadata(dcmqi_json(tmp_path / "m.json", [[json_segment(2, "left kidney", KIDNEY)]]))
    volumes = read_segnrrd(path, metadata=md.segments)
    names = segments_by_name(volumes)
    assert set(names) == {"liver", "left kidney", "renal mass"}  # layer 0 value 2 replaced, the rest kept
    assert names["left kidney"].rgb == (10, 20, 30) and names["liver"].rgb == (221, 130, 101)


def test_registered_by_name():
    assert format_for("a/b.seg.nrrd").name == format_for("B.SEG.NRRD").name == "segnrrd"
    assert format_for("b.nrrd").name == "nrrd"


def test_read_labels_reads_segnrrd_and_refuses_layers(tmp_path):
    from labelmap.formats import read_labels as read_file
    from labelmap.pipeline.convert import read_labels

    geometry = axial_geometry(shape=(2, 9, 7))
    path = slicer_file(tmp_path / "o.seg.nrrd", list(overlapping(geometry)), geometry, overlap_segments())
    labels = read_file(path)
    assert labels.described and len(labels.volumes) == 2
    with pytest.raises(ImageFormatError, match="o.seg.nrrd.*holds 2 layers.*itk2seg"):
        read_labels(path)
    one = slicer_file(tmp_path / "one.seg.nrrd", [organs(geometry)], geometry, organ_segments())
    assert [s.label for s in read_labels(one).segments] == ["liver", "right kidney"]


# --------------------------------------------------------------------------- writing
def test_write_3d_read_by_pynrrd_and_us(tmp_path):
    geometry = oblique_geometry(shape=(3, 38, 23))
    segs = (
        SegmentDescription(1, ANATOMY, LIVER, number=1, label="liver", rgb=(221, 130, 101)),
        SegmentDescription(
            2,
            ANATOMY,
            KIDNEY,
            number=2,
            label="kidney",
            type_modifier=RIGHT,
            algorithm_type="AUTOMATIC",
            algorithm_name="Net",
            description="whole organ",
            tracking_id="K1",
            tracking_uid="2.25.1",
        ),
    )
    labels = organs(geometry)
    labels[:, :, 0] = 0  # the extent starts at i = 1
    path = tmp_path / "w.seg.nrrd"
    write_segnrrd(path, [LabelVolume(labels, geometry, segs)])
    data, header = nrrd.read(str(path), index_order="C")
    assert data.shape == (3, 38, 23) and header["encoding"] == "gzip" and header["kinds"] == ["domain"] * 3
    np.testing.assert_array_equal(data, labels)
    assert header["Segmentation_MasterRepresentation"] == "Binary labelmap"
    assert header["Segment1_Name"] == "kidney" and header["Segment1_LabelValue"] == "2"
    assert header["Segment1_Layer"] == "0" and header["Segment1_ID"] == "Segment_2"
    k1 = np.nonzero(labels == 1)
    assert header["Segment0_Extent"] == " ".join(str(v) for ax in (2, 1, 0) for v in (k1[ax].min(), k1[ax].max()))
    assert "SCT^64033007^Kidney~SCT^24028007^Right~" in header["Segment1_Tags"]
    (back,) = read_segnrrd(path)
    np.testing.assert_array_equal(back.array, labels)
    assert back.geometry.max_deviation(geometry) < 1e-9
    for want, got in zip(segs, back.segments):
        for field in (
            "label_id",
            "label",
            "rgb",
            "category",
            "type",
            "type_modifier",
            "algorithm_type",
            "algorithm_name",
            "description",
            "tracking_id",
            "tracking_uid",
        ):
            assert getattr(got, field) == (
                getattr(want, field) or (128, 174, 128) if field == "rgb" else getattr(want, field)
            ), field


def test_write_4d_and_empty_segment_extent(tmp_path):
    geometry = axial_geometry(shape=(2, 9, 7))
    a, b = overlapping(geometry)
    b3 = np.where(b == 1, 3, 0).astype(np.uint8)
    layers = [
        LabelVolume(
            a,
            geometry,
            (
                SegmentDescription(1, ANATOMY, LIVER, number=1, label="liver"),
                SegmentDescription(2, ANATOMY, KIDNEY, number=2, label="kidney"),
            ),
        ),
        LabelVolume(
            b3,
            geometry,
            (
                SegmentDescription(3, ALTERED, MASS, number=3, label="mass"),
                SegmentDescription(4, ALTERED, MASS, number=4, label="empty"),
            ),
        ),
    ]
    path = tmp_path / "w.seg.nrrd"
    write_segnrrd(path, layers)
    data, header = nrrd.read(str(path), index_order="C")
    assert data.shape == (2, 9, 7, 2) and header["kinds"] == ["list", "domain", "domain", "domain"]
    assert np.isnan(header["space directions"][0]).all()
    assert header["Segment3_Extent"] == "0 -1 0 -1 0 -1" and header["Segment2_Layer"] == "1"
    back = read_segnrrd(path)
    np.testing.assert_array_equal(back[0].array, a)
    np.testing.assert_array_equal(back[1].array, b3)
    assert [s.label for s in back[1].segments] == ["mass", "empty"]


def test_write_refuses_undescribed_values_and_leaves_nothing(tmp_path):
    geometry = axial_geometry(shape=(2, 9, 7))
    volume = LabelVolume(organs(geometry), geometry, (SegmentDescription(1, ANATOMY, LIVER, label="liver"),))
    with pytest.raises(InputError, match="w.seg.nrrd.*label value 2 that none of its segments describes"):
        write_segnrrd(tmp_path / "w.seg.nrrd", [volume])
    assert listing(tmp_path) == set()


# --------------------------------------------------------------------------- round trips through SEG
@pytest.mark.parametrize("space", ["LPS", "RAS"])
@pytest.mark.parametrize("make", [axial_geometry, oblique_geometry])
def test_round_trip_labelmap(tmp_path, capsys, space, make):
    geometry = make(shape=(3, 38, 23))
    ct = make_ct_series(tmp_path, geometry)
    src = slicer_file(tmp_path / "organs.seg.nrrd", [organs(geometry)], geometry, organ_segments(), space=space)
    seg = tmp_path / "organs.seg.dcm"
    rc, out, err = run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg)
    assert rc == 0, err
    assert "LABELMAP" in out and err == ""
    assert str(pydicom.dcmread(seg).SOPClassUID) == "1.2.840.10008.5.1.4.1.1.66.7"
    back = tmp_path / "back"
    back.mkdir()
    rc, out, err = run_cli(capsys, "seg2itk", seg, "-o", back, "--format", "segnrrd", "--reference", ct)
    assert rc == 0, err
    assert sorted(p.name for p in back.iterdir()) == ["meta.json", "organs.seg.nrrd"]
    (volume,) = read_segnrrd(back / "organs.seg.nrrd")
    np.testing.assert_array_equal(volume.array, organs(geometry))
    assert volume.geometry.max_deviation(geometry) < 1e-4
    (original,) = read_segnrrd(src)
    for want, got in zip(original.segments, volume.segments):
        assert (got.label, got.label_id, got.rgb, got.category, got.type, got.type_modifier) == (
            want.label,
            want.label_id,
            want.rgb,
            want.category,
            want.type,
            want.type_modifier,
        )


def test_round_trip_overlap_binary(tmp_path, capsys):
    geometry = oblique_geometry(shape=(4, 22, 21))
    ct = make_ct_series(tmp_path, geometry)
    a, b = overlapping(geometry)
    src = slicer_file(tmp_path / "o.seg.nrrd", [a, b], geometry, overlap_segments())
    seg = tmp_path / "o.dcm"
    rc, out, err = run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg)
    assert rc == 0, err
    assert "BINARY" in out and "overlap" in err
    ds = pydicom.dcmread(seg)
    assert ds.SegmentationType == "BINARY" and ds.SegmentsOverlap == "YES"
    assert [str(s.SegmentLabel) for s in ds.SegmentSequence] == ["liver", "right kidney", "renal mass"]
    back = tmp_path / "back"
    back.mkdir()
    rc, out, err = run_cli(capsys, "seg2itk", seg, "-o", back, "--format", "segnrrd", "-p", "P", "-r", ct)
    assert rc == 0, err
    assert sorted(p.name for p in back.iterdir()) == ["P-meta.json", "P.seg.nrrd"]
    volumes = read_segnrrd(back / "P.seg.nrrd")
    assert len(volumes) == 2  # greedy first fit: the mass overlaps both organs
    original = read_segnrrd(src)
    want, got = masks_by_name(original), masks_by_name(volumes)
    assert set(want) == set(got)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for name, seg_in in segments_by_name(original).items():
        seg_out = segments_by_name(volumes)[name]
        for field in (
            "rgb",
            "category",
            "type",
            "type_modifier",
            "anatomic_region",
            "anatomic_region_modifier",
            "algorithm_type",
            "algorithm_name",
        ):
            assert getattr(seg_out, field) == getattr(seg_in, field), (name, field)
    meta = json.loads((back / "P-meta.json").read_text())
    assert [len(inner) for inner in meta["segmentAttributes"]] == [2, 1]


def test_type_labelmap_refuses_overlapping_layers(tmp_path, capsys):
    geometry = axial_geometry(shape=(2, 9, 7))
    ct = make_ct_series(tmp_path, geometry)
    src = slicer_file(tmp_path / "o.seg.nrrd", list(overlapping(geometry)), geometry, overlap_segments())
    line = run_cli_error(
        capsys,
        ["itk2seg", src, "--dicom", ct, "-o", tmp_path / "out" / "o.dcm", "--type", "labelmap"],
        tmp_path / "out",
    )
    assert "overlap" in line and "renal mass" in line


def test_itk2seg_with_metadata(tmp_path, capsys):
    geometry = axial_geometry(shape=(3, 12, 10))
    ct = make_ct_series(tmp_path, geometry)
    src = slicer_file(tmp_path / "o.seg.nrrd", [organs(geometry)], geometry, organ_segments())
    meta = dcmqi_json(
        tmp_path / "m.json",
        [[json_segment(1, "Liver (JSON)", LIVER)]],
        SeriesDescription="From JSON",
        SeriesNumber="42",
    )
    seg = tmp_path / "o.dcm"
    rc, out, err = run_cli(capsys, "itk2seg", src, "--dicom", ct, "--metadata", meta, "-o", seg)
    assert rc == 0, err
    ds = pydicom.dcmread(seg)
    assert ds.SeriesDescription == "From JSON" and str(ds.SeriesNumber) == "42"
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    assert labels[1] == "Liver (JSON)" and labels[2] == "right kidney"


def test_seg_to_segnrrd_without_prefix_uses_seg_name(tmp_path, capsys):
    geometry = axial_geometry(shape=(3, 12, 10))
    ct = make_ct_series(tmp_path, geometry)
    src = slicer_file(tmp_path / "o.seg.nrrd", [organs(geometry)], geometry, organ_segments())
    seg = tmp_path / "Study.SEG.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q")[0] == 0
    out = tmp_path / "out"
    out.mkdir()
    assert run_cli(capsys, "seg2itk", seg, "-o", out, "--format", "segnrrd")[0] == 0
    assert (out / "Study.seg.nrrd").is_file()


def test_highdicom_reads_labelmap_from_segnrrd(tmp_path, capsys):
    hd = pytest.importorskip("highdicom")
    geometry = oblique_geometry(shape=(3, 22, 21))
    ct = make_ct_series(tmp_path, geometry)
    src = slicer_file(tmp_path / "o.seg.nrrd", [organs(geometry)], geometry, organ_segments())
    seg = tmp_path / "o.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q")[0] == 0
    obj = hd.seg.segread(str(seg))
    assert obj.segmentation_type == hd.seg.SegmentationTypeValues.LABELMAP
    labels = {n: obj.get_segment_description(n).segment_label for n in obj.segment_numbers}
    assert {labels[1], labels[2]} == {"liver", "right kidney"}
    kidney = obj.get_segment_description(2)
    assert kidney.segmented_property_type.value == KIDNEY.value
    volume = np.asarray(obj.get_volume(combine_segments=True, relabel=False).array)
    assert sorted(int(v) for v in np.unique(volume)) == [0, 1, 2]
    assert int((volume == 1).sum()) == int((organs(geometry) == 1).sum())


def test_seg_from_segnrrd_validates(tmp_path, capsys):
    from labelmap import validate_seg

    geometry = axial_geometry(shape=(3, 12, 10))
    ct = make_ct_series(tmp_path, geometry)
    src = slicer_file(tmp_path / "o.seg.nrrd", list(overlapping(geometry)), geometry, overlap_segments())
    for kind in ("labelmap", "binary"):
        seg = tmp_path / f"{kind}.dcm"
        layers = (
            [src]
            if kind == "binary"
            else [slicer_file(tmp_path / "one.seg.nrrd", [organs(geometry)], geometry, organ_segments())]
        )
        assert run_cli(capsys, "itk2seg", *layers, "--dicom", ct, "-o", seg, "--type", kind, "-q")[0] == 0
        assert [v for v in validate_seg(seg) if v.severity == "error"] == []


# --------------------------------------------------------------------------- bad input
def _bad_case(tmp_path: Path, segments: list[dict], layers: int = 1, **kw) -> tuple[Path, Path]:
    geometry = axial_geometry(shape=(2, 9, 7))
    ct = make_ct_series(tmp_path, geometry)
    arrays = list(overlapping(geometry))[:layers]
    return slicer_file(tmp_path / "bad.seg.nrrd", arrays, geometry, segments, **kw), ct


def _with(n: int, **fields) -> list[dict]:
    segs = organ_segments()
    segs[n] = {**segs[n], **fields}
    return segs


@pytest.mark.parametrize(
    "segments, layers, expected",
    [
        (_with(1, Layer=2), 1, r"Segment1_Layer is 2 but the file holds 1 layer\(s\) \(0..0\); fix Segment1_Layer"),
        (_with(1, Layer=-1), 1, r"Segment1_Layer is -1 but the file holds 1 layer"),
        (_with(0, Color="1 0"), 1, r"Segment0_Color is '1 0'; it must be three numbers 0..1"),
        (_with(0, Color="red green blue"), 1, r"Segment0_Color is 'red green blue'"),
        (_with(0, Color="1.5 0 0"), 1, r"Segment0_Color is '1.5 0 0'"),
        (_with(1, LabelValue=0), 1, r"Segment1_LabelValue is 0; it must be 1..65535"),
        (_with(1, LabelValue=70000), 1, r"Segment1_LabelValue is 70000; it must be 1..65535"),
        (_with(1, LabelValue="two"), 1, r"Segment1_LabelValue is 'two', not an integer"),
        (
            _with(1, LabelValue=1),
            1,
            r"Segment0 and Segment1 both use layer 0, label value 1; give Segment1 another Segment1_LabelValue",
        ),
        (_with(1, Layer="x"), 1, r"Segment1_Layer is 'x', not an integer"),
        (_with(1, Extent="1 2 3"), 1, r"Segment1_Extent is '1 2 3'; it must be six integers 'i0 i1 j0 j1 k0 k1'"),
        (
            [{**seg, "Extent": "0 0 0 0 0 0"} for seg in organ_segments()],
            1,
            r"holds \d+ labelled voxel\(s\) outside the extent its segments' Segment<N>_Extent keys give "
            r"\(i 0..0, j 0..0, k 0..0\); 3D Slicer would not show them",
        ),
        (
            [{**seg, "Extent": "0 -1 0 -1 0 -1"} for seg in organ_segments()],
            1,
            r"holds \d+ labelled voxel\(s\) outside the extent .* \(empty\)",
        ),
        (
            _with(0, Tags="TerminologyEntry:a~b~c|"),
            1,
            r"Segment0_Tags: TerminologyEntry has 3 '~'-separated parts, expected 7",
        ),
        (
            _with(
                0,
                Tags="TerminologyEntry:" + terminology(ANATOMY, LIVER).replace("SCT^10200004^Liver", "10200004") + "|",
            ),
            1,
            r"Segment0_Tags: TerminologyEntry type code '10200004' is not 'SCHEME\^VALUE\^MEANING'",
        ),
        (_with(0, Tags="DICOM.SegmentAlgorithmType:AUTOMATIC|"), 1, r"DICOM.SegmentAlgorithmName is missing"),
        (organ_segments()[:1], 1, r"holds label value 2 \(\d+ voxels\) that no Segment<N>_LabelValue describes; add"),
        (organ_segments(), 2, r"layer 1 holds label value 1 .* of that layer \(Segment<N>_Layer:=1\)"),
        (
            [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}],
            2,
            r"segment 2 has no Segment2_Layer key, so \(legacy layout\) it lies in layer 2, but the file holds 2 layer",
        ),
        (
            [{"Name": "a", "Layer": 0, "LabelValue": 1}, {"Name": "b", "LabelValue": 2}],
            1,
            r"Segment1_Layer is missing while other segments have one",
        ),
    ],
)
def test_bad_segnrrd(tmp_path, capsys, segments, layers, expected):
    src, ct = _bad_case(tmp_path, segments, layers)
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", src, "--dicom", ct, "-o", out / "x.dcm"], out)
    assert "bad.seg.nrrd" in line
    import re

    assert re.search(expected, line), line


def test_bad_4d_axis_order(tmp_path, capsys):
    geometry = axial_geometry(shape=(2, 9, 7))
    ct = make_ct_series(tmp_path, geometry)
    path = tmp_path / "bad.seg.nrrd"
    data = np.zeros((2, 9, 7, 2), np.uint8)
    vecs = (geometry.direction * geometry.spacing[np.newaxis, :]).T
    nrrd.write(
        str(path),
        data,
        {
            "space": "left-posterior-superior",
            "kinds": ["domain"] * 3 + ["list"],
            "space directions": np.vstack([vecs, [[np.nan] * 3]]),
            "space origin": geometry.origin,
        },
        index_order="C",
    )
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", path, "--dicom", ct, "-o", out / "x.dcm"], out)
    assert "must list its layers on the first axis" in line and "bad.seg.nrrd" in line


def test_bad_negative_values(tmp_path, capsys):
    geometry = axial_geometry(shape=(2, 9, 7))
    ct = make_ct_series(tmp_path, geometry)
    a = organs(geometry).astype(np.int16)
    a[0, 0, 0] = -3
    src = slicer_file(tmp_path / "neg.seg.nrrd", [a], geometry, organ_segments(), dtype=np.int16)
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", src, "--dicom", ct, "-o", out / "x.dcm"], out)
    assert "neg.seg.nrrd" in line and "negative label -3" in line


def test_segnrrd_must_be_alone(tmp_path, capsys):
    src, ct = _bad_case(tmp_path, organ_segments())
    other = tmp_path / "plain.nrrd"
    other.write_bytes(b"")
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", src, other, "--dicom", ct, "-o", out / "x.dcm"], out)
    assert "bad.seg.nrrd" in line and "as the only label file" in line


def test_json_with_more_lists_than_layers(tmp_path, capsys):
    src, ct = _bad_case(tmp_path, organ_segments())
    meta = dcmqi_json(tmp_path / "m.json", [[json_segment(1, "a", LIVER)], [json_segment(1, "b", LIVER)]])
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", src, "--dicom", ct, "-m", meta, "-o", out / "x.dcm"], out)
    assert "2 inner lists" in line and "holds 1 layer(s)" in line and "bad.seg.nrrd" in line


def test_plain_nrrd_still_needs_metadata(tmp_path, capsys):
    geometry = axial_geometry(shape=(2, 9, 7))
    ct = make_ct_series(tmp_path, geometry)
    from _images import write_image

    write_image(tmp_path / "plain.nrrd", organs(geometry), geometry)
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", tmp_path / "plain.nrrd", "--dicom", ct, "-o", out / "x.dcm"], out)
    assert "--metadata" in line


def test_fractional_to_segnrrd_unsupported(tmp_path, capsys):
    geometry = axial_geometry(shape=(2, 9, 7))
    ct = make_ct_series(tmp_path, geometry)
    from labelmap.pipeline.convert import load_source, write_seg

    p = np.zeros(geometry.shape, np.float32)
    p[:, 2:5, 2:5] = 0.5
    seg = tmp_path / "frac.dcm"
    write_seg(
        LabelVolume(p, geometry, (SegmentDescription(1, ANATOMY, LIVER, label="p"),)),
        load_source(ct),
        seg,
        options=WriteOptions(seg_type="fractional"),
    )
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["seg2itk", seg, "-o", out, "--format", "segnrrd"], out)
    assert "FRACTIONAL" in line and "--format nrrd" in line


def test_metadata_error_from_api(tmp_path):
    geometry = axial_geometry(shape=(2, 9, 7))
    path = slicer_file(tmp_path / "o.seg.nrrd", [organs(geometry)], geometry, organ_segments())
    with pytest.raises(MetadataError):
        read_segnrrd(path, metadata=[[], []])


def test_16bit_values_round_trip(tmp_path, capsys):
    """A uint16 layer holding 300 (Segment0) and 2 (Segment1): the SEG numbers them 1, 2 in Slicer's
    order (issue 11: Slicer's segment order, whatever the label values); back, the masks are the same."""
    geometry = axial_geometry(shape=(3, 12, 10))
    ct = make_ct_series(tmp_path, geometry)
    a = organs(geometry).astype(np.uint16)
    a[a == 1] = 300
    segs = _with(0, LabelValue=300)
    src = slicer_file(tmp_path / "big.seg.nrrd", [a], geometry, segs, dtype=np.uint16)
    seg = tmp_path / "big.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q")[0] == 0
    ds = pydicom.dcmread(seg)
    numbered = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence if s.SegmentNumber}
    assert ds.BitsAllocated == 8 and numbered == {1: "liver", 2: "right kidney"}
    out = tmp_path / "out"
    out.mkdir()
    assert run_cli(capsys, "seg2itk", seg, "-o", out, "--format", "segnrrd", "-r", ct)[0] == 0
    (volume,) = read_segnrrd(out / "big.seg.nrrd")
    assert {s.label: s.label_id for s in volume.segments} == {"liver": 1, "right kidney": 2}
    np.testing.assert_array_equal(volume.array == 1, a == 300)
    np.testing.assert_array_equal(volume.array == 2, a == 2)


def test_read_detached_header(tmp_path):
    geometry = axial_geometry(shape=(2, 9, 7))
    vecs = (geometry.direction * geometry.spacing[np.newaxis, :]).T
    header = {
        "space": "left-posterior-superior",
        "kinds": ["domain"] * 3,
        "space directions": vecs,
        "space origin": geometry.origin,
        "encoding": "gzip",
    }
    header.update({f"Segment{n}_{k}": str(v) for n, seg in enumerate(organ_segments()) for k, v in seg.items()})
    nrrd.write(str(tmp_path / "d.seg.nhdr"), organs(geometry), header, index_order="C", detached_header=True)
    (volume,) = read_segnrrd(tmp_path / "d.seg.nhdr")
    np.testing.assert_array_equal(volume.array, organs(geometry))
    assert [s.label for s in volume.segments] == ["liver", "right kidney"]
    with pytest.raises(InputError, match="name it .seg.nrrd"):
        write_segnrrd(tmp_path / "w.seg.nhdr", [volume])


def test_json_duplicate_label_ids(tmp_path, capsys):
    src, ct = _bad_case(tmp_path, organ_segments())
    meta = dcmqi_json(tmp_path / "m.json", [[json_segment(1, "a", LIVER), json_segment(1, "b", LIVER)]])
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", src, "--dicom", ct, "-m", meta, "-o", out / "x.dcm"], out)
    assert "m.json" in line and "segmentAttributes[0][1] (labelID 1): duplicate labelID" in line
    seg = SegmentDescription(1, ANATOMY, LIVER, label="a")
    with pytest.raises(MetadataError, match="segmentAttributes\\[0\\] of the metadata JSON describes labelID 1 twice"):
        read_segnrrd(src, metadata=[[seg, seg]])


# --------------------------------------------------------------------------- terminology context names
def _contexts(path: Path) -> list[tuple[str, str]]:
    """(category-and-type context, anatomic context) of every segment, in header order."""
    header = nrrd.read_header(str(path))
    entries = [
        header[f"Segment{n}_Tags"].split("TerminologyEntry:")[1].split("|")[0]
        for n in range(len(header))
        if f"Segment{n}_Tags" in header
    ]
    return [(e.split("~")[0], e.split("~")[4]) for e in entries]


@pytest.mark.parametrize("compression", ["none", "deflate", "implicit"])
def test_terminology_context_names_survive_a_round_trip(tmp_path, capsys, compression):
    """Slicer's context names (first and fifth '~' part of TerminologyEntry) go through the SEG, in a
    private block of each Segment Sequence item, back into the .seg.nrrd; LABELMAP and BINARY."""
    geometry = axial_geometry(shape=(3, 12, 10))
    ct = make_ct_series(tmp_path, geometry)
    segs = overlap_segments()
    segs[2] = {
        **segs[2],
        "Tags": segs[2]["Tags"]
        .replace(
            "Segmentation category and type - 3D Slicer General Anatomy list",
            "Segmentation category and type - DICOM master list",
        )
        .replace("Anatomic codes - DICOM master list", "My own anatomic list"),
    }
    for kind, layers, segments in (
        ("labelmap", [organs(geometry)], segs[:2]),
        ("binary", list(overlapping(geometry)), segs),
    ):
        src = slicer_file(tmp_path / f"{kind}.seg.nrrd", layers, geometry, segments)
        seg = tmp_path / f"{kind}.dcm"
        assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "--compression", compression, "-q")[0] == 0
        ds = pydicom.dcmread(seg)
        assert ds.SegmentationType == kind.upper()
        item = ds.SegmentSequence[-1]
        assert item[0x00630010].value == "LABELMAP SLICER TERMINOLOGY"
        out = tmp_path / f"out_{kind}"
        out.mkdir()
        assert run_cli(capsys, "seg2itk", seg, "-o", out, "--format", "segnrrd")[0] == 0
        assert _contexts(out / f"{kind}.seg.nrrd") == _contexts(src)
        from labelmap import validate_seg

        assert [v for v in validate_seg(seg) if v.severity == "error"] == []
    assert _contexts(tmp_path / "binary.seg.nrrd")[2] == (
        "Segmentation category and type - DICOM master list",
        "My own anatomic list",
    )


def test_segments_without_context_get_the_dicom_master_lists(tmp_path):
    geometry = axial_geometry(shape=(2, 9, 7))
    volume = LabelVolume(
        organs(geometry),
        geometry,
        (SegmentDescription(1, ANATOMY, LIVER, label="liver"), SegmentDescription(2, ANATOMY, KIDNEY, label="kidney")),
    )
    write_segnrrd(tmp_path / "w.seg.nrrd", [volume])
    assert (
        _contexts(tmp_path / "w.seg.nrrd")
        == [("Segmentation category and type - DICOM master list", "Anatomic codes - DICOM master list")] * 2
    )
    (back,) = read_segnrrd(tmp_path / "w.seg.nrrd")
    assert back.segments[0].terminology_context == "Segmentation category and type - DICOM master list"
