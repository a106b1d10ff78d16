"""--deterministic-uids (WriteOptions.deterministic_uids): same inputs and options -> the same UIDs;
any change of a label, the metadata, the source series or an option -> new ones; random without it."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _images import write_image
from _slides import write_wsi_pyramid

from labelmap.demo.sample import sample_metadata, write_ct_series
from labelmap.dicom.uids import is_uid
from labelmap.validate import check_seg

from _cli import LABEL_VALUES, make_case, run_cli

hd = pytest.importorskip("highdicom")

#: The UIDs the writer mints (the Study / Frame of Reference UIDs are the source's).
MINTED = ("SOPInstanceUID", "SeriesInstanceUID", "DimensionOrganizationUID", "TrackingUIDs")


def uids_of(path: Path) -> dict[str, object]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    found: dict[str, object] = {
        "SOPInstanceUID": ds.SOPInstanceUID,
        "SeriesInstanceUID": ds.SeriesInstanceUID,
        "DimensionOrganizationUID": ds.DimensionOrganizationSequence[0].DimensionOrganizationUID,
        "TrackingUIDs": tuple(str(s.TrackingUID) for s in ds.SegmentSequence if "TrackingUID" in s),
    }
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    if "PyramidUID" in ds:
        found["PyramidUID"] = ds.PyramidUID
    return found


def check_minted(uids: dict[str, object]) -> None:
    """Every minted UID is a 2.25 UID of a version 8 (derived) UUID, at most 64 characters."""
    values = [u for v in uids.values() for u in (v if isinstance(v, tuple) else (v,))]
    for uid in values:
        assert isinstance(uid, str) and is_uid(uid) and len(uid) <= 64 and uid.startswith("2.25."), uid
        assert uuid.UUID(int=int(uid[5:])).version == 8
    assert len(set(values)) == len(values)  # each UID of a file differs


def all_differ(a: dict[str, object], b: dict[str, object]) -> bool:
    flat = lambda d: {u for v in d.values() for u in (v if isinstance(v, tuple) else (v,))}  # noqa: E731
    return not (flat(a) & flat(b))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("uids")
    c = make_case(root)
    meta = sample_metadata(LABEL_VALUES)
    for i, entry in enumerate(meta["segmentAttributes"][0]):
        entry["TrackingIdentifier"] = f"organ {i + 1}"  # Tracking UIDs minted by us
    c["meta"].write_text(json.dumps(meta, indent=2))
    c["metadata"] = meta
    return c


def itk2seg(capsys, case, out: Path, *extra, labels=None, meta=None, dicom=None) -> dict[str, object]:
    args = [labels or case["lab"], "-d", dicom or case["ct"], "-m", meta or case["meta"], "-o", out, "-q", *extra]
    rc, _, err = run_cli(capsys, "itk2seg", *args)
    assert rc == 0, err
    return uids_of(out)


@pytest.mark.parametrize("seg_type", ["labelmap", "binary"])
def test_same_inputs_same_uids_valid_and_read_by_highdicom(case, tmp_path, capsys, seg_type):
    flags = ("--deterministic-uids", "--type", seg_type)
    first = itk2seg(capsys, case, tmp_path / "a.dcm", *flags)
    (tmp_path / "sub").mkdir()
    second = itk2seg(capsys, case, tmp_path / "sub" / "b.dcm", *flags)  # another path: the same UIDs
    assert first == second
    assert len(first["TrackingUIDs"]) == len(LABEL_VALUES)
    check_minted(first)
    validation = check_seg(tmp_path / "a.dcm")
    assert not validation.errors, validation.errors
    seg = hd.seg.segread(tmp_path / "a.dcm")
    assert seg.SOPInstanceUID == first["SOPInstanceUID"]
    assert sorted(seg.get_segment_numbers()) == ([1, 2, 3, 4] if seg_type == "binary" else LABEL_VALUES)


def test_without_the_flag_every_write_mints_new_uids(case, tmp_path, capsys):
    first = itk2seg(capsys, case, tmp_path / "a.dcm")
    second = itk2seg(capsys, case, tmp_path / "b.dcm")
    assert all_differ(first, second)


def test_any_change_gives_new_uids(case, tmp_path, capsys):
    base = itk2seg(capsys, case, tmp_path / "base.dcm", "--deterministic-uids")
    # one voxel of the label image
    labels = case["labels"].copy()
    k, j, i = (int(v[0]) for v in np.nonzero(labels == 2))
    labels[k, j, i] = 4
    voxel = tmp_path / "voxel.nrrd"
    write_image(voxel, labels, case["geometry"])
    # the metadata
    meta = json.loads(json.dumps(case["metadata"]))
    meta["SeriesDescription"] = "Organs, second reading"
    meta_path = tmp_path / "m2.json"
    meta_path.write_text(json.dumps(meta))
    # another source series on the same grid
    other_ct = tmp_path / "ct2"
    write_ct_series(other_ct, case["geometry"], seed=7)
    changed = {
        "voxel": itk2seg(capsys, case, tmp_path / "1.dcm", "--deterministic-uids", labels=voxel),
        "metadata": itk2seg(capsys, case, tmp_path / "2.dcm", "--deterministic-uids", meta=meta_path),
        "series": itk2seg(capsys, case, tmp_path / "3.dcm", "--deterministic-uids", dicom=other_ct),
        "compression": itk2seg(capsys, case, tmp_path / "4.dcm", "--deterministic-uids", "--compression", "none"),
        "type": itk2seg(capsys, case, tmp_path / "5.dcm", "--deterministic-uids", "--type", "binary"),
    }
    for what, uids in changed.items():
        check_minted(uids)
        assert all_differ(base, uids), what
    values = [u["SOPInstanceUID"] for u in changed.values()]
    assert len(set(values)) == len(values)


def test_the_same_file_bytes_elsewhere_give_the_same_uids(case, tmp_path, capsys):
    """Paths are not in the seed: copies of the inputs under other names write the same UIDs."""
    base = itk2seg(capsys, case, tmp_path / "base.dcm", "--deterministic-uids")
    lab, meta = tmp_path / "copy.nrrd", tmp_path / "copy.json"
    lab.write_bytes(case["lab"].read_bytes())
    meta.write_bytes(case["meta"].read_bytes())
    assert itk2seg(capsys, case, tmp_path / "c.dcm", "--deterministic-uids", labels=lab, meta=meta) == base


def test_itkimage2segimage_takes_the_flag(case, tmp_path, capsys):
    from _cli import dcmqi_write_args

    outs = [tmp_path / "a.dcm", tmp_path / "b.dcm"]
    for out in outs:
        rc, _, err = run_cli(capsys, *dcmqi_write_args(case, out, "--deterministic-uids"))
        assert rc == 0, err
    assert uids_of(outs[0]) == uids_of(outs[1])
    check_minted(uids_of(outs[0]))
    # dcmqi's defaults are options too: the same files written by itk2seg get other UIDs
    assert all_differ(uids_of(outs[0]), itk2seg(capsys, case, tmp_path / "n.dcm", "--deterministic-uids"))


def test_bin2label_same_input_same_uids(case, tmp_path, capsys):
    binary = tmp_path / "binary.dcm"
    itk2seg(capsys, case, binary, "--type", "binary")
    outs = {}
    for name, extra in (("a", ()), ("b", ()), ("palette", ("--palette",))):
        out = tmp_path / f"{name}.dcm"
        rc, _, err = run_cli(capsys, "bin2label", binary, "-o", out, "-q", "--deterministic-uids", *extra)
        assert rc == 0, err
        found = uids_of(out)
        # the input's Tracking UIDs are kept; the others are minted
        assert found.pop("TrackingUIDs") == uids_of(binary)["TrackingUIDs"]
        outs[name] = found
    assert outs["a"] == outs["b"]
    check_minted(outs["a"])
    assert all_differ(outs["a"], outs["palette"])
    assert not check_seg(tmp_path / "a.dcm").errors
    assert hd.seg.segread(tmp_path / "a.dcm").SOPInstanceUID == outs["a"]["SOPInstanceUID"]
    # another BINARY SEG of the same labels (new random UIDs) -> new UIDs
    other = tmp_path / "binary2.dcm"
    itk2seg(capsys, case, other, "--type", "binary")
    out = tmp_path / "c.dcm"
    assert run_cli(capsys, "bin2label", other, "-o", out, "-q", "--deterministic-uids")[0] == 0
    changed = uids_of(out)
    del changed["TrackingUIDs"]
    assert all_differ(outs["a"], changed)


def test_api_volumes_derive_uids_from_their_values(case, tmp_path):
    from labelmap import load_source, read_labels
    from labelmap.formats.dcmqi_json import load_metadata
    from labelmap.pipeline.convert import write_seg
    from labelmap.pipeline.options import WriteOptions

    volume = read_labels(case["lab"])
    volume = replace(volume, segments=tuple(s for inner in load_metadata(case["meta"]).segments for s in inner))
    source = load_source(case["ct"])
    options = WriteOptions(deterministic_uids=True)
    write_seg(volume, source, tmp_path / "a.dcm", options=options)
    write_seg(volume, source, tmp_path / "b.dcm", options=options)
    assert uids_of(tmp_path / "a.dcm") == uids_of(tmp_path / "b.dcm")
    changed = volume.array.copy()
    changed[np.nonzero(changed)[0][0], np.nonzero(changed)[1][0], np.nonzero(changed)[2][0]] = 0
    write_seg(replace(volume, array=changed), source, tmp_path / "c.dcm", options=options)
    assert all_differ(uids_of(tmp_path / "a.dcm"), uids_of(tmp_path / "c.dcm"))


SIZES = ((601, 477), (301, 239))


@pytest.fixture(scope="module")
def slide_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("uidslide")
    slide = root / "slide"
    write_wsi_pyramid(slide, sizes=SIZES, tile=(256, 256), photometric="MONOCHROME2")
    labels = np.zeros(SIZES[0], np.uint8)
    labels[100:500, 50:300] = 1
    labels[300:601, 350:477] = 3
    np.save(root / "labels.npy", labels)
    meta = sample_metadata([1, 3])
    for entry in meta["segmentAttributes"][0]:
        entry["TrackingIdentifier"] = f"region {entry['labelID']}"
    (root / "m.json").write_text(json.dumps(meta))
    return {"root": root, "slide": slide, "labels": labels, "npy": root / "labels.npy", "meta": root / "m.json"}


def test_slide_pyramid_same_inputs_same_uids(slide_case, tmp_path, capsys):
    c = slide_case

    def write(name: str, *extra) -> list[dict[str, object]]:
        out = tmp_path / name / "seg.dcm"
        out.parent.mkdir()
        args = [c["npy"], "--dicom", c["slide"], "-m", c["meta"], "-o", out, "--pyramid", "-q", *extra]
        rc, _, err = run_cli(capsys, "itk2seg", *args)
        assert rc == 0, err
        return [uids_of(out), uids_of(out.with_name("seg-L1.dcm"))]

    first, second = write("a", "--deterministic-uids"), write("b", "--deterministic-uids")
    assert first == second
    level0, level1 = first
    # one series and one pyramid, the same segment's Tracking UID on every level, an instance per level
    for key in ("SeriesInstanceUID", "PyramidUID", "TrackingUIDs"):
        assert level0[key] == level1[key], key
    assert level0["SOPInstanceUID"] != level1["SOPInstanceUID"]
    assert level0["DimensionOrganizationUID"] != level1["DimensionOrganizationUID"]
    check_minted({k: v for k, v in level0.items()})
    assert not check_seg(tmp_path / "a" / "seg.dcm").errors
    seg = hd.seg.segread(tmp_path / "a" / "seg.dcm")
    np.testing.assert_array_equal(seg.get_total_pixel_matrix(combine_segments=True), c["labels"])
    # another tiling option -> other UIDs; no flag -> random ones
    assert all_differ(level0, write("c", "--deterministic-uids", "--tiled", "sparse")[0])
    assert all_differ(level0, write("d")[0])


def test_bin2label_of_a_dataset_derives_uids_from_its_content(case, tmp_path, capsys):
    """A pydicom Dataset has no file bytes: its SOP Instance UID, label values and segments seed the UIDs."""
    from labelmap.pipeline.bin2label import binary_to_labelmap
    from labelmap.pipeline.options import WriteOptions

    binary = tmp_path / "binary.dcm"
    itk2seg(capsys, case, binary, "--type", "binary")
    options = WriteOptions(deterministic_uids=True)
    for name in ("a", "b"):
        binary_to_labelmap(pydicom.dcmread(binary), tmp_path / f"{name}.dcm", options=options)
    first = uids_of(tmp_path / "a.dcm")
    assert first == uids_of(tmp_path / "b.dcm")
    edited = pydicom.dcmread(binary)
    edited.SegmentSequence[0].SegmentLabel = "renamed"
    binary_to_labelmap(edited, tmp_path / "c.dcm", options=options)
    changed = uids_of(tmp_path / "c.dcm")
    del first["TrackingUIDs"], changed["TrackingUIDs"]  # the input's, kept
    assert all_differ(first, changed)
