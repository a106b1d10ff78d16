"""Write slide SEGs: LABELMAP, BINARY or FRACTIONAL, TILED_FULL or TILED_SPARSE, one file per pyramid level.

:func:`write_slide_seg` plans the SEG (type, segments, bits, transfer syntax), refuses what
cannot be written before reading any pixel (native Pixel Data over 4 GiB), makes every
level's frames in one streaming pass per input layer (:mod:`labelmap.seg.tiled_frames`), checks
the values found against the segment descriptions, then writes each level's header
(:mod:`labelmap.seg.tiled_header`) and frames (:mod:`labelmap.dicom.stream`), all files or none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labelmap.dicom.stream import BOT_LIMIT, NATIVE_LIMIT, Spool, set_file_meta, write_frames_file
from labelmap.dicom.uid_source import UidSource
from labelmap.dicom.uids import WRITABLE, TransferSyntax, lookup
from labelmap.errors import InputError, MetadataError, UnsupportedError
from labelmap.model import SeriesAttributes, SlideGeometry, SlideLabelImage
from labelmap.seg.options import WriteOptions
from labelmap.seg.tiled_frames import LevelFrames, Pass, make_frames
from labelmap.seg.tiled_header import SlideReference, slide_dataset, sparse_items
from labelmap.seg.types import SEG_TYPES, SegmentationType

if TYPE_CHECKING:
    from labelmap._util.progress import Progress

__all__ = ["SlideTarget", "SlideWritten", "slide_syntax", "write_slide_seg"]


@dataclass(frozen=True)
class SlideTarget:
    """One SEG file to write: the source level it lies on, its geometry (the level's, perhaps with
    other tiles) and where it goes (a path the caller staged, e.g. an OutputSet temporary)."""

    reference: SlideReference
    geometry: SlideGeometry
    path: Path


@dataclass
class SlideWritten:
    """What :func:`write_slide_seg` wrote: per file the frames; and the common facts."""

    seg_type: SegmentationType
    bits: int
    syntax: TransferSyntax
    segments: int
    frames: list[int] = field(default_factory=list)
    extended_offset_table: list[bool] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def slide_syntax(name: str | None, seg_type: SegmentationType) -> TransferSyntax:
    """The transfer syntax of a slide SEG: ``name`` (a ``--compression`` choice; ``deflate`` =
    Deflated Image Frame Compression, per frame), or by type when None (RLE; BINARY native).

    Raises
    ------
    InputError
        Implicit VR or whole-data-set deflate (no frame could be read without the ones before it),
        or an unknown name.
    UnsupportedError
        A syntax that cannot code the type's frames (RLE / JPEG-LS for 1-bit BINARY).
    """
    binary = seg_type == SegmentationType.BINARY
    if name is None:
        name = "none" if binary else "rle"
    if name == "deflate":
        name = "deflate-frame"
    ts = lookup(name)
    if ts is None or ts.deflated or ts.implicit_vr or not ts.writable:
        choices = [n for n in WRITABLE if n not in ("implicit", "deflate-frame")]
        raise InputError(
            f"compression {name!r} cannot be used for a slide SEG; choose one of {', '.join(choices)} "
            "(deflate means one raw deflate stream per frame)"
        )
    if binary and ts.encapsulated:
        from labelmap.dicom.pixels.codecs import codec_module

        if 1 not in codec_module(ts).BITS:
            raise UnsupportedError(
                f"compression {name!r} cannot code 1-bit BINARY frames; use none, j2k or deflate for BINARY"
            )
    return ts


def _passes(image: SlideLabelImage, seg_type: SegmentationType, names: Sequence[str]) -> list[Pass]:
    """The reads of the input layers and the streams (segments) each feeds, in Segment Number order."""
    segments = image.segments
    if seg_type == SegmentationType.LABELMAP:
        if len(image.layers) != 1:
            raise InputError(
                f"a LABELMAP slide SEG is written from one label image, got {len(image.layers)} layers; "
                "merge them into one label map or write BINARY"
            )
        pairs = {s.label_id: s.number for s in segments}
        transform: Callable[[np.ndarray], np.ndarray] | None = None
        if any(k != v for k, v in pairs.items()):
            lut = np.zeros(65536, dtype=np.uint16)
            for k, v in pairs.items():
                lut[k] = v
            top = max(pairs.values(), default=0)
            lut_t = lut.astype(np.uint8) if top <= 0xFF else lut

            def renumber(band: np.ndarray, lut_t: np.ndarray = lut_t) -> np.ndarray:
                return lut_t[band]

            transform = renumber

        return [Pass(image.layers[0], names[0], transform=transform, count=True)]
    if seg_type == SegmentationType.FRACTIONAL or len(image.layers) > 1 or len(segments) == 1:
        if len(image.layers) != len(segments):
            raise InputError(
                f"{len(image.layers)} label layers for {len(segments)} segments: a {seg_type.value} slide SEG "
                "takes one layer per segment (or one label map holding every segment, BINARY only)"
            )
        out = []
        order = sorted(range(len(segments)), key=lambda i: segments[i].number)
        for i in order:
            transform = _fractional if seg_type == SegmentationType.FRACTIONAL else None
            out.append(Pass(image.layers[i], names[i], transform=transform))
        return out
    # BINARY from one label map: one stream per segment, pixels == its label value
    ordered = sorted(segments, key=lambda s: s.number)
    return [Pass(image.layers[0], names[0], values=tuple(s.label_id for s in ordered), count=True)]


def _fractional(band: np.ndarray) -> np.ndarray:
    from labelmap.seg.layers import to_fractional_uint8

    return to_fractional_uint8(band, source="fractional layer")


def _check_segments(image: SlideLabelImage, seg_type: SegmentationType) -> None:
    numbers = [s.number for s in image.segments]
    if len(set(numbers)) != len(numbers):
        raise MetadataError(f"segment numbers {sorted(numbers)} repeat; each segment needs its own number")
    if seg_type == SegmentationType.LABELMAP:
        for s in image.segments:
            if not 0 < s.number <= 0xFFFF:
                raise MetadataError(f"segment number {s.number} of segment {s.display_label!r} is outside 1..65535")
        labels = [s.label_id for s in image.segments]
        if len(set(labels)) != len(labels):
            raise MetadataError(f"label values {sorted(labels)} repeat; each segment needs its own label value")
    elif sorted(numbers) != list(range(1, len(numbers) + 1)):
        raise MetadataError(
            f"classic SEG segment numbers must be 1..N without gaps, got {sorted(numbers)[:20]}; renumber the segments",
            hint="renumber",
        )
    if not image.segments:
        raise MetadataError("no segment is described; give the dcmqi metadata JSON for the label image")


def _native_bytes(target: SlideTarget, streams: int, bits: int) -> int:
    g = target.geometry
    return (streams * g.n_tiles * g.tile_rows * g.tile_columns * bits + 7) // 8


def write_slide_seg(
    image: SlideLabelImage,
    targets: Sequence[SlideTarget],
    *,
    seg_type: SegmentationType,
    series: SeriesAttributes = SeriesAttributes(),
    options: WriteOptions = WriteOptions(),
    names: Sequence[str] | None = None,
    pyramid_uid: str | None = None,
    series_instance_uid: str | None = None,
    threads: int | None = None,
    bot_limit: int = BOT_LIMIT,
    uids: UidSource | None = None,
    progress: Progress | None = None,
) -> SlideWritten:
    """Write one slide SEG per target (the first on the labels' own grid, the others smaller levels).

    Parameters
    ----------
    image
        The labels: one label map (LABELMAP, or BINARY with several segments) or one layer per
        segment; ``segments`` numbered (``number``), ``label_id`` = the value in a label map.
    targets
        The files: the first's geometry has the labels' size; each lies on its ``reference`` level.
    seg_type
        LABELMAP, BINARY or FRACTIONAL.
    series
        Series-level attributes; a pyramid shares one Series Instance UID and InstanceNumber = level + 1.
    options
        ``tiled``, ``tiled_compression``, ``palette``, ``force_16bit``, ``fractional_type``.
    names
        What to call each layer in messages.
    pyramid_uid, series_instance_uid
        Pyramid UID (a pyramid) and Series Instance UID (new when None) of the files.
    threads
        Threads for the kernels and codecs.
    bot_limit
        Largest frame offset of a Basic Offset Table (tests force the Extended Offset Table with less).
    uids
        Mints the files' UIDs (None: random ones; see :class:`~labelmap.dicom.uid_source.UidSource`).
    progress
        Told the steps: making the frames (per band), then writing each file (per spool); None: no calls.

    Returns
    -------
    SlideWritten

    Raises
    ------
    InputError, MetadataError, UnsupportedError
        One line naming the layer, value, segment or option; nothing is left at the targets' paths
        beyond what the caller stages.
    """
    if options.tiled not in ("full", "sparse"):
        raise InputError(f"--tiled must be full or sparse, got {options.tiled!r}")
    sparse = options.tiled == "sparse"
    spec = SEG_TYPES[seg_type]
    if options.palette and seg_type != SegmentationType.LABELMAP:
        raise InputError("BINARY and FRACTIONAL are MONOCHROME2", hint="palette_labelmap_only")
    _check_segments(image, seg_type)
    names = list(names) if names is not None else [f"label layer {i + 1}" for i in range(len(image.layers))]
    if image.shape != targets[0].geometry.shape:
        raise InputError(
            f"{names[0]}: {image.shape[0]} x {image.shape[1]} pixels, but the SEG level is "
            f"{targets[0].geometry.rows} x {targets[0].geometry.columns}"
        )
    if seg_type == SegmentationType.LABELMAP:
        top = max(s.number for s in image.segments)
        bits = 16 if options.force_16bit or top > 0xFF else 8
    else:
        bits = spec.bits[0]
    syntax = slide_syntax(options.tiled_compression, seg_type)
    passes = _passes(image, seg_type, names)
    streams = sum(len(p.values) for p in passes)
    if not syntax.encapsulated and not sparse:
        for t in targets:
            size = _native_bytes(t, streams, bits)
            if size > NATIVE_LIMIT:
                raise InputError(
                    f"native Pixel Data of {t.geometry.rows} x {t.geometry.columns} pixels ({streams} x "
                    f"{t.geometry.n_tiles} frames) would take {size:,} bytes, over DICOM's 4 GiB limit; use a "
                    "compressed syntax (--compression rle, jpegls, j2k or deflate) or --tiled sparse"
                )
    if syntax.encapsulated:
        from labelmap.dicom.pixels.codecs import check_available

        check_available(syntax.uid, purpose="writing")

    base = targets[0].geometry
    levels = [LevelFrames(base)]
    for t in targets[1:]:
        from labelmap.kernels.tiles import nearest_indices

        g = t.geometry
        levels.append(LevelFrames(g, nearest_indices(base.rows, g.rows), nearest_indices(base.columns, g.columns)))
    counts = np.zeros(65536, dtype=np.int64)
    spool_dir = os.path.dirname(os.path.abspath(targets[0].path)) or "."
    written = SlideWritten(seg_type, bits, syntax, len(image.segments))
    try:
        make_frames(
            passes,
            levels,
            syntax=syntax,
            bits=bits,
            sparse=sparse,
            spool_dir=spool_dir,
            counts=counts,
            threads=threads,
            progress=progress,
        )
        if any(p.count for p in passes):
            described = {s.label_id for s in image.segments}
            found = np.flatnonzero(counts)
            missing = [int(v) for v in found if v != 0 and int(v) not in described]
            if missing:
                shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
                raise MetadataError(
                    f"{names[0]}: label values {shown} occur in the image but have no segment description; "
                    "describe them in the metadata JSON"
                )
        padded = any(
            t.geometry.rows % t.geometry.tile_rows or t.geometry.columns % t.geometry.tile_columns for t in targets
        )
        background = seg_type == SegmentationType.LABELMAP and (bool(counts[0]) or padded)
        if seg_type == SegmentationType.LABELMAP and not any(p.count for p in passes):
            background = True
        uids = UidSource() if uids is None else uids
        series_uid = series_instance_uid or uids.uid("SeriesInstanceUID", key="series")
        numbers = [s.number for s in sorted(image.segments, key=lambda s: s.number)]
        one_map = seg_type == SegmentationType.BINARY and len(image.layers) == 1
        overlap = "NO" if len(image.segments) == 1 or one_map else "UNDEFINED"
        for k, (target, level) in enumerate(zip(targets, levels)):
            if sparse:
                frames = int(sum(int(p.sum()) for p in level.present))
            else:
                frames = streams * level.geometry.n_tiles
            if frames == 0:
                raise InputError(
                    f"{names[0]}: every tile is empty, so a TILED_SPARSE SEG would have no frames; use --tiled full"
                )
            ds = slide_dataset(
                target.reference,
                level.geometry,
                series=series,
                seg_type=seg_type,
                bits=bits,
                segments=image.segments,
                background=background,
                sparse=sparse,
                frames=frames,
                palette=options.palette,
                fractional_type=options.fractional_type.upper(),
                overlap=overlap,
                uids=uids,
            )
            ds.SeriesInstanceUID = series_uid
            if pyramid_uid is not None:
                ds.PyramidUID = pyramid_uid
                if series.series_description:
                    ds.PyramidLabel = series.series_description[:64]
                ds.InstanceNumber = str(k + 1)
            set_file_meta(ds, syntax.uid)
            per_frame = None
            try:
                if sparse:
                    per_frame = Spool(spool_dir)
                    segs = None if seg_type == SegmentationType.LABELMAP else numbers
                    for chunk in sparse_items(level.geometry, level.present, segs):
                        per_frame.write(chunk)
                eot = write_frames_file(
                    target.path,
                    ds,
                    pixels=level.spools,
                    per_frame=per_frame,
                    pixel_vr="OW" if bits == 16 and not syntax.encapsulated else "OB",
                    bot_limit=bot_limit,
                    progress=progress,
                    step=f"writing level {k} of {len(targets)}" if len(targets) > 1 else "writing the SEG",
                )
            finally:
                if per_frame is not None:
                    per_frame.close()
            written.frames.append(frames)
            written.extended_offset_table.append(eot)
    finally:
        for level in levels:
            for spool in level.spools:
                spool.close()
    return written
