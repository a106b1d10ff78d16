"""What a highdicom user would write for the conversions that compare.py times (run as a subprocess).

    python highdicom_runner.py write --labels L.nrrd --ct DIR --metadata M.json --output OUT.dcm
                                     --type labelmap|binary [--transfer-syntax explicit|jpegls|rle|j2k]
    python highdicom_runner.py read --seg IN.dcm --output OUT.nrrd

write: the NRRD is read with pynrrd, the CT headers with pydicom (no pixel data;
highdicom only needs the metadata), the segments come from the dcmqi JSON, and
``highdicom.seg.Segmentation`` gets the label-map style array (values = segment
numbers) on the source grid.  The runner supports what the benchmark case needs:
an NRRD on the CT grid in the CT's slice order (checked, not resampled).

read: ``highdicom.seg.segread(...).get_volume(combine_segments=True)`` -- one label
map (for BINARY: the segments merged, which fails if they overlap) -- written with
pynrrd as gzip NRRD (zlib level 6, as labelmap writes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np


def _code(d: dict):
    from pydicom.sr.coding import Code

    return Code(d["CodeValue"], d["CodingSchemeDesignator"], d["CodeMeaning"])


def _segment_descriptions(metadata: dict):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    out = []
    for seg in metadata["segmentAttributes"][0]:
        algo_type = seg.get("SegmentAlgorithmType", "MANUAL")
        algo = None
        if algo_type != "MANUAL":
            algo = hd.AlgorithmIdentificationSequence(
                name=seg.get("SegmentAlgorithmName", "unknown"),
                family=codes.cid7162.ArtificialIntelligence,
                version="1",
            )
        color = None
        if "recommendedDisplayRGBValue" in seg:
            r, g, b = seg["recommendedDisplayRGBValue"]
            color = hd.color.CIELabColor.from_rgb(r, g, b)
        out.append(
            hd.seg.SegmentDescription(
                segment_number=int(seg["labelID"]),
                segment_label=seg.get("SegmentLabel", f"Segment {seg['labelID']}"),
                segmented_property_category=_code(seg["SegmentedPropertyCategoryCodeSequence"]),
                segmented_property_type=_code(seg["SegmentedPropertyTypeCodeSequence"]),
                algorithm_type=algo_type,
                algorithm_identification=algo,
                display_color=color,
            )
        )
    return out


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
    import nrrd
    import pydicom

    labels, header = nrrd.read(str(args.labels), index_order="C")  # [k, j, i]
    if labels.ndim != 3:
        raise SystemExit(f"error: {args.labels}: expected a 3-D label image")
    files = [p for p in Path(args.ct).rglob("*") if p.is_file() and not p.name.startswith(".")]
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    sources.sort(
        key=lambda ds: float(
            np.dot(
                np.cross(
                    np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
                ),
                np.array(ds.ImagePositionPatient, float),
            )
        )
    )
    if len(sources) != labels.shape[0]:
        raise SystemExit(f"error: {len(sources)} CT slices but the label image has {labels.shape[0]}")
    origin = np.asarray(header.get("space origin", [0, 0, 0]), float)
    if np.max(np.abs(origin - np.array(sources[0].ImagePositionPatient, float))) > 0.01:
        raise SystemExit("error: the label image does not start at the first CT slice (the runner does not resample)")
    top = int(labels.max())
    labels = labels.astype(np.uint8 if top <= 0xFF else np.uint16, copy=False)
    metadata = json.loads(Path(args.metadata).read_text())
    seg_type = (
        hd.seg.SegmentationTypeValues.LABELMAP if args.type == "labelmap" else hd.seg.SegmentationTypeValues.BINARY
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=labels,
        segmentation_type=seg_type,
        segment_descriptions=_segment_descriptions(metadata),
        series_instance_uid=hd.UID(),
        series_number=int(metadata.get("SeriesNumber", 300)),
        sop_instance_uid=hd.UID(),
        instance_number=int(metadata.get("InstanceNumber", 1)),
        manufacturer="highdicom benchmark runner",
        manufacturer_model_name="highdicom_runner.py",
        software_versions=hd.__version__,
        device_serial_number="1",
        series_description=metadata.get("SeriesDescription"),
        transfer_syntax_uid=_transfer_syntax(args.transfer_syntax),
    )
    seg.save_as(args.output)
    return 0


def read(args) -> int:
    import highdicom as hd
    import nrrd

    seg = hd.seg.segread(args.seg)
    volume = seg.get_volume(combine_segments=True)
    array = np.ascontiguousarray(volume.array)  # [slice, row, column]
    top = int(array.max()) if array.size else 0
    array = array.astype(np.uint8 if top <= 0xFF else np.uint16, copy=False)
    aff = volume.affine  # maps (slice, row, column) indices to LPS
    header = {
        "type": "unsigned char" if array.dtype == np.uint8 else "unsigned short",
        "space": "left-posterior-superior",
        # NRRD axis order is fastest first: column (i), row (j), slice (k)
        "space directions": np.array([aff[:3, 2], aff[:3, 1], aff[:3, 0]]),
        "space origin": np.array(aff[:3, 3]),
        "kinds": ["domain", "domain", "domain"],
        "encoding": "gzip",
    }
    nrrd.write(str(args.output), array, header, index_order="C", compression_level=6)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("--labels", required=True)
    w.add_argument("--ct", required=True)
    w.add_argument("--metadata", required=True)
    w.add_argument("--output", required=True)
    w.add_argument("--type", choices=["labelmap", "binary"], default="labelmap")
    w.add_argument("--transfer-syntax", choices=["explicit", "jpegls", "rle", "j2k"], default="explicit")
    r = sub.add_parser("read")
    r.add_argument("--seg", required=True)
    r.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        return write(args) if args.command == "write" else read(args)
    except SystemExit:
        raise
    except Exception as exc:  # one line on stderr, so compare.py can show it
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {type(exc).__name__}: {message}", file=sys.stderr)
        if os.environ.get("HIGHDICOM_RUNNER_TRACEBACK"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
