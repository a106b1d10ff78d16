"""The plain LABELMAP read lane: one volume LABELMAP SEG -> ``<prefix or 1>.nrrd`` + ``meta.json``, without numpy.

``labelmap-convert seg2itk SEG -o DIR`` on a small case spends most of its time importing numpy,
pydicom and typer; the conversion itself takes milliseconds.  :func:`read_to_nrrd` does that
conversion for the common file with the standard library, the bulk header reader and the label
kernel's byte-level loop only: a Label Map Segmentation (SOP Class 1.2.840.10008.5.1.4.1.1.66.7) of 8-
or 16-bit frames, native (Explicit or Implicit VR Little Endian, Deflated Explicit VR Little Endian),
RLE Lossless or Deflated Image Frame Compression, on parallel, regularly spaced frames.  It writes
the same bytes as :func:`labelmap.pipeline.convert.seg_to_itk` with ``ReadOptions(fmt="nrrd",
prefix=prefix, create_dir=True)`` and returns the same :class:`~labelmap.pipeline.reports.ReadReport`
(but ``seconds``).

Its envelope is narrow and checked before anything is created: anything the full reader would
refuse, warn about, or compute in a way this module cannot reproduce to the last bit (a value close
to a tolerance, a frame order that rounding could change, a grid vector whose rounding depends on how
the linear algebra library sums three products) makes it return None, and the caller runs the full
path, which writes the output or the error.  Every step below mirrors one of the full reader
(:mod:`labelmap.seg.read`, :mod:`labelmap.seg.decode`, :func:`labelmap.geometry.grid_from_frames`,
:mod:`labelmap.formats.nrrd`) and names it.
"""

from __future__ import annotations

import math
import os
import stat
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from labelmap.pipeline.reports import ReadReport

__all__ = ["read_to_nrrd"]

#: Label Map Segmentation Storage
LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"
#: labelmap.geometry.DEFAULT_TOLERANCE_MM and MAX_GRID_SLICES (a test checks they agree; geometry imports numpy)
TOLERANCE_MM = 0.01
MAX_GRID_SLICES = 100_000
#: files from this size on go to the full reader (it reads them in pieces; dicom.compact.COMPACT_FROM)
_LARGEST_FILE = 1 << 30
#: how far (mm, or slices) a computed value must stay from a threshold for the lane to trust its side
_MARGIN = 1e-6
_TOTAL_PIXEL_MATRIX_ROWS = 0x00480007


class _Outside(Exception):
    """The file (or the output folder) is outside the lane's envelope: the full path takes it."""


def read_to_nrrd(seg: str | os.PathLike[str], output_dir: str | os.PathLike[str], *, prefix: str) -> ReadReport | None:
    """Convert a plain volume LABELMAP SEG to ``<output_dir>/<prefix>-1.nrrd`` (``1.nrrd`` without a prefix)
    and its ``meta.json``, exactly as ``seg_to_itk(seg, output_dir, options=ReadOptions(fmt="nrrd",
    prefix=prefix, create_dir=True))`` does, without importing numpy, pydicom or typer.

    Parameters
    ----------
    seg
        The SEG file.
    output_dir
        The output folder (created when missing, once the SEG has been read).
    prefix
        The file name prefix ("" for none).

    Returns
    -------
    ReadReport or None
        What was written; None when the file is not one this lane takes, or anything failed.  Then
        nothing was created (no output file, no folder, no temporary) and the full path should run.

    Raises
    ------
    KeyboardInterrupt
        Passed on, after the temporaries (and a folder this call created) were removed.
    """
    t0 = time.perf_counter()
    try:
        plan = _plan(os.fspath(seg), os.fspath(output_dir), prefix)
    except Exception:  # outside the envelope, or a failure: the full path names it
        return None
    try:
        return _write(plan, t0)
    except Exception:
        return None


# --------------------------------------------------------------------------- reading
class _Plan:
    """What the lane writes: the label bytes (C order [k, j, i], little endian), their grid (the i, j, k axis
    vectors: spacing x direction) and the descriptions for meta.json.  (A plain class: a dataclass costs
    its import time in every process.)"""

    def __init__(self, **values: Any) -> None:
        self.seg: str = values["seg"]
        self.output_dir: str = values["output_dir"]
        self.prefix: str = values["prefix"]
        self.volume: Any = values["volume"]
        self.type_name: str = values["type_name"]
        self.shape: tuple[int, int, int] = values["shape"]
        self.vectors: tuple[tuple[float, float, float], ...] = values["vectors"]
        self.origin: tuple[float, float, float] = values["origin"]
        self.series: Any = values["series"]
        self.segments: list = values["segments"]
        self.filled: int = values["filled"]
        self.fill: int = values["fill"]


def _plan(name: str, output_dir: str, prefix: str) -> _Plan:
    """Read and check everything, create nothing (raises :class:`_Outside` or any error to decline)."""
    from labelmap.dicom.bulk import read_multiframe_header
    from labelmap.dicom.uids import (
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_LITTLE_ENDIAN,
        IMPLICIT_VR_LITTLE_ENDIAN,
    )
    from labelmap.seg.header import FIELD_PATHS, check_header, int_value, segment_descriptions, series_attributes

    if sys.byteorder != "little":
        raise _Outside("16-bit frames are read as native words")
    # seg_to_itk's checks before the SEG is read: the prefix, an existing output folder
    if any(c in prefix for c in {"/", os.sep, "\0"}) or prefix in (".", "..") or output_dir == "":
        raise _Outside("a prefix or folder the full path refuses")
    if os.path.lexists(output_dir):
        from labelmap._util.atomic import check_output_dir

        check_output_dir(output_dir)
    st = os.stat(name)  # open_seg's _check_regular: a FIFO or device is refused there
    if not stat.S_ISREG(st.st_mode) or st.st_size >= _LARGEST_FILE:
        raise _Outside("not a regular file of a size read whole")

    header, values, pixel = read_multiframe_header(name, FIELD_PATHS)
    ds = header.ds
    if ds is None or values is None:
        raise _Outside("a data set that needs pydicom, or no per-frame items")
    check_header(ds, name)
    ts = header.transfer_syntax
    native = ts in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    if not native and ts not in _FRAME_CODECS:
        raise _Outside(f"transfer syntax {ts}")
    if str(ds.get("SOPClassUID", "")) != LABELMAP_SOP_CLASS or str(ds.get("SegmentationType", "")) != "LABELMAP":
        raise _Outside("not a Label Map Segmentation")
    if _TOTAL_PIXEL_MATRIX_ROWS in ds or str(ds.get("DimensionOrganizationType", "")).startswith("TILED"):
        raise _Outside("a slide SEG")
    if ds.get("PhotometricInterpretation") != "MONOCHROME2" or "ExtendedOffsetTable" in ds:
        raise _Outside("palette colours (numpy) or an extended offset table")

    # frame_info: counts, sizes and the frames' geometry
    n_frames = int_value(ds, "NumberOfFrames", name, default=1, minimum=1)
    if values.n_frames != n_frames:
        raise _Outside("Number of Frames does not match the per-frame items")
    rows = int_value(ds, "Rows", name, minimum=1, maximum=0xFFFF)
    columns = int_value(ds, "Columns", name, minimum=1, maximum=0xFFFF)
    frames = _FrameColumns(values, n_frames)
    positions = frames.every("position", 3)
    orientation = frames.common("orientation", 6, ds, "PlaneOrientationSequence", "ImageOrientationPatient")
    pixel_spacing = frames.common("spacing", 2, ds, "PixelMeasuresSequence", "PixelSpacing")
    if orientation is None or pixel_spacing is None:
        raise _Outside("no orientation or pixel spacing")
    if not all(math.isfinite(v) for v in pixel_spacing) or min(pixel_spacing) <= 0:
        raise _Outside("pixel spacing")
    slice_spacing = None
    for field, keyword in (("between", "SpacingBetweenSlices"), ("thickness", "SliceThickness")):
        value = frames.common(field, 1, ds, "PixelMeasuresSequence", keyword, shared_only_when_absent=True)
        if value is not None and math.isfinite(value[0]) and value[0] > 0:
            slice_spacing = value[0]
            break
    frames.check_rest()

    # decode_labelmap: segments, padding, bits, the frames, the values they hold
    segments = segment_descriptions(ds, name)
    background = int_value(ds, "PixelPaddingValue", name, default=None)
    bits = int_value(ds, "BitsAllocated", name, minimum=1)
    if bits not in (8, 16):
        raise _Outside("Bits Allocated")
    size = bits // 8
    need = n_frames * rows * columns * size
    data: Any  # a view of the file or data set, or the decoded frames
    if native:
        data = _native_frames(pixel, need, st.st_size)
    else:
        data = _decoded_frames(pixel, ts, n_frames, rows, columns, bits, st.st_size)
    numbers = {s.number for s in segments}
    if not _all_described(data, size, numbers):
        raise _Outside("pixel values no segment describes")
    spacing_ij = (float(pixel_spacing[1]), float(pixel_spacing[0]))
    origin, vectors, k, n_slices = _grid(positions, orientation, spacing_ij, slice_spacing)
    if len(set(k)) != len(k):
        raise _Outside("several frames at one slice")
    fill = background if background is not None and 0 <= background < (1 << bits) else 0
    wide = max(numbers | {0, fill}) > 0xFF
    kept = [s for s in segments if s.number != background]
    if any(s.number == 0 for s in kept) or (background is not None and fill != background and n_frames < n_slices):
        raise _Outside("a warning of the full reader")
    out_size = 2 if wide else 1
    if n_slices * rows * columns * out_size > 4 * need + (64 << 20):
        raise _Outside("a grid far larger than the frames")
    volume = _stack(data, size, out_size, k, n_slices, rows * columns, fill)
    return _Plan(
        seg=name,
        output_dir=output_dir,
        prefix=prefix,
        volume=volume,
        type_name="uint16" if wide else "uint8",
        shape=(n_slices, rows, columns),
        vectors=vectors,
        origin=origin,
        series=series_attributes(ds, defaults=False),
        segments=kept,
        filled=n_slices - n_frames,
        fill=fill,
    )


class _FrameColumns:
    """The per-frame values the bulk reader captured, decoded as PerFrameTable.from_values and frame_info do,
    but only in the plain layouts (a value in every frame, or in none and then shared)."""

    def __init__(self, values: Any, n_frames: int) -> None:
        from labelmap.seg.header import _F_BETWEEN, _F_DIM, _F_ORIENT, _F_POSITION, _F_SEGMENT, _F_SPACING, _F_THICK

        self.n_frames = n_frames
        cols = values.columns
        self.columns = {
            "position": cols[_F_POSITION],
            "orientation": cols[_F_ORIENT],
            "spacing": cols[_F_SPACING],
            "thickness": cols[_F_THICK],
            "between": cols[_F_BETWEEN],
        }
        self.segment, self.dims = cols[_F_SEGMENT], cols[_F_DIM]

    def every(self, field: str, width: int) -> list[tuple[float, ...]]:
        """The value of every frame, in frame order (each frame must have its own)."""
        entries = self.columns[field]
        if len(entries) != self.n_frames or any(f != i for i, (f, _) in enumerate(entries)):
            raise _Outside(f"{field} not in every frame")
        return [_ds_numbers(raw, width) for _, raw in entries]

    def common(
        self, field: str, width: int, ds: Any, seq: str, keyword: str, *, shared_only_when_absent: bool = False
    ) -> tuple[float, ...] | None:
        """One value for all frames: the same one in every frame, else (in none) the shared one."""
        if self.columns[field]:
            found = set(self.every(field, width))
            if len(found) != 1:
                raise _Outside(f"{field} differs between frames")
            return found.pop()
        value = _shared_numbers(ds, seq, keyword)
        if value is None or len(value) != width:
            if shared_only_when_absent:
                return None
            raise _Outside(f"no valid shared {keyword}")
        return value

    def check_rest(self) -> None:
        """The columns the LABELMAP reader does not use decode without error (PerFrameTable.from_values)."""
        if self.segment:
            raise _Outside("Referenced Segment Numbers in a LABELMAP")
        if any(len(raw) % 4 for _, raw in self.dims):
            raise _Outside("Dimension Index Values of odd length")


def _ds_numbers(raw: bytes, width: int) -> tuple[float, ...]:
    """A DS value of ``width`` finite numbers (perframe._ds_column)."""
    if b"\0" in raw:
        raise _Outside("a NUL in a decimal string")
    items = raw.strip().split(b"\\")
    if len(items) != width:
        raise _Outside("a decimal string of another width")
    numbers = tuple(float(x) for x in items)
    if not all(math.isfinite(v) for v in numbers):
        raise _Outside("a non-finite number")
    return numbers


def _shared_numbers(ds: Any, seq: str, keyword: str) -> tuple[float, ...] | None:
    """``keyword`` of the shared ``seq`` item as numbers (seg.read._shared_value); None when absent."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    if not (shared and seq in shared[0] and shared[0][seq].value):
        return None
    value = shared[0][seq].value[0].get(keyword)
    if value is None:
        return None
    numbers = tuple(float(v) for v in (value if isinstance(value, list) else [value]))
    if not all(math.isfinite(v) for v in numbers):
        raise _Outside("a non-finite shared value")
    return numbers


def _native_frames(pixel: Any, need: int, file_size: int) -> memoryview:
    """The frames of native Pixel Data (PixelSource.frames): ``need`` bytes, checked against the value and file.

    A view, not a copy: of the inflated data set, or of a read-only map of the file (as the full
    reader maps it), whose pages come straight from the page cache.
    """
    if not pixel.present or pixel.encapsulated:
        raise _Outside("no native Pixel Data")
    if not need <= pixel.length <= need + need % 2:
        raise _Outside("Pixel Data of another length")
    if pixel.buffer is not None:
        if pixel.offset + need > len(pixel.buffer):
            raise _Outside("Pixel Data past the inflated data set")
        return memoryview(pixel.buffer)[pixel.offset : pixel.offset + need]
    if pixel.offset + pixel.length > file_size:
        raise _Outside("Pixel Data past the end of the file")
    if not need:
        return memoryview(b"")
    import mmap

    with open(pixel.path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size != file_size:
            raise _Outside("the file changed while it was read")
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped)[pixel.offset : pixel.offset + need]


def _all_described(data: Any, size: int, numbers: set[int]) -> bool:
    """Whether every value the frames hold is one of ``numbers`` (decode_labelmap's check, by the loop of
    labelmap._core that kernels.label_presence runs)."""
    from array import array

    from labelmap import _core

    if not data:
        return True
    n_values = 0x100 if size == 1 else 0x10000
    labels = memoryview(data).cast("B" if size == 1 else "H", (1, len(data) // size))
    presence = bytearray(n_values)
    counts = array("q", bytes(8 * n_values))
    # the specialisation itself: the fused function's dispatch imports numpy to look for arrays
    kernels: Any = _core.slice_label_presence
    kernel = kernels.__signatures__["uint8_t" if size == 1 else "uint16_t"]
    kernel(labels, memoryview(presence).cast("B", (1, n_values)), counts)
    for number in numbers:
        if number < n_values:
            presence[number] = 0
    return presence.find(1) < 0


def _stack(data: Any, size: int, out_size: int, k: list[int], n_slices: int, npix: int, fill: int) -> Any:
    """The volume holding frame f at slice k[f] (decode._stack_frames), in ``out_size`` bytes a voxel."""
    if out_size != size:
        if size == 2:  # every value fits 8 bits (they are described segment numbers <= 255): the low bytes
            data = bytes(memoryview(data)[0::2])
        else:
            wide = bytearray(2 * len(data))
            wide[0::2] = data
            data = bytes(wide)
    step = npix * out_size
    if k == list(range(n_slices)):
        return data
    unit = fill.to_bytes(out_size, "little")
    volume = bytearray(unit * (npix * n_slices)) if fill else bytearray(step * n_slices)
    view = memoryview(data)
    for f, slice_index in enumerate(k):
        volume[slice_index * step : (slice_index + 1) * step] = view[f * step : (f + 1) * step]
    return volume


# --------------------------------------------------------------------------- geometry (grid_from_frames)
def _exact_fma(a: float, b: float, c: float) -> float:
    """a * b + c rounded once, as a fused multiply-add computes it."""
    if a == 0.0 or b == 0.0 or c == 0.0:
        return a * b + c  # exact in one rounding
    (na, da), (nb, db), (nc, dc) = a.as_integer_ratio(), b.as_integer_ratio(), c.as_integer_ratio()
    return (na * nb * dc + nc * da * db) / (da * db * dc)  # int / int is correctly rounded


def _dot_variants(a: tuple[float, ...], b: tuple[float, ...]) -> set[float]:
    """The dot product of two 3-vectors in every order a BLAS kernel plausibly sums it: in order, pairwise, or
    with fused multiply-adds (OpenBLAS ``ddot`` in order, its AVX2 ``dgemv`` from the middle product).  One
    value: numpy's result, whatever library it was built with; several: the caller declines the file."""
    p0, p1, p2 = a[0] * b[0], a[1] * b[1], a[2] * b[2]
    return {
        (p0 + p1) + p2,
        p0 + (p1 + p2),
        _exact_fma(a[2], b[2], _exact_fma(a[1], b[1], p0)),
        _exact_fma(a[2], b[2], _exact_fma(a[0], b[0], p1)),
        _exact_fma(a[0], b[0], _exact_fma(a[1], b[1], p2)),
    }


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    """``v / np.linalg.norm(v)``, when every way numpy's BLAS may sum the squares gives the same bits."""
    squares = _dot_variants(v, v)
    if len(squares) != 1:
        raise _Outside("a vector norm whose last bit depends on the BLAS")
    norm = math.sqrt(squares.pop())
    return (v[0] / norm, v[1] / norm, v[2] / norm)


def _sub(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float]:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _dot(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _grid(
    positions: list[tuple[float, ...]],
    orientation: tuple[float, ...],
    spacing_ij: tuple[float, float],
    slice_spacing: float | None,
) -> tuple[tuple[float, float, float], tuple[tuple[float, float, float], ...], list[int], int]:
    """(origin, i/j/k axis vectors, slice index of each frame, slices) of grid_from_frames.

    Values that land in the output (origin, vectors) are computed with numpy's operations in its
    order; the decisions (frame order, distinct positions, which step fits) only where every
    rounding gives the same answer, else :class:`_Outside`.
    """
    row, col = tuple(orientation[:3]), tuple(orientation[3:])
    for v in (row, col):
        if abs(math.sqrt(_dot(v, v)) - 1) > 1e-3 - _MARGIN:
            raise _Outside("orientation vectors not unit")
    if abs(_dot(row, col)) > 1e-3 - _MARGIN:
        raise _Outside("orientation vectors not orthogonal")
    normal = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0])
    if not all(all(abs(x) < 1e9 for x in p) for p in positions):
        raise _Outside("a position far outside patient space")
    scale = 1.0 + max(abs(x) for p in positions for x in p)
    proj = [_dot(p, normal) for p in positions]
    order = sorted(range(len(positions)), key=proj.__getitem__)
    for a, b in zip(order, order[1:]):
        if proj[b] - proj[a] <= 1e-9 * scale:  # an order rounding could change (or duplicates)
            raise _Outside("frames too close along the normal")
        if math.dist(positions[a], positions[b]) <= TOLERANCE_MM + _MARGIN:
            raise _Outside("frames at one position")
    origin = tuple(positions[order[0]])

    def vectors(k_dir: tuple[float, float, float], step: float) -> tuple[tuple[float, float, float], ...]:
        di, dj = spacing_ij
        return (
            (row[0] * di, row[1] * di, row[2] * di),
            (col[0] * dj, col[1] * dj, col[2] * dj),
            (k_dir[0] * step, k_dir[1] * step, k_dir[2] * step),
        )

    if len(positions) == 1:
        step = float(slice_spacing) if slice_spacing and slice_spacing > 0 else 1.0
        return origin, vectors(_unit(normal), step), [0], 1  # type: ignore[return-value]
    last = positions[order[-1]]
    span = _sub(last, origin)
    if _dot(span, normal) <= TOLERANCE_MM + _MARGIN * scale:
        raise _Outside("frames in one plane")
    k_dir = _unit(span)
    candidates = [float(slice_spacing)] if slice_spacing and slice_spacing > TOLERANCE_MM else []
    candidates.append(-1.0)  # the smallest gap, computed below only when needed
    for step in candidates:
        if step < 0:
            step = _smallest_gap([positions[i] for i in order], origin, k_dir)
        ks = []
        worst = 0.0
        for p in positions:
            d = _sub(p, origin)
            t = _dot(d, k_dir) / step
            if not t < MAX_GRID_SLICES - 1:
                raise _Outside("a grid of too many slices")
            kk = round(t)
            if abs(t - kk) * step > TOLERANCE_MM + _MARGIN * scale:  # off by more than the tolerance along k
                worst = math.inf  # whichever way np.rint rounds
                break
            if abs(t - kk) > 0.5 - _MARGIN:  # np.rint could round the other way
                raise _Outside("a frame half-way between two slices")
            worst = max(worst, math.dist(d, (kk * step * k_dir[0], kk * step * k_dir[1], kk * step * k_dir[2])))
            ks.append(kk)
        if worst <= TOLERANCE_MM - _MARGIN * scale and min(ks) >= 0:  # (ks is complete: worst is finite)
            return origin, vectors(k_dir, step), ks, max(ks) + 1  # type: ignore[return-value]
        if worst <= TOLERANCE_MM + _MARGIN * scale:
            raise _Outside("a frame at the tolerance")
    raise _Outside("frames off a regular grid")


def _smallest_gap(ordered: list[tuple[float, ...]], origin: tuple[float, ...], k_dir: tuple[float, ...]) -> float:
    """``np.diff((distinct - origin) @ k_dir).min()``, when every way of summing the products agrees (a matrix
    product goes to BLAS ``dgemv``, whose kernels sum in other orders than ``ddot``)."""
    along: list[float] = []
    for p in ordered:
        d = _sub(p, origin)
        variants = _dot_variants(d, k_dir)
        if len(variants) != 1:
            raise _Outside("a slice step whose last bit depends on the BLAS")
        along.append(variants.pop())
    return min(b - a for a, b in zip(along, along[1:]))


# --------------------------------------------------------------------------- encapsulated frames
_FRAME_CODECS = ("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.8.1")  # RLE Lossless, Deflated Image Frame Compression


def _decoded_frames(
    pixel: Any, ts: str, n_frames: int, rows: int, columns: int, bits: int, file_size: int
) -> bytearray:
    """Frames of RLE Lossless or Deflated Image Frame Compression, one fragment each (FilePixels._fast_decode)."""
    if not pixel.present or not pixel.encapsulated or len(pixel.fragments) != n_frames:
        raise _Outside("not one fragment per frame")
    if pixel.basic_offset_table and len(pixel.basic_offset_table) != n_frames:
        raise _Outside("a Basic Offset Table of another length")
    npx = rows * columns
    size = bits // 8
    if pixel.buffer is not None:
        source: Any = memoryview(pixel.buffer)
        end = len(pixel.buffer)
    else:
        end = file_size
        source = None
    if any(o + n > end for o, n in pixel.fragments):
        raise _Outside("a fragment past the end of the file")
    # a decoded size far beyond what the fragments can hold (DEFLATE inflates at most 1032 times)
    if npx * size * n_frames > min(1032 * sum(n for _, n in pixel.fragments) + (1 << 20), _LARGEST_FILE):
        raise _Outside("frames larger than their fragments can hold")
    out = bytearray(npx * size * n_frames)
    with open(pixel.path, "rb") as fh:
        for f, (offset, length) in enumerate(pixel.fragments):
            fragment = source[offset : offset + length] if source is not None else os.pread(fh.fileno(), length, offset)
            if len(fragment) != length:
                raise _Outside("a short read")
            if ts == _FRAME_CODECS[0]:
                _rle_frame(fragment, out, f * npx * size, npx, size)
            else:
                _inflate_frame(fragment, out, f * npx * size, npx * size)
    return out


def _rle_frame(data: Any, out: bytearray, start: int, npx: int, size: int) -> None:
    """One RLE Lossless frame into ``out[start:]``: its checked segments (frame_streams), then the PackBits kernel."""
    from labelmap import _core
    from labelmap.dicom.pixels.frame_streams import rle_segments

    decode: Any = _core.rle_decode_segment  # typed for arrays; takes any buffer
    target = memoryview(out)[start : start + npx * size]
    for i, segment in enumerate(rle_segments(memoryview(data).cast("B"), size)):
        # segment i is byte plane size - 1 - i: most significant first, into little-endian words
        if decode(segment, target, size - 1 - i, size, npx) != npx:
            raise _Outside("a damaged RLE frame")


def _inflate_frame(data: Any, out: bytearray, start: int, expected: int) -> None:
    """One Deflated Image Frame Compression frame into ``out[start:]`` (frame_streams' bounded inflate)."""
    from labelmap.dicom.pixels.frame_streams import inflate_frame

    out[start : start + expected] = inflate_frame(data, expected)


# --------------------------------------------------------------------------- writing
def _write(plan: _Plan, t0: float) -> ReadReport:
    """The NRRD and meta.json as seg_to_itk writes them: staged in the folder, renamed when both are written."""
    from labelmap._util.atomic import OutputSet, check_not_input, check_output_dir, missing_dirs
    from labelmap._util.deflate import gzip_compress
    from labelmap.formats.dcmqi_json import write_meta_json
    from labelmap.formats.nrrd_text import header_text_lines

    stem = f"{plan.prefix}-" if plan.prefix else ""
    folder = Path(plan.output_dir)
    image, meta = folder / f"{stem}1.nrrd", folder / f"{stem}meta.json"
    check_not_input([image, meta], [plan.seg], what="the input SEG")  # only existing files can be the SEG
    head = "\n".join(header_text_lines(plan.type_name, plan.shape[::-1], plan.vectors, plan.origin, True)) + "\n\n"
    body = gzip_compress(plan.volume)
    groups = [[replace(s, label_id=s.number) for s in plan.segments]]
    created = missing_dirs(plan.output_dir)
    try:
        out_dir = check_output_dir(plan.output_dir, create=True)
    except BaseException:
        for folder_made in created:  # a mkdir that failed half-way: nothing of this run stays
            try:
                folder_made.rmdir()
            except OSError:
                pass
        raise
    image, meta = out_dir / f"{stem}1.nrrd", out_dir / f"{stem}meta.json"
    with OutputSet(created=created) as out:
        with open(out.stage(image), "wb") as fh:
            fh.write(head.encode("ascii"))
            fh.write(body)
        write_meta_json(out.stage(meta), plan.series, groups)
    warnings = []
    if plan.filled:
        value = f"the Pixel Padding Value {plan.fill}" if plan.fill else "background (0)"
        warnings.append(f"{plan.filled} slice(s) without a frame were filled with {value}")
    return ReadReport(
        outputs=[image],
        metadata=meta,
        shape=plan.shape,
        segments=len(plan.segments),
        filled_slices=plan.filled,
        seconds=time.perf_counter() - t0,
        warnings=warnings,
    )
