"""The Cython header walk (labelmap/_walk.pxi) against the Python walker it shortcuts.

The kernel must either read a file exactly as the Python walk does (the same elements, VRs,
bytes, damage, stop position) or leave the element to it; so every file here, and randomly
truncated and byte-flipped copies of it, is read both ways and the results (or the errors,
type and message) must be equal.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

import labelmap.sources.headers as headers
from labelmap.dicom.dictionary import MAX_DEPTH, PIXEL_DATA, TAG_VR
from labelmap.kernels.walk import WALK_FULL, WALK_KERNEL, WALK_PYTHON, WALK_STOP, tag_array, walk_header
from labelmap.sources.series import _READ_TAG_NUMBERS

from _geometries import axial_geometry, las_geometry, make_ct_series, oblique_geometry, tilted_geometry
from _segfiles import write_files

pytestmark = pytest.mark.skipif(
    not WALK_KERNEL, reason="labelmap._core predates walk_header: rebuild it (make .venv/.installed)"
)
SEQUENCES = tag_array(tag for tag, vr in TAG_VR.items() if vr == "SQ")


def _norm_ds(ds) -> list | None:
    if ds is None:
        return None
    return [(tag, e.VR, _norm_raw(e._raw)) for tag, e in sorted(ds._elements.items())]


def _norm_raw(raw) -> object:
    if isinstance(raw, list):
        return [_norm_ds(item) for item in raw]
    return bytes(raw)


def _outcome(fast: bool, call) -> tuple:
    headers._FAST = fast
    try:
        result = call()
    except Exception as exc:  # the comparison is the point: both walks must fail alike
        return ("error", type(exc).__name__, str(exc), getattr(exc, "tag", None))
    finally:
        headers._FAST = WALK_KERNEL
    if result is None:
        return ("none",)
    if isinstance(result, headers.SourceHeader):
        return (result.kind, result.transfer_syntax, _norm_ds(result.meta), _norm_ds(result.dataset), result.damage)
    elements, pos, at = result
    return ({t: (e.VR, _norm_raw(e._raw)) for t, e in elements.items()}, pos, at)


def _read(path: Path, tags) -> object:
    return headers.read_source_header(path, tags)


def _data_set(path: Path, tags):
    """Walk the data set after the File Meta (also of SEG files, which read_source_header does not parse)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(min(size, headers.HEAD_BYTES))
        stream = headers._Stream(fh, head, size, str(path))
        meta, start, _ = headers._elements(stream, 132, False, None, meta=True, lenient=True)
        syntax = meta[0x00020010].value if 0x00020010 in meta else ""
        if syntax == DeflatedExplicitVRLittleEndian:
            stream.start_inflating(start)
            start = 0
        implicit = syntax == ImplicitVRLittleEndian
        return headers._elements(stream, start, implicit, tags, meta=False, lenient=True)


def _same(path: Path, tags=_READ_TAG_NUMBERS, *, data_set: bool = False) -> tuple:
    if data_set:

        def call():
            return _data_set(path, tags)
    else:

        def call():
            return _read(path, tags)

    fast, slow = _outcome(True, call), _outcome(False, call)
    assert fast == slow, path
    return fast


def _rich_dataset(source: Path) -> Dataset:
    """A CT slice with private tags and nested sequences of undefined length (items too)."""
    ds = pydicom.dcmread(source)
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "T-D0050", "SRT", "Tissue"
    inner.is_undefined_length_sequence_item = True
    deeper = Dataset()
    deeper.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    deeper.is_undefined_length_sequence_item = True
    inner.ReferencedImageSequence = Sequence([deeper])
    inner["ReferencedImageSequence"].is_undefined_length = True
    ds.AnatomicRegionSequence = Sequence([inner, Dataset()])
    ds["AnatomicRegionSequence"].is_undefined_length = True
    block = ds.private_block(0x0029, "LABELMAP TEST", create=True)
    block.add_new(0x01, "LO", "private text")
    block.add_new(0x02, "OB", bytes(range(200)))
    block.add_new(0x03, "SQ", Sequence([inner]))
    ds[0x00291003].is_undefined_length = True
    return ds


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Every kind of file the walk meets: CT series of each geometry, SEGs, implicit VR, sequences."""
    root = tmp_path_factory.mktemp("walk")
    out: dict[str, Path] = {}
    for name, geometry in (
        ("axial", axial_geometry((2, 8, 9))),
        ("oblique", oblique_geometry((2, 8, 9))),
        ("las", las_geometry((2, 8, 9))),
        ("tilted", tilted_geometry((2, 8, 9))),
    ):
        folder = make_ct_series(root, geometry, name=name)
        out[name] = sorted(folder.iterdir())[0]
    ct, segs = write_files(root / "segs", which=["lm8-none", "lm8-implicit", "lm8-deflate", "bin-none"])
    out.update({f"seg-{key}": path for key, path in segs.items()})
    rich = _rich_dataset(out["axial"])
    out["rich"] = root / "rich.dcm"
    rich.save_as(out["rich"], enforce_file_format=True)
    implicit = _rich_dataset(out["oblique"])
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out["implicit"] = root / "implicit.dcm"
    implicit.save_as(out["implicit"], enforce_file_format=True, implicit_vr=True, little_endian=True)
    return out


@pytest.mark.parametrize("tags", [_READ_TAG_NUMBERS, None, frozenset({0x00200032, 0x00080016})])
def test_every_file_reads_the_same_with_and_without_the_kernel(files, tags):
    for key, path in files.items():
        outcome = _same(path, tags)
        assert outcome[0] == "part10", key
        if not key.startswith("seg-"):
            assert outcome[3], key  # a data set was read
        _same(path, tags, data_set=True)


def test_the_kernel_walks_a_clean_ct_header_to_pixel_data(files):
    data = files["axial"].read_bytes()
    out = np.empty((64, 4), np.int64)
    # from the first element after the File Meta (group length says where it ends)
    meta = walk_header(
        data, 132, implicit=False, meta=True, stop=PIXEL_DATA, wanted=None, sequences=SEQUENCES,
        previous=-1, budget=1 << 20, max_depth=MAX_DEPTH, out=out,
    )  # fmt: skip
    assert meta.status == WALK_STOP and meta.elements[0][0] == 0x00020000
    assert {row[0] >> 16 for row in meta.elements} == {0x0002}
    walk = meta
    tags = tag_array(_READ_TAG_NUMBERS)
    pos, previous, seen = meta.pos, -1, []
    while True:
        walk = walk_header(
            data, pos, implicit=False, meta=False, stop=PIXEL_DATA, wanted=tags, sequences=SEQUENCES,
            previous=previous, budget=1 << 20, max_depth=MAX_DEPTH, out=out,
        )  # fmt: skip
        seen += [row[0] for row in walk.elements]
        if walk.status == WALK_STOP:
            break
        assert walk.status == WALK_PYTHON
        # the Specific Character Set is the Python walker's: step over it by hand
        assert data[walk.pos : walk.pos + 4] == b"\x08\x00\x05\x00"
        pos, previous = walk.pos + 8 + int.from_bytes(data[walk.pos + 6 : walk.pos + 8], "little"), 0x00080005
    assert data[walk.pos : walk.pos + 4] == b"\xe0\x7f\x10\x00"  # stopped at Pixel Data
    assert seen == sorted(seen) and set(seen) <= set(_READ_TAG_NUMBERS)
    assert 0x00200032 in seen and 0x00280030 in seen  # Image Position, Pixel Spacing


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    head = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
    if vr in (b"OB", b"SQ", b"UN", b"UT"):
        return head + vr + b"\0\0" + len(value).to_bytes(4, "little") + value
    return head + vr + len(value).to_bytes(2, "little") + value


MODALITY = tag_array([0x00080060])


def _walk(
    data: bytes, *, implicit: bool = False, wanted=MODALITY, rows: int = 16, budget: int = 1 << 20, depth=MAX_DEPTH
):
    return walk_header(
        data, 0, implicit=implicit, meta=False, stop=PIXEL_DATA, wanted=wanted, sequences=SEQUENCES,
        previous=-1, budget=budget, max_depth=depth, out=np.empty((rows, 4), np.int64),
    )  # fmt: skip


PIXELS = _explicit(PIXEL_DATA, b"OB", b"\0" * 4)
UNDEF_SQ = b"SQ\0\0\xff\xff\xff\xff"
ITEM_UNDEF = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
ITEM_END = b"\xfe\xff\x0d\xe0\0\0\0\0"
SEQ_END = b"\xfe\xff\xdd\xe0\0\0\0\0"


def _nested(levels: int) -> bytes:
    """(0008,1140) of undefined length holding ``levels`` nested undefined-length sequences."""
    body = b""
    for _ in range(levels - 1):
        body = ITEM_UNDEF + b"\x08\x00\x40\x11" + UNDEF_SQ + body + SEQ_END + ITEM_END
    return b"\x08\x00\x40\x11" + UNDEF_SQ + body + SEQ_END


def test_the_kernel_records_wanted_elements_and_skips_sequences():
    data = _explicit(0x00080060, b"CS", b"CT") + _nested(3) + _explicit(0x00200013, b"IS", b"7 ") + PIXELS
    walk = _walk(data, wanted=tag_array([0x00080060, 0x00200013]))
    assert walk.status == WALK_STOP and data[walk.pos : walk.pos + 4] == b"\xe0\x7f\x10\x00"
    assert [row[0] for row in walk.elements] == [0x00080060, 0x00200013]
    tag, code, vpos, length = walk.elements[1]
    assert code == ord("I") << 8 | ord("S") and data[vpos : vpos + length] == b"7 "
    assert walk.items == 2 and walk.previous == 0x00200013


@pytest.mark.parametrize(
    "data, reason",
    [
        (_explicit(0x00100010, b"PN", b"A ") + _explicit(0x00080060, b"CS", b"CT") + PIXELS, "out of order"),
        (_explicit(0x00080060, b"XX", b"CT") + PIXELS, "a VR not of PS3.5"),
        (_explicit(0x00080060, b"c\x01", b"CT") + PIXELS, "VR bytes not letters"),
        (_explicit(0x00080060, b"CS", b"CT")[:-1], "value past the buffer"),
        (_explicit(0x00081140, b"SQ", b"")[:-4] + b"\xff\xff\xff\xff" + ITEM_UNDEF, "sequence not closed"),
        (b"\x08\x00\x40\x11" + b"CS\xff\xff" + PIXELS, "CS of length 65535 running past the buffer"),
        (b"\x08\x00\x40\x11OB\0\0\xff\xff\xff\xff" + SEQ_END + PIXELS, "OB of undefined length"),
        (b"\x08\x00\x40\x11" + UNDEF_SQ + b"\x08\x00\x60\x00CS\x02\x00CT" + SEQ_END + PIXELS, "no item"),
        (b"\x08\x00\x40\x11" + UNDEF_SQ + ITEM_UNDEF + SEQ_END + SEQ_END + PIXELS, "delimiter in an item"),
        (_explicit(0x00080005, b"CS", b"ISO_IR 100") + PIXELS, "the character set"),
        (b"\x08\x00", "a header cut short"),
    ],
)
def test_the_kernel_leaves_anything_unusual_to_python(data, reason):
    walk = _walk(data)
    assert walk.status == WALK_PYTHON, reason
    # it stops at the start of the unusual element: every element before it was plain
    assert walk.pos in (0, len(_explicit(0x00100010, b"PN", b"A "))), reason


def test_the_kernel_leaves_deep_or_many_items_and_a_full_output_to_python():
    deep = _nested(5) + PIXELS
    assert _walk(deep, depth=5).status == WALK_STOP
    assert _walk(deep, depth=4).status == WALK_PYTHON
    assert _walk(deep, budget=4).status == WALK_STOP
    walk = _walk(deep, budget=3)
    assert walk.status == WALK_PYTHON and walk.items == 0 and walk.pos == 0
    plain = _explicit(0x00080060, b"CS", b"CT") + _explicit(0x00200013, b"IS", b"7 ") + PIXELS
    walk = _walk(plain, rows=1)
    assert walk.status == WALK_FULL and walk.pos == len(_explicit(0x00080060, b"CS", b"CT"))
    sequence = _explicit(0x00081140, b"SQ", b"")
    assert _walk(sequence + PIXELS, wanted=None).status == WALK_PYTHON  # a wanted sequence is parsed in Python
    assert _walk(sequence + PIXELS).status == WALK_STOP  # else skipped
    implicit_sq = b"\x28\x00\x10\x91\0\0\0\0" + b"\xe0\x7f\x10\x00\4\0\0\0\0\0\0\0"
    assert _walk(implicit_sq, implicit=True, wanted=None).status == WALK_PYTHON  # its dictionary VR is SQ
    assert _walk(implicit_sq, implicit=True).status == WALK_STOP


def test_an_item_tag_at_top_level_is_past_pixel_data_or_left_to_python():
    item = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"\0" * 8
    assert _walk(item).status == WALK_STOP  # (FFFE,E000) sorts after Pixel Data: the walk ends there
    walk = walk_header(
        item, 0, implicit=False, meta=False, stop=0xFFFFFFFF, wanted=None, sequences=SEQUENCES,
        previous=-1, budget=1, max_depth=1, out=np.empty((1, 4), np.int64),
    )  # fmt: skip
    assert walk.status == WALK_PYTHON and walk.pos == 0


def test_walk_header_checks_its_arguments():
    with pytest.raises(ValueError, match="out must be"):
        _walk(PIXELS, rows=0)
    with pytest.raises(ValueError, match="dtype mismatch"):
        _walk(PIXELS, wanted=np.array([1, 2], np.int64))
    with pytest.raises(ValueError, match="stop must be"):
        walk_header(
            PIXELS, 0, implicit=False, meta=False, stop=1 << 32, wanted=None, sequences=SEQUENCES,
            previous=-1, budget=1, max_depth=1, out=np.empty((1, 4), np.int64),
        )  # fmt: skip


def _mutants(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        choice = rng.random()
        if choice < 0.35:
            out.append(data[: rng.randrange(132, len(data))])  # truncated
        else:
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(132, min(len(b), 2048))
                b[pos] = rng.randrange(256) if choice < 0.8 else b[pos] ^ 0x80
            out.append(bytes(b))
    return out


@pytest.mark.parametrize("key", ["axial", "rich", "implicit", "seg-lm8-none", "seg-lm8-implicit", "seg-lm8-deflate"])
def test_damaged_copies_read_the_same_or_fail_the_same(files, key, tmp_path):
    """Truncated and byte-flipped copies: the kernel agrees with the Python walk or leaves it the file."""
    data = files[key].read_bytes()
    rng = random.Random(20240611 + len(key))
    path = tmp_path / "mutant.dcm"
    kinds = set()
    for mutant in _mutants(data, rng, 150):
        path.write_bytes(mutant)
        kinds.add(_same(path)[0])
        _same(path, None)
        _same(path, _READ_TAG_NUMBERS, data_set=True)
    assert "part10" in kinds  # not every mutant fails to read


@pytest.mark.parametrize(
    "uid, expected",
    [
        ("1.2.840.10008.5.1.4.1.1.66.4", True),  # Segmentation
        ("1.2.840.10008.5.1.4.1.1.66", True),  # Raw Data
        ("1.2.840.10008.5.1.4.1.1.481.3", True),  # RT Structure Set
        ("1.2.840.10008.5.1.4.1.1.481.10", True),  # RT Physician Intent and later
        ("1.2.840.10008.5.1.4.1.1.88.22", True),  # Enhanced SR
        ("1.2.840.10008.5.1.4.1.1.11.1", True),  # Grayscale Softcopy Presentation State
        ("1.2.840.10008.5.1.4.1.1.9.1.1", True),  # 12-lead ECG
        ("1.2.840.10008.5.1.4.1.1.104.1\0", True),  # Encapsulated PDF, padded
        ("1.2.840.10008.1.3.10 ", True),  # DICOMDIR
        ("1.2.840.10008.5.1.4.1.1.2", False),  # CT
        ("1.2.840.10008.5.1.4.1.1.1", False),  # CR (not "11.")
        ("1.2.840.10008.5.1.4.1.1.481.1", False),  # RT Image is an image
        ("1.2.840.10008.5.1.4.1.1.661", False),  # a longer number, not a child of 66
        ("", False),
        (None, False),
    ],
)
def test_objects_that_are_never_images_are_told_by_their_sop_class(uid, expected):
    assert headers.not_an_image(uid) is expected
