"""Reproduce the findings in docs/sup243-findings.md that need more than one command line.

    python docs/sup243_repro.py highdicom DEMO_DIR OUT_DIR
        highdicom 0.28 LABELMAP SEGs of the demo case (``labelmap-convert demo --output-dir DEMO_DIR``):
        OUT_DIR/hd-labelmap.dcm (MONOCHROME2, colours) and OUT_DIR/hd-palette-noicc.dcm (PALETTE COLOR,
        no ``icc_profile`` argument).
    python docs/sup243_repro.py lut SEG [--json LABELS.json] [--values N]
        the first N entries of a PALETTE COLOR SEG's lookup table, read as PS3.3 C.7.6.3.1.5 stores them
        (8-bit entries one byte each, in file order; 16-bit entries little-endian words), beside the
        Segment Label of that pixel value and, with --json, the colour the dcmqi JSON gave that labelID.
    python docs/sup243_repro.py gap DEMO_DIR OUT.nrrd [--slice K]
        the demo labels with slice K (default 60) emptied: a LABELMAP of it omits an interior frame.
    python docs/sup243_repro.py gapped DEMO_DIR OUT_PREFIX
        OUT_PREFIX.nrrd / .json: the demo's labels 1, 2, 3 renumbered 2, 999, 65535 (others dropped).
    python docs/sup243_repro.py at-z PATH Z
        the values at the slice at patient z = Z mm of a NRRD (as written by segimage2itkimage) or of a
        LABELMAP SEG read by highdicom (get_volume(combine_segments=True)).

Needs the project's venv (pydicom, numpy; highdicom for the first command). Prints facts, changes nothing
but OUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _highdicom(demo: Path, out: Path) -> None:
    """Write the demo labels as highdicom LABELMAP SEGs (grey with colours, and palette without ICC profile)."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from labelmap.pipeline.convert import read_labels

    sources = sorted(
        (pydicom.dcmread(f) for f in (demo / "ct").glob("*.dcm")), key=lambda d: float(d.ImagePositionPatient[2])
    )
    labels = read_labels(demo / "labels.nrrd").array  # (slices, rows, columns), slices ascending like sources
    entries = json.loads((demo / "labels.json").read_text())["segmentAttributes"][0]
    present = set(np.unique(labels).tolist()) - {0}
    entries = [e for e in entries if e["labelID"] in present]
    labels = labels.astype(np.uint8)

    def colour(e: dict) -> dict:
        return {"display_color": hd.color.CIELabColor(*_lab(e["recommendedDisplayRGBValue"]))}

    def describe(with_colour: bool) -> list:
        return [
            hd.seg.SegmentDescription(
                segment_number=e["labelID"],
                segment_label=e.get("SegmentLabel", f"label {e['labelID']}"),
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                **(colour(e) if with_colour else {}),
            )
            for e in entries
        ]

    common = dict(
        source_images=sources,
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
        series_number=20,
        instance_number=1,
        manufacturer="sup243_repro",
        manufacturer_model_name="highdicom",
        software_versions=hd.__version__,
        device_serial_number="1",
    )
    out.mkdir(parents=True, exist_ok=True)
    grey = hd.seg.Segmentation(
        segment_descriptions=describe(True), series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(), **common
    )
    grey.save_as(out / "hd-labelmap.dcm")
    colours = ["black"] + ["red", "green", "blue", "yellow", "cyan", "magenta", "orange", "purple"] * 32
    lut = hd.PaletteColorLUTTransformation.from_colors(colours[: max(e["labelID"] for e in entries) + 1])
    palette = hd.seg.Segmentation(
        segment_descriptions=describe(False),
        series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(),
        palette_color_lut_transformation=lut,
        **common,
    )
    palette.save_as(out / "hd-palette-noicc.dcm")
    print(f"wrote {out / 'hd-labelmap.dcm'} and {out / 'hd-palette-noicc.dcm'} (highdicom {hd.__version__})")


def _lab(rgb: list[int]) -> tuple[float, float, float]:
    """sRGB (0-255) -> CIELab (D65), the conversion dcmqi and highdicom use."""
    c = np.asarray(rgb, dtype=float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92) * 100.0
    xyz = np.array(
        [
            0.4124 * c[0] + 0.3576 * c[1] + 0.1805 * c[2],
            0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2],
            0.0193 * c[0] + 0.1192 * c[1] + 0.9505 * c[2],
        ]
    ) / np.array([95.047, 100.0, 108.883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def _lut(seg: Path, labels_json: Path | None, values: int) -> None:
    """Print LUT entries next to the segment each pixel value stands for."""
    import pydicom

    ds = pydicom.dcmread(seg, stop_before_pixels=True)
    desc = [int(v) for v in ds.RedPaletteColorLookupTableDescriptor]
    n, first, bits = desc[0] or 65536, desc[1], desc[2]
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    channels = [
        np.frombuffer(getattr(ds, f"{c}PaletteColorLookupTableData"), dtype=dtype)[:n] for c in ("Red", "Green", "Blue")
    ]
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    wanted = {}
    if labels_json is not None:
        for entry in json.loads(labels_json.read_text())["segmentAttributes"][0]:
            wanted[int(entry["labelID"])] = tuple(entry.get("recommendedDisplayRGBValue", ()))
    data_len = len(ds.RedPaletteColorLookupTableData)
    print(f"{seg}: descriptor {desc} (entries {n}, first mapped {first}, {bits} bits), data {data_len} bytes")
    for v in range(first, first + min(values, n)):
        rgb = tuple(int(ch[v - first]) for ch in channels)
        if bits == 16:
            rgb = tuple(x >> 8 for x in rgb)
        extra = f"  JSON colour {list(wanted[v])}" if v in wanted else ""
        print(f"  value {v:5d}  {names.get(v, '(no segment)')[:24]:24s}  LUT {list(rgb)}{extra}")


def _gap(demo: Path, out: Path, k: int) -> None:
    """The demo labels with slice ``k`` set to 0."""
    import nrrd

    array, header = nrrd.read(str(demo / "labels.nrrd"))
    array[:, :, k] = 0
    nrrd.write(str(out), array, header)
    print(f"wrote {out}: slice {k} of {array.shape[2]} emptied")


def _gapped(demo: Path, prefix: Path) -> None:
    """Labels 1, 2, 3 of the demo as Segment Numbers 2, 999, 65535 (a 16-bit LABELMAP with gaps)."""
    import nrrd

    array, header = nrrd.read(str(demo / "labels.nrrd"))
    numbers = {1: 2, 2: 999, 3: 65535}
    out = np.zeros(array.shape, np.uint16)
    for old, new in numbers.items():
        out[array == old] = new
    nrrd.write(str(prefix.with_suffix(".nrrd")), out, header)
    meta = json.loads((demo / "labels.json").read_text())
    entries = [dict(e, labelID=numbers[e["labelID"]]) for e in meta["segmentAttributes"][0] if e["labelID"] in numbers]
    meta["segmentAttributes"] = [entries]
    prefix.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {prefix.with_suffix('.nrrd')} and {prefix.with_suffix('.json')}: labels {sorted(numbers.values())}")


def _at_z(path: Path, z: float) -> None:
    """Print the values a reader put at patient z = ``z`` mm."""
    if path.suffix == ".nrrd":
        import nrrd

        array, header = nrrd.read(str(path))
        origin, step = float(header["space origin"][2]), float(header["space directions"][2][2])
        k = int(round((z - origin) / step))
        print(f"{path} ({array.dtype}, {array.shape}): slice {k} at z={z}: values {np.unique(array[:, :, k]).tolist()}")
        return
    import highdicom as hd

    volume = hd.seg.segread(str(path)).get_volume(combine_segments=True)
    affine = np.asarray(volume.affine)
    k = int(round((z - affine[2, 3]) / affine[2, 0]))  # highdicom's first array axis is the slice axis
    values = np.unique(volume.array[k]).tolist()
    print(f"{path} via highdicom ({volume.array.shape}): slice {k} at z={z}: values {values}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("highdicom", help="write the demo labels as highdicom LABELMAP SEGs")
    h.add_argument("demo", type=Path)
    h.add_argument("out", type=Path)
    lut = sub.add_parser("lut", help="print a palette SEG's lookup table beside its segments")
    lut.add_argument("seg", type=Path)
    lut.add_argument("--json", type=Path, default=None)
    lut.add_argument("--values", type=int, default=6)
    gap = sub.add_parser("gap", help="the demo labels with one slice emptied")
    gap.add_argument("demo", type=Path)
    gap.add_argument("out", type=Path)
    gap.add_argument("--slice", type=int, default=60)
    gapped = sub.add_parser("gapped", help="the demo's first three labels as Segment Numbers 2, 999, 65535")
    gapped.add_argument("demo", type=Path)
    gapped.add_argument("prefix", type=Path)
    at_z = sub.add_parser("at-z", help="values a reader put at one slice")
    at_z.add_argument("path", type=Path)
    at_z.add_argument("z", type=float)
    args = parser.parse_args(argv)
    if args.command == "highdicom":
        _highdicom(args.demo, args.out)
    elif args.command == "lut":
        _lut(args.seg, args.json, args.values)
    elif args.command == "gap":
        _gap(args.demo, args.out, args.slice)
    elif args.command == "gapped":
        _gapped(args.demo, args.prefix)
    else:
        _at_z(args.path, args.z)
    return 0


if __name__ == "__main__":
    sys.exit(main())
