"""The dcmqi-compatible commands: same flags, list syntax and defaults as dcmqi 1.5.7's tools.

itkimage2segimage, segimage2itkimage and bin2labelsegimage; they run the native pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelmap.cli.options import (
    GeometryCheck,
    InputDicom,
    OutputDicom,
    Prefix,
    Skip,
    Verbose,
    read_keywords,
    relabel_keywords,
    seg_keywords,
)
from labelmap.cli.output import Printer, check_output_file

#: Advice per hint code (:data:`labelmap.errors.HINTS`), in dcmqi's flags.
HINT_TEXT = {
    "renumber": "leave out --useLabelIDAsSegmentNumber",
    "keep_empty_slices": "use --skip 0 or --segmentationType labelmap",
    "type_fractional": "labelmap-convert itk2seg --type fractional writes probability maps",
    "type_binary": "use --segmentationType binary",
    "tolerance": "labelmap-convert itk2seg --tolerance MM accepts small differences",
    "palette_labelmap_only": "--usePalette applies to LABELMAP only",
}


def _split_list(values: list[str] | None) -> list[str]:
    """dcmqi list syntax: comma-separated, possibly given several times."""
    return [p for v in values or [] for p in v.split(",") if p]


def _skip_keeps_empty(skip: int) -> bool:
    """dcmqi's ``--skip``: 1 skips empty slices, 0 keeps them."""
    from labelmap.errors import InputError

    if skip not in (0, 1):
        raise InputError(f"--skip must be 0 or 1, got {skip}")
    return skip == 0


def itkimage2segimage(
    input_image_list: Annotated[list[str], typer.Option("--inputImageList", help="Comma-separated label images.")],
    input_metadata: Annotated[Path, typer.Option("--inputMetadata", help="dcmqi metadata JSON.")],
    output_dicom: OutputDicom,
    input_dicom_directory: Annotated[
        Path | None, typer.Option("--inputDICOMDirectory", help="Source series folder (recursive).")
    ] = None,
    input_dicom_list: Annotated[
        list[str] | None, typer.Option("--inputDICOMList", help="Comma-separated source files.")
    ] = None,
    segmentation_type: Annotated[
        str, typer.Option("--segmentationType", help="binary (dcmqi's default) or labelmap.")
    ] = "binary",
    use_label_id: Annotated[
        bool, typer.Option("--useLabelIDAsSegmentNumber", help="Segment Number = label value.")
    ] = False,
    skip: Skip = 1,
    compress: Annotated[str, typer.Option("--compress", help="none or deflate.")] = "none",
    references_geometry_check: GeometryCheck = 1,
    no_dicom_value_checks: Annotated[
        bool, typer.Option("--noDicomValueChecks", help="Accepted for compatibility.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """dcmqi-compatible: same flags, list syntax and defaults as dcmqi 1.5.7's itkimage2segimage."""
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import itk_to_seg
    from labelmap.pipeline.options import WriteOptions

    seg_type = segmentation_type.lower()
    if seg_type not in ("binary", "labelmap"):
        raise InputError(f"--segmentationType must be binary or labelmap, got {segmentation_type!r}")
    keep_empty = _skip_keeps_empty(skip)
    if compress not in ("none", "deflate"):
        raise InputError(f"--compress must be none or deflate, got {compress!r}")
    check_output_file(output_dicom, "--outputDICOM")
    dicom = [input_dicom_directory] if input_dicom_directory is not None else []
    dicom.extend(Path(p) for p in _split_list(input_dicom_list))
    if not dicom:
        raise InputError("give the source series with --inputDICOMDirectory or --inputDICOMList")
    options = WriteOptions(
        seg_type="labelmap" if seg_type == "labelmap" else "binary",
        numbering="label" if use_label_id else "sequential",
        keep_empty_slices=keep_empty,
        compression=compress,
    )
    labels = [Path(p) for p in _split_list(input_image_list)]
    report = itk_to_seg(labels, dicom, input_metadata, output_dicom, **seg_keywords(options))
    Printer().wrote_seg(report)


def segimage2itkimage(
    input_dicom: InputDicom,
    output_directory: Annotated[Path, typer.Option("--outputDirectory", help="Existing output folder.")],
    prefix: Prefix = "",
    output_type: Annotated[str, typer.Option("--outputType", "-t", help="nrrd, nii or nifti (.nii.gz).")] = "nrrd",
    merge_segments: Annotated[
        bool, typer.Option("--mergeSegments", help="Fewest non-overlapping files (a LABELMAP is one already).")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """dcmqi-compatible: same flags and output names as dcmqi 1.5.7's segimage2itkimage."""
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import seg_to_itk
    from labelmap.pipeline.options import ReadOptions

    kind = output_type.lower()
    if kind not in ("nrrd", "nii", "nifti"):
        raise InputError(f"--outputType {output_type!r} is not supported; use nrrd, nii or nifti")
    options = ReadOptions(
        fmt="nrrd" if kind == "nrrd" else "nifti", prefix=prefix, merge_segments=merge_segments, create_dir=False
    )
    report = seg_to_itk(input_dicom, output_directory, **read_keywords(options))
    Printer().wrote_labels(report)


def bin2labelsegimage(
    input_dicom: InputDicom,
    output_dicom: OutputDicom,
    use_palette: Annotated[
        bool, typer.Option("--usePalette", help="PALETTE COLOR photometric interpretation.")
    ] = False,
    force_16bit: Annotated[bool, typer.Option("--force16Bit", help="16-bit pixels.")] = False,
    compress: Annotated[str, typer.Option("--compress", help="none, rle or deflate.")] = "none",
    skip: Skip = 1,
    references_geometry_check: GeometryCheck = 1,
    use_label_id: Annotated[
        bool, typer.Option("--useLabelIDAsSegmentNumber", help="Accepted for compatibility (numbers are kept).")
    ] = False,
    no_check: Annotated[
        bool, typer.Option("--noCheck", help="Accepted for compatibility; overlap is always checked.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """dcmqi-compatible: same flags as dcmqi 1.5.7's bin2labelsegimage."""
    from labelmap.errors import InputError
    from labelmap.pipeline.convert import binary_to_labelmap
    from labelmap.pipeline.options import WriteOptions

    if compress not in ("none", "rle", "deflate"):
        raise InputError(f"--compress must be none, rle or deflate, got {compress!r}")
    keep_empty = _skip_keeps_empty(skip)
    options = WriteOptions(
        palette=use_palette, force_16bit=force_16bit, compression=compress, keep_empty_slices=keep_empty
    )
    report = binary_to_labelmap(input_dicom, output_dicom, **relabel_keywords(options))
    Printer().wrote_seg(report)
