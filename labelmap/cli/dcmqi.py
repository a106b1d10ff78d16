"""The dcmqi-compatible commands: same flags, list syntax and defaults as dcmqi 1.5.7's tools.

itkimage2segimage, segimage2itkimage and bin2labelsegimage; they run the native pipeline.
"""

from __future__ import annotations

from pathlib import Path

import typer

from labelmap.cli import options as opt
from labelmap.cli.native import word_notes
from labelmap.cli.output import Printer, check_output_file

#: Advice per hint code (:data:`labelmap.errors.HINTS`), in dcmqi's flags.
HINT_TEXT = {
    "renumber": "leave out --useLabelIDAsSegmentNumber",
    "keep_empty_slices": "use --skip 0 or --segmentationType labelmap",
    "type_fractional": "labelmap-convert itk2seg --type fractional writes probability maps",
    "type_binary": "use --segmentationType binary",
    "tolerance": "labelmap-convert itk2seg --tolerance MM accepts small differences",
    "palette_labelmap_only": "--usePalette applies to LABELMAP only",
    "metadata": "pass it with --inputMetadata",
    "keep_absent_segments": "labelmap-convert itk2seg --keep-absent-segments keeps them as empty segments",
}


def _one_of(flag: str, value: object, allowed: tuple[object, ...], given: object = None) -> None:
    """Refuse a flag value dcmqi does not take: ``--skip must be 0 or 1, got 2``."""
    from labelmap.errors import InputError

    if value not in allowed:
        choices = f"{', '.join(map(str, allowed[:-1]))} or {allowed[-1]}"
        raise InputError(f"{flag} must be {choices}, got {value if given is None else given!r}")


def itkimage2segimage(  # noqa: PLR0913 - a command's parameters are its flags
    input_image_list: list[str] = typer.Option(..., "--inputImageList", help="Comma-separated label images."),
    input_metadata: Path = typer.Option(..., "--inputMetadata", help="dcmqi metadata JSON."),
    output_dicom: Path = typer.Option(..., "--outputDICOM", help="Output SEG file."),
    input_dicom_directory: Path | None = typer.Option(
        None, "--inputDICOMDirectory", help="Source series folder (recursive)."
    ),
    input_dicom_list: list[str] | None = typer.Option(None, "--inputDICOMList", help="Comma-separated source files."),
    segmentation_type: str = typer.Option("binary", "--segmentationType", help="binary (dcmqi's default) or labelmap."),
    use_label_id: bool = typer.Option(False, "--useLabelIDAsSegmentNumber", help="Segment Number = label value."),
    skip: int = opt.SKIP,
    compress: str | None = typer.Option(
        None,
        "--compress",
        help="none or deflate (default none). Slides also rle, jpegls, j2k; default rle (BINARY none); deflate = "
        "per frame.",
        show_default=False,
    ),
    references_geometry_check: int = typer.Option(
        1, "--referencesGeometryCheck", help="Accepted for compatibility; geometry is always checked."
    ),
    no_dicom_value_checks: bool = typer.Option(False, "--noDicomValueChecks", help="Accepted for compatibility."),
    level: int | None = opt.LEVEL,
    tiled: opt.Tiled | None = opt.TILED,
    tile_size: str | None = opt.TILE_SIZE,
    pyramid: bool = opt.PYRAMID,
    deterministic_uids: bool = opt.DETERMINISTIC_UIDS,
    verbose: bool = opt.VERBOSE,
) -> None:
    """dcmqi-compatible: same flags, list syntax and defaults as dcmqi 1.5.7's itkimage2segimage."""
    from labelmap.errors import InputError
    from labelmap.pipeline.options import WriteOptions
    from labelmap.pipeline.slide_sniff import labels_are_volumes
    from labelmap.sources.slide_sniff import is_slide_source

    seg_type = segmentation_type.lower()
    _one_of("--segmentationType", seg_type, ("binary", "labelmap"), segmentation_type)
    _one_of("--skip", skip, (0, 1))
    check_output_file(output_dicom, "--outputDICOM")
    dicom = [input_dicom_directory] if input_dicom_directory is not None else []
    dicom.extend(Path(p) for p in opt.split_paths("--inputDICOMList", input_dicom_list, "source DICOM file"))
    if not dicom:
        raise InputError("give the source series with --inputDICOMDirectory or --inputDICOMList")
    image_paths = [Path(p) for p in opt.split_paths("--inputImageList", input_image_list, "label image")]
    slide = not labels_are_volumes(image_paths) and is_slide_source(dicom)  # volumes never sniff for a slide
    if slide:
        _one_of("--compress", compress, (None, "none", "rle", "jpegls", "j2k", "deflate"))
    else:
        _one_of("--compress", compress or "none", ("none", "deflate"))
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
        from dataclasses import replace

        from labelmap.pipeline.slide import slide_to_seg

        options = replace(
            options,
            tiled=tiled.value if tiled is not None else "full",
            tile_size=opt.parse_tile_size(tile_size),
            level=level,
            pyramid=pyramid,
            tiled_compression=compress,
        )
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


def segimage2itkimage(
    input_dicom: Path = typer.Option(..., "--inputDICOM", help="Input SEG file."),
    output_directory: Path = typer.Option(..., "--outputDirectory", help="Existing output folder."),
    prefix: str = opt.PREFIX,
    output_type: str = typer.Option(
        "nrrd", "--outputType", "-t", help="nrrd, nii or nifti (.nii.gz); a slide SEG: nrrd (2-D) or ome-tiff."
    ),
    merge_segments: bool = typer.Option(
        False, "--mergeSegments", help="Fewest non-overlapping files (a LABELMAP is one already)."
    ),
    level: int | None = opt.READ_LEVEL,
    verbose: bool = opt.VERBOSE,
) -> None:
    """dcmqi-compatible: same flags and output names as dcmqi 1.5.7's segimage2itkimage (slide SEGs too)."""
    from labelmap.cli.native import read_slide_seg
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import seg_to_itk
    from labelmap.pipeline.options import ReadOptions

    kind = output_type.lower()
    slide_fmt = {"nrrd": "nrrd", "ome-tiff": "ome-tiff", "tiff": "ome-tiff"}.get(kind, kind)
    if read_slide_seg(
        input_dicom,
        output_directory,
        fmt=slide_fmt,
        prefix=prefix,
        merge=merge_segments,
        level=level,
        reference=None,
        out=Printer(),
        create_dir=False,
    ):
        return
    if kind not in ("nrrd", "nii", "nifti"):
        raise InputError(f"--outputType {output_type!r} is not supported; use nrrd, nii or nifti")
    fmt = "nrrd" if kind == "nrrd" else "nifti"
    options = ReadOptions(
        fmt=fmt, prefix=prefix, merge_segments=merge_segments, create_dir=False, dcmqi_pixel_types=True
    )
    with Printer().progress("reading DICOM SEG") as bar:
        report = seg_to_itk(input_dicom, output_directory, options=options, resources=opt.resources(0, bar))
    Printer().wrote_labels(report)


def bin2labelsegimage(
    input_dicom: Path = typer.Option(..., "--inputDICOM", help="Input BINARY SEG."),
    output_dicom: Path = typer.Option(..., "--outputDICOM", help="Output LABELMAP SEG."),
    use_palette: bool = typer.Option(False, "--usePalette", help="PALETTE COLOR photometric interpretation."),
    force_16bit: bool = typer.Option(False, "--force16Bit", help="16-bit pixels."),
    compress: str = typer.Option("none", "--compress", help="none, rle or deflate."),
    skip: int = opt.SKIP,
    references_geometry_check: int = typer.Option(1, "--referencesGeometryCheck", help="Accepted for compatibility."),
    use_label_id: bool = typer.Option(
        False, "--useLabelIDAsSegmentNumber", help="Accepted for compatibility (numbers are kept)."
    ),
    no_check: bool = typer.Option(False, "--noCheck", help="Accepted for compatibility; overlap is always checked."),
    verbose: bool = opt.VERBOSE,
) -> None:
    """dcmqi-compatible: same flags as dcmqi 1.5.7's bin2labelsegimage."""
    from labelmap.pipeline.bin2label import binary_to_labelmap
    from labelmap.pipeline.options import WriteOptions

    _one_of("--compress", compress, ("none", "rle", "deflate"))
    _one_of("--skip", skip, (0, 1))
    options = WriteOptions(
        palette=use_palette, force_16bit=force_16bit, compression=compress, keep_empty_slices=skip == 0
    )
    with Printer().progress("re-encoding as LABELMAP") as bar:
        report = binary_to_labelmap(input_dicom, output_dicom, options=options, resources=opt.resources(0, bar))
    Printer().wrote_seg(report)
