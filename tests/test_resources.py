"""The bundled model and demo patches live inside the pathview package (they ship in the wheel)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tomllib

import pathview
from pathview.core.resources import bundled_model_dir, demo_folder, resources_dir
from pathview.model import default_model_dir

REPO = Path(__file__).resolve().parents[1]


def test_resources_are_inside_the_package() -> None:
    package = Path(pathview.__file__).resolve().parent
    assert resources_dir().resolve() == package / "resources"
    assert (bundled_model_dir() / "model.json").is_file()
    assert (bundled_model_dir() / "weights.pt").is_file()
    assert len(list(demo_folder().glob("*.tif"))) == 64
    assert (demo_folder() / "labels.csv").is_file()


def test_model_dir_env_var_overrides_the_bundled_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PATHVIEW_MODEL_DIR", raising=False)
    assert default_model_dir() == bundled_model_dir()
    monkeypatch.setenv("PATHVIEW_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path


def test_package_data_declares_every_resource_file() -> None:
    """pyproject's package-data pattern covers every tracked file under pathview/resources."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["pathview"]
    assert "resources/**/*" in patterns
    tracked = subprocess.run(
        ["git", "ls-files", "pathview/resources"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    files = [Path(line) for line in tracked.stdout.splitlines()]
    assert len(files) > 64
    package_root = REPO / "pathview"
    matched = {p.relative_to(package_root) for p in package_root.glob("resources/**/*")}
    assert {f.relative_to("pathview") for f in files} <= matched


def test_no_module_reads_resources_from_the_source_tree() -> None:
    """Nothing under pathview/ climbs out of the package to find its data."""
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "pathview").rglob("*.py")
        if "parents[2]" in path.read_text() and "resources" in path.read_text()
    ]
    assert offenders == []
