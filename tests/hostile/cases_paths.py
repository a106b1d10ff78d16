"""Hostile paths: empty strings, FIFOs, devices, over-long names, outputs onto inputs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from _args import dcmqi_write, itk2seg, out_dir
from _base import Base, copy_tree, ct_files
from _harness import Case, Run

NAME_300 = "n" * 296 + ".dcm"
NAME_250 = "n" * 246 + ".dcm"


def fifo(root: Path, name: str) -> Path:
    path = root / name
    os.mkfifo(path)
    return path


def link(root: Path, name: str, target: str) -> Path:
    path = root / name
    os.symlink(target, path)
    return path


def case(name: str, build: Callable[[Base, Path], Run], *, slow=False) -> Case:
    return Case(f"path/{name}", "path", build, slow)


def seg_copy(base: Base, root: Path, key: str = "lm", name: str = "in.seg.dcm") -> Path:
    path = root / name
    shutil.copy(base.lm if key == "lm" else base.binary if key == "binary" else base.segs[key], path)
    return path


def ct_with(base: Base, root: Path, extra: Callable[[Path], object]) -> Path:
    ct = copy_tree(base.ct, root / "ct")
    extra(ct)
    return ct


CASES: list[Case] = [
    # ---- empty strings
    case("itk2seg-empty-label", lambda b, r: itk2seg(b, r, "", expect=1)),
    case("itk2seg-empty-dicom", lambda b, r: itk2seg(b, r, dicom="", expect=1)),
    case("itk2seg-empty-metadata", lambda b, r: itk2seg(b, r, meta="", expect=1)),
    case("itk2seg-empty-output", lambda b, r: itk2seg(b, r, output="", expect=1)),
    case("seg2itk-empty-input", lambda b, r: Run(["seg2itk", "", "-o", out_dir(r)], output=r / "out", expect=1)),
    case("seg2itk-empty-output", lambda b, r: Run(["seg2itk", b.lm, "-o", ""], expect=1)),
    case("info-empty", lambda b, r: Run(["info", ""], expect=1)),
    case("validate-empty", lambda b, r: Run(["validate", ""], expect=1)),
    case(
        "segimage2itkimage-empty-output-dir",
        lambda b, r: Run(["segimage2itkimage", "--inputDICOM", b.lm, "--outputDirectory", ""], expect=1),
    ),
    case("bin2label-empty-output", lambda b, r: Run(["bin2label", b.binary, "-o", ""], expect=1)),
    case("itkimage2segimage-empty-output", lambda b, r: dcmqi_write(b, r, output="", expect=1)),
    case("dcmqi-empty-dicom-directory", lambda b, r: dcmqi_write(b, r, dicom="", expect=1)),
    # ---- non-existent, folders for files
    case("info-missing", lambda b, r: Run(["info", r / "gone.dcm"], expect=1)),
    case("validate-missing", lambda b, r: Run(["validate", r / "gone.dcm"], expect=1)),
    case("info-folder", lambda b, r: Run(["info", b.ct], expect=1)),
    case("validate-folder", lambda b, r: Run(["validate", b.ct], expect=1)),
    case(
        "seg2itk-output-is-a-file", lambda b, r: Run(["seg2itk", b.lm, "-o", seg_copy(b, r, name="file.txt")], expect=1)
    ),
    case("metadata-is-a-folder-named-json", lambda b, r: itk2seg(b, r, meta=_mkdir(r / "m.json"), expect=1)),
    # ---- FIFOs (must never block)
    case("label-is-a-fifo", lambda b, r: itk2seg(b, r, fifo(r, "lab.nrrd"), expect=1)),
    case("metadata-is-a-fifo", lambda b, r: itk2seg(b, r, meta=fifo(r, "m.json"), expect=1)),
    case("info-on-a-fifo", lambda b, r: Run(["info", fifo(r, "seg.dcm")], expect=1)),
    case("seg2itk-on-a-fifo", lambda b, r: Run(["seg2itk", fifo(r, "seg.dcm"), "-o", out_dir(r)], expect=1)),
    case(
        "fifo-in-the-ct-folder",
        lambda b, r: itk2seg(b, r, dicom=ct_with(b, r, lambda d: os.mkfifo(d / "CT999999.dcm"))),
    ),
    case(
        "ct-list-holds-a-fifo",
        lambda b, r: dcmqi_write(b, r, dicom=None, extra=["--inputDICOMList", str(fifo(r, "x.dcm"))]),
    ),
    # ---- devices
    case("info-dev-zero", lambda b, r: Run(["info", "/dev/zero"], expect=1)),
    case("validate-dev-zero", lambda b, r: Run(["validate", "/dev/zero"], expect=1)),
    case("seg2itk-dev-zero", lambda b, r: Run(["seg2itk", "/dev/zero", "-o", out_dir(r)], expect=1)),
    case(
        "bin2label-dev-urandom", lambda b, r: Run(["bin2label", "/dev/urandom", "-o", out_dir(r) / "x.dcm"], expect=1)
    ),
    case("label-nrrd-links-to-dev-zero", lambda b, r: itk2seg(b, r, link(r, "zero.nrrd", "/dev/zero"), expect=1)),
    case("label-nii.gz-links-to-dev-zero", lambda b, r: itk2seg(b, r, link(r, "zero.nii.gz", "/dev/zero"), expect=1)),
    case("label-nii-links-to-dev-urandom", lambda b, r: itk2seg(b, r, link(r, "rand.nii", "/dev/urandom"), expect=1)),
    case("metadata-links-to-dev-zero", lambda b, r: itk2seg(b, r, meta=link(r, "m.json", "/dev/zero"), expect=1)),
    case(
        "ct-folder-links-to-dev-zero",
        lambda b, r: itk2seg(b, r, dicom=ct_with(b, r, lambda d: os.symlink("/dev/zero", d / "CTzero.dcm"))),
    ),
    case("output-dev-full", lambda b, r: itk2seg(b, r, output=Path("/dev/full"), expect=1)),
    case("output-dev-null", lambda b, r: itk2seg(b, r, output=Path("/dev/null"), expect=1)),
    case("seg2itk-output-dev-full", lambda b, r: Run(["seg2itk", b.lm, "-o", "/dev/full"], expect=1)),
    case(
        "bin2labelsegimage-output-dev-full",
        lambda b, r: Run(["bin2labelsegimage", "--inputDICOM", b.binary, "--outputDICOM", "/dev/full"], expect=1),
    ),
    # ---- long names
    case("output-name-300-bytes", lambda b, r: itk2seg(b, r, output=out_dir(r) / NAME_300, expect=1)),
    case("output-name-250-bytes", lambda b, r: itk2seg(b, r, output=out_dir(r) / NAME_250, expect=0)),
    case(
        "bin2label-output-name-255-bytes",
        lambda b, r: _out(Run(["bin2label", b.binary, "-o", out_dir(r) / ("b" * 251 + ".dcm")]), expect=0),
    ),
    case(
        "seg2itk-prefix-250-bytes",
        lambda b, r: Run(["seg2itk", b.lm, "-o", out_dir(r), "--prefix", "p" * 250], output=r / "out"),
    ),
    case(
        "seg2itk-prefix-300-bytes",
        lambda b, r: Run(["seg2itk", b.lm, "-o", out_dir(r), "--prefix", "p" * 300], output=r / "out", expect=1),
    ),
    case(
        "segimage2itkimage-prefix-250-bytes",
        lambda b, r: Run(
            ["segimage2itkimage", "--inputDICOM", b.lm, "--outputDirectory", out_dir(r), "-p", "p" * 250],
            output=r / "out",
        ),
    ),
    case("label-name-300-bytes", lambda b, r: itk2seg(b, r, r / ("l" * 296 + ".nrrd"), expect=1)),
    case(
        "path-longer-than-path-max", lambda b, r: itk2seg(b, r, r / ("/".join(["d" * 200] * 25) + "/x.nrrd"), expect=1)
    ),
    case("output-name-with-newline", lambda b, r: itk2seg(b, r, output=out_dir(r) / "a\nb.dcm")),
    case(
        "output-name-not-utf8",
        lambda b, r: itk2seg(b, r, output=Path(os.fsdecode(bytes(out_dir(r)) + b"/x\xff\xfe.dcm"))),
    ),
    case("output-name-dash", lambda b, r: Run(["itk2seg", b.lab, "-d", b.ct, "-m", b.meta, "-o", "-"], output=r / "-")),
    # ---- outputs onto inputs
    case(
        "output-onto-a-ct-file",
        lambda b, r: itk2seg(b, r, dicom=copy_tree(b.ct, r / "ct"), output=r / "ct" / "CT000003.dcm", expect=1),
    ),
    case("output-onto-a-ct-file-via-relative-path", lambda b, r: _relative_ct(b, r)),
    case(
        "output-onto-the-label-file",
        lambda b, r: itk2seg(b, r, _copy(b.lab, r / "lab.nrrd"), output=r / "lab.nrrd", expect=1),
    ),
    case(
        "output-onto-the-metadata",
        lambda b, r: itk2seg(b, r, meta=_copy(b.meta, r / "m.json"), output=r / "m.json", expect=1),
    ),
    case("dcmqi-output-onto-a-listed-ct-file", lambda b, r: _dcmqi_onto_list(b, r)),
    case(
        "bin2label-output-is-input",
        lambda b, r: Run(["bin2label", seg_copy(b, r, "binary"), "-o", r / "in.seg.dcm"], expect=1),
    ),
    case("bin2label-output-is-input-via-symlink", lambda b, r: _bin2label_symlink(b, r)),
    case("seg2itk-output-folder-holds-the-input-as-1.nrrd", lambda b, r: _seg_named_like_output(b, r)),
    case(
        "ct-folder-with-symlink-loop",
        lambda b, r: itk2seg(b, r, dicom=ct_with(b, r, lambda d: os.symlink("..", d / "loop"))),
    ),
    case(
        "ct-folder-with-dangling-symlink",
        lambda b, r: itk2seg(b, r, dicom=ct_with(b, r, lambda d: os.symlink("/nonexistent/x", d / "CT000099.dcm"))),
    ),
    case(
        "ct-folder-with-self-symlink",
        lambda b, r: itk2seg(b, r, dicom=ct_with(b, r, lambda d: os.symlink("self.dcm", d / "self.dcm"))),
    ),
]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


def _out(run: Run, expect=None) -> Run:
    return Run(run.argv, Path(run.argv[run.argv.index("-o") + 1]), expect)


def _relative_ct(base: Base, root: Path) -> Run:
    ct = copy_tree(base.ct, root / "ct")
    (root / "sub").mkdir()
    return itk2seg(base, root, dicom=ct, output=root / "sub" / ".." / "ct" / "." / "CT000001.dcm", expect=1)


def _dcmqi_onto_list(base: Base, root: Path) -> Run:
    ct = copy_tree(base.ct, root / "ct")
    files = ",".join(str(p) for p in ct_files(ct))
    return Run(
        [
            "itkimage2segimage",
            "--inputImageList",
            base.lab,
            "--inputDICOMList",
            files,
            "--inputMetadata",
            base.meta,
            "--outputDICOM",
            ct_files(ct)[0],
            "--segmentationType",
            "labelmap",
        ],
        expect=1,
    )


def _bin2label_symlink(base: Base, root: Path) -> Run:
    seg = seg_copy(base, root, "binary")
    os.symlink(seg.name, root / "alias.dcm")
    return Run(["bin2label", seg, "-o", root / "alias.dcm"], expect=1)


def _seg_named_like_output(base: Base, root: Path) -> Run:
    out = out_dir(root)
    seg = out / "1.nrrd"
    shutil.copy(base.lm, seg)
    return Run(["segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", out], expect=1)
