#!/usr/bin/env python
"""Lines of ``labelmap/`` at a git revision: physical, code and logical.

    python benchmarks/loc.py [REV ...]      (default HEAD)

"code" counts lines holding a token other than a comment or a docstring (blank lines, comments and
docstrings excluded, as cloc counts); "logical" counts statements (tokenize NEWLINE tokens) and does not
change when a formatter splits a line.  ``.pyx`` files count their non-blank, non-comment lines as code.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tokenize

_LAYOUT = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def count(source: str, python: bool) -> tuple[int, int, int]:
    """(physical, code, logical) lines of one file."""
    physical = source.count("\n")
    if not python:
        code = sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))
        return physical, code, 0
    lines: set[int] = set()
    docstrings: set[int] = set()
    logical = 0
    previous: int | None = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        span = range(tok.start[0], tok.end[0] + 1)
        if tok.type == tokenize.STRING and previous in (None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            docstrings.update(span)
        if tok.type not in _LAYOUT:
            lines.update(span)
        logical += tok.type == tokenize.NEWLINE
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            previous = tok.type
    return physical, len(lines - docstrings), logical


def main(revisions: list[str]) -> None:
    for rev in revisions or ["HEAD"]:
        names = [
            n
            for n in _git("ls-tree", "-r", "--name-only", rev, "labelmap").split()
            if n.endswith((".py", ".pyi", ".pyx"))
        ]
        totals = [0, 0, 0]
        for name in names:
            counts = count(_git("show", f"{rev}:{name}"), python=not name.endswith(".pyx"))
            totals = [a + b for a, b in zip(totals, counts)]
        print(f"{rev}: {len(names)} files, physical {totals[0]}, code {totals[1]}, logical {totals[2]}")


if __name__ == "__main__":
    main(sys.argv[1:])
