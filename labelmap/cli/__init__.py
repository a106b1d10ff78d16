"""The ``labelmap-convert`` command line: parses, calls :mod:`labelmap.pipeline.convert`, prints.

Exit codes: 0 success; 1 a user error (one line on stderr, no traceback).
Heavy modules (numpy, pydicom, nibabel) are imported inside the commands so
``--help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="labelmap-convert",
    help="Convert NRRD / NIfTI label maps + dcmqi JSON to and from DICOM Segmentation (LABELMAP).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULT_TOLERANCE = 0.01


class Compression(str, Enum):
    none = "none"
    deflate = "deflate"
    rle = "rle"
    jpegls = "jpegls"
    j2k = "j2k"


class SegType(str, Enum):
    labelmap = "labelmap"
    binary = "binary"
    fractional = "fractional"
    auto = "auto"


class FractionalType(str, Enum):
    probability = "probability"
    occupancy = "occupancy"


class OutFormat(str, Enum):
    nrrd = "nrrd"
    nifti = "nifti"
    segnrrd = "segnrrd"  # one 3D Slicer .seg.nrrd holding every segment


class _State:
    quiet = False


def _setup_logging(quiet: bool) -> None:
    _State.quiet = quiet
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    root = logging.getLogger("labelmap")
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    root.propagate = False


def _echo(message: str) -> None:
    if not _State.quiet:
        typer.echo(message)


def _warn(messages: list[str]) -> None:
    if not _State.quiet:
        for m in messages:
            typer.echo(f"warning: {m}", err=True)


def _status(message: str):
    """A rich spinner on stderr for long steps (only on a terminal, never with --quiet)."""
    import contextlib

    if _State.quiet or not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _split_list(values: list[str] | None) -> list[str]:
    """dcmqi list syntax: comma-separated, possibly given several times."""
    out: list[str] = []
    for v in values or []:
        out.extend(p for p in v.split(",") if p)
    return out


def _check_output_file(path: Path, flag: str) -> None:
    """An output file path must not name an existing folder (else the final rename fails with a traceback)."""
    from labelmap.errors import OutputError

    if path.is_dir():
        raise OutputError(f"{flag} {str(path)!r} is a folder; give a file name such as {str(path / 'seg.dcm')!r}")


def _report_write(report) -> None:
    _warn(report.warnings)
    _echo(
        f"wrote {report.output} ({report.segmentation_type}, {report.frames} frames, {report.segments} segments, "
        f"{report.bits_allocated}-bit, {report.transfer_syntax}, {_size(report.size_bytes)}) in {report.seconds:.2f} s"
    )


def _report_read(report) -> None:
    _warn(report.warnings)
    names = ", ".join(str(p) for p in report.outputs)
    _echo(
        f"wrote {names} and {report.metadata} ({report.segments} segments, grid "
        f"{report.shape[2]}x{report.shape[1]}x{report.shape[0]}) in {report.seconds:.2f} s"
    )


# --------------------------------------------------------------------------- native commands
@app.command("itk2seg")
def itk2seg(
    labels: list[Path] = typer.Argument(
        ..., help="Label image(s): .nrrd, .nhdr, .nii or .nii.gz; or one 3D Slicer .seg.nrrd."
    ),
    dicom: list[Path] = typer.Option(
        ..., "--dicom", "-d", help="Source series: a folder (searched recursively) or files; repeatable."
    ),
    metadata: Path | None = typer.Option(
        None,
        "--metadata",
        "-m",
        help="dcmqi segmentation metadata JSON (optional for a .seg.nrrd: its entries then replace the file's, inner list i = layer i).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output DICOM SEG file."),
    seg_type: SegType = typer.Option(
        SegType.auto, "--type", help="auto: LABELMAP unless segments of different files overlap, then BINARY."
    ),
    fractional_type: FractionalType = typer.Option(
        FractionalType.probability, "--fractional-type", help="For --type fractional."
    ),
    palette: bool = typer.Option(
        False, "--palette", help="PALETTE COLOR with a colour LUT instead of MONOCHROME2 + CIELab."
    ),
    keep_empty_slices: bool = typer.Option(
        False, "--keep-empty-slices", help="Write a frame for every slice, even empty ones."
    ),
    renumber: bool = typer.Option(
        False, "--renumber", help="Segment Numbers 1..N (files in order, labels ascending) instead of the label values."
    ),
    compression: Compression = typer.Option(
        Compression.deflate,
        "--compression",
        help="Transfer syntax, all lossless (deflate: smallest file that every peer reads, at the speed of none; see README).",
    ),
    deflate_level: int = typer.Option(
        6, "--deflate-level", min=1, max=9, help="Deflate effort 1-9 (8: about 10 % smaller, slower)."
    ),
    series_uid: str | None = typer.Option(
        None, "--series-uid", help="Source series to use when the folder holds several."
    ),
    tolerance: float = typer.Option(
        DEFAULT_TOLERANCE, "--tolerance", min=0.0, help="Largest allowed label/source plane mismatch, mm."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only."),
) -> None:
    """Label image(s) + dcmqi JSON + source DICOM series -> DICOM SEG."""
    _setup_logging(quiet)
    from labelmap.pipeline.convert import itk_to_seg

    _check_output_file(output, "--output")
    with _status("writing DICOM SEG"):
        report = itk_to_seg(
            labels,
            dicom,
            metadata,
            output,
            seg_type=seg_type.value,
            numbering="sequential" if renumber else "auto",
            palette=palette,
            fractional_type=fractional_type.value,
            keep_empty_slices=keep_empty_slices,
            compression=compression.value,
            series_uid=series_uid,
            tol_mm=tolerance,
            deflate_level=deflate_level,
        )
    _report_write(report)


@app.command("seg2itk")
def seg2itk(
    seg: Path = typer.Argument(..., help="DICOM SEG file."),
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-o", help="Existing folder for the label image and meta.json."
    ),
    fmt: OutFormat = typer.Option(
        OutFormat.nrrd,
        "--format",
        "-f",
        help="Output image format (segnrrd: one 3D Slicer <prefix or SEG name>.seg.nrrd with every segment).",
    ),
    prefix: str = typer.Option("", "--prefix", "-p", help="File name prefix: <prefix>-1.nrrd, <prefix>-meta.json."),
    reference: list[Path] | None = typer.Option(
        None,
        "--reference",
        "-r",
        help="Source series (folder or files): output on its full grid, skipped slices filled with background.",
    ),
    series_uid: str | None = typer.Option(
        None, "--series-uid", help="Reference series to use when the folder holds several."
    ),
    tolerance: float = typer.Option(
        DEFAULT_TOLERANCE, "--tolerance", min=0.0, help="Largest allowed frame/reference plane mismatch, mm."
    ),
    merge_segments: bool = typer.Option(
        False,
        "--merge-segments",
        help="BINARY/FRACTIONAL: the fewest files of non-overlapping segments instead of one per segment.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only."),
) -> None:
    """DICOM SEG -> label image(s) + dcmqi meta.json."""
    _setup_logging(quiet)
    from labelmap.pipeline.convert import seg_to_itk

    with _status("reading DICOM SEG"):
        report = seg_to_itk(
            seg,
            output_dir,
            fmt=fmt.value,
            prefix=prefix,
            reference=reference or None,
            series_uid=series_uid,
            tol_mm=tolerance,
            merge_segments=merge_segments,
            create_dir=False,
        )
    _report_read(report)


@app.command("info")
def info(
    seg: Path = typer.Argument(..., help="DICOM SEG file."),
) -> None:
    """Summarise a DICOM SEG: type, syntax, frames, geometry, segments with codes and voxel counts."""
    _setup_logging(False)
    from labelmap.cli.info import describe_seg

    describe_seg(seg)


@app.command("validate")
def validate(
    segs: list[Path] = typer.Argument(..., metavar="SEG...", help="DICOM SEG file(s)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 1)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout instead of text lines."),
    deep: bool | None = typer.Option(
        None,
        "--deep/--no-deep",
        help="Read every per-frame item with pydicom (codes, item counts); default: only up to 2000 frames.",
    ),
) -> None:
    """Check SEG file(s) against the Segmentation IOD rules; one line per violation, exit 1 on errors."""
    _setup_logging(False)
    import json

    from labelmap.validate import check_seg

    results = [check_seg(seg, deep=deep) for seg in segs]
    failed = any(r.errors or (strict and r.warnings) for r in results)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "files": [
                        {
                            "file": r.name,
                            "segmentation_type": r.segmentation_type,
                            "frames": r.frames,
                            "per_frame_items_checked": r.per_frame_items_checked,
                            "errors": len(r.errors),
                            "warnings": len(r.warnings),
                            "violations": [v.to_dict() for v in r.violations],
                        }
                        for r in results
                    ],
                    "errors": sum(len(r.errors) for r in results),
                    "warnings": sum(len(r.warnings) for r in results),
                    "valid": not failed,
                },
                indent=2,
            )
        )
    else:
        for r in results:
            for v in r.violations:
                typer.echo(v.format(r.name))
            what = ", ".join(
                part
                for part in (
                    r.segmentation_type,
                    f"{r.frames} frames" if r.frames is not None else None,
                    None
                    if r.segmentation_type is None
                    else (
                        "per-frame items read"
                        if r.per_frame_items_checked
                        else "per-frame values only; --deep reads items"
                    ),
                )
                if part
            )
            counts = [
                f"{len(found)} {word}{'' if len(found) == 1 else 's'}"
                for found, word in ((r.errors, "error"), (r.warnings, "warning"))
            ]
            verdict = (
                "valid"
                if not r.violations
                else ("valid with " if not r.errors else "") + ", ".join(c for c in counts if not c.startswith("0 "))
            )
            typer.echo(f"{r.name}: {verdict}" + (f" ({what})" if what else ""))
    if failed:
        raise typer.Exit(1)


@app.command("demo")
def demo(
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Keep the files here (default: a temporary folder)."
    ),
    organs: int = typer.Option(40, "--organs", help="Number of organ labels in the sample."),
    size: int = typer.Option(256, "--size", help="Rows and columns of the sample CT."),
    slices: int = typer.Option(120, "--slices", help="Slices of the sample CT."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Make a synthetic CT + organ label map, convert to LABELMAP SEG and back, check, print sizes and times."""
    _setup_logging(quiet)
    from labelmap.demo import run_demo

    ok = run_demo(output_dir, organs=organs, size=size, slices=slices, echo=_echo)
    if not ok:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- dcmqi-compatible commands
@app.command("itkimage2segimage", context_settings={"allow_interspersed_args": True})
def itkimage2segimage(
    input_image_list: list[str] = typer.Option(..., "--inputImageList", help="Comma-separated label images."),
    input_metadata: Path = typer.Option(..., "--inputMetadata", help="dcmqi metadata JSON."),
    output_dicom: Path = typer.Option(..., "--outputDICOM", help="Output SEG file."),
    input_dicom_directory: Path | None = typer.Option(
        None, "--inputDICOMDirectory", help="Source series folder (recursive)."
    ),
    input_dicom_list: list[str] | None = typer.Option(None, "--inputDICOMList", help="Comma-separated source files."),
    segmentation_type: str = typer.Option("binary", "--segmentationType", help="binary (dcmqi's default) or labelmap."),
    use_label_id: bool = typer.Option(False, "--useLabelIDAsSegmentNumber", help="Segment Number = label value."),
    skip: int = typer.Option(1, "--skip", help="1: skip empty slices; 0: keep them."),
    compress: str = typer.Option("none", "--compress", help="none or deflate."),
    references_geometry_check: int = typer.Option(
        1, "--referencesGeometryCheck", help="Accepted for compatibility; geometry is always checked."
    ),
    no_dicom_value_checks: bool = typer.Option(False, "--noDicomValueChecks", help="Accepted for compatibility."),
    verbose: bool = typer.Option(False, "--verbose", help="More output."),
) -> None:
    """dcmqi-compatible: same flags, list syntax and defaults as dcmqi 1.5.7's itkimage2segimage."""
    _setup_logging(False)
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import itk_to_seg

    seg_type = segmentation_type.lower()
    if seg_type not in ("binary", "labelmap"):
        raise InputError(f"--segmentationType must be binary or labelmap, got {segmentation_type!r}")
    if skip not in (0, 1):
        raise InputError(f"--skip must be 0 or 1, got {skip}")
    if compress not in ("none", "deflate"):
        raise InputError(f"--compress must be none or deflate, got {compress!r}")
    _check_output_file(output_dicom, "--outputDICOM")
    dicom: list[Path] = []
    if input_dicom_directory is not None:
        dicom.append(input_dicom_directory)
    dicom.extend(Path(p) for p in _split_list(input_dicom_list))
    if not dicom:
        raise InputError("give the source series with --inputDICOMDirectory or --inputDICOMList")
    report = itk_to_seg(
        [Path(p) for p in _split_list(input_image_list)],
        dicom,
        input_metadata,
        output_dicom,
        seg_type=seg_type,
        numbering="label" if use_label_id else "sequential",
        keep_empty_slices=(skip == 0),
        compression=compress,
    )
    _report_write(report)


@app.command("segimage2itkimage")
def segimage2itkimage(
    input_dicom: Path = typer.Option(..., "--inputDICOM", help="Input SEG file."),
    output_directory: Path = typer.Option(..., "--outputDirectory", help="Existing output folder."),
    prefix: str = typer.Option("", "--prefix", "-p", help="Output file name prefix."),
    output_type: str = typer.Option("nrrd", "--outputType", "-t", help="nrrd, nii or nifti (.nii.gz)."),
    merge_segments: bool = typer.Option(
        False, "--mergeSegments", help="Fewest non-overlapping files (a LABELMAP is one already)."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="More output."),
) -> None:
    """dcmqi-compatible: same flags and output names as dcmqi 1.5.7's segimage2itkimage."""
    _setup_logging(False)
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import seg_to_itk

    kind = output_type.lower()
    if kind not in ("nrrd", "nii", "nifti"):
        raise InputError(f"--outputType {output_type!r} is not supported; use nrrd, nii or nifti")
    report = seg_to_itk(
        input_dicom,
        output_directory,
        fmt="nrrd" if kind == "nrrd" else "nifti",
        prefix=prefix,
        merge_segments=merge_segments,
        create_dir=False,
    )
    _report_read(report)


@app.command("bin2label")
def bin2label(
    seg: Path = typer.Argument(..., help="BINARY DICOM SEG file."),
    output: Path = typer.Option(..., "--output", "-o", help="Output LABELMAP SEG file."),
    palette: bool = typer.Option(False, "--palette", help="PALETTE COLOR with a colour LUT."),
    force_16bit: bool = typer.Option(False, "--force-16bit", help="16-bit pixels even when 8 would do."),
    compression: Compression = typer.Option(
        Compression.deflate,
        "--compression",
        help="Transfer syntax, all lossless (deflate: smallest file that every peer reads, at the speed of none; see README).",
    ),
    deflate_level: int = typer.Option(
        6, "--deflate-level", min=1, max=9, help="Deflate effort 1-9 (8: about 10 % smaller, slower)."
    ),
    keep_empty_slices: bool = typer.Option(False, "--keep-empty-slices", help="A frame for every slice of the grid."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only."),
) -> None:
    """BINARY SEG -> LABELMAP SEG (refuses overlapping segments, naming the pairs)."""
    _setup_logging(quiet)
    from labelmap.pipeline.convert import binary_to_labelmap

    with _status("re-encoding as LABELMAP"):
        report = binary_to_labelmap(
            seg,
            output,
            palette=palette,
            force_16bit=force_16bit,
            compression=compression.value,
            keep_empty_slices=keep_empty_slices,
            deflate_level=deflate_level,
        )
    _report_write(report)


@app.command("bin2labelsegimage")
def bin2labelsegimage(
    input_dicom: Path = typer.Option(..., "--inputDICOM", help="Input BINARY SEG."),
    output_dicom: Path = typer.Option(..., "--outputDICOM", help="Output LABELMAP SEG."),
    use_palette: bool = typer.Option(False, "--usePalette", help="PALETTE COLOR photometric interpretation."),
    force_16bit: bool = typer.Option(False, "--force16Bit", help="16-bit pixels."),
    compress: str = typer.Option("none", "--compress", help="none, rle or deflate."),
    skip: int = typer.Option(1, "--skip", help="1: skip empty slices; 0: keep them."),
    references_geometry_check: int = typer.Option(1, "--referencesGeometryCheck", help="Accepted for compatibility."),
    use_label_id: bool = typer.Option(
        False, "--useLabelIDAsSegmentNumber", help="Accepted for compatibility (numbers are kept)."
    ),
    no_check: bool = typer.Option(False, "--noCheck", help="Accepted for compatibility; overlap is always checked."),
    verbose: bool = typer.Option(False, "--verbose", help="More output."),
) -> None:
    """dcmqi-compatible: same flags as dcmqi 1.5.7's bin2labelsegimage."""
    _setup_logging(False)
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import binary_to_labelmap

    if compress not in ("none", "rle", "deflate"):
        raise InputError(f"--compress must be none, rle or deflate, got {compress!r}")
    if skip not in (0, 1):
        raise InputError(f"--skip must be 0 or 1, got {skip}")
    report = binary_to_labelmap(
        input_dicom,
        output_dicom,
        palette=use_palette,
        force_16bit=force_16bit,
        compression=compress,
        keep_empty_slices=(skip == 0),
    )
    _report_write(report)


# --------------------------------------------------------------------------- entry point
def _quiet_memory() -> None:
    """Before numpy loads in a command's own process: no transparent-huge-page advice on its arrays.

    With the kernel's usual ``defrag=madvise`` a huge-page fault may compact memory
    synchronously; on this 2-core VM that made 3 of 5 writes stall (LABELMAP uncompressed
    0.42-0.58 s against 0.30-0.32 s without, BINARY deflated 0.38-1.10 s against 0.42-0.44 s).
    A value the user set wins; a process that already has numpy (a test, an API caller) is left alone.
    """
    if "numpy" not in sys.modules:
        import os

        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app; user errors become one line on stderr and exit 1."""
    _quiet_memory()
    import warnings

    from labelmap.errors import LabelmapError

    try:
        # Library warnings (pydicom's value checks on damaged input, numpy) would add stray stderr
        # lines; the converter checks what it relies on itself and reports it as one error line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rv = app(args=argv, standalone_mode=False, prog_name="labelmap-convert")
    except LabelmapError as exc:
        # the contract is ONE line on stderr: fold multi-line messages (e.g. lists of series)
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        typer.echo(f"error: {message}", err=True)
        return 1
    except OSError as exc:
        # the environment, not the program: a full disk, a permission, a vanished file
        where = f"{exc.filename!r}: " if exc.filename else ""
        if exc.filename2:
            where = f"{exc.filename!r} -> {exc.filename2!r}: "
        reason = " ".join(str(exc.strerror or exc).split())
        typer.echo(f"error: {where}{reason}; check the path, its permissions and the free disk space", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 1
    except Exception as exc:
        # typer / click signalling: Exit carries a code; usage errors format their own message
        if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
            return int(exc.exit_code or 0)
        if type(exc).__name__ == "Abort":
            typer.echo("error: aborted", err=True)
            return 1
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            message = " ".join(str(exc.format_message()).split())
            typer.echo(f"error: {message} (see --help)", err=True)
            return 1
        raise
    return rv if isinstance(rv, int) else 0


def _entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
