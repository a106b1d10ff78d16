"""The seeds of deterministic UIDs (``WriteOptions.deterministic_uids``): what a write's UIDs derive from.

A seed covers everything that decides the SEG's content and nothing else: the content of every
input (label file bytes, metadata JSON bytes, the source series' Series Instance UID and sorted
SOP Instance UIDs, a BINARY SEG's SOP Instance UID and bytes), every field of
:class:`~labelmap.pipeline.options.WriteOptions`, the source series chosen with ``series_uid``, and
labelmap's version (a new version may write other bytes, and DICOM wants one UID per object).
Paths and the time are left out, so a rerun elsewhere gives the same UIDs.  Files are hashed by
streaming (:meth:`~labelmap.dicom.uid_source.UidSeed.add_file`); in-memory inputs by their values.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from labelmap import __version__
from labelmap.dicom.uid_source import UidSeed, UidSource
from labelmap.model import Geometry, LabelVolume, SegmentDescription, SeriesAttributes, SourceSeries
from labelmap.seg.options import WriteOptions

__all__ = ["new_seed", "add_metadata", "add_source", "add_volumes", "add_slide_labels", "uid_source"]


def new_seed(domain: str, options: WriteOptions, series_uid: str | None = None) -> UidSeed:
    """A seed for ``domain`` (the conversion: ``"itk2seg"``, ``"bin2label"`` ...) with labelmap's version,
    every option and the source series asked for."""
    seed = UidSeed(domain)
    seed.add("labelmap version", __version__)
    seed.add_json("options", dataclasses.asdict(options))
    return seed.add("series_uid", series_uid or "")


def add_metadata(seed: UidSeed, metadata: str | os.PathLike[str] | dict | None) -> UidSeed:
    """The metadata JSON: a file's bytes, a dict in canonical JSON, or that there is none."""
    if metadata is None:
        return seed.add("metadata", "none")
    if isinstance(metadata, dict):
        return seed.add_json("metadata dict", metadata)
    return seed.add_file("metadata file", metadata)


def add_source(seed: UidSeed, source: SourceSeries) -> UidSeed:
    """The source series: its Series Instance UID and sorted SOP Instance UIDs (with frame numbers, if any)."""
    seed.add("source series", str(source.series_instance_uid or ""))
    frames = source.frame_numbers or (None,) * len(source.sop_instance_uids)
    return seed.add_json("source instances", sorted(f"{u} {f or ''}" for u, f in zip(source.sop_instance_uids, frames)))


def _geometry(geometry: Geometry) -> list[Any]:
    return [np.asarray(getattr(geometry, f.name), dtype=float).tolist() for f in dataclasses.fields(geometry)]


def _segments(segments: Sequence[SegmentDescription]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(s) for s in segments]


def add_volumes(seed: UidSeed, volumes: Sequence[LabelVolume], series: SeriesAttributes) -> UidSeed:
    """In-memory label volumes (values, grid, segment descriptions) and the series attributes."""
    for m, volume in enumerate(volumes):
        seed.add_array(f"volume {m}", volume.array)
        seed.add_json(f"volume {m} geometry", _geometry(volume.geometry))
        seed.add_json(f"volume {m} segments", _segments(volume.segments))
    return seed.add_json("series attributes", dataclasses.asdict(series))


def add_slide_labels(seed: UidSeed, labels: Any, band_rows: int = 256) -> UidSeed:
    """Slide labels: files by their bytes; arrays and layers (anything with ``read_rows``) band by band."""
    from labelmap.model import SlideLabelImage

    items = list(labels) if isinstance(labels, (list, tuple)) else [labels]
    for m, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            seed.add_file(f"label file {m}", item)
        elif isinstance(item, SlideLabelImage):
            add_slide_labels(seed, list(item.layers), band_rows)
            seed.add_json(f"label image {m} segments", _segments(item.segments))
            geometry = None if item.geometry is None else dataclasses.asdict(item.geometry)
            seed.add_json(f"label image {m} geometry", geometry)
        elif hasattr(item, "read_rows"):
            rows = int(item.shape[0])
            for r0 in range(0, rows, band_rows):
                seed.add_array(f"labels {m} rows {r0}", item.read_rows(r0, min(r0 + band_rows, rows)))
        else:
            seed.add_array(f"labels {m}", item)
    return seed


def uid_source(seed: UidSeed) -> UidSource:
    """The UID source of a finished seed."""
    return UidSource(seed.digest())
