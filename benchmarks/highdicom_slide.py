"""What a highdicom user would write for the slide conversions that slide.py times (run as a subprocess).

    python highdicom_slide.py write --labels L.npy --wsi LEVEL0.dcm --metadata M.json --output OUT.dcm
                                    [--transfer-syntax rle|explicit|jpegls|j2k] [--type labelmap|binary]
    python highdicom_slide.py read --seg IN.dcm --output OUT.tif|OUT.npy
    python highdicom_slide.py check --seg IN.dcm --labels L.npy [--rows 4096]

write: the labels are memory-mapped (``np.load(mmap_mode='r')``), the source level's header is read
with pydicom (no pixels: highdicom reads the total pixel matrix, origin, orientation and pixel
measures), and ``highdicom.seg.Segmentation(tile_pixel_array=True, dimension_organization_type=
'TILED_FULL', omit_empty_frames=False)`` gets the whole matrix; ``save_as`` writes it.

read: ``segread(...).get_total_pixel_matrix(combine_segments=True)`` (one label map), written as a
tiled (256 x 256) zlib TIFF with tifffile (the format labelmap's reader writes) or, for ``.npy``, saved.

check: highdicom reads the SEG in blocks of ``--rows`` rows and each block must equal the labels;
exit 1 with the first differing row otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _transfer_syntax(name: str):
    from pydicom import uid

    return {
        "explicit": uid.ExplicitVRLittleEndian,
        "jpegls": uid.JPEGLSLossless,
        "rle": uid.RLELossless,
        "j2k": uid.JPEG2000Lossless,
    }[name]


def write(args) -> int:
    import highdicom as hd
    import pydicom
    from highdicom_runner import _segment_descriptions

    labels = np.load(args.labels, mmap_mode="r")
    source = pydicom.dcmread(args.wsi, stop_before_pixels=True)
    metadata = json.loads(Path(args.metadata).read_text())
    seg_type = (
        hd.seg.SegmentationTypeValues.LABELMAP if args.type == "labelmap" else hd.seg.SegmentationTypeValues.BINARY
    )
    seg = hd.seg.Segmentation(
        source_images=[source],
        pixel_array=labels,
        segmentation_type=seg_type,
        segment_descriptions=_segment_descriptions(metadata),
        series_instance_uid=hd.UID(),
        series_number=int(metadata.get("SeriesNumber", 300)),
        sop_instance_uid=hd.UID(),
        instance_number=int(metadata.get("InstanceNumber", 1)),
        manufacturer="highdicom benchmark runner",
        manufacturer_model_name="highdicom_slide.py",
        software_versions=hd.__version__,
        device_serial_number="1",
        series_description=metadata.get("SeriesDescription"),
        transfer_syntax_uid=_transfer_syntax(args.transfer_syntax),
        tile_pixel_array=True,
        dimension_organization_type="TILED_FULL",
        omit_empty_frames=False,
    )
    seg.save_as(args.output)
    return 0


def read(args) -> int:
    import highdicom as hd

    seg = hd.seg.segread(args.seg)
    matrix = seg.get_total_pixel_matrix(combine_segments=True)
    if str(args.output).endswith(".npy"):
        np.save(args.output, matrix)
    else:
        import tifffile

        tifffile.imwrite(
            args.output, matrix, tile=(256, 256), compression="zlib", bigtiff=True, photometric="minisblack"
        )
    return 0


def check(args) -> int:
    import highdicom as hd

    labels = np.load(args.labels, mmap_mode="r")
    seg = hd.seg.segread(args.seg, lazy_frame_retrieval=True)
    rows = int(seg.TotalPixelMatrixRows)
    if (rows, int(seg.TotalPixelMatrixColumns)) != labels.shape:
        print(
            f"error: {args.seg}: matrix {rows} x {seg.TotalPixelMatrixColumns}, labels {labels.shape}", file=sys.stderr
        )
        return 1
    for r0 in range(0, rows, args.rows):
        r1 = min(rows, r0 + args.rows)
        block = seg.get_total_pixel_matrix(row_start=r0 + 1, row_end=r1 + 1, combine_segments=True)
        want = np.asarray(labels[r0:r1])
        if not np.array_equal(block, want):
            bad = r0 + int(np.nonzero((block != want).any(axis=1))[0][0])
            print(f"error: {args.seg}: highdicom reads row {bad} differently from {args.labels}", file=sys.stderr)
            return 1
    print(f"highdicom reads {args.seg} as {args.labels}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("--labels", required=True)
    w.add_argument("--wsi", required=True)
    w.add_argument("--metadata", required=True)
    w.add_argument("--output", required=True)
    w.add_argument("--type", choices=["labelmap", "binary"], default="labelmap")
    w.add_argument("--transfer-syntax", choices=["explicit", "jpegls", "rle", "j2k"], default="rle")
    r = sub.add_parser("read")
    r.add_argument("--seg", required=True)
    r.add_argument("--output", required=True)
    c = sub.add_parser("check")
    c.add_argument("--seg", required=True)
    c.add_argument("--labels", required=True)
    c.add_argument("--rows", type=int, default=4096)
    args = parser.parse_args(argv)
    try:
        return {"write": write, "read": read, "check": check}[args.command](args)
    except SystemExit:
        raise
    except Exception as exc:  # one line on stderr, so slide.py can show it
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {type(exc).__name__}: {message}", file=sys.stderr)
        if os.environ.get("HIGHDICOM_RUNNER_TRACEBACK"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
