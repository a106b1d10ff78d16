"""--threads N on itk2seg, seg2itk and bin2label: N reaches every part that splits work on threads
(label scans, tile kernels, RLE, deflate), the output is the same bytes as with the default, and a bad
value is a one-line usage error."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pydicom
import pytest
from _slides import write_wsi_pyramid

from labelmap._util import threads as thread_util
from labelmap.cli import run_native
from labelmap.demo.sample import sample_metadata

from _cli import listing, make_case, run_cli

#: Every module that splits work with parts_for (kernels, codecs, the deflating writer, slide files).
SPLITTERS = (
    "labelmap._util.deflate",
    "labelmap.dicom.pixels.codecs.deflate_frame",
    "labelmap.formats.slide_nrrd",
    "labelmap.formats.slide_tiff",
    "labelmap.formats.slide_tiff_write",
    "labelmap.kernels.labels",
    "labelmap.kernels.rle",
    "labelmap.kernels.tiles",
)
#: Creation dates and times: the only values two writes of the same inputs may differ in.
TIMES = ("InstanceCreationDate", "InstanceCreationTime", "SeriesDate", "SeriesTime", "ContentDate", "ContentTime")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("threads"))


@pytest.fixture
def calls(monkeypatch):
    """(module, threads) of every parts_for call; every split threshold 0, so that small inputs split too."""
    seen: list[tuple[str, int | None]] = []
    for name in SPLITTERS:
        module = importlib.import_module(name)

        def recorder(threads, nbytes, min_bytes, limit, _name=name):
            seen.append((_name, threads))
            return thread_util.parts_for(threads, nbytes, 0, limit)

        monkeypatch.setattr(module, "parts_for", recorder)
    return seen


def without_times(path) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    for keyword in TIMES:
        delattr(ds, keyword)
    return ds


def write(capsys, case, out, *extra):
    args = [case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", out, "-q", "--deterministic-uids", *extra]
    rc, _, err = run_cli(capsys, "itk2seg", *args)
    assert rc == 0, err


@pytest.mark.parametrize("compression", ["deflate", "rle", "none"])
def test_threads_1_writes_the_default_bytes_and_reaches_every_split(case, tmp_path, capsys, calls, compression):
    write(capsys, case, tmp_path / "default.dcm", "--compression", compression)
    default_calls = list(calls)
    calls.clear()
    write(capsys, case, tmp_path / "one.dcm", "--compression", compression, "--threads", "1")
    assert without_times(tmp_path / "default.dcm") == without_times(tmp_path / "one.dcm")
    assert {t for _, t in default_calls} == {None}  # the default: every core
    assert calls and {t for _, t in calls} == {1}
    modules = {m for m, _ in calls}
    assert "labelmap.kernels.labels" in modules  # the planner's label scan
    if compression == "deflate":
        assert "labelmap._util.deflate" in modules  # the deflating writer
    if compression == "rle":
        assert "labelmap.kernels.rle" in modules  # the frame codec


def test_bin2label_and_seg2itk_pass_threads(case, tmp_path, capsys, calls, monkeypatch):
    binary = tmp_path / "binary.dcm"
    write(capsys, case, binary, "--type", "binary")
    outs = {}
    for name, extra in (("default", ()), ("one", ("--threads", "1"))):
        calls.clear()
        outs[name] = tmp_path / f"{name}.dcm"
        rc, _, err = run_cli(capsys, "bin2label", binary, "-o", outs[name], "-q", "--deterministic-uids", *extra)
        assert rc == 0, err
        assert {t for _, t in calls} == ({1} if extra else {None})
        assert "labelmap.kernels.labels" in {m for m, _ in calls}
    assert without_times(outs["default"]) == without_times(outs["one"])
    # the full reader splits its work; the numpy-free lane of a plain LABELMAP -> NRRD read is single-threaded
    monkeypatch.setattr(run_native, "_lean_read", lambda *args: None)
    for name, extra in (("default", ()), ("one", ("--threads", "1"))):
        calls.clear()
        rc, _, err = run_cli(capsys, "seg2itk", case["seg"], "-o", tmp_path / f"out-{name}", "-q", *extra)
        assert rc == 0, err
        assert ("labelmap.kernels.labels", 1 if extra else None) in calls  # the LABELMAP decoder's scan
    for file in ("1.nrrd", "meta.json"):
        assert (tmp_path / "out-default" / file).read_bytes() == (tmp_path / "out-one" / file).read_bytes()


def test_slide_writer_and_reader_pass_threads(tmp_path, capsys, calls):
    sizes = ((301, 257), (151, 129))
    write_wsi_pyramid(tmp_path / "slide", sizes=sizes, tile=(128, 128), photometric="MONOCHROME2")
    labels = np.zeros(sizes[0], np.uint8)
    labels[10:200, 20:100] = 1
    np.save(tmp_path / "labels.npy", labels)
    (tmp_path / "m.json").write_text(json.dumps(sample_metadata([1])))
    base = ["itk2seg", tmp_path / "labels.npy", "--dicom", tmp_path / "slide", "-m", tmp_path / "m.json", "-q"]
    for name, extra in (("default", ()), ("one", ("--threads", "1"))):
        calls.clear()
        out = tmp_path / f"{name}.dcm"
        rc, _, err = run_cli(capsys, *base, "-o", out, "--pyramid", "--deterministic-uids", *extra)
        assert rc == 0, err
        assert "labelmap.kernels.tiles" in {m for m, _ in calls}
        assert {t for _, t in calls} == ({1} if extra else {None})
    assert without_times(tmp_path / "default.dcm") == without_times(tmp_path / "one.dcm")
    calls.clear()
    rc, _, err = run_cli(capsys, "seg2itk", tmp_path / "one.dcm", "-o", tmp_path / "back", "-q", "--threads", "1")
    assert rc == 0, err
    assert {t for _, t in calls} == {1}


@pytest.mark.parametrize("value", ["-1", "two", "1.5", ""])
@pytest.mark.parametrize("command", ["itk2seg", "seg2itk", "bin2label"])
def test_bad_thread_counts_are_one_line_usage_errors(case, tmp_path, capsys, command, value):
    if command == "itk2seg":
        args = [case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", tmp_path / "x.dcm"]
    elif command == "seg2itk":
        args = [case["seg"], "-o", tmp_path / "out"]
    else:
        args = [case["seg"], "-o", tmp_path / "x.dcm"]
    rc, out, err = run_cli(capsys, command, *args, "--threads", value)
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "--threads" in err, err
    assert "Traceback" not in err
    assert listing(tmp_path) == set()


def test_segnrrd_scans_take_the_threads(case, tmp_path, capsys, calls):
    """A Slicer .seg.nrrd is scanned for its labels when read and written: with the threads given."""
    rc, _, err = run_cli(
        capsys, "seg2itk", case["seg"], "-o", tmp_path / "out", "-f", "segnrrd", "-q", "--threads", "1"
    )
    assert rc == 0, err
    assert ("labelmap.kernels.labels", 1) in calls and {t for _, t in calls} == {1}
    (segnrrd,) = (tmp_path / "out").glob("*.seg.nrrd")
    calls.clear()
    rc, _, err = run_cli(capsys, "itk2seg", segnrrd, "-d", case["ct"], "-o", tmp_path / "x.dcm", "-q", "--threads", "1")
    assert rc == 0, err
    assert calls and {t for _, t in calls} == {1}
