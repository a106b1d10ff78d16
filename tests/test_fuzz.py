"""Mutation fuzzing of the SEG reader (issue #5, item 4).

Valid small SEG files of every type and transfer syntax (ours, and highdicom's when it is
installed) are damaged by hypothesis: truncation, byte flips and overwrites (biased towards the
header and per-frame region; for deflated files also inside the inflated data set), element
lengths and VRs rewritten, attributes deleted or given other values with pydicom, Number of
Frames changed.  Every damaged file is read every way -- ``open_seg`` + decode, ``read_seg``
of the file and of the pydicom Dataset, and in-process the ``seg2itk`` and ``info`` commands
(and ``bin2label`` for BINARY files) -- and each must either succeed or fail with a
:class:`~labelmap.errors.LabelmapError` (a command: exit 1, one ``error:`` line, no file left
behind).  Any other exception, a hang (an alarm fires after :data:`EXAMPLE_SECONDS`) or a
second stderr line fails the test.

The default profile is deterministic (``derandomize=True``) and small; the ``slow`` variants
run many more examples (``make test-slow``).
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import resource
import shutil
import signal
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from labelmap.cli import main
from labelmap.errors import LabelmapError
from labelmap.model import LabelVolume
from labelmap.pipeline.convert import load_source, read_seg, write_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.decode import decode_labelmap
from labelmap.seg.decode_classic import decode_classic
from labelmap.seg.read import open_seg

from _segfiles import labels, listing, segments, small_geometry, write_files

EXAMPLE_SECONDS = 20
MAX_NEW_MEMORY = 1 << 30

FAST = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------- the corpus
class Corpus:
    """Valid files (bytes) keyed by name, and a scratch folder for the damaged copies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        geometry = small_geometry(shape=(5, 22, 21))
        ct, paths = write_files(root / "src", geometry)
        paths["lm8-palette"] = root / "src" / "lm8-palette.dcm"
        write_seg(
            LabelVolume(labels(geometry), geometry, segments(1, 2, 3)),
            load_source(ct),
            paths["lm8-palette"],
            options=WriteOptions(palette=True),
        )
        _, paths23 = write_files(
            root / "src23",
            small_geometry(shape=(3, 38, 23)),
            which=["lm16-deflate", "bin-implicit", "frac-rle", "lm8-jpegls"],
        )
        paths.update({f"{k}-23x38": v for k, v in paths23.items()})
        paths.update(self._highdicom(root / "hd"))
        self.data = {key: path.read_bytes() for key, path in sorted(paths.items())}
        self.keys = sorted(self.data)
        self.work = root / "work"
        self.work.mkdir()
        self.out = root / "out"
        self.out.mkdir()

    @staticmethod
    def _highdicom(directory: Path) -> dict[str, Path]:
        try:
            import highdicom  # noqa: F401
        except ImportError:
            return {}
        from _interop import write_highdicom_seg

        g = small_geometry(shape=(4, 22, 21))
        out = {}
        mask = np.zeros((4, 22, 21, 2), bool)
        mask[0:2, 2:9, 3:8, 0] = True
        mask[1:4, 10:20, 5:15, 1] = True
        (directory / "bin").mkdir(parents=True)
        out["hd-binary"] = write_highdicom_seg(directory / "bin", g, mask, seg_type="BINARY", numbers=[1, 2])[1]
        labels = np.zeros((4, 22, 21), np.uint8)
        labels[0:2, 2:9, 3:8] = 1
        labels[2:4, 10:20, 5:15] = 2
        (directory / "lm").mkdir(parents=True)
        out["hd-labelmap"] = write_highdicom_seg(directory / "lm", g, labels, seg_type="LABELMAP", numbers=[1, 2])[1]
        return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("fuzz"))


# --------------------------------------------------------------------------- reading, and what must hold
class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    def fire(signum, frame):
        raise Hang(f"reading took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def read_every_way(path: Path, out_dir: Path) -> None:
    """Every read path; only LabelmapError may come out of the API, a command exits 0 or 1 with one
    error line and leaves nothing behind; no path may take more than EXAMPLE_SECONDS or touch more
    than MAX_NEW_MEMORY bytes (a damaged length or size must not make the reader allocate)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _read_every_way(path, out_dir)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
    assert grown < MAX_NEW_MEMORY, f"reading raised the peak memory by {grown / 2**20:.0f} MB"


def _read_every_way(path: Path, out_dir: Path) -> None:
    with time_limit(EXAMPLE_SECONDS):
        # 1. open_seg + the decoder for its type
        try:
            opened = open_seg(path)
            if str(opened.header.get("SegmentationType", "")) == "LABELMAP":
                decoded = decode_labelmap(opened)
                assert decoded.volume.array.shape == decoded.volume.geometry.shape
            else:
                classic = decode_classic(opened)
                for _segment, volume in classic.iter_segment_volumes():
                    assert volume.shape == classic.geometry.shape
                classic.layers()
        except LabelmapError:
            pass
        # 2. the API, from the file and from a pydicom Dataset (when pydicom can read the file)
        try:
            read_seg(path)
        except LabelmapError:
            pass
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
        except Exception:  # pydicom's own reading is the caller's business
            ds = None
        if ds is not None:
            try:
                read_seg(ds)
            except LabelmapError:
                pass
        # 3. the commands, in-process
        seg_type = _segmentation_type(path)
        commands = [["seg2itk", str(path), "-o", str(out_dir)], ["info", str(path)]]
        if seg_type == "BINARY":
            commands.append(["bin2label", str(path), "-o", str(out_dir / "label.dcm")])
        for args in commands:
            run_command(args, out_dir)


def _segmentation_type(path: Path) -> str:
    try:
        return str(open_seg(path).header.get("SegmentationType", ""))
    except LabelmapError:
        return ""


def run_command(args: list[str], out_dir: Path) -> None:
    """Exit 0, or exit 1 with one ``error:`` line on stderr and nothing left in ``out_dir``."""
    for entry in out_dir.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        rc = main(args)
    err = stderr.getvalue()
    assert "Traceback" not in err, (args, err)
    assert rc in (0, 1), (args, rc, err)
    if rc == 1:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert not caught, (args, [str(w.message) for w in caught])
        assert listing(out_dir) == set(), (args, listing(out_dir))


# --------------------------------------------------------------------------- byte-level damage
_VRS = [
    v.encode()
    for v in (
        "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV"
    ).split()
]
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_HUGE = [0, 1, 2, 3, 7, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF]


def _header_end(data: bytes) -> int:
    """Where Pixel Data starts (the header and per-frame groups are before it)."""
    pos = data.rfind(b"\xe0\x7f\x10\x00")
    return pos if pos > 0 else len(data)


def _length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of plausible element / item length fields (explicit VR headers, items)."""
    fields = []
    for m in re.finditer(rb"(?s)(?=(..)(..)([A-Z]{2}))", data[132:]):
        pos = m.start() + 132
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS and data[pos + 6 : pos + 8] == b"\0\0":
            fields.append((pos + 8, 4))
        elif vr in _VRS and vr not in _LONG_VRS:
            fields.append((pos + 6, 2))
    for m in re.finditer(rb"\xfe\xff\x00\xe0", data):
        fields.append((m.start() + 4, 4))
    return fields


def _vr_fields(data: bytes) -> list[int]:
    return [m.start() + 132 + 4 for m in re.finditer(rb"(?s)(?=....(" + b"|".join(_VRS) + rb"))", data[132:])]


_FIELDS_CACHE: dict[tuple[str, bool], tuple[list, list]] = {}


def _fields(key: str, inflated: bool, data: bytes) -> tuple[list, list]:
    """Length and VR field offsets of the undamaged file (or its inflated data set), computed once."""
    if (key, inflated) not in _FIELDS_CACHE:
        _FIELDS_CACHE[key, inflated] = (_length_fields(data), _vr_fields(data))
    return _FIELDS_CACHE[key, inflated]


@st.composite
def byte_damage(draw, corpus: Corpus) -> tuple[str, bytes]:
    key = draw(st.sampled_from(corpus.keys))
    data = corpus.data[key]
    inflated = False
    if "deflate" in key and draw(st.booleans()):
        # damage the data set itself, then deflate it again (a bit flip in the deflate stream
        # mostly just breaks inflation)
        meta_end = _meta_end(data)
        body = zlib.decompress(data[meta_end:], -15)
        buf = bytearray(body)
        inflated = True
    else:
        meta_end = 0
        buf = bytearray(data)
    head = min(_header_end(bytes(buf)), len(buf))
    offset = st.one_of(st.integers(0, max(0, head - 1)), st.integers(0, len(buf) - 1))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "overwrite", "length", "vr", "delete", "insert", "truncate"]))
        if not buf:
            break
        if kind == "flip":
            at = draw(offset) % len(buf)
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            at = draw(offset) % len(buf)
            chunk = draw(st.binary(min_size=1, max_size=16))
            buf[at : at + len(chunk)] = chunk
        elif kind == "length":
            fields, _ = _fields(key, inflated, body if inflated else data)
            fields = [f for f in fields if f[0] + f[1] <= len(buf)]
            if not fields:
                continue
            at, width = draw(st.sampled_from(fields))
            value = draw(st.one_of(st.sampled_from(_HUGE), st.integers(0, 2**32 - 1)))
            buf[at : at + width] = struct.pack(
                "<H" if width == 2 else "<I", value & (0xFFFF if width == 2 else 0xFFFFFFFF)
            )
        elif kind == "vr":
            _, vrs = _fields(key, inflated, body if inflated else data)
            vrs = [v for v in vrs if v + 2 <= len(buf)]
            if not vrs:
                continue
            at = draw(st.sampled_from(vrs))
            buf[at : at + 2] = draw(st.sampled_from(_VRS + [b"XX", b"\0\0", b"ob"]))
        elif kind == "delete":
            at = draw(offset) % len(buf)
            del buf[at : at + draw(st.integers(1, 12))]
        elif kind == "insert":
            at = draw(offset) % len(buf)
            buf[at:at] = draw(st.binary(min_size=1, max_size=12))
        else:
            buf = buf[: draw(st.integers(0, len(buf)))]
    if inflated:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        return key, data[:meta_end] + compressor.compress(bytes(buf)) + compressor.flush()
    return key, bytes(buf)


def _meta_end(data: bytes) -> int:
    (group_length,) = struct.unpack_from("<I", data, 140)  # (0002,0000) UL, value at 140
    return 144 + group_length


@st.composite
def truncation(draw, corpus: Corpus) -> tuple[str, bytes]:
    key = draw(st.sampled_from(corpus.keys))
    data = corpus.data[key]
    head = min(_header_end(data), len(data) - 1)
    cut = draw(st.one_of(st.integers(0, head), st.integers(head, len(data) - 1), st.integers(0, 400)))
    return key, data[:cut]


# --------------------------------------------------------------------------- attribute-level damage
def _elements(ds: Dataset, depth: int = 0):
    """(holder, tag) of every element, sequences included (Pixel Data only at the top)."""
    for elem in list(ds):
        yield ds, elem.tag
        if elem.VR == "SQ" and depth < 6:
            for item in elem.value:
                yield from _elements(item, depth + 1)


_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1.5",
            "abc",
            "1e400",
            "nan",
            "inf",
            "65536",
            "4294967296",
            "1\\2\\3",
            "0.5\\0.5",
            "1\\0\\0\\0\\1\\0",
            "LABELMAP",
            "BINARY",
            "FRACTIONAL",
            "PALETTE COLOR",
            "1.2.840.10008.5.1.4.1.1.66.7",
            "1.2.840.10008.5.1.4.1.1.66.4",
            "\x00\x00",
        ]
    ),
    st.text(max_size=20),
)
_NUMBER = st.one_of(
    st.sampled_from([0, 1, 2, 8, 16, 255, 256, 65535, -1, -32768, 2**31 - 1]),
    st.integers(-(2**31), 2**32 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def new_value(draw, vr: str):
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        lo, hi = {
            "US": (0, 0xFFFF),
            "SS": (-0x8000, 0x7FFF),
            "UL": (0, 2**32 - 1),
            "SL": (-(2**31), 2**31 - 1),
            "UV": (0, 2**64 - 1),
            "SV": (-(2**63), 2**63 - 1),
        }.get(vr, (None, None))
        if lo is None:
            one = st.floats(allow_nan=True, allow_infinity=True, width=32 if vr == "FL" else 64)
        else:
            one = st.one_of(st.sampled_from([lo, hi, 0, 1, 2, 8, 16]), st.integers(lo, hi))
        return draw(st.one_of(one, st.lists(one, min_size=0, max_size=4)))
    if vr == "SQ":
        return draw(st.sampled_from([[], "drop-items", "empty-item"]))
    if vr == "AT":
        return draw(st.one_of(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 2**32 - 1), max_size=3)))
    if vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
        return draw(st.binary(max_size=64))
    if vr in ("IS",):
        return draw(st.one_of(st.integers(-(2**31), 2**31 - 1).map(str), _TEXT))
    if vr in ("DS",):
        return draw(
            st.one_of(
                st.lists(st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: f"{f:.6g}"), min_size=1, max_size=7).map(
                    "\\".join
                ),
                _TEXT,
            )
        )
    return draw(_TEXT)


@st.composite
def attribute_damage(draw, corpus: Corpus) -> tuple[str, Dataset]:
    key = draw(st.sampled_from(corpus.keys))
    ds = pydicom.dcmread(io.BytesIO(corpus.data[key]))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["delete", "delete", "value", "value", "frames", "sequence"]))
        if action == "frames":
            ds.NumberOfFrames = draw(st.one_of(st.integers(-5, 40), st.sampled_from([10**6, 2**31 - 1])))
            continue
        targets = list(_elements(ds))
        holder, tag = draw(st.sampled_from(targets))
        elem = holder[tag]
        if action == "delete":
            del holder[tag]
        elif action == "sequence" and elem.VR == "SQ" and len(elem.value):
            items = list(elem.value)
            how = draw(st.sampled_from(["drop", "duplicate", "swap", "empty"]))
            if how == "drop":
                items.pop(draw(st.integers(0, len(items) - 1)))
            elif how == "duplicate":
                items.append(items[draw(st.integers(0, len(items) - 1))])
            elif how == "swap" and len(items) > 1:
                items[0], items[-1] = items[-1], items[0]
            else:
                items = [Dataset()]
            elem.value = items
        else:
            value = draw(new_value(elem.VR))
            if elem.VR == "SQ":
                elem.value = [] if value in ([], "drop-items") else [Dataset()]
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    elem.value = value
            except (ValueError, TypeError, OverflowError):
                pass  # pydicom refuses the value for this VR: no damage this round
    return key, ds


def _save(ds: Dataset, path: Path) -> bool:
    """Write ``ds`` as it is; False when pydicom cannot encode the damaged values at all."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds.save_as(buffer)
        except Exception:  # the damage is not encodable (e.g. a float in a US element): not a file
            return False
    path.write_bytes(buffer.getvalue())
    return True


# --------------------------------------------------------------------------- the tests
def _check_bytes(corpus: Corpus, key: str, data: bytes) -> None:
    path = corpus.work / f"{key}.dcm"
    path.write_bytes(data)
    read_every_way(path, corpus.out)


def _check_dataset(corpus: Corpus, key: str, ds: Dataset) -> None:
    path = corpus.work / f"{key}-attr.dcm"
    if _save(ds, path):
        read_every_way(path, corpus.out)


def test_corpus_reads(corpus):
    """Every undamaged file of the corpus reads all three ways without error."""
    for key in corpus.keys:
        path = corpus.work / f"{key}-ok.dcm"
        path.write_bytes(corpus.data[key])
        read_seg(path)
        assert main(["seg2itk", str(path), "-o", str(corpus.out), "-q"]) == 0
        for entry in corpus.out.iterdir():
            entry.unlink()


def _run_bytes(corpus, examples: int) -> None:
    @settings(max_examples=examples, **FAST)
    @given(case=byte_damage(corpus))
    def run(case):
        _check_bytes(corpus, *case)

    run()


def _run_truncation(corpus, examples: int) -> None:
    @settings(max_examples=examples, **FAST)
    @given(case=truncation(corpus))
    def run(case):
        _check_bytes(corpus, *case)

    run()


def _run_attributes(corpus, examples: int) -> None:
    @settings(max_examples=examples, **FAST)
    @given(case=attribute_damage(corpus))
    def run(case):
        _check_dataset(corpus, *case)

    run()


def test_fuzz_bytes(corpus):
    _run_bytes(corpus, 800)


def test_fuzz_truncation(corpus):
    _run_truncation(corpus, 200)


def test_fuzz_attributes(corpus):
    _run_attributes(corpus, 300)


def require_slow(request) -> None:
    """The slow variants run only when asked for (``-m slow``, as ``make test-slow`` does)."""
    if "slow" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("many examples: run with -m slow (make test-slow)")


@pytest.mark.slow
def test_fuzz_bytes_many(corpus, request):
    require_slow(request)
    _run_bytes(corpus, 10000)


@pytest.mark.slow
def test_fuzz_truncation_many(corpus, request):
    require_slow(request)
    _run_truncation(corpus, 2000)


@pytest.mark.slow
def test_fuzz_attributes_many(corpus, request):
    require_slow(request)
    _run_attributes(corpus, 3000)


def test_random_offsets_every_file(corpus):
    """Plain random (not hypothesis) byte flips over each whole file, a fixed seed: quick broad coverage."""
    rng = random.Random(5)
    for key in corpus.keys:
        data = corpus.data[key]
        for _ in range(6):
            buf = bytearray(data)
            for _ in range(3):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            _check_bytes(corpus, key, bytes(buf))
