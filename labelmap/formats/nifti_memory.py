"""nibabel NIfTI images in memory <-> :class:`~labelmap.model.LabelVolume`, by the file reader's and
writer's rules (:mod:`labelmap.formats.nifti_grid`).

``from_nifti(img)`` gives what reading ``img`` from a file gives: the header is the one ``nib.save``
would write (nibabel's ``update_header``: an image affine that differs from the header's best affine
becomes the sform, code 2, with qform code 0) as ``nib.load`` would check it back (its ``check_fix``:
a zero pixdim set to 1, which the rule then judges), so the sform / qform / pixdim-only choice, the
RAS -> LPS flip and the refusals are the reader's.  A file-backed image's stored values get the
reader's slope / intercept rule; an image built from an array gives that array's values.

``to_nifti(volume)`` is the image :func:`~labelmap.formats.nifti.write_nifti` saves (NIfTI-1, sform
and qform code 1, units mm, the array's own type), so ``nib.save(to_nifti(v), f)`` writes our file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelmap.errors import ImageFormatError, InputError, LabelmapError
from labelmap.formats.base import native
from labelmap.formats.nifti_grid import nibabel_messages, nifti1_image, nifti_geometry, scaled_values
from labelmap.model import LabelVolume, SegmentDescription

__all__ = ["from_nifti", "to_nifti"]

_NAME = "<nibabel image>"


def _fail(path: Any, reason: str) -> ImageFormatError:
    return ImageFormatError(f"cannot convert the nibabel image: {reason}")


def _saved_header(img: Any) -> tuple[Any, list[str]]:
    """The header ``nib.save(img)`` writes, checked as ``nib.load`` checks it, and nibabel's fix messages."""
    with nibabel_messages() as fixes:  # collected, as the reader collects them, never printed
        try:
            # a copy of the header (checked on the way, as loading checks it: a zero pixdim[1..3] becomes 1),
            # then save's update_header: an image affine other than the header's becomes the sform
            clone = type(img)(img.dataobj, img.affine, img.header)
            clone.update_header()
            header = clone.header
            header.check_fix()
        except Exception as exc:
            raise _fail(_NAME, f"nibabel refuses its header ({exc})") from exc
    return header, fixes


def from_nifti(img: Any, segments: Sequence[SegmentDescription] = ()) -> LabelVolume:
    """A nibabel NIfTI image as a label volume (LPS, ``[k, j, i]``), as reading it from a file gives it.

    Parameters
    ----------
    img
        A ``nibabel.Nifti1Image`` or ``Nifti2Image`` (or their ``.hdr`` / ``.img`` pair classes) holding a
        2-D or 3-D scalar image.
    segments
        Descriptions of its label values (``label_id`` = voxel value), e.g. ``load_metadata(json).segments[0]``.

    Returns
    -------
    LabelVolume
        A copy of the data in native byte order, ``[k, j, i]``, on the grid our NIfTI reader gives.

    Raises
    ------
    InputError
        ``img`` is not a nibabel NIfTI image.
    ImageFormatError
        What the file reader refuses: a 4-D image, a sheared sform without qform, a zero / non-finite
        voxel size the qform would use, a non-scalar pixel type.
    """
    import nibabel as nib

    if not isinstance(img, nib.Nifti1Pair):  # Nifti1Image, Nifti2Image and their pair forms
        raise InputError(
            f"from_nifti takes a nibabel Nifti1Image or Nifti2Image, got {type(img).__name__}; "
            "load the file with nibabel.load or read it with labelmap.read_labels"
        )
    header, fixes = _saved_header(img)
    shape, two_d, geometry = nifti_geometry(header, tuple(img.shape), _NAME, fixes=fixes, fail=_fail)
    proxy: Any = img.dataobj
    try:
        if nib.is_proxy(proxy):  # file-backed: the stored values and the reader's slope / intercept rule
            raw = np.asarray(proxy.get_unscaled())
            slope, inter = float(getattr(proxy, "slope", 1.0)), float(getattr(proxy, "inter", 0.0))
        else:  # an array: its own values (what nib.save stores for them)
            raw, slope, inter = np.asarray(proxy), 1.0, 0.0
    except (LabelmapError, MemoryError):
        raise
    except Exception as exc:
        raise _fail(_NAME, f"its data cannot be read ({type(exc).__name__}: {exc})") from exc
    if raw.dtype.kind not in "iufb":
        raise _fail(_NAME, f"pixel type {raw.dtype} is not supported (scalar integer or float images only)")
    raw = raw.reshape(shape if not two_d else shape + (1,))
    array = native(np.transpose(scaled_values(raw, slope, inter), (2, 1, 0)))
    if np.shares_memory(array, raw):
        array = array.copy()  # never a view of the caller's image
    return LabelVolume(array, geometry, tuple(segments))


def to_nifti(volume: LabelVolume) -> Any:  # nibabel.Nifti1Image
    """The NIfTI-1 image our NIfTI writer saves for ``volume``.

    Parameters
    ----------
    volume
        The label volume (LPS, ``[k, j, i]``).

    Returns
    -------
    nibabel.Nifti1Image
        sform and qform both code 1 (scanner) from the grid in RAS, units mm, slope / intercept 1 / 0, the
        array's own type (bool as uint8); its data is a transposed view of ``volume.array`` (no copy).

    Raises
    ------
    ImageFormatError
        The pixel type cannot be stored, or the grid is beyond NIfTI-1's limits (more than 32767 voxels on
        an axis, an affine its 32-bit floats cannot hold within 0.01 mm).
    """
    return nifti1_image(
        volume.array, volume.geometry, "the label volume", "keep it in memory or write NRRD (labelmap.write_labels)"
    )
