"""UidSource / UidSeed: 2.25 UIDs, random by default, derived from a seed with --deterministic-uids."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from labelmap.dicom.uid_source import UidSeed, UidSource
from labelmap.dicom.uids import is_uid


def _check(uid: str, version: int) -> None:
    assert is_uid(uid) and len(uid) <= 64 and uid.startswith("2.25.")
    value = uuid.UUID(int=int(uid[5:]))
    assert value.variant == uuid.RFC_4122 and value.version == version


def test_derived_uids_repeat_per_seed_and_differ_per_call_and_purpose():
    a, b = UidSource(b"seed"), UidSource(b"seed")
    first = [a.uid("SOPInstanceUID"), a.uid("SOPInstanceUID"), a.uid("SeriesInstanceUID")]
    assert first == [b.uid("SOPInstanceUID"), b.uid("SOPInstanceUID"), b.uid("SeriesInstanceUID")]
    assert len(set(first)) == 3
    other = UidSource(b"seeds")
    assert other.uid("SOPInstanceUID") != first[0]
    assert a.derived and not UidSource().derived
    for uid in first:
        _check(uid, 8)


def test_keyed_uids_are_one_per_key_random_or_derived():
    for source in (UidSource(), UidSource(b"x")):
        one = source.uid("TrackingUID", key=1)
        assert source.uid("TrackingUID", key=1) == one
        assert source.uid("TrackingUID", key=2) != one
        assert source.uid("TrackingUID") != one


def test_random_uids_are_version_4_and_new_every_time():
    source = UidSource()
    uids = {source.uid("SOPInstanceUID") for _ in range(50)} | {UidSource().uid("SOPInstanceUID")}
    assert len(uids) == 51
    for uid in uids:
        _check(uid, 4)


def test_seed_fields_are_framed_and_files_hash_by_content(tmp_path):
    # ("ab", "c") and ("a", "bc") must not collide
    assert UidSeed("d").add("x", "ab").add("y", "c").digest() != UidSeed("d").add("x", "a").add("y", "bc").digest()
    assert UidSeed("d").digest() != UidSeed("e").digest()
    big = np.random.default_rng(0).integers(0, 255, 3 << 20, dtype=np.uint8).tobytes()  # > one 1 MiB read
    (tmp_path / "a").write_bytes(big)
    (tmp_path / "b").write_bytes(big)
    (tmp_path / "c").write_bytes(big[:-1] + b"\x00" if big[-1] else big[:-1] + b"\x01")
    digest = {p: UidSeed("f").add_file("label", tmp_path / p).digest() for p in "abc"}
    assert digest["a"] == digest["b"] != digest["c"]


def test_seed_arrays_by_dtype_shape_and_values():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    same = UidSeed("v").add_array("a", arr).digest()
    assert UidSeed("v").add_array("a", arr.copy()).digest() == same
    assert UidSeed("v").add_array("a", np.asfortranarray(arr)).digest() == same  # not contiguous: row by row
    assert UidSeed("v").add_array("a", arr.reshape(6, 4)).digest() != same
    assert UidSeed("v").add_array("a", arr.astype(np.uint16)).digest() != same
    changed = arr.copy()
    changed[1, 2, 3] += 1
    assert UidSeed("v").add_array("a", changed).digest() != same


@pytest.mark.parametrize("value", [{"b": 1, "a": [1, 2]}, {"a": [1, 2], "b": 1}])
def test_seed_json_is_canonical(value):
    assert UidSeed("j").add_json("m", value).digest() == UidSeed("j").add_json("m", {"a": [1, 2], "b": 1}).digest()
