"""Label images given in memory instead of files: a :class:`~labelmap.model.LabelVolume`, a nibabel NIfTI
image or a SimpleITK image, each turned into a LabelVolume by the file readers' rules
(:mod:`labelmap.formats.nifti_memory`, :mod:`labelmap.formats.sitk`).  Recognised by their type's module,
so neither nibabel nor SimpleITK is imported to ask."""

from __future__ import annotations

from typing import Any

from labelmap.model import LabelVolume

__all__ = ["is_memory_image", "memory_volume", "memory_name"]

_KINDS = (("nibabel", "nibabel image"), ("SimpleITK", "SimpleITK image"))


def _kind(obj: Any) -> str | None:
    if isinstance(obj, LabelVolume):
        return "label volume"
    module = type(obj).__module__.split(".", 1)[0]
    return next((name for prefix, name in _KINDS if module == prefix), None)


def is_memory_image(obj: Any) -> bool:
    """True for a LabelVolume, a nibabel image or a SimpleITK image (a label image given in memory)."""
    return _kind(obj) is not None


def memory_name(obj: Any, index: int) -> str:
    """What messages call the in-memory label image at position ``index`` (0-based) of the inputs."""
    return f"<{_kind(obj) or type(obj).__name__} {index + 1}>"


def memory_volume(obj: Any) -> LabelVolume:
    """``obj`` as a LabelVolume: itself, :func:`~labelmap.formats.nifti_memory.from_nifti` or
    :func:`~labelmap.formats.sitk.from_sitk`.

    Raises
    ------
    ImageFormatError
        The image is one the file readers would refuse (4-D, vector, sheared ...).
    InputError
        ``obj`` is none of those (a nibabel image that is not NIfTI, say).
    """
    if isinstance(obj, LabelVolume):
        return obj
    if _kind(obj) == "SimpleITK image":
        from labelmap.formats.sitk import from_sitk

        return from_sitk(obj)
    from labelmap.formats.nifti_memory import from_nifti

    return from_nifti(obj)
