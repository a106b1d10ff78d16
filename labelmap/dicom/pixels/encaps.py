"""Encapsulated Pixel Data (PS3.5 A.4): one fragment per frame, with a Basic or an Extended Offset Table.

:func:`encapsulate_frames` fills the Basic Offset Table whenever every offset fits in 32 bits
(< 4 GiB of fragments); an Extended Offset Table is written only when it is needed (>= 4 GiB,
where the BOT cannot hold the offsets) or asked for.  Below 4 GiB the EOT adds nothing a BOT
does not give and some readers ignore it, so the default keeps the widely supported BOT.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = ["encapsulate_frames"]

_MAX_BOT_OFFSET = 2**32 - 1
_ITEM = struct.Struct("<HHI")


def _item(fragment: bytes) -> list[bytes]:
    pad = len(fragment) % 2
    parts = [_ITEM.pack(0xFFFE, 0xE000, len(fragment) + pad), fragment]
    if pad:
        parts.append(b"\0")
    return parts


def encapsulate_frames(
    fragments: Sequence[bytes], *, extended_offset_table: bool | None = None
) -> tuple[bytes, bytes | None, bytes | None]:
    """Encapsulate one codestream per frame, each frame one fragment padded to even length.

    Parameters
    ----------
    fragments
        The codestream of each frame.
    extended_offset_table
        None (default): a Basic Offset Table when every frame offset fits in 32 bits, an
        Extended Offset Table (with an empty BOT, as the standard requires) only when they
        do not; True: always the EOT; False: never (an empty BOT when the offsets do not fit).

    Returns
    -------
    tuple
        ``(pixel_data, extended_offset_table, extended_offset_table_lengths)``; the last two
        are None unless an Extended Offset Table is written.
    """
    offsets: list[int] = []
    padded: list[int] = []
    pos = 0
    for frag in fragments:
        offsets.append(pos)
        n = len(frag) + len(frag) % 2
        padded.append(n)
        pos += 8 + n
    fits = not offsets or offsets[-1] <= _MAX_BOT_OFFSET
    use_eot = extended_offset_table if extended_offset_table is not None else not fits
    if use_eot or not fits:
        bot = _ITEM.pack(0xFFFE, 0xE000, 0)
    else:
        bot = struct.pack(f"<HHI{len(offsets)}I", 0xFFFE, 0xE000, 4 * len(offsets), *offsets)
    parts = [bot]
    for frag in fragments:
        parts.extend(_item(bytes(frag) if not isinstance(frag, bytes) else frag))
    pixel_data = b"".join(parts)
    if not use_eot:
        return pixel_data, None, None
    n = len(offsets)
    return pixel_data, struct.pack(f"<{n}Q", *offsets), struct.pack(f"<{n}Q", *padded)
