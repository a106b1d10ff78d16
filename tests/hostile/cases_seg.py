"""Hostile SEG files: resource bombs inside DICOM, and damaged SEGs, through every SEG-reading command."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pydicom
from _base import (
    DEFLATED,
    GIB,
    Base,
    cached,
    deflate_pieces,
    edited,
    element,
    offset_of,
    split_file,
    top_level,
    with_syntax,
)
from _harness import Case, Run
from pydicom.encaps import encapsulate, generate_frames
from pydicom.sequence import Sequence as DicomSequence

#: How each SEG-reading command is called on a SEG ``seg`` with outputs below ``root``.
READERS: dict[str, Callable[[Path, Path], Run]] = {
    "seg2itk": lambda seg, root: Run(["seg2itk", seg, "-o", _outdir(root)], output=root / "out"),
    "info": lambda seg, root: Run(["info", seg]),
    "validate": lambda seg, root: Run(["validate", seg]),
    "segimage2itkimage": lambda seg, root: Run(
        ["segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", _outdir(root)], output=root / "out"
    ),
    "bin2label": lambda seg, root: Run(
        ["bin2label", seg, "-o", root / "out" / "lm.dcm"], output=root / "out" / "lm.dcm"
    ),
    "bin2labelsegimage": lambda seg, root: Run(
        ["bin2labelsegimage", "--inputDICOM", seg, "--outputDICOM", root / "out" / "lm.dcm"],
        output=root / "out" / "lm.dcm",
    ),
}


def _outdir(root: Path) -> Path:
    out = root / "out"
    out.mkdir(exist_ok=True)
    (out / "keep.txt").write_text("a file from an earlier run\n")
    return out


def seg_cases(
    name: str,
    group: str,
    make: Callable[[Base, Path], Path],
    commands: tuple[str, ...] = ("seg2itk", "info", "validate"),
    *,
    slow: bool = False,
    expect: int | None = None,
    fast: int = 1,
) -> list[Case]:
    """One case per command, each on the SEG ``make(base, root)`` writes; only the first ``fast``
    commands run in the fast suite (the others are marked slow: each child costs a Python start)."""

    def builder(command: str) -> Callable[[Base, Path], Run]:
        def build(base: Base, root: Path) -> Run:
            seg = make(base, root)
            run = READERS[command](seg, root)
            (root / "out").mkdir(exist_ok=True)
            if run.output is not None and command in ("bin2label", "bin2labelsegimage"):
                (root / "out" / "keep.txt").write_text("a file from an earlier run\n")
            return Run(run.argv, run.output, expect if command not in ("validate", "info") else None)

        return build

    return [
        Case(f"{group}/{name}/{command}", group, builder(command), slow or i >= fast)
        for i, command in enumerate(commands)
    ]


def src(base: Base, key: str) -> Path:
    return base.lm if key == "lm" else base.binary if key == "binary" else base.segs[key]


# --------------------------------------------------------------------------- deflate bombs in a SEG
PRIVATE_CREATOR = 0x00090010


def _private_bomb(base: Base, key: str, zeros: int, vr: bytes = b"OB") -> bytes:
    """A deflated copy of SEG ``key`` with private elements holding ``zeros`` bytes of zeros (< 4 GiB each)."""

    def make() -> bytes:
        head, body = split_file(src(base, key))
        head = with_syntax(head, DEFLATED)
        at = offset_of(body, 0x00090000)
        pieces: list[bytes | int] = [body[:at] + element(PRIVATE_CREATOR, b"LO", b"HOSTILE ")]
        left, n = zeros, 0
        while left:
            part = min(left, 3 * GIB)
            pieces += [element(0x00091000 + n, vr, part), part]
            left -= part
            n += 1
        pieces.append(body[at:])
        return head + deflate_pieces(pieces)

    return cached(f"private-bomb-{key}-{zeros}-{vr!r}", make)  # type: ignore[return-value]


def bomb(key: str, zeros: int, vr: bytes = b"OB") -> Callable[[Base, Path], Path]:
    def make(base: Base, root: Path) -> Path:
        path = root / "bomb.seg.dcm"
        path.write_bytes(_private_bomb(base, key, zeros, vr))
        return path

    return make


def pixel_bomb(key: str, zeros: int) -> Callable[[Base, Path], Path]:
    """Deflated SEG whose Pixel Data holds ``zeros`` zero bytes (far more than its frames need)."""

    def make(base: Base, root: Path) -> Path:
        def build() -> bytes:
            head, body = split_file(src(base, key))
            head = with_syntax(head, DEFLATED)
            at = offset_of(body, 0x7FE00010)
            return head + deflate_pieces([body[:at] + element(0x7FE00010, b"OB", zeros), zeros])

        blob = cached(f"pixel-bomb-{key}-{zeros}", build)
        path = root / "pixbomb.seg.dcm"
        path.write_bytes(blob)  # type: ignore[arg-type]
        return path

    return make


def trailing_bomb(key: str, zeros: int) -> Callable[[Base, Path], Path]:
    """Deflated SEG followed, inside the deflate stream, by ``zeros`` zero bytes."""

    def make(base: Base, root: Path) -> Path:
        def build() -> bytes:
            head, body = split_file(src(base, key))
            return with_syntax(head, DEFLATED) + deflate_pieces([body, zeros])

        path = root / "trail.seg.dcm"
        path.write_bytes(cached(f"trail-bomb-{key}-{zeros}", build))  # type: ignore[arg-type]
        return path

    return make


def raw_huge_length(key: str, tag: int, vr: bytes, where: str) -> Callable[[Base, Path], Path]:
    """A native SEG with an element claiming 0xFFFFFFF0 bytes (none follow: the file ends or goes on)."""

    def make(base: Base, root: Path) -> Path:
        data = src(base, key).read_bytes()
        end = data.index(b"DICM") + 4
        (glen,) = struct.unpack_from("<I", data, end + 8)
        start = end + 12 + glen
        body = data[start:]
        if where == "end":
            body = body + element(tag, vr, 0xFFFFFFF0)
        elif where == "replace":  # the element keeps its place and claims the huge length
            for pos, t, v, _ in top_level(body):
                if t == tag:
                    body = (
                        body[:pos]
                        + element(tag, v, 0xFFFFFFF0)
                        + body[pos + (12 if v in (b"OB", b"OW", b"SQ", b"UN") else 8) :]
                    )
                    break
        else:  # before
            at = offset_of(body, tag)
            body = body[:at] + element(tag, vr, 0xFFFFFFF0) + body[at:]
        path = root / "long.seg.dcm"
        path.write_bytes(data[:start] + body)
        return path

    return make


def deep_sequence(depth: int) -> Callable[[Base, Path], Path]:
    """A SEG with a private sequence nested ``depth`` items deep (undefined lengths)."""

    def make(base: Base, root: Path) -> Path:
        head, body = split_file(base.segs["lm8-none"])
        at = offset_of(body, 0x00090000)
        opening = element(0x00091001, b"SQ", 0xFFFFFFFF) + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
        closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
        nested = element(PRIVATE_CREATOR, b"LO", b"HOSTILE ") + opening * depth + closing * depth
        path = root / "deep.seg.dcm"
        path.write_bytes(head + body[:at] + nested + body[at:])
        return path

    return make


def many_items(n: int, tag: int = 0x00620002) -> Callable[[Base, Path], Path]:
    """A SEG whose Segment Sequence (or another sequence) holds ``n`` tiny items."""

    def make(base: Base, root: Path) -> Path:
        head, body = split_file(base.segs["lm8-none"])
        for pos, t, _, total in top_level(body):
            if t == tag:
                inner = element(0x00620004, b"US", struct.pack("<H", 1))
                item = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(inner)) + inner
                seq = element(tag, b"SQ", len(item) * n) + item * n
                body = body[:pos] + seq + body[pos + total :]
                break
        path = root / "items.seg.dcm"
        path.write_bytes(head + body)
        return path

    return make


# --------------------------------------------------------------------------- attribute edits
def edit(key: str, change: Callable[[pydicom.Dataset], None], name: str = "edited.seg.dcm") -> Callable:
    def make(base: Base, root: Path) -> Path:
        return edited(src(base, key), root / name, change)

    return make


def setattrs(**values) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        for k, v in values.items():
            setattr(ds, k, v)

    return change


def delete(*keywords: str) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        for k in keywords:
            delattr(ds, k)

    return change


def per_frame(index: int, change: Callable[[pydicom.Dataset], None]) -> Callable[[pydicom.Dataset], None]:
    def outer(ds: pydicom.Dataset) -> None:
        change(ds.PerFrameFunctionalGroupsSequence[index])

    return outer


def move_frame(index: int, offset) -> Callable[[pydicom.Dataset], None]:
    def change(item: pydicom.Dataset) -> None:
        ipp = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        item.PlanePositionSequence[0].ImagePositionPatient = [f"{a + b:.6g}" for a, b in zip(ipp, offset)]

    return per_frame(index, change)


def set_vr(keyword: str, vr: str, value=None) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        elem = ds[keyword]
        elem.VR = vr
        if value is not None:
            elem.value = value

    return change


def frames_changed(key: str, change_frame: Callable[[int, bytes], bytes]) -> Callable:
    """An encapsulated SEG with each frame's bytes replaced by ``change_frame(index, bytes)``."""

    def change(ds: pydicom.Dataset) -> None:
        frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
        ds.PixelData = encapsulate([change_frame(i, f) for i, f in enumerate(frames)])

    return edit(key, change)


def j2k_huge(index: int, frame: bytes) -> bytes:
    """The frame's J2K codestream with its SIZ marker claiming a 65535 x 65535 image."""
    pos = frame.index(b"\xff\x51")
    # SIZ: marker(2) Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz YOsiz XTsiz YTsiz ...
    return (
        frame[: pos + 6]
        + struct.pack(">II", 65535, 65535)
        + frame[pos + 14 : pos + 22]
        + struct.pack(">II", 65535, 65535)
        + frame[pos + 30 :]
    )


def jls_huge(index: int, frame: bytes) -> bytes:
    """The frame's JPEG-LS SOF55 claiming 65535 x 65535 samples."""
    pos = frame.index(b"\xff\xf7")
    return frame[: pos + 5] + struct.pack(">HH", 65535, 65535) + frame[pos + 9 :]


def rle_bad_header(index: int, frame: bytes) -> bytes:
    """An RLE header claiming 15 segments at offsets far beyond the frame."""
    return struct.pack("<16I", 15, *[0x7FFFFFF0 - i for i in range(15)]) + frame[64:]


def rle_runs_overflow(index: int, frame: bytes) -> bytes:
    """One segment of replicate runs that decodes to far more than Rows x Columns bytes."""
    runs = b"\x81\x00" * 50_000  # each run: 128 copies of 0
    return struct.pack("<16I", 1, 64, *[0] * 14) + runs


def garbage(index: int, frame: bytes) -> bytes:
    return bytes((b * 37 + 11) & 0xFF for b in frame[: len(frame) // 2]) + b"\x00"


def truncated_at(key: str, where: Callable[[bytes], int], name: str = "cut.seg.dcm") -> Callable:
    def make(base: Base, root: Path) -> Path:
        data = src(base, key).read_bytes()
        path = root / name
        path.write_bytes(data[: where(data)])
        return path

    return make


def wrong_items(ds: pydicom.Dataset) -> None:
    """Per-frame items made one fewer than Number of Frames."""
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(list(ds.PerFrameFunctionalGroupsSequence)[:-1])


def seg_type(value: str) -> Callable[[pydicom.Dataset], None]:
    return setattrs(SegmentationType=value)


ALL3 = ("seg2itk", "info", "validate")
ALL5 = ("seg2itk", "info", "validate", "segimage2itkimage", "bin2label")
PER_FRAME = b"\x00\x52\x30\x92"

CASES: list[Case] = [
    # ---- resource bombs inside DICOM
    *seg_cases("deflated-private-ob-6gib", "bomb", bomb("lm8-none", 6 * GIB), ALL5, slow=True),
    *seg_cases("deflated-private-un-1gib", "bomb", bomb("bin-none", GIB, b"UN"), ("seg2itk", "bin2label"), slow=True),
    *seg_cases("deflated-pixel-data-3gib", "bomb", pixel_bomb("lm8-none", 3 * GIB), ALL3, slow=True),
    *seg_cases(
        "deflated-trailing-zeros-2gib", "bomb", trailing_bomb("lm8-none", 2 * GIB), ("seg2itk", "validate"), slow=True
    ),
    *seg_cases("huge-length-private-at-end", "bomb", raw_huge_length("lm8-none", 0x00091000, b"OB", "end"), ALL3),
    *seg_cases("huge-length-private-inside", "bomb", raw_huge_length("lm8-none", 0x00091000, b"UN", "before"), ALL3),
    *seg_cases("huge-length-pixel-data", "bomb", raw_huge_length("lm8-none", 0x7FE00010, b"OB", "replace"), ALL3),
    *seg_cases("number-of-frames-2^31", "bomb", edit("lm8-none", setattrs(NumberOfFrames="2147483648")), ALL3),
    *seg_cases(
        "number-of-frames-2^31-1-binary",
        "bomb",
        edit("bin-none", setattrs(NumberOfFrames="2147483647")),
        ("seg2itk", "bin2label"),
    ),
    *seg_cases("rows-columns-65535", "bomb", edit("lm8-none", setattrs(Rows=65535, Columns=65535)), ALL3),
    *seg_cases(
        "rows-columns-65535-binary",
        "bomb",
        edit("bin-none", setattrs(Rows=65535, Columns=65535)),
        ("seg2itk", "bin2label"),
    ),
    *seg_cases(
        "rows-columns-frames-65535-lm16",
        "bomb",
        edit("lm16-none", setattrs(Rows=65535, Columns=65535, NumberOfFrames="65535")),
        ("seg2itk",),
    ),
    *seg_cases("j2k-frame-claims-65535^2", "bomb", frames_changed("lm8-j2k", j2k_huge), ("seg2itk", "validate")),
    *seg_cases("jpegls-frame-claims-65535^2", "bomb", frames_changed("lm16-jpegls", jls_huge), ("seg2itk",)),
    *seg_cases("sequence-nested-100000-deep", "bomb", deep_sequence(100_000), ALL3),
    *seg_cases("segment-sequence-200000-items", "bomb", many_items(200_000), ("seg2itk", "info")),
    # ---- damaged SEGs: truncated at structural points
    *seg_cases("cut-in-preamble", "damaged", truncated_at("lm8-none", lambda d: 64), ("seg2itk",)),
    *seg_cases("cut-after-DICM", "damaged", truncated_at("lm8-none", lambda d: 132), ("info",)),
    *seg_cases("cut-in-file-meta", "damaged", truncated_at("lm8-deflate", lambda d: 200), ("validate",)),
    *seg_cases("cut-in-deflate-stream", "damaged", truncated_at("lm8-deflate", lambda d: len(d) * 2 // 3), ALL3),
    *seg_cases(
        "cut-in-per-frame-header",
        "damaged",
        truncated_at("lm8-none", lambda d: d.index(PER_FRAME) + 6),
        ("seg2itk", "validate"),
    ),
    *seg_cases(
        "cut-in-pixel-data-binary", "damaged", truncated_at("bin-none", lambda d: len(d) - 7), ("bin2label", "info")
    ),
    *seg_cases("cut-in-rle-frame", "damaged", truncated_at("lm8-rle", lambda d: len(d) - 30), ("seg2itk",)),
    # ---- wrong VRs and values
    *seg_cases("rows-as-text", "damaged", edit("lm8-none", set_vr("Rows", "LO", "twenty")), ALL3),
    *seg_cases(
        "number-of-frames-as-US",
        "damaged",
        edit("lm8-none", set_vr("NumberOfFrames", "US", 3)),
        ("seg2itk", "validate"),
    ),
    *seg_cases(
        "segment-number-as-text",
        "damaged",
        edit(
            "lm8-none",
            lambda ds: (
                setattr(ds.SegmentSequence[0]["SegmentNumber"], "VR", "LO")
                or setattr(ds.SegmentSequence[0], "SegmentNumber", "one")
            ),
        ),
        ALL3,
    ),
    *seg_cases(
        "pixel-spacing-nan",
        "damaged",
        edit(
            "lm8-none",
            lambda ds: setattr(
                ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0], "PixelSpacing", ["nan", "nan"]
            ),
        ),
        ("seg2itk", "validate"),
    ),
    *seg_cases("segmentation-type-lower-case", "damaged", edit("lm8-none", seg_type("labelmap")), ALL3),
    *seg_cases(
        "segmentation-type-unknown",
        "damaged",
        edit("bin-none", seg_type("PROBABILISTIC")),
        ("seg2itk", "bin2label", "validate"),
    ),
    *seg_cases(
        "bits-allocated-32",
        "damaged",
        edit("lm16-none", setattrs(BitsAllocated=32, BitsStored=32, HighBit=31)),
        ("seg2itk",),
    ),
    # ---- missing Type 1 attributes
    *seg_cases(
        "no-segment-sequence", "damaged", edit("bin-none", delete("SegmentSequence")), ("bin2label", "info", "validate")
    ),
    *seg_cases("no-shared-groups", "damaged", edit("lm8-none", delete("SharedFunctionalGroupsSequence")), ALL3),
    *seg_cases("no-sop-instance-uid", "damaged", edit("lm8-none", delete("SOPInstanceUID")), ("seg2itk", "validate")),
    *seg_cases("no-segmentation-type", "damaged", edit("lm8-none", delete("SegmentationType")), ALL3),
    *seg_cases(
        "no-dimension-index", "damaged", edit("lm8-none", delete("DimensionIndexSequence")), ("seg2itk", "validate")
    ),
    *seg_cases(
        "no-referenced-series-binary",
        "damaged",
        edit("bin-none", delete("ReferencedSeriesSequence")),
        ("bin2label", "bin2labelsegimage"),
    ),
    *seg_cases(
        "no-frame-of-reference", "damaged", edit("lm8-none", delete("FrameOfReferenceUID")), ("seg2itk", "validate")
    ),
    *seg_cases("no-pixel-data", "damaged", edit("lm8-none", delete("PixelData")), ALL3),
    # ---- frames out of the grid, frame counts
    *seg_cases(
        "frame-moved-in-plane", "damaged", edit("lm8-none", move_frame(1, (3.3, 0, 0))), ("seg2itk", "validate")
    ),
    *seg_cases(
        "frame-moved-off-slice", "damaged", edit("bin-none", move_frame(0, (0, 0, 1.1))), ("seg2itk", "bin2label")
    ),
    *seg_cases("frame-position-inf", "damaged", edit("lm8-none", move_frame(0, (float("inf"), 0, 0))), ALL3),
    *seg_cases("per-frame-items-one-short", "damaged", edit("lm8-none", wrong_items), ("seg2itk", "validate")),
    *seg_cases("number-of-frames-0", "damaged", edit("lm8-none", setattrs(NumberOfFrames="0")), ALL3),
    *seg_cases(
        "pixel-data-half",
        "damaged",
        edit("lm16-none", lambda ds: setattr(ds, "PixelData", ds.PixelData[: len(ds.PixelData) // 2])),
        ("seg2itk", "info"),
    ),
    # ---- values that would drive a terminal if printed raw
    *seg_cases(
        "label-with-terminal-escapes",
        "damaged",
        edit("lm8-none", lambda ds: setattr(ds.SegmentSequence[0], "SegmentLabel", "liver\x1b]0;owned\x07\x1b[2J")),
        ("info", "validate", "seg2itk"),
        fast=2,
    ),
    *seg_cases(
        "series-description-with-escapes",
        "damaged",
        edit("bin-none", lambda ds: setattr(ds, "SeriesDescription", "\x1b[31mred\x1b[0m\x08\x08")),
        ("info", "bin2label"),
    ),
    # ---- bad compressed frames
    *seg_cases(
        "rle-header-beyond-frame", "damaged", frames_changed("lm8-rle", rle_bad_header), ("seg2itk", "validate")
    ),
    *seg_cases("rle-runs-overflow", "damaged", frames_changed("lm8-rle", rle_runs_overflow), ("seg2itk",)),
    *seg_cases("jpegls-garbage", "damaged", frames_changed("lm8-jpegls", garbage), ("seg2itk", "validate")),
    *seg_cases("j2k-garbage-binary", "damaged", frames_changed("bin-j2k", garbage), ("seg2itk", "bin2label")),
]
