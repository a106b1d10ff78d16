"""The conversion pipelines shared by the Python API and the CLI.

Each pipeline reads into the one model (``LabelVolume``, ``SourceSeries``,
``SegmentDescription``), checks it, and hands it to a writer.  Nothing here
prints: results come back as report objects the CLI formats.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

import numpy as np

from . import kernels
from .errors import InputError, MetadataError, UnsupportedError
from .geometry import DEFAULT_TOLERANCE_MM, match_slices, reorient
from .model import Geometry, LabelVolume, SegmentDescription, SeriesAttributes, SourceSeries

__all__ = [
    "PathLike",
    "Numbering",
    "WriteReport",
    "ReadReport",
    "read_labels",
    "write_labels",
    "load_source",
    "prepare_labelmap",
    "encode_seg",
    "write_seg",
    "read_seg",
    "itk_to_seg",
    "seg_to_itk",
]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
#: "label": Segment Number = label value; "sequential": 1..N in label order (dcmqi's default).
Numbering = Literal["label", "sequential"]
SegType = Literal["labelmap", "binary", "fractional", "auto"]


@dataclass
class WriteReport:
    """What a SEG write produced."""

    output: Path
    segmentation_type: str
    frames: int
    segments: int
    bits_allocated: int
    transfer_syntax: str
    size_bytes: int
    seconds: float
    skipped_slices: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class ReadReport:
    """What a SEG read produced."""

    outputs: list[Path]
    metadata: Path
    shape: tuple[int, int, int]
    segments: int
    filled_slices: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- inputs
def read_labels(path: PathLike) -> LabelVolume:
    """Read a NRRD / NIfTI label image into a :class:`LabelVolume` (LPS, [k, j, i], no segments yet)."""
    from .io.images import read_image

    array, geometry = read_image(path)
    return LabelVolume(array, geometry)


def write_labels(path: PathLike, volume: LabelVolume, *, compress: bool = True) -> None:
    """Write a label volume as NRRD or NIfTI (by extension), atomically."""
    from .io.images import write_image

    write_image(path, volume.array, volume.geometry, compress=compress)


def load_source(paths: Union[PathLike, Sequence[PathLike]], *, series_uid: Optional[str] = None) -> SourceSeries:
    """Read the headers of the source DICOM series from folders (recursive) and/or files."""
    from .io.dicom_series import load_series

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return load_series(list(paths), series_uid=series_uid)


# --------------------------------------------------------------------------- itk -> seg
def _assign_numbers(
    present: Sequence[int], described: Sequence[SegmentDescription], numbering: Numbering, source: str
) -> tuple[list[SegmentDescription], np.ndarray, list[str]]:
    """Give each described label a Segment Number; return (segments, lut, warnings)."""
    notes: list[str] = []
    by_label: dict[int, SegmentDescription] = {}
    for seg in described:
        if seg.label_id in by_label:
            raise MetadataError(f"labelID {seg.label_id} is described twice in the metadata for {source}")
        by_label[seg.label_id] = seg
    missing = [v for v in present if v != 0 and v not in by_label]
    if missing:
        shown = ", ".join(str(v) for v in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise MetadataError(
            f"{source}: label values {shown} occur in the image but have no entry in the metadata JSON; "
            "add a segment object with that labelID"
        )
    present_set = set(int(v) for v in present)
    for label in sorted(by_label):
        if label not in present_set:
            notes.append(f"{source}: labelID {label} ({by_label[label].display_label}) does not occur in the image; "
                         "it is written as an empty segment")
    labels_sorted = sorted(by_label)
    max_label = max(labels_sorted + [0])
    if numbering == "label":
        numbers = {label: label for label in labels_sorted}
    elif numbering == "sequential":
        numbers = {label: i + 1 for i, label in enumerate(labels_sorted)}
    else:
        raise InputError(f"unknown numbering {numbering!r}; use 'label' or 'sequential'")
    lut_dtype = np.uint8 if max(numbers.values(), default=0) <= 0xFF else np.uint16
    lut = np.zeros(max_label + 1, dtype=lut_dtype)
    for label, number in numbers.items():
        lut[label] = number
    segments = [replace(by_label[label], number=numbers[label]) for label in labels_sorted]
    return segments, lut, notes


def prepare_labelmap(
    volume: LabelVolume,
    source: SourceSeries,
    segments: Sequence[SegmentDescription],
    *,
    numbering: Numbering = "label",
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    name: str = "label image",
) -> tuple[LabelVolume, np.ndarray, list[str]]:
    """Reorient labels onto the source grid, match slices, assign Segment Numbers.

    Returns (volume of Segment Numbers with numbered segments, source index per slice, warnings).
    """
    array = kernels.as_label_array(volume.array, source=name)
    array, geometry = reorient(array, volume.geometry, source.orientation[:3], source.orientation[3:], source=name)
    source_index = match_slices(geometry, source, tol_mm=tol_mm, label_name=name)
    _, counts = kernels.label_presence(array, source=name)
    present = [int(v) for v in np.flatnonzero(counts)]
    numbered, lut, notes = _assign_numbers(present, segments, numbering, name)
    identity = lut.size == 0 or np.array_equal(lut[1:], np.arange(1, lut.size))
    if not identity:
        array = kernels.remap_labels(array, lut, source=name)
    return LabelVolume(array, geometry, tuple(numbered)), source_index, notes


def encode_seg(
    volume: LabelVolume,
    source: SourceSeries,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    seg_type: SegType = "labelmap",
    numbering: Numbering = "label",
    palette: bool = False,
    keep_empty_slices: bool = False,
    compression: str = "none",
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    name: str = "label image",
):
    """Encode ``volume`` (label values + their ``segments``) as a SEG ``pydicom.Dataset`` referencing ``source``.

    ``volume.segments`` are matched to voxel values by ``label_id``; ``numbering``
    decides their Segment Numbers.  Returns ``(dataset, warnings)``.
    """
    from .seg.encode import encode_labelmap, plan_labelmap

    if seg_type in ("binary", "fractional"):
        raise UnsupportedError(
            f"segmentation type {seg_type!r} (classic DICOM SEG) is not available yet; use labelmap"
        )
    if seg_type not in ("labelmap", "auto"):
        raise InputError(f"unknown segmentation type {seg_type!r}; use labelmap")
    prepared, source_index, notes = prepare_labelmap(
        volume, source, volume.segments, numbering=numbering, tol_mm=tol_mm, name=name
    )
    plan = plan_labelmap(prepared.array, keep_empty_slices=keep_empty_slices, source=name)
    ds = encode_labelmap(
        prepared, source, source_index,
        series=series, palette=palette, compression=compression, plan=plan,
    )
    return ds, notes


def write_seg(
    volume: LabelVolume,
    source: SourceSeries,
    output: PathLike,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    seg_type: SegType = "labelmap",
    numbering: Numbering = "label",
    palette: bool = False,
    keep_empty_slices: bool = False,
    compression: str = "none",
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    name: str = "label image",
) -> WriteReport:
    """:func:`encode_seg`, then write the file atomically; returns a :class:`WriteReport`."""
    from .seg.encode import save_dataset

    t0 = time.perf_counter()
    ds, notes = encode_seg(
        volume, source, series=series, seg_type=seg_type, numbering=numbering, palette=palette,
        keep_empty_slices=keep_empty_slices, compression=compression, tol_mm=tol_mm, name=name,
    )
    save_dataset(ds, output)
    out = Path(output)
    return WriteReport(
        output=out,
        segmentation_type=str(ds.SegmentationType),
        frames=int(ds.NumberOfFrames),
        segments=sum(1 for item in ds.SegmentSequence if int(item.SegmentNumber) != ds.get("PixelPaddingValue", -1)),
        bits_allocated=int(ds.BitsAllocated),
        transfer_syntax=ds.file_meta.TransferSyntaxUID.name,
        size_bytes=out.stat().st_size,
        seconds=time.perf_counter() - t0,
        skipped_slices=volume.array.shape[0] - int(ds.NumberOfFrames),
        warnings=notes,
    )


def itk_to_seg(
    labels: Sequence[PathLike],
    dicom: Sequence[PathLike],
    metadata: Union[PathLike, dict],
    output: PathLike,
    *,
    seg_type: SegType = "labelmap",
    numbering: Numbering = "label",
    palette: bool = False,
    keep_empty_slices: bool = False,
    compression: str = "none",
    series_uid: Optional[str] = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
) -> WriteReport:
    """NRRD / NIfTI label files + dcmqi JSON + source series -> DICOM SEG file."""
    from .metadata import load_metadata

    if not labels:
        raise InputError("no label image given")
    md = load_metadata(metadata)
    label_paths = [Path(p) for p in labels]
    if len(md.segments) != len(label_paths):
        raise MetadataError(
            f"the metadata JSON describes {len(md.segments)} input file(s) (segmentAttributes has "
            f"{len(md.segments)} inner list(s)) but {len(label_paths)} label file(s) were given; "
            "give one inner list per label file, in the same order"
        )
    per_file = list(md.segments)
    if md.file_mapping:
        per_file = _apply_file_mapping(label_paths, md.file_mapping, per_file)
    if len(label_paths) > 1:
        raise UnsupportedError(
            "several label files in one SEG are not available yet; convert them one at a time"
        )
    volume = read_labels(label_paths[0])
    volume = LabelVolume(volume.array, volume.geometry, per_file[0])
    source = load_source(dicom, series_uid=series_uid)
    return write_seg(
        volume, source, output,
        series=md.series, seg_type=seg_type, numbering=numbering, palette=palette,
        keep_empty_slices=keep_empty_slices, compression=compression, tol_mm=tol_mm,
        name=str(label_paths[0]),
    )


def _apply_file_mapping(
    paths: Sequence[Path], mapping: Sequence[str], per_file: list[tuple[SegmentDescription, ...]]
) -> list[tuple[SegmentDescription, ...]]:
    """Reorder inner lists so list i belongs to the file whose path ends with mapping[i] (dcmqi rule)."""
    out: list[Optional[tuple[SegmentDescription, ...]]] = [None] * len(paths)
    for entry, segs in zip(mapping, per_file):
        hits = [i for i, p in enumerate(paths) if str(p).endswith(entry)]
        if len(hits) != 1:
            raise MetadataError(
                f"segmentAttributesFileMapping entry {entry!r} matches {len(hits)} of the label files "
                f"({', '.join(map(str, paths))}); it must match exactly one"
            )
        out[hits[0]] = segs
    if any(o is None for o in out):
        raise MetadataError("segmentAttributesFileMapping does not cover every label file")
    return [o for o in out if o is not None]


# --------------------------------------------------------------------------- seg -> itk
def read_seg(
    seg: Union[PathLike, "pydicom.Dataset"],  # noqa: F821
    *,
    reference: Union[None, PathLike, Sequence[PathLike], SourceSeries, Geometry] = None,
    series_uid: Optional[str] = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
):
    """Decode a SEG into a :class:`~labelmap.seg.decode.DecodedSeg` (volume of Segment Numbers + attributes).

    ``reference`` (a series folder / files, a SourceSeries or a Geometry) puts the
    volume on that full grid, skipped slices filled with background.
    """
    from .seg.decode import decode_labelmap

    ref_geometry = _reference_geometry(reference, series_uid=series_uid, tol_mm=tol_mm)
    return decode_labelmap(seg, reference=ref_geometry, tol_mm=tol_mm)


def _reference_geometry(reference, *, series_uid: Optional[str], tol_mm: float) -> Optional[Geometry]:
    if reference is None or isinstance(reference, Geometry):
        return reference
    from .io.dicom_series import series_geometry

    if not isinstance(reference, SourceSeries):
        reference = load_source(reference, series_uid=series_uid)
    return series_geometry(reference, tol_mm=max(tol_mm, 0.01))


def output_names(output_dir: Path, prefix: str, count: int, ext: str) -> tuple[list[Path], Path]:
    """dcmqi's output names: ``<prefix>-<k><ext>`` and ``<prefix>-meta.json`` (no dash without prefix)."""
    stem = f"{prefix}-" if prefix else ""
    return [output_dir / f"{stem}{k}{ext}" for k in range(1, count + 1)], output_dir / f"{stem}meta.json"


_EXTENSIONS = {"nrrd": ".nrrd", "nifti": ".nii.gz", "nii": ".nii.gz", "nii.gz": ".nii.gz"}


def seg_to_itk(
    seg: PathLike,
    output_dir: PathLike,
    *,
    fmt: str = "nrrd",
    prefix: str = "",
    reference: Union[None, PathLike, Sequence[PathLike]] = None,
    series_uid: Optional[str] = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    create_dir: bool = True,
) -> ReadReport:
    """DICOM SEG -> label image(s) + dcmqi ``meta.json`` in ``output_dir``."""
    from ._atomic import check_output_dir
    from .metadata import write_metadata

    t0 = time.perf_counter()
    ext = _EXTENSIONS.get(fmt.lower().lstrip("."))
    if ext is None:
        raise InputError(f"unknown output format {fmt!r}; use nrrd or nifti")
    out_dir = check_output_dir(output_dir, create=create_dir)
    decoded = read_seg(seg, reference=reference, series_uid=series_uid, tol_mm=tol_mm)
    images, meta_path = output_names(out_dir, prefix, 1, ext)
    volume = decoded.volume
    segments = [replace(s, label_id=s.number) for s in volume.segments]
    write_labels(images[0], volume)
    write_metadata(meta_path, decoded.series, [segments])
    notes = []
    if decoded.filled_slices:
        notes.append(f"{decoded.filled_slices} slice(s) without a frame were filled with background")
    return ReadReport(
        outputs=images,
        metadata=meta_path,
        shape=volume.geometry.shape,
        segments=len(segments),
        filled_slices=decoded.filled_slices,
        seconds=time.perf_counter() - t0,
        warnings=notes,
    )

