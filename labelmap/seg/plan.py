"""Plan a SEG from label inputs: put them on the source grid, number the segments,
detect overlap between files and choose the segmentation type.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Optional, Sequence

import numpy as np

from .. import kernels
from ..errors import GeometryError, InputError, MetadataError, OverlapError
from ..geometry import DEFAULT_TOLERANCE_MM, match_slices, reorient
from ..model import Geometry, LabelVolume, SegmentDescription, SourceSeries
from .encode_classic import Layer, to_fractional_uint8

__all__ = ["Numbering", "SegType", "PreparedInputs", "prepare_inputs", "overlap_pairs", "merge_layers"]

#: "label": Segment Number = label value; "sequential": 1..N (files in order, labels ascending);
#: "auto": "label" when the type allows it, else "sequential" with a note.
Numbering = Literal["label", "sequential", "auto"]
SegType = Literal["labelmap", "binary", "fractional", "auto"]


@dataclass(eq=False)
class PreparedInputs:
    """Inputs on the source grid, ready for an encoder."""

    geometry: Geometry
    source_index: np.ndarray
    layers: list[Layer]
    segments: list[SegmentDescription]  # numbered, in number order
    overlap: np.ndarray  # (N, N) voxel counts, rows/columns in ``segments`` order
    seg_type: str  # LABELMAP | BINARY | FRACTIONAL (resolved from "auto")
    notes: list[str] = field(default_factory=list)

    def overlapping_pairs(self) -> list[tuple[SegmentDescription, SegmentDescription, int]]:
        return overlap_pairs(self.overlap, self.segments)


def overlap_pairs(
    overlap: np.ndarray, segments: Sequence[SegmentDescription]
) -> list[tuple[SegmentDescription, SegmentDescription, int]]:
    """(segment a, segment b, voxels) for every overlapping pair, a before b."""
    a_idx, b_idx = np.nonzero(np.triu(overlap, 1))
    return [(segments[a], segments[b], int(overlap[a, b])) for a, b in zip(a_idx, b_idx)]


def describe_pairs(pairs, limit: int = 10) -> str:
    text = "; ".join(
        f"segment {a.number} {a.display_label!r} and segment {b.number} {b.display_label!r}: {n} voxels"
        for a, b, n in pairs[:limit]
    )
    return text + (f"; and {len(pairs) - limit} more pairs" if len(pairs) > limit else "")


def _check_coverage(present: Sequence[int], described: Sequence[SegmentDescription], name: str, notes: list[str]) -> None:
    by_label: dict[int, SegmentDescription] = {}
    for seg in described:
        if seg.label_id in by_label:
            raise MetadataError(f"{name}: labelID {seg.label_id} is described twice in the metadata JSON")
        by_label[seg.label_id] = seg
    missing = [v for v in present if v != 0 and v not in by_label]
    if missing:
        shown = ", ".join(str(v) for v in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise MetadataError(
            f"{name}: label values {shown} occur in the image but have no entry in the metadata JSON; "
            "add a segment object with that labelID"
        )
    present_set = set(int(v) for v in present)
    for label in sorted(by_label):
        if label not in present_set:
            notes.append(
                f"{name}: labelID {label} ({by_label[label].display_label}) does not occur in the image; "
                "it is written as an empty segment"
            )


def _number(
    entries: list[tuple[int, SegmentDescription]], names: Sequence[str], numbering: Numbering, classic: bool,
    notes: list[str],
) -> dict[tuple[int, int], int]:
    """Segment Number for each (layer, label_id)."""
    keys = [(m, seg.label_id) for m, seg in entries]
    sequential = {key: i + 1 for i, key in enumerate(keys)}
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
                f"{labels[:20]}{' ...' if len(labels) > 20 else ''}; renumber the segments "
                "(leave out --useLabelIDAsSegmentNumber, or pass --renumber)"
            )
        return {key: key[1] for key in keys}
    if numbering == "auto":
        if clash is None and (not classic or label_ok_classic):
            return {key: key[1] for key in keys}
        notes.append("label values cannot be Segment Numbers here (" + (
            "a value is used in several files" if clash is not None else "classic SEG needs 1..N"
        ) + "); segments are numbered 1..N in file and label order")
        return sequential
    raise InputError(f"unknown numbering {numbering!r}; use label, sequential or auto")


def prepare_inputs(
    volumes: Sequence[LabelVolume],
    source: SourceSeries,
    *,
    names: Sequence[str] | None = None,
    numbering: Numbering = "auto",
    seg_type: SegType = "labelmap",
    tol_mm: float = DEFAULT_TOLERANCE_MM,
) -> PreparedInputs:
    """Reorient every input onto the source grid, match slices, number segments, measure overlap.

    ``volumes[m].segments`` describe the label values of input m (``label_id``).
    Raises :class:`OverlapError` for overlapping segments when ``seg_type`` is
    ``labelmap``; ``auto`` resolves to LABELMAP without overlap, else BINARY.
    """
    if not volumes:
        raise InputError("no label image given")
    names = list(names) if names is not None else [f"label image {i + 1}" for i in range(len(volumes))]
    if seg_type not in ("labelmap", "binary", "fractional", "auto"):
        raise InputError(f"unknown segmentation type {seg_type!r}; use labelmap, binary, fractional or auto")
    fractional = seg_type == "fractional"
    notes: list[str] = []
    arrays: list[np.ndarray] = []
    geometry: Geometry | None = None
    row, col = source.orientation[:3], source.orientation[3:]
    for volume, name in zip(volumes, names):
        arr = to_fractional_uint8(volume.array, source=name) if fractional else kernels.as_label_array(volume.array, source=name)
        arr, geo = reorient(arr, volume.geometry, row, col, source=name)
        if geometry is None:
            geometry = geo
        else:
            dev = geometry.max_deviation(geo)
            if dev > tol_mm:
                raise GeometryError(
                    f"{name}: its grid differs from that of {names[0]} "
                    + (f"(shape {geo.shape} vs {geometry.shape})" if geo.shape != geometry.shape
                       else f"(corners {dev:.4f} mm apart, tolerance {tol_mm} mm)")
                    + "; all label files of one SEG must share one grid"
                )
        arrays.append(arr)
    assert geometry is not None
    source_index = match_slices(geometry, source, tol_mm=tol_mm, label_name=names[0])

    entries: list[tuple[int, SegmentDescription]] = []
    presences: list[Optional[np.ndarray]] = [None] * len(arrays)
    for m, (volume, name) in enumerate(zip(volumes, names)):
        if fractional:
            if len(volume.segments) != 1:
                raise MetadataError(
                    f"{name}: a FRACTIONAL input file holds one segment, but its metadata list has "
                    f"{len(volume.segments)} entries"
                )
        else:
            presence_m, counts = kernels.label_presence(arrays[m], source=name)
            presences[m] = presence_m
            _check_coverage([int(v) for v in np.flatnonzero(counts)], volume.segments, name, notes)
        entries.extend((m, seg) for seg in sorted(volume.segments, key=lambda s: s.label_id))
    classic = seg_type in ("binary", "fractional")
    numbers = _number(entries, names, numbering, classic, notes)
    numbered = [(m, replace(seg, number=numbers[(m, seg.label_id)])) for m, seg in entries]
    layers = [
        Layer(arrays[m], tuple(seg for mm, seg in numbered if mm == m), names[m], presences[m])
        for m in range(len(arrays))
    ]
    segments = sorted((seg for _, seg in numbered), key=lambda s: s.number)
    index_of = {seg.number: i for i, seg in enumerate(segments)}

    n = len(segments)
    if fractional or len(arrays) == 1:
        overlap = np.zeros((n, n), dtype=np.int64)
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
    pairs = prepared.overlapping_pairs()
    if seg_type == "labelmap" and pairs:
        raise OverlapError(
            f"segments overlap, which a LABELMAP cannot store: {describe_pairs(pairs)}; "
            "write a classic SEG with --type binary (or --type auto)"
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
                Layer(layer.array, tuple(replace(s, number=renumbered[s.number]) for s in layer.segments),
                      layer.name, layer.presence)
                for layer in layers
            ]
            prepared.segments = [replace(s, number=renumbered[s.number]) for s in segments]
    return prepared


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
