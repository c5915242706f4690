"""The session's controllers, each on its own: one owner per value, one refresh path for
reviews, the view options in one state object, long work off the GUI thread."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot
from support.fakes import failing_loader
from support.ui import MakeWindow, export, import_reviews, open_and_score

from pathview.core import Verdict
from pathview.store import ReviewInput, ReviewStore
from pathview.triage import ReviewCode, SortKey
from pathview.ui.scoring import ModelState
from pathview.ui.view_state import ViewOptions, ViewState

# ------------------------------------------------------------------------------ view state


def test_view_state_has_one_change_signal_and_checks_its_fields(qtbot: QtBot) -> None:
    view = ViewState()
    seen: list[tuple[ViewOptions, ViewOptions]] = []
    view.changed.connect(lambda new, old: seen.append((new, old)))
    assert view.update(heatmap=False)
    assert not view.update(heatmap=False)  # no change, no signal
    assert view.update(opacity=3.0) and view.options.opacity == 1.0  # clamped
    assert [(new.heatmap, old.heatmap) for new, old in seen] == [(False, True), (False, False)]
    with pytest.raises(TypeError):
        view.update(colour="red")


def test_every_overlay_widget_binds_to_the_view_state(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    view, panel, action = window.session.view, window.review_panel, window.action_map
    qtbot.waitUntil(lambda: window.patch_view.pixels is not None, timeout=15000)
    action["toggle_heatmap"].trigger()  # the H key
    assert not view.options.heatmap and not panel.heat_check.isChecked()
    assert not window.patch_view.heatmap_shown
    panel.box_check.setChecked(False)  # the panel's check box
    assert not view.options.box and not action["toggle_box"].isChecked()
    assert not window.patch_view.box_visible
    view.update(opacity=0.3, heatmap=True)  # the state itself
    assert panel.opacity_slider.value() == 30 and action["toggle_heatmap"].isChecked()
    assert window.prefs.overlay_opacity == pytest.approx(0.3)
    assert window.prefs.flag("show_box", True) is False


# ------------------------------------------------------------------------------ model status


def test_model_status_is_a_value(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window(loader=failing_loader)
    status = window.session.model_status
    assert status.state is ModelState.FAILED and status.info is None
    assert window.model_banner.isVisible() and window.model_banner.text() == status.text
    ready = make_window()
    assert ready.session.model_status.state is ModelState.READY
    assert not ready.model_banner.isVisible()


# ------------------------------------------------------------------------------ selection


def test_a_reorder_moves_the_selection_without_reloading_the_patch(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(3)
    qtbot.waitUntil(lambda: s.current_info is not None, timeout=15000)
    patch, info = s.current_id, s.current_info
    changed: list[int] = []
    new_patch: list[bool] = []
    s.selection.current_changed.connect(changed.append)
    s.selection.patch_changed.connect(lambda: new_patch.append(True))
    # The re-sort that follows new scores (a sort the user chooses goes to the top instead).
    s.selection.sort_key = SortKey.P_TUMOUR
    s.selection.apply_order()
    assert s.position != 3
    assert s.current_id == patch and s.current_info is info and not new_patch
    assert changed == [s.position]
    assert window.grid.currentIndex().row() == s.position


# ------------------------------------------------------------------------------ reviews


def test_reviews_have_one_refresh_path_and_undo_reads_one_patch(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    assert s.store is not None
    refreshed: list[list[str]] = []
    s.reviews.reviews_changed.connect(refreshed.append)
    s.select_position(0)
    first = s.current_id
    assert first is not None
    window.agree()
    assert refreshed == [[first]]
    # A verdict written by another connection shows once that patch is refreshed.
    row = s.table.row_of(first)
    assert row is not None and s.table.review[row] == ReviewCode.AGREE
    other = ReviewStore(s.store.path)
    try:
        other.record(ReviewInput(first, Verdict.UNSURE, "Dr Test"))
    finally:
        other.close()
    s.reviews.refresh([first])
    assert s.table.review[row] == ReviewCode.UNSURE
    # Undo asks the store for the one patch's state, never for every state.
    calls: list[str] = []
    real = ReviewStore.current_state

    def one(store: ReviewStore, patch_id: str, reviewer: str | None = None) -> Any:
        calls.append(patch_id)
        return real(store, patch_id, reviewer)

    def every(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("undo read every review state")

    monkeypatch.setattr(ReviewStore, "current_state", one)
    monkeypatch.setattr(ReviewStore, "current_states", every)
    s.select_position(5)
    calls.clear()  # the panel read patch 5's own review to show it
    window.undo()
    assert calls and set(calls) == {first} and s.current_id == first
    assert s.table.review[row] == ReviewCode.AGREE  # back to Dr Test's first verdict
    assert "reviewed 1 / 13" in window.counts_label.text()


def _on_thread(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Replace ``module.name`` with a wrapper that records the thread it runs on."""
    threads: list[int] = []
    real = getattr(module, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return threads


@pytest.mark.slow
def test_exports_imports_and_labels_run_off_the_gui_thread(
    qtbot: QtBot,
    make_window: MakeWindow,
    kaggle_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pathview.ui.folder as folder_module
    import pathview.ui.reviews as reviews_module

    gui = threading.get_ident()
    labels_read = _on_thread(monkeypatch, folder_module, "read_labels")
    window = make_window()
    s = window.session
    open_and_score(qtbot, window, kaggle_folder)
    qtbot.waitUntil(lambda: sum(t >= 0 for t in s.table.truth) == 12, timeout=15000)
    assert labels_read and gui not in labels_read
    s.select_position(0)
    window.agree()
    written = _on_thread(monkeypatch, reviews_module, "write_labels_csv")
    imported = _on_thread(monkeypatch, reviews_module, "import_reviews")
    busy: list[str] = []
    s.reviews.busy_changed.connect(busy.append)
    out = tmp_path / "labels.csv"
    assert export(qtbot, window, "labels", out) == 1
    assert written and gui not in written
    assert busy == ["Writing labels.csv…", ""]
    assert len(list(csv.reader(out.read_text().splitlines()))) == 2
    colleague = tmp_path / "colleague.sqlite"
    with ReviewStore(colleague) as other:
        other.record(ReviewInput(s.table.ids[1], Verdict.AGREE, "Dr Colleague"))
    result = import_reviews(qtbot, window, colleague)
    assert result is not None and result.added == 1
    assert imported and gui not in imported
    assert "reviewed 2 / 13" in window.counts_label.text()  # refreshed from the store


@pytest.mark.slow
def test_a_failed_export_is_shown_and_changes_nothing(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with qtbot.waitSignal(window.session.reviews.export_failed, timeout=15000) as failed:
        window.export_labels(blocker / "labels.csv")
    assert failed.args[0] == blocker / "labels.csv"
    assert "Export failed" in window.statusBar().currentMessage()
    assert blocker.read_text() == "not a folder"


# ------------------------------------------------------------------------------ evaluation


@pytest.mark.slow
def test_the_evaluation_state_is_the_only_owner_of_threshold_and_source(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    window.action_map["toggle_metrics"].trigger()  # closed by default
    open_and_score(qtbot, window, kaggle_folder)
    panel, state = window.metrics_panel, window.session.evaluation.state
    qtbot.waitUntil(lambda: panel.report is not None and bool(panel.report.ids), timeout=15000)
    panel.set_threshold(0.3)  # the user, in the panel
    assert state.threshold == 0.3 and window.session.threshold == 0.3
    assert panel.report is state.report and state.report is not None
    assert state.report.threshold == 0.3
    state.set_threshold(0.7)  # the owner: the panel follows
    assert panel.threshold() == 0.7 and panel.threshold_slider.value() == 70
    assert panel.report is state.report
    # The panel draws reports; it has no way to write the store or build one itself.
    assert not hasattr(panel, "set_store") and not hasattr(panel, "set_data")


# ------------------------------------------------------------------------------ workers


def test_the_task_pool_brings_results_back_to_the_calling_thread(qtbot: QtBot) -> None:
    from pathview.workers import running_workers
    from pathview.workers.tasks import TaskPool

    owner = QObject()
    pool = TaskPool("test-tasks", 1, owner)
    gui = threading.get_ident()
    seen: list[tuple[str, object, int]] = []

    def work(emit: Any) -> int:
        for i in range(3):
            emit(i)
        return 42

    def fail(_emit: Any) -> int:
        raise ValueError("no")

    pool.start(
        work,
        lambda r: seen.append(("done", r, threading.get_ident())),
        emitted=lambda v: seen.append(("emitted", v, threading.get_ident())),
    )
    pool.start(
        fail,
        lambda r: seen.append(("done", r, 0)),
        lambda reason: seen.append(("failed", reason, threading.get_ident())),
    )
    qtbot.waitUntil(lambda: len(seen) == 5, timeout=5000)
    assert [(k, v) for k, v, _ in seen] == [
        ("emitted", 0),
        ("emitted", 1),
        ("emitted", 2),
        ("done", 42),
        ("failed", "ValueError: no"),
    ]
    assert {t for *_, t in seen} == {gui}
    pool.wait()
    assert running_workers() == []


@pytest.mark.slow
def test_the_worker_layer_loads_no_widgets() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pathview.workers; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6.QtWidgets', 'PySide6.QtGui',"
        " 'superqt', 'qtpy', 'pyqtgraph'))]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
