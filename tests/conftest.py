"""Shared test set-up: headless Qt, isolated settings and stores, fixture paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Qt must never need a display in tests; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point every per-user location (settings, fallback stores) at a temporary folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PATHVIEW_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("PATHVIEW_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    yield


@pytest.fixture
def data_dir() -> Path:
    """Folder of the committed real-patch fixtures (see tests/data/README.md)."""
    return DATA_DIR
