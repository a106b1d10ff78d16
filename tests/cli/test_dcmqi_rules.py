"""dcmqi's exact rules, each on synthetic data (no dcmqi test data needed): segmentAttributesFileMapping
reorders the inputs, JSON entries for absent labels are dropped, LABELMAP slices without a frame read as
the Pixel Padding Value, output folders, and a source's empty Specific Character Set.  Where dcmqi is
installed the same inputs also go through it and the results are compared.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import read_image, write_image

from labelmap.demo.sample import sample_metadata

from _cli import listing, run_cli
from _geometries import axial_geometry, make_ct_series

BIN = Path(sys.executable).parent
HAVE_DCMQI = (BIN / "itkimage2segimage").exists() and (BIN / "segimage2itkimage").exists()
needs_dcmqi = pytest.mark.skipif(not HAVE_DCMQI, reason="dcmqi executables are not installed in the venv")
SHAPE = (5, 16, 12)


def dcmqi(name: str, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A CT series and three single-label files (heart, liver, spine: label 1, disjoint regions)."""
    root = tmp_path_factory.mktemp("rules")
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(root, geometry, name="ct")
    masks = {}
    for name, region in [
        ("heart", np.s_[1:3, 2:6, 2:6]),
        ("liver", np.s_[2:4, 8:12, 6:10]),
        ("spine", np.s_[0:5, 12:15, 1:3]),
    ]:
        arr = np.zeros(SHAPE, np.uint8)
        arr[region] = 1
        masks[name] = arr
        write_image(root / f"{name}_seg.nrrd", arr, geometry)
    organs = sample_metadata([1, 2, 3])["segmentAttributes"][0]
    described = {}
    for name, entry in zip(("heart", "liver", "spine"), organs):
        described[name] = dict(entry, labelID=1, SegmentLabel=name.capitalize())
    return dict(root=root, ct=ct, geometry=geometry, masks=masks, described=described)


def mapped_json(files, path: Path, order: list[str], mapping: list[str] | None = None) -> Path:
    doc = sample_metadata([1])
    doc["segmentAttributes"] = [[files["described"][name]] for name in order]
    doc["segmentAttributesFileMapping"] = mapping if mapping is not None else [f"{name}_seg.nrrd" for name in order]
    path.write_text(json.dumps(doc))
    return path


def image_list(files, names: list[str]) -> str:
    return ",".join(str(files["root"] / f"{name}_seg.nrrd") for name in names)


def write_args(files, meta: Path, names: list[str], out: Path, *extra: object) -> list[object]:
    return [
        "--inputMetadata",
        meta,
        "--inputImageList",
        image_list(files, names),
        "--inputDICOMDirectory",
        files["ct"],
        "--outputDICOM",
        out,
        *extra,
    ]


def segment_labels(path: Path) -> list[tuple[int, str]]:
    ds = pydicom.dcmread(path)
    return [(int(s.SegmentNumber), str(s.SegmentLabel)) for s in ds.SegmentSequence if int(s.SegmentNumber)]


# --------------------------------------------------------------------------- segmentAttributesFileMapping
def test_file_mapping_orders_inputs_as_the_json(files, tmp_path, capsys):
    """The inputs are taken in the mapping's order: segment numbers and exported files follow the JSON."""
    meta = mapped_json(files, tmp_path / "m.json", ["liver", "spine", "heart"])
    out = tmp_path / "seg.dcm"
    rc, _, err = run_cli(capsys, "itkimage2segimage", *write_args(files, meta, ["heart", "liver", "spine"], out))
    assert rc == 0, err
    assert segment_labels(out) == [(1, "Liver"), (2, "Spine"), (3, "Heart")]
    read = tmp_path / "read"
    read.mkdir()
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", out, "--outputDirectory", read)
    assert rc == 0, err
    for k, name in enumerate(["liver", "spine", "heart"], start=1):
        array, _ = read_image(read / f"{k}.nrrd")
        np.testing.assert_array_equal(array, files["masks"][name] * k)
    meta_out = json.loads((read / "meta.json").read_text())
    assert [g[0]["SegmentLabel"] for g in meta_out["segmentAttributes"]] == ["Liver", "Spine", "Heart"]

    # the native command honours the same JSON the same way
    native = tmp_path / "native.dcm"
    labels = [files["root"] / f"{n}_seg.nrrd" for n in ("heart", "liver", "spine")]
    rc, _, err = run_cli(capsys, "itk2seg", *labels, "-d", files["ct"], "-m", meta, "-o", native, "--type", "binary")
    assert rc == 0, err
    assert segment_labels(native) == [(1, "Liver"), (2, "Spine"), (3, "Heart")]

    if HAVE_DCMQI:
        theirs = tmp_path / "dcmqi.dcm"
        proc = dcmqi("itkimage2segimage", *write_args(files, meta, ["heart", "liver", "spine"], theirs))
        assert proc.returncode == 0, proc.stderr
        assert segment_labels(theirs) == segment_labels(out)


def test_file_mapping_entry_is_matched_anywhere_in_the_path(files, tmp_path, capsys):
    """dcmqi matches an entry anywhere in the path as given (its first matching entry wins)."""
    meta = mapped_json(files, tmp_path / "m.json", ["spine", "heart", "liver"], ["spine", "heart", "liver_seg"])
    out = tmp_path / "seg.dcm"
    rc, _, err = run_cli(capsys, "itkimage2segimage", *write_args(files, meta, ["liver", "heart", "spine"], out))
    assert rc == 0, err
    assert segment_labels(out) == [(1, "Spine"), (2, "Heart"), (3, "Liver")]


@pytest.mark.parametrize(
    "mapping, needles",
    [
        (["liver_seg.nrrd", "spine_seg.nrrd", "kidney_seg.nrrd"], ["heart_seg.nrrd", "matches none", "kidney"]),
        (["_seg.nrrd", "spine_seg.nrrd", "liver_seg.nrrd"], ["both match", "'_seg.nrrd'"]),
        (["liver_seg.nrrd", "spine_seg.nrrd"], ["segmentAttributesFileMapping", "2 entries", "3 inner lists"]),
    ],
    ids=["no match", "two files one entry", "length differs"],
)
def test_file_mapping_errors_are_one_line(files, tmp_path, capsys, mapping, needles):
    """A file no entry matches fails, as in dcmqi; two files claiming one entry fail too (dcmqi loses one)."""
    meta = mapped_json(files, tmp_path / "m.json", ["liver", "spine", "heart"], mapping)
    out = tmp_path / "seg.dcm"
    rc, stdout, err = run_cli(capsys, "itkimage2segimage", *write_args(files, meta, ["heart", "liver", "spine"], out))
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], err
    assert not out.exists()


# --------------------------------------------------------------------------- absent labels
@pytest.fixture(scope="module")
def gapped(tmp_path_factory, files):
    """labels 1 and 3 present, a JSON describing 1, 2, 3 and 4 (2 and 4 absent)."""
    root = tmp_path_factory.mktemp("absent")
    arr = files["masks"]["heart"] + 3 * files["masks"]["liver"]
    image = root / "organs.nrrd"
    write_image(image, arr.astype(np.uint8), files["geometry"])
    meta = root / "organs.json"
    meta.write_text(json.dumps(sample_metadata([1, 2, 3, 4])))
    return dict(image=image, meta=meta, array=arr)


@pytest.mark.parametrize(
    "extra, numbers",
    [([], [1, 2]), (["--useLabelIDAsSegmentNumber", "--segmentationType", "labelmap"], [1, 3])],
    ids=["sequential", "label ids"],
)
def test_absent_labels_are_dropped_and_numbering_skips_them(files, gapped, tmp_path, capsys, extra, numbers):
    """dcmqi numbers the present labels 1..N; with label ids as numbers the label stays the number."""
    out = tmp_path / "seg.dcm"
    args = ["--inputMetadata", gapped["meta"], "--inputImageList", gapped["image"], "--inputDICOMDirectory"]
    rc, _, err = run_cli(capsys, "itkimage2segimage", *args, files["ct"], "--outputDICOM", out, *extra)
    assert rc == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("warning: 2 segments of the metadata have no voxels in the image and were left out")
    assert "organs.nrrd: labels 2, 4" in lines[0] and "itk2seg --keep-absent-segments" in lines[0]
    described = sample_metadata([1, 2, 3, 4])["segmentAttributes"][0]
    expected = [(numbers[0], described[0]["SegmentLabel"]), (numbers[1], described[2]["SegmentLabel"])]
    assert segment_labels(out) == expected
    if HAVE_DCMQI:
        theirs = tmp_path / "dcmqi.dcm"
        proc = dcmqi("itkimage2segimage", *args, files["ct"], "--outputDICOM", theirs, *extra)
        assert proc.returncode == 0, proc.stderr
        assert segment_labels(theirs) == segment_labels(out)


def test_absent_labels_template_gives_one_warning_line(files, tmp_path, capsys):
    """A TotalSegmentator-style template of 117 entries on an image holding 2 of them: 2 segments, one line."""
    arr = files["masks"]["heart"] * 7 + files["masks"]["liver"] * 90
    image = tmp_path / "ts.nii.gz"
    write_image(image, arr.astype(np.uint8), files["geometry"])
    meta = tmp_path / "ts.json"
    meta.write_text(json.dumps(sample_metadata(list(range(1, 118)))))
    out = tmp_path / "ts.dcm"
    rc, _, err = run_cli(capsys, "itk2seg", image, "-d", files["ct"], "-m", meta, "-o", out)
    assert rc == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "115 segments of the metadata have no voxels" in lines[0], err
    assert lines[0].endswith("(use --keep-absent-segments to keep them)")
    assert [n for n, _ in segment_labels(out)] == [7, 90]
    kept = tmp_path / "kept.dcm"
    rc, _, err = run_cli(capsys, "itk2seg", image, "-d", files["ct"], "-m", meta, "-o", kept, "--keep-absent-segments")
    assert rc == 0, err
    assert len(segment_labels(kept)) == 117


@pytest.mark.parametrize("command", ["itkimage2segimage", "itk2seg"])
def test_no_label_present_is_an_error_naming_the_file(files, tmp_path, capsys, command):
    """dcmqi: "No input labels found"; here one line naming the file, and nothing written."""
    image = tmp_path / "empty.nrrd"
    write_image(image, np.zeros(SHAPE, np.uint8), files["geometry"])
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps(sample_metadata([1, 2])))
    out = tmp_path / "seg.dcm"
    if command == "itk2seg":
        args = [image, "-d", files["ct"], "-m", meta, "-o", out]
    else:
        args = write_args(files, meta, [], out)
        args[3] = image
    rc, _, err = run_cli(capsys, command, *args)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: empty.nrrd: none of the 2 labels"), err
    assert "no input labels found" in lines[0]
    assert not out.exists()
    if HAVE_DCMQI and command == "itkimage2segimage":
        proc = dcmqi("itkimage2segimage", *map(str, args))
        assert proc.returncode != 0 and "No input labels found" in proc.stderr + proc.stdout


# --------------------------------------------------------------------------- meta.json
def _shape(value):
    """Keys in order, with the type of every value: what must match dcmqi's meta.json."""
    if isinstance(value, dict):
        return [(k, _shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


MINIMAL = [
    {
        "labelID": 1,
        "SegmentAlgorithmType": "MANUAL",
        "SegmentedPropertyCategoryCodeSequence": {
            "CodeValue": "123037004",
            "CodingSchemeDesignator": "SCT",
            "CodeMeaning": "Anatomical Structure",
        },
        "SegmentedPropertyTypeCodeSequence": {
            "CodeValue": "10200004",
            "CodingSchemeDesignator": "SCT",
            "CodeMeaning": "Liver",
        },
        "AnatomicRegionSequence": {"CodeValue": "818981001", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Abdomen"},
        "AnatomicRegionModifierSequence": {
            "CodeValue": "7771000",
            "CodingSchemeDesignator": "SCT",
            "CodeMeaning": "Left",
        },
        "TrackingIdentifier": "lesion 1",
        "TrackingUniqueIdentifier": "1.2.826.0.1.3680043.2.1125.1",
    },
    {
        "labelID": 3,
        "SegmentAlgorithmType": "SEMIAUTOMATIC",
        "SegmentAlgorithmName": "grow",
        "SegmentedPropertyCategoryCodeSequence": {
            "CodeValue": "123037004",
            "CodingSchemeDesignator": "SCT",
            "CodeMeaning": "Anatomical Structure",
        },
        "SegmentedPropertyTypeCodeSequence": {
            "CodeValue": "80891009",
            "CodingSchemeDesignator": "SCT",
            "CodeMeaning": "Heart",
        },
    },
]


@pytest.fixture(scope="module")
def segs(tmp_path_factory, files):
    """SEGs of every kind we and dcmqi write, with and without the optional attributes."""
    if not HAVE_DCMQI:
        pytest.skip("dcmqi executables are not installed in the venv")
    from labelmap.cli import main

    root = tmp_path_factory.mktemp("meta")
    full = sample_metadata([1, 3])
    full["ClinicalTrialCoordinatingCenterName"] = "BWH"
    (root / "full.json").write_text(json.dumps(full))
    (root / "min.json").write_text(json.dumps({"segmentAttributes": [MINIMAL]}))
    one = sample_metadata([1])
    one["BodyPartExamined"] = ""
    (root / "one.json").write_text(json.dumps(one))
    image = root / "a.nrrd"
    write_image(image, (files["masks"]["heart"] + 3 * files["masks"]["liver"]).astype(np.uint8), files["geometry"])
    out: dict[str, Path] = {}
    for name, meta, extra in [
        ("labelmap", "full.json", ["--segmentationType", "labelmap"]),
        ("binary", "full.json", []),
        ("labelmap minimal", "min.json", ["--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"]),
        ("binary minimal", "min.json", []),
    ]:
        args = ["--inputImageList", image, "--inputDICOMDirectory", files["ct"], "--inputMetadata", root / meta]
        out[f"ours {name}"] = root / f"ours {name}.dcm"
        argv = ["itkimage2segimage", *args, "--outputDICOM", out[f"ours {name}"], *extra]
        assert main([str(a) for a in argv]) == 0
        out[f"dcmqi {name}"] = root / f"dcmqi {name}.dcm"
        proc = dcmqi("itkimage2segimage", *args, "--outputDICOM", out[f"dcmqi {name}"], *extra)
        assert proc.returncode == 0, proc.stderr
    probability = root / "p.nrrd"
    write_image(probability, files["masks"]["liver"].astype(np.float32) * 0.5, files["geometry"])
    out["ours fractional"] = root / "ours fractional.dcm"
    argv = ["itk2seg", probability, "-d", files["ct"], "-m", root / "one.json", "-o", out["ours fractional"]]
    assert main([*map(str, argv), "--type", "fractional", "-q"]) == 0
    # no series attributes and no colours: what another tool may write
    ds = pydicom.dcmread(out["ours binary"])
    for keyword in (
        "ContentCreatorName",
        "ClinicalTrialSeriesID",
        "ClinicalTrialTimePointID",
        "ClinicalTrialCoordinatingCenterName",
        "BodyPartExamined",
        "SeriesDescription",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    for item in ds.SegmentSequence:
        del item.RecommendedDisplayCIELabValue
    out["stripped"] = root / "stripped.dcm"
    ds.save_as(out["stripped"])
    return out


@pytest.mark.parametrize(
    "name",
    [
        "ours labelmap",
        "ours binary",
        "ours labelmap minimal",
        "ours binary minimal",
        "dcmqi labelmap",
        "dcmqi binary",
        "dcmqi labelmap minimal",
        "dcmqi binary minimal",
        "ours fractional",
        "stripped",
    ],
)
@pytest.mark.parametrize("merge", [False, True], ids=["", "merged"])
def test_meta_json_is_what_dcmqi_writes(segs, tmp_path, capsys, name, merge):
    """segimage2itkimage's meta.json against dcmqi's own for the same SEG: the same keys in the same order,
    the same value types, the same values (BodyPartExamined "" included)."""
    extra = ["--mergeSegments"] if merge else []
    theirs, ours = tmp_path / "dcmqi", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    proc = dcmqi("segimage2itkimage", "--inputDICOM", segs[name], "--outputDirectory", theirs, *extra)
    assert proc.returncode == 0, proc.stderr
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", segs[name], "--outputDirectory", ours, *extra)
    assert rc == 0, err
    expected = json.loads((theirs / "meta.json").read_text())
    actual = json.loads((ours / "meta.json").read_text())
    assert _shape(actual) == _shape(expected)
    assert actual == expected
    assert "BodyPartExamined" in actual
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())


@pytest.mark.parametrize("name", ["ours labelmap", "ours binary", "ours fractional", "dcmqi labelmap 16-bit"])
def test_label_images_have_dcmqis_pixel_types(segs, tmp_path, capsys, name):
    """segimage2itkimage writes the pixel type dcmqi writes (BINARY / FRACTIONAL and 16-bit LABELMAP frames:
    int16; 8-bit LABELMAP frames: uint8); native seg2itk the smallest unsigned type."""
    import nrrd

    seg = segs.get(name)
    if seg is None:  # a 16-bit LABELMAP from dcmqi's own bin2labelsegimage
        seg = tmp_path / "16.dcm"
        proc = dcmqi("bin2labelsegimage", "--inputDICOM", segs["dcmqi binary"], "--outputDICOM", seg, "--force16Bit")
        assert proc.returncode == 0, proc.stderr
    theirs, ours = tmp_path / "dcmqi", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    proc = dcmqi("segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", theirs)
    assert proc.returncode == 0, proc.stderr
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", ours)
    assert rc == 0, err
    for image in sorted(theirs.glob("*.nrrd")):
        expected, _ = nrrd.read(str(image))
        actual, _ = nrrd.read(str(ours / image.name))
        assert actual.dtype == expected.dtype, image.name
        np.testing.assert_array_equal(actual, expected)
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "native")
    assert rc == 0, err
    assert read_image(tmp_path / "native" / "1.nrrd")[0].dtype == np.uint8


def test_native_meta_json_has_the_same_keys(segs, tmp_path, capsys):
    """seg2itk writes the same meta.json as segimage2itkimage."""
    rc, _, err = run_cli(capsys, "seg2itk", segs["ours labelmap minimal"], "-o", tmp_path / "a")
    assert rc == 0, err
    rc, _, err = run_cli(
        capsys, "segimage2itkimage", "--inputDICOM", segs["ours labelmap minimal"], "--outputDirectory", tmp_path
    )
    assert rc == 0, err
    assert (tmp_path / "a" / "meta.json").read_text() == (tmp_path / "meta.json").read_text()


# --------------------------------------------------------------------------- LABELMAP slices without a frame
@pytest.fixture(scope="module")
def sparse(tmp_path_factory, files):
    """LABELMAP SEGs of 5 slices whose middle one has no frame: Pixel Padding Value 5, none, and 0."""
    from labelmap.cli import main

    root = tmp_path_factory.mktemp("sparse")
    arr = np.zeros(SHAPE, np.uint8)
    arr[[0, 1, 3, 4], 2:6, 2:6] = 1
    image = root / "s.nrrd"
    write_image(image, arr, files["geometry"])
    meta = root / "s.json"
    meta.write_text(json.dumps(sample_metadata([1])))
    base = root / "base.dcm"
    assert main(["itk2seg", str(image), "-d", str(files["ct"]), "-m", str(meta), "-o", str(base), "-q"]) == 0
    out = {}
    for name, padding in (("ppv5", 5), ("noppv", None), ("ppv0", 0)):
        ds = pydicom.dcmread(base)
        assert int(ds.NumberOfFrames) == 4 and int(ds.PixelPaddingValue) == 0
        if padding is None:
            del ds.PixelPaddingValue
        else:
            ds.PixelPaddingValue = padding
        out[name] = root / f"{name}.dcm"
        ds.save_as(out[name])
    return dict(segs=out, array=arr)


@pytest.mark.parametrize("name, fill", [("ppv5", 5), ("noppv", 0), ("ppv0", 0)])
def test_missing_slices_read_as_the_pixel_padding_value(files, sparse, tmp_path, capsys, name, fill):
    """Both readers: encoded slices unchanged, the slice without a frame filled with the Pixel Padding Value
    (0 without one); on the CT grid (--reference) the same; dcmqi gives the same image."""
    expected = sparse["array"].copy()
    expected[2] = fill
    seg = sparse["segs"][name]
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", tmp_path)
    assert rc == 0, err
    assert f"filled with {'the Pixel Padding Value 5' if fill else 'background (0)'}" in err
    ours, _ = read_image(tmp_path / "1.nrrd")
    np.testing.assert_array_equal(ours, expected)
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", tmp_path / "native", "-r", files["ct"])
    assert rc == 0, err
    native, _ = read_image(tmp_path / "native" / "1.nrrd")
    np.testing.assert_array_equal(native, expected)
    if HAVE_DCMQI:
        theirs = tmp_path / "dcmqi"
        theirs.mkdir()
        proc = dcmqi("segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", theirs)
        assert proc.returncode == 0, proc.stderr
        array, _ = read_image(theirs / "1.nrrd")
        np.testing.assert_array_equal(array, expected)


@needs_dcmqi
@pytest.mark.parametrize("name", ["ppv5", "noppv", "ppv0"])
def test_meta_json_segment_zero_without_padding_value(sparse, tmp_path, capsys, name):
    """Only the Pixel Padding Value designates the background (dcmqi's rule): a segment 0 typed Background
    that it does not designate is a regular segment, listed as labelID 0 in meta.json like dcmqi lists it."""
    seg = sparse["segs"][name]
    theirs, ours = tmp_path / "dcmqi", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    proc = dcmqi("segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", theirs)
    assert proc.returncode == 0, proc.stderr
    rc, _, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", ours)
    assert rc == 0, err
    expected = json.loads((theirs / "meta.json").read_text())
    actual = json.loads((ours / "meta.json").read_text())
    assert _shape(actual) == _shape(expected)
    # dcmqi's CIELab -> sRGB divides 16 / 116 in integers, so it reports black (the Background's
    # CIELab 0, 0, 0) as [35, 36, 37]; we keep the exact [0, 0, 0] and compare everything else
    for meta in (expected, actual):
        for segment in meta["segmentAttributes"][0]:
            if segment["labelID"] == 0:
                segment.pop("recommendedDisplayRGBValue")
    assert actual == expected
    ids = [s["labelID"] for s in actual["segmentAttributes"][0]]
    assert ids == ([1] if name == "ppv0" else [0, 1])
    assert ("segment 0 (typed Background) is a real segment" in err) == (name != "ppv0")


# --------------------------------------------------------------------------- output folders
def test_seg2itk_creates_the_output_folder(sparse, tmp_path, capsys):
    """Native seg2itk creates -o DIR and its parents; not when the SEG cannot be read."""
    target = tmp_path / "a" / "b" / "out"
    rc, _, err = run_cli(capsys, "seg2itk", sparse["segs"]["ppv0"], "-o", target)
    assert rc == 0, err
    assert listing(target) == {"1.nrrd", "meta.json"}
    bad = tmp_path / "not-a-seg.dcm"
    bad.write_bytes(b"not DICOM at all")
    rc, _, err = run_cli(capsys, "seg2itk", bad, "-o", tmp_path / "c" / "out")
    assert rc == 1 and err.startswith("error: ")
    assert not (tmp_path / "c").exists()


def test_segimage2itkimage_keeps_dcmqis_rule(sparse, tmp_path, capsys):
    """dcmqi's segimage2itkimage fails when the output folder does not exist; so does ours, in one line."""
    missing = tmp_path / "missing"
    rc, _, err = run_cli(
        capsys, "segimage2itkimage", "--inputDICOM", sparse["segs"]["ppv0"], "--outputDirectory", missing
    )
    assert rc == 1
    assert err.strip() == f"error: output folder {str(missing)!r} does not exist; create it first"
    assert not missing.exists()
    if HAVE_DCMQI:
        proc = dcmqi("segimage2itkimage", "--inputDICOM", sparse["segs"]["ppv0"], "--outputDirectory", missing)
        assert proc.returncode != 0 and not missing.exists()


# --------------------------------------------------------------------------- character set
def test_empty_specific_character_set_is_not_copied(files, gapped, tmp_path, capsys):
    """A source with an empty Specific Character Set (dcmqi's test CT has one): the SEG has none, as dcmqi's
    (Type 1C: present means a value)."""
    ct = tmp_path / "ct"
    shutil.copytree(files["ct"], ct)
    for path in ct.iterdir():
        ds = pydicom.dcmread(path)
        ds.SpecificCharacterSet = ""
        ds.save_as(path)
    out = tmp_path / "seg.dcm"
    rc, _, err = run_cli(capsys, "itk2seg", gapped["image"], "-d", ct, "-m", gapped["meta"], "-o", out)
    assert rc == 0, err
    assert "SpecificCharacterSet" not in pydicom.dcmread(out)
