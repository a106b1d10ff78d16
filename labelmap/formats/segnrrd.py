"""3D Slicer segmentation files (``.seg.nrrd``) <-> one :class:`LabelVolume` per layer.

A ``.seg.nrrd`` is a NRRD whose ``key:=value`` fields describe the segments.  A 3-D
file is one layer; a 4-D file lists its layers on the first (fastest) axis
(``kinds: list domain domain domain``, ``space directions: none (..) (..) (..)``).
Geometry is read as :mod:`labelmap.formats.nrrd` reads it (LPS, arrays ``[k, j, i]``).

Segment N (``Segment<N>_*`` keys) holds the voxels where layer ``_Layer`` equals
``_LabelValue``; layers may reuse values.  Without ``_Layer`` keys (legacy files)
segment N lies in layer N, and a missing ``_LabelValue`` is 1.  Without any
segment keys, every non-zero value of every layer is a segment with a default
description.  ``_Name`` -> label, ``_Color`` (0-1) -> rgb = round(255 c), the
``TerminologyEntry`` tag -> codes (missing: SCT 85756007 "Tissue", Slicer's
default), ``DICOM.*`` tags -> algorithm, description and tracking fields.

The writer puts segments that do not overlap in one 3-D layer, else writes a
4-D file, one layer per given volume; gzip, LPS, atomic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from labelmap import kernels
from labelmap._util.color import cielab_to_rgb
from labelmap.errors import InputError, MetadataError
from labelmap.formats.base import LabelSet, LayerSegments, PathLike, read_error
from labelmap.formats.nrrd import NrrdFormat, read_data_and_header, write_attached
from labelmap.formats.nrrd_header import geometry_from_header, header_lines
from labelmap.model import DEFAULT_RGB, Code, Geometry, LabelVolume, SegmentDescription

__all__ = ["FORMAT", "DEFAULT_CATEGORY", "DEFAULT_TYPE", "read_segnrrd", "write_segnrrd"]

#: Slicer's default terminology for a new segment: category and type "Tissue".
DEFAULT_CATEGORY = Code("85756007", "SCT", "Tissue")
DEFAULT_TYPE = Code("85756007", "SCT", "Tissue")

_ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")
_KEY_RE = re.compile(r"^Segment(\d+)_(\w+)$")
_CATEGORY_CONTEXT = "Segmentation category and type - DICOM master list"
_ANATOMY_CONTEXT = "Anatomic codes - DICOM master list"
#: SegmentDescription field <-> our Slicer tag for the fields Slicer has no key for.
_DICOM_TAGS = {
    "algorithm_type": "DICOM.SegmentAlgorithmType",
    "algorithm_name": "DICOM.SegmentAlgorithmName",
    "description": "DICOM.SegmentDescription",
    "tracking_id": "DICOM.TrackingID",
    "tracking_uid": "DICOM.TrackingUID",
}


_fail = partial(read_error, "Slicer segmentation")


# --------------------------------------------------------------------------- reading
def _split_layers(data: np.ndarray, header: dict, p: Path) -> tuple[list[np.ndarray], Geometry]:
    """The layer arrays [k, j, i] and their Geometry (the list axis of a 4-D file removed)."""
    if data.ndim == 3:
        return [data], geometry_from_header(header, tuple(data.shape), p)
    if data.ndim != 4:
        raise _fail(p, f"{data.ndim}-D data (sizes {list(data.shape[::-1])}); a .seg.nrrd is 3-D or 4-D (layers first)")
    kinds = [str(k).strip().lower() for k in header.get("kinds") or ["list", "domain", "domain", "domain"]]
    dirs = header.get("space directions")
    first_dir = None if dirs is None else np.asarray(dirs, dtype=np.float64)[0]
    if kinds[0] in ("domain", "space") or (first_dir is not None and np.all(np.isfinite(first_dir))):
        raise _fail(
            p,
            f"a 4-D file must list its layers on the first axis ('kinds: list domain domain domain', "
            f"'space directions: none ...'), got kinds {kinds}; save it from Slicer again",
        )
    sub = dict(header)
    for key in ("kinds", "space directions", "spacings"):
        if sub.get(key) is not None:
            sub[key] = list(sub[key])[1:] if key != "space directions" else np.asarray(sub[key])[1:]
    geometry = geometry_from_header(sub, tuple(data.shape[:3]), p)
    return [np.ascontiguousarray(data[..., layer]) for layer in range(data.shape[3])], geometry


def _segment_fields(header: dict) -> dict[int, dict[str, str]]:
    """{N: {field: value}} of every ``Segment<N>_<field>`` key."""
    out: dict[int, dict[str, str]] = {}
    for key, value in header.items():
        m = _KEY_RE.match(str(key))
        if m:
            out.setdefault(int(m.group(1)), {})[m.group(2)] = str(value).strip()
    return dict(sorted(out.items()))


def _int_field(fields: dict[str, str], n: int, name: str, p: Path, fix: str) -> int | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _fail(p, f"Segment{n}_{name} is {raw!r}, not an integer; {fix}") from None


def _color(raw: str, n: int, p: Path) -> tuple[int, int, int]:
    try:
        values = [float(v) for v in raw.replace(",", " ").split()]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) and -1e-6 <= v <= 1 + 1e-6 for v in values):
        raise _fail(
            p, f"Segment{n}_Color is {raw!r}; it must be three numbers 0..1 (red green blue), e.g. '0.5 0.68 0.5'"
        )
    r, g, b = (int(math.floor(255 * min(max(v, 0.0), 1.0) + 0.5)) for v in values)
    return r, g, b


def _tags(raw: str) -> dict[str, str]:
    """``key:value|key:value|`` -> dict (the value keeps any further ':')."""
    items = (item.partition(":") for item in raw.split("|") if item.strip())
    return {key.strip(): value.strip() for key, _, value in items}


def _code(raw: str, n: int, what: str, p: Path) -> Code | None:
    """``SCHEME^VALUE^MEANING`` -> Code; empty (``^^``) -> None."""
    parts = raw.split("^", 2)
    if all(not s.strip() for s in parts):
        return None
    if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
        raise _fail(
            p,
            f"Segment{n}_Tags: TerminologyEntry {what} code {raw!r} is not 'SCHEME^VALUE^MEANING' "
            "(e.g. 'SCT^10200004^Liver'); fix it or choose the terminology again in Slicer",
        )
    scheme, value, meaning = (s.strip() for s in parts)
    return Code(value, scheme, meaning or value)


def _terminology(raw: str, n: int, p: Path) -> dict[str, Any]:
    parts = raw.split("~")
    if len(parts) != 7:
        raise _fail(
            p,
            f"Segment{n}_Tags: TerminologyEntry has {len(parts)} '~'-separated parts, expected 7 (context~category~"
            "type~type modifier~anatomic context~region~region modifier); fix it or choose the terminology again "
            "in Slicer",
        )
    names = (None, "category", "type", "type_modifier", None, "anatomic_region", "anatomic_region_modifier")
    codes: dict[str, Any] = {
        name: _code(part, n, name.replace("_", " "), p) for name, part in zip(names, parts) if name
    }
    # the names of the terminology lists the codes come from (Slicer looks the codes up in them)
    codes["terminology_context"] = parts[0].strip() or None
    codes["anatomic_context"] = parts[4].strip() or None
    return codes


def _segment(n: int, fields: dict[str, str], p: Path) -> SegmentDescription:
    """The description of segment N from its keys (label_id = LabelValue, checked by the caller)."""
    tags = _tags(fields.get("Tags", ""))
    codes: dict[str, Any] = _terminology(tags["TerminologyEntry"], n, p) if tags.get("TerminologyEntry") else {}
    codes["category"] = codes.get("category") or DEFAULT_CATEGORY
    codes["type"] = codes.get("type") or DEFAULT_TYPE
    extra: dict[str, Any] = {attr: tags.get(tag) or None for attr, tag in _DICOM_TAGS.items()}
    algorithm = (extra.pop("algorithm_type") or "MANUAL").upper()
    if algorithm not in _ALGORITHM_TYPES:
        raise _fail(
            p,
            f"Segment{n}_Tags: {_DICOM_TAGS['algorithm_type']} is {algorithm!r}; use AUTOMATIC, "
            "SEMIAUTOMATIC or MANUAL",
        )
    if algorithm != "MANUAL" and not extra["algorithm_name"]:
        raise _fail(
            p,
            f"Segment{n}_Tags: {_DICOM_TAGS['algorithm_type']} is {algorithm} but "
            f"{_DICOM_TAGS['algorithm_name']} is missing; add the algorithm's name or set it to MANUAL",
        )
    name = fields.get("Name") or fields.get("ID") or f"Segment_{n + 1}"
    rgb = _color(fields["Color"], n, p) if fields.get("Color") else None
    return SegmentDescription(label_id=1, algorithm_type=algorithm, label=name, rgb=rgb, **codes, **extra)


def _described(header: dict, n_layers: int, p: Path) -> list[list[SegmentDescription]] | None:
    """Segment descriptions per layer from the keys, or None when the file has no segment keys."""
    segs = _segment_fields(header)
    if not segs:
        return None
    legacy = not any("Layer" in f for f in segs.values())
    per_layer: list[list[SegmentDescription]] = [[] for _ in range(n_layers)]
    owner: dict[tuple[int, int], int] = {}
    for rank, (n, fields) in enumerate(segs.items(), start=1):
        layer = n if legacy else _int_field(fields, n, "Layer", p, f"give the layer index 0..{n_layers - 1}")
        if layer is None:
            raise _fail(
                p,
                f"Segment{n}_Layer is missing while other segments have one; add "
                f"'Segment{n}_Layer:=<0..{n_layers - 1}>'",
            )
        if not 0 <= layer < n_layers:
            why = f"Segment{n}_Layer is {layer} but the"
            fix = f"fix Segment{n}_Layer"
            if legacy:
                why = f"segment {n} has no Segment{n}_Layer key, so (legacy layout) it lies in layer {n}, but the"
                fix = "add a Segment<N>_Layer key to every segment"
            raise _fail(
                p, f"{why} file holds {n_layers} layer(s) (0..{n_layers - 1}); {fix} or remove Segment{n}'s keys"
            )
        value = _int_field(fields, n, "LabelValue", p, "give its voxel value 1..65535")
        if value is None:
            if not legacy:
                raise _fail(p, f"Segment{n}_LabelValue is missing; add 'Segment{n}_LabelValue:=<1..65535>'")
            value = 1
        if not 1 <= value <= 0xFFFF:
            raise _fail(p, f"Segment{n}_LabelValue is {value}; it must be 1..65535 (0 is background)")
        if (layer, value) in owner:
            raise _fail(
                p,
                f"Segment{owner[(layer, value)]} and Segment{n} both use layer {layer}, label value {value}; "
                f"give Segment{n} another Segment{n}_LabelValue (or Segment{n}_Layer)",
            )
        owner[(layer, value)] = n
        # number: Slicer's segment order (Segment0, Segment1, ...), which the SEG numbering keeps
        per_layer[layer].append(replace(_segment(n, fields, p), label_id=value, number=rank))
    return per_layer


def _apply_metadata(
    per_layer: list[list[SegmentDescription]], json_lists: LayerSegments, p: Path
) -> list[list[SegmentDescription]]:
    """JSON wins: ``segmentAttributes[i]`` entries replace layer i's segments of the same labelID, or add them."""
    if len(json_lists) > len(per_layer):
        raise MetadataError(
            f"the metadata JSON has {len(json_lists)} inner lists in segmentAttributes but {str(p)!r} holds "
            f"{len(per_layer)} layer(s); give one inner list per layer (labelID = label value in that layer), or fewer"
        )
    out = []
    for layer, segs in enumerate(per_layer):
        entries = list(json_lists[layer]) if layer < len(json_lists) else []
        given = {s.label_id: s for s in entries}
        if len(given) != len(entries):
            dup = next(s.label_id for s in entries if sum(e.label_id == s.label_id for e in entries) > 1)
            raise MetadataError(
                f"segmentAttributes[{layer}] of the metadata JSON describes labelID {dup} twice; "
                f"keep one entry per label value of layer {layer} of {str(p)!r}"
            )
        # a JSON entry takes the place (number) of the file's segment it replaces; added ones come last
        replaced = [replace(given.pop(s.label_id), number=s.number) if s.label_id in given else s for s in segs]
        out.append(replaced + sorted(given.values(), key=lambda s: s.label_id))
    return out


def _values(counts: np.ndarray) -> list[int]:
    """The non-zero label values a voxel count table holds."""
    return [int(v) for v in np.flatnonzero(counts) if v]


def _extent(raw: str, n: int, p: Path) -> tuple[int, ...]:
    """``Segment<N>_Extent``: i0 i1 j0 j1 k0 k1 (file voxel indices; i0 > i1 is an empty segment)."""
    try:
        values = tuple(int(v) for v in raw.split())
    except ValueError:
        values = ()
    if len(values) != 6:
        raise _fail(p, f"Segment{n}_Extent is {raw!r}; it must be six integers 'i0 i1 j0 j1 k0 k1' (or remove the key)")
    return values


def _check_extents(header: dict, arrays: list[np.ndarray], p: Path) -> None:
    """Labels outside the union of a layer's ``Segment<N>_Extent`` boxes: 3D Slicer does not show them
    (it crops each layer to that union), so the file is refused rather than read differently."""
    segs = _segment_fields(header)
    legacy = not any("Layer" in f for f in segs.values())
    boxes: dict[int, list[tuple[int, ...] | None]] = {}
    for n, fields in segs.items():
        layer = n if legacy else _int_field(fields, n, "Layer", p, "give the layer index")
        raw = fields.get("Extent")
        boxes.setdefault(layer if layer is not None else -1, []).append(_extent(raw, n, p) if raw else None)
    for m, array in enumerate(arrays):
        extents = boxes.get(m)
        if not extents or any(e is None for e in extents):
            continue  # a segment without Extent: Slicer takes the whole file
        valid = np.array([e for e in extents if e and e[0] <= e[1] and e[2] <= e[3] and e[4] <= e[5]], np.int64)
        size = np.array(array.shape[::-1])  # (i, j, k)
        lo = np.maximum(valid.reshape(-1, 6)[:, 0::2].min(axis=0, initial=size.max()), 0)
        hi = np.minimum(valid.reshape(-1, 6)[:, 1::2].max(axis=0, initial=-1) + 1, size)
        if (lo == 0).all() and (hi == size).all():
            continue
        box = tuple(slice(int(a), int(max(a, b))) for a, b in zip(lo[::-1], hi[::-1]))
        outside = int(np.count_nonzero(array)) - int(np.count_nonzero(array[box]))
        if outside:
            where = f"layer {m} holds" if len(arrays) > 1 else "holds"
            span = ", ".join(f"{ax} {a}..{b - 1}" for ax, a, b in zip("ijk", lo, hi)) if (hi > lo).all() else "empty"
            raise _fail(
                p,
                f"{where} {outside} labelled voxel(s) outside the extent its segments' Segment<N>_Extent keys give "
                f"({span}); 3D Slicer would not show them - fix or remove the Extent keys, or save it in Slicer again",
            )


def _check_described(arrays: list[np.ndarray], counts: list[np.ndarray], per_layer, p: Path) -> None:
    for layer, (count, segs) in enumerate(zip(counts, per_layer)):
        known = {s.label_id for s in segs}
        stray = [v for v in _values(count) if v not in known]
        if stray:
            where = f"layer {layer} holds" if len(arrays) > 1 else "holds"
            raise _fail(
                p,
                f"{where} label value {stray[0]} ({int(count[stray[0]])} voxels) that no Segment<N>_LabelValue "
                + (f"of that layer (Segment<N>_Layer:={layer}) " if len(arrays) > 1 else "")
                + "describes"
                + (f" (nor values {stray[1:10]})" if len(stray) > 1 else "")
                + "; add the segment's keys, describe it in --metadata, or set those voxels to 0",
            )


def read_segnrrd(
    path: PathLike, *, metadata: LayerSegments | None = None, narrow: bool = False, threads: int | None = None
) -> list[LabelVolume]:
    """Read a ``.seg.nrrd``: one LabelVolume per layer, ``segments[*].label_id`` = the LabelValue.

    ``metadata``: dcmqi ``segmentAttributes`` (one inner list per layer, labelID =
    value in that layer) whose entries replace the file's segment of the same value
    or add one.  ``narrow``: 16-bit data whose values fit come back as uint8.
    Every non-zero voxel value must be described (else :class:`ImageFormatError`).
    """
    p = Path(path)
    data, header = read_data_and_header(p, narrow=narrow, fail=_fail)
    if data.dtype.kind not in "iub":
        raise _fail(p, f"pixel type {data.dtype} is not an integer type; a segmentation holds label values")
    raw_layers, geometry = _split_layers(data, header, p)
    names = [str(p)] if len(raw_layers) == 1 else [f"{p} layer {m}" for m in range(len(raw_layers))]
    arrays = [kernels.as_label_array(a, source=n) for a, n in zip(raw_layers, names)]
    counts = [kernels.label_presence(a, source=n, threads=threads)[1] for a, n in zip(arrays, names)]
    per_layer = _described(header, len(arrays), p)
    _check_extents(header, arrays, p)
    if per_layer is None:  # no segment keys: every value is a segment
        prefixes = ["Segment_"] if len(arrays) == 1 else [f"Segment_{m}_" for m in range(len(arrays))]
        per_layer = [
            [SegmentDescription(v, DEFAULT_CATEGORY, DEFAULT_TYPE, label=f"{pre}{v}") for v in _values(c)]
            for pre, c in zip(prefixes, counts)
        ]
    if metadata is not None:
        per_layer = _apply_metadata(per_layer, metadata, p)
    _check_described(arrays, counts, per_layer, p)
    return [LabelVolume(a, geometry, tuple(s)) for a, s in zip(arrays, per_layer)]


# --------------------------------------------------------------------------- writing
def _clean(text: str, forbidden: str = "") -> str:
    """One header line's worth of text; ``forbidden`` separators become '/'."""
    text = " ".join(str(text).split())
    for ch in forbidden:
        text = text.replace(ch, "/")
    return text


def _code_text(code: Code | None) -> str:
    if code is None:
        return "^^"
    return "^".join(
        _clean(v, "~|^") if i < 2 else _clean(v, "~|") for i, v in enumerate((code.scheme, code.value, code.meaning))
    )


def _tags_text(seg: SegmentDescription) -> str:
    kind = map(_code_text, (seg.category, seg.type, seg.type_modifier))
    region = map(_code_text, (seg.anatomic_region, seg.anatomic_region_modifier))
    contexts = [
        _clean(c, "~|") if c else d
        for c, d in ((seg.terminology_context, _CATEGORY_CONTEXT), (seg.anatomic_context, _ANATOMY_CONTEXT))
    ]
    entry = "~".join([contexts[0], *kind, contexts[1], *region])
    tags = [("Segmentation.Status", "inprogress"), ("TerminologyEntry", entry)]
    tags += [
        (tag, _clean(getattr(seg, attr), "|"))
        for attr, tag in _DICOM_TAGS.items()
        if getattr(seg, attr) and not (attr == "algorithm_type" and seg.algorithm_type == "MANUAL")
    ]
    return "".join(f"{key}:{value}|" for key, value in sorted(tags))  # sorted, as Slicer writes them


#: Slices per block when scanning rows and columns for extents (small blocks transpose in cache).
_EXTENT_BLOCK = 8


def _extents(array: np.ndarray, values: Sequence[int], threads: int | None = None) -> dict[int, tuple[int, ...]]:
    """(i0, i1, j0, j1, k0, k1) of each value; (0, -1, 0, -1, 0, -1) when absent.

    Values are first mapped to dense indices (uint8 for up to 255 values) so the
    presence tables stay small; rows and columns are scanned a few slices at a time.
    """
    values = sorted(set(int(v) for v in values))
    if not values:
        return {}
    lut = np.zeros(
        max(int(array.max()) if array.size else 0, values[-1]) + 1, dtype=np.uint8 if len(values) <= 0xFF else np.uint16
    )
    lut[values] = np.arange(1, len(values) + 1)
    dense = kernels.remap_labels(array, lut)
    n_idx = len(values) + 1
    along = [np.zeros((array.shape[2], n_idx), bool), np.zeros((array.shape[1], n_idx), bool)]  # i, j
    for k0 in range(0, array.shape[0], _EXTENT_BLOCK):
        block = dense[k0 : k0 + _EXTENT_BLOCK]
        for acc, axes in zip(along, ((2, 0, 1), (1, 0, 2))):
            seen = kernels.label_presence(np.ascontiguousarray(block.transpose(axes)), threads=threads)[0]
            acc[:, : seen.shape[1]] |= seen
    along.append(np.zeros((array.shape[0], n_idx), bool))
    seen = kernels.label_presence(dense, threads=threads)[0]
    along[2][:, : seen.shape[1]] = seen
    out = {}
    for idx, v in enumerate(values, start=1):
        box: list[int] = []
        for presence in along:
            hits = np.flatnonzero(presence[:, idx])
            box += [int(hits[0]), int(hits[-1])] if hits.size else [0, -1]
        out[v] = tuple(box) if box[1] >= 0 else (0, -1, 0, -1, 0, -1)
    return out


def _header(
    stack: np.ndarray, geometry: Geometry, layers: Sequence[LabelVolume], compress: bool, threads: int | None = None
) -> bytes:
    lines = header_lines(stack, geometry, compress, layers=stack.ndim == 4) + [
        "Segmentation_ContainedRepresentationNames:=Binary labelmap|",
        "Segmentation_MasterRepresentation:=Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset:=0 0 0",
    ]
    ordered = sorted(
        ((seg, m) for m, layer in enumerate(layers) for seg in layer.segments),
        key=lambda sm: (sm[0].number or 1 << 20, sm[1], sm[0].label_id),
    )
    extents = [_extents(layer.array, [s.label_id for s in layer.segments], threads) for layer in layers]
    for n, (seg, m) in enumerate(ordered):
        rgb = seg.rgb or (cielab_to_rgb(seg.cielab) if seg.cielab is not None else DEFAULT_RGB)
        fields = {
            "Color": " ".join(f"{c / 255:.6g}" for c in rgb),
            "ColorAutoGenerated": "0",
            "Extent": " ".join(str(v) for v in extents[m][seg.label_id]),
            "ID": f"Segment_{seg.number or n + 1}",
            "LabelValue": str(seg.label_id),
            "Layer": str(m),
            "Name": _clean(seg.display_label),
            "NameAutoGenerated": "0",
            "Tags": _tags_text(seg),
        }
        lines += [f"Segment{n}_{key}:={value}" for key, value in fields.items()]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _check_layers(layers: Sequence[LabelVolume], target: Path, threads: int | None = None) -> np.ndarray:
    """The layers stacked as (k, j, i[, layer]) uint8/uint16 after checking they fit one file."""

    def fail(msg: str) -> InputError:
        return InputError(f"cannot write {str(target)!r}: {msg}")

    if not layers:
        raise fail("a .seg.nrrd needs at least one layer")
    geometry = layers[0].geometry
    seen: set[tuple[int, int]] = set()
    top = 0
    for m, layer in enumerate(layers):
        if layer.geometry.max_deviation(geometry) > 1e-6:
            raise fail(f"layer {m} is on another grid than layer 0; all layers of a .seg.nrrd share one grid")
        for s in layer.segments:
            if not 1 <= s.label_id <= 0xFFFF or (m, s.label_id) in seen:
                raise fail(f"layer {m}: label value {s.label_id} is out of 1..65535 or described twice")
            seen.add((m, s.label_id))
            top = max(top, s.label_id)
    dtype = np.uint8 if top <= 0xFF else np.uint16
    arrays = []
    for m, layer in enumerate(layers):
        arr = kernels.as_label_array(layer.array, source=f"layer {m}")
        counts = kernels.label_presence(arr, threads=threads)[1]
        known = {s.label_id for s in layer.segments}
        stray = [v for v in _values(counts) if v not in known]
        if stray:
            raise fail(f"layer {m} holds label value {stray[0]} that none of its segments describes")
        arrays.append(arr.astype(dtype, copy=False))
    # the layer axis is NRRD's first (fastest) axis
    return np.ascontiguousarray(arrays[0]) if len(arrays) == 1 else np.stack(arrays, axis=-1)


def write_segnrrd(
    path: PathLike, layers: Sequence[LabelVolume], *, compress: bool = True, threads: int | None = None
) -> None:
    """Write ``layers`` (one LabelVolume each, ``label_id`` = LabelValue) as one ``.seg.nrrd``, atomically.

    One layer gives a 3-D file, several a 4-D file (layers first).  Segments are
    listed in Segment Number order (then layer, value).  ``threads``: the label scans' (None: every core).
    """
    target = Path(path)
    if target.name.lower().endswith(".nhdr"):
        raise InputError(f"{str(target)!r}: a .seg.nrrd is written with attached data; name it .seg.nrrd")
    stack = _check_layers(layers, target, threads)
    head = _header(stack, layers[0].geometry, layers, compress, threads)
    write_attached(target, head, np.ascontiguousarray(stack, dtype=stack.dtype.newbyteorder("<")), compress=compress)


class SegNrrdFormat(NrrdFormat):
    """3D Slicer segmentations: a NRRD (sniffed as one) whose header describes its segments, one layer or several."""

    name = "segnrrd"
    aliases = ("seg.nrrd",)
    title = "Slicer segmentation"
    suffixes = (".seg.nrrd", ".seg.nhdr")
    output_suffix = ".seg.nrrd"
    describes_segments = True

    def read(
        self, path: PathLike, *, narrow: bool = False, segments: LayerSegments | None = None, threads: int | None = None
    ) -> LabelSet:
        return LabelSet(tuple(read_segnrrd(path, metadata=segments, narrow=narrow, threads=threads)), described=True)

    def write(self, path: PathLike, labels: LabelSet, *, compress: bool = True, threads: int | None = None) -> None:
        write_segnrrd(path, labels.volumes, compress=compress, threads=threads)


FORMAT = SegNrrdFormat()
