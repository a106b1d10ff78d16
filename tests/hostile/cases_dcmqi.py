"""The dcmqi-compatible commands with odd flags and mapping lists."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from _args import dcmqi_write, meta_file, out_dir
from _base import Base
from _harness import Case, Run

LM = ["--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"]


def case(name: str, build: Callable[[Base, Path], Run], *, slow=False) -> Case:
    return Case(f"dcmqi/{name}", "dcmqi", build, slow)


def two_labels(base: Base, root: Path) -> list[Path]:
    """The base label map twice, as a/lab.nrrd and b/lab.nrrd (same ending)."""
    out = []
    for d in ("a", "b"):
        (root / d).mkdir()
        shutil.copy(base.lab, root / d / "lab.nrrd")
        out.append(root / d / "lab.nrrd")
    return out


def mapping(base: Base, root: Path, names, lists: int = 1) -> Path:
    def edit(doc: dict) -> None:
        doc["segmentAttributes"] = [doc["segmentAttributes"][0]] * lists
        doc["segmentAttributesFileMapping"] = names

    return meta_file(base, root, edit)


def segimage(seg, root: Path, *extra, out=None) -> Run:
    out = out if out is not None else out_dir(root)
    return Run(["segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", out, *extra], output=out)


CASES: list[Case] = [
    case(
        "mapping-matches-nothing",
        lambda b, r: dcmqi_write(b, r, meta=mapping(b, r, ["nothing.nrrd"]), extra=LM, expect=1),
    ),
    case(
        "mapping-matches-twice",
        lambda b, r: dcmqi_write(
            b,
            r,
            two_labels(b, r),
            meta=mapping(b, r, ["lab.nrrd", "lab.nrrd"], 2),
            extra=["--segmentationType", "binary"],
        ),
    ),
    case("mapping-shorter-than-lists", lambda b, r: dcmqi_write(b, r, meta=mapping(b, r, [], 1), extra=LM, expect=1)),
    case("mapping-not-a-list", lambda b, r: dcmqi_write(b, r, meta=mapping(b, r, "lab.nrrd"), extra=LM, expect=1)),
    case("mapping-of-numbers", lambda b, r: dcmqi_write(b, r, meta=mapping(b, r, [1]), extra=LM, expect=1)),
    case("mapping-empty-string", lambda b, r: dcmqi_write(b, r, meta=mapping(b, r, [""]), extra=LM)),
    case(
        "absent-labels-in-the-json",
        lambda b, r: dcmqi_write(b, r, meta=meta_file(b, r, _absent(40)), extra=LM, expect=0),
    ),
    case("every-json-label-absent", lambda b, r: dcmqi_write(b, r, meta=meta_file(b, r, _only_absent), extra=LM)),
    case(
        "same-image-twice-labelmap",
        lambda b, r: dcmqi_write(b, r, [b.lab, b.lab], meta=meta_file(b, r, _lists(2)), extra=LM),
    ),
    case(
        "image-list-only-commas",
        lambda b, r: Run(dcmqi_write(b, r).argv[:2] + [",,,"] + dcmqi_write(b, r).argv[3:], expect=1),
    ),
    case(
        "dicom-list-only-commas",
        lambda b, r: _replace(dcmqi_write(b, r, extra=LM), "--inputDICOMDirectory", "--inputDICOMList", ",,", expect=1),
    ),
    case("skip-2", lambda b, r: dcmqi_write(b, r, extra=[*LM, "--skip", "2"], expect=1)),
    case("compress-zip", lambda b, r: dcmqi_write(b, r, extra=[*LM, "--compress", "zip"], expect=1)),
    case("segmentation-type-upper-case", lambda b, r: dcmqi_write(b, r, extra=["--segmentationType", "LABELMAP"])),
    case("segmentation-type-fractional", lambda b, r: dcmqi_write(b, r, extra=["--segmentationType", "fractional"])),
    case("output-folder-missing", lambda b, r: dcmqi_write(b, r, output=r / "missing" / "x.dcm", expect=1)),
    case(
        "segimage2itkimage-output-folder-missing",
        lambda b, r: (
            segimage(b.lm, r, out=r / "missing", expect_=None)
            if False
            else Run(["segimage2itkimage", "--inputDICOM", b.lm, "--outputDirectory", r / "missing"], expect=1)
        ),
    ),
    case("segimage2itkimage-type-mha", lambda b, r: Run([*segimage(b.lm, r).argv, "-t", "mha"], expect=1)),
    case("segimage2itkimage-binary-merge", lambda b, r: segimage(b.segs["bin-none"], r, "--mergeSegments")),
    case("segimage2itkimage-fractional-nifti", lambda b, r: segimage(b.segs["frac-deflate"], r, "-t", "nifti")),
    case("segimage2itkimage-prefix-empty", lambda b, r: segimage(b.lm, r, "-p", "")),
    case(
        "bin2labelsegimage-on-a-ct",
        lambda b, r: Run(
            ["bin2labelsegimage", "--inputDICOM", sorted(b.ct.glob("*.dcm"))[0], "--outputDICOM", out_dir(r) / "x.dcm"],
            expect=1,
        ),
    ),
    case(
        "bin2labelsegimage-compress-j2k",
        lambda b, r: Run(
            ["bin2labelsegimage", "--inputDICOM", b.binary, "--outputDICOM", out_dir(r) / "x.dcm", "--compress", "j2k"],
            expect=1,
        ),
    ),
    case(
        "bin2labelsegimage-fractional-input",
        lambda b, r: Run(
            ["bin2labelsegimage", "--inputDICOM", b.segs["frac-none"], "--outputDICOM", out_dir(r) / "x.dcm"], expect=1
        ),
    ),
    case("itkimage2segimage-unknown-flag", lambda b, r: dcmqi_write(b, r, extra=["--frobnicate"], expect=1)),
    case("itkimage2segimage-metadata-missing", lambda b, r: dcmqi_write(b, r, meta=r / "none.json", expect=1)),
]


def _absent(n: int) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        first = doc["segmentAttributes"][0][0]
        doc["segmentAttributes"][0] += [{**first, "labelID": 10 + i, "SegmentLabel": f"absent {i}"} for i in range(n)]

    return edit


def _only_absent(doc: dict) -> None:
    for i, s in enumerate(doc["segmentAttributes"][0]):
        s["labelID"] = 100 + i


def _lists(n: int) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["segmentAttributes"] = [doc["segmentAttributes"][0]] * n

    return edit


def _replace(run: Run, flag: str, new_flag: str, value: str, expect=None) -> Run:
    argv = list(run.argv)
    i = argv.index(flag)
    argv[i : i + 2] = [new_flag, value]
    return Run(argv, run.output, expect)
