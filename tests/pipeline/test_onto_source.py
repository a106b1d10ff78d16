"""Label grids that are whole-voxel blocks of the CT (3D Slicer's crop to the segments' extent, cropped
NRRD / NIfTI exports, grids with a background margin beyond the CT) are padded onto the CT grid; labels
outside the CT or off its lattice are refused.  Every result is checked in world space: each labelled
voxel of the file, placed by the file's own header (read independently, with pynrrd / nibabel), must
land on the CT voxel that holds its segment in the SEG, and nowhere else."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
from _images import write_image
from _slicer import DICOM_MASTER, SlicerSegment, write_slicer_segnrrd

from labelmap.errors import GeometryError, SliceMatchError
from labelmap.formats.segnrrd import read_segnrrd
from labelmap.geometry import match_slices
from labelmap.model import Geometry
from labelmap.pipeline.convert import itk_to_seg, load_source, read_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.placement import onto_source

from _cli import run_cli
from _geometries import axial_geometry, las_geometry, make_ct_series, oblique_geometry
from _segfiles import run_cli_error

GEOMETRIES = [axial_geometry, las_geometry, oblique_geometry]
SHAPE = (9, 22, 21)  # [k, j, i]

LIVER = SlicerSegment(
    "liver", 0, 1, (0.866667, 0.509804, 0.396078), "SCT^123037004^Anatomical Structure", "SCT^10200004^Liver"
)
KIDNEY = SlicerSegment(
    "right kidney",
    0,
    2,
    (0.72549, 0.4, 0.32549),
    "SCT^123037004^Anatomical Structure",
    "SCT^64033007^Kidney",
    "SCT^24028007^Right",
)
MASS = SlicerSegment(
    "renal mass",
    1,
    1,
    (1.0, 0.0, 0.0),
    "SCT^49755003^Morphologically Altered Structure",
    "SCT^4147007^Mass",
    region="SCT^64033007^Kidney",
    context=DICOM_MASTER,
    extra_tags={"DICOM.SegmentAlgorithmType": "SEMIAUTOMATIC", "DICOM.SegmentAlgorithmName": "GrowCut"},
)


def organs(shape=SHAPE) -> np.ndarray:
    """Liver (1) and kidney (2) well inside the CT: the cropped file is much smaller than the CT."""
    a = np.zeros(shape, np.uint8)
    a[2:6, 4:10, 3:9] = 1
    a[3:7, 11:17, 10:18] = 2
    a[4, 9, 9] = 2
    return a


def mass(shape=SHAPE) -> np.ndarray:
    """A mass (value 1 in its own layer) across both organs."""
    b = np.zeros(shape, np.uint8)
    b[4:8, 8:13, 7:12] = 1
    return b


def file_voxels_in_world(path: Path) -> dict[tuple[int, int], np.ndarray]:
    """{(layer, value): (N, 3) LPS positions} of every labelled voxel, from the header as pynrrd reads it."""
    data, header = nrrd.read(str(path), index_order="C")
    dirs = np.asarray(header["space directions"], dtype=float)
    layers = [data] if data.ndim == 3 else [data[..., m] for m in range(data.shape[-1])]
    if data.ndim == 4:
        dirs = dirs[1:]
    origin = np.asarray(header["space origin"], dtype=float)
    flip = {"right-anterior-superior": np.array([-1.0, -1.0, 1.0])}.get(header["space"], np.ones(3))
    out = {}
    for m, layer in enumerate(layers):
        for value in np.unique(layer[layer != 0]):
            k, j, i = np.nonzero(layer == value)
            ijk = np.stack([i, j, k], axis=1).astype(float)
            out[(m, int(value))] = (ijk @ dirs + origin) * flip
    return out


def check_exact(seg: Path, ct: Path, ct_geometry: Geometry, expected: dict[int, np.ndarray]) -> None:
    """The SEG read on the CT grid holds exactly ``expected`` ({segment number: (N, 3) LPS positions})."""
    decoded = read_seg(seg, reference=ct)
    assert decoded.geometry.max_deviation(ct_geometry) < 1e-4
    for number, points in expected.items():
        mask = decoded.volume_of([number]) == number
        idx = np.rint(ct_geometry.lps_to_index(points)).astype(int)
        assert np.abs(ct_geometry.lps_to_index(points) - idx).max() < 1e-4  # on the CT's voxel centres
        assert mask[idx[:, 2], idx[:, 1], idx[:, 0]].all(), number
        assert int(mask.sum()) == len(points), number


# --------------------------------------------------------------------------- Slicer files
@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior", "3D-right-handed"])
@pytest.mark.parametrize("make", GEOMETRIES, ids=["axial", "las", "oblique"])
def test_slicer_cropped_file_is_exact_on_the_ct(tmp_path, capsys, make, space):
    geometry = make(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    src = write_slicer_segnrrd(tmp_path / "organs.seg.nrrd", [organs()], geometry, [LIVER, KIDNEY], space=space)
    header = nrrd.read_header(str(src))
    assert [int(v) for v in header["sizes"]] == [15, 13, 5]  # cropped to the segments' extent
    assert header["Segmentation_ReferenceImageExtentOffset"] == "3 4 2"
    seg = tmp_path / "organs.dcm"
    rc, out, err = run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg)
    assert rc == 0 and err == "", err
    ds = pydicom.dcmread(seg)
    assert (ds.SegmentationType, ds.Rows, ds.Columns) == ("LABELMAP", SHAPE[1], SHAPE[2])
    world = file_voxels_in_world(src)
    check_exact(seg, ct, geometry, {1: world[(0, 1)], 2: world[(0, 2)]})
    # every frame references the CT image at its position
    positions = {str(f.PlanePositionSequence[0].ImagePositionPatient) for f in ds.PerFrameFunctionalGroupsSequence}
    assert len(positions) == 5


@pytest.mark.parametrize("make", GEOMETRIES, ids=["axial", "las", "oblique"])
def test_slicer_layers_cropped_binary_round_trip(tmp_path, capsys, make):
    """Two layers sharing value 1, cropped: BINARY, Slicer's segment order, exact, and back to .seg.nrrd."""
    geometry = make(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    src = write_slicer_segnrrd(tmp_path / "o.seg.nrrd", [organs(), mass()], geometry, [MASS, LIVER, KIDNEY])
    assert nrrd.read_header(str(src))["kinds"] == ["list", "domain", "domain", "domain"]
    seg = tmp_path / "o.dcm"
    rc, out, err = run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg)
    assert rc == 0, err
    ds = pydicom.dcmread(seg)
    assert ds.SegmentationType == "BINARY" and ds.SegmentsOverlap == "YES"
    # Slicer's order (Segment0 = the mass in layer 1), not layer or value order
    assert [(int(s.SegmentNumber), str(s.SegmentLabel)) for s in ds.SegmentSequence] == [
        (1, "renal mass"),
        (2, "liver"),
        (3, "right kidney"),
    ]
    world = file_voxels_in_world(src)
    check_exact(seg, ct, geometry, {1: world[(1, 1)], 2: world[(0, 1)], 3: world[(0, 2)]})
    back = tmp_path / "back"
    back.mkdir()
    assert run_cli(capsys, "seg2itk", seg, "-o", back, "--format", "segnrrd", "-r", ct)[0] == 0
    volumes = read_segnrrd(back / "o.seg.nrrd")
    got = {s.label: (v.array == s.label_id) for v in volumes for s in v.segments}
    full = {"renal mass": mass() == 1, "liver": organs() == 1, "right kidney": organs() == 2}
    for name, mask in full.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)
    assert volumes[0].geometry.max_deviation(geometry) < 1e-4
    header = nrrd.read_header(str(back / "o.seg.nrrd"))
    assert [header[f"Segment{n}_Name"] for n in range(3)] == ["renal mass", "liver", "right kidney"]


def test_layers_without_overlap_give_labelmap_in_slicer_order(tmp_path, capsys):
    """Segment0 in layer 1 with value 7, Segment1 in layer 0 with value 1: numbers 1, 2 by header order."""
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    second = np.zeros(SHAPE, np.uint8)
    second[7, 18:20, 2:4] = 7  # away from the organs
    segs = [SlicerSegment("spot", 1, 7), SlicerSegment("liver", 0, 1)]
    src = write_slicer_segnrrd(tmp_path / "s.seg.nrrd", [np.where(organs() == 1, 1, 0), second], geometry, segs)
    seg = tmp_path / "s.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q")[0] == 0
    ds = pydicom.dcmread(seg)
    assert ds.SegmentationType == "LABELMAP"
    numbered = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence if int(s.SegmentNumber)}
    assert numbered == {1: "spot", 2: "liver"}
    world = file_voxels_in_world(src)
    check_exact(seg, ct, geometry, {1: world[(1, 7)], 2: world[(0, 1)]})


def test_margin_beyond_the_ct_is_cut_when_empty(tmp_path, capsys):
    """Slicer's extent reaching beyond the reference grid (its whole-extent option): background margin."""
    geometry = oblique_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    extent = (-3, 24, -2, 25, -2, 10)
    src = write_slicer_segnrrd(tmp_path / "m.seg.nrrd", [organs()], geometry, [LIVER, KIDNEY], extent=extent)
    seg = tmp_path / "m.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q", "--keep-empty-slices")[0] == 0
    assert int(pydicom.dcmread(seg).NumberOfFrames) == SHAPE[0]  # the CT's slices, not the file's 13
    world = file_voxels_in_world(src)
    check_exact(seg, ct, geometry, {1: world[(0, 1)], 2: world[(0, 2)]})


def test_labels_beyond_the_ct_are_refused(tmp_path, capsys):
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    big = np.zeros((SHAPE[0] + 2, SHAPE[1], SHAPE[2] + 3), np.uint8)
    big[:-2, :, 3:] = organs()
    big[9, 5, 1] = 2  # one slice past the CT's last, two columns before its first
    reference = Geometry(geometry.index_to_lps([-3, 0, 0]), geometry.direction, geometry.spacing, big.shape)
    src = write_slicer_segnrrd(tmp_path / "b.seg.nrrd", [big], reference, [LIVER, KIDNEY], crop=False)
    out = tmp_path / "out"
    line = run_cli_error(capsys, ["itk2seg", src, "--dicom", ct, "-o", out / "b.dcm"], out)
    for needle in (
        "b.seg.nrrd",
        "1 labelled voxel(s) lie outside the source series",
        "label value 2 'right kidney' (1 voxel)",
        "slice 9 (up to 1 slice, 2.5000 mm, past the series' last image)",
        "column 1 (up to 2 columns, 1.4000 mm, before the series' first column)",
    ):
        assert needle in line, line


def test_empty_slicer_segmentation_is_one_voxel_without_geometry(tmp_path):
    """Slicer writes a segmentation without labels as one voxel whose geometry means nothing."""
    geometry = axial_geometry(shape=SHAPE)
    src = write_slicer_segnrrd(tmp_path / "e.seg.nrrd", [np.zeros(SHAPE, np.uint8)], geometry, [LIVER])
    (volume,) = read_segnrrd(src)
    assert volume.array.shape == (1, 1, 1)
    moved = Geometry([500.0, 400.0, 300.0], np.eye(3), [1.0, 1.0, 1.0], (1, 1, 1))  # far from the CT
    source = load_source(make_ct_series(tmp_path, geometry))
    grid, index, (array,) = onto_source([volume.array], [moved], source, names=["e.seg.nrrd"])
    assert grid.shape == (1, SHAPE[1], SHAPE[2]) and index.tolist() == [0] and not array.any()


# --------------------------------------------------------------------------- plain NRRD / NIfTI crops
def _dcmqi_json(path: Path, lists: list[list[int]]) -> Path:
    code = {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Tissue"}
    path.write_text(
        json.dumps(
            {
                "segmentAttributes": [
                    [
                        {
                            "labelID": v,
                            "SegmentLabel": f"s{v}",
                            "SegmentAlgorithmType": "MANUAL",
                            "SegmentedPropertyCategoryCodeSequence": code,
                            "SegmentedPropertyTypeCodeSequence": code,
                        }
                        for v in inner
                    ]
                    for inner in lists
                ]
            }
        )
    )
    return path


def _crop(array: np.ndarray, geometry: Geometry, k0, k1, j0, j1, i0, i1) -> tuple[np.ndarray, Geometry]:
    origin = geometry.index_to_lps([i0, j0, k0])
    shape = (k1 - k0, j1 - j0, i1 - i0)
    return array[k0:k1, j0:j1, i0:i1], Geometry(origin, geometry.direction, geometry.spacing, shape)


def _nifti_world(path: Path) -> dict[int, np.ndarray]:
    """{value: LPS positions} of a NIfTI's labelled voxels, from its sform as nibabel reads it."""
    img = nib.load(str(path))
    data = np.asarray(img.dataobj)
    out = {}
    for value in np.unique(data[data != 0]):
        ijk = np.argwhere(data == value).astype(float)  # NIfTI arrays are [i, j, k]
        ras = nib.affines.apply_affine(img.affine, ijk)
        out[int(value)] = ras * np.array([-1.0, -1.0, 1.0])
    return out


@pytest.mark.parametrize("make", GEOMETRIES, ids=["axial", "las", "oblique"])
@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_cropped_export_itk2seg_and_dcmqi_flags(tmp_path, capsys, make, suffix):
    geometry = make(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    array, grid = _crop(organs(), geometry, 2, 7, 4, 18, 3, 18)
    label = tmp_path / f"crop{suffix}"
    write_image(label, array, grid)
    meta = _dcmqi_json(tmp_path / "m.json", [[1, 2]])
    full = organs()
    expected = {v: geometry.index_to_lps(np.argwhere(full == v)[:, ::-1].astype(float)) for v in (1, 2)}
    if suffix == ".nii.gz":  # the file's own affine says the same
        world = _nifti_world(label)
        for v in (1, 2):
            assert np.abs(np.sort(world[v], axis=0) - np.sort(expected[v], axis=0)).max() < 1e-3
    seg = tmp_path / "a.dcm"
    assert run_cli(capsys, "itk2seg", label, "--dicom", ct, "-m", meta, "-o", seg, "-q")[0] == 0
    check_exact(seg, ct, geometry, expected)
    dcmqi_seg = tmp_path / "d.dcm"
    rc, out, err = run_cli(
        capsys,
        "itkimage2segimage",
        "--inputImageList",
        label,
        "--inputDICOMDirectory",
        ct,
        "--inputMetadata",
        meta,
        "--outputDICOM",
        dcmqi_seg,
    )
    assert rc == 0, err
    ds = pydicom.dcmread(dcmqi_seg)
    assert (ds.SegmentationType, ds.Rows, ds.Columns) == ("BINARY", SHAPE[1], SHAPE[2])
    check_exact(dcmqi_seg, ct, geometry, expected)


def test_two_files_cropped_differently(tmp_path):
    geometry = oblique_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    liver, g1 = _crop(np.where(organs() == 1, 1, 0).astype(np.uint8), geometry, 2, 6, 4, 10, 3, 9)
    lesion, g2 = _crop(mass(), geometry, 4, 9, 8, 13, 7, 12)
    write_image(tmp_path / "liver.nrrd", liver, g1)
    write_image(tmp_path / "lesion.nii.gz", lesion, g2)
    meta = _dcmqi_json(tmp_path / "m.json", [[1], [1]])
    seg = tmp_path / "two.dcm"
    report = itk_to_seg(
        [tmp_path / "liver.nrrd", tmp_path / "lesion.nii.gz"], [ct], meta, seg, options=WriteOptions(seg_type="auto")
    )
    assert report.segmentation_type == "BINARY"  # the lesion overlaps the liver
    full = {1: organs() == 1, 2: mass() == 1}
    expected = {n: geometry.index_to_lps(np.argwhere(m)[:, ::-1].astype(float)) for n, m in full.items()}
    check_exact(seg, ct, geometry, expected)


# --------------------------------------------------------------------------- off the lattice
def _moved(geometry: Geometry, voxels, spacing=None) -> Geometry:
    return Geometry(
        geometry.index_to_lps(np.asarray(voxels, dtype=float)),
        geometry.direction,
        geometry.spacing if spacing is None else spacing,
        geometry.shape,
    )


@pytest.mark.parametrize("make", GEOMETRIES, ids=["axial", "las", "oblique"])
def test_off_lattice_is_refused_with_how_far(tmp_path, make):
    geometry = make(shape=SHAPE)
    source = load_source(make_ct_series(tmp_path, geometry))
    array, grid = _crop(organs(), geometry, 2, 7, 4, 18, 3, 18)
    shifted = _moved(grid, [0.25, 0, 0])
    with pytest.raises(SliceMatchError) as info:
        onto_source([array], [shifted], source, names=["half.nrrd"])
    msg = str(info.value)
    assert "half.nrrd: slice 0 does not match" in msg and "0.1750 mm" in msg
    assert "(0.250, 0.000, 0.000) voxels (columns, rows, slices) off the source's voxel lattice" in msg
    between = _moved(grid, [0, 0, 0.4])
    with pytest.raises(SliceMatchError, match=r"1\.0000 mm.*\(0\.000, 0\.000, 0\.400\) voxels"):
        onto_source([array], [between], source, names=["z.nrrd"])
    finer = Geometry(grid.origin, grid.direction, grid.spacing * [0.5, 1, 1], grid.shape)
    with pytest.raises(SliceMatchError, match="pixel spacing"):
        onto_source([array], [finer], source, names=["fine.nrrd"])


def test_second_file_off_the_first_ones_lattice(tmp_path):
    geometry = axial_geometry(shape=SHAPE)
    source = load_source(make_ct_series(tmp_path, geometry))
    a, g1 = _crop(organs(), geometry, 2, 7, 4, 18, 3, 18)
    b, g2 = _crop(mass(), geometry, 4, 9, 8, 13, 7, 12)
    with pytest.raises(GeometryError) as info:
        onto_source([a, b], [g1, _moved(g2, [0, 0.5, 0])], source, names=["a.nrrd", "b.nrrd"])
    msg = str(info.value)
    assert "b.nrrd: its grid differs from that of a.nrrd" in msg
    assert "origin (0.000, 0.500, 0.000) voxels = (0.0000, 0.4500, 0.0000) mm" in msg


def test_entirely_outside(tmp_path):
    geometry = axial_geometry(shape=SHAPE)
    source = load_source(make_ct_series(tmp_path, geometry))
    array, grid = _crop(organs(), geometry, 2, 7, 4, 18, 3, 18)
    with pytest.raises(GeometryError, match="far.nrrd: lies entirely outside the source series"):
        onto_source([array], [_moved(grid, [0, 0, 20])], source, names=["far.nrrd"])


def test_exact_grid_is_not_copied(tmp_path):
    geometry = oblique_geometry(shape=SHAPE)
    source = load_source(make_ct_series(tmp_path, geometry))
    array = organs()
    grid, index, (out,) = onto_source([array], [geometry], source, names=["x"])
    assert out is array and grid is not None and index.tolist() == list(range(SHAPE[0]))
    np.testing.assert_array_equal(match_slices(grid, source), index)


@pytest.mark.parametrize("perm, flips", [((2, 0, 1), (True, False, True)), ((0, 1, 2), (False, True, True))])
@pytest.mark.parametrize("make", GEOMETRIES, ids=["axial", "las", "oblique"])
def test_cropped_and_permuted_nifti(tmp_path, capsys, make, perm, flips):
    """A cropped block stored with permuted, flipped axes (a sagittal-stored NIfTI): re-indexed, then padded."""
    from _interop import permuted

    geometry = make(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    array, grid = permuted(*_crop(organs(), geometry, 1, 8, 3, 18, 2, 19), perm, flips)
    write_image(tmp_path / "p.nii.gz", array, grid)
    seg = tmp_path / "p.dcm"
    meta = _dcmqi_json(tmp_path / "m.json", [[1, 2]])
    assert run_cli(capsys, "itk2seg", tmp_path / "p.nii.gz", "--dicom", ct, "-m", meta, "-o", seg, "-q")[0] == 0
    full = organs()
    expected = {v: geometry.index_to_lps(np.argwhere(full == v)[:, ::-1].astype(float)) for v in (1, 2)}
    check_exact(seg, ct, geometry, expected)


def test_absurdly_far_grid(tmp_path):
    geometry = axial_geometry(shape=SHAPE)
    source = load_source(make_ct_series(tmp_path, geometry))
    far = Geometry(geometry.origin + [1e12, 0, 0], geometry.direction, geometry.spacing, (2, 3, 4))
    with pytest.raises(GeometryError, match=r"far.nrrd: its origin .* voxels \(columns, rows\) from the source"):
        onto_source([np.ones((2, 3, 4), np.uint8)], [far], source, names=["far.nrrd"])


@pytest.mark.parametrize("make", GEOMETRIES, ids=["axial", "las", "oblique"])
def test_highdicom_sees_the_labels_where_the_file_puts_them(tmp_path, capsys, make):
    """An independent reader: highdicom's volume of the SEG written from a cropped Slicer file holds each
    segment at exactly the world positions the file's own header gives its voxels."""
    hd = pytest.importorskip("highdicom")
    geometry = make(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    src = write_slicer_segnrrd(tmp_path / "o.seg.nrrd", [organs()], geometry, [KIDNEY, LIVER])
    seg = tmp_path / "o.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q")[0] == 0
    volume = hd.seg.segread(str(seg)).get_volume(combine_segments=True, relabel=False)
    array = np.asarray(volume.array)
    world = file_voxels_in_world(src)
    for number, key in ((1, (0, 2)), (2, (0, 1))):  # Slicer's order: kidney (value 2) is Segment0
        index = np.argwhere(array == number).astype(float)
        got = index @ volume.affine[:3, :3].T + volume.affine[:3, 3]
        want = world[key]
        assert got.shape == want.shape, number
        order = [np.lexsort(np.round(points, 4).T) for points in (got, want)]  # keys free of float noise
        np.testing.assert_allclose(got[order[0]], want[order[1]], atol=1e-3)


def test_dcmqi_reads_the_labels_where_the_file_puts_them(tmp_path, capsys):
    """dcmqi's segimage2itkimage, another independent reader, puts the padded LABELMAP's labels at the
    file's world positions."""
    from _interop import dcmqi_exe, dcmqi_read

    if not dcmqi_exe("segimage2itkimage").exists():
        pytest.skip("dcmqi is not installed")
    geometry = oblique_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    src = write_slicer_segnrrd(tmp_path / "o.seg.nrrd", [organs()], geometry, [LIVER, KIDNEY])
    seg = tmp_path / "o.dcm"
    assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q")[0] == 0
    array, grid, _ = dcmqi_read(seg, tmp_path / "dcmqi")
    world = file_voxels_in_world(src)
    for number, key in ((1, (0, 1)), (2, (0, 2))):
        got = grid.index_to_lps(np.argwhere(array == number)[:, ::-1].astype(float))
        want = world[key]
        assert got.shape == want.shape, number
        order = [np.lexsort(np.round(points, 4).T) for points in (got, want)]
        np.testing.assert_allclose(got[order[0]], want[order[1]], atol=1e-3)


def test_empty_slicer_segment_dropped_and_the_rest_numbered_in_order(tmp_path, capsys):
    """An empty segment between two others is left out (as dcmqi and Slicer's export do); the others are
    numbered 1, 2 in Slicer's order; --keep-absent-segments keeps it as segment 2."""
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(tmp_path, geometry)
    segs = [KIDNEY, SlicerSegment("spleen", 0, 3), LIVER]
    src = write_slicer_segnrrd(tmp_path / "g.seg.nrrd", [organs()], geometry, segs)
    for extra, want in (([], {1: "right kidney", 2: "liver"}), (["--keep-absent-segments"], None)):
        seg = tmp_path / f"g{len(extra)}.dcm"
        assert run_cli(capsys, "itk2seg", src, "--dicom", ct, "-o", seg, "-q", *extra)[0] == 0
        ds = pydicom.dcmread(seg)
        numbered = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence if int(s.SegmentNumber)}
        assert numbered == (want or {1: "right kidney", 2: "spleen", 3: "liver"})
    world = file_voxels_in_world(src)
    check_exact(tmp_path / "g0.dcm", ct, geometry, {1: world[(0, 2)], 2: world[(0, 1)]})
