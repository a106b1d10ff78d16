"""bin2label: a BINARY SEG re-encoded as a LABELMAP SEG, without the source series.

The SEG's own references stand in for the source series: each frame names the
source image it was made from, which gives the SourceSeries the encoder needs.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from labelmap._util.atomic import check_output_target
from labelmap._util.resources import Resources
from labelmap.dicom.uids import is_uid
from labelmap.errors import InputError, SegFormatError, UnsupportedError
from labelmap.model import LabelVolume, SourceSeries
from labelmap.pipeline.convert import PathLike, save_seg
from labelmap.pipeline.options import WriteOptions

if TYPE_CHECKING:
    from pydicom import Dataset

    from labelmap.dicom.uid_source import UidSource
    from labelmap.pipeline.reports import WriteReport
    from labelmap.seg.decode_classic import ClassicSeg
    from labelmap.seg.read import OpenedSeg

__all__ = ["binary_to_labelmap"]


def binary_to_labelmap(
    seg: PathLike | Dataset,
    output: PathLike,
    *,
    options: WriteOptions = WriteOptions(),
    resources: Resources | None = None,
) -> WriteReport:
    """Re-encode a BINARY SEG as a LABELMAP SEG with the same segments, references and patient/study.

    Parameters
    ----------
    seg
        The BINARY SEG (a file or a pydicom Dataset).
    output
        The LABELMAP SEG file to write.
    options
        ``palette``, ``force_16bit``, ``compression``, ``deflate_level``, ``keep_empty_slices``
        and ``tol_mm`` are used; ``deterministic_uids`` derives the new UIDs from the BINARY SEG's
        SOP Instance UID and bytes (a Dataset: its segments and label values), the options and
        labelmap's version.
    resources
        Threads the conversion may use (None: each step's default) and who hears its progress (``progress``).

    Returns
    -------
    WriteReport
        What was written, with the warnings.

    Raises
    ------
    OverlapError
        Overlapping segments, naming each pair.
    InputError, SegFormatError
        A SEG that is not BINARY, or damaged.
    """
    from labelmap.errors import OverlapError
    from labelmap.seg.decode_classic import decode_classic
    from labelmap.seg.encode import encode_labelmap, plan_labelmap
    from labelmap.seg.plan import describe_pairs, overlap_pairs
    from labelmap.seg.read import open_seg, series_attributes

    t0 = time.perf_counter()
    progress = None if resources is None else resources.progress
    check_output_target(output, [] if not isinstance(seg, (str, os.PathLike)) else [seg])
    if progress is not None:
        progress.step("reading the BINARY SEG")
    opened = open_seg(seg)
    ds, name = opened.header, opened.name  # lite top level from a file: pydicom stays unloaded
    seg_type = str(ds.get("SegmentationType", ""))
    if seg_type != "BINARY":
        raise InputError(
            f"{name}: Segmentation Type is {seg_type or '(missing)'}; this conversion needs a BINARY SEG"
            + (" (the file is a LABELMAP SEG already)" if seg_type == "LABELMAP" else "")
        )
    classic = decode_classic(opened, tol_mm=options.tol_mm)
    pairs = overlap_pairs(classic.overlap(), classic.segments)
    if pairs:
        raise OverlapError(
            f"{name}: segments overlap, which a LABELMAP cannot store: {describe_pairs(pairs)}; "
            "keep the BINARY SEG or split the segments"
        )
    if progress is not None:
        progress.step("encoding the LABELMAP frames")
    array = classic.volume_of([s.number for s in classic.segments])
    source, source_index = _source_from_references(opened, classic)
    volume = LabelVolume(array, classic.geometry, tuple(classic.segments))
    threads = None if resources is None else resources.threads
    plan = plan_labelmap(array, keep_empty_slices=options.keep_empty_slices, source=name, threads=threads)
    series = series_attributes(ds)
    uids = _derived_uids(seg, opened, volume, options) if options.deterministic_uids else None
    out_ds = encode_labelmap(
        volume,
        source,
        source_index,
        series=series,
        options=options,
        plan=plan,
        materialize=False,
        resources=resources,
        uids=uids,
    )
    return save_seg(out_ds, output, t0, options, resources, classic.geometry.shape[0], volume.segments, plan.notes)


def _derived_uids(seg: PathLike | Dataset, opened: OpenedSeg, volume: LabelVolume, options: WriteOptions) -> UidSource:
    """The UID source of a deterministic bin2label: the input's SOP Instance UID and file bytes (streamed);
    for a Dataset, which has no bytes, its label values, grid, segments and series attributes."""
    from labelmap.pipeline import uid_seed
    from labelmap.seg.read import series_attributes

    seed = uid_seed.new_seed("bin2label", options)
    seed.add("input SOP Instance UID", str(opened.header.get("SOPInstanceUID", "") or ""))
    if isinstance(seg, (str, os.PathLike)):
        seed.add_file("input SEG", seg)
    else:
        uid_seed.add_volumes(seed, [volume], series_attributes(opened.header))
    return uid_seed.uid_source(seed)


def _referenced_series(opened: OpenedSeg) -> str:
    """The Series Instance UID of the one series the SEG was made from (Referenced Series Sequence).

    A LABELMAP SEG lists its source instances under their series (Common Instance Reference,
    Type 1 Series Instance UID); without it the series is unknown, and a SEG with an empty or
    made-up UID there would be invalid or wrong, so the conversion is refused.
    """
    name, ds = opened.name, opened.header
    fix = "add it (the source images' series), or write the LABELMAP from the source images with itk2seg"
    try:
        items = list(ds.get("ReferencedSeriesSequence", None) or ())
    except Exception:
        items = []
    if not items:
        raise SegFormatError(
            f"{name}: Referenced Series Sequence (0008,1115) is absent or empty, so the series of the source "
            f"images is unknown; {fix}"
        )
    if len(items) > 1:
        raise UnsupportedError(
            f"{name}: Referenced Series Sequence (0008,1115) names {len(items)} source series; bin2label converts "
            "SEGs made from one series (write the LABELMAP from the source images with itk2seg)"
        )
    uid = items[0].get("SeriesInstanceUID", None)
    uid = str(uid).strip("\0 ") if uid is not None else ""
    if not is_uid(uid):
        what = "is absent or empty" if not uid else f"{uid!r} is not a valid UID"
        raise SegFormatError(f"{name}: the Series Instance UID in Referenced Series Sequence (0008,1115) {what}; {fix}")
    return uid


def _source_from_references(opened: OpenedSeg, classic: ClassicSeg) -> tuple[SourceSeries, np.ndarray]:
    """A SourceSeries made of the instances a SEG's frames reference, and the instance index per grid slice.

    A frame of a multi-frame source (Enhanced CT / MR) is one entry with its Referenced Frame Number,
    which the new SEG's Source Image items carry over.
    """
    ds, info = opened.header, opened.info
    index = np.full(classic.geometry.shape[0], -1, dtype=np.int64)
    frames = info.source_frames
    # (instance UID, frame number) -> (its index, class UID, first SEG frame), in order
    seen: dict[tuple[str, int | None], tuple[int, str, int]] = {}
    for f, ref in enumerate(info.source_instances):
        if ref is None:
            continue
        for keyword, uid in zip(("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"), ref):
            if not is_uid(uid):
                raise SegFormatError(
                    f"{opened.name}: frame {f + 1}: {keyword} {uid!r} of its source image is not a valid UID"
                )
        key = (ref[1], frames[f] if f < len(frames) else None)
        if key not in seen:
            seen[key] = (len(seen), str(ref[0]), f)  # str(): checked above, a UID string
        k = int(classic.frame_slices[f])
        if index[k] < 0:
            index[k] = seen[key][0]
    series_uid = _referenced_series(opened)
    source = SourceSeries(
        series_instance_uid=series_uid,
        sop_class_uids=tuple(c for _, c, _ in seen.values()),
        sop_instance_uids=tuple(uid for uid, _ in seen),
        positions=np.array([info.positions[f] for _, _, f in seen.values()]).reshape(-1, 3),
        orientation=np.asarray(info.orientation, dtype=float),
        pixel_spacing=info.pixel_spacing,
        rows=info.rows,
        columns=info.columns,
        dataset=ds,
        frame_numbers=tuple(number for _, number in seen) if any(n is not None for _, n in seen) else (),
    )
    return source, index
