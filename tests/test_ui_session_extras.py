"""Reviewer and session (issue 18 item 6): the reviewer is asked at start on the first run (not
by a verdict key) and remembered; blind mode hides P and/or the ground truth; a note per patch
and a "ground truth looks wrong" flag are stored with the review and exported with the log;
dwell time leaves idle stretches out; a splash and a busy bar while the app and model load."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from support.ui import MakeWindow, export, open_and_score

from pathview.triage import DwellClock, FilterSpec, SortKey
from pathview.ui.facts import HIDDEN
from pathview.ui.main_window import MainWindow
from pathview.ui.models import ProbabilityRole, SpreadRole, TruthRole
from pathview.ui.reviews import BLIND_VERDICT_TEXT, NO_REVIEWER_TEXT
from pathview.ui.scoring import ModelState, ModelStatus
from pathview.ui.settings import Preferences
from pathview.ui.splash import SPLASH_SIZE, splash_pixmap
from pathview.ui.status import LOADING_MODEL

NO = Qt.KeyboardModifier.NoModifier


def log_rows(qtbot: QtBot, window: MainWindow, out: Path) -> list[dict[str, str]]:
    export(qtbot, window, "log", out)
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def scored(qtbot: QtBot, make_window: MakeWindow, folder: Path, **kw: object) -> MainWindow:
    window = make_window(**kw)
    open_and_score(qtbot, window, folder)
    window.session.select_position(0)
    qtbot.waitUntil(lambda: window.session.current_info is not None, timeout=15000)
    window.grid.setFocus()
    qtbot.waitUntil(window.grid.hasFocus, timeout=2000)
    return window


# -- the reviewer -------------------------------------------------------------------------
@pytest.mark.slow
def test_the_reviewer_is_asked_at_start_on_the_first_run_only(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = scored(qtbot, make_window, kaggle_folder, reviewer="")
    s = window.session
    patch = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_U, NO)  # an accidental key asks nothing
    assert window.statusBar().currentMessage() == NO_REVIEWER_TEXT
    assert s.store is not None and s.store.current_states() == {}
    assert window.ask_reviewer_at_start()  # what the app does once the window is up
    assert s.reviewer == "Dr Asked" and window.prefs.reviewer == "Dr Asked"
    assert window.status.reviewer_label.text() == "Reviewer: Dr Asked"
    assert window.grid.hasFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_U, NO)
    assert s.store.current_states()[patch or ""].reviewer == "Dr Asked"
    asked: list[str] = []
    again = MainWindow(prefs=Preferences(), ask_reviewer=lambda _w, c: asked.append(c) or "X")
    try:
        assert again.session.reviewer == "Dr Asked"  # remembered in the config dir
        assert again.ask_reviewer_at_start() and asked == []  # not asked again
    finally:
        again.close()


# -- blind mode ---------------------------------------------------------------------------
@pytest.mark.slow
def test_blind_mode_hides_p_and_truth_and_leaves_the_label_keys(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = scored(qtbot, make_window, kaggle_folder)
    s = window.session
    s.folders.load_labels(kaggle_folder / "labels.csv")
    qtbot.waitUntil(lambda: max(s.table.truth) >= 0, timeout=10000)
    index = s.model.index(s.position)
    assert s.model.data(index, ProbabilityRole) is not None
    window.metrics_dock.show()
    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.P_TUMOUR))
    window.p_max.setValue(0.9)
    window.filter_bar.flush()
    assert s.selection.filter_spec.p_max == pytest.approx(0.9)
    window.action_map["blind_p"].trigger()
    assert s.sort_key is SortKey.NAME and s.selection.filter_spec == FilterSpec()  # no P order
    assert not window.p_min.isEnabled() and not window.disagree_check.isEnabled()
    assert window.truth_filter.isEnabled()
    assert s.view.options.hide_p and window.prefs.flag("blind_p", False)
    assert not window.histogram.isVisible() and not window.metrics_dock.isVisible()
    assert not window.action_map["toggle_metrics"].isEnabled()
    assert s.model.data(index, ProbabilityRole) is None
    assert s.model.data(index, SpreadRole) is None
    assert "P(tumour)" not in s.model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert window.review_panel.fact("probability") == HIDDEN
    assert not window.action_map["agree"].isEnabled()
    assert window.action_map["agree"].statusTip() == BLIND_VERDICT_TEXT
    qtbot.keyClick(window.grid, Qt.Key.Key_A, NO)
    assert window.statusBar().currentMessage() == BLIND_VERDICT_TEXT
    qtbot.keyClick(window.grid, Qt.Key.Key_T, NO)
    assert s.store is not None
    state = s.store.current_state(s.current_id or "")
    assert state is not None and state.label == 1 and state.p_tumour is None  # no P was shown
    assert "at P" not in window.review_panel.fact("review")
    truth_row = next(
        i
        for i in range(s.model.rowCount())
        if s.model.data(s.model.index(i), TruthRole) is not None
    )
    window.action_map["blind_truth"].trigger()
    assert not window.truth_filter.isEnabled()
    assert s.model.data(s.model.index(truth_row), TruthRole) is None
    assert window.review_panel.fact("truth") == HIDDEN
    window.action_map["blind_p"].trigger()
    window.action_map["blind_truth"].trigger()
    assert window.action_map["agree"].isEnabled()
    assert window.histogram.isVisible() and window.action_map["toggle_metrics"].isEnabled()
    assert window.p_min.isEnabled() and window.truth_filter.isEnabled()
    assert s.model.data(s.model.index(truth_row), TruthRole) is not None
    assert window.review_panel.fact("probability") != HIDDEN


# -- note and flag ------------------------------------------------------------------------
@pytest.mark.slow
def test_a_note_and_the_truth_flag_are_stored_with_the_review_and_exported(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    window = scored(qtbot, make_window, kaggle_folder)
    s = window.session
    notes = iter(["folded tissue", "folded tissue, ink"])
    window._ask_note = lambda _w, _pid, _current: next(notes)
    first = s.current_id
    window.action_map["note"].trigger()  # before any review: held for it
    assert s.reviews.notes.pending(first) == ("folded tissue", False)
    assert "saved with your review" in window.review_panel.fact("note")
    assert window.grid.hasFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_G, NO)
    assert s.reviews.notes.pending(first) == ("folded tissue", True)
    assert "flagged: looks wrong" in window.review_panel.fact("truth")
    qtbot.keyClick(window.grid, Qt.Key.Key_A, NO)
    assert s.reviews.notes.pending(first) is None
    assert s.store is not None
    state = s.store.current_state(first or "")
    assert state is not None and state.note == "folded tissue" and state.gt_flag
    assert window.review_panel.fact("note") == "folded tissue"
    s.select_position(1)
    second = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_D, NO)
    qtbot.keyClick(window.grid, Qt.Key.Key_G, NO)  # after the review: amends it
    s.select_patch(first or "")
    window.action_map["note"].trigger()  # changes the note of the review in effect
    state = s.store.current_state(first or "")
    assert state is not None and state.note == "folded tissue, ink" and state.gt_flag
    assert state.verdict is not None and state.verdict.value == "agree"
    rows = log_rows(qtbot, window, tmp_path / "log.csv")
    latest = {r["patch_id"]: r for r in rows}
    assert latest[first or ""]["note"] == "folded tissue, ink"
    assert latest[first or ""]["gt_flag"] == "1"
    assert latest[second or ""]["gt_flag"] == "1" and latest[second or ""]["verdict"] == "disagree"
    assert {r["view"] for r in rows} == {"single"}
    # Undo withdraws amendments one by one, latest first: the note, then the flag.
    window.undo()
    state = s.store.current_state(first or "")
    assert state is not None and state.note == "folded tissue"
    window.undo()
    state = s.store.current_state(second or "")
    assert state is not None and not state.gt_flag and state.verdict is not None


# -- dwell time ---------------------------------------------------------------------------
def test_the_dwell_clock_leaves_idle_stretches_out() -> None:
    now = [0.0]
    clock = DwellClock(lambda: now[0], idle_after=60.0)
    clock.start("a")
    for t in (5.0, 10.0, 40.0):  # input every few seconds: all of it counts
        now[0] = t
        clock.touch()
    assert clock.seconds() == pytest.approx(40.0)
    now[0] = 400.0  # away for six minutes: none of it counts
    clock.touch()
    now[0] = 410.0
    assert clock.seconds() == pytest.approx(50.0)
    now[0] = 500.0  # still away when the verdict would come: the last stretch is idle too
    assert clock.seconds() == pytest.approx(40.0)
    clock.start("b")
    assert clock.seconds() == 0.0


@pytest.mark.slow
def test_input_in_the_window_keeps_the_dwell_clock_running(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = scored(qtbot, make_window, kaggle_folder)
    clock = window.session.reviews.clock
    now = [1000.0]
    clock._now = lambda: now[0]
    clock.restart()
    now[0] = 1030.0
    with qtbot.waitSignal(window.session.selection.patch_changed, timeout=5000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Right, NO)  # another patch: its clock starts
    qtbot.wait(50)
    assert clock.seconds() == 0.0
    for _ in range(3):
        now[0] += 30.0
        qtbot.mouseMove(window.patch_view)
        qtbot.keyClick(window.grid, Qt.Key.Key_B, NO)  # toggles the box: input, same patch
    assert clock.seconds() == pytest.approx(90.0)
    now[0] += 600.0
    qtbot.keyClick(window.grid, Qt.Key.Key_U, NO)
    store = window.session.store
    assert store is not None
    (event,) = [e for e in store.events() if e.kind == "review"]
    assert event.seconds_spent == pytest.approx(90.0)  # ten minutes away left out


# -- start-up -----------------------------------------------------------------------------
def test_the_splash_is_drawn(qtbot: QtBot) -> None:
    pixmap = splash_pixmap("1.2.3")
    image = pixmap.toImage()
    assert (image.width(), image.height()) == SPLASH_SIZE
    assert image.pixelColor(10, SPLASH_SIZE[1] - 2).name() == "#c832a0"  # the bottom strip
    assert image.pixelColor(SPLASH_SIZE[0] - 5, 5).name() == "#28282c"  # the background
    assert QApplication.instance() is not None


@pytest.mark.slow
def test_the_status_bar_shows_the_model_loading(make_window: MakeWindow) -> None:
    window = make_window(loader=None)
    status = window.status
    status.show_model(ModelStatus(ModelState.LOADING))
    assert status.progress.isVisible() and status.progress.maximum() == 0
    assert status.progress.format() == LOADING_MODEL
    status.show_model(ModelStatus(ModelState.FAILED, reason="no weights"))
    assert not status.progress.isVisible()
