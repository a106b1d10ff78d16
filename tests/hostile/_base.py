"""Inputs every hostile case starts from (made once per session) and byte-level tools to damage them."""

from __future__ import annotations

import json
import shutil
import struct
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from _images import write_image

from labelmap.cli import main
from labelmap.demo.sample import organ_phantom, sample_metadata
from labelmap.model import Geometry

from _geometries import axial_geometry, make_ct_series
from _segfiles import write_files

SHAPE = (6, 24, 20)  # [k, j, i] of the base CT and label map
LABELS = [1, 2, 3]
MIB = 1 << 20
GIB = 1 << 30
DEFLATED = "1.2.840.10008.1.2.1.99"


@dataclass(frozen=True)
class Base:
    """A CT series, its label map (NRRD, NIfTI), dcmqi JSON and SEG files of every kind on it."""

    root: Path
    geometry: Geometry
    ct: Path
    labels: np.ndarray
    lab: Path
    nii: Path
    meta_doc: dict
    meta: Path
    lm: Path  # LABELMAP SEG written by itk2seg
    binary: Path  # BINARY SEG written by itk2seg
    segs: dict[str, Path]  # _segfiles.write_files: "lm8-none", "bin-j2k", ... (on their own CT, segs/ct)


def make_base(root: Path) -> Base:
    geometry = axial_geometry(shape=SHAPE)
    ct = make_ct_series(root, geometry, name="ct")
    labels = organ_phantom(geometry, 3, seed=1)
    assert sorted(int(v) for v in np.unique(labels) if v) == LABELS
    lab, nii = root / "lab.nrrd", root / "lab.nii.gz"
    write_image(lab, labels, geometry)
    write_image(nii, labels, geometry)
    meta_doc = sample_metadata(LABELS)
    meta = root / "meta.json"
    meta.write_text(json.dumps(meta_doc, indent=2))
    lm, binary = root / "lm.seg.dcm", root / "binary.seg.dcm"
    common = [str(lab), "-d", str(ct), "-m", str(meta), "-q"]
    assert main(["itk2seg", *common, "-o", str(lm)]) == 0
    assert main(["itk2seg", *common, "-o", str(binary), "--type", "binary"]) == 0
    (root / "segs").mkdir()
    _, segs = write_files(root / "segs")
    return Base(root, geometry, ct, labels, lab, nii, meta_doc, meta, lm, binary, segs)


# --------------------------------------------------------------------------- session caches
_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()


def cached(key: str, make: Callable[[], object]) -> object:
    """``make()`` once per session (bombs take a moment to build)."""
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = make()
        return _CACHE[key]


# --------------------------------------------------------------------------- deflate / gzip bombs
def deflate_pieces(pieces: list[bytes | int], *, level: int = 9) -> bytes:
    """A raw deflate stream of ``pieces`` (bytes as they are, an int = that many zero bytes).

    Runs of zeros cost nothing to build: after a full flush the compressor forgets its window,
    so every further MiB of zeros compresses to the same bytes, which are repeated."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    out: list[bytes] = []
    zero = bytes(MIB)
    block = b""
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(c.compress(piece) + c.flush(zlib.Z_FULL_FLUSH))
            continue
        whole, rest = divmod(piece, MIB)
        if whole:
            if not block:
                block = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
                whole -= 1
                out.append(block)
            out.append(block * whole)
        if rest:
            out.append(c.compress(bytes(rest)) + c.flush(zlib.Z_FULL_FLUSH))
    out.append(c.flush())
    return b"".join(out)


def gzip_pieces(pieces: list[bytes | int]) -> bytes:
    """A gzip member of ``pieces`` (see :func:`deflate_pieces`), with a correct CRC and size."""
    crc, size = 0, 0
    zero = bytes(MIB)
    for piece in pieces:
        if isinstance(piece, bytes):
            crc = zlib.crc32(piece, crc)
            size += len(piece)
            continue
        whole, rest = divmod(piece, MIB)
        for _ in range(whole):
            crc = zlib.crc32(zero, crc)
        crc = zlib.crc32(bytes(rest), crc)
        size += piece
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + deflate_pieces(pieces) + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


# --------------------------------------------------------------------------- DICOM bytes
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def meta_end(data: bytes) -> int:
    """Offset of the data set after the preamble, 'DICM' and the file meta group."""
    assert data[128:132] == b"DICM"
    (group_length,) = struct.unpack_from("<I", data, 132 + 8)
    return 132 + 12 + group_length


def split_file(path: Path) -> tuple[bytes, bytes]:
    """(preamble + file meta, data set bytes) of an Explicit VR Little Endian or Deflated file."""
    data = path.read_bytes()
    end = meta_end(data)
    head, body = data[:end], data[end:]
    if DEFLATED.encode() in head:
        body = zlib.decompress(body, -15)
    return head, body


def with_syntax(head: bytes, syntax: str) -> bytes:
    """The file meta ``head`` with its Transfer Syntax UID replaced (group length fixed)."""
    pos = head.index(b"\x02\x00\x10\x00UI")
    (length,) = struct.unpack_from("<H", head, pos + 6)
    value = syntax.encode() + (b"\0" if len(syntax) % 2 else b"")
    new = head[:pos] + b"\x02\x00\x10\x00UI" + struct.pack("<H", len(value)) + value + head[pos + 8 + length :]
    group_length = len(new) - 144
    return new[:140] + struct.pack("<I", group_length) + new[144:]


def top_level(body: bytes) -> list[tuple[int, int, bytes, int]]:
    """(offset, tag, VR, total length) of each top-level element of explicit VR little endian ``body``."""
    out = []
    pos = 0
    while pos + 8 <= len(body):
        group, elem = struct.unpack_from("<HH", body, pos)
        tag = (group << 16) | elem
        vr = body[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            (length,) = struct.unpack_from("<I", body, pos + 8)
            head = 12
        else:
            (length,) = struct.unpack_from("<H", body, pos + 6)
            head = 8
        if length == 0xFFFFFFFF:
            end = _undefined_end(body, pos + head)
        else:
            end = pos + head + length
        out.append((pos, tag, vr, end - pos))
        pos = end
    return out


def _undefined_end(body: bytes, pos: int) -> int:
    """End of an undefined-length sequence (or encapsulated pixel data) starting its items at ``pos``."""
    depth = 1
    while depth:
        group, elem = struct.unpack_from("<HH", body, pos)
        tag = (group << 16) | elem
        if tag == 0xFFFEE0DD:  # sequence delimiter
            depth -= 1
            pos += 8
        elif tag == 0xFFFEE000:  # item
            (length,) = struct.unpack_from("<I", body, pos + 4)
            pos += 8 if length == 0xFFFFFFFF else 8 + length
        elif tag == 0xFFFEE00D:
            pos += 8
        else:
            vr = body[pos + 4 : pos + 6]
            if vr in LONG_VRS:
                (length,) = struct.unpack_from("<I", body, pos + 8)
                pos += 12
                if length == 0xFFFFFFFF:
                    depth += 1
                    continue
                pos += length
            else:
                (length,) = struct.unpack_from("<H", body, pos + 6)
                pos += 8 + length
    return pos


def element(tag: int, vr: bytes, value: bytes | int) -> bytes:
    """An explicit VR little endian element; an int value = only the header, claiming that length."""
    length = value if isinstance(value, int) else len(value)
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in LONG_VRS:
        head = struct.pack("<HH", group, elem) + vr + b"\0\0" + struct.pack("<I", length)
    else:
        head = struct.pack("<HH", group, elem) + vr + struct.pack("<H", length)
    return head if isinstance(value, int) else head + value


def offset_of(body: bytes, tag: int) -> int:
    """Offset of the first top-level element whose tag is >= ``tag``."""
    for pos, t, _, _ in top_level(body):
        if t >= tag:
            return pos
    return len(body)


def edited(src: Path, dst: Path, change: Callable[[pydicom.Dataset], None], **save) -> Path:
    """``src`` read by pydicom, changed, saved as ``dst`` (pydicom's value warnings silenced)."""
    ds = pydicom.dcmread(src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        change(ds)
        if save:
            pydicom.dcmwrite(dst, ds, **save)
        else:
            ds.save_as(dst)
    return dst


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def ct_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("CT*.dcm"))
