"""The conversion pipelines shared by the Python API and the CLI.

Each pipeline reads into the one model (``LabelVolume``, ``SourceSeries``,
``SegmentDescription``), checks it, and hands it to a writer.  Options come in one
:class:`~labelmap.pipeline.options.WriteOptions` / :class:`~labelmap.pipeline.options.ReadOptions`;
nothing here prints or logs: results and warnings come back as report objects
(:mod:`labelmap.pipeline.reports`) the CLI formats.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union, cast

import numpy as np

from labelmap._util.atomic import check_not_input, check_output_target
from labelmap._util.resources import Resources
from labelmap.errors import InputError, MetadataError, UnsupportedError
from labelmap.geometry import DEFAULT_TOLERANCE_MM
from labelmap.model import Geometry, LabelVolume, SegmentDescription, SeriesAttributes, SlideLabelImage, SourceSeries
from labelmap.pipeline.options import ReadOptions, WriteOptions
from labelmap.pipeline.reports import ReadReport, WriteReport

if TYPE_CHECKING:
    from pydicom import Dataset

    from labelmap.dicom.dataset import WriteDataset
    from labelmap.dicom.uid_source import UidSource
    from labelmap.dicom.uids import TransferSyntax
    from labelmap.formats.header_grid import HeaderGrid
    from labelmap.seg.decoded import DecodedSegmentation
    from labelmap.seg.plan import PreparedInputs
    from labelmap.sources.slide import SlideSource

__all__ = [
    "read_labels",
    "write_labels",
    "load_source",
    "encode_seg",
    "write_seg",
    "read_seg",
    "itk_to_seg",
    "seg_to_itk",
]

PathLike = Union[str, "os.PathLike[str]"]
_T = TypeVar("_T")


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
    """Read the headers of the source DICOM series from folders (recursive) and/or files.

    Parameters
    ----------
    paths
        A folder or file, or several.
    series_uid
        The series to use when ``paths`` hold several.

    Returns
    -------
    SourceSeries
        The series' geometry, instance UIDs and patient / study attributes (no pixels).

    Raises
    ------
    DicomSeriesError
        No series, several without ``series_uid``, or an inconsistent one.
    """
    from labelmap.sources.series import load_series

    return load_series([paths] if isinstance(paths, (str, os.PathLike)) else list(paths), series_uid=series_uid)


# --------------------------------------------------------------------------- itk -> seg
def encode_seg(
    volumes: LabelVolume | Sequence[LabelVolume],
    source: SourceSeries,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    options: WriteOptions = WriteOptions(),
    names: Sequence[str] | None = None,
    materialize: bool = True,
    resources: Resources | None = None,
    uids: UidSource | None = None,
) -> tuple[WriteDataset | Dataset, PreparedInputs]:
    """Encode label volume(s) as a SEG referencing ``source``.

    Parameters
    ----------
    volumes
        Label volume(s); each one's ``segments`` describe its voxel values (``label_id``).
    source
        The source series the SEG references.
    series
        Series-level attributes of the SEG.
    options
        How to write it: ``numbering`` decides the Segment Numbers ("label": the values
        themselves, "sequential": 1..N, "auto": the values when the type allows);
        ``seg_type="auto"`` writes LABELMAP unless segments of different volumes overlap.
    names
        What to call each volume in messages.
    materialize
        True: a pydicom Dataset; False: the writers' :class:`~labelmap.dicom.dataset.WriteDataset`
        (per-frame items and pixels kept for the bulk writer, :func:`labelmap.seg.encode.save_dataset`).
    resources
        Threads the encoding may use (None: each step's default).
    uids
        Mints the SEG's UIDs.  None: random ones, or with ``options.deterministic_uids`` UIDs derived
        from the volumes' values, grids and segments, the source series, ``series``, the options and
        labelmap's version (:mod:`labelmap.pipeline.uid_seed`).

    Returns
    -------
    tuple
        ``(dataset, prepared inputs)``; ``prepared.notes`` holds the warnings.

    Raises
    ------
    LabelmapError
        Inputs that cannot be written as asked (see :func:`labelmap.seg.plan.prepare_inputs`).
    """
    from labelmap.seg.encode import encode_labelmap, plan_labelmap
    from labelmap.seg.plan import merge_layers, prepare_inputs

    if isinstance(volumes, SlideLabelImage) or _is_slide_source(source):
        raise UnsupportedError(
            "slide SEGs are written straight to a file, tile row by tile row, never held as a Dataset; use "
            "labelmap.write_seg or labelmap.slide_to_seg"
        )
    if isinstance(volumes, LabelVolume):
        volumes = [volumes]
    if uids is None and options.deterministic_uids:
        from labelmap.pipeline import uid_seed

        seed = uid_seed.add_volumes(uid_seed.new_seed("volumes", options), volumes, series)
        uids = uid_seed.uid_source(uid_seed.add_source(seed, source))
    threads = None if resources is None else resources.threads
    prepared = prepare_inputs(volumes, source, names=names, options=options, threads=threads)
    common: dict[str, Any] = dict(
        series=series, options=options, materialize=materialize, resources=resources, uids=uids
    )
    ds: WriteDataset | Dataset
    if prepared.seg_type == "LABELMAP":
        array, presence = merge_layers(prepared)
        labelmap = LabelVolume(array, prepared.geometry, tuple(prepared.segments))
        plan = plan_labelmap(
            array, keep_empty_slices=options.keep_empty_slices, source=prepared.layers[0].name, presence=presence
        )
        prepared.notes[:0] = plan.notes  # in the order they arise
        ds = encode_labelmap(labelmap, source, prepared.source_index, plan=plan, **common)
    elif options.palette:
        raise InputError("BINARY and FRACTIONAL are MONOCHROME2", hint="palette_labelmap_only")
    else:
        overlap: Literal["YES", "NO", "UNDEFINED"] = "YES" if prepared.overlap.any() else "NO"
        if prepared.seg_type == "FRACTIONAL":
            overlap = "UNDEFINED" if len(prepared.layers) > 1 else "NO"
        from labelmap.seg.encode_classic import encode_classic

        layers, geometry, index = prepared.layers, prepared.geometry, prepared.source_index
        ds = encode_classic(prepared.seg_type, layers, geometry, source, index, segments_overlap=overlap, **common)
    return ds, prepared


def write_seg(
    volumes: LabelVolume | Sequence[LabelVolume] | SlideLabelImage,
    source: SourceSeries | SlideSource,
    output: PathLike,
    *,
    series: SeriesAttributes = SeriesAttributes(),
    options: WriteOptions = WriteOptions(),
    names: Sequence[str] | None = None,
    resources: Resources | None = None,
    uids: UidSource | None = None,
) -> WriteReport:
    """:func:`encode_seg`, then write the file atomically.

    Parameters
    ----------
    volumes, source, series, options, names, resources, uids
        As for :func:`encode_seg` (``options.deflate_level`` applies to ``compression="deflate"``).
        A :class:`~labelmap.model.SlideLabelImage` (with its segments) and / or a
        :class:`~labelmap.sources.slide.SlideSource` write a slide SEG (:func:`~labelmap.pipeline.slide.slide_to_seg`).
    output
        The SEG file to write.

    Returns
    -------
    WriteReport
        What was written, with the warnings.

    Raises
    ------
    LabelmapError
        As :func:`encode_seg`; :class:`~labelmap.errors.OutputError` when ``output`` cannot be written.
    """
    if isinstance(volumes, SlideLabelImage) or _is_slide_source(source):
        from labelmap.pipeline.slide import slide_to_seg

        return slide_to_seg(volumes, source, output, series=series, options=options, resources=resources, uids=uids)  # type: ignore[arg-type]
    source = cast(SourceSeries, source)
    t0 = time.perf_counter()
    if resources is not None and resources.progress is not None:
        resources.progress.step("encoding the frames")
    ds, prepared = encode_seg(
        volumes, source, series=series, options=options, names=names, materialize=False, resources=resources, uids=uids
    )
    return save_seg(ds, output, t0, options, resources, prepared.geometry.shape[0], prepared.segments, prepared.notes)


def save_seg(
    ds: WriteDataset | Dataset,
    output: PathLike,
    t0: float,
    options: WriteOptions,
    resources: Resources | None,
    slices: int,
    segments: Sequence[SegmentDescription],
    warnings: Sequence[str],
) -> WriteReport:
    """Write the encoded SEG ``ds`` to ``output`` and report it (``slices``: the grid's, ``t0``: the start)."""
    from labelmap.dicom.uids import title_of
    from labelmap.seg.encode import save_dataset

    save_dataset(
        ds,
        output,
        deflate_level=options.deflate_level,
        threads=None if resources is None else resources.threads,
        progress=None if resources is None else resources.progress,
    )
    out, seg_type, frames = Path(output), str(ds.SegmentationType), int(ds.NumberOfFrames)
    return WriteReport(
        output=out,
        segmentation_type=seg_type,
        frames=frames,
        segments=len(segments),
        bits_allocated=int(ds.BitsAllocated),
        transfer_syntax=title_of(str(ds.file_meta.TransferSyntaxUID)),
        size_bytes=out.stat().st_size,
        seconds=time.perf_counter() - t0,
        skipped_slices=max(0, slices - frames) if seg_type == "LABELMAP" else 0,
        warnings=list(warnings),
    )


def _is_loaded_slide(source: Any) -> bool:
    """A :class:`~labelmap.sources.slide.SlideSource` (never a sniff of files; one exists only once its module
    is loaded, so a volume conversion never imports the slide reader to ask)."""
    if isinstance(source, (SourceSeries, Geometry, str, os.PathLike, list, tuple)) or source is None:
        return False
    slide = sys.modules.get("labelmap.sources.slide")
    return slide is not None and isinstance(source, slide.SlideSource)


def _is_slide_source(source: Any) -> bool:
    """A loaded slide, or paths holding a VL Whole Slide Microscopy image (a cheap sniff of the files' first bytes)."""
    if isinstance(source, (SourceSeries, Geometry)) or source is None:
        return False
    if _is_loaded_slide(source):
        return True
    from labelmap.sources.slide_sniff import is_slide_source

    if isinstance(source, (str, os.PathLike)) or (
        isinstance(source, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in source)
    ):
        return is_slide_source(source)
    return False


def itk_to_seg(
    labels: Sequence[PathLike | LabelVolume | Any] | SlideLabelImage | Any,
    dicom: Sequence[PathLike] | SlideSource,
    metadata: PathLike | dict | None,
    output: PathLike,
    *,
    options: WriteOptions = WriteOptions(),
    series_uid: str | None = None,
    resources: Resources | None = None,
) -> WriteReport:
    """NRRD / NIfTI label files + dcmqi JSON + source series -> DICOM SEG file.

    Parameters
    ----------
    labels
        The label files, in the order of the JSON's ``segmentAttributes`` (any of them may instead be a label
        image in memory: a LabelVolume, a nibabel NIfTI image or a SimpleITK image, taken by the file
        readers' rules, :func:`~labelmap.formats.nifti_memory.from_nifti` / :func:`~labelmap.formats.sitk.from_sitk`;
        messages call it ``<nibabel image 1>``); or one file whose
        format describes its own segments (a Slicer ``.seg.nrrd``: its layers are the label volumes; a
        JSON's ``segmentAttributes[i]`` entries replace or add to layer i's descriptions).  For a
        whole-slide ``dicom``, what :func:`~labelmap.pipeline.slide.slide_to_seg` takes: 2-D label
        files, array-likes, :class:`~labelmap.model.SlideLabels` or a SlideLabelImage.
    dicom
        The source series: folders (searched recursively) and/or files.  A whole slide (a VL Whole
        Slide Microscopy image among them, or a loaded SlideSource) writes a slide SEG.
    metadata
        The dcmqi metadata JSON (a path or its parsed dict); None only for a ``.seg.nrrd``.
    output
        The SEG file to write.
    options
        How to write it (:class:`~labelmap.pipeline.options.WriteOptions`).
    series_uid
        The source series to use when ``dicom`` holds several.
    resources
        Threads the conversion may use (None: each step's default) and who hears its progress
        (``Resources.progress``: reading, encoding, compressing, writing the SEG in bytes).

    Returns
    -------
    WriteReport
        What was written, with the warnings.  With ``options.deterministic_uids`` its UIDs derive
        from the label files' and metadata file's bytes, the source series' UIDs, the options,
        ``series_uid`` and labelmap's version (:mod:`labelmap.pipeline.uid_seed`).

    Raises
    ------
    LabelmapError
        Unusable inputs or options, with the file and the fix in the message.
    """
    from labelmap.formats import read_labels as read_file
    from labelmap.formats.dcmqi_json import load_metadata
    from labelmap.pipeline.slide_sniff import labels_are_volumes

    # label volumes never sniff the source for a slide (a folder may hold a CT and a slide); a loaded
    # slide with them goes to the slide writer, which says they are not 2-D
    volumes_given = labels_are_volumes(labels)
    if (volumes_given and _is_loaded_slide(dicom)) or (not volumes_given and _is_slide_source(dicom)):
        from labelmap.pipeline.slide import slide_to_seg

        given = list(labels) if isinstance(labels, (list, tuple)) else labels
        return slide_to_seg(
            given, dicom, output, metadata=metadata, options=options, series_uid=series_uid, resources=resources
        )
    dicom = cast("Sequence[PathLike]", dicom)
    items, names = _label_inputs(labels)
    if not items:
        raise InputError("no label image given; pass the NRRD / NIfTI label file(s)")
    files = [x for x in items if isinstance(x, Path)]
    check_output_target(output, [*files] + ([] if metadata is None or isinstance(metadata, dict) else [metadata]))
    check_not_input(output, dicom, what="a file of the source series")  # folders: checked once read
    described = _described_input(items)
    if described is None and metadata is None:
        raise InputError(
            "no metadata JSON given; NRRD / NIfTI label files need a dcmqi metadata JSON describing their labels",
            hint="metadata",
        )
    md = None if metadata is None else load_metadata(metadata)
    if md is not None:  # every value against its VR, named by its JSON field, before reading anything
        from labelmap.seg.segments import check_metadata_values

        check_metadata_values(md.series, md.segments, "metadata" if isinstance(metadata, dict) else str(metadata))
    # per input: the descriptions of its layers (a .seg.nrrd: the JSON's, replacing or adding to its own)
    per_file: list[Sequence[Sequence[SegmentDescription]] | None] = [None if md is None else md.segments]
    if described is None and md is not None:
        if len(md.segments) != len(items):
            meta_name = "the metadata JSON" if isinstance(metadata, dict) else f"metadata file {str(metadata)!r}"
            kind = "label file" if len(files) == len(items) else "label image"
            raise MetadataError(
                f"{meta_name}: segmentAttributes has {len(md.segments)} inner list(s) but "
                f"{len(items)} {kind}(s) were given ({', '.join(Path(n).name for n in names)}); "
                f"give one inner list per {kind}, in the same order"
            )
        if md.file_mapping:
            order = _file_mapping_order(names, md.file_mapping)
            items, names = [items[i] for i in order], [names[i] for i in order]
        per_file = [[s] for s in md.segments]

    if resources is not None and resources.progress is not None:
        resources.progress.step("reading the label images and the source series")

    from labelmap.formats.header_grid import read_header_grid

    heads = [read_header_grid(p) for p in files]

    def read(pending: Pending[SourceSeries]) -> list[LabelVolume]:
        _check_headers(files, heads, pending, options.tol_mm)
        threads = None if resources is None else resources.threads
        volumes: list[LabelVolume] = []
        for item, layers in zip(items, per_file):
            if isinstance(item, Path):
                volumes += read_file(item, segments=layers, narrow=True, threads=threads).volumes
            else:  # in memory: the JSON describes its values, as it would its file's
                volumes.append(LabelVolume(item.array, item.geometry, tuple(layers[0]) if layers else item.segments))
        return volumes

    claimed = sum(h.nbytes if h is not None else THREAD_MIN_BYTES for h in heads)  # an unknown one: a thread
    source, volumes = _read_with_source(dicom, series_uid, options.compression, read, claimed)
    check_not_input(output, source.files, what="a file of the source series")
    if len(volumes) > len(names):  # the layers of one self-describing file
        names = [f"{names[0]} layer {m}" for m in range(len(volumes))]
    series = md.series if md is not None else SeriesAttributes()
    if options.source_body_part:  # dcmqi: the first source image's non-empty BodyPartExamined wins
        source_part = str(source.dataset.get("BodyPartExamined", None) or "").strip(" \0")
        if source_part:
            series = replace(series, body_part_examined=source_part)
    uids = None
    if options.deterministic_uids:  # from the files' bytes, streamed (not from the decoded volumes)
        from labelmap.pipeline import uid_seed

        seed = uid_seed.add_metadata(uid_seed.new_seed("itk2seg", options, series_uid), metadata)
        for m, item in enumerate(items):
            if isinstance(item, Path):
                seed.add_file(f"label file {m}", item)
            else:  # an image in memory: its values and grid (its descriptions are the metadata's)
                grid = item.geometry
                seed.add_array(f"label image {m}", item.array)
                seed.add_json(
                    f"label image {m} grid", [grid.origin.tolist(), grid.direction.tolist(), grid.spacing.tolist()]
                )
        uids = uid_seed.uid_source(uid_seed.add_source(seed, source))
    return write_seg(
        volumes, source, output, series=series, options=options, names=names, resources=resources, uids=uids
    )


# --------------------------------------------------------------------------- self-describing label files
def _label_inputs(labels: Any) -> tuple[list[Path | LabelVolume], list[str]]:
    """itk_to_seg's label inputs: each a file (a Path) or an image in memory (LabelVolume, nibabel, SimpleITK:
    a LabelVolume by the file readers' rules), and the names messages give them (the path, or ``<nibabel
    image 2>``)."""
    from labelmap.formats.memory import is_memory_image, memory_name, memory_volume

    given = [labels] if is_memory_image(labels) or isinstance(labels, (str, os.PathLike)) else list(labels)
    items: list[Path | LabelVolume] = []
    names = []
    for n, item in enumerate(given):
        if is_memory_image(item):
            items.append(memory_volume(item))
            names.append(memory_name(item, n))
        else:
            items.append(Path(item))
            names.append(str(item))
    return items, names


def _described_input(labels: Sequence[PathLike | LabelVolume]) -> Path | None:
    """The label file among ``labels`` whose format describes its own segments (it must be the only one), or None."""
    from labelmap.formats import find_format

    for path in labels:
        if isinstance(path, LabelVolume):
            continue
        fmt = find_format(path)
        if fmt is not None and fmt.describes_segments:
            if len(labels) > 1:
                raise InputError(
                    f"{str(path)!r} is a {fmt.title} holding all its layers and segments; give it as the only "
                    "label file (convert other label files separately, or add them as segments in Slicer)"
                )
            return Path(path)
    return None


def _one_file_layers(decoded: DecodedSegmentation, fmt) -> list[LabelVolume]:  # fmt: LabelFormat
    """A decoded SEG as the layers of one file describing its segments (label value = Segment Number):
    LABELMAP is one layer, BINARY the greedy first-fit groups of non-overlapping segments."""
    if decoded.segmentation_type not in ("LABELMAP", "BINARY"):
        raise UnsupportedError(
            f"{decoded.name}: a {decoded.segmentation_type} SEG cannot be written as a {fmt.title} (binary "
            "labelmaps only); use --format nrrd or nifti, which keep the fractional values"
        )
    return [
        LabelVolume(
            decoded.volume_of([s.number for s in group]),
            decoded.geometry,
            tuple(replace(s, label_id=s.number) for s in group if s.number),  # a Slicer label is 1..65535
        )
        for group in decoded.layers()
    ] or [LabelVolume(np.zeros(decoded.geometry.shape, np.uint8), decoded.geometry)]


class Pending(Generic[_T]):
    """A value computed on first ``result()`` (here), or on a background thread started at once: a small
    stand-in for ``concurrent.futures.Future``, whose import (with logging's) costs a command 7 ms."""

    def __init__(self, compute: Callable[[], _T], *, background: bool = False) -> None:
        self._compute: Callable[[], _T] | None = compute
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="labelmap-source", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        compute, self._compute = self._compute, None
        if compute is None:
            return
        try:
            self._value = compute()
        except BaseException as exc:  # raised from result(), on the caller's thread
            self._error = exc

    def wait(self) -> None:
        """Wait for the background thread, if there is one (nothing is computed or raised here)."""
        if self._thread is not None:
            self._thread.join()

    def result(self) -> _T:
        """The value (computed now when no thread computes it), or the exception computing it raised."""
        if self._thread is not None:
            self._thread.join()
        else:
            self._run()
        if self._error is not None:
            raise self._error
        return cast("_T", self._value)


#: Label data (bytes, as the headers claim) from which the source series is read on a second thread while
#: the label files inflate.  Below it the two run one after the other: the series' headers are parsed in
#: Python (under the GIL), so the thread only overlaps the inflating, and each return of the GIL to the
#: inflating thread may wait a switch interval (5 ms); on 256x256x120 (16 MB) the thread lost 5-20 ms.
THREAD_MIN_BYTES = 64 << 20


def _read_with_source(
    dicom: Sequence[PathLike],
    series_uid: str | None,
    compression: str,
    read: Callable[[Pending[SourceSeries]], list[LabelVolume]],
    claimed: int = THREAD_MIN_BYTES,
) -> tuple[SourceSeries, list[LabelVolume]]:
    """``read(pending source)`` the label files, then the series headers, or (``claimed`` label bytes of at
    least :data:`THREAD_MIN_BYTES`, or a frame codec to import) the series on a second thread meanwhile,
    which also imports the frame codec the write will need; errors surface from ``.result()``, after the
    label files' own."""
    from labelmap.dicom.uids import lookup

    ts = lookup(compression)
    codec = ts is not None and ts.codec is not None
    in_background = codec or claimed >= THREAD_MIN_BYTES
    pending = Pending(lambda: load_source(dicom, series_uid=series_uid), background=in_background)
    warm = Pending(lambda: _warm_codec(ts), background=True) if codec and ts is not None else None
    try:
        volumes = read(pending)
        return pending.result(), volumes
    finally:  # no thread outlives the call, whatever it raised
        pending.wait()
        if warm is not None:
            warm.wait()


def _warm_codec(ts: TransferSyntax) -> None:
    """Import the frame codec ``ts`` needs (a codec package missing is reported where it is used)."""
    import importlib

    from labelmap.dicom.pixels.codecs import codec_module

    try:
        for module, _ in codec_module(ts).DEPENDENCIES:
            importlib.import_module(module)
    except ImportError:  # reported where the codec is used, with the package to install
        pass


#: Label data (bytes, as the headers claim) from which the label files wait for the source series, to
#: be checked against it before their bodies are read; smaller bodies are read while the series loads.
HEADER_FIRST_BYTES = 256 << 20


def _check_headers(
    paths: Sequence[Path], heads: Sequence[HeaderGrid | None], pending: Pending[SourceSeries], tol_mm: float
) -> None:
    """Refuse label files whose grids cannot lie on the source series from their headers (``heads``, read
    by :func:`~labelmap.formats.header_grid.read_header_grid`), before their bodies are read (a large gzip
    body costs seconds and its size in memory).

    The check waits for the series when the files claim at least :data:`HEADER_FIRST_BYTES`; smaller
    bodies are read while it loads and the same check runs on the volumes
    (:func:`labelmap.seg.plan.prepare_inputs`), with the same message.  A header the reader would refuse
    anyway, or a series that fails to load, leaves the errors to where they are reported today.
    """
    known = [h for h in heads if h is not None]
    if len(known) < len(heads) or sum(h.nbytes for h in known) < HEADER_FIRST_BYTES:
        return
    from labelmap.seg.plan import check_grids

    try:
        source = pending.result()
    except Exception:  # the series' own error is raised after the labels are read, as ever
        return
    names = [str(p) for p in paths]
    layers = sum(h.layers for h in known)
    if layers > len(names):  # the layers of one self-describing file, named as itk_to_seg names them
        names = [f"{names[0]} layer {m}" for m in range(layers)]
    geometries = [h.geometry for h in known for _ in range(h.layers)]
    check_grids(geometries, source, names=names, tol_mm=tol_mm)


def _file_mapping_order(paths: Sequence[str], mapping: Sequence[str]) -> list[int]:
    """dcmqi's ``segmentAttributesFileMapping`` rule: the label files taken in the mapping's order.

    Each file (as given) belongs to the first mapping entry its path contains; the file of entry i
    is then input i, described by ``segmentAttributes[i]`` and numbered in that order.  Returns
    the file indices in mapping order.  A file no entry matches fails, as in dcmqi; two files
    claiming one entry (where dcmqi would lose one) fail too.
    """
    owner: dict[int, int] = {}
    for i, path in enumerate(paths):
        position = next((m for m, entry in enumerate(mapping) if entry in path), None)
        if position is None:
            raise MetadataError(
                f"segmentAttributesFileMapping: label file {path!r} matches none of its entries "
                f"({', '.join(map(repr, mapping))}); each label file's path must contain one of them"
            )
        if position in owner:
            raise MetadataError(
                f"segmentAttributesFileMapping: label files {paths[owner[position]]!r} and {path!r} both match "
                f"entry {mapping[position]!r}; give each file an entry that only its path contains"
            )
        owner[position] = i
    return [owner[m] for m in range(len(mapping))]


# --------------------------------------------------------------------------- seg -> itk
def read_seg(
    seg: PathLike | Dataset,
    *,
    reference: None | PathLike | Sequence[PathLike] | SourceSeries | Geometry = None,
    series_uid: str | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    resources: Resources | None = None,
) -> DecodedSegmentation | SlideLabelImage:
    """Decode a SEG file or Dataset (``resources``: the threads its label scans and band decoding may use).

    A slide SEG file (tiled, with a Total Pixel Matrix) gives a :class:`~labelmap.model.SlideLabelImage`
    instead, read lazily (:func:`~labelmap.pipeline.slide_api.read_slide_seg`: ``.layers`` decode only
    the tile rows asked for, ``.segments``, ``.geometry`` the SEG's SlideGeometry); ``reference``
    does not apply to it.

    Every type gives a :class:`~labelmap.seg.decoded.DecodedSegmentation` (``.segments``,
    ``.geometry``, ``.volume_of(numbers)``, ``.iter_segment_volumes()``, ``.layers()``):
    LABELMAP a :class:`~labelmap.seg.decode.DecodedSeg` (also ``.volume``: the stored pixel
    values, slices without a frame holding the Pixel Padding Value, else 0), BINARY / FRACTIONAL a
    :class:`~labelmap.seg.decode_classic.ClassicSeg` (also ``.overlap()``).  ``reference`` (a
    series folder / files, a SourceSeries or a Geometry) puts the output on that
    full grid, skipped slices filled the same way (0 for BINARY / FRACTIONAL).

    Every result records what it was read from (``.read_from``: the file's absolute path, or the
    Dataset given) and converts to a ``highdicom.seg.Segmentation`` with ``.to_highdicom()``
    (:func:`~labelmap.seg.highdicom_interop.to_highdicom`: highdicom reads that same file or Dataset).
    """
    threads = None if resources is None else resources.threads
    if isinstance(seg, (str, os.PathLike)):
        from labelmap.seg.tiled_sniff import is_slide_seg

        if is_slide_seg(seg):
            if reference is not None:
                raise InputError(
                    f"{os.fspath(seg)} is a slide SEG: its geometry is its own Total Pixel Matrix, a reference "
                    "series does not apply; read it without reference"
                )
            from labelmap.pipeline.slide_api import read_slide_seg

            return read_slide_seg(seg, threads=threads)
    return _read_volume_seg(seg, reference=reference, series_uid=series_uid, tol_mm=tol_mm, threads=threads)


def _read_volume_seg(
    seg: PathLike | Dataset,
    *,
    reference: None | PathLike | Sequence[PathLike] | SourceSeries | Geometry = None,
    series_uid: str | None = None,
    tol_mm: float = DEFAULT_TOLERANCE_MM,
    threads: int | None = None,
) -> DecodedSegmentation:
    """:func:`read_seg` on a volume SEG (``threads``: the label scan's, None: every core)."""
    from labelmap.dicom.values import quiet_pydicom
    from labelmap.seg.decode import decode_labelmap
    from labelmap.seg.read import open_seg

    # pydicom (when a file needs it) warns on stderr about every odd value of a damaged file;
    # what matters to the conversion is reported as one SegFormatError instead
    with quiet_pydicom():
        opened = open_seg(seg)
        ref_geometry = _reference_geometry(reference, series_uid=series_uid, tol_mm=tol_mm)
        if str(opened.header.get("SegmentationType", "")) == "LABELMAP":
            return decode_labelmap(opened, reference=ref_geometry, tol_mm=tol_mm, threads=threads)
        from labelmap.seg.decode_classic import decode_classic

        return decode_classic(opened, reference=ref_geometry, tol_mm=tol_mm)


def _reference_geometry(reference, *, series_uid: str | None, tol_mm: float) -> Geometry | None:
    if reference is None or isinstance(reference, Geometry):
        return reference
    from labelmap.sources.series import series_geometry

    if not isinstance(reference, SourceSeries):
        reference = load_source(reference, series_uid=series_uid)
    return series_geometry(reference, tol_mm=max(tol_mm, 0.01))


def _dcmqi_pixels(decoded: DecodedSegmentation, array: np.ndarray) -> np.ndarray:
    """``array`` in the pixel type dcmqi's segimage2itkimage writes for this SEG (see ReadOptions)."""
    small = decoded.segmentation_type == "LABELMAP" and getattr(decoded, "bits_allocated", 16) <= 8
    if small and array.dtype == np.uint8:
        return array
    if array.size and int(array.max()) > 0x7FFF:
        return array.astype(np.uint16, copy=False)
    return array.astype(np.uint8 if small else np.int16, copy=False)


def output_names(output_dir: Path, prefix: str, count: int, ext: str) -> tuple[list[Path], Path]:
    """dcmqi's output names: ``<prefix>-<k><ext>`` and ``<prefix>-meta.json`` (no dash without prefix)."""
    stem = f"{prefix}-" if prefix else ""
    return [output_dir / f"{stem}{k}{ext}" for k in range(1, count + 1)], output_dir / f"{stem}meta.json"


def _check_prefix(prefix: str) -> None:
    """A file-name prefix names files inside the output folder: no folder separators, no NUL."""
    if any(c in prefix for c in {"/", os.sep, "\0"}) or prefix in (".", ".."):
        raise InputError(
            f"file name prefix {prefix!r} contains a folder separator or is a folder name; the prefix is the "
            "start of a file name inside the output folder (choose the folder with the output folder option)"
        )


def _check_not_inputs(targets: Sequence[Path], seg: PathLike, source: SourceSeries | Geometry | None) -> None:
    """Refuse output names that would replace the SEG being read or a file of the reference series."""
    from labelmap._util.atomic import check_not_input

    check_not_input(targets, [seg], what="the input SEG")
    if isinstance(source, SourceSeries):
        check_not_input(targets, source.files, what="a file of the reference series")


def seg_to_itk(
    seg: PathLike,
    output_dir: PathLike,
    *,
    options: ReadOptions = ReadOptions(),
    reference: None | PathLike | Sequence[PathLike] | SourceSeries | Geometry = None,
    series_uid: str | None = None,
    resources: Resources | None = None,
) -> ReadReport:
    """DICOM SEG -> label image(s) + dcmqi ``meta.json`` in ``output_dir``.

    LABELMAP: one image of Segment Numbers.  BINARY / FRACTIONAL: one image per
    segment (voxels = Segment Number, or the stored fractional value), or with
    ``options.merge_segments`` the fewest images of non-overlapping segments; ``meta.json``
    has one inner list per image, as dcmqi writes it.  ``fmt="segnrrd"``: one Slicer
    ``<prefix or SEG name>.seg.nrrd`` holding every segment (one layer per group of
    non-overlapping segments) and ``meta.json`` with one inner list per layer.

    Parameters
    ----------
    seg
        The SEG file.
    output_dir
        The folder for the images and ``meta.json``.
    options
        Output format, file name prefix, merging, tolerance (:class:`~labelmap.pipeline.options.ReadOptions`).
    reference, series_uid
        A source series (folder / files) to put the output on its full grid, skipped
        slices filled with background; the series to use when the folder holds several.
        A slide SEG file goes to :func:`~labelmap.pipeline.slide_read.seg_to_slide` (its own
        Total Pixel Matrix, no reference; ``options.fmt`` "nrrd" (2-D NRRD) or "ome-tiff").
    resources
        Threads the conversion may use (None: each step's default) and who hears its progress
        (reading the SEG, then each label image written).

    Returns
    -------
    ReadReport
        What was written, with the warnings.

    Raises
    ------
    LabelmapError
        A damaged or unsupported SEG, an unknown format, an unusable output folder.
    """
    from labelmap._util.atomic import OutputSet, check_output_dir, missing_dirs
    from labelmap.formats import LabelSet, output_format
    from labelmap.formats.dcmqi_json import write_meta_json

    if isinstance(seg, (str, os.PathLike)):
        from labelmap.seg.tiled_sniff import is_slide_seg

        if is_slide_seg(seg):
            return _slide_seg_to_files(seg, output_dir, options, reference, resources)
    t0 = time.perf_counter()
    progress = None if resources is None else resources.progress
    prefix = options.prefix
    _check_prefix(prefix)
    out_format = output_format(options.fmt)
    ext = out_format.output_suffix
    if not (options.create_dir and not Path(output_dir).exists()):
        check_output_dir(output_dir)  # a bad folder fails before the SEG is read
    source: SourceSeries | Geometry | None
    if reference is None or isinstance(reference, (SourceSeries, Geometry)):
        source = reference
    else:  # the series' files are kept: no output may replace one
        if progress is not None:
            progress.step("reading the reference series")
        source = load_source(reference, series_uid=series_uid)
    threads = None if resources is None else resources.threads
    if progress is not None:
        progress.step("reading the SEG")
    read = read_seg(seg, reference=source, series_uid=series_uid, tol_mm=options.tol_mm, resources=resources)
    decoded = cast("DecodedSegmentation", read)
    created = missing_dirs(output_dir) if options.create_dir else []
    out_dir = check_output_dir(output_dir, create=options.create_dir)  # created once the SEG has been read
    # every file is written to a temporary and renamed only when all are written (all or nothing);
    # a failure also removes the output folder again if this run created it
    with OutputSet(created=created) as out:
        if out_format.describes_segments:  # every segment in one file
            layers = _one_file_layers(decoded, out_format)
            stem = prefix or re.sub(r"(\.seg)?(\.dcm)?$", "", Path(seg).name, flags=re.I) or "segmentation"
            images, meta_path = [out_dir / f"{stem}{ext}"], output_names(out_dir, prefix, 1, ext)[1]
            _check_not_inputs([*images, meta_path], seg, source)
            if progress is not None:
                progress.step(f"writing {images[0].name}", 1, "images")
            staged = out.stage(images[0])
            out_format.write(staged, LabelSet(tuple(layers), described=True), threads=threads)
            if progress is not None:
                progress.advance(1, nbytes=_size(staged))
            groups = [list(layer.segments) for layer in layers]
            shape = layers[0].geometry.shape
        else:  # LABELMAP: one image of Segment Numbers
            one = options.merge_segments or decoded.segmentation_type == "LABELMAP"
            layer_groups = decoded.layers() if one else [[s] for s in decoded.segments]
            images, meta_path = output_names(out_dir, prefix, len(layer_groups), ext)
            _check_not_inputs([*images, meta_path], seg, source)
            buffer = None
            groups = []
            if progress is not None:
                progress.step("writing label images", len(images), "images")
            for path, group in zip(images, layer_groups):
                buffer = decoded.volume_of([s.number for s in group], buffer)
                pixels = _dcmqi_pixels(decoded, buffer) if options.dcmqi_pixel_types else buffer
                staged = out.stage(path)
                write_labels(staged, LabelVolume(pixels, decoded.geometry))
                groups.append([replace(s, label_id=s.number) for s in group])
                if progress is not None:
                    progress.advance(1, nbytes=_size(staged))
            shape = decoded.geometry.shape
        write_meta_json(out.stage(meta_path), decoded.series, groups)
    notes = list(decoded.notes)
    if decoded.filled_slices:
        fill = getattr(decoded, "fill_value", 0)
        value = f"the Pixel Padding Value {fill}" if fill else "background (0)"
        notes.append(f"{decoded.filled_slices} slice(s) without a frame were filled with {value}")
    return ReadReport(
        outputs=images,
        metadata=meta_path,
        shape=shape,
        segments=sum(len(g) for g in groups),
        filled_slices=decoded.filled_slices,
        seconds=time.perf_counter() - t0,
        warnings=notes,
    )


def _size(path: PathLike) -> int:
    """A written file's size in bytes (0 when it cannot be read: progress is never worth a failure)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _slide_seg_to_files(
    seg: PathLike, output_dir: PathLike, options: ReadOptions, reference: Any, resources: Resources | None
) -> ReadReport:
    """:func:`seg_to_itk` on a slide SEG: its total pixel matrix written by bands (seg_to_slide)."""
    from labelmap.pipeline.slide_read import seg_to_slide

    if reference is not None:
        raise InputError(
            f"{os.fspath(seg)} is a slide SEG: its geometry is its own Total Pixel Matrix, a reference series "
            "does not apply; convert it without reference"
        )
    if options.fmt not in ("ome-tiff", "nrrd"):
        raise UnsupportedError(
            f"{os.fspath(seg)} is a slide SEG, written as OME-TIFF (fmt='ome-tiff') or a 2-D NRRD (fmt='nrrd'), "
            f"not {options.fmt}"
        )
    return seg_to_slide(
        seg,
        output_dir,
        merge_segments=options.merge_segments,
        fmt=options.fmt,
        prefix=options.prefix,
        create_dir=options.create_dir,
        threads=None if resources is None else resources.threads,
        progress=None if resources is None else resources.progress,
    )
