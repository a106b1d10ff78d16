"""Property tests (issue #5): any geometry and any label map round-trip exactly.

hypothesis draws a source grid -- a random rotation (oblique, or one of the 48 axis-aligned
signed permutations, LAS and reversed stacks included), spacing 0.3-5 mm, odd shapes such as
21 x 22 or 23 x 38 x 3 -- writes a CT series on it, stores a label map with its index axes
permuted and flipped, and writes a SEG of every type with every transfer syntax allowed for
it (:func:`labelmap.seg.types.allowed_syntaxes`).  Read back, the labels must be bit-exact and the
grid within 1e-4 mm: on the full reference grid, and without a reference on the frames' own
grid, compared in world space.

The default profile is deterministic and small; the ``slow`` variants run many more examples.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelmap.demo.sample import write_ct_series
from labelmap.dicom.pixels.codecs import is_available
from labelmap.model import Geometry, LabelVolume
from labelmap.pipeline.convert import load_source, read_seg, write_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.types import allowed_syntaxes, spec_for

from _geometries import rotation_x, rotation_y, rotation_z
from _interop import permuted, world_compare
from _segfiles import segments

GEOMETRY_TOL_MM = 1e-4

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def syntaxes(seg_type: str) -> list[str]:
    return [ts.name for ts in allowed_syntaxes(spec_for(seg_type)) if is_available(ts.name)]


# --------------------------------------------------------------------------- strategies
def _signed_permutations() -> list[np.ndarray]:
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            for col, (row, sign) in enumerate(zip(perm, signs)):
                m[row, col] = sign
            out.append(m)
    return out


AXIS_ALIGNED = _signed_permutations()  # identity, LAS, sagittal, coronal, reversed stacks ...


@st.composite
def directions(draw) -> np.ndarray:
    """Columns i, j, k: orthonormal, right- or left-handed (k along or against row x column)."""
    if draw(st.booleans()):
        return AXIS_ALIGNED[draw(st.integers(0, len(AXIS_ALIGNED) - 1))]
    angle = st.floats(-180.0, 180.0, allow_nan=False)
    d = rotation_z(draw(angle)) @ rotation_y(draw(angle)) @ rotation_x(draw(angle))
    if draw(st.booleans()):
        d[:, 2] *= -1
    return d


@st.composite
def geometries(draw, max_slices: int = 5, max_side: int = 40) -> Geometry:
    shape = draw(
        st.one_of(
            st.sampled_from([(3, 22, 21), (3, 38, 23), (4, 21, 22), (1, 23, 38)]),
            st.tuples(st.integers(1, max_slices), st.integers(1, max_side), st.integers(1, max_side)),
        )
    )
    spacing = draw(st.tuples(*[st.floats(0.3, 5.0, allow_nan=False)] * 3))
    origin = draw(st.tuples(*[st.floats(-300.0, 300.0, allow_nan=False)] * 3))
    return Geometry(np.array(origin), draw(directions()), np.array(spacing), shape)


@st.composite
def storage(draw) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    """How the label file stores the grid: index axes permuted and flipped."""
    return (tuple(draw(st.permutations([0, 1, 2]))), tuple(draw(st.lists(st.booleans(), min_size=3, max_size=3))))


@st.composite
def label_maps(draw, shape, *, min_labels: int = 0, max_labels: int = 6, wide: bool = True) -> np.ndarray:
    """Sparse label maps: boxes and scattered voxels of gapped values, some slices left empty."""
    dtype = draw(st.sampled_from([np.uint8, np.uint16])) if wide else np.uint8
    top = 255 if dtype == np.uint8 else 65535
    values = draw(
        st.lists(
            st.one_of(st.integers(1, 12), st.integers(1, top)), min_size=min_labels, max_size=max_labels, unique=True
        )
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    array = np.zeros(shape, dtype=dtype)
    for v in values:
        if rng.random() < 0.5:
            lo = [int(rng.integers(0, s)) for s in shape]
            hi = [int(rng.integers(a, s)) + 1 for a, s in zip(lo, shape)]
            array[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = v
        else:
            array[rng.random(shape) < rng.uniform(0.001, 0.2)] = v
    if shape[0] > 1 and draw(st.booleans()):
        array[rng.random(shape[0]) < 0.4] = 0  # empty slices (skipped frames)
    present = [int(v) for v in np.unique(array) if v]
    if len(present) < min_labels:  # boxes overwritten or cleared: put one voxel of each back
        for n, v in enumerate(values[:min_labels]):
            array.flat[n] = v
    return array


# --------------------------------------------------------------------------- checks
def assert_same_grid_points(actual: Geometry, expected: Geometry) -> None:
    """Every corner voxel centre of ``actual`` is a voxel centre of ``expected`` (within 1e-4 mm),
    and the spacings along matching directions agree."""
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in actual.shape[::-1]])), dtype=float)
    points = actual.index_to_lps(corners)
    nearest = expected.index_to_lps(np.rint(expected.lps_to_index(points)))
    off = float(np.linalg.norm(points - nearest, axis=1).max())
    assert off < GEOMETRY_TOL_MM, f"grid points off by {off:.2e} mm"
    for axis in range(3):
        if actual.shape[2 - axis] > 1:  # (a single slice has no meaningful step)
            cos = np.abs(expected.direction.T @ actual.direction[:, axis])
            match = int(np.argmax(cos))
            assert cos[match] > 1 - 1e-9, "axes are not parallel"
            assert abs(actual.spacing[axis] - expected.spacing[match]) < GEOMETRY_TOL_MM


def write_case(root: Path, geometry: Geometry, stored, volumes_arrays, seg_type: str, compression: str, **kw) -> Path:
    """CT series on ``geometry``; label file(s) holding ``volumes_arrays`` stored as ``stored``; the SEG."""
    write_ct_series(root / "ct", geometry)
    source = load_source(root / "ct")
    volumes = []
    for array, numbers in volumes_arrays:
        arr, g = permuted(array, geometry, *stored)
        volumes.append(LabelVolume(arr, g, segments(*numbers)))
    path = root / "seg.dcm"
    write_seg(volumes, source, path, options=WriteOptions(seg_type=seg_type, compression=compression, **kw))
    return path


# --------------------------------------------------------------------------- LABELMAP
@st.composite
def labelmap_cases(draw):
    geometry = draw(geometries())
    array = draw(label_maps(geometry.shape))
    return geometry, draw(storage()), array, draw(st.sampled_from(syntaxes("LABELMAP"))), draw(st.booleans())


def check_labelmap(case) -> None:
    geometry, stored, array, compression, palette = case
    numbers = [int(v) for v in np.unique(array) if v]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_case(root, geometry, stored, [(array, numbers)], "labelmap", compression, palette=palette)
        full = read_seg(path, reference=geometry)
        assert full.segmentation_type == "LABELMAP"
        assert full.volume.geometry is geometry
        np.testing.assert_array_equal(full.volume.array, array)
        assert sorted(s.number for s in full.volume.segments) == numbers
        own = read_seg(path)
        world_compare(array, geometry, own.volume.array, own.volume.geometry)
        assert_same_grid_points(own.volume.geometry, geometry)
        if numbers:
            filled = np.flatnonzero(array.reshape(array.shape[0], -1).any(axis=1))
            assert own.volume.geometry.shape[0] == filled.max() - filled.min() + 1


@settings(max_examples=250, **SETTINGS)
@given(case=labelmap_cases())
def test_labelmap_round_trip(case):
    check_labelmap(case)


# --------------------------------------------------------------------------- BINARY
@st.composite
def binary_cases(draw):
    geometry = draw(geometries())
    array = draw(label_maps(geometry.shape, min_labels=1))
    return geometry, draw(storage()), array, draw(st.sampled_from(syntaxes("BINARY")))


def check_binary(case) -> None:
    geometry, stored, array, compression = case
    values = [int(v) for v in np.unique(array) if v]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_case(root, geometry, stored, [(array, values)], "binary", compression)
        for reference in (geometry, None):
            decoded = read_seg(path, reference=reference)
            assert decoded.segmentation_type == "BINARY"
            # Segment Numbers are 1..N in label order; the label text keeps the value
            number_of = {int(s.label.split()[-1]): s.number for s in decoded.segments}
            assert sorted(number_of) == values
            assert sorted(number_of.values()) == list(range(1, len(values) + 1))
            expected = np.zeros(array.shape, np.uint16)
            for v, n in number_of.items():
                expected[array == v] = n
            merged = decoded.volume_of(sorted(number_of.values()))
            if reference is not None:
                np.testing.assert_array_equal(merged, expected)
            else:
                world_compare(expected, geometry, merged, decoded.geometry)
                assert_same_grid_points(decoded.geometry, geometry)
            for segment, volume in decoded.iter_segment_volumes():
                want = np.where(expected == segment.number, segment.number, 0)
                if reference is not None:
                    np.testing.assert_array_equal(volume, want)
                else:
                    world_compare(want, geometry, volume, decoded.geometry)


@settings(max_examples=150, **SETTINGS)
@given(case=binary_cases())
def test_binary_round_trip(case):
    check_binary(case)


# --------------------------------------------------------------------------- FRACTIONAL
@st.composite
def fractional_cases(draw):
    geometry = draw(geometries(max_side=32))
    maps = []
    for _ in range(draw(st.integers(1, 3))):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        m = rng.integers(0, 256, geometry.shape).astype(np.uint8)
        m[rng.random(geometry.shape) < draw(st.floats(0.0, 0.95))] = 0
        if geometry.shape[0] > 1 and draw(st.booleans()):
            m[int(rng.integers(0, geometry.shape[0]))] = 0
        m.flat[int(rng.integers(0, m.size))] = int(rng.integers(1, 256))  # never all zero
        maps.append(m)
    return geometry, draw(storage()), maps, draw(st.sampled_from(syntaxes("FRACTIONAL")))


def check_fractional(case) -> None:
    geometry, stored, maps, compression = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_case(root, geometry, stored, [(m, [n + 1]) for n, m in enumerate(maps)], "fractional", compression)
        for reference in (geometry, None):
            decoded = read_seg(path, reference=reference)
            assert decoded.segmentation_type == "FRACTIONAL"
            assert decoded.max_fractional_value == 255
            by_label = {s.label: s.number for s in decoded.segments}
            for n, m in enumerate(maps):
                volume = decoded.volume_of([by_label[f"segment {n + 1}"]])
                if reference is not None:
                    np.testing.assert_array_equal(volume, m)
                else:
                    world_compare(m, geometry, volume, decoded.geometry)
            if reference is None:
                assert_same_grid_points(decoded.geometry, geometry)


@settings(max_examples=100, **SETTINGS)
@given(case=fractional_cases())
def test_fractional_round_trip(case):
    check_fractional(case)


# --------------------------------------------------------------------------- every syntax, every type, once
@pytest.mark.parametrize(
    "seg_type, compression", [(t, c) for t in ("LABELMAP", "BINARY", "FRACTIONAL") for c in syntaxes(t)]
)
@settings(max_examples=10, **SETTINGS)
@given(data=st.data())
def test_every_syntax(seg_type, compression, data):
    """A few examples for each (type, syntax) pair, so none is left to chance."""
    geometry = data.draw(geometries(max_slices=4, max_side=30))
    stored = data.draw(storage())
    if seg_type == "LABELMAP":
        check_labelmap((geometry, stored, data.draw(label_maps(geometry.shape)), compression, False))
    elif seg_type == "BINARY":
        check_binary((geometry, stored, data.draw(label_maps(geometry.shape, min_labels=1)), compression))
    else:
        m = data.draw(label_maps(geometry.shape, min_labels=1, wide=False))
        check_fractional((geometry, stored, [m], compression))


# --------------------------------------------------------------------------- regressions the properties found
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 5), (11, 12)])
def test_jpegls_tiny_frames(shape, bits):
    """pyjpegls cannot code noisy frames of up to ~130 pixels (its output buffer is too small)."""
    if not is_available("jpegls"):
        pytest.skip("pyjpegls not installed")
    pytest.importorskip("imagecodecs")
    from labelmap.dicom.pixels.codecs import decode_frames, encode_frames

    dtype = np.uint8 if bits == 8 else np.uint16
    frames = np.random.default_rng(1).integers(0, np.iinfo(dtype).max, (2, *shape)).astype(dtype)
    coded = encode_frames(frames, "jpegls", bits_allocated=bits)
    back = decode_frames(coded, "jpegls", rows=shape[0], columns=shape[1], bits_allocated=bits)
    np.testing.assert_array_equal(back, frames)


# --------------------------------------------------------------------------- slow: many more examples
def require_slow(request) -> None:
    if "slow" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("many examples: run with -m slow (make test-slow)")


@pytest.mark.slow
def test_round_trips_many(request):
    require_slow(request)
    many = SETTINGS

    @settings(max_examples=5000, **many)
    @given(case=labelmap_cases())
    def labelmap(case):
        check_labelmap(case)

    @settings(max_examples=2500, **many)
    @given(case=binary_cases())
    def binary(case):
        check_binary(case)

    @settings(max_examples=2500, **many)
    @given(case=fractional_cases())
    def fractional(case):
        check_fractional(case)

    labelmap()
    binary()
    fractional()
