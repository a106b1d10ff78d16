"""Where each frame of a multi-frame Pixel Data value is, so frames can be read a few at a time.

For tiled images of hundreds of thousands of frames: the value is never mapped or read whole.
:func:`locate_frames` reads the Pixel Data element header at a known offset (from
:func:`labelmap.dicom.bulk.read_header_before_pixels`) and, for encapsulated data, walks the
item headers with small positioned reads (fragments of a few KB each would otherwise touch
every page of a multi-GB file); the frames are then grouped by one fragment each, the Basic
Offset Table or the Extended Offset Table.  :class:`FrameLocations` reads byte ranges and
frames' codestreams with ``os.pread`` (thread-safe, without the GIL).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labelmap.dicom.dictionary import ITEM, LONG_VRS, PIXEL_DATA, SEQUENCE_DELIMITER, UNDEFINED_LENGTH, tag_str
from labelmap.errors import DicomFormatError, ResourceError

if TYPE_CHECKING:
    from labelmap.dicom.bulk import PixelDataInfo
    from labelmap.dicom.walk import Buffer

__all__ = ["FrameLocations", "locate_frames", "frames_in_buffer"]

_ITEM_HEAD = struct.Struct("<HHI")
#: Bytes read at a time while walking item headers (fragments smaller than this cost one read per chunk).
_CHUNK = 1 << 18
#: Fragments per declared frame accepted (as the bulk reader), and at most this many in all.
_FRAGMENTS_PER_FRAME = 64
_MAX_FRAGMENTS = 1 << 24


@dataclass(frozen=True, eq=False)
class FrameLocations:
    """Where a Pixel Data value's frames are.

    Native (``encapsulated`` False): the value is ``length`` bytes at ``offset``; frames are cut
    from it by the caller (1-bit frames are packed across frame boundaries).  Encapsulated:
    frame ``k`` is ``frame_lengths[k]`` bytes at ``frame_offsets[k]`` when each frame is one
    fragment, else the fragments listed in ``groups[k]``.  Offsets are in the file ``path``, or
    in ``buffer`` when it is set (the inflated data set of a Deflated file).
    """

    path: str
    transfer_syntax: str
    encapsulated: bool
    offset: int
    length: int
    buffer: Buffer | None = None
    frame_offsets: np.ndarray | None = None
    frame_lengths: np.ndarray | None = None
    groups: list[list[tuple[int, int]]] | None = None

    def open(self) -> int:
        """A file descriptor for :meth:`read` (-1 when the value is in ``buffer``); close it with ``os.close``."""
        return -1 if self.buffer is not None else os.open(self.path, os.O_RDONLY)

    def read(self, fd: int, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (of the file open as ``fd``, or of ``buffer``).

        Raises
        ------
        DicomFormatError
            When the file ends before them.
        """
        if self.buffer is not None:
            data = bytes(self.buffer[offset : offset + length])
        else:
            data = os.pread(fd, length, offset)
        if len(data) != length:
            raise DicomFormatError(
                f"Pixel Data ends at byte {offset + len(data)}, {length - len(data)} bytes short of the frames",
                path=self.path,
            )
        return data

    def codestream(self, fd: int, k: int) -> bytes:
        """The encapsulated frame ``k`` (0-based): its fragment, or its fragments joined."""
        if self.groups is not None:
            return b"".join(self.read(fd, o, n) for o, n in self.groups[k])
        assert self.frame_offsets is not None and self.frame_lengths is not None
        return self.read(fd, int(self.frame_offsets[k]), int(self.frame_lengths[k]))


def locate_frames(
    path: str, pos: int, implicit: bool, transfer_syntax: str, n_frames: int, extended_offsets: bytes | None = None
) -> FrameLocations:
    """The frames of the Pixel Data element whose header is at byte ``pos`` of ``path``.

    Parameters
    ----------
    path
        The file.
    pos
        Offset of the Pixel Data element header (the file's size: no Pixel Data).
    implicit
        Implicit VR data set.
    transfer_syntax
        The file's Transfer Syntax UID.
    n_frames
        Number of Frames, to group fragments and bound their count.
    extended_offsets
        The Extended Offset Table (7FE0,0001) value, when the file has one.

    Raises
    ------
    DicomFormatError
        No Pixel Data, a damaged item, fragments that cannot be grouped into frames.
    ResourceError
        Far more fragments than frames.
    """
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        head = os.pread(fd, 12, pos)
        if len(head) < 8:
            raise DicomFormatError("has no Pixel Data (7FE0,0010)", path=path)
        group, elem = struct.unpack_from("<HH", head)
        if (group << 16 | elem) != PIXEL_DATA:
            raise DicomFormatError(f"expected Pixel Data (7FE0,0010) at byte offset {pos}", path=path)
        if implicit:
            length, vpos = struct.unpack_from("<I", head, 4)[0], pos + 8
        elif head[4:6] in LONG_VRS:
            if len(head) < 12:
                raise DicomFormatError(f"file truncated inside the Pixel Data header at byte offset {pos}", path=path)
            length, vpos = struct.unpack_from("<I", head, 8)[0], pos + 12
        else:
            length, vpos = struct.unpack_from("<H", head, 6)[0], pos + 8
        if length != UNDEFINED_LENGTH:
            if vpos + length > size:
                raise DicomFormatError(
                    f"Pixel Data (length {length}) runs to offset {vpos + length}, past the end of the file "
                    f"({size} bytes)",
                    path=path,
                )
            return FrameLocations(path, transfer_syntax, False, vpos, length)
        table, offsets, lengths = _walk_items(fd, vpos, size, path, n_frames)
    return _grouped(path, transfer_syntax, None, offsets, lengths, table, n_frames, extended_offsets)


def frames_in_buffer(info: PixelDataInfo, n_frames: int, extended_offsets: bytes | None = None) -> FrameLocations:
    """:class:`FrameLocations` of what the bulk reader found (a Deflated file's inflated data set)."""
    name = str(info.path)
    if not info.present:
        raise DicomFormatError("has no Pixel Data (7FE0,0010)", path=name)
    if not info.encapsulated:
        return FrameLocations(name, info.transfer_syntax, False, info.offset, info.length, info.buffer)
    offsets = np.array([o for o, _ in info.fragments], dtype=np.int64)
    lengths = np.array([n for _, n in info.fragments], dtype=np.int64)
    table = np.array(info.basic_offset_table, dtype=np.int64)
    return _grouped(name, info.transfer_syntax, info.buffer, offsets, lengths, table, n_frames, extended_offsets)


def _walk_items(fd: int, vpos: int, size: int, path: str, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Basic Offset Table entries, fragment data offsets, fragment lengths) of encapsulated Pixel Data at ``vpos``."""
    most = min(_MAX_FRAGMENTS, _FRAGMENTS_PER_FRAME * n_frames + 1024)
    offsets: list[int] = []
    lengths: list[int] = []
    chunk, chunk_at = b"", 0
    pos = vpos
    table = np.zeros(0, dtype=np.int64)
    first = True
    while True:
        if not chunk_at <= pos <= chunk_at + len(chunk) - 8:
            chunk, chunk_at = os.pread(fd, _CHUNK, pos), pos
            if len(chunk) < 8:
                raise DicomFormatError(
                    f"file truncated inside encapsulated Pixel Data at byte offset {pos} (no sequence delimiter)",
                    path=path,
                )
        group, elem, length = _ITEM_HEAD.unpack_from(chunk, pos - chunk_at)
        tag = group << 16 | elem
        if tag == SEQUENCE_DELIMITER:
            break
        if tag != ITEM:
            raise DicomFormatError(
                f"expected a Pixel Data item (FFFE,E000) or delimiter (FFFE,E0DD), found {tag_str(tag)} at byte "
                f"offset {pos}",
                path=path,
            )
        if length == UNDEFINED_LENGTH:
            raise DicomFormatError(f"Pixel Data fragment with undefined length at byte offset {pos}", path=path)
        if pos + 8 + length > size:
            what = "Basic Offset Table" if first else f"Pixel Data fragment {len(offsets) + 1}"
            raise DicomFormatError(
                f"{what} (length {length}) at byte offset {pos} runs past the end of the file ({size} bytes)", path=path
            )
        if first:
            if length % 4:
                raise DicomFormatError(f"Basic Offset Table length {length} is not a multiple of 4", path=path)
            if length:
                table = np.frombuffer(os.pread(fd, length, pos + 8), dtype="<u4").astype(np.int64)
            first = False
        else:
            offsets.append(pos + 8)
            lengths.append(length)
            if len(offsets) > most:
                raise ResourceError(
                    f"encapsulated Pixel Data has more than {most:,} fragments for {n_frames} frames", path=path
                )
        pos += 8 + length
    if first:
        raise DicomFormatError("encapsulated Pixel Data has no Basic Offset Table item", path=path)
    return table, np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64)


def _grouped(
    path: str,
    ts: str,
    buffer: Buffer | None,
    offsets: np.ndarray,
    lengths: np.ndarray,
    table: np.ndarray,
    n_frames: int,
    extended_offsets: bytes | None,
) -> FrameLocations:
    """Fragments grouped into ``n_frames`` frames: one each, else by the Basic or Extended Offset Table."""
    if len(offsets) == n_frames:
        return FrameLocations(path, ts, True, -1, -1, buffer, offsets, lengths)
    if len(table) != n_frames and extended_offsets:
        table = np.frombuffer(extended_offsets, dtype="<u8").astype(np.int64)
    if len(table) != n_frames or not len(offsets):
        raise DicomFormatError(
            f"{len(offsets)} Pixel Data fragments for {n_frames} frames and "
            f"{'no' if not len(table) else len(table)} offset table entries; cannot tell the frames apart",
            path=path,
        )
    # offset table entries count from the first fragment's item header
    starts = {int(o) - 8 - int(offsets[0] - 8): i for i, o in enumerate(offsets)}
    groups: list[list[tuple[int, int]]] = []
    for k, rel in enumerate(table.tolist()):
        i = starts.get(rel)
        if i is None:
            raise DicomFormatError(f"offset table entry {k + 1} ({rel}) is not at a fragment start", path=path)
        stop = starts.get(int(table[k + 1]), len(offsets)) if k + 1 < len(table) else len(offsets)
        if stop <= i:
            raise DicomFormatError(f"offset table entries {k + 1} and {k + 2} are not increasing", path=path)
        groups.append([(int(offsets[j]), int(lengths[j])) for j in range(i, stop)])
    return FrameLocations(path, ts, True, -1, -1, buffer, groups=groups)
