"""The native commands: itk2seg, seg2itk, bin2label, info, validate, demo.

Each parses its flags, builds the library's option objects, calls the pipeline and
prints the report.  Heavy modules (numpy, pydicom) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labelmap.cli.options import (
    DEFAULT_TOLERANCE,
    Compression,
    CompressionOption,
    DeflateLevel,
    FractionalType,
    KeepEmptySlices,
    OutFormat,
    Palette,
    Prefix,
    Quiet,
    SegArgument,
    SegType,
    SeriesUid,
    Tolerance,
    read_keywords,
    relabel_keywords,
    seg_keywords,
)
from labelmap.cli.output import Printer, check_output_file

if TYPE_CHECKING:
    from labelmap.validate import SegValidation

#: Advice per hint code (:data:`labelmap.errors.HINTS`), in the native commands' flags.
HINT_TEXT = {
    "renumber": "--renumber",
    "keep_empty_slices": "use --keep-empty-slices or write a LABELMAP",
    "type_fractional": "use --type fractional for probability maps",
    "type_binary": "write a classic SEG with --type binary or --type auto",
    "tolerance": "--tolerance MM accepts small differences",
    "palette_labelmap_only": "--palette applies to LABELMAP only",
}


def itk2seg(  # noqa: PLR0913 - a command's parameters are its flags
    labels: Annotated[
        list[Path], typer.Argument(help="Label image(s): .nrrd, .nhdr, .nii or .nii.gz; or one 3D Slicer .seg.nrrd.")
    ],
    dicom: Annotated[
        list[Path],
        typer.Option("--dicom", "-d", help="Source series: a folder (searched recursively) or files; repeatable."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output DICOM SEG file.")],
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            "-m",
            help="dcmqi segmentation metadata JSON (optional for a .seg.nrrd: its entries then replace the file's, "
            "inner list i = layer i).",
        ),
    ] = None,
    seg_type: Annotated[
        SegType,
        typer.Option("--type", help="auto: LABELMAP unless segments of different files overlap, then BINARY."),
    ] = SegType.auto,
    fractional_type: Annotated[
        FractionalType, typer.Option("--fractional-type", help="For --type fractional.")
    ] = FractionalType.probability,
    palette: Palette = False,
    keep_empty_slices: KeepEmptySlices = False,
    renumber: Annotated[
        bool,
        typer.Option(
            "--renumber", help="Segment Numbers 1..N (files in order, labels ascending) instead of the label values."
        ),
    ] = False,
    compression: CompressionOption = Compression("deflate"),
    deflate_level: DeflateLevel = 6,
    series_uid: SeriesUid = None,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    quiet: Quiet = False,
) -> None:
    """Label image(s) + dcmqi JSON + source DICOM series -> DICOM SEG."""
    from labelmap.pipeline.convert import itk_to_seg
    from labelmap.pipeline.options import WriteOptions

    out = Printer(quiet)
    check_output_file(output, "--output")
    options = WriteOptions(
        seg_type=seg_type.value,
        numbering="sequential" if renumber else "auto",
        palette=palette,
        keep_empty_slices=keep_empty_slices,
        compression=compression.value,
        deflate_level=deflate_level,
        fractional_type=fractional_type.value,
        tol_mm=tolerance,
    )
    with out.status("writing DICOM SEG"):
        report = itk_to_seg(labels, dicom, metadata, output, series_uid=series_uid, **seg_keywords(options))
    out.wrote_seg(report)


def seg2itk(
    seg: SegArgument,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Existing folder for the label image and meta.json.")
    ],
    fmt: Annotated[
        OutFormat,
        typer.Option(
            "--format",
            "-f",
            help="Output image format (segnrrd: one 3D Slicer <prefix or SEG name>.seg.nrrd with every segment).",
        ),
    ] = OutFormat.nrrd,
    prefix: Prefix = "",
    reference: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference",
            "-r",
            help="Source series (folder or files): output on its full grid, skipped slices filled with background.",
        ),
    ] = None,
    series_uid: SeriesUid = None,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    merge_segments: Annotated[
        bool,
        typer.Option(
            "--merge-segments",
            help="BINARY/FRACTIONAL: the fewest files of non-overlapping segments instead of one per segment.",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """DICOM SEG -> label image(s) + dcmqi meta.json."""
    from labelmap.pipeline.convert import seg_to_itk
    from labelmap.pipeline.options import ReadOptions

    out = Printer(quiet)
    options = ReadOptions(
        fmt=fmt.value, prefix=prefix, merge_segments=merge_segments, tol_mm=tolerance, create_dir=False
    )
    with out.status("reading DICOM SEG"):
        report = seg_to_itk(
            seg, output_dir, reference=reference or None, series_uid=series_uid, **read_keywords(options)
        )
    out.wrote_labels(report)


def bin2label(
    seg: Annotated[Path, typer.Argument(help="BINARY DICOM SEG file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output LABELMAP SEG file.")],
    palette: Palette = False,
    force_16bit: Annotated[bool, typer.Option("--force-16bit", help="16-bit pixels even when 8 would do.")] = False,
    compression: CompressionOption = Compression("deflate"),
    deflate_level: DeflateLevel = 6,
    keep_empty_slices: KeepEmptySlices = False,
    quiet: Quiet = False,
) -> None:
    """BINARY SEG -> LABELMAP SEG (refuses overlapping segments, naming the pairs)."""
    from labelmap.pipeline.convert import binary_to_labelmap
    from labelmap.pipeline.options import WriteOptions

    out = Printer(quiet)
    options = WriteOptions(
        palette=palette,
        force_16bit=force_16bit,
        compression=compression.value,
        deflate_level=deflate_level,
        keep_empty_slices=keep_empty_slices,
    )
    with out.status("re-encoding as LABELMAP"):
        report = binary_to_labelmap(seg, output, **relabel_keywords(options))
    out.wrote_seg(report)


def info(seg: SegArgument) -> None:
    """Summarise a DICOM SEG: type, syntax, frames, geometry, segments with codes and voxel counts."""
    from labelmap.cli.info import describe_seg

    describe_seg(seg)


def validate(
    segs: Annotated[list[Path], typer.Argument(metavar="SEG...", help="DICOM SEG file(s).")],
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout instead of text lines.")] = False,
    deep: Annotated[
        bool | None,
        typer.Option(
            "--deep/--no-deep",
            help="Read every per-frame item with pydicom (codes, item counts); default: only up to 2000 frames.",
        ),
    ] = None,
) -> None:
    """Check SEG file(s) against the Segmentation IOD rules; one line per violation, exit 1 on errors."""
    import json

    from labelmap.validate import check_seg

    results = [check_seg(seg, deep=deep) for seg in segs]
    failed = any(r.errors or (strict and r.warnings) for r in results)
    if as_json:
        typer.echo(json.dumps(_validation_document(results, valid=not failed), indent=2))
    else:
        for r in results:
            for v in r.violations:
                typer.echo(v.format(r.name))
            typer.echo(_verdict(r))
    if failed:
        raise typer.Exit(1)


def _validation_document(results: list[SegValidation], *, valid: bool) -> dict[str, object]:
    """``validate --json``: per file its counts and violations, then the totals."""
    return {
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
        "valid": valid,
    }


def _verdict(r: SegValidation) -> str:
    """``<file>: valid (LABELMAP, 4 frames, ...)`` or ``<file>: 2 errors, 1 warning (...)``."""
    items = None
    if r.segmentation_type is not None:
        items = "per-frame items read" if r.per_frame_items_checked else "per-frame values only; --deep reads items"
    frames = f"{r.frames} frames" if r.frames is not None else None
    what = ", ".join(part for part in (r.segmentation_type, frames, items) if part)
    counts = [
        f"{len(found)} {word}{'' if len(found) == 1 else 's'}"
        for found, word in ((r.errors, "error"), (r.warnings, "warning"))
    ]
    verdict = (
        "valid"
        if not r.violations
        else ("valid with " if not r.errors else "") + ", ".join(c for c in counts if not c.startswith("0 "))
    )
    return f"{r.name}: {verdict}" + (f" ({what})" if what else "")


def demo(
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", "-o", help="Keep the files here (default: a temporary folder).")
    ] = None,
    organs: Annotated[int, typer.Option("--organs", help="Number of organ labels in the sample.")] = 40,
    size: Annotated[int, typer.Option("--size", help="Rows and columns of the sample CT.")] = 256,
    slices: Annotated[int, typer.Option("--slices", help="Slices of the sample CT.")] = 120,
    quiet: Quiet = False,
) -> None:
    """Make a synthetic CT + organ label map, convert to LABELMAP SEG and back, check, print sizes and times."""
    from labelmap.demo import run_demo

    ok = run_demo(output_dir, organs=organs, size=size, slices=slices, echo=Printer(quiet).echo)
    if not ok:
        raise typer.Exit(1)
