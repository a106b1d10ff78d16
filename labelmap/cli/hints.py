"""Advice per hint code (:data:`labelmap.errors.HINTS`) in each command family's flags (typer-free: the
launcher words its errors without loading the typer app)."""

from __future__ import annotations

#: The native commands' wording.
NATIVE = {
    "renumber": "--renumber",
    "keep_empty_slices": "use --keep-empty-slices or write a LABELMAP",
    "type_fractional": "use --type fractional for probability maps",
    "type_binary": "write a classic SEG with --type binary or --type auto",
    "tolerance": "--tolerance MM accepts small differences",
    "palette_labelmap_only": "--palette applies to LABELMAP only",
    "metadata": "pass it with --metadata; only a Slicer .seg.nrrd carries its own",
    "keep_absent_segments": "use --keep-absent-segments to keep them",
}

#: The dcmqi-compatible commands' wording (dcmqi's flags).
DCMQI = {
    "renumber": "leave out --useLabelIDAsSegmentNumber",
    "keep_empty_slices": "use --skip 0 or --segmentationType labelmap",
    "type_fractional": "labelmap-convert itk2seg --type fractional writes probability maps",
    "type_binary": "use --segmentationType binary",
    "tolerance": "labelmap-convert itk2seg --tolerance MM accepts small differences",
    "palette_labelmap_only": "--usePalette applies to LABELMAP only",
    "metadata": "pass it with --inputMetadata",
    "keep_absent_segments": "labelmap-convert itk2seg --keep-absent-segments keeps them as empty segments",
}

#: The commands that word their hints in dcmqi's flags; every other command uses :data:`NATIVE`.
DCMQI_COMMANDS = frozenset({"itkimage2segimage", "segimage2itkimage", "bin2labelsegimage"})


def hint_texts(argv: list[str]) -> dict[str, str]:
    """The hint wording of the command ``argv`` runs (native wording when it names none).

    Parameters
    ----------
    argv
        The command line without the program name.

    Returns
    -------
    dict
        Hint code -> advice text in that command's flags.
    """
    name = next((a for a in argv if not a.startswith("-")), None)
    return DCMQI if name in DCMQI_COMMANDS else NATIVE
