"""Hostile paths through the real command line: each case is one ``error:`` line and exit 1 (or, where the
name is merely odd, a correct output), never a traceback, never a hang, and the folder is left as it was.

Inputs that are not regular files (a FIFO, /dev/zero, a folder) are refused up front: reading one could
block or never end.  Outputs that would replace a file of the source series are refused however they are
reached (a folder given with --dicom, ``..``, a symbolic link, a hard link).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _cli import listing, make_case, run_cli

LABELMAP_CONVERT = Path(sys.executable).parent / "labelmap-convert"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("hostile"))


def _state(folder: Path) -> dict[str, bytes]:
    """Every entry below ``folder`` with its bytes (folders, FIFOs and links by kind)."""
    out = {}
    for name in listing(folder):
        p = folder / name
        out[name] = (
            b"<link>" + os.readlink(p).encode() if p.is_symlink() else p.read_bytes() if p.is_file() else b"<other>"
        )
    return out


def _one_line(rc: int, stdout: str, stderr: str, *needles: str) -> str:
    assert rc == 1, (rc, stdout, stderr)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return lines[0]


def _itk2seg(case, output, **over):
    args = {"labels": [case["lab"]], "-d": case["ct"], "-m": case["meta"], "-o": output, **over}
    return ["itk2seg", *args.pop("labels"), *[x for k, v in args.items() for x in (k, v)]]


# --------------------------------------------------------------------------- outputs
OUTPUT_CASES = {
    # name: (make the output path in the folder, words of the error)
    "output folder is a file": (lambda d: _touch(d / "file.txt") / "out.dcm", ["file.txt", "is a file"]),
    "output file is a folder": (lambda d: _mkdir(d / "out.dcm"), ["out.dcm", "folder"]),
    "dangling symlink": (lambda d: _link(d / "out.dcm", d / "missing" / "x.dcm"), ["out.dcm", "does not exist"]),
    "FIFO as output": (lambda d: _fifo(d / "out.dcm"), ["out.dcm", "FIFO"]),
    "device as output": (lambda d: Path("/dev/full"), ["/dev/full", "character device"]),
    "300-byte name": (lambda d: d / ("n" * 296 + ".dcm"), ["File name too long"]),
    "empty name": (lambda d: "", ["empty"]),
}


def _touch(p: Path) -> Path:
    p.write_text("x")
    return p


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _link(p: Path, to: Path) -> Path:
    p.symlink_to(to)
    return p


def _fifo(p: Path) -> Path:
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("name", list(OUTPUT_CASES))
@pytest.mark.parametrize("command", ["itk2seg", "itkimage2segimage", "bin2label"])
def test_hostile_output_file(case, tmp_path, capsys, name, command):
    make, words = OUTPUT_CASES[name]
    output = make(tmp_path)
    before = _state(tmp_path)
    args = {
        "itk2seg": _itk2seg(case, output),
        "itkimage2segimage": [
            "itkimage2segimage",
            "--inputImageList",
            case["lab"],
            "--inputDICOMDirectory",
            case["ct"],
            "--inputMetadata",
            case["meta"],
            "--outputDICOM",
            output,
        ],
        "bin2label": ["bin2label", case["seg"], "-o", output],
    }[command]
    rc, out, err = run_cli(capsys, *args)
    _one_line(rc, out, err, *words)
    assert _state(tmp_path) == before


@pytest.mark.parametrize(
    "name, words",
    [
        ("output folder is a file", ["file.txt", "is a file"]),
        ("output folder through a file", ["file.txt", "a part of its path is a file"]),
        ("empty output folder", ["empty"]),
        ("dangling symlink folder", ["missing"]),
    ],
)
@pytest.mark.parametrize("command", ["seg2itk", "segimage2itkimage"])
def test_hostile_output_folder(case, tmp_path, capsys, name, words, command):
    (tmp_path / "file.txt").write_text("x")
    folder = {
        "output folder is a file": tmp_path / "file.txt",
        "output folder through a file": tmp_path / "file.txt" / "sub",
        "empty output folder": "",
        "dangling symlink folder": _link(tmp_path / "gone", tmp_path / "missing"),
    }[name]
    before = _state(tmp_path)
    args = (
        ["seg2itk", case["seg"], "-o", folder]
        if command == "seg2itk"
        else ["segimage2itkimage", "--inputDICOM", case["seg"], "--outputDirectory", folder]
    )
    rc, out, err = run_cli(capsys, *args)
    _one_line(rc, out, err, *words)
    assert _state(tmp_path) == before


@pytest.mark.parametrize("name", ["newline", "leading dash", "250 bytes", "spaces and quotes", "non-UTF-8 bytes"])
def test_odd_but_valid_output_names_work(case, tmp_path, capsys, name):
    """Legal names are written as given; the report stays one line; no temporary is left."""
    from labelmap.validate import check_seg

    file_name = {
        "newline": "two\nlines.dcm",
        "leading dash": "-x.dcm",
        "250 bytes": "n" * 246 + ".dcm",
        "spaces and quotes": "a 'b' \"c\".dcm",
        "non-UTF-8 bytes": os.fsdecode(b"caf\xe9.dcm"),
    }[name]
    rc, out, err = run_cli(capsys, *_itk2seg(case, tmp_path / file_name))
    assert rc == 0, err
    assert err == "" and len(out.splitlines()) == 1 and out.startswith("wrote ")
    assert listing(tmp_path) == {file_name}
    assert check_seg(tmp_path / file_name).errors == []


# --------------------------------------------------------------------------- outputs that are inputs
@pytest.mark.parametrize("via", ["folder", "dotdot", "symlink", "hardlink", "files"])
@pytest.mark.parametrize("command", ["itk2seg", "itkimage2segimage"])
def test_an_output_replacing_a_source_file_is_refused(case, tmp_path, capsys, via, command):
    import shutil

    ct = tmp_path / "ct"
    shutil.copytree(case["ct"], ct)
    victim = sorted(ct.iterdir())[2]
    output = {
        "folder": victim,
        "dotdot": ct / ".." / "ct" / victim.name,
        "symlink": _link(tmp_path / "alias.dcm", victim),
        "hardlink": tmp_path / "hard.dcm",
        "files": victim,
    }[via]
    if via == "hardlink":
        os.link(victim, output)
    before = _state(tmp_path)
    sources = sorted(ct.iterdir()) if via == "files" else [ct]
    if command == "itk2seg":
        args = ["itk2seg", case["lab"], *[x for s in sources for x in ("-d", s)], "-m", case["meta"], "-o", output]
    else:
        dicom = ["--inputDICOMList", ",".join(map(str, sources))] if via == "files" else ["--inputDICOMDirectory", ct]
        args = ["itkimage2segimage", "--inputImageList", case["lab"], *dicom, "--inputMetadata", case["meta"]]
        args += ["--outputDICOM", output]
    rc, out, err = run_cli(capsys, *args)
    _one_line(rc, out, err, Path(output).name, "source series", "another output name")
    assert _state(tmp_path) == before


def test_an_output_replacing_the_label_file_or_metadata_is_refused(case, tmp_path, capsys):
    import shutil

    lab, meta = tmp_path / "lab.nrrd", tmp_path / "m.json"
    shutil.copy(case["lab"], lab)
    shutil.copy(case["meta"], meta)
    before = _state(tmp_path)
    for output in (lab, meta, tmp_path / "." / "m.json"):
        rc, out, err = run_cli(capsys, *_itk2seg(case, output, labels=[lab], **{"-m": meta}))
        _one_line(rc, out, err, output.name, "also an input")
    assert _state(tmp_path) == before


# --------------------------------------------------------------------------- inputs that are not files
def _fifo_path(tmp_path: Path, name: str) -> Path:
    return _fifo(tmp_path / name)


INPUT_CASES = {
    # name: (argument list builder, words)
    "FIFO label file": (
        lambda c, t: ["itk2seg", _fifo_path(t, "lab.nrrd"), "-d", c["ct"], "-m", c["meta"], "-o", t / "x.dcm"],
        ["lab.nrrd", "FIFO"],
    ),
    "FIFO metadata": (
        lambda c, t: ["itk2seg", c["lab"], "-d", c["ct"], "-m", _fifo_path(t, "m.json"), "-o", t / "x.dcm"],
        ["m.json", "FIFO"],
    ),
    "FIFO SEG (info)": (lambda c, t: ["info", _fifo_path(t, "s.dcm")], ["s.dcm", "FIFO"]),
    "FIFO SEG (seg2itk)": (lambda c, t: ["seg2itk", _fifo_path(t, "s.dcm"), "-o", t], ["s.dcm", "FIFO"]),
    "FIFO SEG (validate)": (lambda c, t: ["validate", _fifo_path(t, "s.dcm")], ["s.dcm", "FIFO"]),
    "FIFO dicom file": (
        lambda c, t: ["itk2seg", c["lab"], "-d", _fifo_path(t, "ct.dcm"), "-m", c["meta"], "-o", t / "x.dcm"],
        ["ct.dcm", "FIFO"],
    ),
    "FIFO in a dcmqi list": (
        lambda c, t: [
            "itkimage2segimage",
            "--inputImageList",
            _fifo_path(t, "lab.nrrd"),
            "--inputDICOMDirectory",
            c["ct"],
            "--inputMetadata",
            c["meta"],
            "--outputDICOM",
            t / "x.dcm",
        ],
        ["lab.nrrd", "FIFO"],
    ),
    "/dev/zero as SEG": (lambda c, t: ["seg2itk", "/dev/zero", "-o", t], ["/dev/zero", "character device"]),
    "/dev/zero as label": (
        lambda c, t: ["itk2seg", "/dev/zero", "-d", c["ct"], "-m", c["meta"], "-o", t / "x.dcm"],
        ["/dev/zero", "character device"],
    ),
    "/dev/zero as reference": (
        lambda c, t: ["seg2itk", c["seg"], "-o", t, "-r", "/dev/zero"],
        ["/dev/zero", "character device"],
    ),
    "folder as label": (
        lambda c, t: ["itk2seg", _mkdir(t / "d.nrrd"), "-d", c["ct"], "-m", c["meta"], "-o", t / "x.dcm"],
        ["d.nrrd", "folder"],
    ),
    "folder as metadata": (
        lambda c, t: ["itk2seg", c["lab"], "-d", c["ct"], "-m", _mkdir(t / "d.json"), "-o", t / "x.dcm"],
        ["d.json", "folder"],
    ),
    "folder as SEG": (lambda c, t: ["seg2itk", _mkdir(t / "d.dcm"), "-o", t], ["d.dcm", "folder"]),
    "folder as binary SEG": (lambda c, t: ["bin2label", _mkdir(t / "d.dcm"), "-o", t / "x.dcm"], ["d.dcm", "folder"]),
    "empty dicom": (
        lambda c, t: ["itk2seg", c["lab"], "-d", "", "-m", c["meta"], "-o", t / "x.dcm"],
        ["--dicom", "empty"],
    ),
    "empty item in a list": (
        lambda c, t: [
            "itkimage2segimage",
            "--inputImageList",
            f"{c['lab']},,{c['lab']}",
            "--inputDICOMDirectory",
            c["ct"],
            "--inputMetadata",
            c["meta"],
            "--outputDICOM",
            t / "x.dcm",
        ],
        ["--inputImageList", "item 2 is empty"],
    ),
    "empty inputDICOMDirectory": (
        lambda c, t: [
            "itkimage2segimage",
            "--inputImageList",
            c["lab"],
            "--inputDICOMDirectory",
            "",
            "--inputMetadata",
            c["meta"],
            "--outputDICOM",
            t / "x.dcm",
        ],
        ["--inputDICOMDirectory", "empty"],
    ),
}


@pytest.mark.parametrize("name", list(INPUT_CASES))
def test_inputs_that_are_not_regular_files_are_refused_without_reading(case, tmp_path, name):
    """Run as a process with a deadline: a FIFO that were opened would block it forever."""
    build, words = INPUT_CASES[name]
    args = build(case, tmp_path)
    before = _state(tmp_path)
    proc = subprocess.run(
        [str(LABELMAP_CONVERT), *map(str, args)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    _one_line(proc.returncode, proc.stdout, proc.stderr, *words)
    assert _state(tmp_path) == before


def test_nul_in_a_path_is_one_line(capsys):
    """(A process argument cannot hold NUL; the API and in-process callers can.)"""
    rc, out, err = run_cli(capsys, "info", "a\0b.dcm")
    _one_line(rc, out, err, "NUL")


def test_a_fifo_inside_the_source_folder_is_skipped_not_read(case, tmp_path):
    import shutil

    ct = tmp_path / "ct"
    shutil.copytree(case["ct"], ct)
    os.mkfifo(ct / "zz-pipe.dcm")
    args = _itk2seg(case, tmp_path / "x.dcm", **{"-d": ct})
    proc = subprocess.run([str(LABELMAP_CONVERT), *map(str, args)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.dcm").is_file()


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "flag, value, words",
    [
        ("--tolerance", "nan", ["--tolerance", "not a finite number"]),
        ("--tolerance", "inf", ["--tolerance", "not a finite number"]),
        ("--tolerance", "-inf", ["--tolerance"]),
        ("--tolerance", "-1", ["--tolerance", "x>=0"]),
        ("--deflate-level", "0", ["--deflate-level", "1<=x<=9"]),
        ("--deflate-level", "10", ["--deflate-level", "1<=x<=9"]),
        ("--deflate-level", "nan", ["--deflate-level"]),
    ],
)
def test_numeric_options_are_checked(case, tmp_path, capsys, flag, value, words):
    rc, out, err = run_cli(capsys, *_itk2seg(case, tmp_path / "x.dcm"), flag, value)
    _one_line(rc, out, err, *words)
    assert listing(tmp_path) == set()


def test_seg2itk_tolerance_is_checked_too(case, tmp_path, capsys):
    rc, out, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path, "--tolerance", "nan")
    _one_line(rc, out, err, "--tolerance", "finite")
    assert listing(tmp_path) == set()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--size", "100000"], ["100000x100000x120", "voxels"]),
        (["--size", "2048", "--slices", "2048"], ["512x512x512"]),
        (["--size", "0"], ["--size", "at least 2"]),
        (["--organs", "-3"], ["--organs", "at least 1"]),
    ],
)
def test_demo_sizes_are_bounded(tmp_path, capsys, args, words):
    rc, out, err = run_cli(capsys, "demo", "-o", tmp_path / "d", *args)
    _one_line(rc, out, err, *words)
    assert listing(tmp_path) == set()


@pytest.mark.parametrize("data", ["/dev/zero", "/dev/urandom", "fifo"])
def test_a_detached_header_pointing_at_a_device_or_fifo_is_refused(case, tmp_path, data):
    """An .nhdr whose 'data file' is not a regular file: one line, no hang, no unbounded read."""
    if data == "fifo":
        _fifo(tmp_path / "fifo")
    header = (
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 20 24 6\nspace: left-posterior-superior\n"
        "space directions: (0.7,0,0) (0,0.9,0) (0,0,2.5)\nspace origin: (-7.35,-9.45,-30)\n"
        f"encoding: {'gzip' if data == '/dev/urandom' else 'raw'}\ndata file: {data}\n\n"
    )
    (tmp_path / "lab.nhdr").write_text(header)
    before = _state(tmp_path)
    args = _itk2seg(case, tmp_path / "x.dcm", labels=[tmp_path / "lab.nhdr"])
    proc = subprocess.run([str(LABELMAP_CONVERT), *map(str, args)], capture_output=True, text=True, timeout=60)
    _one_line(proc.returncode, proc.stdout, proc.stderr, "lab.nhdr", data, "not a regular file")
    assert _state(tmp_path) == before
