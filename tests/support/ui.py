"""Steps and readings shared by the GUI tests of the main window and the metrics panel.

The fixtures that build windows (``make_window``) and fixture folders (``kaggle_folder``) are in
conftest.py; these are the plain functions the tests call on them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from pathview.store import ImportResult
from pathview.ui.main_window import MainWindow
from pathview.ui.metrics_panel import SUMMARY_COLUMNS, MetricsPanel
from support.models import make_tiny_model

#: ``make_window(loader=fake_loader, explainer=None, reviewer="Dr Test")`` (see conftest.py).
MakeWindow = Callable[..., MainWindow]


def open_and_score(qtbot: QtBot, window: MainWindow, folder: Path) -> None:
    """Open ``folder`` in ``window`` and wait until every patch is scored."""
    with qtbot.waitSignal(window.session.scoring_finished, timeout=30000) as finished:
        window.open_folder(folder)
    assert finished.args == ["done"]


def state_of(window: MainWindow, patch_id: str | None) -> str | None:
    """The verdict in effect on ``patch_id`` in the window's store (None: not reviewed)."""
    store = window.session.store
    assert store is not None and patch_id is not None
    state = store.current_states().get(patch_id)
    return None if state is None else state.verdict.value


def cell(panel: MetricsPanel, row: int, column: str) -> str:
    """Text of the summary table at ``row`` in the column named ``column``."""
    item = panel.summary_table.item(row, SUMMARY_COLUMNS.index(column))
    assert item is not None
    return item.text()


def confusion(panel: MetricsPanel) -> list[list[int]]:
    """The confusion matrix as the panel's table shows it."""
    table = panel.confusion_table
    return [
        [int(table.item(r, c).text()) for c in range(table.columnCount())]  # type: ignore[union-attr]
        for r in range(table.rowCount())
    ]


def load_tiny_model(qtbot: QtBot, window: MainWindow, model_dir: Path) -> Path:
    """Write a tiny real model directory to ``model_dir`` and load it into ``window`` with the
    app's own loader (``pathview.model.load_model``); returns ``model_dir``."""
    make_tiny_model(model_dir)
    with qtbot.waitSignal(window.session.model_worker.model_loaded, timeout=20000):
        window.session.load_model(model_dir, "cpu")
    return model_dir


def export(qtbot: QtBot, window: MainWindow, kind: str, out: Path) -> int:
    """Run the window's ``kind`` export ("labels", "log", "submission") to ``out`` and wait for
    it (exports run off the GUI thread); returns the rows written."""
    with qtbot.waitSignal(window.session.reviews.export_finished, timeout=15000) as finished:
        assert getattr(window, f"export_{kind}")(out)
    assert finished.args[0] == out
    return int(finished.args[1])


def import_reviews(qtbot: QtBot, window: MainWindow, source: Path) -> ImportResult | None:
    """Import ``source`` through the window and wait for the outcome (imports run off the GUI
    thread); None when it failed (the window then shows why)."""
    reviews = window.session.reviews
    result: list[ImportResult | None] = []

    def imported(r: ImportResult) -> None:
        result.append(r)

    def failed(_reason: str) -> None:
        result.append(None)

    reviews.reviews_imported.connect(imported)
    reviews.import_failed.connect(failed)
    try:
        window.import_reviews(source)
        qtbot.waitUntil(lambda: bool(result), timeout=15000)
    finally:
        reviews.reviews_imported.disconnect(imported)
        reviews.import_failed.disconnect(failed)
    return result[0]
