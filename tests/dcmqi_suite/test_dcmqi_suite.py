"""dcmqi's ``apps/seg/Testing/CMakeLists.txt``, test by test, through ``labelmap-convert``'s
dcmqi-compatible commands (itkimage2segimage, segimage2itkimage, bin2labelsegimage).

Each test keeps its CMake name.  What is checked is what CTest checks: the exit status (WILL_FAIL
tests must fail, here with one ``error:`` line), the ``--compare`` image pairs (size, geometry and
voxels, as ITK's regression test), ``comparejson.py``'s JSON comparison and ``dciodvfy``.  The one
C++ API test (the metadata handler overload) becomes its Python API counterpart: a metadata path and
the same metadata as a dict give the same SEG.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from dcmqi_suite._compare import image_differences, json_file_differences
from dcmqi_suite.conftest import Run, Suite

pytestmark = pytest.mark.interop

ITK2DCM, DCM2ITK, BIN2LABEL = "itkimage2segimage", "segimage2itkimage", "bin2labelsegimage"
SIZES = ("24x38x3", "23x38x3")
LABELMAP_VARIANTS = {"mono8": [], "palette8": ["--usePalette"], "mono16": ["--force16Bit"]}
LABELMAP_VARIANTS["palette16"] = ["--usePalette", "--force16Bit"]


# --------------------------------------------------------------------------- producers (itkimage2segimage)
def _itk2dcm(json_name: str, images: list[str], output: str, *extra: str, dicom_dir: bool = False):
    """A producer writing ``output`` in MODULE_TEMP_DIR from dcmqi's example JSON and baseline images."""

    def argv(s: Suite) -> list[object]:
        source = ["--inputDICOMDirectory", s.dicom_dir] if dicom_dir else ["--inputDICOMList", s.dicom_list()]
        return [
            ITK2DCM,
            "--inputMetadata",
            s.examples / json_name,
            "--inputImageList",
            ",".join(str(s.baseline / i) for i in images),
            *source,
            "--outputDICOM",
            s.temp / output,
            *extra,
        ]

    return argv


_MULTI = ["liver_seg.nrrd", "spine_seg.nrrd", "heart_seg.nrrd"]
_PARTIAL = [f"partial_overlaps-{i}.nrrd" for i in (1, 2, 3)]
PRODUCERS: dict[str, Callable[[Suite], list[object]]] = {
    f"{ITK2DCM}_makeSEG": _itk2dcm("seg-example.json", ["liver_seg.nrrd"], "liver.dcm", dicom_dir=True),
    f"{ITK2DCM}_makeSEG_labelmap": _itk2dcm(
        "seg-example.json",
        ["liver_seg.nrrd"],
        "liver-labelmap-direct.dcm",
        "--segmentationType",
        "labelmap",
        dicom_dir=True,
    ),
    f"{ITK2DCM}_makeSEG_labelmap_multi": _itk2dcm(
        "seg-example_liver_spine.json",
        ["liver_seg.nrrd", "spine_seg.nrrd"],
        "liver_spine-labelmap.dcm",
        "--segmentationType",
        "labelmap",
    ),
    f"{ITK2DCM}_makeSEG_labelmap_multi_labelID": _itk2dcm(
        "seg-example_liver_spine.json",
        ["liver_seg.nrrd", "spine_seg.nrrd"],
        "liver_spine-labelmap-labelID.dcm",
        "--segmentationType",
        "labelmap",
        "--useLabelIDAsSegmentNumber",
    ),
    f"{ITK2DCM}_makeSEG_labelmap_gapped_labelID": _itk2dcm(
        "seg-example_liver_spine_gapped.json",
        ["liver_seg.nrrd", "spine_seg_label5.nrrd"],
        "liver_spine-labelmap-gapped.dcm",
        "--segmentationType",
        "labelmap",
        "--useLabelIDAsSegmentNumber",
    ),
    f"{ITK2DCM}_makeSEG_merged_segment_files_from_partial_overlap": _itk2dcm(
        "seg-example_partial_overlaps.json", _PARTIAL, "partial_overlaps.dcm", "--useLabelIDAsSegmentNumber"
    ),
    f"{ITK2DCM}_makeSEG_multiple_segment_files": _itk2dcm(
        "seg-example_multiple_segments.json", _MULTI, "liver_heart_seg.dcm"
    ),
    f"{ITK2DCM}_makeSEG_multiple_segment_files_reordered": _itk2dcm(
        "seg-example_multiple_segments_reordered.json",
        ["heart_seg.nrrd", "liver_seg.nrrd", "spine_seg.nrrd"],
        "liver_heart_seg_reordered.dcm",
    ),
    f"{ITK2DCM}_makeSEG_deflate": _itk2dcm(
        "seg-example.json", ["liver_seg.nrrd"], "liver-deflate.dcm", "--compress", "deflate", dicom_dir=True
    ),
}
for _size in SIZES:
    PRODUCERS[f"{ITK2DCM}_makeSEG_{_size}"] = lambda s, size=_size: [
        ITK2DCM,
        "--inputMetadata",
        s.examples / "seg-example.json",
        "--inputImageList",
        s.baseline / size / "nrrd" / "label.nrrd",
        "--inputDICOMDirectory",
        s.baseline / size / "image",
        "--outputDICOM",
        s.temp / f"{size}_seg.dcm",
        "--skip",
        "0",
    ]
for _variant, _flags in LABELMAP_VARIANTS.items():
    PRODUCERS[f"liver_to_labelmap_{_variant}"] = lambda s, v=_variant, f=_flags: [
        BIN2LABEL,
        "--inputDICOM",
        produced(s, f"{ITK2DCM}_makeSEG", "liver.dcm"),
        "--outputDICOM",
        s.temp / f"liver-labelmap-{v}.dcm",
        "--compress",
        "none",
        *f,
    ]


def produced(s: Suite, name: str, output: str) -> Path:
    """Run producer ``name`` (once per session) and return its output ``output``; fail when it failed."""
    run = s.once(name, *PRODUCERS[name](s))
    if run.code != 0:
        pytest.fail(f"the test this one depends on, {name}, failed:\n{run.describe()}")
    return s.temp / output


def assert_one_line_error(s: Suite, run: Run) -> None:
    """A WILL_FAIL test: exit 1 with one ``error:`` line, no traceback (dcmqi: any failure)."""
    if s.backend == "dcmqi":
        assert run.code != 0, run.describe()
        return
    assert run.code == 1, run.describe()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.describe()


# --------------------------------------------------------------------------- itkimage2segimage
@pytest.mark.parametrize("command", [ITK2DCM, DCM2ITK])
def test_hello(suite, command):
    """``<command>_hello``: ``--help`` works."""
    run = suite.run(command, "--help")
    assert run.code == 0 and "--input" in run.stdout, run.describe()


@pytest.mark.parametrize("name", sorted(n for n in PRODUCERS if n.startswith(ITK2DCM)))
def test_itkimage2segimage(suite, name):
    """Each ``itkimage2segimage_makeSEG*`` test: the conversion succeeds."""
    run = suite.once(name, *PRODUCERS[name](suite))
    assert run.code == 0, run.describe()


def test_itkimage2segimage_makeSEG_labelmap_overlap(suite):
    """WILL_FAIL: liver and heart overlap, so a LABELMAP cannot hold them."""
    run = suite.run(
        *_itk2dcm(
            "seg-example_multiple_segments.json",
            _MULTI,
            "liver_spine_heart-labelmap.dcm",
            "--segmentationType",
            "labelmap",
        )(suite)
    )
    assert_one_line_error(suite, run)
    assert not (suite.temp / "liver_spine_heart-labelmap.dcm").exists()


def test_itkimage2segimage_handlerOverloadEquivalence(suite, tmp_path):
    """The C++ handler-overload test, as the Python API has it: the metadata as a path or as a parsed dict
    give the same SEG (UIDs and creation times aside)."""
    import pydicom

    from labelmap.pipeline.convert import itk_to_seg
    from labelmap.pipeline.options import WriteOptions

    meta = suite.examples / "seg-example.json"
    dicom = [suite.dicom_dir / f"0{i}.dcm" for i in (1, 2, 3)]
    options = WriteOptions(seg_type="binary", numbering="sequential")
    outputs = []
    for name, md in (("path.dcm", meta), ("dict.dcm", json.loads(meta.read_text()))):
        itk_to_seg([suite.baseline / "liver_seg.nrrd"], dicom, md, tmp_path / name, options=options)
        outputs.append(pydicom.dcmread(tmp_path / name))

    def stable(ds) -> list:
        return [
            (el.tag, [stable(item) for item in el.value] if el.VR == "SQ" else el.value)
            for el in ds
            if el.VR not in ("UI", "DA", "TM", "DT")
        ]

    assert stable(outputs[0]) == stable(outputs[1])


_DCIODVFY = {
    f"{ITK2DCM}_makeSEG_dciodvfy": (f"{ITK2DCM}_makeSEG", "liver.dcm"),
    f"{ITK2DCM}_makeSEG_multiple_segment_files_dciodvfy": (
        f"{ITK2DCM}_makeSEG_multiple_segment_files",
        "liver_heart_seg.dcm",
    ),
    f"{ITK2DCM}_makeSEG_multiple_segment_files_reordered_dciodvfy": (
        f"{ITK2DCM}_makeSEG_multiple_segment_files_reordered",
        "liver_heart_seg_reordered.dcm",
    ),
}


@pytest.mark.parametrize("name", sorted(_DCIODVFY))
def test_dciodvfy(suite, name):
    """``*_dciodvfy``: dciodvfy accepts the SEG (exit 0), as in CTest; skipped without dciodvfy, as in CMake."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy executable not found")
    seg = produced(suite, *_DCIODVFY[name])
    proc = subprocess.run([exe, str(seg)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- segimage2itkimage
#: test name -> (producer, its output, prefix, extra flags, [(baseline, output file name)])
_READS: dict[str, tuple[str, str, str, list[str], list[tuple[str, str]]]] = {
    f"{DCM2ITK}_makeNRRD": (f"{ITK2DCM}_makeSEG", "liver.dcm", "makeNRRD", [], [("liver_seg.nrrd", "1")]),
    f"{DCM2ITK}_makeNRRD_deflate": (
        f"{ITK2DCM}_makeSEG_deflate",
        "liver-deflate.dcm",
        "makeNRRD_deflate",
        [],
        [("liver_seg.nrrd", "1")],
    ),
    f"{DCM2ITK}_makeNRRD_from_labelmap_direct": (
        f"{ITK2DCM}_makeSEG_labelmap",
        "liver-labelmap-direct.dcm",
        "makeNRRD_labelmap_direct",
        [],
        [("liver_seg.nrrd", "1")],
    ),
    f"{DCM2ITK}_makeNRRD_from_labelmap_multi": (
        f"{ITK2DCM}_makeSEG_labelmap_multi",
        "liver_spine-labelmap.dcm",
        "makeNRRD_labelmap_multi",
        [],
        [("liver_spine_seg.nrrd", "1")],
    ),
    f"{DCM2ITK}_makeNRRD_from_labelmap_gapped": (
        f"{ITK2DCM}_makeSEG_labelmap_gapped_labelID",
        "liver_spine-labelmap-gapped.dcm",
        "makeNRRD_labelmap_gapped",
        [],
        [("liver_spine_gapped_seg.nrrd", "1")],
    ),
    f"{DCM2ITK}_makeNRRD_multiple_segment_files": (
        f"{ITK2DCM}_makeSEG_multiple_segment_files",
        "liver_heart_seg.dcm",
        "makeNRRD_multiple_segments",
        [],
        [("liver_seg.nrrd", "1"), ("spine_seg.nrrd", "2"), ("heart_seg.nrrd", "3")],
    ),
    f"{DCM2ITK}_makeNRRD_multiple_segment_files_reordered": (
        f"{ITK2DCM}_makeSEG_multiple_segment_files_reordered",
        "liver_heart_seg_reordered.dcm",
        "makeNRRD_multiple_segments_reordered",
        [],
        [("liver_seg.nrrd", "1"), ("spine_seg.nrrd", "2"), ("heart_seg.nrrd", "3")],
    ),
    f"{DCM2ITK}_makeNRRD_merged_segment_file": (
        f"{ITK2DCM}_makeSEG_multiple_segment_files",
        "liver_heart_seg.dcm",
        "makeNRRD_merged_segment_file",
        ["--mergeSegments"],
        [("liver_spine_seg.nrrd", "1"), ("heart_seg.nrrd", "2")],
    ),
    f"{DCM2ITK}_makeNRRD_merged_segment_files_from_partial_overlaps": (
        f"{ITK2DCM}_makeSEG_merged_segment_files_from_partial_overlap",
        "partial_overlaps.dcm",
        "makeNRRD_merged_segment_files_from_partial_overlaps",
        ["--mergeSegments"],
        [("partial_overlaps-1.nrrd", "1"), ("partial_overlaps-2.nrrd", "2")],
    ),
}
for _size in SIZES:
    _READS[f"{DCM2ITK}_makeNRRD_{_size}"] = (
        f"{ITK2DCM}_makeSEG_{_size}",
        f"{_size}_seg.dcm",
        _size,
        [],
        [(f"{_size}/nrrd/label.nrrd", "1")],
    )
for _variant in LABELMAP_VARIANTS:
    _READS[f"{DCM2ITK}_labelmap_{_variant}"] = (
        f"liver_to_labelmap_{_variant}",
        f"liver-labelmap-{_variant}.dcm",
        f"labelmap_{_variant}",
        [],
        [("liver_seg.nrrd", "1")],
    )
_READS[f"{DCM2ITK}_sparse_labelmap_ppv_fill"] = ("", "sparse-labelmap-ppv5.dcm", "sparse_ppv5", [], [])
_READS[f"{DCM2ITK}_sparse_labelmap_noppv_segment0"] = ("", "sparse-labelmap-noppv.dcm", "sparse_noppv", [], [])
_SPARSE_BASELINES = {"sparse_ppv5": "sparse_labelmap_ppv5_seg.nrrd", "sparse_noppv": "sparse_labelmap_noppv_seg.nrrd"}


def read_back(s: Suite, name: str) -> Run:
    """Run segimage2itkimage test ``name`` (once per session)."""
    producer, seg, prefix, extra, _ = _READS[name]
    path = produced(s, producer, seg) if producer else s.baseline / seg
    return s.once(name, DCM2ITK, "--inputDICOM", path, "--outputDirectory", s.temp, "--prefix", prefix, *extra)


def _pairs(name: str) -> list[tuple[str, str]]:
    _, _, prefix, _, pairs = _READS[name]
    if prefix in _SPARSE_BASELINES:
        return [(_SPARSE_BASELINES[prefix], f"{prefix}-1.nrrd")]
    return [(baseline, f"{prefix}-{k}.nrrd") for baseline, k in pairs]


@pytest.mark.parametrize("name", sorted(_READS))
def test_segimage2itkimage(suite, name):
    """Each ``segimage2itkimage_*`` test: the conversion succeeds and every ``--compare`` pair is equal."""
    run = read_back(suite, name)
    assert run.code == 0, run.describe()
    problems = {
        f"{out} vs {base}": diff
        for base, out in _pairs(name)
        if (diff := image_differences(suite.baseline / base, suite.temp / out))
    }
    assert not problems, problems


#: test name -> (segimage2itkimage test, expected JSON in doc/examples, meta.json name, ignored keys)
_JSON: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    f"{DCM2ITK}_makeNRRD_merged_segment_file_JSON": (
        f"{DCM2ITK}_makeNRRD_merged_segment_file",
        "seg-example_multiple_segments_merged.json",
        "makeNRRD_merged_segment_file-meta.json",
        (),
    ),
    f"{DCM2ITK}_makeNRRD_merged_segment_files_from_partial_overlaps_JSON": (
        f"{DCM2ITK}_makeNRRD_merged_segment_files_from_partial_overlaps",
        "seg-example_partial_overlaps.json",
        "makeNRRD_merged_segment_files_from_partial_overlaps-meta.json",
        (),
    ),
    "seg_meta_roundtrip": (f"{DCM2ITK}_makeNRRD", "seg-example.json", "makeNRRD-meta.json", ()),
    "labelmap_meta_roundtrip": (
        f"{DCM2ITK}_makeNRRD_from_labelmap_direct",
        "seg-example.json",
        "makeNRRD_labelmap_direct-meta.json",
        (),
    ),
    "labelmap_gapped_meta_roundtrip": (
        f"{DCM2ITK}_makeNRRD_from_labelmap_gapped",
        "seg-example_liver_spine_gapped_merged.json",
        "makeNRRD_labelmap_gapped-meta.json",
        (),
    ),
    "multi_seg_meta_roundtrip": (
        f"{DCM2ITK}_makeNRRD_multiple_segment_files",
        "seg-example_multiple_segments.json",
        "makeNRRD_multiple_segments-meta.json",
        ("labelID",),
    ),
}


@pytest.mark.parametrize("name", sorted(_JSON))
def test_meta_json(suite, name):
    """The ``comparejson.py`` tests: the meta.json written holds every key and value of dcmqi's example."""
    reader, expected, actual, ignored = _JSON[name]
    run = read_back(suite, reader)
    assert run.code == 0, run.describe()
    problems = json_file_differences(suite.examples / expected, suite.temp / actual, ignored)
    assert not problems, problems


# --------------------------------------------------------------------------- bin2labelsegimage
def _bin2label(s: Suite, seg: Path, output: str) -> Run:
    return s.run(BIN2LABEL, "--inputDICOM", seg, "--outputDICOM", s.temp / output)


@pytest.mark.parametrize("size", SIZES)
def test_seg_phantom_to_labelmap(suite, size):
    """``seg_phantom_<size>_to_labelmap``: dcmqi's phantom BINARY SEGs re-encode as LABELMAP."""
    run = _bin2label(suite, suite.baseline / size / "seg" / "label.seg", f"{size}-labelmap.seg")
    assert run.code == 0, run.describe()


def test_liver_to_labelmap(suite):
    """``liver_to_labelmap``: dcmqi's liver.dcm re-encodes as LABELMAP."""
    run = _bin2label(suite, suite.baseline / "liver.dcm", "liver-labelmap.dcm")
    assert run.code == 0, run.describe()


@pytest.mark.parametrize("variant", sorted(LABELMAP_VARIANTS))
def test_liver_to_labelmap_variant(suite, variant):
    """``liver_to_labelmap_{mono8,palette8,mono16,palette16}``."""
    run = suite.once(f"liver_to_labelmap_{variant}", *PRODUCERS[f"liver_to_labelmap_{variant}"](suite))
    assert run.code == 0, run.describe()


def test_partial_overlaps_to_labelmap(suite):
    """WILL_FAIL: partial_overlaps.dcm has overlapping segments, which a LABELMAP cannot hold."""
    run = _bin2label(suite, suite.baseline / "partial_overlaps.dcm", "partial_overlaps-labelmap.dcm")
    assert_one_line_error(suite, run)
    assert not (suite.temp / "partial_overlaps-labelmap.dcm").exists()
