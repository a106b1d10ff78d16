"""The typer-free launcher (``labelmap.cli.main``) behaves exactly as the typer app (``labelmap.cli.app.main``):
same exit code, stdout, stderr and outputs for every command line, whichever of them parses it; and the
common command lines start without importing typer."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labelmap.cli import app as cli_app
from labelmap.cli import flags, launch

from _cli import dcmqi_write_args, listing, make_case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("launch"))


# --------------------------------------------------------------------------- parsed values (bodies recorded)
@pytest.fixture()
def files(tmp_path, monkeypatch):
    """A folder with the paths the command lines name (files, folders, a FIFO), as the current folder."""
    for name in ("lab.nrrd", "lab2.nrrd", "m.json", "seg.dcm"):
        (tmp_path / name).write_bytes(b"x")
    for name in ("ct", "ct2", "out"):
        (tmp_path / name).mkdir()
    os.mkfifo(tmp_path / "fifo")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def recorded(monkeypatch):
    """Replace each command body by a recorder of the values it is called with (the typer wrappers and the
    launcher both call the body through its module, so both are recorded)."""
    calls: list = []
    for name, (module, function) in launch.BODIES.items():

        def body(_name=name, **values):
            calls.append((_name, values))

        monkeypatch.setattr(importlib.import_module(module), function, body)
    return calls


def _through(entry, capsys, calls, args):
    calls.clear()
    rc = entry(list(args))
    out, err = capsys.readouterr()
    return rc, out, err, list(calls)


ITK = ["itk2seg", "lab.nrrd", "-d", "ct", "-m", "m.json", "-o", "x.dcm"]
SEG = ["seg2itk", "seg.dcm", "-o", "out"]
DCMQI_W = ["itkimage2segimage", "--inputImageList", "lab.nrrd", "--inputMetadata", "m.json", "--outputDICOM", "x.dcm"]
DCMQI_R = ["segimage2itkimage", "--inputDICOM", "seg.dcm", "--outputDirectory", "out"]

#: Command lines the launcher parses itself (and must give the values typer gives).
PARSED = [
    ITK,
    ITK + ["-q"],
    ["itk2seg", "-d", "ct", "-o", "x.dcm", "lab.nrrd", "lab2.nrrd"],  # options first
    ["itk2seg", "lab.nrrd", "-d", "ct", "lab2.nrrd", "-o", "x.dcm"],  # positionals around options
    ["itk2seg", "lab.nrrd", "--dicom=ct", "--output=x.dcm", "--metadata=m.json"],
    ["itk2seg", "lab.nrrd", "-d", "ct", "-d", "ct2", "--dicom", "lab.nrrd", "-o", "x.dcm"],  # repeatable
    ITK + ["-o", "y.dcm", "--type", "binary", "--type", "labelmap"],  # the last value wins
    ITK + ["-q", "--quiet", "--palette", "--keep-empty-slices", "--renumber", "--keep-absent-segments"],
    ITK + ["--deterministic-uids", "--pyramid", "--level", "0", "--tiled", "sparse", "--tile-size", "256x128"],
    ITK + ["--type=fractional", "--fractional-type", "occupancy", "--compression", "rle"],
    ITK + ["--compression=none", "--deflate-level", "1", "--deflate-level=9", "--series-uid", "1.2.3"],
    ITK + ["--tolerance", "0.5", "--tolerance=1e-3", "--threads", "2", "--threads=0"],
    ITK + ["--tolerance", " 2 ", "--threads", "+3", "--deflate-level", "0_7"],  # what int() / float() accept
    ITK + ["--series-uid", "-q"],  # an option's value may start with a dash
    ITK + ["--series-uid=", "--tile-size", "x"],
    ["itk2seg", "-", "-d", "ct", "-o", "x.dcm"],  # a lone dash is a positional
    ["itk2seg", "lab\udcff.nrrd", "-d", "ct", "-o", "x y.dcm"],  # a file name that is not UTF-8, a space
    ["seg2itk", "seg.dcm", "-o", "=out", "-p", "-"],
    ["seg2itk", "seg.dcm", "--output-dir", "--prefix"],  # a value that looks like an option is a value
    SEG,
    SEG + ["-q", "-f", "nifti", "-p", "pre", "--threads", "1"],
    ["seg2itk", "-o", "out", "seg.dcm", "--format=segnrrd", "--prefix="],
    SEG + ["-r", "ct", "--reference", "ct2", "--series-uid", "1.2", "--tolerance", "1"],
    SEG + ["--merge-segments", "--preview", "--level", "2", "-f", "ome-tiff", "-f", "nrrd"],
    SEG + ["-o", "out2", "--output-dir", "new/dir"],
    DCMQI_W,
    DCMQI_W + ["--inputDICOMDirectory", "ct", "--segmentationType", "labelmap", "--skip", "0", "--compress", "x"],
    DCMQI_W + ["--inputDICOMList", "a,b", "--inputDICOMList", "c", "--inputImageList", "lab2.nrrd"],
    DCMQI_W + ["--useLabelIDAsSegmentNumber", "--referencesGeometryCheck", "0", "--noDicomValueChecks"],
    DCMQI_W + ["--verbose", "--level", "1", "--tiled", "full", "--tile-size", "64", "--pyramid", "--skip", "7"],
    DCMQI_W + ["--deterministic-uids", "--segmentationType=BINARY"],
    DCMQI_R,
    DCMQI_R + ["-p", "x", "-t", "nii", "--mergeSegments", "--level", "0", "--verbose"],
    DCMQI_R + ["--outputType=nifti", "--prefix", "y", "--outputType", "ome-tiff"],
]

#: Command lines the launcher hands to the typer app (it must not parse them, and the result is the same).
HANDED_ON = [
    [],
    ["-q"],
    ["--version", "itk2seg"],
    ["--help", "--version"],
    ["--version", "--help"],
    ["-h", "itk2seg"],
    ["frobnicate"],
    ["info", "seg.dcm"],
    ["validate", "seg.dcm", "--json"],
    ["itk2seg"],
    ["itk2seg", "--help"],
    ITK + ["-h"],
    SEG + ["--help"],
    DCMQI_W + ["--help"],
    ITK + ["--bogus"],
    ITK + ["-x"],
    ITK + ["--"],
    ["itk2seg", "-d", "ct", "-o", "x.dcm", "--", "lab.nrrd"],
    ITK + ["-qo", "y.dcm"],  # grouped short options
    ["itk2seg", "lab.nrrd", "-dct", "-ox.dcm"],  # values attached to short options
    ["itk2seg", "lab.nrrd", "-d=ct", "-o", "x.dcm"],
    ITK + ["--quiet=1"],
    ITK + ["--deflate-level"],  # a value missing at the end
    ["itk2seg", "lab.nrrd", "-d", "ct"],  # a required option missing
    ["itk2seg", "lab.nrrd", "-o", "x.dcm"],
    ["itk2seg", "-d", "ct", "-o", "x.dcm"],  # the required argument missing
    ITK + ["--type", "Binary"],  # choices are case-sensitive
    ITK + ["--compression", "gzip"],
    ITK + ["--deflate-level", "0"],
    ITK + ["--deflate-level", "10"],
    ITK + ["--deflate-level", "1.5"],
    ITK + ["--threads", "-1"],
    ITK + ["--level", "x"],
    ITK + ["--tolerance", "nan"],
    ITK + ["--tolerance", "inf"],
    ITK + ["--tolerance", "-0.5"],
    ITK + ["--tolerance", "abc"],
    ITK + ["-o", ""],  # an empty path
    ITK + ["-m", "fifo"],  # a FIFO
    ITK + ["-m", "a\0b"],  # a NUL character
    SEG + ["extra.dcm"],  # an extra argument
    SEG + ["-f", "NRRD"],
    SEG + ["--format"],
    ["seg2itk", "-o", "out"],
    ["seg2itk", "seg.dcm", "-o"],
    ["itk2seg", "--version"],
    SEG + ["-q", "--merge-segments", "-f", "ome-tiff", "--level", "-1"],
    DCMQI_W + ["stray"],
    DCMQI_W + ["--skip", "x"],
    ["itkimage2segimage", "--inputMetadata", "m.json", "--outputDICOM", "x.dcm"],
    DCMQI_R + ["--mergeSegments=1"],
    ["segimage2itkimage", "--inputDICOM", "seg.dcm"],
]


@pytest.mark.parametrize("args", PARSED, ids=" ".join)
def test_launcher_parses_as_typer_does(files, recorded, capsys, args):
    assert launch.parse(args) is not None, "the launcher should parse this command line itself"
    launched = _through(launch.main, capsys, recorded, args)
    typed = _through(cli_app.main, capsys, recorded, args)
    assert launched == typed
    assert launched[0] == 0 and len(launched[3]) == 1


@pytest.mark.parametrize("args", HANDED_ON, ids=lambda a: " ".join(a).replace("\0", "NUL") or "no-args")
def test_launcher_hands_the_rest_to_typer_unchanged(files, recorded, capsys, args):
    assert launch.parse(args) is None
    assert _through(launch.main, capsys, recorded, args) == _through(cli_app.main, capsys, recorded, args)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_path_is_left_to_typer(files, recorded, capsys):
    (files / "m.json").chmod(0)
    args = ITK
    assert launch.parse(args) is None
    assert _through(launch.main, capsys, recorded, args) == _through(cli_app.main, capsys, recorded, args)


def test_top_level_in_process(capsys, recorded):
    for args in ([], ["--help"], ["-h"], ["--version"]):
        assert _through(launch.main, capsys, recorded, args) == _through(cli_app.main, capsys, recorded, args)


# --------------------------------------------------------------------------- real runs, outputs compared
def _normal(text: str) -> str:
    return re.sub(r" in \d+\.\d\d s\b", " in T s", text)


def _files(root: Path) -> dict[str, object]:
    """Every file below ``root`` -> its content (a DICOM file: its elements but the creation times)."""
    import pydicom

    found: dict[str, object] = {}
    for rel in sorted(listing(root)):
        path = root / rel
        if path.is_dir():
            found[rel] = "dir"
        elif path.read_bytes()[128:132] == b"DICM":
            ds = pydicom.dcmread(path)
            times = ("InstanceCreationTime", "SeriesTime", "ContentTime", "InstanceCreationDate", "SeriesDate")
            found[rel] = {str(e.tag): e.value for e in ds if e.keyword not in times}
        else:
            found[rel] = path.read_bytes()
    return found


def _in_folder(entry, folder: Path, args, capsys, monkeypatch):
    folder.mkdir()
    (folder / "existing").mkdir()
    monkeypatch.chdir(folder)
    rc = entry([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, _normal(out), _normal(err), _files(folder)


def _real_runs(case):
    ct, lab, meta, seg = case["ct"], case["lab"], case["meta"], case["seg"]
    return {
        "itk2seg": ["itk2seg", lab, "-d", ct, "-m", meta, "-o", "x.dcm", "--deterministic-uids"],
        "itk2seg-binary": [
            "itk2seg",
            lab,
            "-d",
            ct,
            "-m",
            meta,
            "-o",
            "x.dcm",
            "--type",
            "binary",
            "--renumber",
            "--deterministic-uids",
        ],
        "itk2seg-missing-label": ["itk2seg", "nothere.nrrd", "-d", ct, "-m", meta, "-o", "x.dcm"],
        "itk2seg-out-is-folder": ["itk2seg", lab, "-d", ct, "-m", meta, "-o", "existing"],
        "seg2itk": ["seg2itk", seg, "-o", "out"],
        "seg2itk-prefix-threads": ["seg2itk", "-o", "out", seg, "-p", "pre", "--threads", "1", "-f", "nrrd"],
        "seg2itk-nifti": ["seg2itk", seg, "-o", "out", "-f", "nifti"],
        "seg2itk-reference": ["seg2itk", seg, "-o", "out", "-r", ct, "--merge-segments"],
        "seg2itk-ome-tiff": ["seg2itk", seg, "-o", "out", "-f", "ome-tiff"],
        "seg2itk-not-a-seg": ["seg2itk", meta, "-o", "out"],
        "itkimage2segimage": dcmqi_write_args(case, "x.dcm", "--deterministic-uids"),
        "segimage2itkimage": ["segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", "existing", "-p", "a"],
        "segimage2itkimage-missing-dir": ["segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", "nope"],
    }


@pytest.mark.parametrize(
    "name",
    [
        "itk2seg",
        "itk2seg-binary",
        "itk2seg-missing-label",
        "itk2seg-out-is-folder",
        "seg2itk",
        "seg2itk-prefix-threads",
        "seg2itk-nifti",
        "seg2itk-reference",
        "seg2itk-ome-tiff",
        "seg2itk-not-a-seg",
        "itkimage2segimage",
        "segimage2itkimage",
        "segimage2itkimage-missing-dir",
    ],
)
def test_real_runs_write_the_same(case, tmp_path, capsys, monkeypatch, name):
    args = [str(a) for a in _real_runs(case)[name]]
    assert launch.parse(args) is not None
    launched = _in_folder(launch.main, tmp_path / "launched", args, capsys, monkeypatch)
    typed = _in_folder(cli_app.main, tmp_path / "typed", args, capsys, monkeypatch)
    assert launched == typed
    failing = {"itk2seg-missing-label", "itk2seg-out-is-folder", "seg2itk-ome-tiff", "seg2itk-not-a-seg"}
    assert (launched[0] == 0) == (name not in failing | {"segimage2itkimage-missing-dir"})
    assert launched[1] or launched[2]


def test_interrupted_run_through_the_launcher(case, tmp_path, capsys, monkeypatch):
    """Ctrl-C inside a parsed command: the app's one line, no output (the same mapping as typer's path)."""
    from labelmap.pipeline import convert

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "itk_to_seg", interrupted)
    args = ["itk2seg", str(case["lab"]), "-d", str(case["ct"]), "-o", str(tmp_path / "x.dcm")]
    assert launch.parse(args) is not None
    rc = launch.main(args)
    out, err = capsys.readouterr()
    assert (rc, out) == (1, "")
    assert err == f"error: interrupted during itk2seg of {str(case['lab'])!r}; no output was written or replaced\n"
    assert listing(tmp_path) == set()


def test_a_bug_is_one_line_and_debug_shows_the_traceback(case, tmp_path, capsys, monkeypatch):
    from labelmap.pipeline import convert

    def bug(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(convert, "itk_to_seg", bug)
    args = ["itk2seg", str(case["lab"]), "-d", str(case["ct"]), "-o", str(tmp_path / "x.dcm")]
    assert launch.main(args) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: internal error during itk2seg of ") and "ZeroDivisionError: boom" in err
    monkeypatch.setenv("LABELMAP_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        launch.main(args)


# --------------------------------------------------------------------------- the numpy-free read lane
def test_seg2itk_lane_outside_its_envelope_or_declined_runs_the_full_reader(case, tmp_path, capsys, monkeypatch):
    """The lane is asked only for SEG, -o, -q, --prefix, -f nrrd, --threads; None from it -> the full path."""
    from labelmap.cli import run_native

    asked: list = []

    def declined(seg, output_dir, prefix):
        asked.append((str(seg), str(output_dir), prefix))
        return None

    monkeypatch.setattr(run_native, "_lean_read", declined)
    seg, out = str(case["seg"]), str(tmp_path / "o")
    assert launch.main(["seg2itk", seg, "-o", out, "-q", "-p", "p", "-f", "nrrd", "--threads", "1"]) == 0
    assert asked == [(seg, out, "p")]
    assert listing(tmp_path / "o") == {"p-1.nrrd", "p-meta.json"}
    for extra in (["--merge-segments"], ["-f", "nifti"], ["-r", str(case["ct"])], ["--tolerance", "1"], ["--preview"]):
        asked.clear()
        assert launch.main(["seg2itk", seg, "-o", str(tmp_path / "o2"), "-q", *extra]) == 0
        assert asked == []
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal: the full reader's bar
    asked.clear()
    assert launch.main(["seg2itk", seg, "-o", str(tmp_path / "o3")]) == 0
    assert asked == []
    assert launch.main(["seg2itk", seg, "-o", str(tmp_path / "o4"), "-q"]) == 0  # quiet: no bar either way
    assert asked == [(seg, str(tmp_path / "o4"), "")]
    capsys.readouterr()


def test_seg2itk_lane_report_is_printed_as_the_full_reader_prints_it(case, tmp_path, capsys, monkeypatch):
    """Within its envelope the lane writes the files and prints the line the full reader would."""
    pytest.importorskip("labelmap.pipeline.lean_read", reason="the numpy-free lane is not on main yet")
    from labelmap.cli import run_native

    real, reports = run_native._lean_read, []

    def spy(seg, output_dir, prefix):
        reports.append(real(seg, output_dir, prefix))
        return reports[-1]

    seg = str(case["seg"])
    runs = {}
    for name, lane in (("lane", spy), ("full", lambda seg, output_dir, prefix: None)):
        monkeypatch.setattr(run_native, "_lean_read", lane)
        args = ["seg2itk", seg, "-o", "out", "-p", "p", "--threads", "1"]
        runs[name] = _in_folder(launch.main, tmp_path / name, args, capsys, monkeypatch)
    assert len(reports) == 1 and reports[0] is not None  # the lane took this SEG
    assert runs["lane"] == runs["full"]
    assert runs["lane"][0] == 0 and set(runs["lane"][3]) == {"existing", "out", "out/p-1.nrrd", "out/p-meta.json"}


def test_the_suite_s_entry_point_is_the_launcher():
    """Every test that runs ``labelmap.cli.main`` (signals, streams, bad input ...) goes through the launcher."""
    import labelmap.cli

    from _cli import main as suite_main

    assert labelmap.cli.main is launch.main is suite_main


# --------------------------------------------------------------------------- processes: no typer, same bytes
_PROBE = (
    "import sys, atexit\n"
    "from labelmap.cli import main\n"
    "loaded = lambda: sorted(m for m in ('typer', 'click', 'rich', 'labelmap.cli.app', 'labelmap.cli.native') "
    "if m in sys.modules)\n"
    "atexit.register(lambda: open(sys.argv[1], 'w').write(repr(loaded())))\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def _process(args, tmp_path, *, env=None, entry=_PROBE):
    probe = tmp_path / "modules.txt"
    base = {k: v for k, v in os.environ.items() if k not in (*flags.HELP_ENV, "COLUMNS")}
    proc = subprocess.run(
        [sys.executable, "-c", entry, str(probe), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={**base, **(env or {})},
        timeout=120,
    )
    return proc, (eval(probe.read_text()) if probe.exists() else None)


def test_version_help_and_conversions_do_not_import_typer(case, tmp_path):
    from labelmap import __version__

    proc, modules = _process(["--version"], tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr, modules) == (
        0,
        f"labelmap-convert {__version__}\n".encode(),
        b"",
        [],
    )
    proc, modules = _process(["--help"], tmp_path)
    assert (proc.returncode, proc.stdout.decode(), proc.stderr, modules) == (0, flags.help_text(), b"", [])
    seg = tmp_path / "x.dcm"
    proc, modules = _process(["itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", seg], tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith(b"wrote ") and modules == []
    proc, modules = _process(["seg2itk", seg, "-o", tmp_path / "o", "-q"], tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr, modules) == (0, b"", b"", [])
    proc, modules = _process(["info", seg], tmp_path)  # another command: the typer app
    assert proc.returncode == 0 and "typer" in modules


_APP = _PROBE.replace("from labelmap.cli import main", "from labelmap.cli.app import main")


@pytest.mark.parametrize(
    "args, env, stored",
    [
        (["--help"], {}, True),
        ([], {}, True),
        (["-h"], {"COLUMNS": "80"}, True),
        (["--help"], {"COLUMNS": "100"}, False),
        (["--help"], {"FORCE_COLOR": "1"}, False),
        (["--help"], {"TERMINAL_WIDTH": "60"}, False),
        (["--help"], {"PYTHONIOENCODING": "ascii"}, False),
    ],
)
def test_help_process_equals_typer_and_uses_the_stored_text_only_where_typer_prints_it(tmp_path, args, env, stored):
    launched, modules = _process(args, tmp_path, env=env)
    typed, _ = _process(args, tmp_path, env=env, entry=_APP)
    assert (launched.returncode, launched.stdout, launched.stderr) == (typed.returncode, typed.stdout, typed.stderr)
    assert ("typer" not in modules) == stored


def test_help_process_in_a_terminal_equals_typer(tmp_path):
    """On a terminal (colours, its width) typer renders; the launcher's output is byte for byte the same."""
    import pty

    outputs = []
    for entry in (_PROBE, _APP):
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-c", entry, str(tmp_path / "m.txt"), "--help"],
            stdin=secondary,
            stdout=secondary,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k not in (*flags.HELP_ENV, "COLUMNS")},
        )
        os.close(secondary)
        chunks = []
        while True:  # read while it writes (a terminal's buffer is small); EIO once the child has closed it
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(primary)
        outputs.append((proc.wait(timeout=120), b"".join(chunks)))
    assert outputs[0] == outputs[1]
    assert b"itk2seg" in outputs[0][1]


def test_python_m_runs_the_launcher(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "labelmap.cli", "--version"], capture_output=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith(b"labelmap-convert ")
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "labelmap.cli.launch" in imported and not imported & {"typer", "click", "labelmap.cli.app"}


def test_meta_json_of_a_launched_read_is_dcmqi_json(case, tmp_path, capsys):
    assert launch.main(["seg2itk", str(case["seg"]), "-o", str(tmp_path), "-q"]) == 0
    assert json.loads((tmp_path / "meta.json").read_text())["segmentAttributes"]
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------------------- random command lines
_VALUES = {
    "path": ["lab.nrrd", "ct", "out", "new/x.dcm", "", "fifo", "-q", "a=b"],
    "int": ["0", "1", "2", "9", "10", "-1", "x", " 3", "1.5", "+4"],
    "float": ["0", "0.5", "-1", "nan", "inf", "1e-3", "x", "2"],
    "str": ["", "a", "-x", "a,b", "lab.nrrd"],
}
_STRAY = ["--bogus", "-h", "--help", "--", "-z", "stray", "-qq", "--quiet=1", "-"]


def _random_line(rng, name: str) -> list[str]:
    """A command line of ``name`` from its flag table: random options (any form, order, repetition),
    values valid and not, now and then a required one left out or a stray token."""
    table = flags.COMMANDS[name]
    tokens: list[str] = []
    for p in table:
        if p.required and rng.random() < 0.05:
            continue
        if not p.required and rng.random() < 0.6:
            continue
        for _ in range(1 + (rng.random() < 0.2)):
            if not p.opts:
                tokens.append(rng.choice(_VALUES["path"][:4]))
                continue
            opt = rng.choice(p.opts)
            if p.kind == "flag":
                tokens.append(opt)
                continue
            pool = list(p.choices) + ["BAD", p.choices[0].upper()] if p.kind == "choice" else _VALUES[p.kind]
            value = rng.choice(pool) if rng.random() < 0.3 else (pool[0] if p.kind != "choice" else p.choices[-1])
            if opt.startswith("--") and rng.random() < 0.3:
                tokens.append(f"{opt}={value}")
            else:
                tokens.extend([opt, value])
    groups = [tokens[i : i + 2] for i in range(0, len(tokens), 2)] if rng.random() < 0.3 else [tokens]
    rng.shuffle(groups)  # options in another order (pairs kept together)
    line = [t for group in groups for t in group]
    if rng.random() < 0.15:
        line.insert(rng.randrange(len(line) + 1), rng.choice(_STRAY))
    return [name, *line]


@pytest.mark.parametrize("name", flags.HOT)
def test_random_command_lines_give_what_typer_gives(files, recorded, capsys, name):
    import random

    rng = random.Random(f"launch-{name}")
    parsed = 0
    for _ in range(150):
        args = _random_line(rng, name)
        launched = _through(launch.main, capsys, recorded, args)
        assert launched == _through(cli_app.main, capsys, recorded, args), args
        parsed += launch.parse(args) is not None
    assert parsed > 30  # a good share ran through the launcher's own parsing
