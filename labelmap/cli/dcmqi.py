"""The dcmqi-compatible commands: same flags, list syntax and defaults as dcmqi 1.5.7's tools.

itkimage2segimage, segimage2itkimage and bin2labelsegimage; they run the native pipeline.
"""

from __future__ import annotations

from pathlib import Path

import typer

from labelmap.cli import options as opt
from labelmap.cli import run_dcmqi
from labelmap.cli.output import Printer
from labelmap.cli.run_dcmqi import HINT_TEXT as HINT_TEXT
from labelmap.cli.run_dcmqi import one_of as _one_of


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
    run_dcmqi.itkimage2segimage(
        input_image_list=input_image_list,
        input_metadata=input_metadata,
        output_dicom=output_dicom,
        input_dicom_directory=input_dicom_directory,
        input_dicom_list=input_dicom_list,
        segmentation_type=segmentation_type,
        use_label_id=use_label_id,
        skip=skip,
        compress=compress,
        references_geometry_check=references_geometry_check,
        no_dicom_value_checks=no_dicom_value_checks,
        level=level,
        tiled=tiled.value if tiled is not None else None,
        tile_size=tile_size,
        pyramid=pyramid,
        deterministic_uids=deterministic_uids,
        verbose=verbose,
    )


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
    run_dcmqi.segimage2itkimage(
        input_dicom=input_dicom,
        output_directory=output_directory,
        prefix=prefix,
        output_type=output_type,
        merge_segments=merge_segments,
        level=level,
        verbose=verbose,
    )


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
