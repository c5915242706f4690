"""Shared test set-up: headless Qt, isolated settings and stores, fixture paths and folders, a
tiny model, the main-window factory of the GUI tests, and the ``gui`` marker.

Builders and test doubles live in tests/support; the fixtures here build on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot
    from support.ui import MakeWindow

    from pathview.model import Classifier

# Qt must never need a display in tests; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA_DIR = Path(__file__).parent / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs a Qt event loop (asks for pytest-qt's ``qtbot``, directly or
    through a fixture such as ``make_window``) as ``gui``: ``pytest -m "not gui"`` runs the rest."""
    for item in items:
        if "qtbot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)


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


@pytest.fixture
def kaggle_folder(tmp_path: Path, data_dir: Path) -> Path:
    """12 real Kaggle patches with their labels.csv, and one corrupt file."""
    from support.patches import make_folder

    folder = tmp_path / "patches"
    make_folder(folder, data_dir / "kaggle", 12, corrupt=1)
    return folder


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A tiny randomly initialised model directory (support.models.make_tiny_model)."""
    from support.models import make_tiny_model

    return make_tiny_model(tmp_path / "tiny")


@pytest.fixture
def tiny(tiny_dir: Path) -> Classifier:
    """``tiny_dir`` loaded on the CPU by the app's own loader."""
    from pathview.model import load_model

    return load_model(tiny_dir, device="cpu")


@pytest.fixture
def make_window(qtbot: QtBot) -> Iterator[MakeWindow]:
    """Builds shown main windows over the test doubles of support.fakes; the model of
    ``loader`` is loaded (None: no model). Closes them afterwards and checks that no worker
    thread outlived them."""
    # Imported here: most tests need neither Qt widgets nor the fakes' torch network.
    from support.fakes import failing_loader, fake_loader

    from pathview.ui.main_window import MainWindow
    from pathview.ui.session import TriageSession
    from pathview.ui.settings import Preferences
    from pathview.workers import running_workers

    windows: list[MainWindow] = []

    def make(
        loader: Any = fake_loader, explainer: Any = None, reviewer: str = "Dr Test"
    ) -> MainWindow:
        prefs = Preferences()
        prefs.reviewer = reviewer
        session = TriageSession(model_loader=loader, explainer=explainer)
        window = MainWindow(session, prefs, ask_reviewer=lambda _parent, _current: "Dr Asked")
        window.resize(1400, 900)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        windows.append(window)
        if loader is not None:
            signal = session.model_worker.model_loaded
            if loader is failing_loader:
                signal = session.model_worker.model_failed
            with qtbot.waitSignal(signal, timeout=10000):
                session.load_model(None, "cpu")
        return window

    yield make
    for window in windows:
        window.close()
    assert running_workers() == [], "a worker thread outlived its window"
