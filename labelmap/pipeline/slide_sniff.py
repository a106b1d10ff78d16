"""Are the label inputs volumes?  The cheap look that keeps a volume conversion away from the slide code.

Kept apart from :mod:`labelmap.pipeline.slide_api` (which re-exports it) so a volume conversion does
not import the slide modules to ask.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["labels_are_volumes"]


def labels_are_volumes(labels: Any) -> bool:
    """True when a label input is a 3-D volume (NIfTI, a .seg.nrrd, an NRRD with three axes longer than one, a
    LabelVolume, nibabel or SimpleITK image in memory).

    A source folder holding both a CT/MR series and a slide is then read for its series, not its slide.
    """
    from labelmap.formats.memory import is_memory_image

    if isinstance(labels, (str, os.PathLike)) or is_memory_image(labels):
        labels = [labels]
    if isinstance(labels, (list, tuple)) and any(is_memory_image(p) for p in labels):
        return True  # LabelVolume, nibabel and SimpleITK images in memory are volumes
    if not isinstance(labels, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in labels):
        return False  # arrays and slide label images are not files
    for p in labels:
        name = str(p).lower()
        if name.endswith((".nii", ".nii.gz", ".seg.nrrd")):
            return True
        if name.endswith((".nrrd", ".nhdr")):
            from labelmap.formats.nrrd_header import read_header

            try:
                header = read_header(p)[0]
                sizes = [int(n) for n in header.get("sizes", ())]
            except Exception:  # unreadable: the reader chosen by the source says why
                continue
            if len(sizes) >= 3 and sum(n > 1 for n in sizes) >= 3:
                return True
    return False
