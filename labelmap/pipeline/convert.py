"""The conversion pipelines shared by the Python API and the CLI.

Each pipeline reads into the one model (``LabelVolume``, ``SourceSeries``,
``SegmentDescription``), checks it, and hands it to a writer.  Nothing here
prints: results come back as report objects the CLI formats.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Union

import numpy as np

from labelmap.dicom.uids import is_uid
from labelmap.errors import InputError, MetadataError
from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.model import Geometry, LabelVolume, SegmentDescription, SeriesAttributes, SourceSeries

__all__ = [
    "PathLike",
    "Numbering",
    "WriteReport",
    "ReadReport",
    "read_labels",
    "write_labels",
    "load_source",
    "encode_seg",
    "write_seg",
    "read_seg",
    "itk_to_seg",
    "seg_to_itk",
    "binary_to_labelmap",
]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
from labelmap.model import Numbering, SegType  # noqa: E402  (Literal aliases only)


@dataclass
class WriteReport:
    """What a SEG write produced."""

    output: Path
    segmentation_type: str
    frames: int
    segments: int
    bits_allocated: int
    transfer_syntax: str
    size_bytes: int
    seconds: float
    skipped_slices: int
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, ds, output: PathLike, t0: float, *, segments: int, skipped_slices: int, warnings: Sequence[str] = ()
    ) -> WriteReport:
        """The report of the SEG ``ds`` just written to ``output`` by a write that started at ``t0``."""
        from labelmap.dicom.uids import title_of

        out = Path(output)
        ts = str(ds.file_meta.TransferSyntaxUID)
        return cls(
            output=out,
            segmentation_type=str(ds.SegmentationType),
            frames=int(ds.NumberOfFrames),
            segments=segments,
            bits_allocated=int(ds.BitsAllocated),
            transfer_syntax=title_of(ts),
            size_bytes=out.stat().st_size,
            seconds=time.perf_counter() - t0,
            skipped_slices=skipped_slices,
            warnings=list(warnings),
        )


@dataclass
class ReadReport:
    """What a SEG read produced."""

    outputs: list[Path]
    metadata: Path
    shape: tuple[int, int, int]
    segments: int
    filled_slices: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- inputs
def read_labels(path: PathLike, *, narrow: bool = False) -> LabelVolume:
    """Read a label file holding one label volume (LPS, ``[k, j, i]``), in the format its name says.

    ``narrow``: integer labels all in 0..255 may come back as uint8 whatever the file's type.
    The volume's segments are the file's own descriptions, if it has any.

    Raises
    ------
    ImageFormatError
        The file cannot be read, or holds several layers (:func:`labelmap.formats.read_labels` reads those).
    """
    from labelmap.formats import format_for
    from labelmap.formats import read_labels as read_file

    labels = read_file(path, narrow=narrow)
    if len(labels.volumes) != 1:
        raise format_for(path).fail(
            path,
            f"it holds {len(labels.volumes)} layers, not one label volume; give it alone to itk2seg, or read "
            "every layer with labelmap.formats.read_labels",
        )
    return labels.volumes[0]


def write_labels(path: PathLike, volume: LabelVolume, *, compress: bool = True) -> None:
    """Write a label volume in the format its name says (see :data:`labelmap.formats.FORMATS`), atomically.

    Raises
    ------
    ImageFormatError
        No format claims the name, or it cannot store the volume.
    OutputError
        The file cannot be written.
    """
    from labelmap.formats import LabelSet
    from labelmap.formats import write_labels as write_file

    write_file(path, LabelSet((volume,)), compress=compress)


def load_source(paths: PathLike | Sequence[PathLike], *, series_uid: str | None = None) -> SourceSeries:
    """Read the headers of the source DICOM series from folders (recursive) and/or files."""
    from labelmap.sources.series import load_series

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return load_series(list(paths), series_uid=series_uid)


# --------------------------------------------------------------------------- itk -> seg
def encode_seg(
    volumes: LabelVolume | Sequence[LabelVolume],
    source: SourceSeries,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    seg_type: SegType = "labelmap",
    numbering: Numbering = "auto",
    palette: bool = False,
    keep_empty_slices: bool = False,
    compression: str = "none",
    fractional_type: str = "probability",
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    names: Sequence[str] | None = None,
    materialize: bool = True,
):
    """Encode label volume(s) as a SEG ``pydicom.Dataset`` referencing ``source``.

    Each volume's ``segments`` describe its voxel values (``label_id``);
    ``numbering`` decides the Segment Numbers ("label": the values themselves,
    "sequential": 1..N, "auto": the values when the type allows).  ``seg_type``
    "auto" writes LABELMAP unless segments of different volumes overlap.
    Returns ``(dataset, prepared inputs)``; ``prepared.notes`` holds warnings.
    ``materialize=False`` returns the writers' :class:`~labelmap.dicom.dataset.WriteDataset`
    (per-frame items and pixels kept for the bulk file writer,
    :func:`labelmap.seg.encode.save_dataset`) instead of a pydicom Dataset.
    """
    from labelmap.seg.encode import encode_labelmap, plan_labelmap
    from labelmap.seg.encode_classic import encode_binary, encode_fractional
    from labelmap.seg.plan import merge_layers, prepare_inputs

    if isinstance(volumes, LabelVolume):
        volumes = [volumes]
    prepared = prepare_inputs(volumes, source, names=names, numbering=numbering, seg_type=seg_type, tol_mm=tol_mm)
    if prepared.seg_type == "LABELMAP":
        array, presence = merge_layers(prepared)
        labelmap = LabelVolume(array, prepared.geometry, tuple(prepared.segments))
        plan = plan_labelmap(
            array, keep_empty_slices=keep_empty_slices, source=prepared.layers[0].name, presence=presence
        )
        ds = encode_labelmap(
            labelmap,
            source,
            prepared.source_index,
            series=series,
            palette=palette,
            compression=compression,
            plan=plan,
            materialize=materialize,
        )
    else:
        if palette:
            raise InputError("--palette applies to LABELMAP only; BINARY and FRACTIONAL are MONOCHROME2")
        overlap = "YES" if prepared.overlapping_pairs() else "NO"
        if prepared.seg_type == "BINARY":
            ds = encode_binary(
                prepared.layers,
                prepared.geometry,
                source,
                prepared.source_index,
                series=series,
                keep_empty_slices=keep_empty_slices,
                compression=compression,
                segments_overlap=overlap,
                materialize=materialize,
            )
        else:
            ds = encode_fractional(
                prepared.layers,
                prepared.geometry,
                source,
                prepared.source_index,
                series=series,
                fractional_type=fractional_type.upper(),
                keep_empty_slices=keep_empty_slices,
                compression=compression,
                segments_overlap="UNDEFINED" if len(prepared.layers) > 1 else "NO",
                materialize=materialize,
            )
    return ds, prepared


def write_seg(
    volumes: LabelVolume | Sequence[LabelVolume],
    source: SourceSeries,
    output: PathLike,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    seg_type: SegType = "labelmap",
    numbering: Numbering = "auto",
    palette: bool = False,
    keep_empty_slices: bool = False,
    compression: str = "none",
    fractional_type: str = "probability",
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    names: Sequence[str] | None = None,
    deflate_level: int = 6,
) -> WriteReport:
    """:func:`encode_seg`, then write the file atomically; returns a :class:`WriteReport`.

    ``deflate_level`` (1-9) is used with ``compression="deflate"``.
    """
    from labelmap.seg.encode import save_dataset

    t0 = time.perf_counter()
    ds, prepared = encode_seg(
        volumes,
        source,
        series=series,
        seg_type=seg_type,
        numbering=numbering,
        palette=palette,
        keep_empty_slices=keep_empty_slices,
        compression=compression,
        fractional_type=fractional_type,
        tol_mm=tol_mm,
        names=names,
        materialize=False,
    )
    save_dataset(ds, output, deflate_level=deflate_level)
    n_slices = prepared.geometry.shape[0]
    return WriteReport.of(
        ds,
        output,
        t0,
        segments=len(prepared.segments),
        skipped_slices=max(0, n_slices - int(ds.NumberOfFrames)) if prepared.seg_type == "LABELMAP" else 0,
        warnings=prepared.notes,
    )


def itk_to_seg(
    labels: Sequence[PathLike],
    dicom: Sequence[PathLike],
    metadata: PathLike | dict | None,
    output: PathLike,
    *,
    seg_type: SegType = "labelmap",
    numbering: Numbering = "auto",
    palette: bool = False,
    keep_empty_slices: bool = False,
    compression: str = "none",
    fractional_type: str = "probability",
    series_uid: str | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    deflate_level: int = 6,
) -> WriteReport:
    """NRRD / NIfTI label files + dcmqi JSON + source series -> DICOM SEG file.

    A Slicer ``.seg.nrrd`` (given alone) carries its own segment descriptions, so
    ``metadata`` may be None; see :func:`_described_to_seg` for how a JSON combines with it.
    """
    from labelmap.formats.dcmqi_json import load_metadata

    if not labels:
        raise InputError("no label image given; pass the NRRD / NIfTI label file(s)")
    inputs = [*labels, *dicom] + ([] if metadata is None or isinstance(metadata, dict) else [metadata])
    _check_output_target(output, inputs)
    described = _described_input(labels)
    if described is not None:
        return _described_to_seg(
            described,
            dicom,
            None if metadata is None else load_metadata(metadata),
            output,
            series_uid=series_uid,
            seg_type=seg_type,
            numbering=numbering,
            palette=palette,
            keep_empty_slices=keep_empty_slices,
            compression=compression,
            fractional_type=fractional_type,
            tol_mm=tol_mm,
            deflate_level=deflate_level,
        )
    if metadata is None:
        raise InputError(
            "no metadata JSON given; NRRD / NIfTI label files need a dcmqi metadata JSON (--metadata) "
            "describing their labels (only a Slicer .seg.nrrd carries its own)"
        )
    md = load_metadata(metadata)
    label_paths = [Path(p) for p in labels]
    if len(md.segments) != len(label_paths):
        meta_name = "the metadata JSON" if isinstance(metadata, dict) else f"metadata file {str(metadata)!r}"
        raise MetadataError(
            f"{meta_name}: segmentAttributes has {len(md.segments)} inner list(s) but "
            f"{len(label_paths)} label file(s) were given ({', '.join(p.name for p in label_paths)}); "
            "give one inner list per label file, in the same order"
        )
    per_file = list(md.segments)
    if md.file_mapping:
        per_file = _apply_file_mapping(label_paths, md.file_mapping, per_file)
    # the series headers are read in a second thread while the label files inflate
    # (inflating releases the GIL); errors surface from .result()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load_source, dicom, series_uid=series_uid)
        _prefetch_codecs(pool, compression)
        volumes = []
        for path, segments in zip(label_paths, per_file):
            volume = read_labels(path, narrow=True)
            volumes.append(LabelVolume(volume.array, volume.geometry, segments))
        source = pending.result()
    return write_seg(
        volumes,
        source,
        output,
        series=md.series,
        seg_type=seg_type,
        numbering=numbering,
        palette=palette,
        keep_empty_slices=keep_empty_slices,
        compression=compression,
        fractional_type=fractional_type,
        tol_mm=tol_mm,
        names=[str(p) for p in label_paths],
        deflate_level=deflate_level,
    )


# --------------------------------------------------------------------------- self-describing label files
def _described_input(labels: Sequence[PathLike]) -> Path | None:
    """The label file among ``labels`` whose format describes its own segments (it must be the only one), or None."""
    from labelmap.formats import find_format

    for path in labels:
        fmt = find_format(path)
        if fmt is not None and fmt.describes_segments:
            if len(labels) > 1:
                raise InputError(
                    f"{str(path)!r} is a {fmt.title} holding all its layers and segments; give it as the only "
                    "label file (convert other label files separately, or add them as segments in Slicer)"
                )
            return Path(path)
    return None


def _described_to_seg(
    path: Path,
    dicom: Sequence[PathLike],
    md: Metadata | None,  # noqa: F821
    output: PathLike,
    *,
    series_uid: str | None,
    **write,
) -> WriteReport:
    """itk2seg for a label file describing its own segments: its layers are the label volumes (as
    several label files would be).

    Segments come from the file; with a metadata JSON, ``segmentAttributes[i]`` describes layer i
    (labelID = value in that layer) and its entries replace the file's description of that value
    (or add one); series attributes are the JSON's, else the defaults.
    """
    from concurrent.futures import ThreadPoolExecutor

    from labelmap.formats import read_labels as read_file

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load_source, dicom, series_uid=series_uid)
        _prefetch_codecs(pool, write.get("compression", "none"))
        volumes = read_file(path, segments=None if md is None else md.segments, narrow=True).volumes
        source = pending.result()
    names = [str(path)] if len(volumes) == 1 else [f"{path} layer {m}" for m in range(len(volumes))]
    series = md.series if md is not None else SeriesAttributes()
    return write_seg(volumes, source, output, series=series, names=names, **write)


def _one_file_layers(decoded, fmt) -> list[LabelVolume]:  # DecodedSeg | ClassicSeg, LabelFormat
    """A decoded SEG as the layers of one file describing its segments (label value = Segment Number):
    LABELMAP is one layer, BINARY the greedy first-fit groups of non-overlapping segments."""
    from labelmap.errors import UnsupportedError
    from labelmap.seg.decode import DecodedSeg

    if isinstance(decoded, DecodedSeg):
        volume = decoded.volume
        return [
            LabelVolume(volume.array, volume.geometry, tuple(replace(s, label_id=s.number) for s in volume.segments))
        ]
    if decoded.segmentation_type != "BINARY":
        raise UnsupportedError(
            f"{decoded.name}: a {decoded.segmentation_type} SEG cannot be written as a {fmt.title} (binary "
            "labelmaps only); use --format nrrd or nifti, which keep the fractional values"
        )
    return [
        LabelVolume(
            decoded.volume_of([s.number for s in group]),
            decoded.geometry,
            tuple(replace(s, label_id=s.number) for s in group),
        )
        for group in decoded.layers()
    ] or [LabelVolume(np.zeros(decoded.geometry.shape, np.uint8), decoded.geometry)]


def _prefetch_codecs(pool, compression: str) -> None:
    """Import the frame codec's package on the worker thread while the labels inflate, when the
    write will need it."""
    from labelmap.dicom.uids import lookup

    ts = lookup(compression)
    if ts is not None and ts.codec is not None:

        def warm() -> None:
            import importlib

            from labelmap.dicom.pixels.codecs import codec_module

            try:
                for module, _ in codec_module(ts).DEPENDENCIES:
                    importlib.import_module(module)
            except ImportError:  # reported where the codec is used, with the package to install
                pass

        pool.submit(warm)


def _check_output_target(output: PathLike, inputs: Sequence[PathLike] = ()) -> None:
    """Fail before any work when the output file cannot be created (the write checks again)
    or would replace one of the ``inputs``."""
    from labelmap._util.atomic import check_output_dir
    from labelmap.errors import OutputError

    target = Path(output)
    if target.is_dir():
        raise OutputError(f"output {str(target)!r} is a folder; give a file name such as {str(target / 'seg.dcm')!r}")
    if target.exists() and not target.is_file():
        raise OutputError(f"output {str(target)!r} exists and is not a regular file; give a file name")
    check_output_dir(target.parent if str(target.parent) else ".")
    if target.exists():
        for source in inputs:
            try:
                same = Path(source).is_file() and os.path.samefile(source, target)
            except OSError:
                same = False
            if same:
                raise OutputError(
                    f"output {str(target)!r} is also an input file; it would be overwritten - give another output name"
                )


def _apply_file_mapping(
    paths: Sequence[Path], mapping: Sequence[str], per_file: list[tuple[SegmentDescription, ...]]
) -> list[tuple[SegmentDescription, ...]]:
    """Reorder inner lists so list i belongs to the file whose path ends with mapping[i] (dcmqi rule)."""
    out: list[tuple[SegmentDescription, ...] | None] = [None] * len(paths)
    for entry, segs in zip(mapping, per_file):
        hits = [i for i, p in enumerate(paths) if str(p).endswith(entry)]
        if len(hits) != 1:
            raise MetadataError(
                f"segmentAttributesFileMapping entry {entry!r} matches {len(hits)} of the label files "
                f"({', '.join(map(str, paths))}); it must match exactly one"
            )
        out[hits[0]] = segs
    if any(o is None for o in out):
        raise MetadataError("segmentAttributesFileMapping does not cover every label file")
    return [o for o in out if o is not None]


# --------------------------------------------------------------------------- seg -> itk
def read_seg(
    seg: PathLike | pydicom.Dataset,  # noqa: F821
    *,
    reference: None | PathLike | Sequence[PathLike] | SourceSeries | Geometry = None,
    series_uid: str | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
):
    """Decode a SEG file or Dataset.

    LABELMAP gives a :class:`~labelmap.seg.decode.DecodedSeg` (``.volume``: Segment
    Numbers, background 0); BINARY / FRACTIONAL give a
    :class:`~labelmap.seg.decode_classic.ClassicSeg` (``.volume_of(numbers)``,
    ``.iter_segment_volumes()``, ``.layers()``, ``.overlap()``).  ``reference`` (a
    series folder / files, a SourceSeries or a Geometry) puts the output on that
    full grid, skipped slices filled with background.
    """
    from labelmap.dicom.values import quiet_pydicom
    from labelmap.seg.decode import decode_labelmap, open_seg

    # pydicom (when a file needs it) warns on stderr about every odd value of a damaged file;
    # what matters to the conversion is reported as one SegFormatError instead
    with quiet_pydicom():
        opened = open_seg(seg)
        ref_geometry = _reference_geometry(reference, series_uid=series_uid, tol_mm=tol_mm)
        if str(opened.header.get("SegmentationType", "")) == "LABELMAP":
            return decode_labelmap(opened, reference=ref_geometry, tol_mm=tol_mm)
        from labelmap.seg.decode_classic import decode_classic

        return decode_classic(opened, reference=ref_geometry, tol_mm=tol_mm)


def _reference_geometry(reference, *, series_uid: str | None, tol_mm: float) -> Geometry | None:
    if reference is None or isinstance(reference, Geometry):
        return reference
    from labelmap.sources.series import series_geometry

    if not isinstance(reference, SourceSeries):
        reference = load_source(reference, series_uid=series_uid)
    return series_geometry(reference, tol_mm=max(tol_mm, 0.01))


def output_names(output_dir: Path, prefix: str, count: int, ext: str) -> tuple[list[Path], Path]:
    """dcmqi's output names: ``<prefix>-<k><ext>`` and ``<prefix>-meta.json`` (no dash without prefix)."""
    stem = f"{prefix}-" if prefix else ""
    return [output_dir / f"{stem}{k}{ext}" for k in range(1, count + 1)], output_dir / f"{stem}meta.json"


def seg_to_itk(
    seg: PathLike,
    output_dir: PathLike,
    *,
    fmt: str = "nrrd",
    prefix: str = "",
    reference: None | PathLike | Sequence[PathLike] = None,
    series_uid: str | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    merge_segments: bool = False,
    create_dir: bool = True,
) -> ReadReport:
    """DICOM SEG -> label image(s) + dcmqi ``meta.json`` in ``output_dir``.

    LABELMAP: one image of Segment Numbers.  BINARY / FRACTIONAL: one image per
    segment (voxels = Segment Number, or the stored fractional value), or with
    ``merge_segments`` the fewest images of non-overlapping segments; ``meta.json``
    has one inner list per image, as dcmqi writes it.  ``fmt="segnrrd"``: one Slicer
    ``<prefix or SEG name>.seg.nrrd`` holding every segment (one layer per group of
    non-overlapping segments) and ``meta.json`` with one inner list per layer.
    """
    from labelmap._util.atomic import check_output_dir
    from labelmap.formats import LabelSet, output_format
    from labelmap.formats.dcmqi_json import write_metadata
    from labelmap.seg.decode import DecodedSeg

    t0 = time.perf_counter()
    out_format = output_format(fmt)
    ext = out_format.output_suffix
    out_dir = check_output_dir(output_dir, create=create_dir)
    decoded = read_seg(seg, reference=reference, series_uid=series_uid, tol_mm=tol_mm)
    if out_format.describes_segments:  # every segment in one file
        layers = _one_file_layers(decoded, out_format)
        stem = prefix or re.sub(r"(\.seg)?(\.dcm)?$", "", Path(seg).name, flags=re.I) or "segmentation"
        images, meta_path = [out_dir / f"{stem}{ext}"], output_names(out_dir, prefix, 1, ext)[1]
        out_format.write(images[0], LabelSet(tuple(layers), described=True))
        groups = [list(layer.segments) for layer in layers]
        shape = layers[0].geometry.shape
    elif isinstance(decoded, DecodedSeg):
        volume = decoded.volume
        groups = [[replace(s, label_id=s.number) for s in volume.segments]]
        images, meta_path = output_names(out_dir, prefix, 1, ext)
        write_labels(images[0], volume)
        shape = volume.geometry.shape
    else:
        if merge_segments:
            layer_groups = decoded.layers()
        else:
            layer_groups = [[s] for s in decoded.segments]
        images, meta_path = output_names(out_dir, prefix, len(layer_groups), ext)
        buffer = None
        groups = []
        for path, group in zip(images, layer_groups):
            buffer = decoded.volume_of([s.number for s in group], buffer)
            write_labels(path, LabelVolume(buffer, decoded.geometry))
            groups.append([replace(s, label_id=s.number) for s in group])
        shape = decoded.geometry.shape
    write_metadata(meta_path, decoded.series, groups)
    notes = []
    if decoded.filled_slices:
        notes.append(f"{decoded.filled_slices} slice(s) without a frame were filled with background")
    return ReadReport(
        outputs=images,
        metadata=meta_path,
        shape=shape,
        segments=sum(len(g) for g in groups),
        filled_slices=decoded.filled_slices,
        seconds=time.perf_counter() - t0,
        warnings=notes,
    )


def binary_to_labelmap(
    seg: PathLike | pydicom.Dataset,  # noqa: F821
    output: PathLike,
    *,
    palette: bool = False,
    force_16bit: bool = False,
    compression: str = "none",
    keep_empty_slices: bool = False,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    deflate_level: int = 6,
) -> WriteReport:
    """Re-encode a BINARY SEG as a LABELMAP SEG with the same segments, references and patient/study.

    Refuses overlapping segments with an :class:`OverlapError` naming each pair.
    """
    from labelmap.errors import OverlapError
    from labelmap.seg.decode import open_seg, series_attributes
    from labelmap.seg.decode_classic import decode_classic
    from labelmap.seg.encode import encode_labelmap, plan_labelmap, save_dataset
    from labelmap.seg.plan import describe_pairs, overlap_pairs

    t0 = time.perf_counter()
    _check_output_target(output, [] if not isinstance(seg, (str, os.PathLike)) else [seg])
    opened = open_seg(seg)
    ds, name = opened.header, opened.name  # lite top level from a file: pydicom stays unloaded
    seg_type = str(ds.get("SegmentationType", ""))
    if seg_type != "BINARY":
        raise InputError(
            f"{name}: Segmentation Type is {seg_type or '(missing)'}; this conversion needs a BINARY SEG"
            + (" (the file is a LABELMAP SEG already)" if seg_type == "LABELMAP" else "")
        )
    classic = decode_classic(opened, tol_mm=tol_mm)
    pairs = overlap_pairs(classic.overlap(), classic.segments)
    if pairs:
        raise OverlapError(
            f"{name}: segments overlap, which a LABELMAP cannot store: {describe_pairs(pairs)}; "
            "keep the BINARY SEG or split the segments"
        )
    array = classic.volume_of([s.number for s in classic.segments])
    if force_16bit:
        array = array.astype(np.uint16)
    source, source_index = _source_from_references(opened, classic)
    volume = LabelVolume(array, classic.geometry, tuple(classic.segments))
    plan = plan_labelmap(array, keep_empty_slices=keep_empty_slices, source=name)
    out_ds = encode_labelmap(
        volume,
        source,
        source_index,
        series=series_attributes(ds),
        palette=palette,
        compression=compression,
        plan=plan,
        bits=16 if force_16bit else None,
        materialize=False,
    )
    save_dataset(out_ds, output, deflate_level=deflate_level)
    return WriteReport.of(
        out_ds,
        output,
        t0,
        segments=len(classic.segments),
        skipped_slices=classic.geometry.shape[0] - int(out_ds.NumberOfFrames),
    )


def _source_from_references(opened, classic) -> tuple[SourceSeries, np.ndarray]:
    """A SourceSeries made of the instances a SEG's frames reference, and the instance index per grid slice."""
    ds, info = opened.header, opened.info
    n_slices = classic.geometry.shape[0]
    index = np.full(n_slices, -1, dtype=np.int64)
    classes: list[str] = []
    uids: list[str] = []
    positions: list[np.ndarray] = []
    seen: dict[str, int] = {}
    for f, ref in enumerate(info.source_instances):
        if ref is None:
            continue
        for keyword, uid in zip(("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"), ref):
            if not is_uid(uid, strict=False):
                from labelmap.errors import SegFormatError

                raise SegFormatError(
                    f"{opened.name}: frame {f + 1}: {keyword} {uid!r} of its source image is not a valid UID"
                )
        k = int(classic.frame_slices[f])
        if ref[1] not in seen:
            seen[ref[1]] = len(uids)
            classes.append(ref[0])
            uids.append(ref[1])
            positions.append(info.positions[f])
        if index[k] < 0:
            index[k] = seen[ref[1]]
    try:
        series_uid = str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID)
    except (AttributeError, IndexError):
        series_uid = ""
    if not is_uid(series_uid, strict=False):
        series_uid = ""
    source = SourceSeries(
        series_instance_uid=series_uid,
        sop_class_uids=tuple(classes),
        sop_instance_uids=tuple(uids),
        positions=np.array(positions).reshape(-1, 3),
        orientation=np.asarray(info.orientation, dtype=float),
        pixel_spacing=info.pixel_spacing,
        rows=info.rows,
        columns=info.columns,
        dataset=ds,
    )
    return source, index
