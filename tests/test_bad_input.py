"""Bad inputs on the WRITE side, through the real command line (issue #5, items 1-2).

Every case runs ``labelmap.cli.main([...])`` in-process (and a few run the installed
``labelmap-convert`` as a subprocess) and checks the error contract:

* exit status 1;
* exactly ONE line on stderr, starting with ``error:``, naming the file / segment /
  slice / attribute at fault and saying what to do; never a traceback;
* no output file (and no hidden ``.lm-*`` temporary file) is left behind, and an
  existing good file at the output path is left untouched.

Valid neighbours of the bad cases (float images holding exact integers, a JSON entry for
an absent label, stray non-DICOM files in the series folder, the same DICOM file twice)
must still convert.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from _images import write_image
from pydicom.uid import generate_uid

from labelmap.cli import main
from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.model import Geometry

from _cli import listing, run_cli
from _geometries import axial_geometry, make_ct_series

BIN = Path(sys.executable).parent
LABELMAP_CONVERT = BIN / "labelmap-convert"

SHAPE = (6, 24, 20)  # [k, j, i]
LABELS = [1, 2, 3]  # organ_phantom(geometry, 3, seed=1): slice 0 and 5 are empty
GOOD = b"a good file from an earlier run\n"


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A small CT series, its label map (NRRD and NIfTI), the dcmqi JSON, a BINARY and a LABELMAP SEG."""
    root = tmp_path_factory.mktemp("bad_input")
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(root, geometry, name="ct")
    labels = organ_phantom(geometry, 3, seed=1)
    assert sorted(int(v) for v in np.unique(labels) if v) == LABELS
    lab = root / "lab.nrrd"
    write_image(lab, labels, geometry)
    nii = root / "lab.nii.gz"
    write_image(nii, labels, geometry)
    meta_doc = sample_metadata(LABELS)
    meta = root / "meta.json"
    meta.write_text(json.dumps(meta_doc, indent=2))
    binary = root / "binary.seg.dcm"
    assert main(["itk2seg", str(lab), "-d", str(ct), "-m", str(meta), "-o", str(binary), "--type", "binary", "-q"]) == 0
    labelmap_seg = root / "labelmap.seg.dcm"
    assert main(["itk2seg", str(lab), "-d", str(ct), "-m", str(meta), "-o", str(labelmap_seg), "-q"]) == 0
    return {
        "root": root,
        "geometry": geometry,
        "ct": ct,
        "labels": labels,
        "lab": lab,
        "nii": nii,
        "meta": meta,
        "meta_doc": meta_doc,
        "binary": binary,
        "labelmap": labelmap_seg,
    }


def _steady(text: str) -> str:
    """An error line without the amounts of memory it quotes (available memory changes from run to run)."""
    import re

    return re.sub(r"\d+(\.\d+)? ?[KMGT]i?B", "<size>", text)


def one_line_error(rc: int, stdout: str, err: str, needles=(), *, folders=()) -> str:
    """Exit 1, one ``error:`` line on stderr holding every needle, no traceback; returns the line.

    Needles are matched case-insensitively after the test's own folders (``folders``: pytest
    names them after the test, so they could match a needle by accident) are cut out.
    """
    assert rc == 1, (rc, stdout, err)
    assert "Traceback" not in err and "Traceback" not in stdout, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    text = line
    for folder in sorted(map(str, folders), key=len, reverse=True):
        text = text.replace(folder, "<tmp>")
    for needle in needles:
        assert needle.lower() in text.lower(), (needle, line)
    return line


def inputs(t: Path) -> Path:
    d = t / "inputs"
    d.mkdir(exist_ok=True)
    return d


def out_file(t: Path) -> Path:
    return t / "out" / "x.dcm"


def itk2seg(c, t, label=None, *, dicom=None, meta=None, extra=()) -> list:
    labels = label if isinstance(label, list) else [label if label is not None else c["lab"]]
    sources = dicom if isinstance(dicom, list) else [dicom if dicom is not None else c["ct"]]
    return [
        "itk2seg",
        *labels,
        *(a for d in sources for a in ("-d", d)),
        "-m",
        meta if meta is not None else c["meta"],
        "-o",
        out_file(t),
        *extra,
    ]


def dcmqi(c, t, label=None, *, dicom=None, meta=None, extra=()) -> list:
    labels = label if isinstance(label, list) else [label if label is not None else c["lab"]]
    return [
        "itkimage2segimage",
        "--inputImageList",
        ",".join(str(p) for p in labels),
        "--inputDICOMDirectory",
        dicom if dicom is not None else c["ct"],
        "--inputMetadata",
        meta if meta is not None else c["meta"],
        "--outputDICOM",
        out_file(t),
        "--segmentationType",
        "labelmap",
        "--useLabelIDAsSegmentNumber",
        *extra,
    ]


# ---- label images
def label_variant(c, t, name: str, array=None, geometry: Geometry | None = None) -> Path:
    path = inputs(t) / name
    write_image(path, c["labels"] if array is None else array, c["geometry"] if geometry is None else geometry)
    return path


def with_value(c, dtype, old: int, new) -> np.ndarray:
    a = c["labels"].astype(dtype)
    a[c["labels"] == old] = new
    return a


def shifted(geometry: Geometry, mm) -> Geometry:
    return Geometry(geometry.origin + np.asarray(mm, dtype=float), geometry.direction, geometry.spacing, geometry.shape)


def respaced(geometry: Geometry, spacing) -> Geometry:
    return Geometry(geometry.origin, geometry.direction, np.asarray(spacing, dtype=float), geometry.shape)


def resized(geometry: Geometry, shape) -> Geometry:
    return Geometry(geometry.origin, geometry.direction, geometry.spacing, shape)


def beyond_rows(labels: np.ndarray) -> np.ndarray:
    """``labels`` with 4 more rows, one voxel of label 2 in row 26 (3 rows past the series)."""
    a = np.zeros((labels.shape[0], labels.shape[1] + 4, labels.shape[2]), labels.dtype)
    a[:, : labels.shape[1]] = labels
    a[2, 26, 5] = 2
    return a


def write_bytes(t: Path, name: str, data: bytes) -> Path:
    path = inputs(t) / name
    path.write_bytes(data)
    return path


def nrrd_text(header: str, data: bytes = b"") -> bytes:
    return header.encode("ascii") + b"\n" + data


def raw_nrrd(c, t, name: str, *, cut: int = 0, encoding: str = "raw") -> Path:
    """The label map as a hand-written NRRD (raw or gzip), minus ``cut`` bytes at the end."""
    data = np.ascontiguousarray(c["labels"], dtype="<u2").tobytes()
    if encoding == "gzip":
        data = gzip.compress(data)
    g = c["geometry"]
    header = (
        "NRRD0004\ntype: uint16\ndimension: 3\nspace: left-posterior-superior\n"
        f"sizes: {SHAPE[2]} {SHAPE[1]} {SHAPE[0]}\n"
        f"space directions: ({g.spacing[0]},0,0) (0,{g.spacing[1]},0) (0,0,{g.spacing[2]})\n"
        f"kinds: domain domain domain\nendian: little\nencoding: {encoding}\n"
        f"space origin: ({g.origin[0]},{g.origin[1]},{g.origin[2]})\n"
    )
    blob = nrrd_text(header, data)
    return write_bytes(t, name, blob[: len(blob) - cut] if cut else blob)


def nifti_bytes(c, *, gz: bool) -> bytes:
    path = c["nii"]
    blob = path.read_bytes()
    return blob if gz else gzip.decompress(blob)


def nifti_scaled(c, t, slope: float, inter: float = 0.0) -> Path:
    """The label map as NIfTI with scl_slope/scl_inter set (stored values unchanged)."""
    img = nib.load(str(c["nii"]))
    raw = np.asanyarray(img.dataobj.get_unscaled())
    new = nib.Nifti1Image(raw, img.affine, img.header)
    new.header.set_slope_inter(slope, inter)
    path = inputs(t) / f"scaled_{slope}.nii"
    nib.save(new, str(path))
    return path


# ---- metadata
def meta_variant(c, t, name: str, edit=None, *, text: str | None = None) -> Path:
    path = inputs(t) / name
    if text is not None:
        path.write_text(text)
        return path
    doc = json.loads(json.dumps(c["meta_doc"]))
    edit(doc)
    path.write_text(json.dumps(doc, indent=2))
    return path


def segment(doc, label: int) -> dict:
    return next(s for s in doc["segmentAttributes"][0] if s["labelID"] == label)


def drop_label(label):
    def edit(doc):
        doc["segmentAttributes"][0] = [s for s in doc["segmentAttributes"][0] if s["labelID"] != label]

    return edit


def add_label(label):
    def edit(doc):
        extra = json.loads(json.dumps(doc["segmentAttributes"][0][0]))
        extra["labelID"] = label
        extra["SegmentLabel"] = f"Absent {label}"
        doc["segmentAttributes"][0].append(extra)

    return edit


# ---- DICOM series
def ct_copy(c, t, name: str) -> Path:
    dst = inputs(t) / name
    shutil.copytree(c["ct"], dst)
    return dst


def ct_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("CT*.dcm"))


def missing_slice(c, t) -> Path:
    d = ct_copy(c, t, "ct_gap")
    ct_files(d)[3].unlink()
    return d


def duplicated_slice(c, t) -> Path:
    """A second instance (new SOPInstanceUID) at the position of slice 2."""
    d = ct_copy(c, t, "ct_dup")
    ds = pydicom.dcmread(ct_files(d)[2])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 99
    ds.save_as(d / "CT000099.dcm")
    return d


def copied_file(c, t) -> Path:
    """The same file twice (same SOPInstanceUID): harmless, counted once."""
    d = ct_copy(c, t, "ct_copy")
    shutil.copy(ct_files(d)[2], d / "copy-of-slice-3.dcm")
    return d


def mixed_orientation(c, t) -> Path:
    d = ct_copy(c, t, "ct_orient")
    path = ct_files(d)[4]
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.9659258, -0.2588190]
    ds.save_as(path)
    return d


def two_series(c, t) -> Path:
    d = ct_copy(c, t, "ct_two")
    make_ct_series(d, c["geometry"], name="second", series_number=7)
    return d


def junk_mixed_in(c, t) -> Path:
    d = ct_copy(c, t, "ct_junk")
    (d / "README.txt").write_text("scanned at the hospital\n")
    (d / "notes.dcm").write_bytes(os.urandom(2000))
    (d / "empty.dcm").write_bytes(b"")
    (d / "sub").mkdir()
    (d / "sub" / "DICOMDIR.json").write_text("{}")
    return d


def truncated_dicom(c, t, keep: int) -> Path:
    d = ct_copy(c, t, f"ct_trunc{keep}")
    path = ct_files(d)[3]
    blob = path.read_bytes()
    path.write_bytes(blob[:keep] if keep > 0 else blob[:keep])
    return d


def without_position(c, t) -> Path:
    d = ct_copy(c, t, "ct_nopos")
    path = ct_files(d)[2]
    ds = pydicom.dcmread(path)
    del ds.ImagePositionPatient
    ds.save_as(path)
    return d


def junk_only(c, t) -> Path:
    d = inputs(t) / "junk_only"
    d.mkdir()
    (d / "a.txt").write_text("hello\n")
    (d / "b.dcm").write_bytes(b"not dicom at all" * 10)
    return d


def empty_dir(c, t) -> Path:
    d = inputs(t) / "empty_ct"
    d.mkdir()
    return d


# --------------------------------------------------------------------------- the error cases
# name: builder(case, tmp_path) -> (arguments, substrings the one-line message must contain)
ERRORS = {
    # ---- label values
    "float label 1.5": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "float15.nrrd", with_value(c, np.float32, 2, 1.5))),
        ["float15.nrrd", "1.5", "at slice 1, row", "whole numbers", "--type fractional"],
    ),
    "negative label (int16)": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "neg.nrrd", with_value(c, np.int16, 2, -3))),
        ["neg.nrrd", "-3", "0..65535", "at slice 1, row", "positive label"],
    ),
    "label 70000 in int32": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "big32.nrrd", with_value(c, np.int32, 2, 70000))),
        ["big32.nrrd", "70000", "65535", "at slice 1", "renumber"],
    ),
    "label 70000 in uint32 NIfTI": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "bigu32.nii.gz", with_value(c, np.uint32, 2, 70000))),
        ["bigu32.nii.gz", "70000", "65535"],
    ),
    "NaN in a float image": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "nan.nrrd", with_value(c, np.float64, 2, np.nan))),
        ["nan.nrrd", "NaN", "at slice 1", "set those voxels"],
    ),
    "NIfTI slope makes values non-integer": lambda c, t: (
        itk2seg(c, t, nifti_scaled(c, t, 0.5)),
        ["scaled_0.5.nii", "0.5", "integer"],
    ),
    "label without a JSON entry": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "no3.json", drop_label(3))),
        ["lab.nrrd", "label value 3", "in slice(s) 3-4", "no entry", '"labelID": 3'],
    ),
    "label without a JSON entry (dcmqi flags)": lambda c, t: (
        dcmqi(c, t, meta=meta_variant(c, t, "no3.json", drop_label(3))),
        ["lab.nrrd", "3", "labelID"],
    ),
    # ---- metadata JSON
    "malformed JSON": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "bad.json", text='{\n  "segmentAttributes": [[1,]]\n}\n')),
        ["bad.json", "line 2", "column"],
    ),
    "empty JSON file": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "empty.json", text="")),
        ["empty.json", "line 1"],
    ),
    "JSON not UTF-8": lambda c, t: (
        itk2seg(c, t, meta=write_bytes(t, "latin.json", '{"SeriesDescription": "f\xf6o"}'.encode("latin-1"))),
        ["latin.json", "UTF-8"],
    ),
    "JSON is a list": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "list.json", text=json.dumps([c["meta_doc"]]))),
        ["list.json", "object"],
    ),
    "JSON file missing": lambda c, t: (
        itk2seg(c, t, meta=inputs(t) / "nowhere.json"),
        ["nowhere.json", "does not exist"],
    ),
    "JSON is a folder": lambda c, t: (itk2seg(c, t, meta=inputs(t)), ["inputs", "folder"]),
    "code without CodeMeaning": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(
                c, t, "nomeaning.json", lambda d: segment(d, 2)["SegmentedPropertyTypeCodeSequence"].pop("CodeMeaning")
            ),
        ),
        ["nomeaning.json", "segmentAttributes[0][1]", "labelID 2", "SegmentedPropertyTypeCodeSequence.CodeMeaning"],
    ),
    "code without CodeValue": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(
                c, t, "novalue.json", lambda d: segment(d, 1)["SegmentedPropertyCategoryCodeSequence"].pop("CodeValue")
            ),
        ),
        ["labelID 1", "SegmentedPropertyCategoryCodeSequence.CodeValue", "missing"],
    ),
    "code without CodingSchemeDesignator": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(
                c,
                t,
                "noscheme.json",
                lambda d: segment(d, 3)["SegmentedPropertyTypeCodeSequence"].pop("CodingSchemeDesignator"),
            ),
        ),
        ["labelID 3", "CodingSchemeDesignator"],
    ),
    "segment without SegmentedPropertyTypeCodeSequence": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(c, t, "notype.json", lambda d: segment(d, 2).pop("SegmentedPropertyTypeCodeSequence")),
        ),
        ["labelID 2", "SegmentedPropertyTypeCodeSequence", "missing"],
    ),
    "labelID as a string": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "strid.json", lambda d: segment(d, 2).update(labelID="2"))),
        ["strid.json", "segmentAttributes[0][1]", "labelID", "'2'", "number"],
    ),
    "labelID 0": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "zero.json", lambda d: segment(d, 2).update(labelID=0))),
        ["zero.json", "labelID", "background"],
    ),
    "RGB of two values": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(c, t, "rgb2.json", lambda d: segment(d, 3).update(recommendedDisplayRGBValue=[10, 20])),
        ),
        ["rgb2.json", "labelID 3", "recommendedDisplayRGBValue", "three integers"],
    ),
    "RGB value out of range": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(
                c, t, "rgb300.json", lambda d: segment(d, 3).update(recommendedDisplayRGBValue=[10, 20, 300])
            ),
        ),
        ["labelID 3", "recommendedDisplayRGBValue", "0..255"],
    ),
    "SegmentLabel not a string": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "lbl.json", lambda d: segment(d, 1).update(SegmentLabel=5))),
        ["labelID 1", "SegmentLabel", "string"],
    ),
    "duplicate labelID": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "dup.json", lambda d: segment(d, 3).update(labelID=2))),
        ["dup.json", "labelID 2", "duplicate", "segmentAttributes[0][1]"],
    ),
    "segmentAttributes is a flat list": lambda c, t: (
        itk2seg(
            c, t, meta=meta_variant(c, t, "flat.json", lambda d: d.update(segmentAttributes=d["segmentAttributes"][0]))
        ),
        ["flat.json", "segmentAttributes[0]", "list"],
    ),
    "two inner lists for one label file": lambda c, t: (
        itk2seg(
            c,
            t,
            meta=meta_variant(c, t, "two.json", lambda d: d["segmentAttributes"].append(d["segmentAttributes"][0])),
        ),
        ["two.json", "2 inner list", "1 label file"],
    ),
    "one inner list for two label files (binary)": lambda c, t: (
        itk2seg(c, t, [c["lab"], c["nii"]], extra=["--type", "binary"]),
        ["meta.json", "1 inner list", "2 label file"],
    ),
    "one inner list for two label files (dcmqi flags)": lambda c, t: (
        dcmqi(c, t, [c["lab"], c["nii"]]),
        ["meta.json", "1 inner list", "2 label file"],
    ),
    "unknown segment key": lambda c, t: (
        itk2seg(c, t, meta=meta_variant(c, t, "typo.json", lambda d: segment(d, 1).update(SegmentLable="x"))),
        ["typo.json", "labelID 1", "SegmentLable", "spelling"],
    ),
    # ---- label grids
    "labels reach beyond the series' rows": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "wide.nrrd", beyond_rows(c["labels"]), resized(c["geometry"], (6, 28, 20)))),
        ["wide.nrrd", "1 labelled voxel", "label value 2", "row 26", "up to 3 rows, 2.7000 mm", "series' last row"],
    ),
    "label files of different spacing": lambda c, t: (
        itk2seg(
            c,
            t,
            [c["lab"], label_variant(c, t, "spaced.nrrd", geometry=respaced(c["geometry"], (0.7, 0.9, 2.6)))],
            meta=meta_variant(
                c, t, "twofiles.json", lambda d: d["segmentAttributes"].append(d["segmentAttributes"][0])
            ),
            extra=["--type", "binary"],
        ),
        ["spaced.nrrd", "lab.nrrd", "spacing [0.7, 0.9, 2.6] vs [0.7, 0.9, 2.5] mm", "share one grid"],
    ),
    "label files of different origin": lambda c, t: (
        itk2seg(
            c,
            t,
            [c["lab"], label_variant(c, t, "moved.nrrd", geometry=shifted(c["geometry"], (0.5, 0, 0)))],
            meta=meta_variant(
                c, t, "twofiles.json", lambda d: d["segmentAttributes"].append(d["segmentAttributes"][0])
            ),
            extra=["--type", "binary"],
        ),
        ["moved.nrrd", "lab.nrrd", "origin", "0.5000 mm", "resample moved.nrrd"],
    ),
    "label block off the series' voxel lattice": lambda c, t: (
        itk2seg(
            c,
            t,
            label_variant(
                c, t, "rows.nrrd", c["labels"][:, :20, :], shifted(resized(c["geometry"], (6, 20, 20)), (0.21, 0, 0))
            ),
        ),
        ["rows.nrrd", "slice 0", "0.2100 mm", "(0.300, 0.000, 0.000) voxels", "off the source's voxel lattice"],
    ),
    "label has a slice more than the series": lambda c, t: (
        itk2seg(
            c,
            t,
            label_variant(
                c,
                t,
                "seven.nrrd",
                np.concatenate([c["labels"], c["labels"][2:3]]),
                resized(c["geometry"], (7,) + SHAPE[1:]),
            ),
        ),
        ["seven.nrrd", "slice 6", "2.5000 mm, past the series' last image", "20 x 24 x 7", "the series 20 x 24 x 6"],
    ),
    "label origin 0.5 mm off": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "off.nrrd", geometry=shifted(c["geometry"], (0, 0.5, 0)))),
        ["off.nrrd", "slice 0", "0.4000 mm", "(0.000, -0.444, 0.000) voxels", "tolerance", "made from this series"],
    ),
    "label pixel spacing off": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "px.nrrd", geometry=respaced(c["geometry"], (0.75, 0.9, 2.5)))),
        ["px.nrrd", "slice 0", "mm", "spacing"],
    ),
    "label slice spacing off": lambda c, t: (
        itk2seg(c, t, label_variant(c, t, "dz.nrrd", geometry=respaced(c["geometry"], (0.7, 0.9, 2.6)))),
        ["dz.nrrd", "slice 1", "0.1000 mm"],
    ),
    # ---- DICOM source
    "DICOM folder does not exist": lambda c, t: (itk2seg(c, t, dicom=inputs(t) / "no_ct"), ["no_ct", "does not exist"]),
    "DICOM folder empty": lambda c, t: (
        itk2seg(c, t, dicom=empty_dir(c, t)),
        ["empty_ct", "no DICOM images", "0 file"],
    ),
    "DICOM folder holds only junk": lambda c, t: (
        itk2seg(c, t, dicom=junk_only(c, t)),
        ["junk_only", "no DICOM images", "2 not DICOM"],
    ),
    "DICOM folder holds only a SEG": lambda c, t: (
        itk2seg(c, t, dicom=c["binary"]),
        ["binary.seg.dcm", "no DICOM images"],
    ),
    "several series": lambda c, t: (
        itk2seg(c, t, dicom=two_series(c, t)),
        ["ct_two", "2 image series", "--series-uid UID", "SeriesNumber 7", "SeriesNumber 1"],
    ),
    "several series (dcmqi flags)": lambda c, t: (
        dcmqi(c, t, dicom=two_series(c, t)),
        ["2 image series", "SeriesNumber 7"],
    ),
    "slice missing in the middle": lambda c, t: (
        itk2seg(c, t, dicom=missing_slice(c, t)),
        ["lab.nrrd", "slice 3", "gap", "1 slice(s) missing between", "CT000003.dcm", "CT000005.dcm", "add the missing"],
    ),
    "duplicated slice": lambda c, t: (
        itk2seg(c, t, dicom=duplicated_slice(c, t)),
        ["same slice position", "CT000003.dcm", "CT000099.dcm", "remove"],
    ),
    "mixed orientations": lambda c, t: (
        itk2seg(c, t, dicom=mixed_orientation(c, t)),
        ["different orientations", "CT000005.dcm", "remove"],
    ),
    "truncated DICOM header in the folder": lambda c, t: (
        itk2seg(c, t, dicom=truncated_dicom(c, t, 400)),
        ["CT000004.dcm", "damaged", "truncated", "copy it again"],
    ),
    "truncated DICOM pixel data in the folder": lambda c, t: (
        itk2seg(c, t, dicom=truncated_dicom(c, t, -100)),
        ["CT000004.dcm", "of 960 bytes", "truncated"],
    ),
    "a slice without ImagePositionPatient": lambda c, t: (
        itk2seg(c, t, dicom=without_position(c, t)),
        ["CT000003.dcm", "ImagePositionPatient", "remove"],
    ),
    "DICOM list holding a truncated file": lambda c, t: (
        itk2seg(c, t, dicom=ct_files(truncated_dicom(c, t, 700))),
        ["CT000004.dcm", "damaged"],
    ),
    "unknown --series-uid": lambda c, t: (itk2seg(c, t, extra=["--series-uid", "1.2.3.4"]), ["1.2.3.4", "not found"]),
    # ---- image files
    "NRRD raw data truncated": lambda c, t: (
        itk2seg(c, t, raw_nrrd(c, t, "cut.nrrd", cut=100)),
        ["cut.nrrd", "truncated"],
    ),
    "NRRD gzip data truncated": lambda c, t: (
        itk2seg(c, t, raw_nrrd(c, t, "cutgz.nrrd", cut=40, encoding="gzip")),
        ["cutgz.nrrd", "truncated"],
    ),
    "NRRD header cut": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "head.nrrd", raw_nrrd(c, t, "full.nrrd").read_bytes()[:60])),
        ["head.nrrd", "header is incomplete", "truncated"],
    ),
    "NRRD without data": lambda c, t: (
        itk2seg(c, t, raw_nrrd(c, t, "nodata.nrrd", cut=SHAPE[0] * SHAPE[1] * SHAPE[2] * 2)),
        ["nodata.nrrd", "truncated"],
    ),
    "empty .nrrd": lambda c, t: (itk2seg(c, t, write_bytes(t, "zero.nrrd", b"")), ["zero.nrrd", "empty"]),
    "text file named .nrrd": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "text.nrrd", b"this is not an image\n")),
        ["text.nrrd", "not a NRRD"],
    ),
    "NIfTI named .nrrd": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "nifti.nrrd", nifti_bytes(c, gz=False))),
        ["nifti.nrrd", "NIfTI", ".nii"],
    ),
    "gzipped NIfTI named .nrrd": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "niftigz.nrrd", nifti_bytes(c, gz=True))),
        ["niftigz.nrrd", ".nii.gz"],
    ),
    "NRRD named .nii.gz": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "nrrd.nii.gz", c["lab"].read_bytes())),
        ["nrrd.nii.gz", "NRRD", ".nrrd"],
    ),
    "random bytes .nii.gz": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "random.nii.gz", os.urandom(3000))),
        ["random.nii.gz", "gzip"],
    ),
    "gzip that is not NIfTI": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "text.nii.gz", gzip.compress(b"hello world\n" * 50))),
        ["text.nii.gz", "not a NIfTI"],
    ),
    "random bytes .nii": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "random.nii", os.urandom(3000))),
        ["random.nii", "not a NIfTI"],
    ),
    "NIfTI data truncated": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "cut.nii", nifti_bytes(c, gz=False)[:-500])),
        ["cut.nii", "truncated"],
    ),
    "NIfTI gzip truncated": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "cut.nii.gz", nifti_bytes(c, gz=True)[:-60])),
        ["cut.nii.gz", "truncated"],
    ),
    "NIfTI header cut": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "head.nii", nifti_bytes(c, gz=False)[:200])),
        ["head.nii", "200 bytes", "truncated"],
    ),
    "detached NRRD data truncated": lambda c, t: (itk2seg(c, t, _detached_cut(c, t)), ["cut.nhdr", "truncated"]),
    "NIfTI header claims a huge image": lambda c, t: (
        itk2seg(c, t, _nifti_huge(c, t, "huge.nii")),
        ["huge.nii", "32767", "truncated"],
    ),
    "gzipped NIfTI header claims a huge image": lambda c, t: (
        itk2seg(c, t, _nifti_huge(c, t, "huge.nii.gz")),
        ["huge.nii.gz", "32767"],
    ),
    "NRRD header claims a huge image": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t,
                "huge.nrrd",
                nrrd_text(
                    "NRRD0004\ntype: uint16\ndimension: 3\nsizes: 100000 100000 100000\nencoding: gzip\n",
                    gzip.compress(bytes(64)),
                ),
            ),
        ),
        ["huge.nrrd"],
    ),
    "raw NRRD header claims a huge image": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t,
                "hugeraw.nrrd",
                nrrd_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4096 4096 4096\nencoding: raw\n", bytes(64)),
            ),
        ),
        ["hugeraw.nrrd", "truncated"],
    ),
    "4-D NRRD": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t,
                "fourd.nrrd",
                nrrd_text("NRRD0004\ntype: uint8\ndimension: 4\nsizes: 2 3 4 5\nencoding: raw\n", bytes(120)),
            ),
        ),
        ["fourd.nrrd", "4-D", "3-D"],
    ),
    "vector NRRD": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t,
                "vector.nrrd",
                nrrd_text(
                    "NRRD0004\ntype: uint8\ndimension: 4\nsizes: 3 20 24 6\nkinds: vector domain domain domain\n"
                    "encoding: raw\n",
                    bytes(3 * 20 * 24 * 6),
                ),
            ),
        ),
        ["vector.nrrd", "vector", "scalar"],
    ),
    "1-D NRRD": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t, "oned.nrrd", nrrd_text("NRRD0004\ntype: uint8\ndimension: 1\nsizes: 5\nencoding: raw\n", bytes(5))
            ),
        ),
        ["oned.nrrd", "1-D"],
    ),
    "2-D NRRD off the series": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t,
                "twod.nrrd",
                nrrd_text("NRRD0004\ntype: uint8\ndimension: 2\nsizes: 20 24\nencoding: raw\n", bytes(480)),
            ),
        ),
        ["twod.nrrd", "lies entirely outside the source series", "30.0000 to 30.0000 mm", "spans 0 to 12.5000 mm"],
    ),
    "4-D NIfTI": lambda c, t: (itk2seg(c, t, _nifti_4d(t)), ["fourd.nii.gz", "4-D", "3-D"]),
    "RGB NIfTI": lambda c, t: (itk2seg(c, t, _nifti_rgb(t)), ["rgb.nii", "pixel type"]),
    "unknown extension": lambda c, t: (
        itk2seg(c, t, write_bytes(t, "labels.mha", b"ObjectType = Image\n")),
        ["labels.mha", ".nrrd", ".nii.gz"],
    ),
    "label file missing": lambda c, t: (itk2seg(c, t, inputs(t) / "nope.nii.gz"), ["nope.nii.gz", "not found"]),
    "label path is a folder": lambda c, t: (itk2seg(c, t, _mkdir(inputs(t) / "dir.nrrd")), ["dir.nrrd", "folder"]),
    "detached NRRD without its data file": lambda c, t: (
        itk2seg(
            c,
            t,
            write_bytes(
                t,
                "det.nhdr",
                nrrd_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 20 24 6\nencoding: raw\ndata file: det.raw\n"),
            ),
        ),
        ["det.nhdr", "det.raw", "not found"],
    ),
    # ---- dcmqi-style flags
    "dcmqi: float label 1.5": lambda c, t: (
        dcmqi(c, t, label_variant(c, t, "float15.nii.gz", with_value(c, np.float32, 2, 1.5))),
        ["float15.nii.gz", "1.5"],
    ),
    "dcmqi: DICOM folder missing": lambda c, t: (dcmqi(c, t, dicom=inputs(t) / "no_ct"), ["no_ct", "does not exist"]),
    "dcmqi: DICOM list with a missing file": lambda c, t: (
        [
            "itkimage2segimage",
            "--inputImageList",
            c["lab"],
            "--inputDICOMList",
            ",".join([str(ct_files(c["ct"])[0]), str(inputs(t) / "gone.dcm")]),
            "--inputMetadata",
            c["meta"],
            "--outputDICOM",
            out_file(t),
        ],
        ["gone.dcm", "does not exist"],
    ),
    "dcmqi: no DICOM input": lambda c, t: (
        ["itkimage2segimage", "--inputImageList", c["lab"], "--inputMetadata", c["meta"], "--outputDICOM", out_file(t)],
        ["--inputDICOMDirectory", "--inputDICOMList"],
    ),
    "dcmqi: empty --inputImageList": lambda c, t: (
        [
            "itkimage2segimage",
            "--inputImageList",
            ",",
            "--inputDICOMDirectory",
            c["ct"],
            "--inputMetadata",
            c["meta"],
            "--outputDICOM",
            out_file(t),
        ],
        ["label image"],
    ),
    "dcmqi: malformed JSON": lambda c, t: (
        dcmqi(c, t, meta=meta_variant(c, t, "bad.json", text='{"segmentAttributes": [[{]]}')),
        ["bad.json", "line 1", "column"],
    ),
    "dcmqi: binary with gapped label IDs": lambda c, t: (
        [
            "itkimage2segimage",
            "--inputImageList",
            label_variant(c, t, "gap.nrrd", with_value(c, np.uint16, 3, 7)),
            "--inputDICOMDirectory",
            c["ct"],
            "--outputDICOM",
            out_file(t),
            "--useLabelIDAsSegmentNumber",
            "--inputMetadata",
            meta_variant(c, t, "gap.json", lambda d: segment(d, 3).update(labelID=7)),
        ],
        ["1..3", "[1, 2, 7]", "--useLabelIDAsSegmentNumber"],
    ),
    # ---- bin2label / bin2labelsegimage input
    "bin2label: LABELMAP input": lambda c, t: (
        ["bin2label", c["labelmap"], "-o", out_file(t)],
        ["labelmap.seg.dcm", "LABELMAP", "BINARY"],
    ),
    "bin2label: input missing": lambda c, t: (["bin2label", inputs(t) / "gone.dcm", "-o", out_file(t)], ["gone.dcm"]),
    "bin2label: input not DICOM": lambda c, t: (["bin2label", c["meta"], "-o", out_file(t)], ["meta.json", "DICOM"]),
    "bin2label: input is a CT image": lambda c, t: (
        ["bin2label", ct_files(c["ct"])[0], "-o", out_file(t)],
        ["CT000001.dcm", "Segmentation"],
    ),
    "bin2labelsegimage: LABELMAP input": lambda c, t: (
        ["bin2labelsegimage", "--inputDICOM", c["labelmap"], "--outputDICOM", out_file(t)],
        ["labelmap.seg.dcm", "BINARY"],
    ),
    "bin2labelsegimage: truncated input": lambda c, t: (
        [
            "bin2labelsegimage",
            "--inputDICOM",
            write_bytes(t, "cut.seg.dcm", c["binary"].read_bytes()[:-300]),
            "--outputDICOM",
            out_file(t),
        ],
        ["cut.seg.dcm"],
    ),
}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _detached_cut(c, t: Path) -> Path:
    path = inputs(t) / "cut.nhdr"
    write_image(path, c["labels"], c["geometry"])
    data = inputs(t) / "cut.raw.gz"
    data.write_bytes(data.read_bytes()[:-30])
    return path


def _nifti_huge(c, t: Path, name: str) -> Path:
    """A NIfTI header that claims 32767^3 voxels in front of a few bytes (a damaged header)."""
    header = nib.load(str(c["nii"])).header.copy()
    header.set_data_shape((32767, 32767, 32767))
    header.set_data_offset(352)
    blob = header.binaryblock + bytes(4) + bytes(64)
    path = inputs(t) / name
    path.write_bytes(gzip.compress(blob) if name.endswith(".gz") else blob)
    return path


def _nifti_4d(t: Path) -> Path:
    path = inputs(t) / "fourd.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((20, 24, 6, 2), dtype=np.uint8), np.eye(4)), str(path))
    return path


def _nifti_rgb(t: Path) -> Path:
    path = inputs(t) / "rgb.nii"
    rgb = np.zeros((20, 24, 6), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), str(path))
    return path


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_input(case, tmp_path, capsys, name):
    args, needles = ERRORS[name](case, tmp_path)
    target = out_file(tmp_path)
    target.parent.mkdir()
    # 1. no output, no temporary file left behind
    rc, stdout, err = run_cli(capsys, *args)
    one_line_error(rc, stdout, err, needles, folders=[tmp_path, case["root"]])
    assert listing(target.parent) == set()
    # 2. a good file already at the output path survives the failed run byte for byte
    target.write_bytes(GOOD)
    rc, stdout, err2 = run_cli(capsys, *args)
    one_line_error(rc, stdout, err2)
    assert _steady(err2) == _steady(err)  # the same error (memory figures aside: they move between runs)
    assert target.read_bytes() == GOOD
    assert listing(target.parent) == {"x.dcm"}


# --------------------------------------------------------------------------- valid neighbours still convert
def converts(capsys, args, output: Path, *, warnings: int = 0) -> pydicom.Dataset:
    rc, stdout, err = run_cli(capsys, *args)
    assert rc == 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == warnings and all(line.startswith("warning: ") for line in lines), err
    ds = pydicom.dcmread(output)
    assert ds.Modality == "SEG"
    assert [p.name for p in output.parent.iterdir() if p.name.startswith(".")] == []
    return ds


def _labelmap_numbers(ds) -> list[int]:
    return sorted(int(s.SegmentNumber) for s in ds.SegmentSequence if int(s.SegmentNumber) != 0)


@pytest.mark.parametrize(
    "dtype, ext",
    [
        (np.float32, ".nrrd"),
        (np.float64, ".nii.gz"),
        (np.int32, ".nrrd"),
        (np.uint32, ".nii.gz"),
        (np.int64, ".nrrd"),
        (np.int16, ".nii.gz"),
    ],
)
def test_wider_or_float_types_holding_labels_convert(case, tmp_path, capsys, dtype, ext):
    path = label_variant(case, tmp_path, f"labels_{np.dtype(dtype).name}{ext}", case["labels"].astype(dtype))
    out = tmp_path / "out.dcm"
    ds = converts(capsys, ["itk2seg", path, "-d", case["ct"], "-m", case["meta"], "-o", out], output=out)
    assert _labelmap_numbers(ds) == LABELS
    assert int(ds.BitsAllocated) == 8


def test_nifti_with_integer_slope_converts(case, tmp_path, capsys):
    """slope 1, intercept 0 stored explicitly, and a slope of 2 on halved values: still integers."""
    img = nib.load(str(case["nii"]))
    raw = np.asanyarray(img.dataobj.get_unscaled()).astype(np.float32) / 2
    new = nib.Nifti1Image(raw, img.affine, img.header)
    new.header.set_data_dtype(np.float32)
    new.header.set_slope_inter(2.0, 0.0)
    path = tmp_path / "halved.nii"
    nib.save(new, str(path))
    out = tmp_path / "out.dcm"
    ds = converts(capsys, ["itk2seg", path, "-d", case["ct"], "-m", case["meta"], "-o", out], output=out)
    assert _labelmap_numbers(ds) == LABELS


def test_json_entry_for_absent_label_is_left_out_with_one_warning(case, tmp_path, capsys):
    """A JSON entry whose label has no voxel is dropped, as dcmqi drops it, with one summary warning line
    (this used to write an empty segment); --keep-absent-segments writes it as an empty segment."""
    meta = meta_variant(case, tmp_path, "extra.json", add_label(5))
    out = tmp_path / "out.dcm"
    rc, stdout, err = run_cli(capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", meta, "-o", out)
    assert rc == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: 1 segment of the metadata has no voxels"), err
    assert "lab.nrrd: labels 5" in lines[0] and "left out" in lines[0], err
    assert lines[0].endswith("(use --keep-absent-segments to keep them)"), err
    assert _labelmap_numbers(pydicom.dcmread(out)) == LABELS

    kept = tmp_path / "kept.dcm"
    rc, stdout, err = run_cli(
        capsys, "itk2seg", case["lab"], "-d", case["ct"], "-m", meta, "-o", kept, "--keep-absent-segments"
    )
    assert rc == 0, err
    assert "written as empty segments (lab.nrrd: labels 5)" in err
    ds = pydicom.dcmread(kept)
    assert _labelmap_numbers(ds) == LABELS + [5]
    # the empty segment is described but no frame holds it
    from labelmap.pipeline.convert import read_seg

    decoded = read_seg(kept)
    assert 5 in [s.number for s in decoded.volume.segments]
    assert not (decoded.volume.array == 5).any()
    assert np.array_equal(decoded.volume.array, case["labels"][1:-1])  # frames span slices 1-4


def test_json_entry_for_absent_label_warning_in_the_api_report(case, tmp_path):
    """The API returns the same warning in ``WriteReport.warnings`` (the CLI prints them), in its own words."""
    from labelmap.pipeline.convert import itk_to_seg
    from labelmap.pipeline.options import WriteOptions

    meta = meta_variant(case, tmp_path, "extra.json", add_label(5))
    report = itk_to_seg([case["lab"]], [case["ct"]], meta, tmp_path / "api.dcm")
    assert [w for w in report.warnings if "labels 5" in w and "keep_absent_segments" in w]
    assert report.segments == len(LABELS)
    kept = itk_to_seg(
        [case["lab"]], [case["ct"]], meta, tmp_path / "kept.dcm", options=WriteOptions(keep_absent_segments=True)
    )
    assert kept.segments == len(LABELS) + 1


def test_junk_files_in_the_series_folder_are_skipped(case, tmp_path, capsys):
    d = junk_mixed_in(case, tmp_path)
    out = tmp_path / "out.dcm"
    ds = converts(capsys, ["itk2seg", case["lab"], "-d", d, "-m", case["meta"], "-o", out], output=out)
    non_empty = int(case["labels"].reshape(SHAPE[0], -1).any(axis=1).sum())
    assert len(ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == non_empty


def test_same_file_twice_is_counted_once(case, tmp_path, capsys):
    d = copied_file(case, tmp_path)
    out = tmp_path / "out.dcm"
    # the copy is named in one warning line (issue 11: byte-identical duplicates are noted, not silent)
    converts(capsys, ["itk2seg", case["lab"], "-d", d, "-m", case["meta"], "-o", out], output=out, warnings=1)


def test_several_series_with_series_uid_converts(case, tmp_path, capsys):
    d = two_series(case, tmp_path)
    uid = str(pydicom.dcmread(ct_files(d / "second")[0]).SeriesInstanceUID)
    out = tmp_path / "out.dcm"
    ds = converts(
        capsys, ["itk2seg", case["lab"], "-d", d, "-m", case["meta"], "-o", out, "--series-uid", uid], output=out
    )
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == uid


def test_binary_multi_file_with_matching_lists_converts(case, tmp_path, capsys):
    meta = meta_variant(
        case, tmp_path, "twofiles.json", lambda d: d["segmentAttributes"].append(d["segmentAttributes"][0])
    )
    out = tmp_path / "out.dcm"
    ds = converts(
        capsys,
        ["itk2seg", case["lab"], case["nii"], "-d", case["ct"], "-m", meta, "-o", out, "--type", "binary"],
        output=out,
        warnings=1,
    )  # the renumbering note
    assert ds.SegmentationType == "BINARY"
    assert len(ds.SegmentSequence) == 2 * len(LABELS)


def test_successful_write_replaces_an_existing_file(case, tmp_path, capsys):
    out = tmp_path / "out.dcm"
    out.write_bytes(GOOD)
    converts(capsys, ["itk2seg", case["lab"], "-d", case["ct"], "-m", case["meta"], "-o", out], output=out)
    assert out.read_bytes() != GOOD


# --------------------------------------------------------------------------- output locations
OUTPUT_COMMANDS = {
    "itk2seg": lambda c, o: ["itk2seg", c["lab"], "-d", c["ct"], "-m", c["meta"], "-o", o],
    "itkimage2segimage": lambda c, o: [
        "itkimage2segimage",
        "--inputImageList",
        c["lab"],
        "--inputDICOMDirectory",
        c["ct"],
        "--inputMetadata",
        c["meta"],
        "--outputDICOM",
        o,
    ],
    "bin2label": lambda c, o: ["bin2label", c["binary"], "-o", o],
    "bin2labelsegimage": lambda c, o: ["bin2labelsegimage", "--inputDICOM", c["binary"], "--outputDICOM", o],
    "preview": lambda c, o: ["preview", c["binary"], "-o", o],
}


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_folder_does_not_exist(case, tmp_path, capsys, command):
    target = tmp_path / "missing" / "x.dcm"
    rc, stdout, err = run_cli(capsys, *OUTPUT_COMMANDS[command](case, target))
    one_line_error(rc, stdout, err, ["missing", "does not exist", "create it"])
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_parent_is_a_file(case, tmp_path, capsys, command):
    """Fails even for root: a path below a regular file cannot be created."""
    blocker = tmp_path / "afile"
    blocker.write_bytes(GOOD)
    rc, stdout, err = run_cli(capsys, *OUTPUT_COMMANDS[command](case, blocker / "x.dcm"))
    one_line_error(rc, stdout, err, ["afile", "not a folder"])
    assert blocker.read_bytes() == GOOD
    assert listing(tmp_path) == {"afile"}


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_is_an_existing_folder(case, tmp_path, capsys, command):
    target = tmp_path / "seg.dcm"
    target.mkdir()
    (target / "keep.txt").write_bytes(GOOD)
    rc, stdout, err = run_cli(capsys, *OUTPUT_COMMANDS[command](case, target))
    one_line_error(rc, stdout, err, ["seg.dcm", "folder"])
    assert listing(tmp_path) == {"seg.dcm", "seg.dcm/keep.txt"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_folder_not_writable(case, tmp_path, capsys, command):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "x.dcm").write_bytes(GOOD)
    folder.chmod(0o555)
    try:
        rc, stdout, err = run_cli(capsys, *OUTPUT_COMMANDS[command](case, folder / "x.dcm"))
        one_line_error(rc, stdout, err, ["ro", "not writable"])
        assert listing(folder) == {"x.dcm"}
        assert (folder / "x.dcm").read_bytes() == GOOD
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_is_not_a_regular_file(case, tmp_path, capsys, command):
    """A FIFO (or a device such as /dev/full) at the output path is refused, never replaced by a file."""
    target = tmp_path / "pipe.dcm"
    os.mkfifo(target)
    rc, stdout, err = run_cli(capsys, *OUTPUT_COMMANDS[command](case, target))
    one_line_error(rc, stdout, err, ["pipe.dcm", "not a regular file"])
    assert target.is_fifo()


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_is_an_input(case, tmp_path, capsys, command):
    """Writing over an input file is refused (the input is kept as it is)."""
    lab, binary = tmp_path / "lab.nrrd", tmp_path / "binary.dcm"
    shutil.copy(case["lab"], lab)
    shutil.copy(case["binary"], binary)
    local = dict(case, lab=lab, binary=binary)
    target = binary if command.startswith("bin2") or command == "preview" else lab
    before = target.read_bytes()
    rc, stdout, err = run_cli(capsys, *OUTPUT_COMMANDS[command](local, target))
    one_line_error(rc, stdout, err, [target.name, "also an input", "another output name"])
    assert target.read_bytes() == before
    assert listing(tmp_path) == {"lab.nrrd", "binary.dcm"}


def _limit_file_size(limit: int):
    def preexec():  # runs in the child: writes past ``limit`` bytes fail with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("command", ["itk2seg", "bin2label"])
def test_disk_error_while_writing_is_one_line(case, tmp_path, command):
    """A write that fails half-way (here: the file size limit, as a full disk would) leaves nothing behind."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.dcm").write_bytes(GOOD)
    args = [str(a) for a in OUTPUT_COMMANDS[command](case, out / "x.dcm")] + ["--compression", "none"]
    proc = subprocess.run(
        [str(LABELMAP_CONVERT), *args], capture_output=True, text=True, timeout=60, preexec_fn=_limit_file_size(2048)
    )
    line = one_line_error(proc.returncode, proc.stdout, proc.stderr, ["x.dcm", "File too large"])
    assert ".part" not in line and ".lm-" not in line  # the target is named, not a temporary
    assert listing(out) == {"x.dcm"}
    assert (out / "x.dcm").read_bytes() == GOOD


# --------------------------------------------------------------------------- as a real process
SUBPROCESS_CASES = [
    "float label 1.5",
    "malformed JSON",
    "several series",
    "slice missing in the middle",
    "random bytes .nii.gz",
    "NRRD raw data truncated",
    "dcmqi: float label 1.5",
    "bin2labelsegimage: LABELMAP input",
]


def test_bad_inputs_as_subprocess(case, tmp_path):
    """The installed console script: exit 1, one line, no traceback, nothing on stdout, no output file."""
    for name in SUBPROCESS_CASES:
        t = tmp_path / name.replace(" ", "_").replace(":", "")
        t.mkdir()
        args, needles = ERRORS[name](case, t)
        (t / "out").mkdir()
        proc = subprocess.run([str(LABELMAP_CONVERT), *map(str, args)], capture_output=True, text=True, timeout=60)
        one_line_error(proc.returncode, proc.stdout, proc.stderr, needles, folders=[tmp_path, case["root"]])
        assert proc.stdout == ""
        assert listing(t / "out") == set()
