"""The bodies of the dcmqi-compatible conversion commands (itkimage2segimage, segimage2itkimage), typer-free.

Each takes dcmqi's flags as plain values; the typer commands in :mod:`labelmap.cli.dcmqi` and the
launcher (:mod:`labelmap.cli.launch`) both call them.  Heavy modules are imported inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labelmap.cli import values as opt
from labelmap.cli.hints import DCMQI as HINT_TEXT
from labelmap.cli.output import Printer, check_output_file
from labelmap.cli.run_native import read_slide_seg, word_notes

if TYPE_CHECKING:
    from labelmap.pipeline.reports import ReadReport, WriteReport

__all__ = ["HINT_TEXT", "itkimage2segimage", "segimage2itkimage", "one_of"]


def one_of(flag: str, value: object, allowed: tuple[object, ...], given: object = None) -> None:
    """Refuse a flag value dcmqi does not take: ``--skip must be 0 or 1, got 2``."""
    from labelmap.errors import InputError

    if value not in allowed:
        choices = f"{', '.join(map(str, allowed[:-1]))} or {allowed[-1]}"
        raise InputError(f"{flag} must be {choices}, got {value if given is None else given!r}")


def itkimage2segimage(  # noqa: PLR0913 - a command's parameters are its flags
    input_image_list: list[str],
    input_metadata: Path,
    output_dicom: Path,
    input_dicom_directory: Path | None,
    input_dicom_list: list[str] | None,
    segmentation_type: str,
    use_label_id: bool,
    skip: int,
    compress: str | None,
    references_geometry_check: int,
    no_dicom_value_checks: bool,
    level: int | None,
    tiled: str | None,
    tile_size: str | None,
    pyramid: bool,
    deterministic_uids: bool,
    verbose: bool,
) -> WriteReport:
    """``itkimage2segimage``: dcmqi 1.5.7's flags, list syntax and defaults (see its ``--help``); ``tiled``
    as its value string.

    Returns
    -------
    WriteReport
        What was written (also printed).

    Raises
    ------
    LabelmapError
        Bad input or flags, as one line (the caller prints it).
    """
    from labelmap.errors import InputError
    from labelmap.pipeline.options import WriteOptions
    from labelmap.pipeline.slide_sniff import labels_are_volumes
    from labelmap.sources.slide_sniff import is_slide_source

    seg_type = segmentation_type.lower()
    one_of("--segmentationType", seg_type, ("binary", "labelmap"), segmentation_type)
    one_of("--skip", skip, (0, 1))
    check_output_file(output_dicom, "--outputDICOM")
    dicom = [input_dicom_directory] if input_dicom_directory is not None else []
    dicom.extend(Path(p) for p in opt.split_paths("--inputDICOMList", input_dicom_list, "source DICOM file"))
    if not dicom:
        raise InputError("give the source series with --inputDICOMDirectory or --inputDICOMList")
    image_paths = [Path(p) for p in opt.split_paths("--inputImageList", input_image_list, "label image")]
    slide = not labels_are_volumes(image_paths) and is_slide_source(dicom)  # volumes never sniff for a slide
    if slide:
        one_of("--compress", compress, (None, "none", "rle", "jpegls", "j2k", "deflate"))
    else:
        one_of("--compress", compress or "none", ("none", "deflate"))
    options = WriteOptions(
        seg_type="labelmap" if seg_type == "labelmap" else "binary",
        numbering="label" if use_label_id else "sequential",
        keep_empty_slices=skip == 0,
        compression=compress or "none",
        source_body_part=True,
        deterministic_uids=deterministic_uids,
    )
    labels = image_paths
    if slide:
        from labelmap.pipeline.slide import slide_to_seg

        options = opt.slide_write_options(options, tiled, tile_size, level, pyramid, compress)
        with Printer().progress("writing slide SEG") as bar:
            report = slide_to_seg(
                labels, dicom, output_dicom, metadata=input_metadata, options=options, resources=opt.resources(0, bar)
            )
    else:
        problem = opt.slide_flags_problem(level, tiled, tile_size, pyramid) or opt.slide_image_problem(labels, dicom)
        if problem is not None:
            raise InputError(problem)
        from labelmap.pipeline.convert import itk_to_seg

        with Printer().progress("writing DICOM SEG") as bar:
            report = itk_to_seg(
                labels, dicom, input_metadata, output_dicom, options=options, resources=opt.resources(0, bar)
            )
    Printer().wrote_seg(word_notes(report, HINT_TEXT))
    return report


def segimage2itkimage(
    input_dicom: Path,
    output_directory: Path,
    prefix: str,
    output_type: str,
    merge_segments: bool,
    level: int | None,
    verbose: bool,
) -> ReadReport:
    """``segimage2itkimage``: dcmqi 1.5.7's flags and output names (slide SEGs too).

    Returns
    -------
    ReadReport
        What was written (also printed).

    Raises
    ------
    LabelmapError
        Bad input or flags, as one line (the caller prints it).
    """
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import seg_to_itk
    from labelmap.pipeline.options import ReadOptions

    kind = output_type.lower()
    slide_fmt = {"nrrd": "nrrd", "ome-tiff": "ome-tiff", "tiff": "ome-tiff"}.get(kind, kind)
    slide_report = read_slide_seg(
        input_dicom,
        output_directory,
        fmt=slide_fmt,
        prefix=prefix,
        merge=merge_segments,
        level=level,
        reference=None,
        out=Printer(),
        create_dir=False,
    )
    if slide_report is not None:
        return slide_report
    if kind not in ("nrrd", "nii", "nifti"):
        raise InputError(f"--outputType {output_type!r} is not supported; use nrrd, nii or nifti")
    fmt = "nrrd" if kind == "nrrd" else "nifti"
    options = ReadOptions(
        fmt=fmt, prefix=prefix, merge_segments=merge_segments, create_dir=False, dcmqi_pixel_types=True
    )
    with Printer().progress("reading DICOM SEG") as bar:
        report = seg_to_itk(input_dicom, output_directory, options=options, resources=opt.resources(0, bar))
    Printer().wrote_labels(report)
    return report
