"""Is a source a whole slide?  The cheap look the commands take before choosing a source reader.

:func:`is_slide_source` looks for a VL Whole Slide Microscopy Image file among the paths from each
file's first bytes.  Kept apart from :mod:`labelmap.sources.slide` (which re-exports it) so a volume
conversion does not import the slide reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from labelmap.errors import DicomSeriesError

__all__ = ["WSI_SOP_CLASS", "is_slide_source"]

#: VL Whole Slide Microscopy Image Storage
WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"


def is_slide_source(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> bool:
    """Whether a VL Whole Slide Microscopy Image file is among ``paths`` (folders walked recursively).

    Cheap: each file's first bytes, never pydicom for ordinary files, stopping at the first slide
    file.  Missing paths and unreadable or damaged files count as "not a slide".
    """
    from labelmap.sources.files import find_files
    from labelmap.sources.headers import HEAD_BYTES

    try:
        files, _ = find_files([paths] if isinstance(paths, (str, os.PathLike)) else list(paths))
    except DicomSeriesError:
        return False
    uid = WSI_SOP_CLASS.encode()
    for path in files:
        try:
            with open(path, "rb") as fh:  # the SOP class UID sits in a file's first few hundred bytes
                if uid not in fh.read(HEAD_BYTES):
                    continue
            from labelmap.sources.slide_headers import sniff_file

            found = sniff_file(path)
        except (OSError, DicomSeriesError):
            continue
        if found is not None and found.is_wsi:
            return True
    return False
