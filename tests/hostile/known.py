"""Hostile cases that still fail on main: case id -> "<owner>: <cause>".

Marked ``xfail(strict=False)``: a fix shows as XPASS; then delete its line here.  Owners are the
helpers of issue #11 (A dcmqi, B slicer, C vr, D memory, E outputs, F sources, G hostile)."""

from __future__ import annotations

#: A known failure is given this long (s) before it is killed: most hang until the limit.
KNOWN_TIMEOUT = 10.0

_D_INFLATE = "D memory: a deflated SEG is inflated whole (MemoryError traceback / RSS over 1.5 GB)"
_D_JSON = "D memory: JSON nesting / label ID limits (RecursionError, OverflowError traceback)"
_E_EMPTY = "E outputs: an empty output path is taken as the current folder"
_E_SOURCE = "E outputs: an output replacing a file of the source series (or the input) is not refused"
_E_NAMES = "E outputs: temporary name = output name + suffix exceeds NAME_MAX"
_FIFO = "E outputs: an input that is a FIFO/device blocks or is read without end (check regular files before opening)"

KNOWN: dict[str, str] = {
    **{
        f"bomb/{name}/{command}": _D_INFLATE
        for name, commands in {
            "deflated-private-ob-6gib": ("seg2itk", "info", "validate", "segimage2itkimage", "bin2label"),
            "deflated-private-un-1gib": ("seg2itk", "bin2label"),
            "deflated-pixel-data-3gib": ("seg2itk", "info", "validate"),
            "deflated-trailing-zeros-2gib": ("seg2itk", "validate"),
        }.items()
        for command in commands
    },
    "bomb/nrrd-data-file-dev-zero-gzip": "D memory: NRRD detached gzip data inflated without a bound",
    "bomb/json-list-nested-100000-deep": _D_JSON,
    "bomb/json-object-nested-100000-deep": _D_JSON,
    "bomb/json-labelID-65536": _D_JSON,
    "bomb/json-1e6-entries": "D memory: 1e6 JSON entries (IDs up to 1e6) take over 30 s instead of a quick refusal",
    "damaged/no-referenced-series-binary/bin2label": "C vr: bin2label writes a SEG without Series Instance UID",
    "damaged/no-referenced-series-binary/bin2labelsegimage": "C vr: bin2label writes a SEG without Series Instance UID",
    "path/seg2itk-empty-output": _E_EMPTY,
    "path/segimage2itkimage-empty-output-dir": _E_EMPTY,
    "path/label-is-a-fifo": _FIFO,
    "path/metadata-is-a-fifo": _FIFO,
    "path/label-nrrd-links-to-dev-zero": "D memory: a label file that is /dev/zero is read without end",
    "path/metadata-links-to-dev-zero": "D memory: a JSON file that is /dev/zero is read without end",
    "path/output-name-250-bytes": _E_NAMES,
    "path/bin2label-output-name-255-bytes": _E_NAMES,
    "path/output-onto-a-ct-file": _E_SOURCE,
    "path/output-onto-a-ct-file-via-relative-path": _E_SOURCE,
    "path/seg2itk-output-folder-holds-the-input-as-1.nrrd": _E_SOURCE,
    "source/junk-beside-the-ct": "F sources: a 2 GB non-DICOM file beside the CT is read whole (MemoryError)",
}
