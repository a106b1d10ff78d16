"""Pixel Data: its size or encapsulated items, and what the decoded frames hold (PS3.5 8, A.4; C.8.20.2)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import numpy as np

from labelmap.dicom.uids import RLE_LOSSLESS
from labelmap.errors import LabelmapError, MissingDependencyError
from labelmap.seg.types import SegmentationType
from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, frames_text, uid_name, values_text, violation
from labelmap.validate.rules.palette import lut_descriptor
from labelmap.validate.rules.syntax import syntax_of
from labelmap.validate.tables import ENCODING, FG, PALETTE, PIXEL, SEG_IMAGE
from labelmap.validate.values import as_int, get, upper_text

_pixel_data = partial(violation, "PixelData")
#: Compressed frames decoding to more bytes than this are not decoded (their values are not checked).
DECODE_LIMIT = 1 << 30


def check(ctx: SegContext) -> Iterator[Violation]:
    n, rows, columns, bits = ctx.n_frames, ctx.rows, ctx.columns, ctx.bits
    if n is None or not rows or not columns or bits is None:
        return  # the attributes that size Pixel Data are broken and were reported
    layout, ts = ctx.pixel_layout, ctx.transfer_syntax
    if not layout.present:
        yield _pixel_data("is absent", f"{PIXEL}: Type 1C, the frames")
        return
    npx, length = rows * columns, layout.length
    if not layout.encapsulated:
        need = (n * npx + 7) // 8 if bits == 1 else n * npx * (bits // 8)
        rule = "PS3.5 8.1.1 native Pixel Data: Rows x Columns x Number of Frames x Bits Allocated / 8, padded to even"
        if length % 2:
            yield _pixel_data(f"has an odd length ({length} bytes)", "PS3.5 7.1.1: values have an even length")
        padded = n * ((npx + 7) // 8)
        if bits == 1 and npx % 8 and length in (padded, padded + 1) and length > need + 1:
            yield _pixel_data(
                f"holds {length} bytes: each 1-bit frame is padded to a byte boundary "
                f"({rows} x {columns} = {npx} pixels is not a multiple of 8)",
                "PS3.5 8.1.1: 1-bit frames are packed continuously, with no padding between frames",
            )
            return
        if length < need:
            yield _pixel_data(
                f"holds {length} bytes but {n} frames of {rows} x {columns} at {bits} bit(s) need {need}", rule
            )
            return
        if length > need + 1:
            yield _pixel_data(
                f"holds {length} bytes, {length - need} more than {n} frames need ({need})", rule, "warning"
            )
    else:
        problems = list(_fragments(ctx, n))
        if problems:
            yield from problems
            return
        syntax = syntax_of(ts)
        if bits == 1 and (syntax is None or syntax.name not in ("j2k", "j2k-any")):
            return  # no 1-bit codec for this syntax here; the syntax itself was reported
        if ts and (syntax is None or syntax.codec is None):
            yield _pixel_data(
                f"pixel values not checked: labelmap has no decoder for {uid_name(ts)}",
                "decoding the frames needs a codec for the transfer syntax",
                "warning",
            )
            return
        decoded = n * npx * max(bits // 8, 1)
        if decoded > DECODE_LIMIT:
            yield _pixel_data(
                f"pixel values not checked: {n} frames of {rows} x {columns} decode to {decoded / 1e9:.1f} GB, "
                f"more than the validator decodes at once ({DECODE_LIMIT >> 20} MiB); the items were checked",
                "decoding the frames of a large (slide) SEG whole would need that much memory",
                "warning",
            )
            return
    try:
        if bits == 1:
            yield from _binary_pixels(ctx, ctx.pixel_source.binary_stream((n, rows, columns)), n, npx)
        else:  # LABELMAP or FRACTIONAL (BINARY is 1-bit)
            check_frames = _labelmap_pixels if ctx.type_spec.type is SegmentationType.LABELMAP else _fractional_pixels
            yield from check_frames(ctx, np.asarray(ctx.pixel_source.frames((n, rows, columns), bits)))
    except MissingDependencyError as exc:
        yield _pixel_data(f"pixel values not checked: {exc}", "decoding the frames needs a codec package", "warning")
    except LabelmapError as exc:
        message = str(exc).replace(f"{ctx.name}: ", "")
        yield _pixel_data(f"frames cannot be decoded: {message}", f"{ENCODING}: the frames of the transfer syntax")


def _fragments(ctx: SegContext, n: int) -> Iterator[Violation]:
    """Encapsulated Pixel Data: fragments and offset table against the frame count (at most one violation)."""
    layout, ts = ctx.pixel_layout, ctx.transfer_syntax
    if layout.stored_native:
        yield _pixel_data(
            f"is native although {uid_name(ts)} is encapsulated",
            "PS3.5 A.4: compressed transfer syntaxes encapsulate Pixel Data",
        )
    elif layout.error is not None:
        yield _pixel_data(f"encapsulated items cannot be parsed ({layout.error})", "PS3.5 A.4")
    elif layout.offsets not in (0, n):
        yield _pixel_data(
            f"Basic Offset Table has {layout.offsets} entries for {n} frames",
            "PS3.5 A.4: the Basic Offset Table is empty or has one entry per frame",
        )
    elif layout.fragments < n:
        yield _pixel_data(
            f"holds {layout.fragments} fragments for {n} frames",
            "PS3.5 A.4: each frame is encoded in at least one fragment",
        )
    elif ts == RLE_LOSSLESS and layout.fragments != n:
        yield _pixel_data(
            f"holds {layout.fragments} fragments for {n} RLE frames", "PS3.5 A.4.2: each RLE frame is one fragment"
        )


def _labelmap_pixels(ctx: SegContext, frames: np.ndarray) -> Iterator[Violation]:
    """Every pixel value is a described Segment Number, within the palette, one frame per position."""
    from labelmap import kernels

    presence, counts = kernels.label_presence(frames, source=ctx.name)
    present = [int(v) for v in np.flatnonzero(counts)]
    undescribed = [v for v in present if v not in ctx.segment_numbers]
    if undescribed and ctx.segment_numbers:
        ppv = as_int(get(ctx.ds, "PixelPaddingValue"))
        where = np.flatnonzero(presence[:, undescribed[0]]) + 1
        note = " (the Pixel Padding Value, i.e. the background)" if undescribed == [ppv] else ""
        yield violation(
            "SegmentSequence",
            f"has no item for pixel value(s) {values_text(undescribed)}{note}; "
            f"value {undescribed[0]} occurs {int(counts[undescribed[0]])} times, first in {frames_text(where)}",
            f"{SEG_IMAGE} (C.8.20.2.3.3): every pixel value of a LABELMAP, background included, is described "
            "by a Segment Sequence item",
            frame=int(where[0]),
            segment=undescribed[0],
        )
    palette = [lut_descriptor(get(ctx.ds, f"{c}PaletteColorLookupTableDescriptor")) for c in ("Red", "Green", "Blue")]
    desc = next((d for d in palette if len(d) == 3), None)  # the first complete descriptor
    if desc is not None and upper_text(ctx.ds, "PhotometricInterpretation") == "PALETTE COLOR":
        first, last = desc[1], desc[1] + (desc[0] or 65536) - 1
        outside = [v for v in present if not first <= v <= last]
        if outside:
            yield violation(
                "RedPaletteColorLookupTableDescriptor",
                f"maps values {first}..{last} but pixel value(s) {values_text(outside)} occur; they show in "
                "the first or last entry's colour",
                f"{PALETTE} (C.7.6.3.1.5)",
                "warning",
            )
    positions = ctx.position_ids
    if positions is not None and len(positions) == len(frames) and not ctx.slide:  # slides: rules/slide.py
        rule = "a label map has one frame per position; overlapping labels need separate instances"
        yield from _one_position(positions, f"{SEG_IMAGE} (Supplement 243): {rule}")


def _one_position(key: np.ndarray, rule: str, segment_of: Callable[[int], int] | None = None) -> Iterator[Violation]:
    """A warning when frames share a ``key`` (a position, or a segment and position; ``segment_of`` names it)."""
    if len(np.unique(key)) == len(key):
        return
    dup = int(np.flatnonzero(np.bincount(key) > 1)[0])
    where = np.flatnonzero(key == dup) + 1
    of = "" if segment_of is None else f" of segment {segment_of(dup)}"
    yield violation(
        "ImagePositionPatient",
        f"{frames_text(where)}{of} lie at one position",
        rule,
        "warning",
        path="PerFrameFunctionalGroupsSequence[*].PlanePositionSequence",
        frame=int(where[0]),
    )


def _fractional_pixels(ctx: SegContext, frames: np.ndarray) -> Iterator[Violation]:
    """No stored value exceeds Maximum Fractional Value."""
    mfv = as_int(get(ctx.ds, "MaximumFractionalValue"))
    if mfv is None or not frames.size:
        return
    top = frames.reshape(len(frames), -1).max(axis=1)
    bad = np.flatnonzero(top > mfv)
    if bad.size:
        yield violation(
            "MaximumFractionalValue",
            f"is {mfv} but {frames_text(bad + 1)} hold values up to {int(top.max())}",
            f"{SEG_IMAGE}: no stored value exceeds Maximum Fractional Value",
            frame=int(bad[0]) + 1,
        )


def _binary_pixels(ctx: SegContext, packed: np.ndarray, n: int, npx: int) -> Iterator[Violation]:
    """One frame per (segment, position), and Segments Overlap against the pixels."""
    from labelmap import kernels

    segments, positions = ctx.frame_segments, ctx.position_ids
    if segments is None or positions is None or len(segments) != n or len(positions) != n or not ctx.segment_numbers:
        return
    numbers = sorted(ctx.segment_numbers)
    index = {v: i for i, v in enumerate(numbers)}
    if any(int(s) not in index for s in segments):
        return  # undescribed segments were reported
    seg_idx = np.array([index[int(s)] for s in segments], dtype=np.int64)
    stride = int(positions.max()) + 1
    rule = f"{FG}: a segment has one frame per position (readers disagree otherwise)"
    if not ctx.slide:  # slides: rules/slide.py names frames at one Row/Column
        yield from _one_position(seg_idx * stride + positions, rule, lambda dup: numbers[dup // stride])
    overlap = kernels.frame_overlap(packed, positions, seg_idx, len(numbers), npx)
    pairs = [(numbers[a], numbers[b], c) for (a, b), c in zip(overlap.pairs.tolist(), overlap.counts.tolist())]
    overlap_flag = upper_text(ctx.ds, "SegmentsOverlap")
    bad = partial(violation, "SegmentsOverlap")
    if pairs and overlap_flag == "NO":
        text = ", ".join(f"{a} and {b} ({c} pixels)" for a, b, c in pairs[:5])
        yield bad(
            f"is NO but segments overlap: {text}" + (" ..." if len(pairs) > 5 else ""),
            f"{SEG_IMAGE} (C.8.20.2.3): NO promises that no pixel is in two segments",
            segment=pairs[0][0],
        )
    elif not pairs and overlap_flag == "YES":
        yield bad(
            "is YES but no two segments share a pixel",
            f"{SEG_IMAGE} (C.8.20.2.3): YES says some segments overlap; NO would let readers skip the check",
            "warning",
        )
