"""SimpleITK images in memory <-> :class:`~labelmap.model.LabelVolume` (SimpleITK is optional).

ITK's physical space is LPS, as ours: origin, spacing and the direction matrix (columns = the i, j, k
axis directions; ``GetDirection()`` is row-major) map one to one onto :class:`~labelmap.model.Geometry`,
and ``sitk.GetArrayFromImage`` is already ``[k, j, i]``.  ``from_sitk`` judges the grid with the NRRD
reader's code (:func:`labelmap.formats.nrrd_header.geometry_from_header`: ITK writes that image as a
NRRD header with exactly these space directions and origin), so a sheared grid is refused as a sheared
file is, and a 2-D image becomes one slice as a 2-D file does.  Scalar integer and float pixels are
taken, as the file readers take them (the pipelines refuse non-integer labels, naming the voxel);
vector, complex and LabelMap (run-length) images and more than three dimensions are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelmap.errors import ImageFormatError, InputError, MissingDependencyError
from labelmap.formats.base import checked_array, native
from labelmap.formats.nrrd_header import geometry_from_header
from labelmap.model import LabelVolume, SegmentDescription

__all__ = ["from_sitk", "to_sitk"]

_NAME = "<SimpleITK image>"
_SCALARS = ("UInt8", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64")


def _fail(path: Any, reason: str) -> ImageFormatError:
    return ImageFormatError(f"cannot convert the SimpleITK image: {reason}")


def require_sitk() -> Any:
    """The ``SimpleITK`` module, or a :class:`MissingDependencyError` naming the pip line."""
    try:
        import SimpleITK
    except ImportError:
        raise MissingDependencyError(
            "SimpleITK images need the SimpleITK package: pip install SimpleITK (or pip install 'labelmap[sitk]')"
        ) from None
    return SimpleITK


def _check_pixels(sitk: Any, img: Any) -> None:
    """Refuse what is not one scalar integer / float per voxel, before any array is made (SimpleITK aborts
    the process when asked for a LabelMap's array)."""
    kind = img.GetPixelIDTypeAsString()
    if img.GetPixelID() in {getattr(sitk, f"sitk{name}") for name in _SCALARS}:
        return
    if img.GetNumberOfComponentsPerPixel() > 1:
        raise _fail(
            _NAME,
            f"it is a vector image ({kind}, {img.GetNumberOfComponentsPerPixel()} components per pixel); label "
            "images are scalar - pick a component with sitk.VectorIndexSelectionCast(img, index)",
        )
    if "label" in kind.lower():
        raise _fail(_NAME, f"it is a LabelMap ({kind}); convert it to a label image with sitk.LabelMapToLabel(img)")
    raise _fail(_NAME, f"pixel type {kind} is not supported (scalar integer or float images only)")


def from_sitk(img: Any, segments: Sequence[SegmentDescription] = ()) -> LabelVolume:
    """A SimpleITK image as a label volume (LPS, ``[k, j, i]``), as our reader gives the file SimpleITK writes.

    Parameters
    ----------
    img
        A ``SimpleITK.Image``: 3-D (or 2-D: one slice), one integer or float value per voxel.
    segments
        Descriptions of its label values (``label_id`` = voxel value), e.g. ``load_metadata(json).segments[0]``.

    Returns
    -------
    LabelVolume
        A copy of the voxels in their own type, on the image's grid.

    Raises
    ------
    MissingDependencyError
        SimpleITK is not installed.
    InputError
        ``img`` is not a SimpleITK image.
    ImageFormatError
        A vector, complex or LabelMap image, more than three dimensions, or a sheared / non-finite grid.
    """
    sitk = require_sitk()
    if not isinstance(img, sitk.Image):
        raise InputError(
            f"from_sitk takes a SimpleITK.Image, got {type(img).__name__}; read files with labelmap.read_labels"
        )
    dim = img.GetDimension()
    if dim not in (2, 3):
        raise _fail(
            _NAME,
            f"it is {dim}-D (size {list(img.GetSize())}); only 2-D and 3-D images are supported - take one 3-D "
            "volume out first (sitk.Extract, or img[:, :, :, t])",
        )
    _check_pixels(sitk, img)
    spacing = np.array(img.GetSpacing(), dtype=np.float64)
    direction = np.array(img.GetDirection(), dtype=np.float64).reshape(dim, dim)
    origin = np.array(img.GetOrigin(), dtype=np.float64)
    for name, values in (("origin", origin), ("spacing", spacing), ("direction", direction)):
        if not np.all(np.isfinite(values)):
            raise _fail(_NAME, f"its {name} {values.tolist()} is not finite (NaN or infinity)")
    # the header ITK writes for it: space directions = spacing x direction column, per axis
    header = {
        "space directions": (direction * spacing[np.newaxis, :]).T,
        "space origin": origin,
        "kinds": ["domain"] * dim,
        **({"space": "left-posterior-superior"} if dim == 3 else {"space dimension": 2}),
    }
    array = native(sitk.GetArrayFromImage(img))  # a copy, [k, j, i] (or [j, i])
    geometry = geometry_from_header(header, tuple(array.shape), _NAME, _fail)
    return LabelVolume(array.reshape(geometry.shape), geometry, tuple(segments))


def to_sitk(volume: LabelVolume) -> Any:  # SimpleITK.Image
    """A label volume as a 3-D SimpleITK image: what ``sitk.ReadImage`` gives of our NRRD file of it.

    Parameters
    ----------
    volume
        The label volume (LPS, ``[k, j, i]``).

    Returns
    -------
    SimpleITK.Image
        A copy of the voxels in their own type (bool as uint8), with the volume's origin, spacing and
        direction.

    Raises
    ------
    MissingDependencyError
        SimpleITK is not installed.
    ImageFormatError
        The pixel type cannot be stored (what the file writers refuse).
    """
    sitk = require_sitk()
    geometry = volume.geometry
    array = checked_array(volume.array, geometry, "a SimpleITK image")
    img = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("=")), isVector=False)
    img.SetOrigin([float(v) for v in geometry.origin])
    img.SetSpacing([float(v) for v in geometry.spacing])
    img.SetDirection([float(v) for v in geometry.direction.ravel()])
    return img
