"""``labelmap-convert preview``: a picture of what a SEG holds, for a person to look at.

:func:`preview_seg` reads a SEG (and, when given, its source series), picks the slices to show
(:func:`choose_slices`), resamples each to a tile (:func:`display_size`, nearest neighbour, so
every drawn pixel is exactly one segment's), and hands a :class:`Picture` to
:mod:`labelmap.pipeline.preview_draw`, which composes the montage, the legend and the title and
writes the PNG (atomically) with the layout in PNG text chunks.  Only the frames of the drawn
slices are turned into pictures; every frame is counted (voxels per segment, slices holding a
segment) by the label kernels, never stacked into a volume.  A slide SEG gives one thumbnail
made from bands of its matrix (or a smaller pyramid level), never the whole matrix at once.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

from labelmap._util.resources import Resources
from labelmap.errors import InputError, UnsupportedError
from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.model import Geometry, SegmentDescription, SourceSeries
from labelmap.pipeline.reports import PreviewReport

if TYPE_CHECKING:
    from labelmap.seg.read import OpenedSeg

__all__ = [
    "DEFAULT_SLICES",
    "LegendEntry",
    "Picture",
    "Tile",
    "choose_slices",
    "display_size",
    "preview_seg",
    "segment_rgb",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Slices drawn when none are asked for.
DEFAULT_SLICES = 12
#: A volume SEG's slices are drawn this many pixels along their longer side (physical aspect kept).
VOLUME_TILE = 256
#: Without --tile-size, tiles shrink (to no less than MIN_TILE) when more than fit this width at VOLUME_TILE.
MONTAGE_WIDTH = 2048
MIN_TILE = 96
#: A slide SEG's thumbnail, longer side in pixels.
SLIDE_THUMBNAIL = 1024
#: Opacity of segments drawn over a source image (over black they are drawn opaque).
OVERLAY_ALPHA = 0.5

Fractional = Literal["threshold", "alpha"]


@dataclass(frozen=True)
class LegendEntry:
    """One segment in the legend: number, name, the colour it is drawn in, voxels (pixels of a slide)."""

    number: int
    label: str
    rgb: tuple[int, int, int]
    voxels: int | None
    drawn: bool = True  # False: the background segment (Pixel Padding Value), never drawn
    note: str = ""


@dataclass(frozen=True, eq=False)
class Tile:
    """One slice (or a slide's thumbnail) at display size.

    ``layers`` are drawn in order, later over earlier: each a (height, width) uint16 array of
    Segment Numbers (0: nothing) and an optional float32 weight (FRACTIONAL alpha mode) in 0..1.
    Display pixel (x, y) shows row ``floor((y + 0.5) * rows / height)`` and column
    ``floor((x + 0.5) * columns / width)`` of the slice (nearest neighbour).
    """

    slice: int
    caption: str
    rows: int
    columns: int
    height: int
    width: int
    grey: np.ndarray | None  # (height, width) uint8 source image, windowed
    layers: tuple[tuple[np.ndarray, np.ndarray | None], ...]
    frames: tuple[int, ...] = ()  # 1-based SEG frame numbers drawn in this tile
    position_mm: float | None = None  # along the slice normal
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Picture:
    """Everything the drawing needs: title lines, tiles, legend, opacity, and facts for the text chunks."""

    title: tuple[str, ...]
    tiles: tuple[Tile, ...]
    legend: tuple[LegendEntry, ...]
    alpha: float
    facts: dict[str, Any]
    notes: tuple[str, ...] = ()  # lines under the title
    warnings: tuple[str, ...] = ()  # for the report (the CLI's warning lines)


# --------------------------------------------------------------------------- small rules
def display_size(
    rows: int, columns: int, spacing: Sequence[float] = (1.0, 1.0), longest: int = VOLUME_TILE
) -> tuple[int, int]:
    """(height, width) in display pixels of a ``rows`` x ``columns`` image with ``spacing`` (between rows,
    between columns): its physical aspect kept, the longer side ``longest`` pixels."""
    h_mm, w_mm = rows * float(spacing[0]), columns * float(spacing[1])
    if not (np.isfinite(h_mm) and np.isfinite(w_mm) and h_mm > 0 and w_mm > 0):
        h_mm, w_mm = float(rows), float(columns)
    scale = longest / max(h_mm, w_mm)
    return max(1, int(round(h_mm * scale))), max(1, int(round(w_mm * scale)))


def _nearest(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` display pixels: floor((i + 0.5) * src / dst) (Pillow's NEAREST)."""
    i = np.arange(dst, dtype=np.int64)
    return np.minimum((2 * i + 1) * src // (2 * dst), src - 1)


def segment_rgb(segment: SegmentDescription) -> tuple[int, int, int]:
    """The colour a segment is drawn in: its Recommended Display CIELab Value (or palette colour) as sRGB,
    else a stable distinct colour from its number (:func:`labelmap._util.color.distinct_rgb`)."""
    from labelmap._util.color import cielab_to_rgb, distinct_rgb

    if segment.rgb is not None:
        return tuple(int(v) for v in segment.rgb)  # type: ignore[return-value]
    if segment.cielab is not None:
        return cielab_to_rgb(segment.cielab)
    return distinct_rgb(segment.number)


def choose_slices(
    n_slices: int, holding: np.ndarray, slices: int | Sequence[int] | None, *, what: str = "the SEG's grid"
) -> list[int]:
    """The slices to draw: ``slices`` itself when a list, else that many (default :data:`DEFAULT_SLICES`)
    evenly spaced among the slices ``holding`` a segment (all slices when none does).

    Raises
    ------
    InputError
        A count below 1, an empty list, or a slice outside ``0 .. n_slices - 1``.
    """
    if slices is not None and not isinstance(slices, (int, np.integer)):
        picks = [int(k) for k in slices]
        if not picks:
            raise InputError("--slices names no slice; give a count (12) or slice indices (3,7,10-12)")
        bad = [k for k in picks if not 0 <= k < n_slices]
        if bad:
            raise InputError(
                f"--slices: slice {bad[0]} is outside {what} (0..{n_slices - 1}, 0-based along the slice normal)"
            )
        return sorted(dict.fromkeys(picks))
    count = DEFAULT_SLICES if slices is None else int(slices)
    if count < 1:
        raise InputError(f"--slices {count}: draw at least one slice")
    candidates = np.flatnonzero(holding) if holding.any() else np.arange(n_slices)
    if len(candidates) <= count:
        return [int(k) for k in candidates]
    idx = np.rint(np.linspace(0, len(candidates) - 1, count)).astype(np.int64)
    return [int(k) for k in dict.fromkeys(candidates[idx].tolist())]


def _size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _grey(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Modality values through a linear window (center, width) -> uint8 grey."""
    center, width = window
    lo = center - width / 2.0
    scaled = (values - np.float32(lo)) * np.float32(255.0 / max(width, 1e-6))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _robust_window(images: Sequence[np.ndarray]) -> tuple[float, float]:
    """A window from the 1st to the 99th percentile of the drawn images' values (a sample of them)."""
    sample = np.concatenate([im.reshape(-1)[::7] for im in images]) if images else np.zeros(1, np.float32)
    lo, hi = (float(v) for v in np.percentile(sample, [1.0, 99.0]))
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    width = max(hi - lo, 1.0)
    return (lo + hi) / 2.0, width


# --------------------------------------------------------------------------- volume SEG frames
class _Frames:
    """A SEG's frames counted and drawn: voxels per segment, which frames hold a drawable segment,
    and the label layers of some frames (full size)."""

    counts: dict[int, int]
    frame_has: np.ndarray  # (F,) bool
    overlap_pixels: int = 0  # pixels of the drawn frames that hold several segments
    notes: tuple[str, ...] = ()

    def layers(
        self, frames: Sequence[int], rows: np.ndarray, cols: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """The layers of the given frames (one slice's), sampled at ``rows`` x ``cols`` of the frame."""
        raise NotImplementedError


class _LabelmapFrames(_Frames):
    def __init__(
        self,
        opened: OpenedSeg,
        segments: Sequence[SegmentDescription],
        padding: int | None,
        bits: int,
        threads: int | None = None,
    ):
        from labelmap import kernels

        self.frames = opened.pixels.frames(opened.shape, bits)
        presence, counts = kernels.label_presence(self.frames, source=opened.name, threads=threads)
        self.counts = {int(v): int(c) for v, c in enumerate(counts.tolist()) if c}
        lut = np.zeros(1 << bits, dtype=np.uint16)
        for s in segments:
            if s.number != padding and 0 < s.number < lut.size:
                lut[s.number] = s.number
        self.lut = lut
        drawable = lut[: presence.shape[1]] > 0
        self.frame_has = np.asarray((presence & drawable).any(axis=1), dtype=bool)
        described = {s.number for s in segments} | ({padding} if padding is not None else set())
        stray = [v for v in self.counts if v not in described and v != 0]
        if stray:
            self.notes = (
                f"pixel values {stray[:10]} occur in the frames but no segment describes them; they are not drawn",
            )

    def layers(
        self, frames: Sequence[int], rows: np.ndarray, cols: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        return [(self.lut[self.frames[f][np.ix_(rows, cols)]], None) for f in frames]


def _bit_counts(packed: np.ndarray, n_frames: int, npx: int, chunk: int = 256) -> np.ndarray:
    """Set pixels of each 1-bit frame of a continuous stream (a byte popcount when frames are byte-aligned)."""
    out = np.zeros(n_frames, dtype=np.int64)
    if npx % 8 == 0:
        per = npx // 8
        popcount = getattr(np, "bitwise_count", None)
        table = None if popcount is not None else np.array([bin(i).count("1") for i in range(256)], np.uint8)
        for start in range(0, n_frames, chunk):
            stop = min(n_frames, start + chunk)
            block = packed[start * per : stop * per].reshape(stop - start, per)
            bits = popcount(block) if popcount is not None else table[block]  # type: ignore[index]
            out[start:stop] = bits.sum(axis=1, dtype=np.int64)
        return out
    for start in range(0, n_frames, chunk):
        stop = min(n_frames, start + chunk)
        first, last = start * npx, stop * npx
        raw = packed[first // 8 : (last + 7) // 8]
        bits = np.unpackbits(raw, bitorder="little")[first % 8 : first % 8 + (last - first)]
        out[start:stop] = bits.reshape(stop - start, npx).sum(axis=1, dtype=np.int64)
    return out


class _ClassicFrames(_Frames):
    """BINARY (1-bit) or FRACTIONAL (8-bit) frames, one segment each: drawn in Segment Number order."""

    def __init__(self, opened: OpenedSeg, seg_type: str, fractional: Fractional, max_value: int):
        info = opened.info
        assert info.segment_numbers is not None
        self.numbers = np.asarray(info.segment_numbers, dtype=np.int64)
        self.rows, self.columns = info.rows, info.columns
        npx = self.rows * self.columns
        self.binary = seg_type == "BINARY"
        self.fractional, self.max_value = fractional, max_value
        if self.binary:
            self.packed = opened.pixels.binary_stream(opened.shape)
            per_frame = _bit_counts(self.packed, len(self.numbers), npx)
        else:
            self.values = opened.pixels.frames(opened.shape, 8)
            per_frame = np.zeros(len(self.numbers), dtype=np.int64)
            for start in range(0, len(per_frame), 256):
                block = self.values[start : start + 256].reshape(-1, npx)
                per_frame[start : start + len(block)] = np.count_nonzero(block, axis=1)
        self.counts = {}
        for number, c in zip(self.numbers.tolist(), per_frame.tolist()):
            self.counts[number] = self.counts.get(number, 0) + int(c)
        self.frame_has = per_frame > 0

    def _mask(self, f: int) -> np.ndarray:
        from labelmap.kernels.tiles import unpack_tile_bits

        npx = self.rows * self.columns
        bit0 = f * npx
        byte0, byte1 = bit0 // 8, (bit0 + npx + 7) // 8
        return unpack_tile_bits(self.packed[byte0:byte1], 1, self.rows, self.columns, bit_offset=bit0 % 8)[0] != 0

    def layers(
        self, frames: Sequence[int], rows: np.ndarray, cols: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        order = sorted(frames, key=lambda f: (int(self.numbers[f]), f))
        shape = (len(rows), len(cols))
        at = np.ix_(rows, cols)
        if not self.binary and self.fractional == "alpha":
            out: list[tuple[np.ndarray, np.ndarray | None]] = []
            for f in order:
                value = self.values[f][at]
                numbers = np.where(value > 0, np.uint16(self.numbers[f]), np.uint16(0)).astype(np.uint16)
                out.append((numbers, (value.astype(np.float32) / np.float32(self.max_value)).clip(0, 1)))
            return out
        lab = np.zeros(shape, dtype=np.uint16)
        for f in order:
            mask = self._mask(f)[at] if self.binary else self.values[f][at].astype(np.int32) * 2 >= self.max_value
            self.overlap_pixels += int(np.count_nonzero(mask & (lab > 0)))
            lab[mask] = self.numbers[f]
        return [(lab, None)]


# --------------------------------------------------------------------------- volume SEG
def _load_series(reference: Any, series_uid: str | None) -> SourceSeries:
    """Load the reference series (run on a thread while the SEG is read) and warm pydicom, which reads its pixels."""
    from labelmap.pipeline.convert import load_source

    if isinstance(reference, SourceSeries):
        source = reference
    else:
        source = load_source(reference, series_uid=series_uid)
    import pydicom.pixels  # noqa: F401 - imported here, in parallel with the SEG's reading

    return source


def _reference_of(
    pending: Future[SourceSeries], reference: Any, header: Any, name: str, series_uid: str | None
) -> SourceSeries:
    """The reference series, chosen by the series the SEG references when the folder holds several.

    Raises
    ------
    InputError
        The reference holds images, but not of the series the SEG references.
    DicomSeriesError
        The reference's own problems (no images, several series and the SEG names none of them).
    """
    from labelmap.errors import DicomSeriesError

    referenced = _referenced_series(header)
    if isinstance(reference, (str, os.PathLike)):
        shown = os.fspath(reference)
    elif isinstance(reference, (list, tuple)) and reference:
        shown = ", ".join(os.fspath(p) for p in reference[:3]) + (", ..." if len(reference) > 3 else "")
    else:
        shown = "the reference"
    try:
        source = pending.result()
    except DicomSeriesError as exc:
        several = "image series were found" in str(exc)
        if series_uid is not None or len(referenced) != 1 or not several:
            raise
        try:
            source = _load_series(reference, referenced[0])
        except DicomSeriesError as again:
            if "was not found" not in str(again):
                raise
            raise InputError(
                f"{shown}: holds no image of series {referenced[0]}, the series {name} was made from (its "
                "Referenced Series Sequence); give that series as --reference"
            ) from None
    if referenced and source.series_instance_uid not in referenced:
        raise InputError(
            f"{shown}: is series {source.series_instance_uid} but {name} was made from series "
            f"{', '.join(referenced)} (its Referenced Series Sequence); give that series as --reference"
        )
    return source


def _referenced_series(header: Any) -> list[str]:
    try:
        items = header.get("ReferencedSeriesSequence") or []
        return [str(item.get("SeriesInstanceUID")) for item in items if item.get("SeriesInstanceUID")]
    except Exception:  # a damaged sequence: placement by geometry still decides
        return []


def _volume_picture(  # noqa: PLR0913 - the preview's options
    seg: PathLike,
    *,
    reference: Any,
    slices: int | Sequence[int] | None,
    window: tuple[float, float] | None,
    fractional: Fractional,
    series_uid: str | None,
    tol_mm: float,
    tile_size: int | None = None,
    threads: int | None = None,
) -> Picture:
    from labelmap.dicom.values import quiet_pydicom
    from labelmap.seg.read import int_value, open_seg, segment_descriptions

    pool = ThreadPoolExecutor(max_workers=1) if reference is not None else None
    pending = pool.submit(_load_series, reference, series_uid) if pool is not None else None
    try:
        with quiet_pydicom():
            opened = open_seg(seg)
            header, name = opened.header, opened.name
            seg_type = str(header.get("SegmentationType", ""))
            if seg_type not in ("LABELMAP", "BINARY", "FRACTIONAL"):
                raise UnsupportedError(f"{name}: Segmentation Type {seg_type or '(missing)'} cannot be previewed")
            segments = sorted(segment_descriptions(header, name), key=lambda s: s.number)
            source = None if pending is None else _reference_of(pending, reference, header, name, series_uid)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    with quiet_pydicom():
        ref_geometry: Geometry | None = None
        if source is not None:
            from labelmap.sources.series import series_geometry

            ref_geometry = series_geometry(source, tol_mm=max(tol_mm, 0.01))
        geometry, k = opened.place(ref_geometry, tol_mm)
        bits = int_value(header, "BitsAllocated", name, minimum=1)
        padding = int_value(header, "PixelPaddingValue", name, default=None) if seg_type == "LABELMAP" else None
        frames: _Frames
        if seg_type == "LABELMAP":
            frames = _LabelmapFrames(opened, segments, padding, bits, threads)
        else:
            mfv = 1
            if seg_type == "FRACTIONAL":
                mfv = int_value(header, "MaximumFractionalValue", name, default=255, minimum=1, maximum=255)
            frames = _ClassicFrames(opened, seg_type, fractional, mfv)
    n_slices = geometry.shape[0]
    holding = np.zeros(n_slices, dtype=bool)
    holding[k[frames.frame_has]] = True
    picks = choose_slices(n_slices, holding, slices, what="the reference series" if source else "the SEG's grid")
    rows, columns = geometry.shape[1:]
    if tile_size is None:  # many tiles are drawn smaller: the montage stays about MONTAGE_WIDTH pixels wide
        tile_size = max(MIN_TILE, min(VOLUME_TILE, MONTAGE_WIDTH // math.ceil(math.sqrt(len(picks)))))
    height, width = display_size(rows, columns, (geometry.spacing[1], geometry.spacing[0]), tile_size)
    ri, ci = _nearest(rows, height), _nearest(columns, width)
    greys: list[np.ndarray | None] = [None] * len(picks)
    used_window: tuple[float, float] | None = None
    window_from = ""
    if source is not None:
        from labelmap.sources.pixels import read_slice_pixels

        pixels = read_slice_pixels(source, picks)
        used_window, window_from = (window, "--window") if window is not None else (pixels.window, "the images")
        if used_window is None:
            used_window, window_from = _robust_window(pixels.images), "1st-99th percentile"
        greys = [_grey(im[np.ix_(ri, ci)], used_window) for im in pixels.images]
    along = geometry.slice_positions() @ np.asarray(geometry.normal)
    tiles = []
    for kk, grey in zip(picks, greys):
        at = np.flatnonzero(k == kk)
        layers = tuple(frames.layers(at.tolist(), ri, ci))
        extra: dict[str, Any] = {"position": [round(float(v), 6) for v in geometry.slice_positions()[kk]]}
        if source is not None:
            extra["sop_instance_uid"] = source.sop_instance_uids[kk]
        tiles.append(
            Tile(
                slice=kk,
                caption=f"slice {kk}  {along[kk]:.1f} mm",
                rows=rows,
                columns=columns,
                height=height,
                width=width,
                grey=grey,
                layers=layers,
                frames=tuple(int(f) + 1 for f in at),
                position_mm=float(along[kk]),
                extra=extra,
            )
        )
    legend = []
    for s in segments:
        background = s.number == padding
        legend.append(
            LegendEntry(
                number=s.number,
                label=s.display_label,
                rgb=(0, 0, 0) if background else segment_rgb(s),
                voxels=frames.counts.get(s.number, 0),
                drawn=not background and s.number > 0,
                note="background, not drawn" if background else ("not drawn" if s.number == 0 else ""),
            )
        )
    notes = list(frames.notes)
    warnings = list(frames.notes)
    overlap = str(header.get("SegmentsOverlap", "") or "")
    if seg_type != "LABELMAP":
        found = f"; {frames.overlap_pixels:,} drawn pixels hold several segments" if frames.overlap_pixels else ""
        notes.append(
            f"Segments Overlap {overlap or '(absent)'}{found}: segments are drawn in Segment Number order, where "
            "they overlap a later (higher-numbered) one drawn over an earlier one"
        )
        if frames.overlap_pixels:
            warnings.append(
                f"{name}: {frames.overlap_pixels:,} drawn pixels hold several segments; the preview shows the "
                "highest-numbered one there"
            )
    if seg_type == "FRACTIONAL":
        notes.append(
            f"FRACTIONAL ({header.get('SegmentationFractionalType', 'PROBABILITY')}, "
            f"max {getattr(frames, 'max_value', 255)}): "
            + ("drawn where value >= half the maximum" if fractional == "threshold" else "opacity follows the value")
            + "; voxels counted where the value is above 0"
        )
    size = Path(name).stat().st_size
    over = "over black"
    if source is not None:
        desc = str(source.dataset.get("SeriesDescription", "") or "").strip() if hasattr(source.dataset, "get") else ""
        assert used_window is not None
        over = (
            f"over {desc or 'the reference series'} (window {used_window[0]:g}/{used_window[1]:g} from {window_from})"
        )
    title = (
        f"{Path(name).name}: {seg_type} SEG, {opened.n_frames} frames, {_size_text(size)}",
        f"{len(segments)} segments, grid {columns} x {rows} x {n_slices}; {len(picks)} slices {over}",
    )
    facts = {
        "file": str(name),
        "segmentation_type": seg_type,
        "frames": opened.n_frames,
        "size_bytes": size,
        "grid": [columns, rows, n_slices],
        "slices": picks,
        "reference_series": source.series_instance_uid if source is not None else None,
        "window": list(used_window) if used_window is not None else None,
        "window_from": window_from or None,
        "fractional": fractional if seg_type == "FRACTIONAL" else None,
    }
    alpha = OVERLAY_ALPHA if source is not None else 1.0
    return Picture(title, tuple(tiles), tuple(legend), alpha, facts, tuple(notes), tuple(warnings))


# --------------------------------------------------------------------------- entry point
def preview_seg(  # noqa: PLR0913 - the preview's options
    seg: PathLike,
    output: PathLike,
    *,
    reference: None | PathLike | Sequence[PathLike] | SourceSeries = None,
    slices: int | Sequence[int] | None = None,
    window: tuple[float, float] | None = None,
    fractional: Fractional = "threshold",
    series_uid: str | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    tile_size: int | None = None,
    resources: Resources | None = None,
) -> PreviewReport:
    """Draw a SEG as a PNG: a montage of slices with each segment in its colour, a legend and a title.

    Parameters
    ----------
    seg
        A SEG file (LABELMAP, BINARY or FRACTIONAL; a slide SEG gives one thumbnail), or a folder of
        the levels of a slide SEG pyramid (the smallest level at least :data:`SLIDE_THUMBNAIL` pixels
        wide is drawn).
    output
        The PNG to write (atomically).
    reference
        The source series (folder / files, or a loaded SourceSeries): segments are drawn over its
        images, on its grid.  Not for slide SEGs.
    slices
        A count (default :data:`DEFAULT_SLICES`, evenly spaced among the slices holding a segment),
        or the 0-based slice indices to draw.
    window
        (center, width) for the source images; default the images' Window Center / Width, else the
        1st to 99th percentile of the drawn slices.
    fractional
        FRACTIONAL segments: "threshold" (drawn where the value is at least half the maximum) or
        "alpha" (opacity follows the value).
    tile_size
        Pixels along the longer side of each slice's tile (default :data:`VOLUME_TILE`, smaller when more
        than 64 slices are drawn: the montage stays about :data:`MONTAGE_WIDTH` wide), or of a slide's
        thumbnail (default :data:`SLIDE_THUMBNAIL`); 16 to 4096.
    resources
        Threads for counting the frames and decoding a slide's bands (None: every core).
    series_uid, tol_mm
        The series to take from a reference folder holding several (default: the one the SEG
        references); the tolerance placing frames on the reference grid.

    Returns
    -------
    PreviewReport
        The PNG written, its size, the slices drawn, the time.

    Raises
    ------
    LabelmapError
        Not a SEG, a reference of another series, slices outside the grid, Pillow missing.
    """
    from labelmap._util.atomic import check_output_target
    from labelmap.pipeline.preview_draw import require_pillow, save_picture

    t0 = time.perf_counter()
    require_pillow()
    threads = None if resources is None else resources.threads
    if fractional not in ("threshold", "alpha"):
        raise InputError(f"fractional must be 'threshold' or 'alpha', not {fractional!r}")
    if tile_size is not None and not 16 <= int(tile_size) <= 4096:
        raise InputError(f"--tile-size {tile_size}: give 16 to 4096 pixels")
    if window is not None and not (np.isfinite(window).all() and window[1] > 0):
        raise InputError(f"--window {window[0]:g},{window[1]:g}: the width must be a positive number")
    check_output_target(output, [seg] if os.path.isfile(seg) else [])
    if _is_slide(seg):
        if reference is not None:
            raise InputError(
                f"{os.fspath(seg)} is a slide SEG: it is drawn on its own total pixel matrix; --reference is for "
                "volume SEGs"
            )
        if slices is not None and not isinstance(slices, (int, np.integer)):
            raise InputError(f"{os.fspath(seg)} is a slide SEG: one thumbnail, no slices to choose")
        from labelmap.pipeline.preview_slide import slide_picture

        longest = SLIDE_THUMBNAIL if tile_size is None else int(tile_size)
        picture = slide_picture(seg, longest=longest, threads=threads)
    else:
        picture = _volume_picture(
            seg,
            reference=reference,
            slices=slices,
            window=window,
            fractional=fractional,
            series_uid=series_uid,
            tol_mm=tol_mm,
            tile_size=None if tile_size is None else int(tile_size),
            threads=threads,
        )
    width, height = save_picture(picture, output)
    return PreviewReport(
        output=Path(output),
        width=width,
        height=height,
        size_bytes=Path(output).stat().st_size,
        slices=[t.slice for t in picture.tiles],
        segments=len(picture.legend),
        seconds=time.perf_counter() - t0,
        warnings=list(picture.warnings),
    )


def _is_slide(seg: PathLike) -> bool:
    """A slide SEG file, or a folder holding slide SEGs (a pyramid's levels)."""
    from labelmap.seg.tiled_sniff import find_slide_segs, is_slide_seg

    return bool(find_slide_segs(seg)) if os.path.isdir(seg) else is_slide_seg(seg)
