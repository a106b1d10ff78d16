"""Plan a SEG from label inputs: put them on the source grid, number the segments,
detect overlap between files and choose the segmentation type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from labelmap import kernels
from labelmap.errors import HINTS, InputError, MetadataError, OverlapError, SliceMatchError
from labelmap.geometry import place_on_source, reorient
from labelmap.model import Geometry, LabelVolume, Numbering, SegmentDescription, SourceSeries
from labelmap.seg.layers import Layer, one_segment, to_fractional_uint8
from labelmap.seg.options import WriteOptions
from labelmap.seg.placement import onto_source

__all__ = ["PreparedInputs", "prepare_inputs", "check_grids", "overlap_pairs", "describe_pairs", "merge_layers"]


@dataclass(eq=False)
class PreparedInputs:
    """Inputs on the source grid, ready for an encoder."""

    geometry: Geometry
    source_index: np.ndarray
    layers: list[Layer]
    segments: list[SegmentDescription]  # numbered, in number order
    overlap: kernels.Overlap  # overlapping pairs and their voxels, indices in ``segments`` order
    seg_type: str  # LABELMAP | BINARY | FRACTIONAL (resolved from "auto")
    notes: list[str] = field(default_factory=list)


def overlap_pairs(
    overlap: kernels.Overlap, segments: Sequence[SegmentDescription]
) -> list[tuple[SegmentDescription, SegmentDescription, int]]:
    """(segment a, segment b, voxels) for every overlapping pair, a before b."""
    return [(segments[a], segments[b], c) for (a, b), c in zip(overlap.pairs.tolist(), overlap.counts.tolist())]


def describe_pairs(pairs: Sequence[tuple[SegmentDescription, SegmentDescription, int]], limit: int = 10) -> str:
    """The overlapping pairs for a message, at most ``limit`` of them."""
    text = "; ".join(
        f"segment {a.number} {a.display_label!r} and segment {b.number} {b.display_label!r}: {n} voxels"
        for a, b, n in pairs[:limit]
    )
    return text + (f"; and {len(pairs) - limit} more pairs" if len(pairs) > limit else "")


def _label_array(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` as uint8 / uint16 labels (see :func:`kernels.as_label_array`), 16-bit ones of <= 255 as uint8.

    16-bit files of up to 255 labels are common (ITK writes ushort): every later pass
    (presence scan, frame copy, deflate input) is then half the bytes.
    """
    arr = np.asarray(array)
    if arr.dtype == np.uint16 and arr.size and int(arr.max()) <= 0xFF:
        arr = arr.astype(np.uint8)
    return kernels.as_label_array(arr, source=name)


def _slice_ranges(slices: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    runs: list[list[int]] = []
    for k in slices:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _check_coverage(
    present: Sequence[int],
    described: Sequence[SegmentDescription],
    name: str,
    presence: np.ndarray | None = None,
    counts: np.ndarray | None = None,
) -> list[SegmentDescription]:
    """Refuse label values without a description; return the descriptions of labels that do not occur."""
    by_label: dict[int, SegmentDescription] = {}
    for seg in described:
        if seg.label_id in by_label:
            raise MetadataError(f"{name}: labelID {seg.label_id} is described twice in the metadata JSON")
        by_label[seg.label_id] = seg
    missing = [v for v in present if v != 0 and v not in by_label]
    if missing:
        v = missing[0]
        where = ""
        if presence is not None and counts is not None:
            slices = [int(k) for k in np.flatnonzero(presence[:, v])]
            where = f" ({int(counts[v])} voxels in slice(s) {_slice_ranges(slices)})"
        others = ""
        if len(missing) > 1:
            shown = ", ".join(str(m) for m in missing[1:20]) + (" ..." if len(missing) > 20 else "")
            others = f"; so do label values {shown}"
        raise MetadataError(
            f"{name}: label value {v}{where} has no entry in the metadata JSON{others}; "
            f'add a segment object with "labelID": {v} to this file\'s list in segmentAttributes, '
            "or set those voxels to 0"
        )
    present_set = set(int(v) for v in present)
    return [by_label[label] for label in sorted(by_label) if label not in present_set]


#: The end of the note on absent segments; the command line words it in its own flags.
ABSENT_ADVICE = f"({HINTS['keep_absent_segments']})"


def _absent_note(absent: Sequence[tuple[int, SegmentDescription]], names: Sequence[str], kept: bool) -> str:
    """One line for every segment described but without voxels: how many, which labels, in which files."""
    files: dict[int, list[int]] = {}
    for m, seg in absent:
        files.setdefault(m, []).append(seg.label_id)

    def labels(values: list[int]) -> str:
        return ", ".join(map(str, values[:30])) + (f" ... ({len(values)} in all)" if len(values) > 30 else "")

    where = "; ".join(f"{Path(names[m]).name}: labels {labels(v)}" for m, v in files.items())
    count = (
        f"{len(absent)} segment{'s' if len(absent) != 1 else ''} of the metadata ha{'ve' if len(absent) != 1 else 's'}"
    )
    if kept:
        return f"{count} no voxels in the image and are written as empty segments ({where})"
    return f"{count} no voxels in the image and were left out ({where}) {ABSENT_ADVICE}"


def _number(
    entries: list[tuple[int, SegmentDescription]],
    names: Sequence[str],
    numbering: Numbering,
    classic: bool,
    notes: list[str],
    dropped: bool = False,
) -> dict[tuple[int, int], int]:
    """Segment Number for each (layer, label_id).

    Segments that come numbered (a 3D Slicer file's Segment0, Segment1, ... order, or numbers the
    caller chose) keep that order whatever their layers and label values: "auto" keeps the numbers
    when all are given and the type allows them, else (or when ``dropped``: empty segments were left
    out) they are numbered 1..N in that order, unnumbered segments last, as Slicer's own DICOM
    export and dcmqi number what they write; "label" uses the label values all the same.
    """
    keys = [(m, seg.label_id) for m, seg in entries]
    sequential = {key: i + 1 for i, key in enumerate(keys)}
    preset = [seg.number for _, seg in entries]
    if numbering != "label" and any(preset):
        given = all(preset) and len(set(preset)) == len(preset) and not dropped
        if numbering == "auto" and given and not (classic and sorted(preset) != list(range(1, len(preset) + 1))):
            return dict(zip(keys, preset))
        order = sorted(range(len(keys)), key=lambda x: (preset[x] or 1 << 30, x))
        return {keys[x]: rank for rank, x in enumerate(order, start=1)}
    by_label: dict[int, int] = {}
    clash = None
    for m, label in keys:
        if label in by_label and clash is None:
            clash = (by_label[label], m, label)
        by_label.setdefault(label, m)
    labels = sorted(label for _, label in keys)
    label_ok_classic = labels == list(range(1, len(labels) + 1))
    if numbering == "sequential":
        return sequential
    if numbering == "label":
        if clash is not None:
            a, b, label = clash
            raise MetadataError(
                f"label value {label} is used in both {names[a]} and {names[b]}; with label values as Segment "
                "Numbers each value must be unique across files (renumber instead)"
            )
        if classic and not label_ok_classic:
            raise MetadataError(
                f"classic SEG needs Segment Numbers 1..{len(labels)}, but the label values are "
                f"{labels[:20]}{' ...' if len(labels) > 20 else ''}; renumber the segments",
                hint="renumber",
            )
        return {key: key[1] for key in keys}
    if numbering == "auto":
        if clash is None and (not classic or label_ok_classic):
            return {key: key[1] for key in keys}
        notes.append(
            "label values cannot be Segment Numbers here ("
            + ("a value is used in several files" if clash is not None else "classic SEG needs 1..N")
            + "); segments are numbered 1..N in file and label order"
        )
        return sequential
    raise InputError(f"unknown numbering {numbering!r}; use label, sequential or auto")


def prepare_inputs(
    volumes: Sequence[LabelVolume],
    source: SourceSeries,
    *,
    names: Sequence[str] | None = None,
    options: WriteOptions = WriteOptions(),
    threads: int | None = None,
) -> PreparedInputs:
    """Reorient every input onto the source grid, match slices, number segments, measure overlap.

    Parameters
    ----------
    volumes
        The label inputs; ``volumes[m].segments`` describe the label values of input m (``label_id``).
    source
        The source series the SEG will reference.
    names
        What to call each input in messages (default ``label image <m>``).
    options
        ``seg_type``, ``numbering`` and ``tol_mm`` are used; ``seg_type="auto"`` resolves
        to LABELMAP without overlap, else BINARY.

    Returns
    -------
    PreparedInputs
        Layers on the source grid, numbered segments, overlap counts, the resolved type
        and the notes (warnings) of the planning.

    Raises
    ------
    OverlapError
        Overlapping segments when ``seg_type`` is ``labelmap``.
    GeometryError, SliceMatchError, MetadataError, InputError
        Grids that disagree, a label slice without a source image, labels without a
        description, unusable values.
    """
    seg_type, numbering, tol_mm = options.seg_type, options.numbering, options.tol_mm
    if not volumes:
        raise InputError("no label image given")
    names = list(names) if names is not None else [f"label image {i + 1}" for i in range(len(volumes))]
    if seg_type not in ("labelmap", "binary", "fractional", "auto"):
        raise InputError(f"unknown segmentation type {seg_type!r}; use labelmap, binary, fractional or auto")
    fractional = seg_type == "fractional"
    notes: list[str] = list(source.notes)
    arrays: list[np.ndarray] = []
    geometries: list[Geometry] = []
    row, col = source.orientation[:3].tolist(), source.orientation[3:].tolist()
    for volume, name in zip(volumes, names):
        arr = to_fractional_uint8(volume.array, source=name) if fractional else _label_array(volume.array, name)
        arr, geo = reorient(arr, volume.geometry, row, col, source=name)
        arrays.append(arr)
        geometries.append(geo)
    try:
        geometry, source_index, arrays = onto_source(
            arrays, geometries, source, names=names, segments=[v.segments for v in volumes], tol_mm=tol_mm
        )
    except SliceMatchError as exc:
        cause, hint = _source_hint(geometries[0], source)
        raise SliceMatchError(f"{exc}; {cause}", hint=hint) from None

    entries: list[tuple[int, SegmentDescription]] = []
    absent: list[tuple[int, SegmentDescription]] = []
    presences: list[np.ndarray | None] = [None] * len(arrays)
    for m, (volume, name) in enumerate(zip(volumes, names)):
        kept: Sequence[SegmentDescription] = volume.segments
        if fractional:
            one_segment(name, volume.segments)
        else:
            presence_m, counts = kernels.label_presence(arrays[m], source=name, threads=threads)
            presences[m] = presence_m
            missing = _check_coverage(
                [int(v) for v in np.flatnonzero(counts)], volume.segments, name, presence_m, counts
            )
            absent.extend((m, seg) for seg in missing)
            if not options.keep_absent_segments:
                gone = {seg.label_id for seg in missing}
                kept = [seg for seg in volume.segments if seg.label_id not in gone]
        entries.extend((m, seg) for seg in sorted(kept, key=lambda s: s.label_id))
    if absent:
        if not entries:
            files = " and ".join(Path(n).name for n in names)
            raise MetadataError(
                f"{files}: none of the {len(absent)} labels the metadata describes occurs in the image (no input "
                "labels found, as dcmqi says); give the label image that belongs to this metadata",
                hint="keep_absent_segments",
            )
        notes.append(_absent_note(absent, names, options.keep_absent_segments))
    classic = seg_type in ("binary", "fractional")
    dropped = bool(absent) and not options.keep_absent_segments
    numbers = _number(entries, names, numbering, classic, notes, dropped)
    numbered = [(m, replace(seg, number=numbers[(m, seg.label_id)])) for m, seg in entries]
    layers = [
        Layer(arrays[m], tuple(seg for mm, seg in numbered if mm == m), names[m], presences[m])
        for m in range(len(arrays))
    ]
    segments = sorted((seg for _, seg in numbered), key=lambda s: s.number)
    index_of = {seg.number: i for i, seg in enumerate(segments)}

    n = len(segments)
    if fractional or len(arrays) == 1:
        overlap = kernels.Overlap.none(n)
    else:
        luts = []
        for m, layer in enumerate(layers):
            hi = int(arrays[m].max()) if arrays[m].size else 0
            lut = np.full(max(hi, max((s.label_id for s in layer.segments), default=0)) + 1, -1, dtype=np.int32)
            for seg in layer.segments:
                lut[seg.label_id] = index_of[seg.number]
            luts.append(lut)
        overlap = kernels.label_overlap(arrays, luts, n_segments=n)

    prepared = PreparedInputs(geometry, source_index, layers, segments, overlap, "", notes)
    pairs = overlap_pairs(overlap, segments)
    if seg_type == "labelmap" and pairs:
        raise OverlapError(
            f"segments overlap, which a LABELMAP cannot store: {describe_pairs(pairs)}", hint="type_binary"
        )
    if seg_type == "auto":
        prepared.seg_type = "BINARY" if pairs else "LABELMAP"
        if pairs:
            notes.append(f"segments overlap ({describe_pairs(pairs, 3)}), so a BINARY SEG is written")
    else:
        prepared.seg_type = seg_type.upper()
    if prepared.seg_type == "BINARY" and numbering == "auto":
        # auto numbering was resolved for the declared type; BINARY from auto must still be 1..N
        if [s.number for s in segments] != list(range(1, n + 1)):
            renumbered = {seg.number: i + 1 for i, seg in enumerate(segments)}
            notes.append("segments are renumbered 1..N because a BINARY SEG needs consecutive numbers")
            prepared.layers = [
                replace(layer, segments=tuple(replace(s, number=renumbered[s.number]) for s in layer.segments))
                for layer in layers
            ]
            prepared.segments = [replace(s, number=renumbered[s.number]) for s in segments]
    return prepared


def check_grids(geometries: Sequence[Geometry], source: SourceSeries, *, names: Sequence[str], tol_mm: float) -> None:
    """Refuse label grids that cannot lie on ``source``, from the grids alone (no voxel data).

    The checks :func:`prepare_inputs` makes of the grids, with its messages: each grid reoriented
    onto the source's rows and columns, then placed on the series' lattice.  A one-voxel grid
    (3D Slicer's file without data, judged from its value) leaves the decision to :func:`prepare_inputs`.

    Parameters
    ----------
    geometries
        The label grids, as read (one per input volume).
    source
        The source series.
    names
        What to call each grid in messages, as :func:`prepare_inputs` is given them.
    tol_mm
        How far (mm) a voxel centre may lie from the series' lattice.

    Raises
    ------
    GeometryError, SliceMatchError
        A grid whose axes are not the source's, that is off its lattice, or lies entirely outside it.
    """
    if any(int(np.prod(g.shape)) == 1 for g in geometries):
        return
    row, col = source.orientation[:3].tolist(), source.orientation[3:].tolist()
    one = np.zeros((1, 1, 1), dtype=np.uint8)  # reorient's grid does not depend on the array
    grids = [reorient(one, g, row, col, source=name)[1] for g, name in zip(geometries, names)]
    try:
        place_on_source(grids, source, tol_mm=tol_mm, names=names)
    except SliceMatchError as exc:
        cause, hint = _source_hint(grids[0], source)
        raise SliceMatchError(f"{exc}; {cause}", hint=hint) from None


def _source_hint(geometry: Geometry, source: SourceSeries) -> tuple[str, str | None]:
    """The likely cause of a label slice without a source image (a gap in the series, or another grid)
    and the hint code that goes with it."""
    positions = np.asarray(source.positions, dtype=np.float64)
    files = source.files or source.sop_instance_uids
    if len(positions) > 2:
        steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
        usual = float(np.median(steps))
        gaps = np.flatnonzero(steps > 1.5 * usual) if usual > 0 else np.array([], dtype=int)
        if gaps.size:
            m = int(gaps[0])
            missing = int(round(steps[m] / usual)) - 1
            more = f" (and {gaps.size - 1} more gap(s))" if gaps.size > 1 else ""
            return (
                f"the source series has a gap: about {missing} slice(s) missing between {str(files[m])!r} and "
                f"{str(files[m + 1])!r}{more}; add the missing file(s) to the source folder"
            ), None
    counts = ""
    if geometry.shape[0] != len(positions):
        counts = f"the label image has {geometry.shape[0]} slices, the source series {len(positions)}; "
    return f"{counts}the labels must lie on the source series grid: check that they were made from this series", (
        "tolerance"
    )


def merge_layers(prepared: PreparedInputs) -> tuple[np.ndarray, np.ndarray]:
    """One array of Segment Numbers from non-overlapping layers (LABELMAP input), and its presence matrix.

    presence[k, n] tells whether Segment Number n occurs in slice k; it is derived
    from the layers' own presence, not by scanning the merged array again.
    """
    top = max((s.number for s in prepared.segments), default=0)
    n_slices = prepared.geometry.shape[0]
    merged = None
    presence = np.zeros((n_slices, top + 1), dtype=bool)
    for layer in prepared.layers:
        layer_presence = layer.value_presence()
        if not layer.segments:
            continue
        hi = max(int(layer.array.max()) if layer.array.size else 0, max(s.label_id for s in layer.segments))
        lut = np.zeros(hi + 1, dtype=np.uint8 if top <= 0xFF else np.uint16)
        for seg in layer.segments:
            lut[seg.label_id] = seg.number
            if seg.label_id < layer_presence.shape[1]:
                presence[:, seg.number] |= layer_presence[:, seg.label_id]
        presence[:, 0] |= layer_presence[:, 0] if layer_presence.shape[1] else False
        identity = np.array_equal(lut[1:], np.arange(1, lut.size))
        if identity and len(prepared.layers) == 1:
            merged = layer.array  # label values are the Segment Numbers already
            continue
        mapped = kernels.remap_labels(layer.array, lut, source=layer.name)
        if merged is None:
            merged = mapped
        else:
            np.copyto(merged, mapped, where=mapped != 0)
    if merged is None:
        merged = np.zeros(prepared.geometry.shape, dtype=np.uint8)
        presence[:, 0] = True
    if len(prepared.layers) > 1:
        # background: a voxel is 0 only where every layer is 0
        presence[:, 0] = (merged.reshape(n_slices, -1) == 0).any(axis=1)
    return merged, presence
