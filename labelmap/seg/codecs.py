"""Transfer-syntax support: which codec package each compressed syntax needs, loaded lazily.

Deflated Explicit VR Little Endian needs nothing (pydicom deflates the whole
dataset on write); RLE Lossless uses pydicom's own NumPy encoder; JPEG-LS and
JPEG 2000 need optional packages, named in the error when missing.
"""

from __future__ import annotations

import importlib.util

from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, UID

from ..errors import MissingDependencyError, UnsupportedError

__all__ = ["compress_dataset", "decoder_requirements", "check_available"]

#: transfer syntax -> (import name, pip package) needed to encode and decode it
_REQUIREMENTS: dict[str, tuple[str, str]] = {
    JPEGLSLossless: ("jpeg_ls", "pyjpegls"),
    JPEG2000Lossless: ("openjpeg", "pylibjpeg-openjpeg"),
}


def decoder_requirements(ts: UID) -> tuple[str, str] | None:
    """(module, pip package) a transfer syntax needs beyond pydicom and NumPy, or None."""
    return _REQUIREMENTS.get(str(ts))


def check_available(ts: UID, *, purpose: str) -> None:
    """Raise :class:`MissingDependencyError` naming the package ``ts`` needs, if it is not installed."""
    req = decoder_requirements(ts)
    if req and importlib.util.find_spec(req[0]) is None:
        raise MissingDependencyError(
            f"{purpose} {ts.name} needs the package {req[1]!r}: pip install {req[1]}"
        )


def compress_dataset(ds: Dataset, ts: UID) -> None:
    """Compress ``ds``'s Pixel Data in place to the lossless syntax ``ts``."""
    if ts not in (RLELossless, JPEGLSLossless, JPEG2000Lossless):
        raise UnsupportedError(f"writing {ts.name} is not supported")
    check_available(ts, purpose="writing")
    kwargs = {}
    if ts == JPEG2000Lossless:
        kwargs["j2k_cr"] = [1]
    ds.compress(ts, generate_instance_uid=False, **kwargs)
