"""Flags and choices of ``labelmap-convert``, each declared once and shared by the commands that take it.

A command's parameter ``quiet: bool = QUIET`` gives it ``--quiet/-q`` with the same default and
help as every other command (typer copies the option object for each command).  Importing this
module stays cheap (typer only; no numpy or pydicom).
"""

from __future__ import annotations

from enum import Enum

import typer

from labelmap.cli.values import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from labelmap.cli.values import number_problem as number_problem
from labelmap.cli.values import parse_slices as parse_slices
from labelmap.cli.values import parse_tile_size as parse_tile_size
from labelmap.cli.values import parse_window as parse_window
from labelmap.cli.values import path_problem as path_problem
from labelmap.cli.values import resources as resources
from labelmap.cli.values import slide_flags_problem as slide_flags_problem
from labelmap.cli.values import slide_image_problem as slide_image_problem
from labelmap.cli.values import split_paths as split_paths
from labelmap.dicom.uids import WRITABLE

#: ``--compression`` choices: the transfer syntaxes labelmap writes (:data:`labelmap.dicom.uids.WRITABLE`).
Compression = Enum("Compression", {name: name for name in WRITABLE}, type=str)  # type: ignore[misc]


#: ``--type`` choices.
SegType = Enum(
    "SegType", {"labelmap": "labelmap", "binary": "binary", "fractional": "fractional", "auto": "auto"}, type=str
)
#: ``--fractional-type`` choices.
FractionalType = Enum("FractionalType", {"probability": "probability", "occupancy": "occupancy"}, type=str)
#: ``--tiled`` choices (slide SEGs).
Tiled = Enum("Tiled", {"full": "full", "sparse": "sparse"}, type=str)
#: ``--format`` choices of ``seg2itk`` (segnrrd: one 3D Slicer .seg.nrrd holding every segment; ome-tiff: slide SEGs).
OutFormat = Enum(
    "OutFormat", {"nrrd": "nrrd", "nifti": "nifti", "segnrrd": "segnrrd", "ome-tiff": "ome-tiff"}, type=str
)
#: ``--level`` of the readers (seg2itk, segimage2itkimage): the pyramid level of a slide SEG to read.
READ_LEVEL = typer.Option(
    None, "--level", min=0, help="Slide SEG pyramid (a folder or files of levels): the level to read, 0 = largest."
)


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
#: itk2seg's --compression: unset means deflate for volumes, rle (BINARY: none) for slides.
WRITE_COMPRESSION = typer.Option(
    None,
    "--compression",
    help="Transfer syntax, all lossless. Volumes: default deflate (smallest file that every peer reads, at the "
    "speed of none). Slides: default rle (BINARY: none); deflate = Deflated Image Frame Compression, per frame; "
    "see README.",
    show_default=False,
)
DEFLATE_LEVEL = typer.Option(
    6, "--deflate-level", min=1, max=9, help="Deflate effort 1-9 (8: about 10 % smaller, slower)."
)
SERIES_UID = typer.Option(None, "--series-uid", help="Series to use when the folder holds several.")
TOLERANCE = typer.Option(
    DEFAULT_TOLERANCE, "--tolerance", min=0.0, help="Largest allowed mismatch between planes and source images, mm."
)
DETERMINISTIC_UIDS = typer.Option(
    False,
    "--deterministic-uids",
    help="Derive the SEG's UIDs from the inputs' content, the options and labelmap's version (2.25 form): a "
    "rerun writes the same UIDs, so an archive does not keep two copies (see README).",
)
THREADS = typer.Option(
    0,
    "--threads",
    min=0,
    help="Threads for this conversion's kernels, frame codecs and deflate (0: every core). A batch of N worker "
    "processes passes cores / N, so the workers do not oversubscribe the machine.",
)
PREFIX = typer.Option("", "--prefix", "-p", help="File name prefix: <prefix>-1.nrrd, <prefix>-meta.json.")

# --------------------------------------------------------------------------- slide flags (a whole-slide --dicom)
LEVEL = typer.Option(
    None, "--level", min=0, help="Slide: the pyramid level the labels lie on (default: the one of their size)."
)
TILED = typer.Option(
    None, "--tiled", help="Slide: full (TILED_FULL, default) or sparse (empty tiles left out).", show_default=False
)
TILE_SIZE = typer.Option(None, "--tile-size", help="Slide: frame size N or RxC (default: the source level's tiles).")
PYRAMID = typer.Option(False, "--pyramid", help="Slide: one SEG per level from the labels' level down (-L1, -L2 ...).")


# --------------------------------------------------------------------------- dcmqi flags
SKIP = typer.Option(1, "--skip", help="1: skip empty slices; 0: keep them.")
VERBOSE = typer.Option(False, "--verbose", help="More output.")


# --------------------------------------------------------------------------- preview
#: ``--fractional`` choices of ``preview``.
FractionalDraw = Enum("FractionalDraw", {"threshold": "threshold", "alpha": "alpha"}, type=str)
