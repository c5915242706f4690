"""Layering rules import-linter cannot express: which parts of Qt each layer may import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pathview"


def _qt_imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
                if node.module == "PySide6":
                    names = [f"PySide6.{alias.name}" for alias in node.names]
            for name in names:
                if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"):
                    found.setdefault(str(path.relative_to(PACKAGE)), set()).add(name)
    return found


def test_workers_use_qtcore_only() -> None:
    imports = _qt_imports(PACKAGE / "workers")
    assert imports, "the worker layer is expected to use QtCore"
    bad = {f: n for f, n in imports.items() if n - {"PySide6.QtCore", "PySide6"}}
    assert bad == {}


def test_pure_layers_import_no_qt() -> None:
    for layer in ("core", "io", "model", "explain", "store", "pipeline"):
        assert _qt_imports(PACKAGE / layer) == {}, layer
