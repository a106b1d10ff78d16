"""Hostile slide inputs (issue #12): label images that fit no level or are no label image, a CT given as a
slide, TIFFs that lie, and tiled SEGs whose tiles or frame counts lie.  Every one must end in one
``error:`` line, exit 1, nothing left behind, within the limits of :mod:`_harness`.

Sources are VL WSI pyramids written by ``tests/_slides.py``; SEGs are built by hand with pydicom
(``tests/_slide_segs.py``) and then damaged.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _args import out_dir
from _base import Base
from _harness import Case, Run
from _slide_segs import per_frame_positions, tiled_seg
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

SIZES = [(333, 517), (166, 258)]
TILE = (64, 48)
SPACING_MM = 0.0005


def wsi(root: Path) -> Path:
    """A two-level VL WSI pyramid in ``root/wsi``."""
    import _slides

    folder = root / "wsi"
    folder.mkdir()
    _slides.write_wsi_pyramid(folder, sizes=SIZES, tile=TILE, spacing_mm=SPACING_MM)
    return folder


def labels(shape=SIZES[0]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    out[40:200, 60:300] = 1
    out[210:320, 250:500] = 2
    return out


def meta(root: Path) -> Path:
    from labelmap.demo.sample import sample_metadata

    path = root / "meta.json"
    path.write_text(json.dumps(sample_metadata([1, 2])))
    return path


def write_tiff(path: Path, array: np.ndarray, **kw) -> Path:
    import tifffile

    tifffile.imwrite(path, array, **kw)
    return path


def slide_write(make_label: Callable[[Path], Path], *, source: Callable[[Base, Path], Path] | None = None):
    """``itk2seg <label> -d <wsi> -m meta.json -o out/x.seg.dcm`` that must fail."""

    def build(base: Base, root: Path) -> Run:
        label = make_label(root)
        dicom = source(base, root) if source is not None else wsi(root)
        out = out_dir(root) / "x.seg.dcm"
        return Run(["itk2seg", label, "-d", dicom, "-m", meta(root), "-o", out], output=out, expect=1)

    return build


# --------------------------------------------------------------------------- label images
def size_of_no_level(root: Path) -> Path:
    return write_tiff(root / "labels.tif", labels((200, 300)))


def two_d_on_ct(root: Path) -> Path:
    return write_tiff(root / "labels.tif", labels((24, 20)))


def truncated_tiff(root: Path) -> Path:
    path = write_tiff(root / "full.tif", labels(), tile=(64, 64), compression="zlib")
    data = path.read_bytes()
    path.unlink()
    cut = root / "labels.tif"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def rgb_tiff(root: Path) -> Path:
    rgb = np.stack([labels() * 100, labels() * 50, labels()], axis=-1).astype(np.uint8)
    return write_tiff(root / "labels.tif", rgb, photometric="rgb")


def huge_tiff(root: Path) -> Path:
    """A classic TIFF whose one strip claims 10^6 x 10^6 uint8 pixels; the file is a few hundred bytes."""
    entries = [
        (256, 4, 1, 1_000_000),  # ImageWidth
        (257, 4, 1, 1_000_000),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 1_000_000),  # RowsPerStrip
        (279, 4, 1, 10**12 % (1 << 32)),  # StripByteCounts (wraps: the claim cannot be honoured)
    ]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    body = bytearray(b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = data_at if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, count) + packed
    body += struct.pack("<I", 0) + bytes(64)
    path = root / "labels.tif"
    path.write_bytes(bytes(body))
    return path


def nrrd_wrong_spacing(root: Path) -> Path:
    """A 2-D NRRD of level 0's size whose spacing is twice the level's."""
    rows, cols = SIZES[0]
    s = SPACING_MM * 2
    header = (
        f"NRRD0004\ntype: uint8\ndimension: 2\nspace dimension: 2\nsizes: {cols} {rows}\n"
        f"space directions: ({s},0) (0,{s})\nendian: little\nencoding: raw\nspace origin: (0,0)\n\n"
    )
    path = root / "labels.nrrd"
    path.write_bytes(header.encode() + labels().tobytes())
    return path


# --------------------------------------------------------------------------- damaged tiled SEGs
def _seg(change: Callable[[Dataset], object], **kw) -> Callable[[Base, Path], Path]:
    def make(base: Base, root: Path) -> Path:
        return tiled_seg(root / "slide.seg.dcm", change=change, **kw)

    return make


def tile_outside(ds: Dataset) -> None:
    per_frame_positions(ds)[3].RowPositionInTotalImagePixelMatrix = int(ds.TotalPixelMatrixRows) + 1


def too_few_frames(ds: Dataset) -> None:
    n, r, c = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    ds.NumberOfFrames = n - 3
    ds.PixelData = bytes(ds.PixelData)[: (n - 3) * r * c]


def huge_matrix(ds: Dataset) -> None:
    ds.TotalPixelMatrixRows = ds.TotalPixelMatrixColumns = 1_000_000


def zero_length_fragment(ds: Dataset) -> None:
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames[3] = b""
    offsets, at, items = [], 0, []
    for f in frames:
        offsets.append(at)
        items.append(b"\xfe\xff\x00\xe0" + struct.pack("<I", len(f)) + f)
        at += 8 + len(f)
    bot = b"\xfe\xff\x00\xe0" + struct.pack("<I", 4 * len(frames)) + struct.pack(f"<{len(frames)}I", *offsets)
    ds.PixelData = bot + b"".join(items)  # pydicom writes the sequence delimiter


def seg_reads(name: str, make: Callable[[Base, Path], Path]) -> list[Case]:
    """seg2itk must fail (exit 1, one line, the old output folder untouched); validate and info must not crash."""

    def build(command: str) -> Callable[[Base, Path], Run]:
        def run(base: Base, root: Path) -> Run:
            seg = make(base, root)
            if command == "seg2itk":
                out = out_dir(root)
                return Run(["seg2itk", seg, "-o", out], output=out, expect=1)
            return Run([command, seg], expect=1 if command == "validate" else None)

        return run

    return [
        Case(f"slide/{name}/{command}", "slide", build(command), slow=i > 1)
        for i, command in enumerate(("seg2itk", "validate", "info"))
    ]


def ct_source(base: Base, root: Path) -> Path:
    return base.ct


CASES: list[Case] = [
    Case("slide/label-size-matches-no-level", "slide", slide_write(size_of_no_level)),
    Case("slide/ct-source-with-2d-label", "slide", slide_write(two_d_on_ct, source=ct_source)),
    Case("slide/truncated-tiff", "slide", slide_write(truncated_tiff)),
    Case("slide/rgb-tiff", "slide", slide_write(rgb_tiff)),
    Case("slide/tiff-claims-10^6-x-10^6", "slide", slide_write(huge_tiff)),
    Case("slide/2d-nrrd-spacing-differs", "slide", slide_write(nrrd_wrong_spacing)),
    *seg_reads("sparse-tile-outside-matrix", _seg(tile_outside, organization="TILED_SPARSE")),
    *seg_reads("full-too-few-frames", _seg(too_few_frames)),
    *seg_reads("full-huge-matrix-few-frames", _seg(huge_matrix)),
    *seg_reads("full-zero-length-fragment", _seg(zero_length_fragment, rle=True)),
]
