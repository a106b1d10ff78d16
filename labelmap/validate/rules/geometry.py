"""Plane Position, Plane Orientation and Pixel Measures (C.7.6.16.2.1-4) of patient-space frames."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from labelmap.validate.context import PLANES, SegContext
from labelmap.validate.report import Severity, Violation, frames_text, violation
from labelmap.validate.tables import BOTH, FG, PER_FRAME
from labelmap.validate.values import MISSING, get

_RULES = {
    "ImagePositionPatient": "PS3.3 C.7.6.16.2.3 Plane Position (Patient)",
    "ImageOrientationPatient": "PS3.3 C.7.6.16.2.4 Plane Orientation (Patient)",
    "PixelSpacing": "PS3.3 C.7.6.16.2.1 Pixel Measures",
}


def check(ctx: SegContext) -> Iterator[Violation]:
    table, planes = ctx.table, ctx.planes
    if table is None or planes is None:
        return  # no per-frame items, or slide coordinates
    shared_derivation = get(ctx.shared, "DerivationImageSequence") is not MISSING
    derived = np.array([shared_derivation or u is not None for u in table.source_instance_uids], dtype=bool)
    has_for = get(ctx.ds, "FrameOfReferenceUID") is not MISSING
    for seq, kw, width, _ in PLANES:
        plane, rule = planes[kw], _RULES[kw]
        if plane.shared_item and plane.shared_size != width:
            yield violation(
                kw,
                f"holds {plane.shared_size} values, expected {width}",
                f"{rule} macro",
                path=f"SharedFunctionalGroupsSequence[1].{seq}[1].{kw}",
            )
        if plane.shared_item and plane.per_frame.any():
            yield violation(seq, "is in both the shared and the per-frame functional groups", BOTH)
        lacking = np.flatnonzero(~plane.present)
        if lacking.size:
            needed = lacking[~derived[lacking]] if has_for else lacking[:0]
            frames = (needed if needed.size else lacking) + 1
            severity: Severity = "error" if needed.size else "warning"
            yield violation(
                kw,
                f"is absent in {frames_text(frames)} (neither per-frame nor shared)",
                f"{FG} (Table A.51-2): {rule} is required when there is no Derivation Image; "
                "without it frames cannot be placed in patient space",
                severity,
                path=f"{PER_FRAME}[{frames[0]}].{seq}[1].{kw}",
                frame=int(frames[0]),
            )
    orientation = planes["ImageOrientationPatient"].values
    rows, cols = orientation[:, :3], orientation[:, 3:]
    bad = np.isfinite(orientation).all(axis=1) & (
        (np.abs(np.linalg.norm(rows, axis=1) - 1) > 1e-3)
        | (np.abs(np.linalg.norm(cols, axis=1) - 1) > 1e-3)
        | (np.abs(np.einsum("ij,ij->i", rows, cols)) > 1e-3)
    )
    rule = "PS3.3 C.7.6.2.1.1 Image Orientation (Patient): row and column direction cosines"
    yield from _bad_values("ImageOrientationPatient", orientation, bad, "are not two orthogonal unit vectors", rule)
    spacing = planes["PixelSpacing"].values
    bad = np.isfinite(spacing).all(axis=1) & (spacing <= 0).any(axis=1)
    rule = "PS3.3 10.7.1.3 Pixel Spacing: row and column spacing in mm, positive"
    yield from _bad_values("PixelSpacing", spacing, bad, "is not positive", rule)


def _bad_values(keyword: str, values: np.ndarray, bad: np.ndarray, says: str, rule: str) -> Iterator[Violation]:
    """One violation for the frames whose values are ``bad``, quoting the first of them."""
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        yield violation(
            keyword, f"{values[f].tolist()} ({frames_text(np.flatnonzero(bad) + 1)}) {says}", rule, frame=f + 1
        )
