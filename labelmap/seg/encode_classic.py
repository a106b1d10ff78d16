"""Classic Segmentation Storage: BINARY (1-bit frames) and FRACTIONAL (8-bit frames).

One frame per (segment, slice), segment-major and ascending along the normal
inside a segment; each frame names its segment in the Segment Identification
Sequence.  BINARY frames are packed LSB first and continuously across frame
boundaries (no padding between frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from labelmap import kernels
from labelmap._util.resources import Resources, check_memory
from labelmap.dicom.dataset import WriteDataset
from labelmap.dicom.uid_source import UidSource
from labelmap.errors import InputError, MetadataError, UnsupportedError
from labelmap.model import Geometry, SeriesAttributes, SourceSeries
from labelmap.seg.encode import add_geometry_and_references, attach_pixels, common_dataset
from labelmap.seg.layers import Layer, one_segment, to_fractional_uint8
from labelmap.seg.options import WriteOptions
from labelmap.seg.segments import segment_to_dataset
from labelmap.seg.types import SEG_TYPES, SegmentationType, allowed_syntaxes

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["Layer", "classic_frames", "encode_classic", "one_segment", "to_fractional_uint8"]


def classic_frames(
    layers: Sequence[Layer], geometry: Geometry, *, keep_empty_slices: bool = False, fractional: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plan the frames: (frame_slices, frame_numbers, frame_layers, frame_values), segment-major.

    Without ``keep_empty_slices`` only (segment, slice) pairs holding the
    segment become frames; with it every slice of every segment does.
    """
    along = geometry.slice_positions() @ geometry.normal
    order_k = np.argsort(along, kind="stable")
    entries = []
    for m, layer in enumerate(layers):
        presence = layer.value_presence()
        for seg in layer.segments:
            if keep_empty_slices:
                slices = order_k
            elif fractional:
                slices = order_k[presence[order_k, 1:].any(axis=1)]
            else:
                v = seg.label_id
                slices = order_k[presence[order_k, v]] if v < presence.shape[1] else order_k[:0]
            entries.append((seg.number, m, seg.label_id, slices))
    entries.sort(key=lambda e: e[0])
    frame_slices = np.concatenate([e[3] for e in entries] or [order_k[:0]]).astype(np.int64)
    lengths = [len(e[3]) for e in entries]
    numbers, frame_layers, values = (np.repeat(np.array([e[i] for e in entries], np.int64), lengths) for i in range(3))
    return frame_slices, numbers, frame_layers, values


def encode_classic(
    seg_type: str,
    layers: Sequence[Layer],
    geometry: Geometry,
    source: SourceSeries,
    source_index: np.ndarray,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    options: WriteOptions = WriteOptions(seg_type="binary"),
    segments_overlap: Literal["YES", "NO", "UNDEFINED"] = "UNDEFINED",
    materialize: bool = True,
    resources: Resources | None = None,
    uids: UidSource | None = None,
) -> WriteDataset | Dataset:
    """Encode a BINARY or FRACTIONAL Segmentation Storage dataset from label layers on the source grid.

    Parameters
    ----------
    seg_type
        ``"BINARY"`` (a segment's voxels are ``layer.array == segment.label_id``) or FRACTIONAL (each
        layer is one segment's uint8 map, 255 = 1.0).
    layers, geometry
        The label layers (segments numbered 1..N) and their grid, already on the source grid.
    source, source_index
        The source series and the instance matched to each label slice (-1 for none).
    series
        Series-level attributes of the SEG.
    options
        ``keep_empty_slices``, ``compression`` and (FRACTIONAL) ``fractional_type`` are used.
    segments_overlap
        The Segments Overlap value to write.
    materialize, resources, uids
        As for :func:`labelmap.seg.encode.encode_labelmap`.

    Returns
    -------
    WriteDataset | Dataset
        The SEG.

    Raises
    ------
    UnsupportedError
        A compression 1-bit frames cannot use.
    MetadataError, InputError
        Segment Numbers other than 1..N; no frame to write; an unknown fractional type, a
        FRACTIONAL layer that is not uint8 or not one segment.
    """
    spec = SEG_TYPES[SegmentationType(seg_type)]
    fractional = spec.type == SegmentationType.FRACTIONAL
    fractional_type = options.fractional_type.upper()
    if fractional:
        if fractional_type not in ("PROBABILITY", "OCCUPANCY"):
            raise InputError(f"fractional type must be probability or occupancy, got {fractional_type!r}")
        for layer in layers:
            one_segment(layer.name, layer.segments)
            if layer.array.dtype != np.uint8:
                raise InputError(f"{layer.name}: fractional values must be converted to uint8 (0..255) first")
    else:
        allowed = [ts.name for ts in allowed_syntaxes(spec)]
        if options.compression not in allowed:
            raise UnsupportedError(
                f"compression {options.compression!r} is not allowed for 1-bit BINARY frames; use one of "
                f"{', '.join(allowed)}"
            )
    segments = sorted((s for layer in layers for s in layer.segments), key=lambda s: s.number)
    numbers = [s.number for s in segments]
    if numbers != list(range(1, len(numbers) + 1)):
        raise MetadataError(
            f"classic SEG segment numbers must be 1..N without gaps (C.8.20.2.4), got {numbers[:20]}; "
            "renumber the segments",
            hint="renumber",
        )
    frame_slices, frame_numbers, frame_layers, frame_values = classic_frames(
        layers, geometry, keep_empty_slices=options.keep_empty_slices, fractional=fractional
    )
    if len(frame_slices) == 0:
        raise InputError("no segment has any voxel, so a classic SEG would have no frames", hint="keep_empty_slices")
    (bits,) = spec.bits  # BINARY 1, FRACTIONAL 8
    uids = UidSource() if uids is None else uids
    ds = common_dataset(source, series, spec.type, geometry.shape, bits, uids)
    ds.PhotometricInterpretation = spec.photometric[0]  # MONOCHROME2, the only one
    ds.SegmentsOverlap = segments_overlap
    ds.SegmentSequence = [segment_to_dataset(s, number=s.number, uids=uids) for s in segments]
    if fractional:
        ds.SegmentationFractionalType = fractional_type
        ds.MaximumFractionalValue = 255
    add_geometry_and_references(ds, geometry, frame_slices, source, source_index, frame_numbers, uids)
    npx = geometry.shape[1] * geometry.shape[2]
    check_memory(  # refused before allocating: N segments on every slice make N x slices frames
        len(frame_slices) * npx // (1 if fractional else 8),
        f"{len(frame_slices)} {spec.type} frames of {geometry.shape[1]} x {geometry.shape[2]}",
    )
    if fractional:
        pixels = np.empty((len(frame_slices), npx), dtype=np.uint8)
        for f, (k, m) in enumerate(zip(frame_slices, frame_layers)):
            pixels[f] = layers[m].array[k].reshape(-1)
    else:
        n_bytes = (len(frame_slices) * npx + 7) // 8
        packed = np.zeros(n_bytes + n_bytes % 2, dtype=np.uint8)
        # consecutive frames of one layer are packed in one kernel call, at their bit offset
        bounds = [0, *(np.flatnonzero(np.diff(frame_layers)) + 1).tolist(), len(frame_slices)]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            array = layers[frame_layers[start]].array
            kernels.pack_label_frames(
                array, frame_slices[start:stop], frame_values[start:stop], out=packed, bit_offset=start * npx
            )
        pixels = packed[:n_bytes]
    return attach_pixels(ds, pixels, "OB", options.compression, materialize=materialize, resources=resources)
