"""The ``labelmap-convert`` command line: parses flags, calls :mod:`labelmap.pipeline`, prints.

:mod:`~labelmap.cli.app` holds the typer app and :func:`main`, :mod:`~labelmap.cli.native`
and :mod:`~labelmap.cli.dcmqi` the two command families, :mod:`~labelmap.cli.options` the
shared flags.  Heavy modules (numpy, pydicom, nibabel) are imported inside the commands so
``--help`` stays fast.
"""

from __future__ import annotations

from labelmap.cli.app import main

__all__ = ["main"]
