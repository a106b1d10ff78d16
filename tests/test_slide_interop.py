"""Slide SEGs against highdicom 0.28, both ways, and frame geometry checked by hand (issue #12's judging).

a. Our LABELMAP / BINARY / FRACTIONAL SEGs, TILED_FULL and TILED_SPARSE, written through the CLI from
   synthetic WSI pyramids (tests/_slides.py) at odd sizes, read by highdicom to exactly the input.
b. Every frame of ours placed by hand with pydicom: frame k of TILED_FULL is tile k of the implicit
   order; a sparse frame's Row/Column and X/Y offsets equal positions computed here from the source
   level's origin, spacing and Image Orientation (Slide) (rotated and identity orientations).
c. highdicom's tiled SEGs (every type, full and sparse, native / RLE / JPEG-LS / JPEG 2000 where
   highdicom writes them) read by our ``seg2itk`` equal highdicom's own read.
d. ``validate`` finds nothing in our files (but the Deflated Image Frame note) and no error in highdicom's
   (only the Patient Orientation warning).
e. ``--pyramid``: one SEG per source level, origin and spacing copied, labels downsampled as Pillow's NEAREST.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from labelmap.cli import main
from labelmap.demo.sample import sample_metadata
from labelmap.validate import validate_seg

pytestmark = pytest.mark.interop

hd = pytest.importorskip("highdicom")
tifffile = pytest.importorskip("tifffile")

ROTATED = (0.0, -1.0, 0.0, -1.0, 0.0, 0.0)
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SIZES = [(333, 517), (166, 258)]  # odd, not multiples of the tile
TILE = (64, 48)
SPACING_MM = 0.0005
ORIGIN = (20.0, 40.0, 0.0)
VALUES = [1, 2, 3, 5]
DEFLATE_FRAME = "1.2.840.10008.1.2.8.1"
#: our --compression choice -> whether highdicom 0.28 (pydicom 3) can decode that syntax
SYNTAXES = {"none": True, "rle": True, "jpegls": True, "j2k": True, "deflate": False}


# --------------------------------------------------------------------------- inputs
def slide_labels(shape=SIZES[0]) -> np.ndarray:
    """Blobs of 4 labels; whole tile rows and columns left empty so sparse files omit frames."""
    rows, cols = shape
    yy, xx = np.mgrid[:rows, :cols]
    out = np.zeros(shape, np.uint8)
    out[((yy - 100) ** 2 + (xx - 150) ** 2) < 60**2] = 1
    out[((yy - 250) ** 2 / 3 + (xx - 380) ** 2) < 70**2] = 2
    out[(yy > 200) & (yy < 330) & (xx > 20) & (xx < 90)] = 3
    out[(yy % 17 < 3) & (xx > 240) & (xx < 300) & (yy < 150)] = 5
    out[:, 448:] = 0  # the last tile column (padded: 517 = 10 x 48 + 37) holds nothing
    out[:64] = 0  # neither does the first tile row
    return out


@pytest.fixture(scope="module", params=[ROTATED, IDENTITY], ids=["rotated", "identity"])
def source(request, tmp_path_factory):
    """A two-level VL WSI pyramid (pydicom-written), its folder and its levels' files."""
    import _slides as slides

    folder = tmp_path_factory.mktemp("wsi")
    paths = slides.write_wsi_pyramid(
        folder, sizes=SIZES, tile=TILE, spacing_mm=SPACING_MM, origin=ORIGIN, orientation=request.param
    )
    return folder, [Path(p) for p in paths], request.param


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("slide-labels")
    labels = slide_labels()
    image = root / "labels.tif"
    tifffile.imwrite(image, labels, tile=(64, 64), compression="zlib")
    meta = root / "meta.json"
    meta.write_text(json.dumps(sample_metadata(VALUES)))
    fractions, fraction_meta = [], {"segmentAttributes": []}
    for v, entry in zip(VALUES, sample_metadata(VALUES)["segmentAttributes"][0]):
        frac = ((labels == v) * (60 + (np.arange(labels.shape[1]) % 190))[None, :]).astype(np.uint8)
        path = root / f"fraction{v}.tif"
        tifffile.imwrite(path, frac)
        fractions.append((path, frac))
        fraction_meta["segmentAttributes"].append([{**entry, "labelID": 1}])
    fmeta = root / "fractions.json"
    fmeta.write_text(json.dumps(fraction_meta))
    return labels, image, meta, fractions, fmeta


def level_info(path: Path) -> dict:
    """Origin (X mm, Y mm, Z um), spacing (rows, columns) and orientation of a source level, read here."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    origin = ds.TotalPixelMatrixOriginSequence[0]
    z = float(origin.get("ZOffsetInSlideCoordinateSystem", 0) or 0)
    spacing = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
    return {
        "origin": np.array(
            [float(origin.XOffsetInSlideCoordinateSystem), float(origin.YOffsetInSlideCoordinateSystem), z]
        ),
        "spacing": spacing,
        "orientation": np.array([float(v) for v in ds.ImageOrientationSlide]),
        "shape": (int(ds.TotalPixelMatrixRows), int(ds.TotalPixelMatrixColumns)),
        "for": ds.FrameOfReferenceUID,
        "container": ds.get("ContainerIdentifier"),
    }


def slide_xy(info: dict, row: int, col: int) -> np.ndarray:
    """X, Y (mm) of 1-based matrix pixel (row, col): origin + (col-1) dc rowdir + (row-1) dr coldir."""
    o = info["orientation"]
    return info["origin"][:2] + (col - 1) * info["spacing"][1] * o[:2] + (row - 1) * info["spacing"][0] * o[3:5]


def write_ours(tmp_path: Path, source, inputs, seg_type: str, tiled: str, compression: str, *extra) -> Path:
    folder, _, _ = source
    labels, image, meta, fractions, fmeta = inputs
    out = tmp_path / f"{seg_type}-{tiled}-{compression}.dcm"
    files, metadata = ([str(p) for p, _ in fractions], fmeta) if seg_type == "fractional" else ([str(image)], meta)
    argv = ["itk2seg", *files, "-d", str(folder), "-m", str(metadata), "-o", str(out), "--type", seg_type]
    argv += ["--tiled", tiled, "--compression", compression, "-q", *extra]
    assert main(argv) == 0
    return out


# --------------------------------------------------------------------------- frames by hand
def frames_by_hand(ds: pydicom.Dataset) -> np.ndarray:
    """(frames, rows, columns) decoded with pydicom (raw deflate per fragment for Deflated Image Frame)."""
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts == DEFLATE_FRAME:
        dtype = np.uint16 if int(ds.BitsAllocated) == 16 else np.uint8
        out = []
        for frame in generate_frames(ds.PixelData, number_of_frames=n):
            raw = zlib.decompress(frame, -15)
            if int(ds.BitsAllocated) == 1:
                out.append(np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[: r * c].reshape(r, c))
            else:
                out.append(np.frombuffer(raw, dtype)[: r * c].reshape(r, c))
        return np.stack(out)
    if int(ds.BitsAllocated) == 1 and not ds.file_meta.TransferSyntaxUID.is_compressed:
        bits = np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little")
        return bits[: n * r * c].reshape(n, r, c)
    return ds.pixel_array.reshape(n, r, c)


def padded_tile(plane: np.ndarray, row: int, col: int, tile: tuple[int, int]) -> np.ndarray:
    out = np.zeros(tile, plane.dtype)
    part = plane[row - 1 : row - 1 + tile[0], col - 1 : col - 1 + tile[1]]
    out[: part.shape[0], : part.shape[1]] = part
    return out


def planes_of(seg_type: str, labels: np.ndarray, fractions) -> list[tuple[int | None, np.ndarray]]:
    """(Segment Number, expected stored plane) in segment order."""
    if seg_type == "labelmap":
        return [(None, labels)]
    if seg_type == "binary":
        return [(k, (labels == v).astype(np.uint8)) for k, v in enumerate(VALUES, 1)]
    return [(k, frac) for k, (_, frac) in enumerate(fractions, 1)]


def check_frames_by_hand(seg: Path, source, inputs, seg_type: str) -> None:
    """Every frame's position and pixels, against the input and the source level, computed here."""
    labels, *_, fractions, _ = inputs
    ds = pydicom.dcmread(seg)
    info = level_info(source[1][0])
    assert (int(ds.TotalPixelMatrixRows), int(ds.TotalPixelMatrixColumns)) == labels.shape == info["shape"]
    seg_origin = ds.TotalPixelMatrixOriginSequence[0]
    np.testing.assert_allclose(
        [float(seg_origin.XOffsetInSlideCoordinateSystem), float(seg_origin.YOffsetInSlideCoordinateSystem)],
        info["origin"][:2],
        atol=1e-5,
    )
    spacing = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
    np.testing.assert_allclose(spacing, info["spacing"], atol=1e-9)
    np.testing.assert_allclose([float(v) for v in ds.ImageOrientationSlide], info["orientation"], atol=1e-9)
    assert ds.FrameOfReferenceUID == info["for"]
    if info["container"] is not None:
        assert ds.ContainerIdentifier == info["container"]
    numbers = [int(s.SegmentNumber) for s in ds.SegmentSequence]
    assert numbers == sorted(numbers)
    tile = (int(ds.Rows), int(ds.Columns))
    frames = frames_by_hand(ds)
    planes = planes_of(seg_type, labels, fractions)
    across, down = -(-labels.shape[1] // tile[1]), -(-labels.shape[0] // tile[0])
    if ds.DimensionOrganizationType == "TILED_FULL":
        assert "PerFrameFunctionalGroupsSequence" not in ds or all(
            "PlanePositionSlideSequence" not in item for item in ds.PerFrameFunctionalGroupsSequence
        )
        assert len(frames) == len(planes) * across * down
        for k, frame in enumerate(frames):
            number, plane = planes[k // (across * down)]
            t = k % (across * down)
            row, col = (t // across) * tile[0] + 1, (t % across) * tile[1] + 1
            np.testing.assert_array_equal(frame, padded_tile(plane, row, col, tile), err_msg=f"frame {k + 1}")
        return
    assert ds.DimensionOrganizationType == "TILED_SPARSE"
    seen = set()
    for k, (item, frame) in enumerate(zip(ds.PerFrameFunctionalGroupsSequence, frames)):
        pos = item.PlanePositionSlideSequence[0]
        row, col = int(pos.RowPositionInTotalImagePixelMatrix), int(pos.ColumnPositionInTotalImagePixelMatrix)
        assert (row - 1) % tile[0] == 0 and (col - 1) % tile[1] == 0, (k, row, col)
        np.testing.assert_allclose(
            [float(pos.XOffsetInSlideCoordinateSystem), float(pos.YOffsetInSlideCoordinateSystem)],
            slide_xy(info, row, col),
            atol=1e-6,
            err_msg=f"frame {k + 1} at {row}/{col}",
        )
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber) if seg_type != "labelmap" else None
        plane = dict(planes)[number] if number is not None else labels
        np.testing.assert_array_equal(frame, padded_tile(plane, row, col, tile), err_msg=f"frame {k + 1}")
        seen.add((number, row, col))
    expected = {
        (number, r * tile[0] + 1, c * tile[1] + 1)
        for number, plane in planes
        for r in range(down)
        for c in range(across)
        if padded_tile(plane, r * tile[0] + 1, c * tile[1] + 1, tile).any()
    }
    assert seen == expected  # every non-empty tile once, no empty one


def read_by_highdicom(seg: Path, seg_type: str) -> list[np.ndarray]:
    """highdicom's total pixel matrix: the label map, or one stored plane per segment."""
    s = hd.seg.segread(seg)
    if seg_type == "labelmap":
        return [np.asarray(s.get_total_pixel_matrix(combine_segments=True))]
    numbers = sorted(s.segment_numbers)
    out = []
    for n in numbers:
        kw = {"rescale_fractional": False} if seg_type == "fractional" else {}
        out.append(np.asarray(s.get_total_pixel_matrix(segment_numbers=[n], **kw))[..., 0])
    return out


def show(violations) -> str:
    return "\n".join(v.format("SEG") for v in violations) or "(none)"


def assert_clean(path: Path) -> None:
    """Our files: no finding at all, but the note on Deflated Image Frame Compression (few readers)."""
    found = [v for v in validate_seg(path) if not (v.keyword == "TransferSyntaxUID" and "few readers" in v.message)]
    assert not found, show(found)


# --------------------------------------------------------------------------- a + b + d: ours
CASES = [
    ("labelmap", tiled, compression)
    for tiled in ("full", "sparse")
    for compression in ("rle", "jpegls", "j2k", "deflate", "none")
] + [("binary", tiled, c) for tiled in ("full", "sparse") for c in ("none", "j2k", "deflate")]
CASES += [("fractional", tiled, c) for tiled in ("full", "sparse") for c in ("rle", "none")]


@pytest.mark.parametrize("seg_type,tiled,compression", CASES, ids=["-".join(c) for c in CASES])
def test_ours_read_by_highdicom_and_placed_by_hand(tmp_path, source, inputs, seg_type, tiled, compression):
    seg = write_ours(tmp_path, source, inputs, seg_type, tiled, compression)
    assert_clean(seg)
    check_frames_by_hand(seg, source, inputs, seg_type)
    if not SYNTAXES[compression]:
        return  # no peer decodes Deflated Image Frame Compression yet (README)
    labels, *_, fractions, _ = inputs
    got = read_by_highdicom(seg, seg_type)
    want = [plane for _, plane in planes_of(seg_type, labels, fractions)]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_our_pyramid_levels_match_the_source_levels(tmp_path, source, inputs):
    """--pyramid: one SEG per source level, origin and spacing copied (Slim's 1e-5 mm rule), Pillow-NEAREST labels."""
    from PIL import Image

    seg = write_ours(tmp_path, source, inputs, "labelmap", "full", "rle", "--pyramid")
    level1 = seg.with_name(seg.stem + "-L1" + seg.suffix)
    assert level1.is_file()
    labels = inputs[0]
    for path, src in ((seg, source[1][0]), (level1, source[1][1])):
        assert_clean(path)
        ds, info = pydicom.dcmread(path, stop_before_pixels=True), level_info(src)
        assert (int(ds.TotalPixelMatrixRows), int(ds.TotalPixelMatrixColumns)) == info["shape"]
        o = ds.TotalPixelMatrixOriginSequence[0]
        xy = [float(o.XOffsetInSlideCoordinateSystem), float(o.YOffsetInSlideCoordinateSystem)]
        np.testing.assert_allclose(xy, info["origin"][:2], atol=1e-5)
        spacing = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
        np.testing.assert_allclose(spacing, info["spacing"], atol=1e-5)
    assert pydicom.dcmread(seg).PyramidUID == pydicom.dcmread(level1).PyramidUID
    rows, cols = SIZES[1]
    expected = np.asarray(Image.fromarray(labels).resize((cols, rows), Image.NEAREST))
    np.testing.assert_array_equal(read_by_highdicom(level1, "labelmap")[0], expected)


# --------------------------------------------------------------------------- c + d: highdicom's
def highdicom_seg(path: Path, source_file: Path, labels: np.ndarray, seg_type: str, organization: str, syntax) -> Path:
    src = pydicom.dcmread(source_file)
    category = hd.sr.CodedConcept("123037004", "SCT", "Anatomical Structure")
    tissue = hd.sr.CodedConcept("85756007", "SCT", "Tissue")
    descriptions = [
        hd.seg.SegmentDescription(k, f"s{v}", category, tissue, hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for k, v in enumerate(VALUES, 1)
    ]
    remapped = np.zeros(labels.shape, np.uint8)
    for k, v in enumerate(VALUES, 1):
        remapped[labels == v] = k
    if seg_type == "labelmap":
        array = remapped[None]
    else:
        array = np.stack([remapped == k for k in range(1, len(VALUES) + 1)], axis=-1)[None]
        if seg_type == "fractional":
            array = array * (np.arange(labels.shape[1]) % 5 + 1)[None, None, :, None] / 5.0
    seg = hd.seg.Segmentation(
        [src],
        array,
        seg_type.upper(),
        descriptions,
        pydicom.uid.generate_uid(),
        7,
        pydicom.uid.generate_uid(),
        1,
        "highdicom",
        "test",
        "0.28",
        "1",
        tile_pixel_array=True,
        dimension_organization_type="TILED_FULL" if organization == "full" else "TILED_SPARSE",
        omit_empty_frames=organization != "full",
        transfer_syntax_uid=syntax,
    )
    seg.save_as(path)
    return path


HD_SYNTAXES = {
    "native": pydicom.uid.ExplicitVRLittleEndian,
    "rle": pydicom.uid.RLELossless,
    "jpegls": pydicom.uid.JPEGLSLossless,
    "j2k": pydicom.uid.JPEG2000Lossless,
}
HD_CASES = [
    (t, o, s)
    for t in ("labelmap", "binary", "fractional")
    for o in ("full", "sparse")
    for s in HD_SYNTAXES
    if not (t == "binary" and s in ("rle", "jpegls"))  # highdicom writes BINARY native or JPEG 2000 only
]


@pytest.mark.parametrize("seg_type,organization,syntax", HD_CASES, ids=["-".join(c) for c in HD_CASES])
def test_highdicom_seg_validates(tmp_path, source, inputs, seg_type, organization, syntax):
    """highdicom's tiled SEGs give no error, and only the Patient Orientation warning (README)."""
    seg = highdicom_seg(tmp_path / "hd.dcm", source[1][0], inputs[0], seg_type, organization, HD_SYNTAXES[syntax])
    found = validate_seg(seg)
    assert [(v.keyword, v.severity) for v in found] == [("PatientOrientation", "warning")], show(found)
    if seg_type != "fractional":  # the fixture is what highdicom reads back
        planes = read_by_highdicom(seg, seg_type)
        if seg_type == "labelmap":
            np.testing.assert_array_equal(planes[0] != 0, inputs[0] != 0)
        else:
            for plane, value in zip(planes, VALUES):
                np.testing.assert_array_equal(plane != 0, inputs[0] == value)


def read_ours(seg: Path, out: Path) -> list[np.ndarray]:
    """Our seg2itk's OME-TIFF outputs (1.ome.tif, 2.ome.tif, ...) in order."""
    assert main(["seg2itk", str(seg), "-o", str(out), "-q"]) == 0
    files = sorted(out.glob("*.ome.tif"), key=lambda p: int(p.name.split(".")[0].split("-")[-1]))
    assert files, sorted(p.name for p in out.iterdir())
    assert json.loads((out / "meta.json").read_text())["segmentAttributes"]
    return [tifffile.imread(p) for p in files]


@pytest.mark.parametrize("seg_type,organization,syntax", HD_CASES, ids=["-".join(c) for c in HD_CASES])
def test_highdicom_seg_read_by_us(tmp_path, source, inputs, seg_type, organization, syntax):
    labels = inputs[0]
    seg = highdicom_seg(tmp_path / "hd.dcm", source[1][0], labels, seg_type, organization, HD_SYNTAXES[syntax])
    theirs = read_by_highdicom(seg, seg_type)
    ours = read_ours(seg, tmp_path / "out")
    if seg_type == "labelmap":
        np.testing.assert_array_equal(ours[0], theirs[0])
        return
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs), 1):
        if seg_type == "binary":
            np.testing.assert_array_equal(a != 0, b != 0, err_msg=f"segment {k}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"segment {k}")
