"""Hostile label images and JSON: header bombs, gzip bombs, odd pixel types and values, JSON bombs."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
from _args import itk2seg, label_file, meta_file, relabelled, segment
from _base import GIB, MIB, Base, cached, gzip_pieces
from _harness import Case, Run

SIZES = "20 24 6"  # i j k of the base grid


def nrrd_header(base: Base, *, sizes=SIZES, type_="uint8", encoding="raw", extra="", dimension=3) -> bytes:
    g = base.geometry
    directions = f"({g.spacing[0]},0,0) (0,{g.spacing[1]},0) (0,0,{g.spacing[2]})" if dimension == 3 else ""
    text = (
        f"NRRD0004\ntype: {type_}\ndimension: {dimension}\nspace: left-posterior-superior\nsizes: {sizes}\n"
        + (f"space directions: {directions}\n" if directions else "")
        + f"endian: little\nencoding: {encoding}\nspace origin: ({g.origin[0]},{g.origin[1]},{g.origin[2]})\n{extra}"
    )
    return text.encode() + (b"\n" if "data file" not in extra else b"")


def nifti_header(base: Base, shape, dtype=np.uint8, **set_) -> nib.Nifti1Header:
    img = nib.load(str(base.nii))
    header = img.header.copy()
    header.set_data_dtype(dtype)
    header.set_data_shape(shape)
    header.set_data_offset(352)
    for key, value in set_.items():
        header[key] = value
    return header


def nifti_bytes(header: nib.Nifti1Header, body: bytes = b"") -> bytes:
    return header.binaryblock + bytes(4) + body


def written(name: str, blob: Callable[[Base], bytes], key: str | None = None) -> Callable[[Base, Path], Path]:
    def make(base: Base, root: Path) -> Path:
        data = cached(key, lambda: blob(base)) if key else blob(base)
        path = root / name
        path.write_bytes(data)  # type: ignore[arg-type]
        return path

    return make


def label_case(
    name: str, group: str, make: Callable[[Base, Path], Path], *, slow=False, expect=None, meta=None
) -> Case:
    def build(base: Base, root: Path) -> Run:
        return itk2seg(base, root, make(base, root), meta=meta(base, root) if meta else None, expect=expect)

    return Case(f"{group}/{name}", group, build, slow)


def array_case(name: str, file: str, array: Callable[[Base], np.ndarray], expect=None) -> Case:
    return label_case(name, "value", lambda b, r: label_file(b, r, file, array(b)), expect=expect)


def meta_case(
    name: str, edit: Callable[[dict], object] | None = None, *, text=None, expect=None, extra=(), group="value"
) -> Case:
    def build(base: Base, root: Path) -> Run:
        return itk2seg(base, root, meta=meta_file(base, root, edit, text=text), expect=expect, extra=extra)

    return Case(f"{group}/{name}", group, build)


def seg_field(label: int, **values) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        segment(doc, label).update(values)

    return edit


def code_field(label: int, sequence: str, **values) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        segment(doc, label)[sequence].update(values)

    return edit


def doc_field(**values) -> Callable[[dict], None]:
    return lambda doc: doc.update(values)


def with_absent(n: int) -> Callable[[dict], None]:
    """Entries for labels 4..n+3 that the image does not hold (a template of n more organs)."""

    def edit(doc: dict) -> None:
        first = doc["segmentAttributes"][0][0]
        for label in range(4, n + 4):
            doc["segmentAttributes"][0].append({**first, "labelID": label, "SegmentLabel": f"organ {label}"})

    return edit


def json_entries(n: int, start: int = 1) -> Callable[[Base], bytes]:
    def blob(base: Base) -> bytes:
        entry = base.meta_doc["segmentAttributes"][0][0]
        cat = json.dumps(entry["SegmentedPropertyCategoryCodeSequence"])
        typ = json.dumps(entry["SegmentedPropertyTypeCodeSequence"])
        items = ",".join(
            f'{{"labelID":{i},"SegmentedPropertyCategoryCodeSequence":{cat},"SegmentedPropertyTypeCodeSequence":{typ}}}'
            for i in range(start, start + n)
        )
        return ('{"segmentAttributes":[[' + items + "]]}").encode()

    return blob


def array_with(base: Base, value, dtype) -> np.ndarray:
    return relabelled(base, dtype, 2, value)


def seg_nrrd_many_keys(n: int) -> Callable[[Base], bytes]:
    def blob(base: Base) -> bytes:
        data = np.ascontiguousarray(base.labels, dtype="<u1").tobytes()
        keys = "".join(
            f"Segment{i}_ID:=Segment_{i}\nSegment{i}_Name:=s{i}\n"
            f"Segment{i}_LabelValue:={i % 3 + 1}\nSegment{i}_Layer:=0\n"
            for i in range(n)
        )
        return nrrd_header(base, encoding="gzip", extra=keys.rstrip("\n")) + gzip.compress(data)

    return blob


def _trailing_gz(base: Base, zeros: int) -> bytes:
    return gzip_pieces([np.ascontiguousarray(base.labels, dtype="u1").tobytes(), zeros])


CASES: list[Case] = [
    # ---- header and gzip bombs in label files
    label_case(
        "nii.gz-header-2048^3-over-1gib-of-zeros",
        "bomb",
        written(
            "bomb.nii.gz", lambda b: gzip_pieces([nifti_bytes(nifti_header(b, (2048, 2048, 2048))), GIB]), "nii2048"
        ),
        expect=1,
    ),
    label_case(
        "nii.gz-grid-matches-then-1gib-of-zeros",
        "bomb",
        written(
            "trail.nii.gz",
            lambda b: gzip_pieces(
                [
                    nifti_bytes(nifti_header(b, (20, 24, 6))),
                    *[b.labels.transpose(2, 1, 0).astype("u1").tobytes(order="C")],
                    GIB,
                ]
            ),
            "niitrail1",
        ),
    ),
    label_case(
        "nii.gz-grid-matches-then-6gib-of-zeros",
        "bomb",
        written(
            "trail6.nii.gz",
            lambda b: gzip_pieces(
                [nifti_bytes(nifti_header(b, (20, 24, 6))), b.labels.transpose(2, 1, 0).astype("u1").tobytes(), 6 * GIB]
            ),
            "niitrail6",
        ),
        slow=True,
    ),
    label_case(
        "nrrd-gzip-grid-matches-then-1gib-of-zeros",
        "bomb",
        written("trail.nrrd", lambda b: nrrd_header(b, encoding="gzip") + _trailing_gz(b, GIB), "nrrdtrail1"),
    ),
    label_case(
        "nrrd-sizes-65535^3-gzip-bomb",
        "bomb",
        written(
            "huge.nrrd",
            lambda b: nrrd_header(b, sizes="65535 65535 65535", encoding="gzip") + gzip_pieces([GIB]),
            "nrrd65535",
        ),
        expect=1,
    ),
    label_case(
        "nrrd-sizes-20-24-1e9-raw",
        "bomb",
        written("deep.nrrd", lambda b: nrrd_header(b, sizes="20 24 1000000000") + bytes(2880)),
        expect=1,
    ),
    label_case(
        "nrrd-sizes-2^63",
        "bomb",
        written("overflow.nrrd", lambda b: nrrd_header(b, sizes="20 24 9223372036854775807") + bytes(2880)),
        expect=1,
    ),
    label_case(
        "nrrd-data-file-dev-zero-raw",
        "bomb",
        written("zero.nhdr", lambda b: nrrd_header(b, extra="data file: /dev/zero\n")),
    ),
    label_case(
        "nrrd-data-file-dev-zero-gzip",
        "bomb",
        written("zerogz.nhdr", lambda b: nrrd_header(b, encoding="gzip", extra="data file: /dev/zero\n")),
        expect=1,
    ),
    label_case(
        "nrrd-data-file-pattern-1e9-files",
        "bomb",
        written("pattern.nhdr", lambda b: nrrd_header(b, extra="data file: slice%09d.raw 0 999999999 1 2\n")),
        expect=1,
    ),
    label_case(
        "nrrd-header-line-of-30mb",
        "bomb",
        written("longline.nrrd", lambda b: b"NRRD0004\ntype: uint8\ncontent: " + b"x" * (30 * MIB)),
        expect=1,
    ),
    label_case(
        "nii-vox-offset-1e18",
        "bomb",
        written("offset.nii", lambda b: nifti_bytes(nifti_header(b, (20, 24, 6), vox_offset=1e18), bytes(2880))),
        expect=1,
    ),
    label_case(
        "nii-65535x65535x1",
        "bomb",
        written("wide.nii", lambda b: _nifti2((65535, 65535, 65535), bytes(4096))),
        expect=1,
    ),
    Case(
        "bomb/seg.nrrd-100000-segment-keys",
        "bomb",
        lambda b, r: itk2seg(
            b, r, written("many.seg.nrrd", seg_nrrd_many_keys(100_000), "segnrrd100k")(b, r), meta=False
        ),
        slow=True,
    ),
    meta_case("json-list-nested-100000-deep", text="[" * 100_000 + "]" * 100_000, expect=1, group="bomb"),
    meta_case(
        "json-object-nested-100000-deep",
        text='{"segmentAttributes":[[{"labelID":1,"x":' + '{"a":' * 100_000 + "0" + "}" * 100_000 + "}]]}",
        expect=1,
        group="bomb",
    ),
    Case(
        "bomb/json-1e6-entries",
        "bomb",
        lambda b, r: itk2seg(b, r, meta=written("million.json", json_entries(1_000_000), "json1e6")(b, r), expect=1),
        slow=True,
    ),
    Case(
        "bomb/json-70000-entries-ids-above-65535",
        "bomb",
        lambda b, r: itk2seg(b, r, meta=written("seventy.json", json_entries(70_000), "json70k")(b, r), expect=1),
    ),
    meta_case("json-template-of-117-organs", with_absent(114), group="bomb"),
    meta_case(
        "json-labelID-65536",
        lambda d: d["segmentAttributes"][0].append({**d["segmentAttributes"][0][0], "labelID": 65536}),
        expect=1,
        group="bomb",
    ),
    meta_case("json-labelID-2^64", seg_field(3, labelID=2**64), expect=1),
    meta_case("json-labelID-1e300", text=None, edit=seg_field(3, labelID=1e300), expect=1),
    meta_case("json-labelID-negative", seg_field(3, labelID=-3), expect=1),
    meta_case("json-labelID-true", seg_field(3, labelID=True), expect=1),
    meta_case("json-labelID-NaN", text='{"segmentAttributes": [[{"labelID": NaN}]]}', expect=1),
    meta_case("json-duplicate-keys", text='{"segmentAttributes": [[]], "segmentAttributes": 5}', expect=1),
    meta_case("json-utf8-bom", text=None, edit=None, expect=None),  # replaced below by a BOM variant
    # ---- odd values in the JSON (VRs of what is written)
    meta_case("label-65-chars", seg_field(1, SegmentLabel="L" * 65)),
    meta_case("label-5000-chars", seg_field(1, SegmentLabel="L" * 5000)),
    meta_case("description-3000-chars", seg_field(2, SegmentDescription="d" * 3000)),
    meta_case(
        "snomed-18-digit-code", code_field(1, "SegmentedPropertyTypeCodeSequence", CodeValue="123456789012345678")
    ),
    meta_case(
        "urn-code-value",
        code_field(
            2,
            "SegmentedPropertyTypeCodeSequence",
            CodeValue="urn:oid:2.16.840.1.113883.3.1",
            CodingSchemeDesignator="DCM",
        ),
    ),
    meta_case(
        "code-value-17-chars-local-scheme",
        code_field(
            2, "SegmentedPropertyTypeCodeSequence", CodeValue="ABCDEFGHIJKLMNOPQ", CodingSchemeDesignator="99LOCAL"
        ),
    ),
    meta_case(
        "designator-lower-case", code_field(1, "SegmentedPropertyCategoryCodeSequence", CodingSchemeDesignator="sct")
    ),
    meta_case(
        "designator-17-chars", code_field(1, "SegmentedPropertyCategoryCodeSequence", CodingSchemeDesignator="D" * 17)
    ),
    meta_case("code-meaning-65-chars", code_field(3, "SegmentedPropertyTypeCodeSequence", CodeMeaning="m" * 65)),
    meta_case("code-meaning-empty", code_field(3, "SegmentedPropertyTypeCodeSequence", CodeMeaning="")),
    meta_case("code-meaning-backslash", code_field(3, "SegmentedPropertyTypeCodeSequence", CodeMeaning="left\\right")),
    meta_case("algorithm-type-lower-case", seg_field(1, SegmentAlgorithmType="automatic")),
    meta_case("algorithm-type-unknown", seg_field(1, SegmentAlgorithmType="GUESSED")),
    meta_case("label-with-backslash", seg_field(2, SegmentLabel="kidney\\left")),
    meta_case("label-with-newline", seg_field(2, SegmentLabel="kidney\nleft")),
    meta_case("label-with-nul", seg_field(2, SegmentLabel="kid\x00ney")),
    meta_case("label-with-escape", seg_field(2, SegmentLabel="kid\x1b$Bney")),
    meta_case("label-empty", seg_field(2, SegmentLabel="")),
    meta_case("tracking-uid-not-a-uid", seg_field(1, TrackingUniqueIdentifier="not-a-uid")),
    meta_case("tracking-uid-leading-zero", seg_field(1, TrackingUniqueIdentifier="1.2.03.4")),
    meta_case("tracking-uid-70-chars", seg_field(1, TrackingUniqueIdentifier="1." + "2" * 68)),
    meta_case("tracking-id-300-chars", seg_field(1, TrackingIdentifier="t" * 300)),
    meta_case("series-description-100-chars", doc_field(SeriesDescription="s" * 100)),
    meta_case("series-number-text", doc_field(SeriesNumber="abc")),
    meta_case("series-number-2^40", doc_field(SeriesNumber=str(2**40))),
    meta_case("instance-number-negative", doc_field(InstanceNumber="-5")),
    meta_case("creator-name-six-components", doc_field(ContentCreatorName="a^b^c^d^e^f")),
    meta_case("creator-name-100-chars", doc_field(ContentCreatorName="n" * 100)),
    meta_case("trial-series-id-100-chars", doc_field(ClinicalTrialSeriesID="c" * 100)),
    meta_case("body-part-lower-case", doc_field(BodyPartExamined="chest")),
    meta_case("rgb-floats", seg_field(3, recommendedDisplayRGBValue=[1.5, 2, 3])),
    meta_case("label-latin-1", seg_field(1, SegmentLabel="Leber äöü")),
    meta_case("label-japanese", seg_field(1, SegmentLabel="肝臓")),
    meta_case("label-emoji", seg_field(1, SegmentLabel="heart \U0001fac0")),
    meta_case("label-lone-surrogate", text='{"segmentAttributes": [[{"labelID": 1, "SegmentLabel": "\\ud800"}]]}'),
    # ---- odd label images
    array_case("float-inf", "inf.nrrd", lambda b: array_with(b, np.inf, np.float32), expect=1),
    array_case("float-minus-inf", "minf.nii.gz", lambda b: array_with(b, -np.inf, np.float64), expect=1),
    array_case("float-1e20", "big.nrrd", lambda b: array_with(b, 1e20, np.float32), expect=1),
    array_case("float-nan-nifti", "nan.nii.gz", lambda b: array_with(b, np.nan, np.float32), expect=1),
    array_case(
        "float-negative-zero", "negzero.nrrd", lambda b: np.where(b.labels == 0, -0.0, b.labels).astype(np.float32)
    ),
    array_case("int8-negative-nifti", "int8.nii", lambda b: array_with(b, -1, np.int8), expect=1),
    array_case("int64-2^40", "i64.nrrd", lambda b: array_with(b, 2**40, np.int64), expect=1),
    array_case("int64-small-values", "i64ok.nii.gz", lambda b: b.labels.astype(np.int64), expect=0),
    array_case("uint64-max", "u64.nrrd", lambda b: array_with(b, np.iinfo(np.uint64).max, np.uint64), expect=1),
    array_case("label-65535", "max.nrrd", lambda b: array_with(b, 65535, np.uint16)),
    label_case(
        "complex-nifti",
        "value",
        lambda b, r: _nib(r, "complex.nii", b.labels.transpose(2, 1, 0).astype(np.complex64)),
        expect=1,
    ),
    label_case(
        "5d-nifti", "value", lambda b, r: _nib(r, "five.nii.gz", np.zeros((20, 24, 6, 2, 2), np.uint8)), expect=1
    ),
    label_case(
        "5d-nifti-singleton",
        "value",
        lambda b, r: _nib(r, "five1.nii.gz", b.labels.transpose(2, 1, 0)[..., None, None].astype(np.uint8)),
    ),
    label_case(
        "0-sized-axis-nifti", "value", lambda b, r: _nib(r, "empty.nii.gz", np.zeros((20, 24, 0), np.uint8)), expect=1
    ),
    label_case("0-sized-axis-nrrd", "value", written("empty.nrrd", lambda b: nrrd_header(b, sizes="20 0 6")), expect=1),
    label_case(
        "nifti-pixdim-nan",
        "value",
        written(
            "pixnan.nii",
            lambda b: nifti_bytes(
                nifti_header(
                    b, (20, 24, 6), pixdim=[1, np.nan, np.nan, np.nan, 1, 1, 1, 1], sform_code=0, qform_code=0
                ),
                b.labels.transpose(2, 1, 0).astype("u1").tobytes(order="F"),
            ),
        ),
        expect=1,
    ),
    label_case(
        "nrrd-space-directions-nan",
        "value",
        written(
            "dirnan.nrrd",
            lambda b: (
                nrrd_header(b).replace(b"space directions: (0.7,0,0)", b"space directions: (nan,0,0)")
                + np.ascontiguousarray(b.labels, "u1").tobytes()
            ),
        ),
        expect=1,
    ),
    label_case(
        "nrrd-zero-spacing",
        "value",
        written(
            "zerosp.nrrd",
            lambda b: nrrd_header(b).replace(b"(0,0,2.5)", b"(0,0,0)") + np.ascontiguousarray(b.labels, "u1").tobytes(),
        ),
        expect=1,
    ),
]


def _nifti2(shape, body: bytes) -> bytes:
    """A NIfTI-2 header (64-bit dims) claiming ``shape`` uint8, then ``body``."""
    header = nib.Nifti2Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(shape)
    header.set_data_offset(544)
    return header.binaryblock + bytes(4) + body


def _nib(root: Path, name: str, array: np.ndarray) -> Path:
    path = root / name
    nib.save(nib.Nifti1Image(array, np.diag([-0.7, -0.9, 2.5, 1.0])), str(path))
    return path


def _bom(base: Base, root: Path) -> Run:
    path = root / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base.meta_doc).encode())
    return itk2seg(base, root, meta=path)


CASES = [c if c.id != "value/json-utf8-bom" else Case(c.id, "value", _bom) for c in CASES]
