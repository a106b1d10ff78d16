"""NRRD reader/writer: round trips, space conversion, error handling."""

from __future__ import annotations

import nrrd
import numpy as np
import pytest

from labelmap.errors import ImageFormatError, OutputError
from labelmap.formats.nrrd import read_nrrd, write_nrrd
from labelmap.model import Geometry


def _rot(axis: int, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [a for a in range(3) if a != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


OBLIQUE = _rot(0, 17.0) @ _rot(2, -33.0)  # rotated about two axes
LEFT_HANDED = np.diag([1.0, 1.0, -1.0]) @ OBLIQUE  # det = -1
assert np.linalg.det(LEFT_HANDED) < 0

GEOMETRIES = {
    "axial": ((3, 38, 23), np.eye(3), (0.7, 0.9, 2.5), (-120.25, 33.5, 7.0)),
    "oblique": ((5, 22, 21), OBLIQUE, (0.7, 0.9, 2.5), (12.345678, -98.7654321, 250.125)),
    "left_handed": ((3, 38, 23), LEFT_HANDED, (0.7, 0.9, 2.5), (-5.5, 6.25, -7.75)),
    "flipped_x": ((5, 22, 21), np.diag([-1.0, 1.0, 1.0]), (1.0, 1.0, 1.0), (100.0, 0.0, -3.0)),
}


def _labels(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    arr = rng.integers(0, 6, size=shape).astype(dtype)
    arr.flat[0] = info.max  # extreme values survive
    arr.flat[-1] = info.min
    return arr


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
@pytest.mark.parametrize("ext,compress", [(".nrrd", True), (".nrrd", False), (".nhdr", True)])
def test_round_trip(tmp_path, name, dtype, ext, compress):
    shape, direction, spacing, origin = GEOMETRIES[name]
    geom = Geometry(origin, direction, spacing, shape)
    arr = _labels(shape, dtype)
    path = tmp_path / f"img{ext}"
    write_nrrd(path, arr, geom, compress=compress)
    back, g2 = read_nrrd(path)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == shape
    assert back.flags.c_contiguous and back.flags.writeable
    np.testing.assert_array_equal(back, arr)
    np.testing.assert_allclose(g2.origin, geom.origin, atol=1e-6)
    np.testing.assert_allclose(g2.direction, geom.direction, atol=1e-6)
    np.testing.assert_allclose(g2.spacing, geom.spacing, atol=1e-6)
    assert g2.shape == geom.shape
    # no temporary files left behind
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_nhdr_writes_detached_data(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_nrrd(tmp_path / "a.nhdr", arr, geom, compress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nhdr", "a.raw"]
    assert "data file: a.raw" in (tmp_path / "a.nhdr").read_text()
    assert (tmp_path / "a.raw").read_bytes() == arr.tobytes()  # i fastest


def test_axis_order_matches_pynrrd_fortran_view(tmp_path):
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 3, 4))
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    write_nrrd(tmp_path / "a.nrrd", arr, geom)
    data_f, header = nrrd.read(str(tmp_path / "a.nrrd"))  # pynrrd default: [i, j, k]
    assert list(header["sizes"]) == [4, 3, 2]
    np.testing.assert_array_equal(data_f, arr.transpose(2, 1, 0))


def _write_raw_header(path, data_kji, header):
    nrrd.write(str(path), data_kji, header, index_order="C")


def test_ras_space_maps_to_lps(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 4, size=(4, 5, 6)).astype(np.uint8)
    spacing = np.array([0.8, 1.1, 3.0])
    vec_lps = (OBLIQUE * spacing[np.newaxis, :]).T  # rows = axis vectors in LPS
    origin_lps = np.array([10.0, -20.0, 30.0])
    flip = np.array([-1.0, -1.0, 1.0])
    _write_raw_header(
        tmp_path / "ras.nrrd",
        arr,
        {
            "space": "right-anterior-superior",
            "space directions": vec_lps * flip,
            "space origin": origin_lps * flip,
            "kinds": ["domain"] * 3,
        },
    )
    _write_raw_header(
        tmp_path / "lps.nrrd",
        arr,
        {
            "space": "left-posterior-superior",
            "space directions": vec_lps,
            "space origin": origin_lps,
            "kinds": ["domain"] * 3,
        },
    )
    a1, g_ras = read_nrrd(tmp_path / "ras.nrrd")
    a2, g_lps = read_nrrd(tmp_path / "lps.nrrd")
    np.testing.assert_array_equal(a1, a2)
    ijk = rng.uniform(0, 4, size=(20, 3))
    np.testing.assert_allclose(g_ras.index_to_lps(ijk), g_lps.index_to_lps(ijk), atol=1e-9)
    # and directly: a voxel's RAS coordinate from the header, with x, y negated
    i, j, k = 2, 3, 1
    ras = origin_lps * flip + i * vec_lps[0] * flip + j * vec_lps[1] * flip + k * vec_lps[2] * flip
    np.testing.assert_allclose(g_ras.index_to_lps([i, j, k]), ras * flip, atol=1e-9)


@pytest.mark.parametrize("space", ["scanner-xyz", "3D-right-handed", None])
def test_scanner_xyz_and_bare_space_dimension_are_lps(tmp_path, space):
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    header = {"space directions": np.diag([0.5, 0.6, 2.0]), "space origin": np.array([1.0, 2.0, 3.0])}
    if space:
        header["space"] = space
    else:
        header["space dimension"] = 3
    _write_raw_header(tmp_path / "s.nrrd", arr, header)
    _, g = read_nrrd(tmp_path / "s.nrrd")
    np.testing.assert_allclose(g.origin, [1, 2, 3])
    np.testing.assert_allclose(g.direction, np.eye(3))
    np.testing.assert_allclose(g.spacing, [0.5, 0.6, 2.0])


def test_las_space_negates_y(tmp_path):
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    _write_raw_header(
        tmp_path / "las.nrrd",
        arr,
        {"space": "left-anterior-superior", "space directions": np.eye(3), "space origin": np.array([1.0, 2.0, 3.0])},
    )
    _, g = read_nrrd(tmp_path / "las.nrrd")
    np.testing.assert_allclose(g.origin, [1, -2, 3])
    np.testing.assert_allclose(g.direction, np.diag([1.0, -1.0, 1.0]))


def test_time_space_refused(tmp_path):
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    _write_raw_header(tmp_path / "t.nrrd", arr, {"space": "3D-left-handed", "space directions": np.eye(3)})
    with pytest.raises(ImageFormatError, match="3D-left-handed"):
        read_nrrd(tmp_path / "t.nrrd")


def test_no_space_uses_spacings(tmp_path):
    arr = np.ones((2, 3, 4), dtype=np.int16)
    _write_raw_header(tmp_path / "p.nrrd", arr, {"spacings": np.array([0.5, 0.25, 4.0])})
    back, g = read_nrrd(tmp_path / "p.nrrd")
    np.testing.assert_array_equal(back, arr)
    np.testing.assert_allclose(g.spacing, [0.5, 0.25, 4.0])
    np.testing.assert_allclose(g.direction, np.eye(3))
    np.testing.assert_allclose(g.origin, 0)

    _write_raw_header(tmp_path / "q.nrrd", arr, {})
    _, g = read_nrrd(tmp_path / "q.nrrd")
    np.testing.assert_allclose(g.spacing, 1)


def test_2d_image_becomes_one_slice(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)  # [j, i]
    _write_raw_header(
        tmp_path / "two.nrrd",
        arr,
        {
            "space": "left-posterior-superior",
            "space directions": np.array([[0.0, 0.5, 0.0], [0.0, 0.0, -0.7]]),
            "space origin": np.array([5.0, 6.0, 7.0]),
        },
    )
    back, g = read_nrrd(tmp_path / "two.nrrd")
    assert back.shape == (1, 3, 4) and g.shape == (1, 3, 4)
    np.testing.assert_array_equal(back[0], arr)
    np.testing.assert_allclose(g.slice_direction, np.cross([0, 1, 0], [0, 0, -1]))
    np.testing.assert_allclose(g.spacing, [0.5, 0.7, 1.0])


def test_big_endian_becomes_native(tmp_path):
    arr = np.arange(24, dtype=">u2").reshape(2, 3, 4)
    _write_raw_header(tmp_path / "be.nrrd", arr, {"encoding": "raw"})
    back, _ = read_nrrd(tmp_path / "be.nrrd")
    assert back.dtype == np.dtype(np.uint16) and back.dtype.isnative
    np.testing.assert_array_equal(back, np.arange(24).reshape(2, 3, 4))


# ---------------------------------------------------------------------------- errors


def _good(tmp_path, name="good.nrrd", compress=True):
    geom = Geometry((0, 0, 0), OBLIQUE, (1, 1, 2), (5, 22, 21))
    write_nrrd(tmp_path / name, _labels(geom.shape, np.uint16), geom, compress=compress)
    return tmp_path / name


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_file(tmp_path, compress):
    p = _good(tmp_path, compress=compress)
    data = p.read_bytes()
    cut = tmp_path / "cut.nrrd"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFormatError, match="cut.nrrd") as info:
        read_nrrd(cut)
    assert "truncated" in str(info.value)


def test_truncated_detached_data(tmp_path):
    p = _good(tmp_path, name="d.nhdr")
    data_file = tmp_path / "d.raw.gz"
    data_file.write_bytes(data_file.read_bytes()[:40])
    with pytest.raises(ImageFormatError, match="d.nhdr"):
        read_nrrd(p)


def test_text_file_named_nrrd(tmp_path):
    p = tmp_path / "notes.nrrd"
    p.write_text("this is not an image\n")
    with pytest.raises(ImageFormatError, match="notes.nrrd.*not a NRRD file"):
        read_nrrd(p)


def test_binary_garbage(tmp_path):
    p = tmp_path / "junk.nrrd"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ImageFormatError, match="junk.nrrd"):
        read_nrrd(p)


def test_header_garbage(tmp_path):
    p = tmp_path / "bad.nrrd"
    p.write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 two\nencoding: raw\n\n" + bytes(8))
    with pytest.raises(ImageFormatError, match="bad.nrrd"):
        read_nrrd(p)


def test_missing_file(tmp_path):
    with pytest.raises(ImageFormatError, match="nothere.nrrd.*not found"):
        read_nrrd(tmp_path / "nothere.nrrd")


def test_4d_refused(tmp_path):
    arr = np.zeros((2, 3, 4, 5), dtype=np.uint8)
    _write_raw_header(tmp_path / "four.nrrd", arr, {"kinds": ["list", "domain", "domain", "domain"]})
    with pytest.raises(ImageFormatError, match="four.nrrd.*(4-D|non-spatial)"):
        read_nrrd(tmp_path / "four.nrrd")
    _write_raw_header(tmp_path / "four_b.nrrd", arr, {})
    with pytest.raises(ImageFormatError, match="4-D"):
        read_nrrd(tmp_path / "four_b.nrrd")


def test_slicer_style_4d_with_none_direction_refused(tmp_path):
    arr = np.zeros((2, 3, 4, 2), dtype=np.uint8)  # C order: k j i layer
    dirs = np.vstack([np.full(3, np.nan), np.eye(3)])
    _write_raw_header(
        tmp_path / "seg.nrrd",
        arr,
        {"space": "left-posterior-superior", "space directions": dirs, "kinds": ["list", "domain", "domain", "domain"]},
    )
    with pytest.raises(ImageFormatError, match="seg.nrrd"):
        read_nrrd(tmp_path / "seg.nrrd")


def test_sheared_refused(tmp_path):
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    dirs = np.array([[1.0, 0, 0], [0.3, 1.0, 0], [0, 0, 1.0]])
    _write_raw_header(tmp_path / "shear.nrrd", arr, {"space": "left-posterior-superior", "space directions": dirs})
    with pytest.raises(ImageFormatError, match="shear.nrrd.*orthogonal"):
        read_nrrd(tmp_path / "shear.nrrd")


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    p = _good(tmp_path)
    before = p.read_bytes()
    geom = Geometry((0, 0, 0), np.eye(3), (1, 1, 1), (2, 2, 2))
    with pytest.raises(ImageFormatError):
        write_nrrd(p, np.zeros((2, 2, 2), dtype=np.complex64), geom)

    def broken_compress(*args, **kwargs):
        raise OSError(28, "No space left on device")

    import labelmap.formats.nrrd as nrrd_module

    monkeypatch.setattr(nrrd_module, "gzip_compress", broken_compress)
    with pytest.raises(OutputError, match="good.nrrd.*No space"):
        write_nrrd(p, np.zeros((2, 2, 2), dtype=np.uint8), geom)
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []


# --------------------------------------------------------------------------- narrowed label reads
_G = Geometry((1.0, 2.0, 3.0), np.eye(3), (0.5, 0.6, 1.5), (4, 23, 38))


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint32", "int64"])
def test_narrow_read_gives_uint8_when_values_fit(tmp_path, dtype):
    a = (np.arange(np.prod(_G.shape)) % 256).astype(dtype).reshape(_G.shape)
    write_nrrd(tmp_path / "l.nrrd", a, _G, compress=True)
    b, g = read_nrrd(tmp_path / "l.nrrd", narrow=True)
    assert b.dtype == np.uint8 and b.flags.writeable
    np.testing.assert_array_equal(b, a)
    assert g.max_deviation(_G) < 1e-9
    assert read_nrrd(tmp_path / "l.nrrd")[0].dtype == np.dtype(dtype)  # default: the file's type


@pytest.mark.parametrize("dtype, value", [("uint16", 300), ("int16", -1), ("int32", 70000)])
def test_narrow_read_keeps_the_type_when_a_value_does_not_fit(tmp_path, dtype, value):
    a = (np.arange(np.prod(_G.shape)) % 200).astype(dtype).reshape(_G.shape)
    a[3, 22, 37] = value  # the very last voxel: everything before was narrowed already
    write_nrrd(tmp_path / "l.nrrd", a, _G, compress=True)
    b, _ = read_nrrd(tmp_path / "l.nrrd", narrow=True)
    assert b.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(b, a)


def test_narrow_read_across_gzip_members_split_inside_a_value(tmp_path):
    import gzip

    a = (np.arange(np.prod(_G.shape)) % 251).astype("<u2").reshape(_G.shape)
    raw = a.tobytes()
    header = (
        b"NRRD0004\ntype: uint16\ndimension: 3\nspace: left-posterior-superior\nsizes: 38 23 4\n"
        b"space directions: (0.5,0,0) (0,0.6,0) (0,0,1.5)\nkinds: domain domain domain\nendian: little\n"
        b"encoding: gzip\nspace origin: (1,2,3)\n\n"
    )
    (tmp_path / "m.nrrd").write_bytes(header + gzip.compress(raw[:1001]) + gzip.compress(raw[1001:]))
    b, _ = read_nrrd(tmp_path / "m.nrrd", narrow=True)
    assert b.dtype == np.uint8
    np.testing.assert_array_equal(b, a)
    (tmp_path / "t.nrrd").write_bytes(header + gzip.compress(raw)[:-300])
    with pytest.raises(ImageFormatError, match="t.nrrd"):
        read_nrrd(tmp_path / "t.nrrd", narrow=True)


_HEADER16 = (
    "NRRD0004\ntype: {type}\ndimension: 3\nspace: left-posterior-superior\nsizes: 38 23 4\n"
    "space directions: (0.5,0,0) (0,0.6,0) (0,0,1.5)\nkinds: domain domain domain\nendian: little\n"
    "encoding: gzip\nspace origin: (1,2,3)\n\n"
)


@pytest.fixture(params=[None, 1000, 1001, 4 * 23 * 38 * 2 - 2], ids=["one-piece", "p1000", "p1001", "p-short"])
def small_pieces(request, monkeypatch):
    """Narrowed reads in small pieces (many steps over a 6992-byte uint16 image), or in one."""
    from labelmap.formats import nrrd as nrrd_module

    if request.param is not None:
        monkeypatch.setattr(nrrd_module, "_NARROW_PIECE", request.param)
    return request.param


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint32", "int32"])
def test_narrow_read_in_pieces_gives_uint8(tmp_path, small_pieces, dtype):
    a = (np.arange(np.prod(_G.shape)) % 256).astype(dtype).reshape(_G.shape)
    write_nrrd(tmp_path / "l.nrrd", a, _G, compress=True)
    b, _ = read_nrrd(tmp_path / "l.nrrd", narrow=True)
    assert b.dtype == np.uint8 and b.flags.writeable and b.flags.c_contiguous
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize(
    "dtype, value, where",
    [
        ("uint16", 256, -1),  # only in the last piece
        ("uint16", 300, 0),  # in the first piece
        ("uint16", 65535, 2000),  # in a middle piece: the rest inflates straight into uint16
        ("int16", -1, -1),
        ("int16", -32768, 1500),
        ("uint32", 256, -1),
        ("int32", -7, 3000),
    ],
)
def test_narrow_read_in_pieces_keeps_the_type(tmp_path, small_pieces, dtype, value, where):
    a = (np.arange(np.prod(_G.shape)) % 200).astype(dtype).reshape(_G.shape)
    a.flat[where] = value
    write_nrrd(tmp_path / "l.nrrd", a, _G, compress=True)
    b, _ = read_nrrd(tmp_path / "l.nrrd", narrow=True)
    assert b.dtype == np.dtype(dtype) and b.flags.writeable
    np.testing.assert_array_equal(b, a)


def test_narrow_read_carries_values_split_across_members_and_pieces(tmp_path, small_pieces):
    import gzip

    a = (np.arange(np.prod(_G.shape)) % 251).astype("<u2").reshape(_G.shape)
    raw = a.tobytes()
    header = _HEADER16.format(type="uint16").encode()
    # members split inside a value, at odd offsets, one of them empty; trailing junk ignored
    cuts = [0, 1001, 1002, 2999, 5001, len(raw)]
    body = b"".join(gzip.compress(raw[x:y]) for x, y in zip(cuts, cuts[1:]))
    (tmp_path / "m.nrrd").write_bytes(header + body + b"trailing junk")
    b, _ = read_nrrd(tmp_path / "m.nrrd", narrow=True)
    assert b.dtype == np.uint8
    np.testing.assert_array_equal(b, a)
    # a value above 255 in the last member: the wide copy holds everything
    wide = a.copy()
    wide.flat[-1] = 4000
    raw = wide.tobytes()
    body = b"".join(gzip.compress(raw[x:y]) for x, y in zip(cuts, cuts[1:]))
    (tmp_path / "w.nrrd").write_bytes(header + body)
    b, _ = read_nrrd(tmp_path / "w.nrrd", narrow=True)
    assert b.dtype == np.uint16
    np.testing.assert_array_equal(b, wide)


@pytest.mark.parametrize("fits", [True, False])
def test_narrow_read_of_short_data_counts_every_byte(tmp_path, small_pieces, fits):
    # a complete gzip stream holding 3 bytes less than the header needs: the partial value counts
    import gzip

    a = (np.arange(np.prod(_G.shape)) % 251).astype("<u2")
    if not fits:
        a[1700] = 999
    need = a.nbytes
    (tmp_path / "s.nrrd").write_bytes(_HEADER16.format(type="uint16").encode() + gzip.compress(a.tobytes()[:-3]))
    for narrow in (True, False):
        with pytest.raises(ImageFormatError, match=f"holds {need - 3} bytes .* need {need}; the file is truncated"):
            read_nrrd(tmp_path / "s.nrrd", narrow=narrow)


@pytest.mark.parametrize("cut", [300, 40, 5, 1])
def test_narrow_read_of_truncated_stream(tmp_path, small_pieces, cut):
    import gzip

    a = np.random.default_rng(2).integers(0, 255, size=_G.shape).astype("<u2")  # does not compress away
    packed = gzip.compress(a.tobytes())
    (tmp_path / "t.nrrd").write_bytes(_HEADER16.format(type="uint16").encode() + packed[:-cut])
    for narrow in (True, False):
        if cut > 8:  # data lost
            with pytest.raises(ImageFormatError, match="t.nrrd.*compressed data is damaged or truncated"):
                read_nrrd(tmp_path / "t.nrrd", narrow=narrow)
        else:  # only the 8-byte trailer (CRC, size) is cut: every value is there, as before
            b, _ = read_nrrd(tmp_path / "t.nrrd", narrow=narrow)
            np.testing.assert_array_equal(b, a.reshape(_G.shape))
    bad = bytearray(packed)
    bad[-6] ^= 1  # a damaged CRC is an error
    (tmp_path / "c.nrrd").write_bytes(_HEADER16.format(type="uint16").encode() + bytes(bad))
    for narrow in (True, False):
        with pytest.raises(ImageFormatError, match="c.nrrd.*incorrect data check"):
            read_nrrd(tmp_path / "c.nrrd", narrow=narrow)


def test_narrow_read_without_the_c_reader(tmp_path, monkeypatch):
    from labelmap._util import deflate as _deflate

    monkeypatch.setattr(_deflate, "_READER", None)  # the gzip_pieces path alone
    test_narrow_read_carries_values_split_across_members_and_pieces(tmp_path, None)
    a = (np.arange(np.prod(_G.shape)) % 200).astype("int16").reshape(_G.shape)
    a.flat[-1] = -3
    write_nrrd(tmp_path / "l.nrrd", a, _G, compress=True)
    b, _ = read_nrrd(tmp_path / "l.nrrd", narrow=True)
    assert b.dtype == np.int16
    np.testing.assert_array_equal(b, a)


# --------------------------------------------------------------------------- quick header parser
def _quick_cases(tmp_path):
    import nrrd

    rng = np.random.default_rng(0)
    data = rng.integers(0, 9, size=(23, 38, 3)).astype(np.uint16)  # pynrrd's (i, j, k) order
    cases = {
        "lps-gzip": dict(
            space="left-posterior-superior",
            **{
                "space directions": np.array([[0.7, 0.1, 0.0], [-0.1, 0.7, 0.0], [0.0, 0.0, 2.5]]),
                "space origin": np.array([-12.5, 30.25, -7.0]),
                "kinds": ["domain", "domain", "domain"],
                "encoding": "gzip",
                "Segment0_Name": "liver: left lobe",
                "Segment0_Tags": "TerminologyEntry:a~b|x:=y|",
            },
        ),
        "ras-raw": dict(
            space="RAS", encoding="raw", **{"space directions": np.diag([1.0, 2.0, 3.0]), "space origin": np.zeros(3)}
        ),
        "spacings": dict(encoding="gzip", spacings=np.array([0.5, 0.75, 2.0])),
        "bare": dict(encoding="raw"),
    }
    paths = {}
    for name, header in cases.items():
        path = tmp_path / f"{name}.nrrd"
        nrrd.write(str(path), data if name != "bare" else data.astype(np.int8), header)
        paths[name] = path
    return paths


def test_quick_header_matches_pynrrd(tmp_path):
    import nrrd

    from labelmap.formats.nrrd_header import quick_dtype as _quick_dtype
    from labelmap.formats.nrrd_header import quick_header as _quick_header

    for name, path in _quick_cases(tmp_path).items():
        with open(path, "rb") as fh:
            quick = _quick_header(fh)
        with open(path, "rb") as fh:
            ref = nrrd.read_header(fh)
            ref_offset = fh.tell()
        assert quick is not None, name
        header, offset = quick
        assert offset == ref_offset, name
        assert _quick_dtype(header) == np.dtype(nrrd.reader._determine_datatype(ref)), name
        assert set(header) == set(ref), name
        for key, value in ref.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_allclose(header[key], value, err_msg=f"{name}: {key}")
            elif isinstance(value, list):
                assert header[key] == [str(v) for v in value], (name, key)
            else:
                assert str(header[key]) == str(value), (name, key)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.replace(b"encoding: gzip", b"encoding: ascii"),
        lambda h: h.replace(b"encoding: gzip", b"encoding: gzip\nline skip: 1"),
        lambda h: h.replace(b"encoding: gzip", b"encoding: gzip\ndata file: x.raw"),
        lambda h: h.replace(b"encoding: gzip", b"encoding: gzip\nencoding: raw"),
        lambda h: h.replace(b"space directions: ", b"space directions: none "),
        lambda h: h.replace(b"type: uint16", b"type: block"),
        lambda h: h.split(b"\n\n")[0],  # cut inside the header
    ],
    ids=["ascii", "line-skip", "detached", "duplicate-field", "none-direction", "block", "cut"],
)
def test_quick_header_leaves_unusual_files_to_pynrrd(tmp_path, change):
    from labelmap.formats.nrrd_header import quick_dtype as _quick_dtype
    from labelmap.formats.nrrd_header import quick_header as _quick_header

    path = _quick_cases(tmp_path)["lps-gzip"]
    raw = path.read_bytes()
    head, rest = raw.split(b"\n\n", 1)
    assert b"type: uint16" in head and b"encoding: gzip" in head
    changed = change(head + b"\n\n") + (rest if b"\n\n" in change(head + b"\n\n") else b"")
    path.write_bytes(changed)
    with open(path, "rb") as fh:
        quick = _quick_header(fh)
    assert quick is None or _quick_dtype(quick[0]) is None


def test_attached_read_imports_neither_pynrrd_nor_pydicom(tmp_path):
    """The hot path (our header parser, the gzip reader, the narrowing kernel) needs no third-party reader."""
    import subprocess
    import sys

    a = (np.arange(np.prod(_G.shape)) % 200).astype("uint16").reshape(_G.shape)
    write_nrrd(tmp_path / "l.nrrd", a, _G, compress=True)
    code = (
        "import sys\n"
        "from labelmap.pipeline.convert import read_labels\n"
        "assert read_labels(sys.argv[1], narrow=True).array.dtype == 'uint8'\n"
        "print(sorted(m for m in ('nrrd', 'pydicom', 'nibabel') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "l.nrrd")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
