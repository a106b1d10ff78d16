"""asv benchmarks of the checked kernel wrappers in :mod:`labelmap.kernels`.

Parameters: segment count (1, 10, 100) and volume size (128x128x64 and
512x512x300; set LABELMAP_BENCH_SMALL=1 to skip the large size, e.g. for
``asv run --quick``).  The label volumes are organ phantoms made once in
``setup_cache`` and loaded from .npy files in ``setup``.
"""

from __future__ import annotations

import os

import numpy as np

from . import _cases

SEGMENTS = [1, 10, 100]


def _array_path(root: str, n: int, size: str) -> str:
    return os.path.join(root, f"labels-{size}-L{n}.npy")


class _KernelBase:
    params = [SEGMENTS, _cases.size_params()]
    param_names = ["segments", "size"]
    timeout = 600
    repeat = (1, 5, 30.0)  # slow kernels on the large size: a few samples are enough

    def setup_cache(self):
        from labelmap.demo.sample import organ_phantom
        from labelmap.kernels import as_label_array

        root = os.path.abspath("kernel-cases")
        os.makedirs(root, exist_ok=True)
        for size in _cases.size_params():
            rows, slices = _cases.SIZES[size]
            geometry = _cases.geometry_for(rows, slices)
            for n in SEGMENTS:
                labels = as_label_array(organ_phantom(geometry, n, seed=_cases.SEED))
                np.save(_array_path(root, n, size), labels)
        return root

    setup_cache.timeout = 1800

    def load(self, root, n, size):
        _cases.skip_if_disabled(size)
        self.labels = np.load(_array_path(root, n, size))
        self.n = n

    def frames(self):
        """(slices, values) of every non-empty (slice, label) pair, as a SEG writer would emit."""
        from labelmap.kernels import label_presence

        presence, _ = label_presence(self.labels)
        k, v = np.nonzero(presence[:, 1:])
        return k.astype(np.int64), (v + 1).astype(np.int64)


class LabelPresence(_KernelBase):
    """label_presence: arrays of 16 MiB or more are split over every core (``threads=None``).

    Measured on the 2-core development VM, 512x512x300: uint8 4.1 ms on two threads against
    7.2 ms on one, uint16 7.4 against 13.8 ms; starting a thread costs about 0.1 ms.
    """

    def setup(self, root, n, size):
        self.load(root, n, size)

    def time_label_presence(self, root, n, size):
        from labelmap.kernels import label_presence

        label_presence(self.labels)

    def time_label_presence_one_thread(self, root, n, size):
        from labelmap.kernels import label_presence

        label_presence(self.labels, threads=1)

    def peakmem_label_presence(self, root, n, size):
        from labelmap.kernels import label_presence

        label_presence(self.labels)


class LabelPresence16(_KernelBase):
    """label_presence on the 16-bit copy (a uint16 file with more than 255 labels stays uint16)."""

    def setup(self, root, n, size):
        self.load(root, n, size)
        self.labels = self.labels.astype(np.uint16)

    def time_label_presence_uint16(self, root, n, size):
        from labelmap.kernels import label_presence

        label_presence(self.labels)


class NarrowToUint8(_KernelBase):
    """The fused copy + range check of narrowed NRRD reads, on the whole volume as uint16."""

    def setup(self, root, n, size):
        self.load(root, n, size)
        self.wide = self.labels.astype(np.uint16).reshape(-1)
        self.out = np.empty(self.wide.size, dtype=np.uint8)
        self.out[:] = 1  # touched: time the pass, not fresh pages

    def time_narrow_to_uint8(self, root, n, size):
        from labelmap.kernels import narrow_to_uint8

        narrow_to_uint8(self.wide, self.out)

    def time_numpy_max_min_copy(self, root, n, size):
        # what the NRRD reader did before: three passes
        self.wide.max(), self.wide.min()
        self.out[:] = self.wide


class RemapLabels(_KernelBase):
    def setup(self, root, n, size):
        self.load(root, n, size)
        top = int(self.labels.max())
        lut = np.zeros(top + 1, dtype=np.uint16)
        lut[1:] = np.arange(top, 0, -1)  # reverse the numbering
        self.lut = lut

    def time_remap_labels(self, root, n, size):
        from labelmap.kernels import remap_labels

        remap_labels(self.labels, self.lut)

    def peakmem_remap_labels(self, root, n, size):
        from labelmap.kernels import remap_labels

        remap_labels(self.labels, self.lut)


class PackLabelFrames(_KernelBase):
    def setup(self, root, n, size):
        self.load(root, n, size)
        self.slices, self.values = self.frames()

    def time_pack_label_frames(self, root, n, size):
        from labelmap.kernels import pack_label_frames

        pack_label_frames(self.labels, self.slices, self.values)

    def peakmem_pack_label_frames(self, root, n, size):
        from labelmap.kernels import pack_label_frames

        pack_label_frames(self.labels, self.slices, self.values)


class _PackedBase(_KernelBase):
    def setup(self, root, n, size):
        from labelmap.kernels import pack_label_frames

        self.load(root, n, size)
        self.slices, self.values = self.frames()
        self.packed = pack_label_frames(self.labels, self.slices, self.values)
        self.shape = self.labels.shape
        self.npx = self.shape[1] * self.shape[2]


class PaintFrames(_PackedBase):
    def setup(self, root, n, size):
        super().setup(root, n, size)
        self.out = np.zeros(self.shape, dtype=self.labels.dtype)

    def time_paint_frames(self, root, n, size):
        from labelmap.kernels import paint_frames

        paint_frames(self.packed, self.slices, self.values, self.out)

    def peakmem_paint_frames(self, root, n, size):
        from labelmap.kernels import paint_frames

        paint_frames(self.packed, self.slices, self.values, np.zeros(self.shape, dtype=self.labels.dtype))


class FrameOverlap(_PackedBase):
    """Overlap of BINARY frames: the phantom, plus every frame shifted by 3 columns as a second copy of each segment."""

    def setup(self, root, n, size):
        from labelmap.kernels import pack_label_frames

        super().setup(root, n, size)
        shifted = np.ascontiguousarray(np.roll(self.labels, 3, axis=2))
        f = self.slices.size
        # concatenate the two bit streams (frame f of the second at bit (F + f) * npx)
        stream = np.zeros((2 * f * self.npx + 7) // 8, dtype=np.uint8)
        pack_label_frames(self.labels, self.slices, self.values, out=stream)
        pack_label_frames(shifted, self.slices, self.values, out=stream, bit_offset=f * self.npx)
        self.packed = stream
        self.positions = np.concatenate([self.slices, self.slices])
        self.segments = np.concatenate([self.values - 1, self.values - 1 + self.n])
        self.n_segments = 2 * self.n

    def time_frame_overlap(self, root, n, size):
        from labelmap.kernels import frame_overlap

        frame_overlap(self.packed, self.positions, self.segments, self.n_segments, self.npx)

    def peakmem_frame_overlap(self, root, n, size):
        from labelmap.kernels import frame_overlap

        frame_overlap(self.packed, self.positions, self.segments, self.n_segments, self.npx)


class LabelOverlap(_KernelBase):
    """Two label files on one grid: the phantom and a copy shifted by 3 columns with its own segments."""

    def setup(self, root, n, size):
        self.load(root, n, size)
        self.shifted = np.ascontiguousarray(np.roll(self.labels, 3, axis=2))
        top = int(self.labels.max())
        lut1 = np.full(top + 1, -1, dtype=np.int32)
        lut1[1:] = np.arange(top)
        lut2 = np.full(top + 1, -1, dtype=np.int32)
        lut2[1:] = np.arange(top) + top
        self.luts = [lut1, lut2]
        self.n_segments = 2 * top

    def time_label_overlap(self, root, n, size):
        from labelmap.kernels import label_overlap

        label_overlap([self.labels, self.shifted], self.luts, self.n_segments)

    def peakmem_label_overlap(self, root, n, size):
        from labelmap.kernels import label_overlap

        label_overlap([self.labels, self.shifted], self.luts, self.n_segments)


class GreedyLayers(_KernelBase):
    """First-fit layering of the overlap matrix of LabelOverlap (2N segments)."""

    def setup(self, root, n, size):
        from labelmap.kernels import label_overlap

        self.load(root, n, size)
        shifted = np.roll(self.labels, 3, axis=2)
        top = int(self.labels.max())
        lut1 = np.full(top + 1, -1, dtype=np.int32)
        lut1[1:] = np.arange(top)
        lut2 = np.full(top + 1, -1, dtype=np.int32)
        lut2[1:] = np.arange(top) + top
        self.overlap = label_overlap([self.labels, shifted], [lut1, lut2], 2 * top)
        del self.labels

    def time_greedy_layers(self, root, n, size):
        from labelmap.kernels import greedy_layers

        greedy_layers(self.overlap)

    def peakmem_greedy_layers(self, root, n, size):
        from labelmap.kernels import greedy_layers

        greedy_layers(self.overlap)


class _RleBase(_KernelBase):
    """Every slice as one frame, 8-bit or 16-bit (labels + 256: values above 255 sharing high bytes)."""

    params = [SEGMENTS, _cases.size_params(), ["uint8", "uint16"]]
    param_names = ["segments", "size", "dtype"]

    def setup(self, root, n, size, dtype):
        self.load(root, n, size)
        self.frames = self.labels.astype(dtype)
        if dtype == "uint16":
            self.frames[self.frames != 0] += 256
        del self.labels


class RleEncodeFrames(_RleBase):
    """RLE Lossless encoding (``--compression rle``) by the kernel; ``track_rle_bytes`` is the
    size of the codestreams.  :class:`RlePylibjpeg` times the encoder the writer used before.

    Frames of 4 MiB or more in all are split over every core (``threads=None``).  Measured on
    the 2-core development VM, label maps: 512x512x298 uint8 7 ms on two threads against 12 ms
    on one; 16 frames (4 MiB) 0.40 against 0.57 ms; 1 MiB 0.18 against 0.11 ms (below the
    threshold one thread wins); starting a thread costs about 0.05 ms; pylibjpeg-rle took 0.8 s.
    """

    def time_rle_encode_frames(self, root, n, size, dtype):
        from labelmap.kernels import rle_encode_frames

        rle_encode_frames(self.frames)

    def time_rle_encode_frames_one_thread(self, root, n, size, dtype):
        from labelmap.kernels import rle_encode_frames

        rle_encode_frames(self.frames, threads=1)

    def peakmem_rle_encode_frames(self, root, n, size, dtype):
        from labelmap.kernels import rle_encode_frames

        rle_encode_frames(self.frames)

    def track_rle_bytes(self, root, n, size, dtype):
        from labelmap.kernels import rle_encode_frames

        return sum(len(b) for b in rle_encode_frames(self.frames))

    track_rle_bytes.unit = "bytes"


class RlePylibjpeg(_RleBase):
    """The encoder ``--compression rle`` used before: pylibjpeg-rle (Rust), frame by frame."""

    def setup(self, root, n, size, dtype):
        try:
            from rle.rle import encode_frame
        except ImportError:
            raise NotImplementedError("pylibjpeg-rle is not installed") from None
        self.encode_frame = encode_frame
        super().setup(root, n, size, dtype)

    def time_pylibjpeg_rle(self, root, n, size, dtype):
        _, rows, cols = self.frames.shape
        bits = 8 * self.frames.dtype.itemsize
        for frame in self.frames:
            self.encode_frame(frame.tobytes(), rows, cols, 1, bits, "<")

    def track_pylibjpeg_rle_bytes(self, root, n, size, dtype):
        _, rows, cols = self.frames.shape
        bits = 8 * self.frames.dtype.itemsize
        return sum(len(self.encode_frame(f.tobytes(), rows, cols, 1, bits, "<")) for f in self.frames)

    track_pylibjpeg_rle_bytes.unit = "bytes"


class DeflateChunks(_KernelBase):
    """Raw deflate of the label volume (Deflated transfer syntax), chunks of 8 MiB or more split
    over every core (``threads=None``).

    Measured on the 2-core development VM, the 78 MB reference volume at level 1 (zlib-ng's
    Z_RLE strategy): 1.29 MB in 0.025 s, where ISA-L's level 1 gives 1.79 MB in 0.016 s and
    zlib-ng's level 6 1.02 MB in 0.17 s.
    """

    def setup(self, root, n, size):
        self.load(root, n, size)

    def time_deflate_chunks_level_1(self, root, n, size):
        from labelmap._util.deflate import deflate_chunks

        deflate_chunks(self.labels.data, level=1)

    def time_deflate_chunks_level_1_one_thread(self, root, n, size):
        from labelmap._util.deflate import deflate_chunks

        deflate_chunks(self.labels.data, level=1, threads=1)

    def track_deflate_level_1_bytes(self, root, n, size):
        from labelmap._util.deflate import deflate_chunks

        return sum(len(b) for b in deflate_chunks(self.labels.data, level=1))

    track_deflate_level_1_bytes.unit = "bytes"


# ----------------------------------------------------------------------------- slide bands
#: band widths: a 100,000-pixel-wide slide; 4,000 with LABELMAP_BENCH_SMALL=1
BAND_WIDTHS = [4_000] if _cases.small_only() else [4_000, 100_000]


def nuclei_band(rows: int, width: int, seed: int = _cases.SEED) -> np.ndarray:
    """A uint16 slide band like a cell-class map: 20 classes in blobs of 8 x 8 to 24 x 24 pixels
    over tissue (the middle half of the width), background elsewhere."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(1, 21, (-(-rows // 8), -(-width // 8)), dtype=np.uint16)
    cells[rng.random(cells.shape) < 0.6] = 0
    band = np.repeat(np.repeat(cells, 8, axis=0), 8, axis=1)[:rows, :width]
    band[:, : width // 4] = 0
    band[:, 3 * width // 4 :] = 0
    return np.ascontiguousarray(band)


class SlideBand:
    """Frame tiling of one 512-row band of a slide (512 x 512 tiles): labelmap.kernels.tiles.

    Measured on the 2-core development VM while other jobs kept it busy (load 7-10), 512 x
    100,000 uint16 into a reused tile buffer: band_to_tiles 29-35 ms (3-3.5 GB/s of band read,
    as fast as NumPy's strided narrowing copy without the presence flags; a fresh output array
    costs 30 ms more in page faults, hence ``out=``), uint16 -> uint8 24-29 ms, uint8 14 ms;
    tiles_to_band 36 ms; reading the band row by row (each row feeds every tile) instead of
    tile by tile took 49 and 70 ms down to these.  pack_tile_bits (uint8) 13-35 ms, 8 pixels
    per step (222 ms with one compare per pixel); count_values 21 ms (uint8) / 32 ms (uint16).
    """

    params = [["uint8", "uint16"], BAND_WIDTHS]
    param_names = ["dtype", "width"]
    timeout = 600

    def setup(self, dtype, width):
        from labelmap.kernels import band_to_tiles

        self.band = nuclei_band(512, width).astype(dtype)
        self.tiles, _ = band_to_tiles(self.band, 512, 512)
        self.out8 = np.ones_like(self.tiles, dtype=np.uint8)
        self.out = np.ones_like(self.tiles)
        self.back = np.ones_like(self.band)
        self.counts = np.zeros(256 if dtype == "uint8" else 65536, dtype=np.int64)
        self.packed, _ = self.pack()
        self.rows = np.arange(0, 512, 2)
        self.cols = np.arange(0, width, 2)
        self.small = np.ones((self.rows.size, self.cols.size), dtype=dtype)

    def pack(self):
        from labelmap.kernels import pack_tile_bits

        return pack_tile_bits(self.band, 512, 512, value=3)

    def time_band_to_tiles(self, dtype, width):
        from labelmap.kernels import band_to_tiles

        band_to_tiles(self.band, 512, 512, out=self.out)

    def time_band_to_tiles_one_thread(self, dtype, width):
        from labelmap.kernels import band_to_tiles

        band_to_tiles(self.band, 512, 512, out=self.out, threads=1)

    def time_band_to_tiles_narrowed_to_uint8(self, dtype, width):
        from labelmap.kernels import band_to_tiles

        band_to_tiles(self.band, 512, 512, dtype=np.uint8, out=self.out8)

    def time_band_to_tiles_new_array(self, dtype, width):
        from labelmap.kernels import band_to_tiles

        band_to_tiles(self.band, 512, 512)

    def time_tiles_to_band(self, dtype, width):
        from labelmap.kernels import tiles_to_band

        tiles_to_band(self.tiles, width, out=self.back)

    def time_count_values(self, dtype, width):
        from labelmap.kernels import count_values

        count_values(self.band, self.counts)

    def time_pack_tile_bits(self, dtype, width):
        self.pack()

    def time_unpack_tile_bits(self, dtype, width):
        from labelmap.kernels import unpack_tile_bits

        unpack_tile_bits(self.packed, len(self.tiles), 512, 512)

    def time_downsample_nearest_by_2(self, dtype, width):
        from labelmap.kernels import downsample_nearest

        downsample_nearest(self.band, self.rows, self.cols, out=self.small)

    def peakmem_band_to_tiles(self, dtype, width):
        from labelmap.kernels import band_to_tiles

        band_to_tiles(self.band, 512, 512)


class SlideTileCodecs:
    """The slide writer's frame codecs on one 256-row band cut into 256 x 256 uint8 tiles: RLE
    (the default; :func:`labelmap.kernels.rle_encode_frames`) and Deflated Image Frame
    Compression (``--compression deflate`` for slides), on every core and on one.

    Measured on the 2-core development VM (busy): RLE of this band (8-pixel cells over half the
    width) 18 ms on one core, 1,400 Mpx/s; sparser nuclei tiles (blobs of radius 4-12) about
    2,800 Mpx/s and background tiles 13,000 Mpx/s: well above the 200 Mpx/s per core a 100,000 x
    80,000 slide in 20 s on 2 cores needs, so the kernel is unchanged.  Deflated Image Frame
    Compression (ISA-L level 1) 16-18 ms for 5x smaller frames; inflating them back 18 ms.
    """

    params = [BAND_WIDTHS]
    param_names = ["width"]
    timeout = 600

    def setup(self, width):
        from labelmap.kernels import band_to_tiles

        self.tiles, _ = band_to_tiles(nuclei_band(256, width), 256, 256, dtype=np.uint8)

    def time_rle(self, width):
        from labelmap.kernels import rle_encode_frames

        rle_encode_frames(self.tiles)

    def time_rle_one_thread(self, width):
        from labelmap.kernels import rle_encode_frames

        rle_encode_frames(self.tiles, threads=1)

    def time_deflate_frame(self, width):
        from labelmap.dicom.pixels.codecs import encode_frames

        encode_frames(self.tiles, "deflate-frame", bits_allocated=8)

    def time_deflate_frame_one_thread(self, width):
        from labelmap.dicom.pixels.codecs import encode_frames

        encode_frames(self.tiles, "deflate-frame", bits_allocated=8, threads=1)

    def time_deflate_frame_decode(self, width):
        from labelmap.dicom.pixels.codecs import decode_frames

        decode_frames(self.deflated(), "deflate-frame", rows=256, columns=256, bits_allocated=8)

    def deflated(self) -> list[bytes]:
        from labelmap.dicom.pixels.codecs import encode_frames

        if not hasattr(self, "_deflated"):
            self._deflated = encode_frames(self.tiles, "deflate-frame", bits_allocated=8)
        return self._deflated

    def track_rle_bytes(self, width):
        from labelmap.kernels import rle_encode_frames

        return sum(len(b) for b in rle_encode_frames(self.tiles))

    track_rle_bytes.unit = "bytes"

    def track_deflate_frame_bytes(self, width):
        return sum(len(b) for b in self.deflated())

    track_deflate_frame_bytes.unit = "bytes"
