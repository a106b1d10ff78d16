"""The ``labelmap-convert`` command line: parses flags, calls :mod:`labelmap.pipeline`, prints.

:func:`main` is the launcher (:mod:`~labelmap.cli.launch`): it runs the common command lines from a
generated flag table (:mod:`~labelmap.cli.flags`) without loading typer and hands everything else to
the typer app (:mod:`~labelmap.cli.app`, whose ``main`` behaves the same).  :mod:`~labelmap.cli.native`
and :mod:`~labelmap.cli.dcmqi` define the two command families, :mod:`~labelmap.cli.options` the shared
flags, :mod:`~labelmap.cli.run_native` / :mod:`~labelmap.cli.run_dcmqi` the conversions' typer-free
bodies.  Heavy modules (numpy, pydicom, nibabel) are imported inside the commands.
"""

from __future__ import annotations

from labelmap.cli.launch import main

__all__ = ["main"]
