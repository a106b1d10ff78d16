"""The native commands: itk2seg, seg2itk, preview, bin2label, info, validate, demo (typer).

Each parses its flags, builds the library's option objects, calls the pipeline and
prints the report; itk2seg and seg2itk are thin wrappers of their typer-free bodies in
:mod:`labelmap.cli.run_native` (which the launcher calls too).  Heavy modules (numpy,
pydicom) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from labelmap.cli import options as opt
from labelmap.cli import run_native
from labelmap.cli.output import Printer, check_output_file
from labelmap.cli.run_native import HINT_TEXT as HINT_TEXT
from labelmap.cli.run_native import read_slide_seg as read_slide_seg
from labelmap.cli.run_native import word_notes as word_notes
from labelmap.cli.run_native import wrote_preview as _wrote_preview

if TYPE_CHECKING:
    from labelmap.validate import SegValidation


def itk2seg(  # noqa: PLR0913 - a command's parameters are its flags
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
        help="dcmqi segmentation metadata JSON (optional for a .seg.nrrd: its entries then replace the file's, "
        "inner list i = layer i).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output DICOM SEG file."),
    seg_type: opt.SegType = typer.Option(
        opt.SegType.auto, "--type", help="auto: LABELMAP unless segments of different files overlap, then BINARY."
    ),
    fractional_type: opt.FractionalType = typer.Option(
        opt.FractionalType.probability, "--fractional-type", help="For --type fractional."
    ),
    palette: bool = opt.PALETTE,
    keep_empty_slices: bool = opt.KEEP_EMPTY_SLICES,
    renumber: bool = typer.Option(
        False, "--renumber", help="Segment Numbers 1..N (files in order, labels ascending) instead of the label values."
    ),
    keep_absent_segments: bool = typer.Option(
        False,
        "--keep-absent-segments",
        help="Write JSON entries whose label has no voxel as empty segments (default: left out, as dcmqi does).",
    ),
    compression: opt.Compression | None = opt.WRITE_COMPRESSION,
    deflate_level: int = opt.DEFLATE_LEVEL,
    series_uid: str | None = opt.SERIES_UID,
    tolerance: float = opt.TOLERANCE,
    level: int | None = opt.LEVEL,
    tiled: opt.Tiled | None = opt.TILED,
    tile_size: str | None = opt.TILE_SIZE,
    pyramid: bool = opt.PYRAMID,
    deterministic_uids: bool = opt.DETERMINISTIC_UIDS,
    threads: int = opt.THREADS,
    quiet: bool = opt.QUIET,
) -> object:  # its WriteReport (typer resolves annotations at run time)
    """Label image(s) + dcmqi JSON + source DICOM series (or whole-slide image) -> DICOM SEG."""
    return run_native.itk2seg(
        labels=labels,
        dicom=dicom,
        metadata=metadata,
        output=output,
        seg_type=seg_type.value,
        fractional_type=fractional_type.value,
        palette=palette,
        keep_empty_slices=keep_empty_slices,
        renumber=renumber,
        keep_absent_segments=keep_absent_segments,
        compression=compression.value if compression is not None else None,
        deflate_level=deflate_level,
        series_uid=series_uid,
        tolerance=tolerance,
        level=level,
        tiled=tiled.value if tiled is not None else None,
        tile_size=tile_size,
        pyramid=pyramid,
        deterministic_uids=deterministic_uids,
        threads=threads,
        quiet=quiet,
    )


def seg2itk(
    seg: Path = opt.SEG_FILE,
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-o", help="Folder for the label image(s) and meta.json (created when missing)."
    ),
    fmt: opt.OutFormat | None = typer.Option(
        None,
        "--format",
        "-f",
        help="Output image format: nrrd (default; for a slide SEG a 2-D NRRD), nifti, segnrrd (one 3D Slicer "
        "<prefix or SEG name>.seg.nrrd with every segment), ome-tiff (slide SEGs' default).",
        show_default=False,
    ),
    prefix: str = opt.PREFIX,
    reference: list[Path] | None = typer.Option(
        None,
        "--reference",
        "-r",
        help="Source series (folder or files): output on its full grid, skipped slices filled with background.",
    ),
    series_uid: str | None = opt.SERIES_UID,
    tolerance: float = opt.TOLERANCE,
    merge_segments: bool = typer.Option(
        False,
        "--merge-segments",
        help="BINARY/FRACTIONAL: the fewest files of non-overlapping segments instead of one per segment.",
    ),
    level: int | None = opt.READ_LEVEL,
    preview: bool = typer.Option(
        False,
        "--preview",
        help="Also draw the SEG as <prefix or SEG name>.preview.png beside the outputs (see preview).",
    ),
    threads: int = opt.THREADS,
    quiet: bool = opt.QUIET,
) -> object:  # its ReadReport
    """DICOM SEG -> label image(s) + dcmqi meta.json (a slide SEG: its total pixel matrix, OME-TIFF by default)."""
    return run_native.seg2itk(
        seg=seg,
        output_dir=output_dir,
        fmt=fmt.value if fmt is not None else None,
        prefix=prefix,
        reference=reference,
        series_uid=series_uid,
        tolerance=tolerance,
        merge_segments=merge_segments,
        level=level,
        preview=preview,
        threads=threads,
        quiet=quiet,
    )


def preview(  # noqa: PLR0913 - a command's parameters are its flags
    seg: Path = typer.Argument(..., help="DICOM SEG file (or a folder holding a slide SEG pyramid's levels)."),
    output: Path = typer.Option(..., "--output", "-o", help="PNG file to write."),
    reference: list[Path] | None = typer.Option(
        None, "--reference", "-r", help="Source series (folder or files): segments drawn over its images, on its grid."
    ),
    slices: str | None = typer.Option(
        None,
        "--slices",
        help="N: that many evenly spaced slices holding a segment (default 12); all; or 0-based slice indices "
        "and ranges: 3,7,10-12.",
    ),
    window: str | None = typer.Option(
        None, "--window", help="C,W: display window of the source images (default: theirs, else 1st-99th percentile)."
    ),
    fractional: opt.FractionalDraw = typer.Option(
        opt.FractionalDraw.threshold,
        "--fractional",
        help="FRACTIONAL: threshold (drawn at >= half the maximum) or alpha (opacity follows the value).",
    ),
    tile_size: int | None = typer.Option(
        None, "--tile-size", help="Pixels along each slice tile's longer side (default 256; a slide's thumbnail: 1024)."
    ),
    series_uid: str | None = opt.SERIES_UID,
    tolerance: float = opt.TOLERANCE,
    threads: int = opt.THREADS,
    quiet: bool = opt.QUIET,
) -> object:  # its PreviewReport
    """Draw a SEG as a PNG: slices with each segment in its colour, a legend (numbers, names, voxels), a title."""
    from labelmap.pipeline.preview import preview_seg

    out = Printer(quiet)
    check_output_file(output, "--output")
    with out.status("drawing the preview"):
        report = preview_seg(
            seg,
            output,
            reference=reference or None,
            slices=opt.parse_slices(slices),
            window=opt.parse_window(window),
            fractional=fractional.value,
            series_uid=series_uid,
            tol_mm=tolerance,
            tile_size=tile_size,
            resources=opt.resources(threads),
        )
    _wrote_preview(out, report)
    return report


def bin2label(
    seg: Path = typer.Argument(..., help="BINARY DICOM SEG file."),
    output: Path = typer.Option(..., "--output", "-o", help="Output LABELMAP SEG file."),
    palette: bool = opt.PALETTE,
    force_16bit: bool = typer.Option(False, "--force-16bit", help="16-bit pixels even when 8 would do."),
    compression: opt.Compression = opt.COMPRESSION,
    deflate_level: int = opt.DEFLATE_LEVEL,
    keep_empty_slices: bool = opt.KEEP_EMPTY_SLICES,
    deterministic_uids: bool = opt.DETERMINISTIC_UIDS,
    threads: int = opt.THREADS,
    quiet: bool = opt.QUIET,
) -> object:  # its WriteReport
    """BINARY SEG -> LABELMAP SEG (refuses overlapping segments, naming the pairs)."""
    from labelmap.pipeline.bin2label import binary_to_labelmap
    from labelmap.pipeline.options import WriteOptions

    out = Printer(quiet)
    options = WriteOptions(
        palette=palette,
        force_16bit=force_16bit,
        compression=compression.value,
        deflate_level=deflate_level,
        keep_empty_slices=keep_empty_slices,
        deterministic_uids=deterministic_uids,
    )
    with out.progress("re-encoding as LABELMAP") as bar:
        report = binary_to_labelmap(seg, output, options=options, resources=opt.resources(threads, bar))
    out.wrote_seg(report)
    return report


def info(seg: Path = opt.SEG_FILE) -> None:
    """Summarise a DICOM SEG: type, syntax, frames, geometry, segments with codes and voxel counts."""
    from labelmap.cli.info import describe_seg

    describe_seg(seg)


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
    files = [
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
    ]
    errors, warnings = sum(len(r.errors) for r in results), sum(len(r.warnings) for r in results)
    return {"files": files, "errors": errors, "warnings": warnings, "valid": valid}


def _verdict(r: SegValidation) -> str:
    """``<file>: valid (LABELMAP, 4 frames, ...)`` or ``<file>: 2 errors, 1 warning (...)``."""
    items = None
    if r.segmentation_type is not None:
        items = "per-frame items read" if r.per_frame_items_checked else "per-frame values only; --deep reads items"
    frames = f"{r.frames} frames" if r.frames is not None else None
    what = ", ".join(part for part in (r.segmentation_type, frames, items) if part)
    tally = ((len(r.errors), "error"), (len(r.warnings), "warning"))
    counts = ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in tally if n)
    verdict = "valid" if not r.violations else ("" if r.errors else "valid with ") + counts
    return f"{r.name}: {verdict}" + (f" ({what})" if what else "")


def demo(
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Keep the files here (default: a temporary folder)."
    ),
    organs: int = typer.Option(40, "--organs", help="Number of organ labels in the sample."),
    size: int = typer.Option(256, "--size", help="Rows and columns of the sample CT."),
    slices: int = typer.Option(120, "--slices", help="Slices of the sample CT."),
    quiet: bool = opt.QUIET,
) -> None:
    """Make a synthetic CT + organ label map, convert to LABELMAP SEG and back, check, print sizes and times."""
    from labelmap.demo import run_demo

    ok = run_demo(output_dir, organs=organs, size=size, slices=slices, echo=Printer(quiet).echo)
    if not ok:
        raise typer.Exit(1)
