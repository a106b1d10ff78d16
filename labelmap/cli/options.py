"""Flags and choices of ``labelmap-convert``, each declared once and shared by the commands that take it.

A command's parameter ``quiet: bool = QUIET`` gives it ``--quiet/-q`` with the same default and
help as every other command (typer copies the option object for each command).  Importing this
module stays cheap (typer only; no numpy or pydicom).
"""

from __future__ import annotations

from enum import Enum

import typer

from labelmap.dicom.uids import WRITABLE

#: Same value as :data:`labelmap.geometry.DEFAULT_TOLERANCE_MM` (not imported: it loads numpy; a test ties them).
DEFAULT_TOLERANCE = 0.01


#: ``--compression`` choices: the transfer syntaxes labelmap writes (:data:`labelmap.dicom.uids.WRITABLE`).
Compression = Enum("Compression", {name: name for name in WRITABLE}, type=str)  # type: ignore[misc]


#: ``--type`` choices.
SegType = Enum(
    "SegType", {"labelmap": "labelmap", "binary": "binary", "fractional": "fractional", "auto": "auto"}, type=str
)
#: ``--fractional-type`` choices.
FractionalType = Enum("FractionalType", {"probability": "probability", "occupancy": "occupancy"}, type=str)
#: ``--format`` choices of ``seg2itk`` (segnrrd: one 3D Slicer .seg.nrrd holding every segment).
OutFormat = Enum("OutFormat", {"nrrd": "nrrd", "nifti": "nifti", "segnrrd": "segnrrd"}, type=str)


# --------------------------------------------------------------------------- native flags
QUIET = typer.Option(False, "--quiet", "-q", help="Print errors only.")
SEG_FILE = typer.Argument(..., help="DICOM SEG file.")
PALETTE = typer.Option(False, "--palette", help="PALETTE COLOR with a colour LUT instead of MONOCHROME2 + CIELab.")
KEEP_EMPTY_SLICES = typer.Option(False, "--keep-empty-slices", help="Write a frame for every slice, even empty ones.")
COMPRESSION = typer.Option(
    Compression("deflate"),
    "--compression",
    help="Transfer syntax, all lossless (deflate: smallest file that every peer reads, at the speed of none; "
    "see README).",
)
DEFLATE_LEVEL = typer.Option(
    6, "--deflate-level", min=1, max=9, help="Deflate effort 1-9 (8: about 10 % smaller, slower)."
)
SERIES_UID = typer.Option(None, "--series-uid", help="Series to use when the folder holds several.")
TOLERANCE = typer.Option(
    DEFAULT_TOLERANCE, "--tolerance", min=0.0, help="Largest allowed mismatch between planes and source images, mm."
)
PREFIX = typer.Option("", "--prefix", "-p", help="File name prefix: <prefix>-1.nrrd, <prefix>-meta.json.")

# --------------------------------------------------------------------------- dcmqi flags
SKIP = typer.Option(1, "--skip", help="1: skip empty slices; 0: keep them.")
VERBOSE = typer.Option(False, "--verbose", help="More output.")
