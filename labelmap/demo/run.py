"""``labelmap-convert demo``: the built-in sample, end to end, with sizes and times."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np

__all__ = ["run_demo"]


#: The largest sample the demo builds (its CT, label map and SEG stay within a few GB).
MAX_VOXELS = 512**3


def run_demo(
    output_dir: Path | None,
    *,
    organs: int = 40,
    size: int = 256,
    slices: int = 120,
    echo: Callable[[str], None] = print,
) -> bool:
    """Synthetic CT + organ label map -> LABELMAP SEG -> label map; True when the round trip is exact."""
    from labelmap._util.atomic import check_output_dir
    from labelmap.demo.sample import organ_phantom, sample_metadata, write_ct_series
    from labelmap.errors import InputError
    from labelmap.formats.dcmqi_json import load_metadata
    from labelmap.model import Geometry, LabelVolume
    from labelmap.pipeline.convert import itk_to_seg, read_labels, seg_to_itk, write_labels
    from labelmap.pipeline.options import ReadOptions, WriteOptions

    for flag, value, low in (("--organs", organs, 1), ("--size", size, 2), ("--slices", slices, 1)):
        if value < low:
            raise InputError(f"{flag} must be at least {low}, got {value}")
    if size * size * slices > MAX_VOXELS:
        raise InputError(
            f"a {size}x{size}x{slices} sample has {size * size * slices:,} voxels, more than the demo makes "
            f"({MAX_VOXELS:,}: 512x512x512); use a smaller --size or fewer --slices"
        )
    origin = np.array([-0.5 * size * 0.8, -0.5 * size * 0.8, -200.0])
    geometry = Geometry(
        origin=origin, direction=np.eye(3), spacing=np.array([0.8, 0.8, 2.0]), shape=(slices, size, size)
    )
    t = time.perf_counter()
    try:  # before creating anything, so a bad request leaves no files behind
        labels = organ_phantom(geometry, organs, seed=7)
    except ValueError as exc:
        raise InputError(
            f"--organs {organs} do not fit in a {size}x{size}x{slices} sample ({exc}); "
            "use fewer organs or a larger --size / --slices"
        ) from None
    with tempfile.TemporaryDirectory(prefix="labelmap-demo-") if output_dir is None else nullcontext(output_dir) as tmp:
        out = Path(tmp) if output_dir is None else check_output_dir(output_dir, create=True)  # OutputError if unusable
        ct_dir = out / "ct"
        ct_dir.mkdir(exist_ok=True)
        write_ct_series(ct_dir, geometry)
        labels_path = out / "labels.nrrd"
        write_labels(labels_path, LabelVolume(labels, geometry), compress=True)
        values = [int(v) for v in np.unique(labels) if v]
        meta_path = out / "labels.json"
        meta_path.write_text(json.dumps(sample_metadata(values), indent=2))
        echo(
            f"sample: CT {size}x{size}x{slices} and {len(values)} organ labels in {out} "
            f"({time.perf_counter() - t:.2f} s)"
        )

        results = [
            itk_to_seg(
                [labels_path], [ct_dir], meta_path, out / f"labels-{c}.seg.dcm", options=WriteOptions(compression=c)
            )
            for c in ("none", "deflate")
        ]
        back_dir = out / "roundtrip"
        back_dir.mkdir(exist_ok=True)
        rr = seg_to_itk(results[-1].output, back_dir, reference=[ct_dir], options=ReadOptions(create_dir=False))
        back = read_labels(rr.outputs[0])
        exact = np.array_equal(back.array, labels)
        geo_err = back.geometry.max_deviation(geometry)
        codes_in, codes_out = (
            [(s.label_id, s.type, s.category, s.type_modifier) for s in load_metadata(path).segments[0]]
            for path in (meta_path, rr.metadata)
        )

        echo("")
        echo(f"{'file':<34}{'size':>12}{'time':>9}")
        echo(f"{labels_path.name:<34}{labels_path.stat().st_size:>12,}{'':>9}")
        for r in results:
            echo(
                f"{r.output.name:<34}{r.size_bytes:>12,}{r.seconds:>8.2f}s   "
                f"{r.frames} frames, {r.segments} segments, {r.skipped_slices} empty slices skipped"
            )
        echo(
            f"{'roundtrip/' + rr.outputs[0].name:<34}{rr.outputs[0].stat().st_size:>12,}{rr.seconds:>8.2f}s   "
            f"{rr.filled_slices} empty slices filled from the reference"
        )
        echo("")
        echo(
            f"round trip: labels {'identical' if exact else 'DIFFER'}, geometry within {geo_err:.2e} mm, "
            f"segment codes {'identical' if codes_in == codes_out else 'DIFFER'}"
        )
        return bool(exact and geo_err <= 1e-4 and codes_in == codes_out)
