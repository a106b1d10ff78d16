"""3D Slicer 5.x ``.seg.nrrd`` files written the way Slicer's vtkMRMLSegmentationStorageNode writes them.

The writer crops the image to the union of the segments' extents (or to a given extent, which may
reach beyond the reference grid), stores where that block starts in the reference grid in
``Segmentation_ReferenceImageExtentOffset`` and shifts ``space origin`` to the block's first voxel
(so a reader that ignores the key still places it right); each segment's ``Extent`` is relative to
the file's grid.  Keys are written in the order Slicer's writer emits them (sorted, as its
attribute map is), values as VTK prints them; gzip; ``unsigned char`` (``unsigned short`` above
255); a 4-D file (``kinds: list domain domain domain``, ``space directions: none ...``) when there
are several layers.  A segmentation without any labelled voxel is one voxel, as Slicer writes it.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelmap.model import Geometry

GENERAL_ANATOMY = "Segmentation category and type - 3D Slicer General Anatomy list"
DICOM_MASTER = "Segmentation category and type - DICOM master list"
ANATOMIC_MASTER = "Anatomic codes - DICOM master list"

#: A real Slicer 5 file's Segmentation_ConversionParameters (shortened descriptions, same layout).
CONVERSION_PARAMETERS = (
    "Collapse labelmaps|1|Merge the labelmaps into as few shared labelmaps as possible."
    "&Compute surface normals|1|Compute surface normals.&Crop to reference image geometry|0|Crop the model."
    "&Decimation factor|0.0|Desired reduction.&Default slice thickness|0.0|Default thickness."
    "&End capping|1|Create end cap.\\n0 = leave contours open.&Fractional labelmap oversampling factor|1|Oversampling."
    "&Joint smoothing|0|Perform joint smoothing.&Oversampling factor|1|Oversampling of the reference image geometry."
    "&Reference image geometry|{geometry}|Image geometry description string.&Smoothing factor|0.5|Smoothing factor."
    "&Threshold fraction|0.5|Threshold.&"
)


@dataclass(frozen=True)
class SlicerSegment:
    """One segment as Slicer stores it: its layer, its value in that layer, name, colour, terminology."""

    name: str
    layer: int
    value: int
    color: tuple[float, float, float] = (0.501961, 0.682353, 0.501961)
    category: str = "SCT^85756007^Tissue"
    type: str = "SCT^85756007^Tissue"
    modifier: str = "^^"
    region: str = "^^"
    region_modifier: str = "^^"
    context: str = GENERAL_ANATOMY
    anatomic_context: str = ANATOMIC_MASTER
    extra_tags: dict[str, str] = field(default_factory=dict)

    def terminology(self) -> str:
        kind = [self.context, self.category, self.type, self.modifier]
        return "~".join(kind + [self.anatomic_context, self.region, self.region_modifier])


def _vtk(v: float) -> str:
    """A number as VTK's stream prints it (6 significant digits)."""
    return f"{v:.6g}"


def _vec(v: Sequence[float]) -> str:
    """A vector as teem prints it (%.17g, no spaces)."""
    return "(" + ",".join(f"{float(x):.17g}" for x in v) + ")"


def _extent(mask: np.ndarray) -> tuple[int, ...] | None:
    """(i0, i1, j0, j1, k0, k1) of the true voxels of a [k, j, i] mask, None when empty."""
    if not mask.any():
        return None
    box: list[int] = []
    for axis in (2, 1, 0):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box += [int(hits[0]), int(hits[-1])]
    return tuple(box)


def write_slicer_segnrrd(
    path: Path,
    layers: Sequence[np.ndarray],
    reference: Geometry,
    segments: Sequence[SlicerSegment],
    *,
    extent: tuple[int, int, int, int, int, int] | None = None,
    crop: bool = True,
    space: str = "left-posterior-superior",
) -> Path:
    """Write ``layers`` ([k, j, i] arrays on ``reference``, the segmentation's reference grid) as Slicer does.

    ``crop``: cut to the union of the segments' extents (Slicer's crop to minimum extent), else keep
    the whole reference grid; ``extent`` (i0, i1, j0, j1, k0, k1 in reference indices, may reach
    beyond it: the margin is background) overrides both.  ``space``: Slicer writes
    ``left-posterior-superior``; ``right-anterior-superior`` (x and y negated) and ``3D-right-handed``
    (taken as LPS) are what other tools write.
    """
    stack = [np.asarray(a) for a in layers]
    if extent is None:
        if crop:
            boxes = [b for a in stack if (b := _extent(a != 0)) is not None]
            if boxes:
                lo = np.min([b[0::2] for b in boxes], axis=0)
                hi = np.max([b[1::2] for b in boxes], axis=0)
                extent = tuple(int(v) for pair in zip(lo, hi) for v in pair)  # type: ignore[assignment]
        else:
            k, j, i = reference.shape
            extent = (0, i - 1, 0, j - 1, 0, k - 1)
    if extent is None:  # nothing labelled: one voxel, as Slicer writes an empty segmentation
        extent = (0, 0, 0, 0, 0, 0)
        blocks = [np.zeros((1, 1, 1), dtype=np.uint8)]
    else:
        i0, i1, j0, j1, k0, k1 = extent
        blocks = []
        for a in stack:
            block = np.zeros((k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1), dtype=a.dtype)
            src = [(max(lo, 0), min(hi, n - 1)) for (lo, hi), n in zip(((k0, k1), (j0, j1), (i0, i1)), a.shape)]
            if all(b >= a_ for a_, b in src):
                (sk0, sk1), (sj0, sj1), (si0, si1) = src
                block[sk0 - k0 : sk1 - k0 + 1, sj0 - j0 : sj1 - j0 + 1, si0 - i0 : si1 - i0 + 1] = a[
                    sk0 : sk1 + 1, sj0 : sj1 + 1, si0 : si1 + 1
                ]
            blocks.append(block)
    offset = extent[0::2]
    top = max((s.value for s in segments), default=1)
    dtype = np.uint8 if top <= 255 else np.uint16
    data = blocks[0].astype(dtype) if len(blocks) == 1 else np.stack([b.astype(dtype) for b in blocks], axis=-1)
    vecs = (reference.direction * reference.spacing[np.newaxis, :]).T
    origin = reference.index_to_lps(np.asarray(offset, dtype=float))
    if space == "right-anterior-superior":
        flip = np.array([-1.0, -1.0, 1.0])
        vecs, origin = vecs * flip, origin * flip
    four_d = data.ndim == 4
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {'unsigned char' if dtype == np.uint8 else 'unsigned short'}",
        f"dimension: {data.ndim}",
        f"space: {space}",
        "sizes: " + " ".join(str(n) for n in data.shape[::-1]),
        "space directions: " + ("none " if four_d else "") + " ".join(_vec(v) for v in vecs),
        "kinds: " + ("list " if four_d else "") + "domain domain domain",
        "encoding: gzip",
        "space origin: " + _vec(origin),
    ]
    if dtype != np.uint8:
        lines.insert(lines.index("encoding: gzip"), "endian: little")
    # Slicer's reference geometry string: RAS ijk-to-world matrix (12 values), then the reference extent
    lps_vecs = (reference.direction * reference.spacing[np.newaxis, :]).T
    ras = np.diag([-1.0, -1.0, 1.0]) @ np.column_stack([lps_vecs.T, reference.origin])
    k, j, i = reference.shape
    geometry = ";".join(_vtk(v) for v in ras.ravel()) + ";0;0;0;1;" + f"0;{i - 1};0;{j - 1};0;{k - 1};"
    keys: dict[str, str] = {
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|Closed surface|",
        "Segmentation_ConversionParameters": CONVERSION_PARAMETERS.format(geometry=geometry),
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset": " ".join(str(v) for v in offset),
    }
    for n, seg in enumerate(segments):
        block = blocks[seg.layer] if seg.layer < len(blocks) else blocks[0]
        box = _extent(block == seg.value) if block.shape != (1, 1, 1) or block.any() else None
        tags = {"Segmentation.Status": "inprogress", "TerminologyEntry": seg.terminology(), **seg.extra_tags}
        keys.update(
            {
                f"Segment{n}_Color": " ".join(_vtk(c) for c in seg.color),
                f"Segment{n}_ColorAutoGenerated": "0",
                f"Segment{n}_Extent": " ".join(str(v) for v in (box or (0, -1, 0, -1, 0, -1))),
                f"Segment{n}_ID": f"Segment_{n + 1}",
                f"Segment{n}_LabelValue": str(seg.value),
                f"Segment{n}_Layer": str(seg.layer),
                f"Segment{n}_Name": seg.name,
                f"Segment{n}_NameAutoGenerated": "0",
                f"Segment{n}_Tags": "".join(f"{k}:{v}|" for k, v in sorted(tags.items())),
            }
        )
    lines += [f"{key}:={keys[key]}" for key in sorted(keys)]
    raw = np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    Path(path).write_bytes(("\n".join(lines) + "\n\n").encode("utf-8") + gzip.compress(raw))
    return Path(path)
