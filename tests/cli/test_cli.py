"""The ``labelmap-convert`` command line: native commands, dcmqi-compatible commands, errors, help, import cost.

Most tests run the app in-process through :func:`labelmap.cli.main` (what the console
script calls); a few run it as a real subprocess to prove exit codes and stderr.
The dcmqi comparison runs the real dcmqi 1.5.7 ``segimage2itkimage`` when it is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from labelmap.cli import main
from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.formats.images import read_image, write_image
from labelmap.model import Geometry

from _cli import listing, run_cli
from _geometries import axial_geometry, make_ct_series

BIN = Path(sys.executable).parent
LABELMAP_CONVERT = BIN / "labelmap-convert"
DCMQI_SEG2ITK = shutil.which("segimage2itkimage", path=str(BIN)) or shutil.which("segimage2itkimage")
LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"
DEFLATED = "1.2.840.10008.1.2.1.99"

SHAPE = (6, 24, 20)  # [k, j, i]
LABEL_VALUES = [1, 2, 4, 9]  # organ_phantom(..., 4, max_label=9): gapped values


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A small CT series, a gapped label map (first/last slice empty) and its dcmqi JSON."""
    root = tmp_path_factory.mktemp("cli")
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(root, geometry, name="ct")
    labels = organ_phantom(geometry, 4, seed=1, max_label=9)
    assert sorted(int(v) for v in np.unique(labels) if v) == LABEL_VALUES
    assert not labels[0].any() and not labels[-1].any()
    lab = root / "lab.nrrd"
    write_image(lab, labels, geometry)
    meta = root / "m.json"
    meta.write_text(json.dumps(sample_metadata(LABEL_VALUES), indent=2))
    seg = root / "base.seg.dcm"
    assert main(["itk2seg", str(lab), "-d", str(ct), "-m", str(meta), "-o", str(seg), "-q"]) == 0
    return {"root": root, "geometry": geometry, "ct": ct, "labels": labels, "lab": lab, "meta": meta, "seg": seg}


# --------------------------------------------------------------------------- 1. native round trip
@pytest.mark.parametrize("fmt, ext", [("nrrd", ".nrrd"), ("nifti", ".nii.gz")])
def test_itk2seg_seg2itk_round_trip_full_grid(case, tmp_path, capsys, fmt, ext):
    out = tmp_path / "out"
    out.mkdir()
    rc, stdout, err = run_cli(
        capsys, "seg2itk", case["seg"], "-o", out, "-f", fmt, "--prefix", "pre", "--reference", case["ct"]
    )
    assert rc == 0, err
    assert sorted(os.listdir(out)) == sorted([f"pre-1{ext}", "pre-meta.json"])
    assert f"pre-1{ext}" in stdout and "pre-meta.json" in stdout
    array, geometry = read_image(out / f"pre-1{ext}")
    assert array.shape == SHAPE
    assert np.array_equal(array, case["labels"])  # label numbering: Segment Number = label value
    assert geometry.max_deviation(case["geometry"]) <= 1e-4
    meta = json.loads((out / "pre-meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == LABEL_VALUES


def test_seg2itk_without_reference_spans_frames_only(case, tmp_path, capsys):
    rc, stdout, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path)) == ["1.nrrd", "meta.json"]  # dcmqi names without prefix
    array, geometry = read_image(tmp_path / "1.nrrd")
    assert array.shape == (SHAPE[0] - 2,) + SHAPE[1:]  # empty first and last slice were skipped
    assert np.array_equal(array, case["labels"][1:-1])


def test_itk2seg_options_palette_keep_empty_renumber_deflate(case, tmp_path, capsys):
    seg = tmp_path / "opt.dcm"
    rc, stdout, err = run_cli(
        capsys,
        "itk2seg",
        case["lab"],
        "--dicom",
        case["ct"],
        "--metadata",
        case["meta"],
        "--output",
        seg,
        "--palette",
        "--keep-empty-slices",
        "--renumber",
        "--compression",
        "deflate",
    )
    assert rc == 0, err
    assert "wrote" in stdout and str(seg) in stdout and "LABELMAP" in stdout
    ds = pydicom.dcmread(seg)
    assert ds.SOPClassUID == LABELMAP_SOP_CLASS
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    assert int(ds.NumberOfFrames) == SHAPE[0]  # a frame for every slice, empty ones included
    assert str(ds.file_meta.TransferSyntaxUID) == DEFLATED
    numbers = sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber) != 0)
    assert numbers == [1, 2, 3, 4]

    out = tmp_path / "back"
    out.mkdir()
    rc, _, err = run_cli(capsys, "seg2itk", seg, "-o", out)
    assert rc == 0, err
    array, geometry = read_image(out / "1.nrrd")
    assert array.shape == SHAPE  # all slices have frames: full grid without --reference
    expected = np.zeros_like(case["labels"])
    for n, v in enumerate(LABEL_VALUES, start=1):
        expected[case["labels"] == v] = n
    assert np.array_equal(array, expected)
    meta = json.loads((out / "meta.json").read_text())
    assert [s["labelID"] for s in meta["segmentAttributes"][0]] == [1, 2, 3, 4]
    assert [s["SegmentLabel"] for s in meta["segmentAttributes"][0]] == [
        s["SegmentLabel"] for s in sample_metadata(LABEL_VALUES)["segmentAttributes"][0]
    ]


def test_quiet_prints_nothing_on_stdout(case, tmp_path, capsys):
    rc, stdout, err = run_cli(
        capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", tmp_path / "q.dcm", "--quiet"
    )
    assert rc == 0 and stdout == "" and err == ""
    out = tmp_path / "o"
    out.mkdir()
    rc, stdout, err = run_cli(capsys, "seg2itk", tmp_path / "q.dcm", "-o", out, "-r", case["ct"], "-q")
    assert rc == 0 and stdout == "" and err == ""  # the "filled with background" warning is silenced too
    assert (out / "1.nrrd").exists()


# --------------------------------------------------------------------------- 2. dcmqi-compatible commands
def _dcmqi_write(case, output, *extra, dicom=None):
    dicom = dicom if dicom is not None else ["--inputDICOMDirectory", case["ct"]]
    return [
        "itkimage2segimage",
        "--inputImageList",
        case["lab"],
        *dicom,
        "--inputMetadata",
        case["meta"],
        "--outputDICOM",
        output,
        "--segmentationType",
        "labelmap",
        *extra,
    ]


def test_itkimage2segimage_directory_and_list(case, tmp_path, capsys):
    a = tmp_path / "a.dcm"
    rc, stdout, err = run_cli(capsys, *_dcmqi_write(case, a, "--useLabelIDAsSegmentNumber"))
    assert rc == 0, err
    files = ",".join(str(p) for p in sorted(case["ct"].glob("*.dcm")))
    b = tmp_path / "b.dcm"
    rc, _, err = run_cli(
        capsys, *_dcmqi_write(case, b, "--useLabelIDAsSegmentNumber", dicom=["--inputDICOMList", files])
    )
    assert rc == 0, err
    for path in (a, b):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == LABELMAP_SOP_CLASS and ds.SegmentationType == "LABELMAP"
        assert int(ds.NumberOfFrames) == SHAPE[0] - 2  # --skip 1 is the default
        assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber)) == LABEL_VALUES

    # dcmqi's default numbering is 1..N; --skip 0 keeps empty slices; --compress deflate
    c = tmp_path / "c.dcm"
    rc, _, err = run_cli(capsys, *_dcmqi_write(case, c, "--skip", "0", "--compress", "deflate"))
    assert rc == 0, err
    ds = pydicom.dcmread(c)
    assert int(ds.NumberOfFrames) == SHAPE[0]
    assert str(ds.file_meta.TransferSyntaxUID) == DEFLATED
    assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber)) == [1, 2, 3, 4]


def test_itkimage2segimage_default_is_binary(case, tmp_path, capsys):
    """Without --segmentationType dcmqi writes BINARY; so do we, numbered 1..N."""
    args = _dcmqi_write(case, tmp_path / "x.dcm")
    i = args.index("--segmentationType")
    del args[i : i + 2]
    rc, stdout, err = run_cli(capsys, *args)
    assert rc == 0, err
    ds = pydicom.dcmread(tmp_path / "x.dcm")
    assert ds.SegmentationType == "BINARY"
    assert str(ds.SOPClassUID) == "1.2.840.10008.5.1.4.1.1.66.4"
    assert sorted(int(s.SegmentNumber) for s in ds.SegmentSequence) == [1, 2, 3, 4]


# Keys our meta.json may hold beyond dcmqi's (top level / per segment).  Nothing else may differ.
ALLOWED_EXTRA_TOP_LEVEL = {"@schema", "ContentLabel"}  # we name the schema and echo the SEG's Content Label
ALLOWED_EXTRA_SEGMENT_KEYS: set[str] = set()


@pytest.mark.skipif(DCMQI_SEG2ITK is None, reason="dcmqi segimage2itkimage not installed")
@pytest.mark.parametrize(
    "write_extra, read_extra, ext",
    [
        (["--useLabelIDAsSegmentNumber"], [], ".nrrd"),
        (["--useLabelIDAsSegmentNumber", "--skip", "0"], ["-p", "pre", "-t", "nifti"], ".nii.gz"),
        ([], ["--prefix", "x"], ".nrrd"),
        (["--compress", "deflate"], ["-t", "nii"], ".nii.gz"),
    ],
)
def test_segimage2itkimage_matches_dcmqi(case, tmp_path, capsys, write_extra, read_extra, ext):
    seg = tmp_path / "out.dcm"
    rc, _, err = run_cli(capsys, *_dcmqi_write(case, seg, *write_extra))
    assert rc == 0, err
    ours, theirs = tmp_path / "ours", tmp_path / "dcmqi"
    ours.mkdir()
    theirs.mkdir()
    rc, stdout, err = run_cli(capsys, "segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", ours, *read_extra)
    assert rc == 0, err
    proc = subprocess.run(
        [DCMQI_SEG2ITK, "--inputDICOM", str(seg), "--outputDirectory", str(theirs), *read_extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    names = sorted(os.listdir(ours))
    assert names == sorted(os.listdir(theirs))
    images = [n for n in names if n.endswith(ext)]
    assert len(images) == 1 and images[0].endswith("1" + ext)

    a, ga = read_image(ours / images[0])
    b, gb = read_image(theirs / images[0])
    assert a.shape == b.shape
    assert np.array_equal(a, b)
    assert ga.max_deviation(gb) <= 1e-4
    assert np.allclose(ga.origin, gb.origin, atol=1e-4) and np.allclose(ga.spacing, gb.spacing, atol=1e-4)
    assert np.allclose(ga.direction, gb.direction, atol=1e-6)

    meta_name = next(n for n in names if n.endswith("meta.json"))
    mo = json.loads((ours / meta_name).read_text())
    mt = json.loads((theirs / meta_name).read_text())
    assert set(mt) <= set(mo) and set(mo) - set(mt) <= ALLOWED_EXTRA_TOP_LEVEL
    for key in set(mt) - {"segmentAttributes"}:
        assert mo[key] == mt[key], key
    so, st = mo["segmentAttributes"], mt["segmentAttributes"]
    assert len(so) == len(st) == 1 and len(so[0]) == len(st[0])
    for ours_seg, their_seg in zip(so[0], st[0]):
        assert set(their_seg) <= set(ours_seg)
        assert set(ours_seg) - set(their_seg) <= ALLOWED_EXTRA_SEGMENT_KEYS
        for key in (
            "labelID",
            "SegmentLabel",
            "SegmentedPropertyCategoryCodeSequence",
            "SegmentedPropertyTypeCodeSequence",
            "recommendedDisplayRGBValue",
        ):
            assert ours_seg[key] == their_seg[key], key
        assert {k: ours_seg[k] for k in their_seg} == their_seg


# --------------------------------------------------------------------------- 3. info
def test_info_summary(case, capsys):
    rc, stdout, err = run_cli(capsys, "info", case["seg"])
    assert rc == 0, err
    assert LABELMAP_SOP_CLASS in stdout
    assert "LABELMAP" in stdout
    assert re.search(rf"Frames\s+{SHAPE[0] - 2}\b", stdout)
    labels = case["labels"]
    for value in LABEL_VALUES:
        # a table row starts with the Segment Number and ends with the voxel count
        rows = [line for line in stdout.splitlines() if re.match(rf"^\W*{value}\W", line)]
        assert rows, f"no row for segment {value}:\n{stdout}"
        cells = [c.strip() for c in re.split(r"[│|]", rows[0]) if c.strip()]
        assert int(cells[-1].replace(",", "")) == int((labels == value).sum())
    assert "Liver" in stdout and "10200004" in stdout


def test_info_odd_names_are_printed_verbatim(case, tmp_path, capsys):
    """Rich markup in file names / segment labels is shown as text; header lines are not hard-wrapped."""
    meta = json.loads(case["meta"].read_text())
    meta["segmentAttributes"][0][0]["SegmentLabel"] = "Les [b]"
    md = _write(tmp_path / "odd.json", json.dumps(meta))
    seg = tmp_path / "seg[bold].dcm"
    rc, _, err = run_cli(capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", md, "-o", seg, "-q")
    assert rc == 0, err
    rc, stdout, err = run_cli(capsys, "info", seg)
    assert rc == 0, err
    assert "seg[bold].dcm" in stdout
    assert "Les [b]" in stdout
    sop = [line for line in stdout.splitlines() if "SOP Class" in line]
    assert len(sop) == 1 and sop[0].rstrip().endswith("(Label Map Segmentation Storage)")


# --------------------------------------------------------------------------- 4. demo
def test_demo_small(tmp_path, capsys):
    out = tmp_path / "demo"
    rc, stdout, err = run_cli(capsys, "demo", "--output-dir", out, "--size", 64, "--slices", 20, "--organs", 8)
    assert rc == 0, err
    assert "identical" in stdout and "DIFFER" not in stdout
    assert (out / "labels.nrrd").exists() and (out / "labels-deflate.seg.dcm").exists()


# --------------------------------------------------------------------------- 5. user errors
def _variant(case, tmp_path, kind: str) -> Path:
    """A broken label image next to the test's output folder."""
    array, geometry = case["labels"], case["geometry"]
    path = tmp_path / "inputs" / f"{kind}.nrrd"
    path.parent.mkdir(exist_ok=True)
    if kind == "shift":
        write_image(
            path,
            array,
            Geometry(geometry.origin + np.array([0.0, 0.0, 1.0]), geometry.direction, geometry.spacing, geometry.shape),
        )
    elif kind == "big":
        a = array.astype(np.int32)
        a[a == 9] = 70000
        write_image(path, a, geometry)
    elif kind == "negative":
        a = array.astype(np.int32)
        a[a == 9] = -3
        write_image(path, a, geometry)
    elif kind == "text":
        path.write_text("this is not an image\n")
    return path


ERROR_CASES = {
    # name: (argument builder, substrings the message must contain)
    "missing label file": (
        lambda c, t: ["itk2seg", t / "inputs" / "nope.nrrd", "-d", c["ct"], "-m", c["meta"], "-o", t / "out" / "x.dcm"],
        ["nope.nrrd"],
    ),
    "text file named .nrrd": (
        lambda c, t: ["itk2seg", _variant(c, t, "text"), "-d", c["ct"], "-m", c["meta"], "-o", t / "out" / "x.dcm"],
        ["text.nrrd"],
    ),
    "malformed JSON": (
        lambda c, t: [
            "itk2seg",
            c["lab"],
            "-d",
            c["ct"],
            "-m",
            _write(t / "inputs" / "bad.json", '{\n  "a": [1,}\n'),
            "-o",
            t / "out" / "x.dcm",
        ],
        ["bad.json", "line 2", "column"],
    ),
    "JSON lacks a label": (
        lambda c, t: ["itk2seg", c["lab"], "-d", c["ct"], "-m", _short_meta(c, t), "-o", t / "out" / "x.dcm"],
        ["lab.nrrd", "9"],
    ),
    "DICOM folder without images": (
        lambda c, t: [
            "itk2seg",
            c["lab"],
            "-d",
            _mkdir(t / "inputs" / "emptyct"),
            "-m",
            c["meta"],
            "-o",
            t / "out" / "x.dcm",
        ],
        ["emptyct"],
    ),
    "SEG input not DICOM": (
        lambda c, t: ["seg2itk", c["meta"], "-o", t / "out"],
        ["m.json", "DICOM"],
    ),
    "seg2itk output dir missing": (
        lambda c, t: ["seg2itk", c["seg"], "-o", t / "out" / "missing"],
        ["missing", "does not exist"],
    ),
    "unknown --compression": (
        lambda c, t: [
            "itk2seg",
            c["lab"],
            "-d",
            c["ct"],
            "-m",
            c["meta"],
            "-o",
            t / "out" / "x.dcm",
            "--compression",
            "lzw",
        ],
        ["--compression", "lzw"],
    ),
    "label grid shifted 1 mm": (
        lambda c, t: ["itk2seg", _variant(c, t, "shift"), "-d", c["ct"], "-m", c["meta"], "-o", t / "out" / "x.dcm"],
        ["shift.nrrd", "slice", "1.0000 mm"],
    ),
    "label 70000 in int32": (
        lambda c, t: ["itk2seg", _variant(c, t, "big"), "-d", c["ct"], "-m", c["meta"], "-o", t / "out" / "x.dcm"],
        ["big.nrrd", "70000", "65535"],
    ),
    "negative label": (
        lambda c, t: ["itk2seg", _variant(c, t, "negative"), "-d", c["ct"], "-m", c["meta"], "-o", t / "out" / "x.dcm"],
        ["negative.nrrd", "-3"],
    ),
    "--output is a folder": (
        lambda c, t: ["itk2seg", c["lab"], "-d", c["ct"], "-m", c["meta"], "-o", t / "out"],
        ["--output", "folder"],
    ),
    "--outputDICOM is a folder": (
        lambda c, t: _dcmqi_write(c, t / "out"),
        ["--outputDICOM", "folder"],
    ),
    "unknown --series-uid (multi-line message folded)": (
        lambda c, t: [
            "itk2seg",
            c["lab"],
            "-d",
            c["ct"],
            "-m",
            c["meta"],
            "-o",
            t / "out" / "x.dcm",
            "--series-uid",
            "1.2.3.4",
        ],
        ["1.2.3.4"],
    ),
    "negative --tolerance": (
        lambda c, t: ["seg2itk", c["seg"], "-o", t / "out", "--tolerance", "-1"],
        ["--tolerance"],
    ),
    "demo: organs do not fit": (
        lambda c, t: ["demo", "-o", t / "out" / "demo", "--organs", "50", "--size", "8", "--slices", "3"],
        ["--organs", "50"],
    ),
    "demo: --size 0": (
        lambda c, t: ["demo", "-o", t / "out" / "demo", "--size", "0"],
        ["--size"],
    ),
    "info on a CT image": (
        lambda c, t: ["info", sorted(c["ct"].glob("*.dcm"))[0]],
        ["CT000001.dcm", "not a Segmentation"],
    ),
    "unknown dcmqi --compress": (
        lambda c, t: _dcmqi_write(c, t / "out" / "x.dcm", "--compress", "rle"),
        ["--compress", "rle"],
    ),
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _short_meta(case, tmp_path) -> Path:
    meta = json.loads(case["meta"].read_text())
    meta["segmentAttributes"][0] = [s for s in meta["segmentAttributes"][0] if s["labelID"] != 9]
    return _write(tmp_path / "inputs" / "short.json", json.dumps(meta))


def _check_one_line_error(rc: int, stdout: str, err: str, needles) -> str:
    assert rc == 1, (stdout, err)
    assert "Traceback" not in err and "Traceback" not in stdout
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_user_errors(case, tmp_path, capsys, name):
    build, needles = ERROR_CASES[name]
    out = tmp_path / "out"
    out.mkdir()
    args = build(case, tmp_path)
    before = listing(out)
    rc, stdout, err = run_cli(capsys, *args)
    _check_one_line_error(rc, stdout, err, needles)
    assert listing(out) == before  # no output, no hidden .part temp file


def test_user_errors_as_subprocess(case, tmp_path):
    """The installed console script and ``python -m labelmap.cli``: exit 1, one line, no traceback."""
    out = tmp_path / "out"
    out.mkdir()
    shifted = _variant(case, tmp_path, "shift")
    commands = [
        [
            str(LABELMAP_CONVERT),
            "itk2seg",
            str(shifted),
            "-d",
            str(case["ct"]),
            "-m",
            str(case["meta"]),
            "-o",
            str(out / "x.dcm"),
        ],
        [sys.executable, "-m", "labelmap.cli", "seg2itk", str(case["meta"]), "-o", str(out)],
        [
            sys.executable,
            "-m",
            "labelmap.cli",
            "itk2seg",
            str(case["lab"]),
            "-d",
            str(case["ct"]),
            "-m",
            str(case["meta"]),
            "-o",
            str(out / "x.dcm"),
            "--compression",
            "lzw",
        ],
    ]
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        _check_one_line_error(proc.returncode, proc.stdout, proc.stderr, [])
        assert proc.stdout == ""
    assert listing(out) == set()


def test_success_as_subprocess(case, tmp_path):
    proc = subprocess.run(
        [
            str(LABELMAP_CONVERT),
            "itk2seg",
            str(case["lab"]),
            "-d",
            str(case["ct"]),
            "-m",
            str(case["meta"]),
            "-o",
            str(tmp_path / "s.dcm"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "wrote" in proc.stdout
    assert (tmp_path / "s.dcm").exists()


# --------------------------------------------------------------------------- 6. help and import cost
COMMANDS = ["itk2seg", "seg2itk", "info", "demo", "itkimage2segimage", "segimage2itkimage"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(capsys, command):
    args = ["--help"] if command is None else [command, "--help"]
    rc, stdout, err = run_cli(capsys, *args)
    assert rc == 0, err
    assert "Usage" in stdout
    if command is None:
        for c in COMMANDS:
            assert c in stdout


def test_no_args_shows_help_and_unknown_command_fails(capsys):
    rc, stdout, err = run_cli(capsys, "frobnicate")
    _check_one_line_error(rc, stdout, err, ["frobnicate"])


def test_help_subprocess_is_fast():
    start = time.perf_counter()
    proc = subprocess.run([str(LABELMAP_CONVERT), "--help"], capture_output=True, text=True, timeout=30)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "itk2seg" in proc.stdout
    assert elapsed < 1.0, f"--help took {elapsed:.2f} s"


def test_cli_import_is_lazy():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, labelmap.cli; print('numpy' in sys.modules, 'pydicom' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_outputs_get_normal_file_mode(tmp_path):
    """Atomic writes go through mkstemp (0600); the final file must honour the umask like open() does."""
    import os
    import stat

    from labelmap._util.atomic import atomic_path

    target = tmp_path / "x.bin"
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"abc")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_cli_process_turns_off_numpy_huge_page_advice(tmp_path):
    """The command's own process loads numpy without madvise(MADV_HUGEPAGE) (synchronous compaction
    stalls); a user's explicit NUMPY_MADVISE_HUGEPAGE wins."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from labelmap.cli import main; main(['--help']);"
        "from numpy._core import multiarray as m; print('HP', m._get_madvise_hugepage())"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HP False"
    env["NUMPY_MADVISE_HUGEPAGE"] = "1"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HP True"
