"""Encapsulated Pixel Data (PS3.5 A.4): one fragment per frame, with a Basic or an Extended Offset Table.

:func:`encapsulate_frames` fills the Basic Offset Table whenever every offset fits in 32 bits
(< 4 GiB of fragments); an Extended Offset Table is written only when it is needed (>= 4 GiB,
where the BOT cannot hold the offsets) or asked for.  Below 4 GiB the EOT adds nothing a BOT
does not give and some readers ignore it, so the default keeps the widely supported BOT.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence

__all__ = ["encapsulate_frames"]

_MAX_BOT_OFFSET = 2**32 - 1
_ITEM = struct.Struct("<HHI")


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
    padded = [len(frag) + len(frag) % 2 for frag in fragments]
    # each fragment's item starts after the 8-byte headers and padded fragments before it
    offsets = list(itertools.accumulate((8 + n for n in padded), initial=0))[:-1]
    fits = not offsets or offsets[-1] <= _MAX_BOT_OFFSET
    use_eot = extended_offset_table if extended_offset_table is not None else not fits
    if use_eot or not fits:
        bot = _ITEM.pack(0xFFFE, 0xE000, 0)
    else:
        bot = struct.pack(f"<HHI{len(offsets)}I", 0xFFFE, 0xE000, 4 * len(offsets), *offsets)
    parts = [bot]
    for frag, n in zip(fragments, padded):
        parts += [_ITEM.pack(0xFFFE, 0xE000, n), frag, b"\0" * (n - len(frag))]
    pixel_data = b"".join(parts)
    if not use_eot:
        return pixel_data, None, None
    n = len(offsets)
    return pixel_data, struct.pack(f"<{n}Q", *offsets), struct.pack(f"<{n}Q", *padded)
