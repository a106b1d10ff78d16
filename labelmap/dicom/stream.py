"""Write multi-frame DICOM files whose frames are made in a stream (slide SEGs of any size).

Frames are appended to spool files beside the output while they are produced (encoded
frames as Pixel Data items, native bytes, 1-bit packed bits, per-frame items as bytes);
once every frame is known the file is assembled: File Meta, the header elements (encoded
by :mod:`labelmap.dicom.write`), the Per-frame Functional Groups Sequence copied from its
spool, then Pixel Data copied from the pixel spools by the kernel (``copy_file_range``).
Knowing every frame before the header is written means the header can depend on the frames
(which tiles are present, which values occur) and the offset tables are written once:
a Basic Offset Table while every frame offset fits in 32 bits, else an Extended Offset
Table and Lengths (7FE0,0001/0002) with an empty Basic Offset Table (PS3.5 A.4).  Memory
is 8 bytes per frame; spools are unnamed temporary files (nothing is left behind, even
after a crash).  No IOD lives here.
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from labelmap._util.atomic import TEMP_PREFIX
from labelmap._util.progress import BYTES
from labelmap.dicom.dataset import WriteDataset
from labelmap.dicom.dictionary import PER_FRAME_GROUPS, PIXEL_DATA, SEQUENCE_DELIMITER_BYTES
from labelmap.dicom.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from labelmap.dicom.write import check_values, encode_file_meta, encode_header, tag_bytes
from labelmap.errors import InputError

if TYPE_CHECKING:
    from labelmap._util.progress import Progress

__all__ = ["BOT_LIMIT", "NATIVE_LIMIT", "Spool", "FrameSpool", "BitSpool", "set_file_meta", "write_frames_file"]

#: Largest offset a Basic Offset Table holds (32 bits); past it the Extended Offset Table is written.
BOT_LIMIT = 2**32 - 1
#: Largest native Pixel Data value (its 32-bit length, even; 0xFFFFFFFF means undefined length).
NATIVE_LIMIT = 2**32 - 2
_ITEM = struct.Struct("<HHI")
_COPY_CHUNK = 1 << 26


class Spool:
    """An append-only unnamed temporary file in ``directory`` (the output's folder: same file system,
    so the final copy stays in the kernel); ``size`` is the bytes written."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.file: BinaryIO = tempfile.TemporaryFile(dir=directory, prefix=TEMP_PREFIX, buffering=0)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Append ``data``."""
        if isinstance(data, np.ndarray):
            data = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        view = memoryview(data).cast("B")  # type: ignore[arg-type]
        n = view.nbytes
        done = 0
        while done < n:
            done += self.file.write(view[done:])
        self.size += n

    def copy_to(self, out: BinaryIO, start: int = 0) -> None:
        """Copy the spool's bytes from ``start`` to the current position of the unbuffered file ``out``."""
        _copy_range(self.file, start, self.size - start, out)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameSpool(Spool):
    """Encoded frames as Pixel Data items (item header, codestream, a pad byte to even length), in
    frame order; ``lengths`` holds each item's value length."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory)
        self.lengths = array("Q")

    def add(self, fragment: bytes | bytearray | memoryview) -> None:
        """Append one frame's codestream as one fragment.

        Raises
        ------
        ValueError
            An empty codestream (readers miscount frames on zero-length fragments).
        """
        n = len(fragment)
        if n == 0:
            raise ValueError("a frame's codestream is empty; encapsulated frames are never zero-length")
        pad = n % 2
        self.write(_ITEM.pack(0xFFFE, 0xE000, n + pad) + bytes(fragment) + (b"\0" if pad else b""))
        self.lengths.append(n + pad)

    def add_many(self, fragments: Sequence[bytes]) -> None:
        """Append several frames' codestreams (one write for all of them).

        Raises
        ------
        ValueError
            An empty codestream.
        """
        parts: list[bytes] = []
        for fragment in fragments:
            n = len(fragment)
            if n == 0:
                raise ValueError("a frame's codestream is empty; encapsulated frames are never zero-length")
            pad = n % 2
            parts += [_ITEM.pack(0xFFFE, 0xE000, n + pad), fragment, b"\0" if pad else b""]
            self.lengths.append(n + pad)
        self.write(b"".join(parts))

    @property
    def frames(self) -> int:
        return len(self.lengths)


class BitSpool(Spool):
    """1-bit frames packed LSB first, continuous across frames (BINARY): whole bytes are written, the
    partial last byte is kept until more bits come; ``bits`` counts every bit appended."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory)
        self.bits = 0
        self._partial = 0  # the bits of the last, incomplete byte (LSB first)

    @property
    def bit_offset(self) -> int:
        """Where the next bit goes in its byte: pack the next chunk starting at this bit."""
        return self.bits % 8

    def append(self, packed: np.ndarray, n_bits: int) -> None:
        """Append ``n_bits`` bits packed from bit :attr:`bit_offset` of ``packed[0]`` (bits before it zero)."""
        if n_bits <= 0:
            return
        offset = self.bits % 8
        end = offset + n_bits
        packed = np.asarray(packed, dtype=np.uint8).reshape(-1)[: (end + 7) // 8]
        if offset:
            packed = packed.copy()
            packed[0] |= self._partial
        whole = end // 8
        if whole:
            self.write(packed[:whole])
        self._partial = int(packed[whole]) if end % 8 else 0
        self.bits += n_bits

    def append_bits(self, bits: np.ndarray) -> None:
        """Append 0/1 (or bool) values, packing them here."""
        flat = np.asarray(bits).reshape(-1)
        offset = self.bits % 8
        if offset:
            flat = np.concatenate([np.zeros(offset, np.uint8), flat.astype(np.uint8, copy=False)])
        self.append(np.packbits(flat.astype(bool, copy=False), bitorder="little"), flat.size - offset)

    def finish(self) -> None:
        """Write the last partial byte (padded with zero bits)."""
        if self.bits % 8:
            self.write(bytes((self._partial,)))
            self._partial = 0

    @property
    def nbytes(self) -> int:
        """Bytes of Pixel Data the bits make."""
        return (self.bits + 7) // 8


def set_file_meta(ds: WriteDataset, transfer_syntax_uid: str) -> None:
    """Give ``ds`` its File Meta Information (SOP class and instance from ``ds``)."""
    meta = WriteDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax_uid
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta


def write_frames_file(
    path: str | os.PathLike[str],
    ds: WriteDataset,
    *,
    pixels: Sequence[Spool],
    per_frame: Spool | None = None,
    pixel_vr: str = "OB",
    bot_limit: int = BOT_LIMIT,
    progress: Progress | None = None,
    step: str = "writing the SEG",
) -> bool:
    """Write ``ds`` (Explicit VR Little Endian header) with its per-frame items and Pixel Data from spools.

    The caller handles atomicity (``path`` is normally a temporary file beside the output).

    Parameters
    ----------
    path
        The file to write.
    ds
        The data set without Pixel Data; ``ds.file_meta`` names the transfer syntax.
    pixels
        :class:`FrameSpool` s (encapsulated frames, in order), or native spools: :class:`BitSpool` s
        (1-bit frames, concatenated bit by bit) or plain :class:`Spool` s of pixel bytes.
    per_frame
        The encoded items of the Per-frame Functional Groups Sequence, if it has any.
    pixel_vr
        VR of native Pixel Data (``OB`` or ``OW``).
    bot_limit
        Largest frame offset written to a Basic Offset Table; past it an Extended Offset Table
        is written (a parameter so tests can force that path on small files).
    progress, step
        ``progress`` is told the step ``step`` (counted in bytes) and advanced per spool copied (None: no calls).

    Returns
    -------
    bool
        Whether an Extended Offset Table was written.

    Raises
    ------
    InputError
        Native Pixel Data over 4 GiB - 2 bytes, or per-frame items over 4 GiB; text or values the
        header cannot hold (:func:`labelmap.dicom.write.check_values`).
    """
    encapsulated = all(isinstance(p, FrameSpool) for p in pixels) and bool(pixels)
    if "PixelData" in ds or ds.pixels is not None or ds.frames is not None:
        raise ValueError("write_frames_file takes Pixel Data and per-frame items from spools only")
    check_values(ds)
    extended = False
    if encapsulated:
        lengths = np.concatenate([np.frombuffer(p.lengths, dtype=np.uint64) for p in pixels])  # type: ignore[attr-defined]
        offsets = np.zeros(len(lengths), dtype=np.uint64)
        np.cumsum(lengths[:-1] + 8, out=offsets[1:])
        extended = bool(len(offsets) and int(offsets[-1]) > bot_limit)
        if extended:
            ds.ExtendedOffsetTable = offsets.astype("<u8").tobytes()
            ds.ExtendedOffsetTableLengths = lengths.astype("<u8").tobytes()
            bot = _ITEM.pack(0xFFFE, 0xE000, 0)
        else:
            bot = _ITEM.pack(0xFFFE, 0xE000, 4 * len(offsets)) + offsets.astype("<u4").tobytes()
    else:
        native = _native_size(pixels)
        if native > NATIVE_LIMIT:
            raise InputError(
                f"native Pixel Data of {native:,} bytes is over the 4 GiB limit of DICOM; use a compressed "
                "transfer syntax or --tiled sparse"
            )
    head, tail = encode_header(ds)
    done = None
    if progress is not None:
        total = sum(map(spool_bytes, pixels)) + (per_frame.size if per_frame is not None else 0)
        progress.step(step, total, BYTES)

        def done(n: int, progress: Progress = progress) -> None:
            progress.advance(n, nbytes=n)

    with open(path, "wb", buffering=0) as out:
        _write_all(out, b"\0" * 128 + b"DICM" + encode_file_meta(ds.file_meta) + head)
        if per_frame is not None:
            if per_frame.size > 0xFFFFFFFE:
                raise InputError(
                    f"the per-frame items take {per_frame.size:,} bytes, over the 4 GiB a sequence can hold; "
                    "use --tiled full or larger tiles"
                )
            _write_all(out, tag_bytes(PER_FRAME_GROUPS) + b"SQ\0\0" + struct.pack("<I", per_frame.size))
            per_frame.copy_to(out)
            if done is not None:
                done(per_frame.size)
        _write_all(out, tail)
        if encapsulated:
            _write_all(out, tag_bytes(PIXEL_DATA) + b"OB\0\0\xff\xff\xff\xff" + bot)
            for spool in pixels:
                spool.copy_to(out)
                if done is not None:
                    done(spool.size)
            _write_all(out, SEQUENCE_DELIMITER_BYTES)
        else:
            pad = native % 2
            header = tag_bytes(PIXEL_DATA) + pixel_vr.encode("ascii") + b"\0\0" + struct.pack("<I", native + pad)
            _write_all(out, header)
            _write_native(out, pixels, done)
            if pad:
                _write_all(out, b"\0")
    return extended


def _write_all(out: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    done = 0
    while done < len(view):
        done += out.write(view[done:]) or 0


def _native_size(pixels: Sequence[Spool]) -> int:
    """Bytes of native Pixel Data the spools make (bit spools joined bit by bit)."""
    size, bits = 0, 0
    for spool in pixels:
        if isinstance(spool, BitSpool):
            bits += spool.bits
        else:
            size += (bits + 7) // 8 + spool.size
            bits = 0
    return size + (bits + 7) // 8


def spool_bytes(spool: Spool) -> int:
    """The bytes of Pixel Data a spool holds (a bit spool's last partial byte included)."""
    return spool.nbytes if isinstance(spool, BitSpool) else spool.size


def _write_native(out: BinaryIO, pixels: Sequence[Spool], done: Callable[[int], None] | None = None) -> None:
    """Byte spools copied; bit spools joined bit by bit: copied when a spool starts on a byte boundary,
    shifted through numpy when it starts inside a byte (which only tiles of odd pixel counts cause).
    ``done(n)`` is called after each spool with its :func:`spool_bytes`."""
    bits = 0  # bits of the current run of bit spools
    partial = 0  # the incomplete last byte of that run, not yet written
    copied = 0  # bytes of the previous spool, reported once it is written
    for spool in pixels:
        if done is not None and copied:
            done(copied)
        copied = spool_bytes(spool)
        if not isinstance(spool, BitSpool):
            if bits % 8:
                _write_all(out, bytes((partial,)))
            bits = partial = 0
            spool.copy_to(out)
            continue
        spool.finish()
        if spool.bits == 0:
            continue
        shift = bits % 8
        end = bits + spool.bits
        whole = end // 8 - bits // 8  # bytes completed by this spool (the pending partial one included)
        if shift == 0:
            spool.copy_to(out) if whole == spool.size else _copy_range(spool.file, 0, whole, out)
            partial = _byte_at(spool, whole) if end % 8 else 0
        else:
            carry, todo = partial, whole
            spool.file.seek(0)
            remaining = spool.size
            while remaining:
                chunk = np.frombuffer(spool.file.read(min(remaining, _COPY_CHUNK)), dtype=np.uint8)
                remaining -= chunk.size
                wide = chunk.astype(np.uint16) << shift
                low = (wide & 0xFF).astype(np.uint8)
                low[0] |= carry
                low[1:] |= (wide[:-1] >> 8).astype(np.uint8)
                carry = int(wide[-1] >> 8)
                n = min(todo, low.size)
                _write_all(out, low[:n].tobytes())
                todo -= n
                if n < low.size:  # the last byte of the run: partial
                    carry = int(low[n])
            partial = carry if end % 8 else 0
        bits = end
    if bits % 8:
        _write_all(out, bytes((partial,)))
    if done is not None and copied:
        done(copied)


def _byte_at(spool: Spool, index: int) -> int:
    spool.file.seek(index)
    value = spool.file.read(1)[0]
    spool.file.seek(0, os.SEEK_END)
    return value


def _copy_range(src: BinaryIO, start: int, count: int, out: BinaryIO) -> None:
    """Copy ``count`` bytes of ``src`` from ``start`` to ``out``'s position, in the kernel where it can."""
    fd_in, fd_out = src.fileno(), out.fileno()
    offset = start
    end = start + count
    copy_range = getattr(os, "copy_file_range", None)
    while offset < end and copy_range is not None:
        try:
            n = copy_range(fd_in, fd_out, min(end - offset, 1 << 30), offset)
        except OSError:
            break
        if n <= 0:
            break
        offset += n
    if offset < end:
        src.seek(offset)
        remaining = end - offset
        while remaining:
            chunk = src.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise OSError(f"spool file ended {remaining} bytes early")
            _write_all(out, chunk)
            remaining -= len(chunk)
    src.seek(0, os.SEEK_END)
