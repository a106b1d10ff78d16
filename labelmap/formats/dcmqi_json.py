"""dcmqi segmentation metadata JSON <-> model, and segment descriptions <-> DICOM items.

The JSON format is the one dcmqi's ``itkimage2segimage`` reads and
``segimage2itkimage`` writes (``doc/schemas/seg-schema.json``).  Validation is
done here by hand (no jsonschema dependency) so every error can name the
segment position, its labelID and the field, and say what to change.

What dcmqi 1.5.7 ``segimage2itkimage`` actually writes into ``meta.json``
(checked by running it on a synthetic SEG):

* keys of every object in plain ASCII order (JsonCpp sorts them), so the top
  level reads BodyPartExamined, ClinicalTrial..., ContentCreatorName,
  InstanceNumber, SeriesDescription, SeriesNumber, segmentAttributes;
* SeriesNumber and InstanceNumber as strings; BodyPartExamined written even
  when empty (``""``); no ``@schema``, no ContentLabel / ContentDescription;
* one inner list per output file, each segment object with labelID (int, the
  Segment Number), SegmentAlgorithmType, SegmentAlgorithmName (only when set),
  SegmentDescription (``""`` when absent), SegmentLabel, the code sequences as
  single ``{"CodeMeaning", "CodeValue", "CodingSchemeDesignator"}`` objects,
  modifiers / anatomic region only when present, TrackingIdentifier /
  TrackingUniqueIdentifier when present, and ``recommendedDisplayRGBValue`` as
  a list of three ints (converted back from the stored CIELab).

:func:`meta_json_dict` writes exactly that (what ``segimage2itkimage`` and ``seg2itk`` put in
``meta.json``).  :func:`metadata_to_dict` follows the layout and key order, with these
deliberate differences, all schema-valid: fields the model does not hold
(empty optional strings, SegmentLabel when no label was given, the colour when
none was given) are left out rather than filled in, so load -> dict -> load is
lossless; ``@schema`` plus ContentLabel / ContentDescription are written at top
level (dcmqi itself reads the content fields only from a ``seriesAttributes``
object, which :func:`load_metadata` also accepts); RecommendedDisplayCIELabValue
is added only when the RGB value would not reproduce the stored CIELab.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from labelmap._util.atomic import atomic_path
from labelmap._util.color import check_triplet, cielab_to_rgb, rgb_to_cielab
from labelmap._util.jsontext import dumps_indented
from labelmap.descriptions import Code, SegmentDescription, SeriesAttributes
from labelmap.errors import MetadataError

__all__ = [
    "Metadata",
    "SCHEMA_URL",
    "load_metadata",
    "metadata_to_dict",
    "write_metadata",
    "meta_json_dict",
    "write_meta_json",
]

SCHEMA_URL = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/schemas/seg-schema.json#"

ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")

#: The colour dcmqi reports for a segment without Recommended Display CIELab Value.
DEFAULT_CIELAB = (43803, 26565, 37722)

# JSON key -> SeriesAttributes field, for the top-level (series) part.
_SERIES_KEYS: dict[str, str] = {
    "ContentCreatorName": "content_creator_name",
    "ClinicalTrialSeriesID": "clinical_trial_series_id",
    "ClinicalTrialTimePointID": "clinical_trial_time_point_id",
    "ClinicalTrialCoordinatingCenterName": "clinical_trial_coordinating_center_name",
    "SeriesDescription": "series_description",
    "SeriesNumber": "series_number",
    "InstanceNumber": "instance_number",
    "BodyPartExamined": "body_part_examined",
    "ContentLabel": "content_label",
    "ContentDescription": "content_description",
}
_OPTIONAL_SERIES = {"ClinicalTrialCoordinatingCenterName", "BodyPartExamined", "ContentDescription"}
_TOP_KEYS = set(_SERIES_KEYS) | {"@schema", "seriesAttributes", "segmentAttributes", "segmentAttributesFileMapping"}

# JSON key -> SegmentDescription field for the code-valued segment fields.
_CODE_KEYS: dict[str, str] = {
    "SegmentedPropertyCategoryCodeSequence": "category",
    "SegmentedPropertyTypeCodeSequence": "type",
    "SegmentedPropertyTypeModifierCodeSequence": "type_modifier",
    "AnatomicRegionSequence": "anatomic_region",
    "AnatomicRegionModifierSequence": "anatomic_region_modifier",
}
_STRING_SEGMENT_KEYS: dict[str, str] = {
    "SegmentLabel": "label",
    "SegmentDescription": "description",
    "SegmentAlgorithmName": "algorithm_name",
    "TrackingIdentifier": "tracking_id",
    "TrackingUniqueIdentifier": "tracking_uid",
}
#: The largest labelID: label maps are 8 or 16 bits, Segment Numbers are US.
MAX_LABEL_ID = 0xFFFF
#: A metadata file larger than this is refused unread (65,535 fully described segments take ~60 MB).
MAX_JSON_BYTES = 256 << 20

_SEGMENT_KEYS = {"labelID", "SegmentAlgorithmType", "recommendedDisplayRGBValue", "RecommendedDisplayCIELabValue"}
_SEGMENT_KEYS |= {*_CODE_KEYS, *_STRING_SEGMENT_KEYS, "segmentationFileName"}  # the last: old dcmqi, ignored
_CODE_FIELDS = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")

_CONTENT_LABEL_RE = re.compile(r"^[A-Z0-9 _]{1,16}$")
_INT_LIKE_RE = re.compile(r"^\s*[+-]?\d+\s*$")

_SHAPE_HELP = (
    "'segmentAttributes' must be a list with one inner list per input label file, each inner list "
    "holding one object per label value in that file, e.g. "
    '{"segmentAttributes": [[{"labelID": 1, ...}, {"labelID": 2, ...}]]}'
)


@dataclass(frozen=True)
class Metadata:
    """A parsed dcmqi metadata JSON."""

    series: SeriesAttributes
    #: one inner tuple per input file (dcmqi's list of lists); label_id set, number 0.
    segments: tuple[tuple[SegmentDescription, ...], ...]
    #: ``segmentAttributesFileMapping``: inner list i belongs to the file whose path ends with item i.
    file_mapping: tuple[str, ...] | None = None


_Err = Callable[[str, str], MetadataError]  # (where, message) -> the error, naming the JSON


def _error(src: str, where: str, msg: str) -> MetadataError:
    """The error for JSON ``src`` (its name), at position ``where`` (may be empty)."""
    prefix = f"{src}: " if src else ""
    return MetadataError(f"{prefix}{where}: {msg}" if where else f"{prefix}{msg}")


def _fmt_keys(keys: Sequence[str]) -> str:
    return ", ".join(repr(k) for k in sorted(keys))


def _parse_code(value: Any, ctx: _Err, where: str, key: str) -> Code:
    if isinstance(value, list):
        # Tolerance: a one-element list of one code object.
        if len(value) != 1:
            raise ctx(
                where,
                f"{key} must be one code object "
                f'{{"CodeValue": ..., "CodingSchemeDesignator": ..., "CodeMeaning": ...}}, '
                f"got a list of {len(value)} items; keep exactly one",
            )
        value = value[0]
    if not isinstance(value, dict):
        raise ctx(
            where,
            f"{key} must be a code object with CodeValue, CodingSchemeDesignator and CodeMeaning, "
            f"got {type(value).__name__}",
        )
    unknown = [k for k in value if k not in _CODE_FIELDS]
    if unknown:
        raise ctx(
            where,
            f"{key} has unknown key(s) {_fmt_keys(unknown)}; a code object holds only "
            "CodeValue, CodingSchemeDesignator and CodeMeaning",
        )
    parts = []
    for f in _CODE_FIELDS:
        v = value.get(f)
        if not isinstance(v, str) or not v.strip():
            what = "is missing" if f not in value else f"must be a non-empty string (got {v!r})"
            raise ctx(where, f"{key}.{f} {what}; every code needs CodeValue, CodingSchemeDesignator and CodeMeaning")
        parts.append(v)
    return Code(parts[0], parts[1], parts[2])


def _triplet(obj: dict, key: str, top: int, ctx: _Err, where: str, example: str) -> tuple[int, int, int] | None:
    """``obj[key]`` as three integers 0..top, None when absent."""
    if obj.get(key) is None:
        return None
    try:
        return check_triplet(obj[key], "value", top)
    except ValueError:
        raise ctx(where, f"field {key!r} must be three integers 0..{top}{example}, got {obj[key]!r}") from None


def _parse_segment(obj: Any, ctx: _Err, i: int, j: int) -> SegmentDescription:
    pos = f"segmentAttributes[{i}][{j}]"
    if not isinstance(obj, dict):
        raise ctx(pos, f"must be a segment object, got {type(obj).__name__}. {_SHAPE_HELP}")

    # labelID first, so every later message can name it.
    if "labelID" not in obj:
        raise ctx(pos, "field 'labelID' is missing; give the voxel value of this segment in its label file (1 or more)")
    label_id = obj["labelID"]
    if isinstance(label_id, float) and label_id.is_integer():
        label_id = int(label_id)
    if not isinstance(label_id, int) or isinstance(label_id, bool):
        quoted = isinstance(label_id, str) and _INT_LIKE_RE.match(label_id)
        hint = f'; write it as a JSON number without quotes: "labelID": {int(label_id)}' if quoted else ""
        raise ctx(pos, f"field 'labelID' must be an integer voxel value, got {label_id!r}{hint}")
    if label_id < 1:
        raise ctx(
            pos, f"field 'labelID' is {label_id}; it must be 1 or more (0 is the background and has no segment object)"
        )
    if label_id > MAX_LABEL_ID:
        raise ctx(
            pos,
            f"field 'labelID' is {label_id}; label values above {MAX_LABEL_ID} do not fit a 16-bit label map "
            "or a Segment Number",
        )
    where = f"{pos} (labelID {label_id})"

    unknown = [k for k in obj if k not in _SEGMENT_KEYS]
    if unknown:
        raise ctx(
            where,
            f"unknown key(s) {_fmt_keys(unknown)}; remove them or fix their spelling "
            f"(allowed: {_fmt_keys(sorted(_SEGMENT_KEYS - {'segmentationFileName'}))})",
        )

    codes: dict[str, Any] = {
        attr: None if obj.get(key) is None else _parse_code(obj[key], ctx, where, key)
        for key, attr in _CODE_KEYS.items()
    }
    for key in ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"):
        if codes[_CODE_KEYS[key]] is None:
            raise ctx(
                where,
                f"field '{key}' is missing; add a code object "
                '{"CodeValue": ..., "CodingSchemeDesignator": ..., "CodeMeaning": ...}',
            )

    strings: dict[str, Any] = {}
    for key, attr in _STRING_SEGMENT_KEYS.items():
        v = obj.get(key)
        if v is not None and not isinstance(v, str):
            raise ctx(where, f"field '{key}' must be a string, got {v!r}")
        strings[attr] = v if v else None  # dcmqi writes "" for an absent description

    alg = obj.get("SegmentAlgorithmType")
    if alg is None:
        raise ctx(where, "field 'SegmentAlgorithmType' is missing; use AUTOMATIC, SEMIAUTOMATIC or MANUAL")
    if alg not in ALGORITHM_TYPES:
        raise ctx(where, f"field 'SegmentAlgorithmType' is {alg!r}; use AUTOMATIC, SEMIAUTOMATIC or MANUAL")
    if alg != "MANUAL" and not strings["algorithm_name"]:
        raise ctx(
            where,
            f"field 'SegmentAlgorithmName' is required when SegmentAlgorithmType is {alg}; "
            "add the algorithm's name or set SegmentAlgorithmType to MANUAL",
        )

    rgb = _triplet(obj, "recommendedDisplayRGBValue", 255, ctx, where, " like [128, 174, 128]")
    cielab = _triplet(obj, "RecommendedDisplayCIELabValue", 65535, ctx, where, "")
    if cielab is not None and rgb is not None and cielab_to_rgb(cielab) != rgb:
        # The RGB value was edited after the CIELab one was written: dcmqi uses
        # the RGB value, so do we.
        cielab = None
    if cielab is not None and rgb is None:
        rgb = cielab_to_rgb(cielab)  # as segment_from_dataset does

    return SegmentDescription(label_id=label_id, algorithm_type=alg, rgb=rgb, cielab=cielab, **codes, **strings)


def _parse_series(doc: dict, ctx: _Err) -> SeriesAttributes:
    nested = {} if doc.get("seriesAttributes") is None else doc["seriesAttributes"]
    if not isinstance(nested, dict):
        raise ctx("seriesAttributes", f"must be an object, got {type(nested).__name__}")
    unknown = [k for k in nested if k not in _SERIES_KEYS]
    if unknown:
        raise ctx("seriesAttributes", f"unknown key(s) {_fmt_keys(unknown)}; allowed: {_fmt_keys(list(_SERIES_KEYS))}")
    values: dict[str, Any] = {}
    for key, attr in _SERIES_KEYS.items():
        # dcmqi reads ContentLabel / ContentDescription from seriesAttributes only,
        # so that object wins for them; for the rest top level wins (old dcmqi
        # versions put everything in seriesAttributes).
        sources = [(key, doc), ("seriesAttributes." + key, nested)]
        if key in ("ContentLabel", "ContentDescription"):
            sources.reverse()
        found = next(((where, src[key]) for where, src in sources if src.get(key) is not None), None)
        if found is None:
            continue
        where, v = found
        if key in ("SeriesNumber", "InstanceNumber"):
            if isinstance(v, bool) or not (
                isinstance(v, int)
                or (isinstance(v, float) and v.is_integer())
                or (isinstance(v, str) and _INT_LIKE_RE.match(v))
            ):
                raise ctx(where, f'must be an integer (number or string like "300"), got {v!r}')
            v = str(int(v) if not isinstance(v, str) else int(v.strip()))
        elif not isinstance(v, str):
            raise ctx(where, f"must be a string, got {v!r}")
        if key == "ContentLabel" and not _CONTENT_LABEL_RE.match(v):
            raise ctx(
                where,
                f"{v!r} is not a valid DICOM Code String: use 1 to 16 characters from uppercase "
                'letters A-Z, digits, space and underscore (e.g. "SEGMENTATION")',
            )
        if key in _OPTIONAL_SERIES and v == "":
            continue
        values[attr] = v
    return SeriesAttributes(**values)


def load_metadata(source: str | os.PathLike | dict, *, name: str | None = None) -> Metadata:
    """Read and validate a dcmqi segmentation metadata JSON (file path or parsed dict).

    ``name`` is used in error messages (defaults to the file name, or
    ``"metadata"`` for a dict).
    """
    src = name if name is not None else ("metadata" if isinstance(source, dict) else str(Path(source)))
    ctx: _Err = partial(_error, src)
    if isinstance(source, dict):
        doc = source
    else:
        path = Path(source)
        try:
            size = path.stat().st_size if path.is_file() else 0
            if size > MAX_JSON_BYTES:  # refused before reading: its parse would take gigabytes
                raise MetadataError(
                    f"metadata file {str(path)!r} is {size / 2**20:.0f} MiB; dcmqi metadata for 65,535 segments "
                    f"is far smaller (at most {MAX_JSON_BYTES >> 20} MiB is read)"
                )
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise MetadataError(f"metadata file {str(path)!r} does not exist") from None
        except IsADirectoryError:
            raise MetadataError(
                f"metadata file {str(path)!r} is a folder; give the path of the dcmqi JSON file"
            ) from None
        except UnicodeDecodeError as exc:
            raise MetadataError(f"{src}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise MetadataError(f"cannot read metadata file {str(path)!r}: {exc.strerror or exc}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"{src}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise MetadataError(
                f"{src}: JSON nested too deeply to be dcmqi metadata (lists or objects within "
                "lists or objects, thousands of levels deep)"
            ) from None
        if not isinstance(doc, dict):
            raise ctx("", f"the top level must be a JSON object, got {type(doc).__name__}. {_SHAPE_HELP}")

    unknown = [k for k in doc if k not in _TOP_KEYS]
    if unknown:
        raise ctx(
            "",
            f"unknown top-level key(s) {_fmt_keys(unknown)}; remove them or fix their spelling "
            f"(allowed: {_fmt_keys(sorted(_TOP_KEYS))})",
        )

    series = _parse_series(doc, ctx)

    attrs = doc.get("segmentAttributes")
    if attrs is None:
        raise ctx("", f"'segmentAttributes' is missing. {_SHAPE_HELP}")
    if not isinstance(attrs, list) or not attrs:
        raise ctx("segmentAttributes", f"must be a non-empty list of lists. {_SHAPE_HELP}")
    total = sum(len(inner) for inner in attrs if isinstance(inner, list))
    if total > MAX_LABEL_ID:  # refused before parsing a million entries one by one
        raise ctx(
            "segmentAttributes",
            f"holds {total:,} segment objects; a SEG holds at most {MAX_LABEL_ID:,} segments (16-bit Segment Numbers)",
        )
    segments: list[tuple[SegmentDescription, ...]] = []
    for i, inner in enumerate(attrs):
        if not isinstance(inner, list):
            raise ctx(
                f"segmentAttributes[{i}]",
                f"must be a list of segment objects, got {type(inner).__name__}. {_SHAPE_HELP}",
            )
        if not inner:
            raise ctx(f"segmentAttributes[{i}]", "is empty; every input label file needs at least one segment object")
        seen: dict[int, int] = {}
        parsed = []
        for j, obj in enumerate(inner):
            seg = _parse_segment(obj, ctx, i, j)
            if seg.label_id in seen:
                raise ctx(
                    f"segmentAttributes[{i}][{j}] (labelID {seg.label_id})",
                    f"duplicate labelID, already used by segmentAttributes[{i}][{seen[seg.label_id]}]; "
                    "each label value in one file must be described once",
                )
            seen[seg.label_id] = j
            parsed.append(seg)
        segments.append(tuple(parsed))

    mapping = doc.get("segmentAttributesFileMapping")
    if mapping is not None:
        if not isinstance(mapping, list) or not all(isinstance(m, str) and m for m in mapping):
            raise ctx("segmentAttributesFileMapping", "must be a list of non-empty file name strings")
        if len(mapping) != len(segments):
            raise ctx(
                "segmentAttributesFileMapping",
                f"has {len(mapping)} entries but segmentAttributes has {len(segments)} inner lists; "
                "give one file name per inner list",
            )
    return Metadata(series, tuple(segments), None if mapping is None else tuple(mapping))


# ---------------------------------------------------------------------------
# model -> JSON


def _code_dict(code: Code) -> dict[str, str]:
    return {"CodeMeaning": code.meaning, "CodeValue": code.value, "CodingSchemeDesignator": code.scheme}


def _segment_dict(seg: SegmentDescription) -> dict[str, Any]:
    d: dict[str, Any] = {key: _code_dict(getattr(seg, a)) for key, a in _CODE_KEYS.items() if getattr(seg, a)}
    d.update({key: getattr(seg, a) for key, a in _STRING_SEGMENT_KEYS.items() if getattr(seg, a)})
    d["SegmentAlgorithmType"] = seg.algorithm_type
    d["labelID"] = int(seg.label_id)
    if seg.cielab is not None and (seg.rgb is None or rgb_to_cielab(seg.rgb) != tuple(seg.cielab)):
        # Only when the RGB value alone would not reproduce it (dcmqi writes RGB only).
        d["RecommendedDisplayCIELabValue"] = [int(v) for v in seg.cielab]
    rgb = seg.rgb if seg.rgb is not None or seg.cielab is None else cielab_to_rgb(seg.cielab)
    if rgb is not None:
        d["recommendedDisplayRGBValue"] = [int(v) for v in rgb]
    return dict(sorted(d.items()))  # JsonCpp's (plain ASCII) key order


def metadata_to_dict(
    series: SeriesAttributes,
    segments: Sequence[Sequence[SegmentDescription]],
    *,
    file_mapping: Sequence[str] | None = None,
) -> dict:
    """The dcmqi metadata JSON object, laid out like dcmqi's ``meta.json`` (keys in ASCII order)."""
    d: dict[str, Any] = {"@schema": SCHEMA_URL}
    for key, attr in _SERIES_KEYS.items():
        value = getattr(series, attr)
        if value is not None and (value or key not in _OPTIONAL_SERIES):
            d[key] = str(value) if key in ("SeriesNumber", "InstanceNumber") else value
    d["segmentAttributes"] = [[_segment_dict(s) for s in inner] for inner in segments]
    if file_mapping is not None:
        d["segmentAttributesFileMapping"] = [str(m) for m in file_mapping]
    return dict(sorted(d.items()))


def write_metadata(
    path: str | os.PathLike,
    series: SeriesAttributes,
    segments: Sequence[Sequence[SegmentDescription]],
    *,
    file_mapping: Sequence[str] | None = None,
) -> None:
    """Write the dcmqi metadata JSON (indent 2, UTF-8) atomically."""
    text = dumps_indented(metadata_to_dict(series, segments, file_mapping=file_mapping))
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# meta.json, as segimage2itkimage writes it


def _meta_segment(seg: SegmentDescription) -> dict[str, Any]:
    """One segment object of dcmqi's meta.json: its keys, always or when set, as dcmqi writes them."""
    d: dict[str, Any] = {
        "labelID": int(seg.label_id),
        "SegmentDescription": seg.description or "",
        "SegmentLabel": seg.label or "",
        "SegmentAlgorithmType": seg.algorithm_type,
    }
    if seg.algorithm_name and seg.algorithm_type != "MANUAL":
        d["SegmentAlgorithmName"] = seg.algorithm_name
    d.update({key: _code_dict(getattr(seg, a)) for key, a in _CODE_KEYS.items() if getattr(seg, a)})
    if seg.tracking_id:
        d["TrackingIdentifier"] = seg.tracking_id
    if seg.tracking_uid:
        d["TrackingUniqueIdentifier"] = seg.tracking_uid
    rgb = seg.rgb if seg.rgb is not None else cielab_to_rgb(seg.cielab or DEFAULT_CIELAB)
    d["recommendedDisplayRGBValue"] = [int(v) for v in rgb]
    return dict(sorted(d.items()))


def meta_json_dict(series: SeriesAttributes, groups: Sequence[Sequence[SegmentDescription]]) -> dict:
    """The ``meta.json`` object dcmqi's ``segimage2itkimage`` writes for a SEG with these attributes.

    Exactly dcmqi's keys, in its (ASCII) order: ContentCreatorName, ClinicalTrialSeriesID,
    ClinicalTrialTimePointID, SeriesDescription, SeriesNumber, InstanceNumber and BodyPartExamined
    always (``""`` when the SEG has none), ClinicalTrialCoordinatingCenterName when set, all strings;
    per segment labelID (int), SegmentDescription and SegmentLabel (``""`` when absent),
    SegmentAlgorithmType, SegmentAlgorithmName (when set, not MANUAL), the codes and tracking
    identifiers present, and recommendedDisplayRGBValue (three ints; dcmqi's default colour when the
    SEG gives none).  No ``@schema``, ContentLabel or ContentDescription: dcmqi writes none.

    Parameters
    ----------
    series
        The SEG's series-level attributes (read without defaults: absent is ``""`` or None).
    groups
        One list of segments per output image (label_id = the voxel value there).

    Returns
    -------
    dict
        The JSON object, keys in dcmqi's order.
    """
    d: dict[str, Any] = {}
    for key in (
        "ContentCreatorName",
        "ClinicalTrialSeriesID",
        "ClinicalTrialTimePointID",
        "SeriesDescription",
        "SeriesNumber",
        "InstanceNumber",
        "BodyPartExamined",
    ):
        value = getattr(series, _SERIES_KEYS[key])
        d[key] = "" if value is None else str(value)
    if series.clinical_trial_coordinating_center_name:
        d["ClinicalTrialCoordinatingCenterName"] = series.clinical_trial_coordinating_center_name
    d["segmentAttributes"] = [[_meta_segment(s) for s in group] for group in groups]
    return dict(sorted(d.items()))


def write_meta_json(
    path: str | os.PathLike, series: SeriesAttributes, groups: Sequence[Sequence[SegmentDescription]]
) -> None:
    """Write :func:`meta_json_dict` (indent 2, UTF-8) atomically."""
    text = dumps_indented(meta_json_dict(series, groups))
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
