"""labelmap: DICOM Segmentation (LABELMAP, BINARY, FRACTIONAL) <-> NRRD / NIfTI, dcmqi-compatible.

The public API works on numpy arrays, :class:`Geometry` and pydicom Datasets::

    import labelmap
    volume = labelmap.read_labels("organs.nii.gz")             # LabelVolume in LPS, [k, j, i]
    source = labelmap.load_source("ct/")                       # headers of the CT series
    meta = labelmap.load_metadata("organs.json")               # dcmqi JSON
    volume = labelmap.LabelVolume(volume.array, volume.geometry, meta.segments[0])
    labelmap.write_seg(volume, source, "organs.seg.dcm", series=meta.series)
    decoded = labelmap.read_seg("organs.seg.dcm", reference="ct/")

Names are imported lazily so that ``import labelmap`` (and the CLI's ``--help``)
does not pay for numpy and pydicom until they are used; ``__init__.pyi`` lists them.
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"


def _read_stub() -> dict[str, str]:
    """Name -> module of each ``from labelmap.<module> import <name> as <name>`` line of ``__init__.pyi``."""
    exports = {}
    with open(os.path.splitext(__file__)[0] + ".pyi", encoding="utf-8") as stub:
        for line in stub:
            if line.startswith("from labelmap."):
                _, module, _, name, *_ = line.split()
                exports[name] = module
    return exports


_EXPORTS = _read_stub()
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:  # typed by __init__.pyi (importing typing costs a lean command 3 ms)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labelmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
