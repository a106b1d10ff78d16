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
does not pay for numpy and pydicom until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # model
    "Code": "model",
    "Geometry": "model",
    "LabelVolume": "model",
    "SegmentDescription": "model",
    "SeriesAttributes": "model",
    "SourceSeries": "model",
    # pipelines
    "read_labels": "pipeline.convert",
    "write_labels": "pipeline.convert",
    "load_source": "pipeline.convert",
    "encode_seg": "pipeline.convert",
    "write_seg": "pipeline.convert",
    "read_seg": "pipeline.convert",
    "itk_to_seg": "pipeline.convert",
    "seg_to_itk": "pipeline.convert",
    # 3D Slicer segmentation files
    "read_segnrrd": "formats.segnrrd",
    "write_segnrrd": "formats.segnrrd",
    # metadata
    "Metadata": "formats.dcmqi_json",
    "load_metadata": "formats.dcmqi_json",
    "metadata_to_dict": "formats.dcmqi_json",
    "write_metadata": "formats.dcmqi_json",
    # inspection
    "seg_summary": "seg.summary",
    "validate_seg": "validate",
    # errors
    "LabelmapError": "errors",
    "InputError": "errors",
    "ImageFormatError": "errors",
    "GeometryError": "errors",
    "MetadataError": "errors",
    "DicomSeriesError": "errors",
    "SegFormatError": "errors",
    "OverlapError": "errors",
    "UnsupportedError": "errors",
    "MissingDependencyError": "errors",
    "OutputError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labelmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
