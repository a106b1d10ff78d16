"""Read the pixels of a few slices of a source series (for pictures: ``labelmap-convert preview``).

The converters never read source pixels (:mod:`labelmap.sources.series` reads headers only); a
preview draws segments over the source image, so this module reads the images of the slices it
draws, nothing else, with pydicom (any transfer syntax its pixel handlers decode).  Values are
modality values (Rescale Slope / Intercept applied, e.g. Hounsfield units), and the series' own
display window (Window Center / Width) is reported when the images carry one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelmap.dicom.values import quiet_pydicom
from labelmap.errors import DicomSeriesError
from labelmap.model import SourceSeries

__all__ = ["SlicePixels", "read_slice_pixels"]


@dataclass(frozen=True, eq=False)
class SlicePixels:
    """The modality values of some slices of a series and the display window the images name.

    ``images[i]`` is the (rows, columns) float32 image of slice ``slices[i]`` (an index into the
    sorted series); ``window`` is (center, width) from the first image holding Window Center and
    Window Width (the first value of each when several are given), else None.
    """

    slices: tuple[int, ...]
    images: tuple[np.ndarray, ...]
    window: tuple[float, float] | None


def _first_number(value: object) -> float | None:
    """The first number of a (possibly multi-valued) DS / IS value, None when absent or not finite."""
    if value is None or value == "":
        return None
    try:
        first = value[0] if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else value  # type: ignore[index]
        number = float(first)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return None
    return number if np.isfinite(number) else None


def _frame_values(ds, frame: int | None) -> tuple[np.ndarray, float, float]:
    """One frame's stored values with the slope and intercept that make them modality values."""
    from pydicom.pixels import pixel_array

    arr = pixel_array(ds, index=None if frame is None else frame - 1)
    slope = _first_number(ds.get("RescaleSlope", None))
    intercept = _first_number(ds.get("RescaleIntercept", None))
    if frame is not None and (slope is None or intercept is None):
        # Enhanced images: Pixel Value Transformation Sequence, per frame or shared
        for seq in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
            groups = ds.get(seq)
            if not groups:
                continue
            item = groups[frame - 1] if seq.startswith("PerFrame") and len(groups) >= frame else groups[0]
            transform = item.get("PixelValueTransformationSequence")
            if transform:
                slope = _first_number(transform[0].get("RescaleSlope", None)) if slope is None else slope
                intercept = (
                    _first_number(transform[0].get("RescaleIntercept", None)) if intercept is None else intercept
                )
    return arr, 1.0 if slope is None else slope, 0.0 if intercept is None else intercept


def _window_of(ds, frame: int | None) -> tuple[float, float] | None:
    """Window Center / Width of an image (a multi-frame image's frame VOI LUT first)."""
    items = [ds]
    if frame is not None:
        for seq in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
            groups = ds.get(seq)
            if groups:
                item = groups[frame - 1] if seq.startswith("PerFrame") and len(groups) >= frame else groups[0]
                voi = item.get("FrameVOILUTSequence")
                if voi:
                    items.insert(0, voi[0])
    for item in items:
        center = _first_number(item.get("WindowCenter", None))
        width = _first_number(item.get("WindowWidth", None))
        if center is not None and width is not None and width > 0:
            return center, width
    return None


def read_slice_pixels(series: SourceSeries, slices: Sequence[int]) -> SlicePixels:
    """The modality values of the given slices of ``series`` (indices into its sorted slices).

    Parameters
    ----------
    series
        A series as :func:`labelmap.sources.series.load_series` gives it (its files, frame numbers).
    slices
        Indices of the slices to read, each in ``0 .. len(series) - 1``.

    Returns
    -------
    SlicePixels
        One float32 (rows, columns) image per slice and the window the images name.

    Raises
    ------
    DicomSeriesError
        A file whose pixels cannot be read or decoded, or an image of another size than the series'
        (naming the file and the fix).
    MissingDependencyError
        The codec for the images' transfer syntax is not installed.
    """
    import pydicom

    from labelmap.errors import LabelmapError

    images: list[np.ndarray] = []
    window: tuple[float, float] | None = None
    opened: dict[str, object] = {}
    frames = series.frame_numbers or (None,) * len(series)
    for k in slices:
        path, frame = series.files[k], frames[k]
        try:
            with quiet_pydicom():
                ds = opened.get(path)
                if ds is None:
                    ds = opened[path] = pydicom.dcmread(path)
                arr, slope, intercept = _frame_values(ds, frame)
        except LabelmapError:
            raise
        except Exception as exc:  # pydicom and its pixel handlers raise many types on damaged or odd files
            raise DicomSeriesError(
                f"{path}: the image's pixels cannot be read ({type(exc).__name__}: {exc}); draw the preview "
                "without --reference, or install the codec its transfer syntax needs"
            ) from None
        if arr.ndim != 2 or arr.shape != (series.rows, series.columns):
            raise DicomSeriesError(
                f"{path}: pixels of shape {arr.shape}, expected one {series.rows} x {series.columns} grey image "
                "(colour or odd-sized images cannot be drawn under a preview); draw it without --reference"
            )
        images.append((arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32))
        if window is None:
            window = _window_of(ds, frame)
    return SlicePixels(tuple(int(k) for k in slices), tuple(images), window)
