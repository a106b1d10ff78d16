"""Where a writer's UIDs come from: random ones (the default) or ones derived from a seed.

A DICOM store keeps every object whose SOP Instance UID it has not seen, so a rerun of a
conversion that mints new UIDs leaves an archive holding two copies of one series.  A
:class:`UidSource` made from a seed (:class:`UidSeed`: a SHA-256 the pipeline feeds with the
content of every input, the options and labelmap's version) mints the same UIDs for the same
seed, one per purpose and call, so a rerun writes the same UIDs and any change new ones.

Both kinds are in the 2.25 form of PS3.5 B.2: ``2.25.`` and the decimal of a 128-bit UUID
(random: version 4; derived: an RFC 9562 version 8 UUID whose other 122 bits come from the
hash), at most 44 characters.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["UidSource", "UidSeed"]

#: Bytes per read when a file is hashed (one buffer, reused).
_CHUNK = 1 << 20


def _random_uuid() -> int:
    """A random (version 4) UUID as its 128-bit number: what ``uuid.uuid4().int`` gives, without importing
    uuid (1.5 ms of a command's start-up)."""
    value = int.from_bytes(os.urandom(16), "big")
    value = (value & ~(0xF << 76)) | (0x4 << 76)  # RFC 9562: version 4 in bits 48-51 ...
    return (value & ~(0x3 << 62)) | (0x2 << 62)  # ... and variant 10 in bits 64-65 (from the most significant)


class UidSeed:
    """A SHA-256 over named fields, each framed by its name and length, so that no two different
    sequences of fields give one digest.  ``domain`` names what the UIDs are for (``"itk2seg"``)."""

    __slots__ = ("_hash",)

    def __init__(self, domain: str) -> None:
        import hashlib  # here, not at the top: random UIDs (the default) never hash (4 ms of start-up)

        self._hash = hashlib.sha256()
        self.add("labelmap uid seed", domain)

    def add(self, name: str, data: bytes | str) -> UidSeed:
        """Add one field (text is hashed as UTF-8)."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        key = name.encode("utf-8")
        self._hash.update(len(key).to_bytes(4, "little") + key + len(raw).to_bytes(8, "little"))
        self._hash.update(raw)
        return self

    def add_json(self, name: str, value: Any) -> UidSeed:
        """Add a JSON-able value in canonical form (sorted keys; other objects by ``str``)."""
        import json

        return self.add(name, json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))

    def add_file(self, name: str, path: str | os.PathLike[str]) -> UidSeed:
        """Add a file's size and SHA-256, read in 1 MiB pieces into one reused buffer."""
        import hashlib

        digest = hashlib.sha256()
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        size = 0
        with open(path, "rb") as fh:
            while n := fh.readinto(buffer):
                digest.update(view[:n])
                size += n
        return self.add(name, size.to_bytes(8, "little") + digest.digest())

    def add_array(self, name: str, array: Any) -> UidSeed:
        """Add an array's dtype, shape and values (a contiguous array is hashed in place; others row by row)."""
        import hashlib

        import numpy as np  # only seeds from arrays need it: the readers import this module too

        arr = np.asarray(array)
        digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
        whole = arr.ndim == 0 or arr.flags.c_contiguous
        for part in [arr] if whole else arr:  # not contiguous: one slice of the first axis at a time
            digest.update(np.ascontiguousarray(part).reshape(-1).view(np.uint8).data)
        return self.add(name, digest.digest())

    def digest(self) -> bytes:
        """The seed so far."""
        return self._hash.digest()


class UidSource:
    """Mints the UIDs of one write: random (``seed`` None, the default) or derived from ``seed``.

    Derived UID number i for a purpose is the SHA-256 of (seed, purpose, i), so the same seed
    gives the same UIDs in the same calls, and each UID of a file differs from the others.  A
    ``key`` names a thing that keeps one UID wherever it appears in the write: a segment's
    Tracking UID on every level of a pyramid gets the same UID (random or derived).
    """

    __slots__ = ("_seed", "_counts", "_keyed")

    def __init__(self, seed: bytes | None = None) -> None:
        self._seed = seed
        self._counts: dict[str, int] = {}
        self._keyed: dict[tuple[str, str], str] = {}

    @property
    def derived(self) -> bool:
        """Whether the UIDs come from a seed (the same for every run with the same seed)."""
        return self._seed is not None

    def uid(self, purpose: str, key: object = None) -> str:
        """A UID for ``purpose`` (e.g. ``"sop-instance"``): a new one per call, or the one of ``key``.

        Parameters
        ----------
        purpose
            What the UID names; derived UIDs of different purposes never coincide.
        key
            None: a new UID on every call.  Otherwise the same UID for every call with this
            purpose and key (``str(key)`` tells keys apart).

        Returns
        -------
        str
            ``2.25.<decimal of a 128-bit UUID>``, at most 44 characters.
        """
        if key is not None:
            memo = (purpose, str(key))
            if memo not in self._keyed:
                self._keyed[memo] = self._mint(f"{purpose}\0key\0{memo[1]}")
            return self._keyed[memo]
        n = self._counts.get(purpose, 0)
        self._counts[purpose] = n + 1
        return self._mint(f"{purpose}\0#{n}")

    def _mint(self, message: str) -> str:
        if self._seed is None:
            return f"2.25.{_random_uuid()}"
        import hashlib

        value = int.from_bytes(hashlib.sha256(self._seed + message.encode("utf-8")).digest()[:16], "big")
        # RFC 9562: version 8 (custom) in bits 48-51, variant 10 in bits 64-65 (from the most significant)
        value = (value & ~(0xF << 76)) | (0x8 << 76)
        value = (value & ~(0x3 << 62)) | (0x2 << 62)
        return f"2.25.{value}"
