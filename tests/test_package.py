"""The package's lazy public API: ``labelmap.__all__``, its type stub, and the cost of ``import labelmap``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import labelmap

STUB = Path(labelmap.__file__).with_suffix(".pyi")


def _stub_imports() -> dict[str, str]:
    """Name -> module for every ``from labelmap.x import N as N`` of the stub."""
    tree = ast.parse(STUB.read_text())
    return {
        alias.asname or alias.name: node.module or ""
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_stub_names_are_the_lazy_exports():
    imports = _stub_imports()
    assert sorted(labelmap.__all__) == sorted(["__version__", *imports])
    # the package's line reader agrees with Python's parser: each name comes from the module the stub says
    assert labelmap._EXPORTS == imports
    assert len(imports) == STUB.read_text().count("\nfrom labelmap.")


def test_every_exported_name_resolves():
    for name in labelmap.__all__:
        assert getattr(labelmap, name) is not None, name
    assert sorted(dir(labelmap)) == sorted(labelmap.__all__)


def test_stub_is_shipped():
    text = (Path(labelmap.__file__).parents[1] / "pyproject.toml").read_text()
    assert '"__init__.pyi"' in text


def test_import_is_lazy():
    code = "import sys, labelmap; print('numpy' in sys.modules, 'pydicom' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
