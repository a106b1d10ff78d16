"""A SEG written from an in-memory image (nibabel, SimpleITK) is the SEG written from its file: the same pixels,
frames, positions and segments (only the generated UIDs and creation times differ); and highdicom, for users who
continue there, reads the SEG ``read_seg`` reads to the same voxels."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

import labelmap
from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.formats.nifti_grid import ras_affine

from _geometries import las_geometry, make_ct_series, oblique_geometry
from _interop import volume_geometry, world_compare

#: what differs between two writes of one input: generated UIDs and creation times
VOLATILE = {
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "ContentDate",
    "ContentTime",
    "SeriesDate",
    "SeriesTime",
    "DimensionOrganizationUID",
}


def content(path) -> dict:
    """The SEG's data set as JSON, without what differs between two writes of the same input."""

    def scrub(ds) -> None:
        for elem in list(ds):
            if elem.keyword in VOLATILE:
                del ds[elem.tag]
            elif elem.VR == "SQ":
                for item in elem.value:
                    scrub(item)

    ds = pydicom.dcmread(str(path))
    scrub(ds)
    return ds.to_json_dict(bulk_data_threshold=1 << 30, bulk_data_element_handler=lambda e: "")


def same(a, b, ds_tol: float, where: str = "") -> None:
    """Equal JSON data sets; decimal strings (positions, orientation, spacing) within ``ds_tol``."""
    if isinstance(a, dict) and a.get("vr") == "DS" and ds_tol:
        assert b.get("vr") == "DS", where
        np.testing.assert_allclose(
            np.asarray(a.get("Value", []), float),
            np.asarray(b.get("Value", []), float),
            rtol=0,
            atol=ds_tol,
            err_msg=where,
        )
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for key in a:
            name = pydicom.datadict.keyword_for_tag(int(key, 16)) if len(key) == 8 and key.isalnum() else key
            same(a[key], b[key], ds_tol, f"{where}/{name}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b)):
            same(x, y, ds_tol, f"{where}[{n}]")
    else:
        assert a == b, where


def assert_same_seg(a, b, ds_tol: float = 0.0) -> None:
    """Two SEG files with the same content: every attribute but UIDs and times, and the pixel data."""
    same(content(a), content(b), ds_tol)
    assert pydicom.dcmread(str(a)).PixelData == pydicom.dcmread(str(b)).PixelData


@pytest.fixture(scope="module", params=["oblique", "las"])
def case(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    geometry = (oblique_geometry if request.param == "oblique" else las_geometry)(shape=(5, 22, 21))
    ct = make_ct_series(tmp, geometry)
    labels = organ_phantom(geometry, 3, seed=2).astype(np.uint16)
    meta = tmp / "m.json"
    meta.write_text(json.dumps(sample_metadata([int(v) for v in np.unique(labels) if v])))
    return dict(tmp=tmp, geometry=geometry, ct=ct, meta=meta, labels=labels)


def from_file(case, path):
    """The SEG ``itk_to_seg`` writes from the label file ``path``."""
    out = path.with_name(path.name + ".seg.dcm")
    labelmap.itk_to_seg([path], [case["ct"]], case["meta"], out)
    return out


def from_memory(case, volume, name):
    """The SEG ``write_seg`` writes from an in-memory volume, described by the same JSON."""
    meta = labelmap.load_metadata(case["meta"])
    volume = labelmap.LabelVolume(volume.array, volume.geometry, meta.segments[0])
    out = case["tmp"] / name
    labelmap.write_seg(volume, labelmap.load_source(case["ct"]), out, series=meta.series)
    return out


def test_seg_from_a_nibabel_image_is_the_seg_from_its_file(case):
    built = nib.Nifti1Image(case["labels"].transpose(2, 1, 0), ras_affine(case["geometry"]))  # never a file
    path = case["tmp"] / "built.nii.gz"
    nib.save(built, str(path))
    assert_same_seg(from_memory(case, labelmap.from_nifti(built), "nib-built.dcm"), from_file(case, path))
    ours = case["tmp"] / "ours.nii.gz"  # an image nibabel loads from our file
    labelmap.write_labels(ours, labelmap.LabelVolume(case["labels"], case["geometry"]))
    loaded = labelmap.from_nifti(nib.load(str(ours)))
    assert_same_seg(from_memory(case, loaded, "nib-loaded.dcm"), from_file(case, ours))


def test_seg_from_a_simpleitk_image_is_the_seg_from_its_file(case):
    sitk = pytest.importorskip("SimpleITK")
    built = labelmap.to_sitk(labelmap.LabelVolume(case["labels"], case["geometry"]))
    path = case["tmp"] / "sitk.nrrd"  # NRRD keeps the grid exactly: the built image itself is the file
    sitk.WriteImage(built, str(path))
    assert_same_seg(from_memory(case, labelmap.from_sitk(built), "sitk-built.dcm"), from_file(case, path))
    path = case["tmp"] / "sitk.nii.gz"  # NIfTI rounds the grid to float32 (1e-5 mm): the same but for that
    sitk.WriteImage(built, str(path))
    assert_same_seg(from_memory(case, labelmap.from_sitk(built), "sitk-nii.dcm"), from_file(case, path), 1e-4)
    read = labelmap.from_sitk(sitk.ReadImage(str(path)))  # ITK reads the file its own way (float32 again)
    assert_same_seg(from_memory(case, read, "sitk-read.dcm"), from_file(case, path), 1e-4)


def test_highdicom_reads_what_read_seg_reads(case):
    """The documented one-liner: ``highdicom.seg.segread(path)`` gives a highdicom Segmentation of our file."""
    hd = pytest.importorskip("highdicom")
    path = case["tmp"] / "hd.nrrd"
    labelmap.write_labels(path, labelmap.LabelVolume(case["labels"], case["geometry"]))
    seg = from_file(case, path)
    ours = labelmap.read_seg(seg)
    theirs = hd.seg.segread(str(seg))
    assert isinstance(theirs, hd.seg.Segmentation)
    numbers = [int(s.SegmentNumber) for s in theirs.SegmentSequence]  # with the background item (0)
    assert [n for n in numbers if n] == [s.number for s in ours.segments]
    volume = theirs.get_volume(combine_segments=True, relabel=False)
    array = np.asarray(volume.array)
    world_compare(
        ours.volume_of([s.number for s in ours.segments]),
        ours.geometry,
        array,
        volume_geometry(volume.affine, array.shape),
    )


def test_itk_to_seg_takes_images_in_memory(case):
    """itk_to_seg with a nibabel image, a SimpleITK image or a LabelVolume where a file goes: the file's SEG."""
    sitk = pytest.importorskip("SimpleITK")
    volume = labelmap.LabelVolume(case["labels"], case["geometry"])
    path = case["tmp"] / "itk.nrrd"
    labelmap.write_labels(path, volume)
    expected = from_file(case, path)
    for name, image in (
        ("volume", volume),
        ("sitk", labelmap.to_sitk(volume)),
        ("sitk-list", [sitk.ReadImage(str(path))]),
    ):
        out = case["tmp"] / f"itk-{name}.dcm"
        report = labelmap.itk_to_seg(image, [case["ct"]], case["meta"], out)
        assert report.frames == pydicom.dcmread(str(expected)).NumberOfFrames
        assert_same_seg(out, expected)
    nii = case["tmp"] / "itk.nii.gz"
    labelmap.write_labels(nii, volume)
    out = case["tmp"] / "itk-nib.dcm"
    labelmap.itk_to_seg([nib.load(str(nii))], [case["ct"]], case["meta"], out)
    assert_same_seg(out, from_file(case, nii))


def test_itk_to_seg_names_an_image_in_memory_in_its_errors(case, tmp_path):
    volume = labelmap.LabelVolume(case["labels"], case["geometry"])
    two = json.loads(case["meta"].read_text())
    two["segmentAttributes"] = two["segmentAttributes"] * 2
    meta = tmp_path / "two.json"
    meta.write_text(json.dumps(two))
    with pytest.raises(labelmap.MetadataError, match=r"2 inner list\(s\) but 1 label image\(s\) .*<label volume 1>"):
        labelmap.itk_to_seg([volume], [case["ct"]], meta, tmp_path / "x.dcm")
    g = case["geometry"]
    off_grid = labelmap.Geometry(g.origin + 500.0, g.direction, g.spacing, g.shape)  # 50 cm away from the CT
    moved = labelmap.LabelVolume(case["labels"], off_grid)
    with pytest.raises(labelmap.LabelmapError, match="<label volume 1>"):
        labelmap.itk_to_seg([moved], [case["ct"]], case["meta"], tmp_path / "y.dcm")
    assert not list(tmp_path.glob("*.dcm"))


def test_deterministic_uids_from_an_image_in_memory(case, tmp_path):
    """--deterministic-uids: an in-memory image seeds the UIDs by its values and grid (the same image twice gives
    the same UIDs, another image others)."""
    options = labelmap.WriteOptions(deterministic_uids=True)
    volume = labelmap.LabelVolume(case["labels"], case["geometry"])
    changed = case["labels"].copy()
    changed[changed == 1] = 2
    uids = []
    for n, labels in enumerate((case["labels"], case["labels"].copy(), changed)):
        out = tmp_path / f"d{n}.dcm"
        labelmap.itk_to_seg(
            [labelmap.LabelVolume(labels, volume.geometry)], [case["ct"]], case["meta"], out, options=options
        )
        uids.append(pydicom.dcmread(str(out)).SOPInstanceUID)
    assert uids[0] == uids[1] != uids[2]
