"""Small valid SEG files of every type and transfer syntax, written by our writer, for the
damaged-file, fuzz and property tests; and the assertions those tests share."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from labelmap.demo.sample import write_ct_series
from labelmap.dicom.pixels.codecs import is_available
from labelmap.model import Code, Geometry, LabelVolume, SegmentDescription
from labelmap.pipeline.convert import load_source, write_seg
from labelmap.pipeline.options import WriteOptions
from labelmap.seg.types import allowed_syntaxes, spec_for

from _cli import listing
from _geometries import oblique_geometry

CATEGORY = Code("123037004", "SCT", "Anatomical Structure")
TISSUE = Code("85756007", "SCT", "Tissue")


def segments(*numbers: int) -> tuple[SegmentDescription, ...]:
    return tuple(
        SegmentDescription(label_id=n, number=n, category=CATEGORY, type=TISSUE, label=f"segment {n}") for n in numbers
    )


def small_geometry(shape=(4, 22, 21)) -> Geometry:
    return oblique_geometry(shape=shape)


def labels(geometry: Geometry, big: bool = False) -> np.ndarray:
    """Three labels (1, 2, 3 or 1, 2, 300) on different slices, one voxel of 1 on the last slice."""
    a = np.zeros(geometry.shape, np.uint16 if big else np.uint8)
    a[0, 2:8, 3:9] = 1
    a[1, 5:15, 4:12] = 2
    a[2, 10:20, 1:6] = 300 if big else 3
    a[-1, 0, 0] = 1
    return a


def fractions(geometry: Geometry) -> list[np.ndarray]:
    p = np.zeros(geometry.shape, np.float32)
    p[1:3, 4:10, 2:9] = 0.5
    p[1, 5, 5] = 1.0
    q = np.zeros(geometry.shape, np.float32)
    q[0:2, 10:12, 2:19] = 0.25
    return [p, q]


def kinds() -> list[tuple[str, str, str]]:
    """(key, type, compression) of every file :func:`write_files` makes (codecs that are installed)."""
    out = []
    for kind, seg_type in (("lm8", "LABELMAP"), ("lm16", "LABELMAP"), ("bin", "BINARY"), ("frac", "FRACTIONAL")):
        for compression in (ts.name for ts in allowed_syntaxes(spec_for(seg_type))):
            if is_available(compression):
                out.append((f"{kind}-{compression}", kind, compression))
    return out


def write_files(
    root: Path, geometry: Geometry | None = None, which: Iterable[str] | None = None
) -> tuple[Path, dict[str, Path]]:
    """A CT series and SEG files ``<kind>-<compression>.dcm`` on it: (ct folder, {key: path})."""
    geometry = geometry or small_geometry()
    ct = root / "ct"
    write_ct_series(ct, geometry)
    source = load_source(ct)
    wanted = set(which) if which is not None else None
    files: dict[str, Path] = {}
    for key, kind, compression in kinds():
        if wanted is not None and key not in wanted:
            continue
        path = root / f"{key}.dcm"
        if kind in ("lm8", "lm16"):
            volume = LabelVolume(
                labels(geometry, kind == "lm16"), geometry, segments(1, 2, 300 if kind == "lm16" else 3)
            )
            write_seg(volume, source, path, options=WriteOptions(compression=compression))
        elif kind == "bin":
            write_seg(
                LabelVolume(labels(geometry), geometry, segments(1, 2, 3)),
                source,
                path,
                options=WriteOptions(compression=compression, seg_type="binary"),
            )
        else:
            p, q = fractions(geometry)
            write_seg(
                [LabelVolume(p, geometry, segments(1)), LabelVolume(q, geometry, segments(2))],
                source,
                path,
                options=WriteOptions(compression=compression, seg_type="fractional"),
            )
        files[key] = path
    return ct, files


def run_cli_error(capsys, args: list, out_dir: Path) -> str:
    """Run ``labelmap.cli.main(args)`` in-process; assert exit 1, exactly one ``error:`` line on
    stderr (no traceback, no warning that would print on a terminal), nothing on stdout and no
    file left in ``out_dir``.  Returns the error line."""
    from labelmap.cli import main

    out_dir.mkdir(parents=True, exist_ok=True)
    before = listing(out_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert rc == 1, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert out.strip() == "", out
    # a warning would be a second stderr line when run from a terminal
    assert not caught, [str(w.message) for w in caught]
    assert listing(out_dir) == before, "output left behind"
    return lines[0]
