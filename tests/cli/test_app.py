"""The app and its entry point: the one-line error contract (hints in the run command's flags), help, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _images import write_image

from labelmap.cli import app as cli_app
from labelmap.cli import dcmqi, native, options
from labelmap.errors import HINTS, LabelmapError, MetadataError
from labelmap.model import Geometry

from _cli import dcmqi_write_args, listing, make_case, run_cli

BIN = Path(sys.executable).parent
LABELMAP_CONVERT = BIN / "labelmap-convert"
DEFLATED = "1.2.840.10008.1.2.1.99"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A small CT series, a gapped label map (first/last slice empty), its dcmqi JSON and a SEG of them."""
    return make_case(tmp_path_factory.mktemp("cli"))


@pytest.mark.parametrize("family", [native.HINT_TEXT, dcmqi.HINT_TEXT])
def test_every_hint_code_has_a_text_in_each_command_family(family):
    assert sorted(family) == sorted(HINTS)


def test_hint_texts_follow_the_command():
    assert cli_app.hint_texts(["itk2seg", "-q"]) is native.HINT_TEXT
    assert cli_app.hint_texts(["--verbose", "itkimage2segimage"]) is dcmqi.HINT_TEXT
    assert cli_app.hint_texts(["bin2labelsegimage"]) is dcmqi.HINT_TEXT
    assert cli_app.hint_texts([]) is native.HINT_TEXT
    assert set(cli_app.COMMANDS) == {c.name for c in cli_app.app.registered_commands}


def test_error_line_words_the_hint_and_folds_lines():
    err = MetadataError("classic SEG needs Segment Numbers 1..N\n  got [2, 5]", path="m.json", hint="renumber")
    assert cli_app.error_line(err, native.HINT_TEXT) == (
        "error: m.json: classic SEG needs Segment Numbers 1..N got [2, 5] (--renumber)"
    )
    assert cli_app.error_line(err, dcmqi.HINT_TEXT).endswith("(leave out --useLabelIDAsSegmentNumber)")
    assert cli_app.error_line(LabelmapError("plain text; as it is"), native.HINT_TEXT) == "error: plain text; as it is"
    # a code a family does not know keeps the library's wording
    odd = LabelmapError("x", hint="renumber")
    assert cli_app.error_line(odd, {}) == f"error: x ({HINTS['renumber']})"


@pytest.mark.parametrize(
    "args, advice",
    [
        (["itk2seg", "l.nrrd", "-d", "ct", "-o", "{out}"], "(--renumber)"),
        (
            ["itkimage2segimage", "--inputImageList", "l.nrrd", "--inputMetadata", "m.json"]
            + ["--inputDICOMDirectory", "ct", "--outputDICOM", "{out}"],
            "(leave out --useLabelIDAsSegmentNumber)",
        ),
    ],
)
def test_main_words_a_library_hint_with_the_command_flags(monkeypatch, capsys, tmp_path, args, advice):
    from labelmap.pipeline import convert

    def refuse(*args, **kwargs):
        raise MetadataError("label values are not 1..N", hint="renumber")

    monkeypatch.setattr(convert, "itk_to_seg", refuse)
    rc, out, err = run_cli(capsys, *(a.format(out=tmp_path / "x.dcm") for a in args))
    assert (rc, out) == (1, "")
    assert err == f"error: label values are not 1..N {advice}\n"


def test_default_tolerance_is_the_library_default():
    from labelmap.geometry import DEFAULT_TOLERANCE_MM

    assert options.DEFAULT_TOLERANCE == DEFAULT_TOLERANCE_MM


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
    "SEG input not DICOM": (lambda c, t: ["seg2itk", c["meta"], "-o", t / "out"], ["m.json", "DICOM"]),
    "segimage2itkimage output dir missing": (
        lambda c, t: ["segimage2itkimage", "--inputDICOM", c["seg"], "--outputDirectory", t / "out" / "missing"],
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
    "--outputDICOM is a folder": (lambda c, t: dcmqi_write_args(c, t / "out"), ["--outputDICOM", "folder"]),
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
    "negative --tolerance": (lambda c, t: ["seg2itk", c["seg"], "-o", t / "out", "--tolerance", "-1"], ["--tolerance"]),
    "demo: organs do not fit": (
        lambda c, t: ["demo", "-o", t / "out" / "demo", "--organs", "50", "--size", "8", "--slices", "3"],
        ["--organs", "50"],
    ),
    "demo: --size 0": (lambda c, t: ["demo", "-o", t / "out" / "demo", "--size", "0"], ["--size"]),
    "info on a CT image": (
        lambda c, t: ["info", sorted(c["ct"].glob("*.dcm"))[0]],
        ["CT000001.dcm", "not a Segmentation"],
    ),
    "unknown dcmqi --compress": (
        lambda c, t: dcmqi_write_args(c, t / "out" / "x.dcm", "--compress", "rle"),
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


def test_version_prints_the_package_version(capsys):
    from labelmap import __version__

    rc, out, err = run_cli(capsys, "--version")
    assert (rc, out, err) == (0, f"labelmap-convert {__version__}\n", "")
