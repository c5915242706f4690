"""Layering rules import-linter cannot express: which parts of Qt each layer may import."""

from __future__ import annotations

import ast
import sys
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


PURE_LAYERS = (
    "core",
    "stats",
    "io",
    "model",
    "store",
    "quality",
    "explain",
    "scoring",
    "evaluation",
    "triage",
    "training",
)


def test_pure_layers_import_no_qt() -> None:
    for layer in PURE_LAYERS:
        assert (PACKAGE / layer / "__init__.py").is_file(), layer
        assert _qt_imports(PACKAGE / layer) == {}, layer


def test_no_pipeline_package() -> None:
    # Packages are named for what they hold (house style 17).
    assert not (PACKAGE / "pipeline").exists()


def _top_level_imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            key = str(path.relative_to(PACKAGE))
            found.setdefault(key, set()).update(
                n if n.startswith("pathview.") else n.split(".")[0] for n in names
            )
    return found


def test_stats_imports_numpy_and_the_standard_library_only() -> None:
    imports = _top_level_imports(PACKAGE / "stats")
    assert imports
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    bad = {
        f: {n for n in names if n not in allowed and not n.startswith("pathview.stats")}
        for f, names in imports.items()
    }
    assert {f: n for f, n in bad.items() if n} == {}


def test_quality_imports_numpy_opencv_and_the_standard_library_only() -> None:
    imports = _top_level_imports(PACKAGE / "quality")
    assert imports
    allowed = set(sys.stdlib_module_names) | {"numpy", "cv2"}
    bad = {
        f: {n for n in names if n not in allowed and not n.startswith("pathview.quality")}
        for f, names in imports.items()
    }
    assert {f: n for f, n in bad.items() if n} == {}
