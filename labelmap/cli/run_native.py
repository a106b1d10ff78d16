"""The bodies of the native conversion commands (itk2seg, seg2itk), typer-free.

Each takes the command's parameters as plain values (paths, strings for the choices, numbers), builds
the library's option objects, calls the pipeline and prints the report.  The typer commands in
:mod:`labelmap.cli.native` and the launcher (:mod:`labelmap.cli.launch`) both call them, so a command
line does the same whichever way it was parsed.  Heavy modules are imported inside.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labelmap.cli import values as opt
from labelmap.cli.hints import NATIVE as HINT_TEXT
from labelmap.cli.output import Printer, check_output_file

if TYPE_CHECKING:
    from labelmap.model import SegType
    from labelmap.pipeline.reports import PreviewReport, ReadReport, WriteReport

__all__ = ["HINT_TEXT", "itk2seg", "seg2itk", "read_slide_seg", "word_notes"]


def word_notes(report: WriteReport, hint_text: dict[str, str]) -> WriteReport:
    """The report with its warnings' API advice (keep_absent_segments) worded in the command's flags."""
    from labelmap.errors import HINTS

    api = f"({HINTS['keep_absent_segments']})"
    report.warnings[:] = [w.replace(api, f"({hint_text['keep_absent_segments']})") for w in report.warnings]
    return report


def itk2seg(  # noqa: PLR0913 - a command's parameters are its flags
    labels: list[Path],
    dicom: list[Path],
    metadata: Path | None,
    output: Path,
    seg_type: SegType,
    fractional_type: str,
    palette: bool,
    keep_empty_slices: bool,
    renumber: bool,
    keep_absent_segments: bool,
    compression: str | None,
    deflate_level: int,
    series_uid: str | None,
    tolerance: float,
    level: int | None,
    tiled: str | None,
    tile_size: str | None,
    pyramid: bool,
    deterministic_uids: bool,
    threads: int,
    quiet: bool,
) -> WriteReport:
    """``itk2seg``: label image(s) + dcmqi JSON + source series (or whole-slide image) -> DICOM SEG.

    Parameters are the command's flags (see ``labelmap-convert itk2seg --help``); choices as their
    value strings, ``compression`` / ``tiled`` None when not given.

    Returns
    -------
    WriteReport
        What was written (also printed unless ``quiet``).

    Raises
    ------
    LabelmapError
        Bad input or flags, as one line (the caller prints it).
    """
    from labelmap.errors import InputError
    from labelmap.pipeline.options import WriteOptions
    from labelmap.pipeline.slide_sniff import labels_are_volumes
    from labelmap.sources.slide_sniff import is_slide_source

    out = Printer(quiet)
    check_output_file(output, "--output")
    options = WriteOptions(
        seg_type=seg_type,
        numbering="sequential" if renumber else "auto",
        palette=palette,
        keep_empty_slices=keep_empty_slices,
        compression=compression if compression is not None else "deflate",
        deflate_level=deflate_level,
        fractional_type=fractional_type,
        tol_mm=tolerance,
        keep_absent_segments=keep_absent_segments,
        deterministic_uids=deterministic_uids,
    )
    if not labels_are_volumes(labels) and is_slide_source(dicom):  # label volumes never sniff for a slide
        from labelmap.pipeline.slide import slide_to_seg

        options = opt.slide_write_options(options, tiled, tile_size, level, pyramid, compression)
        with out.progress("writing slide SEG") as bar:
            resources = opt.resources(threads, bar)
            report = slide_to_seg(
                labels, dicom, output, metadata=metadata, options=options, series_uid=series_uid, resources=resources
            )
        out.wrote_seg(word_notes(report, HINT_TEXT))
        return report
    problem = opt.slide_flags_problem(level, tiled, tile_size, pyramid) or opt.slide_image_problem(labels, dicom)
    if problem is not None:
        raise InputError(problem)
    from labelmap.pipeline.convert import itk_to_seg

    with out.progress("writing DICOM SEG") as bar:
        resources = opt.resources(threads, bar)
        report = itk_to_seg(
            labels, dicom, metadata, output, options=options, series_uid=series_uid, resources=resources
        )
    out.wrote_seg(word_notes(report, HINT_TEXT))
    return report


def seg2itk(  # noqa: PLR0913 - a command's parameters are its flags
    seg: Path,
    output_dir: Path,
    fmt: str | None,
    prefix: str,
    reference: list[Path] | None,
    series_uid: str | None,
    tolerance: float,
    merge_segments: bool,
    level: int | None,
    preview: bool,
    threads: int,
    quiet: bool,
) -> ReadReport:
    """``seg2itk``: DICOM SEG -> label image(s) + dcmqi meta.json (a slide SEG: its total pixel matrix).

    Parameters are the command's flags (see ``labelmap-convert seg2itk --help``); ``fmt`` None when
    ``--format`` is not given.  A plain volume LABELMAP read to NRRD first tries the numpy-free lane
    (:func:`labelmap.pipeline.lean_read.read_to_nrrd`), which writes the same files and report, where
    no progress bar would be drawn (``quiet``, or stderr not a terminal).

    Returns
    -------
    ReadReport
        What was written (also printed unless ``quiet``).

    Raises
    ------
    LabelmapError
        Bad input or flags, as one line (the caller prints it).
    """
    out = Printer(quiet)
    plain = fmt in (None, "nrrd") and _lean_envelope(reference, series_uid, tolerance, merge_segments, level, preview)
    if plain and (quiet or not sys.stderr.isatty()):  # the lane draws no progress bar: only where none would be
        lean = _lean_read(seg, output_dir, prefix)
        if lean is not None:
            out.wrote_labels(lean)
            return lean
    slide_report = read_slide_seg(
        seg,
        output_dir,
        fmt=fmt or "ome-tiff",
        prefix=prefix,
        merge=merge_segments,
        level=level,
        reference=reference,
        out=out,
        create_dir=True,
        threads=threads or None,
    )
    if slide_report is not None:
        if preview:
            _preview_beside(seg, output_dir, prefix, None, None, tolerance, out, threads)
        return slide_report
    if fmt == "ome-tiff":
        from labelmap.errors import InputError

        raise InputError(f"{str(seg)!r} is not a slide SEG; --format ome-tiff is for slide (tiled) SEGs")
    from labelmap.pipeline.convert import seg_to_itk
    from labelmap.pipeline.options import ReadOptions

    options = ReadOptions(
        fmt=fmt or "nrrd", prefix=prefix, merge_segments=merge_segments, tol_mm=tolerance, create_dir=True
    )
    with out.progress("reading DICOM SEG") as bar:
        report = seg_to_itk(
            seg,
            output_dir,
            options=options,
            reference=reference or None,
            series_uid=series_uid,
            resources=opt.resources(threads, bar),
        )
    out.wrote_labels(report)
    if preview:
        _preview_beside(seg, output_dir, prefix, reference, series_uid, tolerance, out, threads)
    return report


def _lean_envelope(
    reference: list[Path] | None,
    series_uid: str | None,
    tolerance: float,
    merge_segments: bool,
    level: int | None,
    preview: bool,
) -> bool:
    """Whether the flags other than SEG, -o, --prefix, --format nrrd, --threads and -q are all unset
    (the numpy-free lane reads nothing else)."""
    unset = not (reference or series_uid or merge_segments or preview) and level is None
    return unset and tolerance == opt.DEFAULT_TOLERANCE


def _lean_read(seg: Path, output_dir: Path, prefix: str) -> ReadReport | None:
    """The numpy-free lane's report, or None: not a plain volume LABELMAP (the full reader takes it; the
    lane then wrote nothing), or the lane is not installed."""
    try:
        from labelmap.pipeline.lean_read import read_to_nrrd
    except ImportError:
        return None
    return read_to_nrrd(str(seg), str(output_dir), prefix=prefix)


def _preview_beside(
    seg: Path,
    output_dir: Path,
    prefix: str,
    reference: list[Path] | None,
    series_uid: str | None,
    tol: float,
    out: Printer,
    threads: int = 0,
) -> None:
    """``seg2itk --preview``: the preview of ``seg`` as ``<output_dir>/<prefix or SEG name>.preview.png``."""
    import re

    from labelmap.pipeline.preview import preview_seg

    stem = prefix or re.sub(r"(\.seg)?(\.dcm)?$", "", seg.name, flags=re.I) or "segmentation"
    with out.status("drawing the preview"):
        report = preview_seg(
            seg,
            output_dir / f"{stem}.preview.png",
            reference=reference or None,
            series_uid=series_uid,
            tol_mm=tol,
            resources=opt.resources(threads),
        )
    wrote_preview(out, report)


def wrote_preview(out: Printer, r: PreviewReport) -> None:
    """The warnings and the one-line summary of a preview."""
    from labelmap.cli.output import shown, size_text

    out.warn(r.warnings)
    count = len(r.slices)
    out.echo(
        f"wrote {shown(r.output)} ({r.width} x {r.height} px, {count} slice{'' if count == 1 else 's'}, "
        f"{r.segments} segments, {size_text(r.size_bytes)}) in {r.seconds:.2f} s"
    )


def read_slide_seg(
    seg: Path,
    output_dir: Path,
    *,
    fmt: str,
    prefix: str,
    merge: bool,
    level: int | None,
    reference: object,
    out: Printer,
    create_dir: bool,
    threads: int | None = None,
) -> ReadReport | None:
    """Read ``seg`` as a slide SEG (a file with a Total Pixel Matrix, or a folder of SEG pyramid levels) and
    print the report; None when it is not one (the volume reader takes it, and refuses ``--level``).
    ``threads``: the band decoding's (None: every core)."""
    from labelmap.errors import InputError

    if not _is_slide(seg):
        if level is not None:
            raise InputError(f"--level is for slide SEG pyramids; {str(seg)!r} is not a slide SEG")
        return None
    if reference:
        raise InputError("--reference puts a volume SEG on a CT grid; a slide SEG has its own total pixel matrix")
    if fmt not in ("ome-tiff", "nrrd"):
        raise InputError(f"a slide SEG is written as OME-TIFF (default) or a 2-D NRRD (--format nrrd), not {fmt}")
    from labelmap.pipeline.slide_read import seg_to_slide

    with out.progress("reading slide SEG") as bar:
        report = seg_to_slide(
            seg,
            output_dir,
            level=level,
            merge_segments=merge,
            fmt=fmt,
            prefix=prefix,
            create_dir=create_dir,
            threads=threads,
            progress=bar,
        )
    out.wrote_labels(report)
    return report


def _is_slide(seg: Path) -> bool:
    """A slide SEG file, or a folder holding one (a folder without is left to the volume reader's error)."""
    from labelmap.seg.tiled_sniff import find_slide_segs, is_slide_seg

    return bool(find_slide_segs(seg)) if seg.is_dir() else is_slide_seg(seg)
