"""The shared test code: the doubles in tests/support behave as the tests assume, and test
modules share code only through tests/support and conftest.py, never by importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

from support.fakes import FakeClassifier

from pathview.core import NATIVE_SIZE

TESTS = Path(__file__).resolve().parent


def test_fake_classifier_is_deterministic(data_dir: Path) -> None:
    from pathview.io import read_patch

    pixels = read_patch(next((data_dir / "kaggle").glob("*.tif"))).pixels
    assert pixels is not None and pixels.shape == (NATIVE_SIZE, NATIVE_SIZE, 3)
    clf = FakeClassifier()
    a = clf.predict(pixels[None]).p
    b = clf.predict(pixels[None], tta=True)
    assert a[0] == b.p[0] and 0.0 < a[0] < 1.0
    assert b.spread is not None


# ------------------------------------------------------------------------------ layout


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside functions (relative imports as
    ``.name``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def imports_of_test_modules(root: Path) -> dict[str, set[str]]:
    """Python file under ``root`` (path relative to it) -> the test modules it imports:
    ``test_x`` or ``tests.test_x`` (top-level or inside a function), ``conftest``, or any
    module named after a test file under ``root``. Empty when tests share code only through
    ``support``."""
    python_files = [p for p in root.rglob("*.py") if "data" not in p.relative_to(root).parts]
    test_names = {p.stem for p in python_files if p.stem.startswith("test_")} | {"conftest"}
    found: dict[str, set[str]] = {}
    for path in python_files:
        bad = set()
        for name in imported_modules(path):
            parts = name.lstrip(".").split(".")
            if parts[0] == "tests" and len(parts) > 1:
                parts = parts[1:]
            if parts[0] in test_names or parts[0].startswith("test_"):
                bad.add(name)
        if bad:
            found[path.relative_to(root).as_posix()] = bad
    return found


def test_no_test_module_imports_another() -> None:
    """Shared builders and fakes belong in tests/support, shared fixtures in conftest.py:
    importing a test module runs its module-level code and hides what a test depends on."""
    found = imports_of_test_modules(TESTS)
    assert found == {}, (
        f"test files import test modules: {found}. Import shared code from tests/support "
        "(make_tiny_model: support.models; FakeClassifier, fake_loader: support.fakes; "
        "make_folder, copy_balanced_patches: support.patches; run_cli: support.cli; "
        "MakeWindow, open_and_score: support.ui) or move it there."
    )


def test_the_import_guard_finds_imports_of_test_modules(tmp_path: Path) -> None:
    (tmp_path / "support").mkdir()
    files = {
        "test_a.py": "import numpy\nfrom support.models import TINY\nfrom . import helpers\n",
        "test_b.py": "from test_a import thing\n",
        "test_c.py": "def test_x():\n    import tests.test_a\n",
        "test_d.py": "from conftest import DATA_DIR\n",
        "conftest.py": "from test_b import thing\n",
        "support/__init__.py": "",
        "support/models.py": "from .fakes import x\nfrom ..test_d import y\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert imports_of_test_modules(tmp_path) == {
        "test_b.py": {"test_a"},
        "test_c.py": {"tests.test_a"},
        "test_d.py": {"conftest"},
        "conftest.py": {"test_b"},
        "support/models.py": {"..test_d"},
    }
