"""Type stubs for the compiled kernels (see labelmap/_core.pyx)."""

import numpy as np
import numpy.typing as npt

def slice_label_presence(
    labels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32],
    presence: npt.NDArray[np.uint8],
    counts: npt.NDArray[np.int64],
) -> None: ...
def remap_lut(
    labels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32],
    lut: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
    out: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
) -> None: ...

_Labels = npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32]
_Out = npt.NDArray[np.uint8] | npt.NDArray[np.uint16]

def pack_label_frames(
    labels: _Labels,
    frame_slices: npt.NDArray[np.int64],
    frame_values: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    group_starts: npt.NDArray[np.int64],
    lut: npt.NDArray[np.int64],
    out: npt.NDArray[np.uint8],
    bit_offset: int,
) -> None: ...
def pack_masks(masks: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8]) -> None: ...
def paint_frames(
    packed: npt.NDArray[np.uint8],
    frame_index: npt.NDArray[np.int64],
    frame_slices: npt.NDArray[np.int64],
    frame_values: npt.NDArray[np.int64],
    out: _Out,
) -> None: ...
def frame_overlap(
    packed: npt.NDArray[np.uint8],
    order: npt.NDArray[np.int64],
    group_starts: npt.NDArray[np.int64],
    segments: npt.NDArray[np.int32],
    npx: int,
    n_segments: int,
    count: npt.NDArray[np.int32],
    start: npt.NDArray[np.int32],
    fill: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def lut_segments(labels: _Labels, lut: npt.NDArray[np.int32], seg: npt.NDArray[np.int32]) -> None: ...
def segment_overlap(
    seg: npt.NDArray[np.int32], n: int, n_segments: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def narrow_to_u8(
    src: npt.NDArray[np.uint16] | npt.NDArray[np.uint32] | npt.NDArray[np.uint64], out: npt.NDArray[np.uint8]
) -> bool: ...
def rle_encode(
    frames: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], out: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]
) -> None: ...

# frame tiling of slide bands (labelmap/_tiles.pxi)
_Band = npt.NDArray[np.uint8] | npt.NDArray[np.uint16]

def band_to_tiles(band: _Band, tiles: _Band, present: npt.NDArray[np.uint8], t0: int, t1: int) -> None: ...
def tiles_to_band(tiles: _Band, band: _Band, t0: int, t1: int) -> None: ...
def count_values(band: _Band, seen: npt.NDArray[np.uint8], counts: npt.NDArray[np.int64]) -> None: ...
def pack_tile_bits(
    band: _Band,
    tile_rows: int,
    tile_columns: int,
    value: int,
    out: npt.NDArray[np.uint8],
    bit_offset: int,
    present: npt.NDArray[np.uint8],
    t0: int,
    t1: int,
) -> None: ...
def unpack_tile_bits(data: npt.NDArray[np.uint8], bit_offset: int, out: npt.NDArray[np.uint8]) -> None: ...
def downsample_nearest(
    band: _Band, row_index: npt.NDArray[np.int64], col_index: npt.NDArray[np.int64], out: _Band, i0: int, i1: int
) -> None: ...
def rle_decode_segment(
    segment: bytes | bytearray | memoryview, out: np.ndarray, offset: int, stride: int, count: int
) -> int: ...

# the clean top-level element walk of a DICOM header (labelmap/_walk.pxi)
def walk_header(
    buf: bytes,
    pos: int,
    implicit: bool,
    meta: bool,
    stop: int,
    wanted: npt.NDArray[np.uint32],
    everything: bool,
    sequences: npt.NDArray[np.uint32],
    previous: int,
    budget: int,
    max_depth: int,
    out: npt.NDArray[np.int64],
) -> tuple[int, list[tuple[int, int, int, int]], int, int, int]: ...
