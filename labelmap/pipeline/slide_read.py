"""Slide SEG -> label image(s) + dcmqi ``meta.json``, streamed by bands of tile rows.

The read side of :mod:`labelmap.pipeline.slide`: :func:`seg_to_slide` opens a slide SEG (or
picks a level of a SEG pyramid), and writes its total pixel matrix with
:func:`labelmap.formats.slide_io.write_slide_labels` (tiled, compressed OME-TIFF with the
physical pixel size, or a 2-D NRRD carrying the spacing), never holding the matrix whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from labelmap.errors import InputError
from labelmap.model import SegmentDescription
from labelmap.pipeline.reports import ReadReport

if TYPE_CHECKING:
    from labelmap._util.progress import Progress
    from labelmap.seg.tiled_read import SlideSeg

__all__ = ["SLIDE_FORMATS", "seg_to_slide", "select_level", "slide_layers"]

PathLike = Union[str, "os.PathLike[str]"]

#: ``fmt`` -> file name extension of the label images written for a slide SEG.
SLIDE_FORMATS = {"ome-tiff": ".ome.tif", "nrrd": ".nrrd"}


def select_level(levels: Sequence[SlideSeg], level: int | None) -> SlideSeg:
    """Level ``level`` (0 = largest matrix) of a SEG pyramid; None: the only one, or level 0.

    Raises
    ------
    InputError
        A level that does not exist; the message lists the levels.
    """
    if level is None:
        return levels[0]
    if not 0 <= level < len(levels):
        listing = "; ".join(
            f"{k}: {s.geometry.columns:,} x {s.geometry.rows:,} px ({Path(s.name).name})" for k, s in enumerate(levels)
        )
        raise InputError(f"level {level} does not exist; the SEG has {len(levels)} level(s): {listing}")
    return levels[level]


def _bands(slide: SlideSeg, layer: int, threads: int | None) -> Iterator[tuple[int, np.ndarray]]:
    return slide.iter_bands(layer, threads=threads)


def _overlapping_pairs(slide: SlideSeg, threads: int | None) -> set[tuple[int, int]]:
    """Pairs of layers (segment indices) whose non-zero pixels meet somewhere: one streamed pass over all layers."""
    n = slide.layers
    pairs: set[tuple[int, int]] = set()
    iterators = [_bands(slide, k, threads) for k in range(n)]
    for bands in zip(*iterators):
        masks = [band != 0 for _, band in bands]
        for i in range(n):
            if not masks[i].any():
                continue
            for j in range(i + 1, n):
                if (i, j) not in pairs and np.logical_and(masks[i], masks[j]).any():
                    pairs.add((i, j))
    return pairs


def slide_layers(slide: SlideSeg, merge_segments: bool, threads: int | None = None) -> list[list[int]]:
    """The layer indices each output image holds: the one layer of a LABELMAP; one per segment, or with
    ``merge_segments`` greedy first-fit groups of segments that do not overlap (in segment order, as dcmqi)."""
    if slide.seg_type == "LABELMAP":
        return [[0]]
    if not merge_segments or slide.layers < 2:
        return [[k] for k in range(slide.layers)]
    pairs = _overlapping_pairs(slide, threads)
    groups: list[list[int]] = []
    for k in range(slide.layers):
        for group in groups:
            if all((min(k, m), max(k, m)) not in pairs for m in group):
                group.append(k)
                break
        else:
            groups.append([k])
    return groups


def _group_bands(
    slide: SlideSeg, group: list[int], dtype: np.dtype, threads: int | None
) -> Iterator[tuple[int, np.ndarray]]:
    """The bands of one output image: a LABELMAP's labels; BINARY pixels = Segment Number; FRACTIONAL the
    stored value (a later segment of a merged group overwrites an earlier one where it is non-zero)."""
    if slide.seg_type == "LABELMAP":
        for row0, band in _bands(slide, 0, threads):
            yield row0, band if band.dtype == dtype else band.astype(dtype)
        return
    numbers = [slide.segments[k].number for k in group]
    if len(group) == 1:  # one pass: BINARY 0/1 times the Segment Number (each band is a new array)
        for row0, band in _bands(slide, group[0], threads):
            band = band if band.dtype == dtype else band.astype(dtype)
            if slide.seg_type == "BINARY" and numbers[0] != 1:
                np.multiply(band, numbers[0], out=band)
            yield row0, band
        return
    iterators = [_bands(slide, k, threads) for k in group]
    for bands in zip(*iterators):
        row0 = bands[0][0]
        out = np.zeros(bands[0][1].shape, dtype=dtype)
        for number, (_, band) in zip(numbers, bands):
            if slide.seg_type == "BINARY":
                out[band != 0] = number
            else:
                np.copyto(out, band, where=band != 0)
        yield row0, out


def _reporting(
    bands: Iterator[tuple[int, np.ndarray]], tile_rows: int, tiles_across: int, progress: Progress
) -> Iterator[tuple[int, np.ndarray]]:
    """``bands`` as they are, telling ``progress`` the tiles of each as it goes to the writer (a writer
    stops asking after the last band, so nothing after a ``yield`` is sure to run)."""
    for row0, band in bands:
        progress.advance(-(-band.shape[-2] // tile_rows) * tiles_across)
        yield row0, band


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def seg_to_slide(
    seg: PathLike | Sequence[PathLike],
    output_dir: PathLike,
    *,
    level: int | None = None,
    merge_segments: bool = False,
    fmt: str = "ome-tiff",
    prefix: str = "",
    create_dir: bool = True,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ReadReport:
    """Slide SEG -> label image(s) of its total pixel matrix + dcmqi ``meta.json`` in ``output_dir``.

    LABELMAP: one image of Segment Numbers (``1.ome.tif``).  BINARY / FRACTIONAL: one image
    per segment (pixels = Segment Number, or the stored fractional value), or with
    ``merge_segments`` the fewest images of segments that do not overlap; named as for volumes
    (``<prefix>-<k><ext>``, ``<prefix>-meta.json``).  Bands of tile rows are read and written
    in turn; every file appears only when all are written.

    Parameters
    ----------
    seg
        A slide SEG file, or the files / folder of a SEG pyramid (one instance per level).
    output_dir
        The folder for the images and ``meta.json``.
    level
        The pyramid level to read (0 = largest); None: the only one, or level 0.
    merge_segments
        BINARY / FRACTIONAL: the fewest images of non-overlapping segments (one extra pass to
        find the overlaps).
    fmt
        ``"ome-tiff"`` (tiled, deflate-compressed OME-TIFF with PhysicalSizeX/Y in um) or
        ``"nrrd"`` (2-D NRRD whose ``space directions`` carry the pixel spacing).
    prefix
        File name prefix (dcmqi's ``--prefix``).
    create_dir
        Create ``output_dir`` when missing (once the SEG has been read).
    threads
        Decoding and compressing threads (None: one per core).
    progress
        Told the steps (finding overlapping segments when merging, then the tiles of every output
        image, per band, and each file's bytes once written); None: no calls.

    Returns
    -------
    ReadReport
        What was written (``shape`` is (1, rows, columns)), with the warnings.

    Raises
    ------
    LabelmapError
        A damaged or unsupported SEG, a level that does not exist, an unusable output folder.
    """
    from labelmap._util.atomic import OutputSet, check_output_dir, missing_dirs
    from labelmap.formats.dcmqi_json import write_meta_json
    from labelmap.formats.slide_io import write_slide_labels
    from labelmap.pipeline.convert import _check_not_inputs, _check_prefix, output_names
    from labelmap.seg.tiled_read import open_slide_levels

    t0 = time.perf_counter()
    _check_prefix(prefix)
    ext = SLIDE_FORMATS.get(fmt)
    if ext is None:
        raise InputError(f"a slide SEG is written as {' or '.join(SLIDE_FORMATS)}, not {fmt!r}")
    if not (create_dir and not Path(output_dir).exists()):
        check_output_dir(output_dir)  # a bad folder fails before the SEG is read
    levels = open_slide_levels(seg)
    slide = select_level(levels, level)
    if progress is not None and merge_segments and slide.seg_type != "LABELMAP" and slide.layers > 1:
        progress.step("finding overlapping segments")
    groups = slide_layers(slide, merge_segments, threads)
    created = missing_dirs(output_dir) if create_dir else []
    out_dir = check_output_dir(output_dir, create=create_dir)
    images, meta_path = output_names(out_dir, prefix, len(groups), ext)
    for other in levels:
        _check_not_inputs([*images, meta_path], other.name, None)
    g = slide.geometry
    described: list[list[SegmentDescription]] = []
    if progress is not None:
        progress.step("writing label images", len(groups) * g.n_tiles, "tiles")
    with OutputSet(created=created) as out:
        for path, group in zip(images, groups):
            if slide.seg_type == "LABELMAP":
                dtype = slide.dtype
                segments = list(slide.segments)
            else:
                segments = [slide.segments[k] for k in group]
                top = max(s.number for s in segments)
                dtype = np.dtype(np.uint8 if slide.seg_type == "FRACTIONAL" or top <= 0xFF else np.uint16)
            staged = out.stage(path)
            bands = _group_bands(slide, group, dtype, threads)
            write_slide_labels(
                staged,
                bands if progress is None else _reporting(bands, g.tile_rows, g.tiles_across, progress),
                shape=g.shape,
                dtype=dtype,
                geometry=g,
                layers=1,
                tile=(g.tile_rows, g.tile_columns),
                threads=threads,
            )
            described.append([replace(s, label_id=s.number) for s in segments])
            if progress is not None:
                progress.advance(0, nbytes=_size(staged))
        write_meta_json(out.stage(meta_path), slide.series, described)
    return ReadReport(
        outputs=images,
        metadata=meta_path,
        shape=(1, g.rows, g.columns),
        segments=sum(len(d) for d in described),
        filled_slices=0,
        seconds=time.perf_counter() - t0,
        warnings=list(slide.warnings),
    )
