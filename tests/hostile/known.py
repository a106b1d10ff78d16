"""Hostile cases that still fail on main: case id -> "<owner>: <cause>".

Marked ``xfail(strict=False)``: a fix shows as XPASS; then delete its line here.  Owners are the
helpers of issue #11 (A dcmqi, B slicer, C vr, D memory, E outputs, F sources, G hostile)."""

from __future__ import annotations

#: A known failure is given this long (s) before it is killed: most hang until the limit.
KNOWN_TIMEOUT = 10.0

_D_INFLATE = "D memory: a deflated SEG is inflated whole (MemoryError traceback / RSS over 1.5 GB)"

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
    "bomb/json-labelID-65536": "D memory: a JSON label ID above 65535 is no error (dropped as absent)",
    "bomb/json-1e6-entries": "D memory: 1e6 JSON entries (IDs up to 1e6) take over 30 s instead of a quick refusal",
    "bomb/binary-of-20000-segments/bin2label": "D memory: bin2label, 20,000 BINARY segments: 3.7 GB peak",
}
