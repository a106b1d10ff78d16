"""Slide pipelines: 2-D label images on a VL Whole Slide Microscopy pyramid <-> tiled SEGs.

:func:`slide_to_seg` (the write side) reads the label image lazily (paths through
:mod:`labelmap.formats.slide_io`, arrays wrapped by :func:`labelmap.model.as_slide_labels`),
describes it with the same dcmqi JSON as volumes, picks the source level by the label
image's size (or ``options.level``) and writes one SEG, or one per level with
``options.pyramid``, all files or none.  The read side, :func:`seg_to_slide` (a slide SEG's
total pixel matrix to OME-TIFF / 2-D NRRD by bands), lives in :mod:`labelmap.pipeline.slide_read`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from labelmap._util.atomic import OutputSet, check_not_input, check_output_target
from labelmap._util.resources import Resources
from labelmap.errors import InputError, MetadataError
from labelmap.model import (
    SegmentDescription,
    SeriesAttributes,
    SlideGeometry,
    SlideLabelImage,
    SlideLabels,
    as_slide_labels,
)
from labelmap.pipeline.options import WriteOptions
from labelmap.pipeline.reports import WriteReport
from labelmap.pipeline.slide_read import seg_to_slide

if TYPE_CHECKING:
    from labelmap.dicom.uid_source import UidSource
    from labelmap.seg.types import SegmentationType
    from labelmap.sources.slide import SlideLevel, SlideSource

__all__ = ["slide_to_seg", "pyramid_names", "seg_to_slide"]

PathLike = Union[str, "os.PathLike[str]"]


def pyramid_names(output: PathLike, levels: int) -> list[Path]:
    """The files of a SEG pyramid: ``output`` for level 0, then ``<stem>-L1<suffix>``, ``-L2`` ..."""
    out = Path(output)
    suffix = out.suffix if out.suffix.lower() == ".dcm" else ""
    stem = out.name[: len(out.name) - len(suffix)] if suffix else out.name
    return [out] + [out.with_name(f"{stem}-L{k}{suffix}") for k in range(1, levels)]


def _is_path(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _read_labels(
    labels: Any, threads: int | None = None
) -> tuple[list[SlideLabels], list[str], list[tuple[str, SlideGeometry]], Any]:
    """(layers, layer names, (file, geometry hint) of the files stating a spacing, the given SlideLabelImage)."""
    hints: list[tuple[str, SlideGeometry]] = []
    if isinstance(labels, SlideLabelImage):
        if labels.geometry is not None:
            hints.append(("the label image", labels.geometry))
        return list(labels.layers), [f"label layer {i + 1}" for i in range(len(labels.layers))], hints, labels
    if _is_path(labels) or (isinstance(labels, (list, tuple)) and labels and all(map(_is_path, labels))):
        from labelmap.formats.slide_io import read_slide_labels

        paths = [labels] if _is_path(labels) else list(labels)
        layers: list[SlideLabels] = []
        names: list[str] = []
        for path in paths:
            found, hint = read_slide_labels(path, threads=threads)
            layers.extend(found)
            names.extend([str(path)] if len(found) == 1 else [f"{path} layer {m + 1}" for m in range(len(found))])
            if hint is not None:
                hints.append((str(path), hint))
        return layers, names, hints, None
    items = list(labels) if isinstance(labels, (list, tuple)) else [labels]
    if not items:
        raise InputError("no label image given; pass the label image file(s) or an array")
    layers = [as_slide_labels(a) for a in items]
    return layers, [f"label layer {i + 1}" for i in range(len(layers))], [], None


#: Largest relative difference between a label file's stated pixel spacing and its level's.
SPACING_TOLERANCE = 1e-3


def _check_spacing(hints: Sequence[tuple[str, SlideGeometry]], level: SlideLevel) -> None:
    """A label file stating a pixel spacing must state its level's (a 2-D NRRD, an OME-TIFF)."""
    want = level.geometry.pixel_spacing
    for name, hint in hints:
        got = hint.pixel_spacing
        if any(abs(g - w) > SPACING_TOLERANCE * w for g, w in zip(got, want)):
            raise InputError(
                f"{name}: its pixel spacing {got[0] * 1000:.6g} x {got[1] * 1000:.6g} um differs from level "
                f"{level.index}'s {want[0] * 1000:.6g} x {want[1] * 1000:.6g} um (the level of its size); give labels "
                "drawn on that level, or a file without a spacing"
            )


def _seg_type(options: WriteOptions, layers: Sequence[SlideLabels]) -> SegmentationType:
    from labelmap.seg.types import SegmentationType

    if options.seg_type != "auto":
        return SegmentationType(options.seg_type.upper())
    if any(np.dtype(layer.dtype).kind == "f" for layer in layers):
        return SegmentationType.FRACTIONAL
    return SegmentationType.LABELMAP if len(layers) == 1 else SegmentationType.BINARY


def _number(segments: Sequence[SegmentDescription], seg_type: SegmentationType, options: WriteOptions) -> list:
    """Segment Numbers: LABELMAP the label values (``numbering="sequential"``: 1..N in label order);
    BINARY / FRACTIONAL 1..N in layer (or, for one label map, label) order."""
    from labelmap.seg.types import SegmentationType

    if segments and all(s.number for s in segments):
        return list(segments)  # numbered by the caller
    if seg_type == SegmentationType.LABELMAP:
        if options.numbering == "sequential":
            order = sorted(segments, key=lambda s: s.label_id)
            return [replace(s, number=i + 1) for i, s in enumerate(order)]
        return [replace(s, number=s.label_id) for s in segments]
    if options.numbering == "label":
        return [replace(s, number=s.label_id) for s in segments]
    return [replace(s, number=i + 1) for i, s in enumerate(segments)]


def _level(source: SlideSource, shape: tuple[int, int], options: WriteOptions) -> SlideLevel:
    if options.level is None:
        return source.level_for(*shape)
    level = source.level(options.level)
    if level.geometry.shape != tuple(shape):
        raise InputError(
            f"the label image is {shape[0]} x {shape[1]} pixels but level {level.index} is "
            f"{level.geometry.rows} x {level.geometry.columns}; the slide's levels are {source.listing}"
        )
    return level


def _tile_size(options: WriteOptions) -> tuple[int, int] | None:
    if options.tile_size is None:
        return None
    rows, columns = (int(v) for v in options.tile_size)
    if not (1 <= rows <= 65535 and 1 <= columns <= 65535):
        raise InputError(f"tile size {rows} x {columns} must be 1..65535 pixels a side (Rows and Columns are US)")
    return rows, columns


def slide_to_seg(
    labels: SlideLabelImage | SlideLabels | np.ndarray | PathLike | Sequence[PathLike] | Sequence[Any],
    source: SlideSource | PathLike | Sequence[PathLike],
    output: PathLike,
    *,
    metadata: PathLike | dict | None = None,
    options: WriteOptions = WriteOptions(),
    series: SeriesAttributes | None = None,
    series_uid: str | None = None,
    resources: Resources | None = None,
    uids: UidSource | None = None,
) -> WriteReport:
    """2-D label image(s) + dcmqi JSON + a whole-slide image -> slide SEG file(s).

    Parameters
    ----------
    labels
        A :class:`~labelmap.model.SlideLabelImage`; label file path(s) (TIFF / OME-TIFF, PNG,
        2-D NRRD, ``.npy``: read tile row by tile row, never whole); or array-like(s) (numpy,
        memory map, zarr, dask: one label map, or one per segment).
    source
        The slide: a :class:`~labelmap.sources.slide.SlideSource`, or its folder / level files.
    output
        The SEG file; a pyramid's other levels go next to it as ``<stem>-L1.dcm``, ``-L2`` ...
    metadata
        The dcmqi metadata JSON (path or parsed dict) describing the labels; optional when
        ``labels`` is a SlideLabelImage with segments.
    options
        ``seg_type`` (auto: LABELMAP for one label map, BINARY for several layers, FRACTIONAL for
        float layers), ``numbering``, ``tiled``, ``tile_size``, ``level``, ``pyramid``,
        ``tiled_compression``, ``palette``, ``force_16bit``, ``fractional_type``.
    series
        Series attributes (default: the JSON's).
    series_uid
        The slide series to use when the source folder holds several.
    resources
        Threads the conversion may use, and who hears its progress (``Resources.progress``: the frames
        made, band by band, then each file written).
    uids
        Mints the files' UIDs.  None: random ones, or with ``options.deterministic_uids`` UIDs
        derived from the label files' bytes (arrays: their values), the metadata, the slide's
        UIDs, the series attributes, the options and labelmap's version
        (:mod:`labelmap.pipeline.uid_seed`).

    Returns
    -------
    WriteReport
        Level 0's file, frames, type, syntax and size; ``pyramid_levels`` the other files.

    Raises
    ------
    LabelmapError
        One line naming the file, level, value, segment or option; nothing is left behind.
    """
    from labelmap.dicom.uid_source import UidSource
    from labelmap.dicom.uids import title_of
    from labelmap.seg.tiled import SlideTarget, write_slide_seg
    from labelmap.seg.tiled_header import SlideReference

    t0 = time.perf_counter()
    progress = None if resources is None else resources.progress
    if progress is not None:
        progress.step("reading the slide and the label images")
    given: list[Any] = [labels] if _is_path(labels) else []
    if isinstance(labels, (list, tuple)) and labels and all(map(_is_path, labels)):
        given = list(labels)
    given_paths = [os.fspath(p) for p in given]
    meta_paths = [] if metadata is None or isinstance(metadata, dict) else [os.fspath(metadata)]
    check_output_target(output, given_paths + meta_paths)
    if _is_path(source):
        check_not_input(output, [os.fspath(source)], what="a file of the source slide")  # type: ignore[arg-type]
    md = None
    if metadata is not None:
        from labelmap.formats.dcmqi_json import load_metadata
        from labelmap.seg.segments import check_metadata_values

        md = load_metadata(metadata)
        check_metadata_values(md.series, md.segments, "metadata" if isinstance(metadata, dict) else str(metadata))
    layers, names, hints, image = _read_labels(labels, None if resources is None else resources.threads)
    if md is not None:
        segments: list[SegmentDescription] = [s for inner in md.segments for s in inner]
    elif image is not None and image.segments:
        segments = list(image.segments)
    else:
        raise InputError(
            "no metadata JSON given; slide label images need a dcmqi metadata JSON describing their labels",
            hint="metadata",
        )
    seg_type = _seg_type(options, layers)
    segments = _number(segments, seg_type, options)
    slide = _load(source, series_uid)
    from labelmap.model import SlideLabelImage as _Image

    shape = tuple(layers[0].shape)
    for name, layer in zip(names, layers):
        if tuple(layer.shape) != shape:
            raise InputError(
                f"{name} is {layer.shape[0]} x {layer.shape[1]} pixels, {names[0]} {shape[0]} x {shape[1]}"
            )
    level = _level(slide, shape, options)  # type: ignore[arg-type]
    _check_spacing(hints, level)
    chosen = [level] + (list(slide.levels[level.index + 1 :]) if options.pyramid else [])
    tiles = _tile_size(options)
    outputs = pyramid_names(output, len(chosen))
    for out_path in outputs:
        check_not_input(out_path, [lv.path for lv in slide.levels], what="a file of the source slide")
        check_not_input(out_path, given_paths, what="an input label image")
    notes = list(slide.notes)
    series_attrs = series if series is not None else (md.series if md is not None else SeriesAttributes())
    threads = None if resources is None else resources.threads
    if uids is None and options.deterministic_uids:
        uids = _derived_uids(given or layers, segments, metadata, slide, series_attrs, options, series_uid)
    uids = UidSource() if uids is None else uids
    with OutputSet() as out:
        targets = []
        for lv, path in zip(chosen, outputs):
            ref = SlideReference(
                lv.dataset, lv.geometry, slide.series_instance_uid, lv.sop_class_uid, lv.sop_instance_uid
            )
            geometry = lv.geometry.with_tiles(*tiles) if tiles else lv.geometry
            targets.append(SlideTarget(ref, geometry, out.stage(path)))
        written = write_slide_seg(
            _Image(tuple(layers), tuple(segments)),
            targets,
            seg_type=seg_type,
            series=series_attrs,
            options=options,
            names=names,
            pyramid_uid=uids.uid("PyramidUID") if options.pyramid else None,
            threads=threads,
            uids=uids,
            progress=progress,
        )
    first = outputs[0]
    return WriteReport(
        output=first,
        segmentation_type=seg_type.value,
        frames=written.frames[0],
        segments=len(segments),
        bits_allocated=written.bits,
        transfer_syntax=title_of(written.syntax.uid),
        size_bytes=first.stat().st_size,
        seconds=time.perf_counter() - t0,
        skipped_slices=0,
        warnings=notes + written.notes,
        pyramid_levels=outputs[1:],
    )


def _derived_uids(  # noqa: PLR0913 - everything the seed covers
    labels: Any,
    segments: Sequence[SegmentDescription],
    metadata: Any,
    slide: SlideSource,
    series: SeriesAttributes,
    options: WriteOptions,
    series_uid: Any,
) -> UidSource:
    """Deterministic UIDs of a slide write: label files by their bytes (layers band by band), the
    segments, the metadata, the slide's Series and SOP Instance UIDs, the series attributes, options
    and version."""
    from dataclasses import asdict

    from labelmap.pipeline import uid_seed

    seed = uid_seed.add_metadata(uid_seed.new_seed("slide", options, series_uid), metadata)
    uid_seed.add_slide_labels(seed, labels)
    seed.add_json("segments", [asdict(s) for s in segments])
    seed.add("source slide", str(slide.series_instance_uid or ""))
    seed.add_json("source levels", sorted(str(lv.sop_instance_uid) for lv in slide.levels))
    return uid_seed.uid_source(seed.add_json("series attributes", asdict(series)))


def _load(source: Any, series_uid: str | None) -> SlideSource:
    from labelmap.sources.slide import SlideSource, load_slide

    if isinstance(source, SlideSource):
        return source
    if source is None or (isinstance(source, (list, tuple)) and not source):
        raise MetadataError("no slide given; pass the whole-slide image's folder or level files")
    return load_slide(source, series_uid=series_uid)
