"""Keys you can trust (issue 18 item 1): every review and navigation shortcut works from every
focusable widget of the main window, text fields keep what is typed and Escape leaves them,
controls and dialogs give the keys back to the grid, the P range applies when typing pauses and
keeps the selection, a new sort goes to the top and an opened folder starts at its first tile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from support.ui import MakeWindow, open_and_score, state_of

from pathview.io import list_patches
from pathview.triage import SortKey
from pathview.ui.actions import ACTIONS
from pathview.ui.main_window import MainWindow

Key = tuple[Qt.Key, Qt.KeyboardModifier]
NO = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def label_of(window: MainWindow, patch_id: str | None) -> int | None:
    """The label fixed by the review in effect on ``patch_id`` (None: none or unsure)."""
    store = window.session.store
    assert store is not None and patch_id is not None
    state = store.current_state(patch_id)
    return None if state is None else state.label


def focusable_widgets(window: MainWindow) -> list[QWidget]:
    """Every widget of the window that can take the keyboard focus (a spin box stands for
    its line edit)."""
    found = []
    for w in window.findChildren(QWidget):
        if w.focusPolicy() == Qt.FocusPolicy.NoFocus or not w.isVisible() or not w.isEnabled():
            continue
        if w.window() is not window or isinstance(w.parentWidget(), QAbstractSpinBox):
            continue
        if w.focusProxy() is not None:
            continue
        found.append(w)
    return found


def columns(window: MainWindow) -> int:
    grid, model = window.grid, window.session.model
    top = grid.visualRect(model.index(0)).top()
    return sum(grid.visualRect(model.index(i)).top() == top for i in range(model.rowCount()))


def press(qtbot: QtBot, widget: QWidget, key: Key) -> None:
    qtbot.keyClick(widget, key[0], key[1])


def test_every_action_of_the_review_menu_that_moves_or_reviews_is_routed() -> None:
    routed = {spec.name for spec in ACTIONS if spec.anywhere}
    assert routed >= {"agree", "disagree", "unsure", "undo", "next", "previous"}
    assert routed >= {"next_unreviewed", "row_down", "row_up", "page_down", "page_up"}
    assert routed >= {"first_patch", "last_patch", "label_tumour", "label_normal", "gt_flag"}


@pytest.mark.slow
def test_every_shortcut_works_from_every_focusable_widget(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    window.metrics_dock.show()  # its tables and controls are focusable widgets too
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    count, cols = s.model.rowCount(), columns(window)
    assert count == 13 and 2 <= cols <= count // 3  # at least three rows of tiles
    start = cols + 1  # second row, second column: every move has somewhere to go
    moves: dict[Key, Callable[[int], bool]] = {
        (Qt.Key.Key_Right, NO): lambda p: p == start + 1,
        (Qt.Key.Key_J, NO): lambda p: p == start + 1,
        (Qt.Key.Key_Left, NO): lambda p: p == start - 1,
        (Qt.Key.Key_K, NO): lambda p: p == start - 1,
        (Qt.Key.Key_N, SHIFT): lambda p: p == start + 1,  # nothing is reviewed
        (Qt.Key.Key_Down, NO): lambda p: p == start + cols,
        (Qt.Key.Key_Up, NO): lambda p: p == start - cols,
        (Qt.Key.Key_Home, NO): lambda p: p == 0,
        (Qt.Key.Key_End, NO): lambda p: p == count - 1,
        (Qt.Key.Key_PageDown, NO): lambda p: p > start and p + cols >= count,  # its last row
        (Qt.Key.Key_PageUp, NO): lambda p: p < cols,
    }
    verdicts = {Qt.Key.Key_A: "agree", Qt.Key.Key_D: "disagree", Qt.Key.Key_U: "unsure"}
    labels = {Qt.Key.Key_T: 1, Qt.Key.Key_N: 0}
    field_keys = {  # what a number field keeps: editing keys are its own, letters are not
        Qt.Key.Key_Right, Qt.Key.Key_Left, Qt.Key.Key_Down, Qt.Key.Key_Up,
        Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp,
    }  # fmt: skip
    widgets = focusable_widgets(window)
    kinds = {type(w).__name__ for w in widgets}
    assert {"PatchGrid", "QComboBox", "QDoubleSpinBox", "QCheckBox", "QSlider"} <= kinds
    assert "PatchView" in kinds and window.grid in widgets

    def focus(widget: QWidget) -> None:
        s.select_position(start)
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus, timeout=2000)

    for widget in widgets:
        where = f"{type(widget).__name__} {widget.objectName() or id(widget)}"
        number_field = isinstance(widget, QAbstractSpinBox)
        before = (s.sort_key, s.selection.filter_spec, s.view.options)
        for key, verdict in verdicts.items():
            focus(widget)
            patch = s.current_id
            press(qtbot, widget, (key, NO))
            assert state_of(window, patch) == verdict, where
            assert s.current_id == patch, where  # auto-advance is off
            press(qtbot, widget, (Qt.Key.Key_Z, CTRL))
            if number_field:  # Ctrl+Z is the field's own undo
                assert state_of(window, patch) == verdict, where
                window.undo()
            assert state_of(window, patch) is None, where
        for key, label in labels.items():
            focus(widget)
            patch = s.current_id
            press(qtbot, widget, (key, NO))
            assert label_of(window, patch) == label, where
            assert s.current_id == patch, where
            window.undo()
            assert label_of(window, patch) is None and state_of(window, patch) is None, where
        focus(widget)
        patch = s.current_id
        press(qtbot, widget, (Qt.Key.Key_G, NO))  # ground truth looks wrong: held for a review
        assert s.reviews.notes.pending(patch) == ("", True), where
        press(qtbot, widget, (Qt.Key.Key_G, NO))
        assert s.reviews.notes.pending(patch) == ("", False), where
        for key, expected in moves.items():
            focus(widget)
            value = widget.value() if isinstance(widget, QAbstractSpinBox) else None
            press(qtbot, widget, key)
            if number_field and key[0] in field_keys:
                assert s.position == start and widget.hasFocus(), where
                widget.setValue(value)  # Up/PgUp stepped it: put it back
                window.filter_bar.flush()
            else:
                assert expected(s.position), f"{where}: {key[0].name} -> {s.position}"
                assert window.grid.currentIndex().row() == s.position, where
        # The keys did not change a sort, a filter or an overlay on their way (Home in the Sort
        # combo used to reset the sort to "name").
        assert (s.sort_key, s.selection.filter_spec, s.view.options) == before, where
        assert not QApplication.activePopupWidget()


@pytest.mark.slow
def test_text_fields_keep_what_is_typed_and_escape_returns_to_the_grid(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    note = QLineEdit()  # a note field, as the reviewer's notes will be
    window.filter_bar.layout().addWidget(note)
    note.show()
    cancelled: list[bool] = []
    window.action_map["cancel"].triggered.connect(lambda: cancelled.append(True))
    s.select_position(2)
    patch = s.current_id
    note.setFocus()
    qtbot.waitUntil(note.hasFocus, timeout=2000)
    qtbot.keyClicks(note, "and uk")
    for key in (Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_Left, Qt.Key.Key_Right):
        qtbot.keyClick(note, key)
    assert note.text() == "and uk"
    assert s.current_id == patch and state_of(window, patch) is None
    qtbot.keyClick(note, Qt.Key.Key_Escape)
    assert window.grid.hasFocus() and not cancelled
    qtbot.keyClick(window.grid, Qt.Key.Key_A)  # the keys are the grid's again
    assert state_of(window, patch) == "agree"

    # The number fields keep the number typed; A in one records a verdict; Escape leaves it.
    box = window.p_min
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    box.selectAll()
    qtbot.keyClicks(box, "0.1")
    assert box.text().startswith("0.1")
    qtbot.keyClick(box, Qt.Key.Key_D)
    assert state_of(window, patch) == "disagree" and box.hasFocus()
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert window.grid.hasFocus() and not cancelled
    assert box.value() == pytest.approx(0.1)


@pytest.mark.slow
def test_the_p_range_applies_when_typing_pauses_and_keeps_the_selection(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    table = s.table
    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.P_TUMOUR))
    # A patch near the middle of the P range: it passes 0.2..0.9 but not every prefix typed.
    scored = [s.model.table_row(i) for i in range(s.model.rowCount())]
    middle = [r for r in scored if 0.25 < table.p[r] < 0.85]
    assert middle, "the fixture has patches with P between 0.25 and 0.85"
    keep = table.ids[middle[-1]]
    assert s.select_patch(keep)
    edits: list[object] = []
    window.filter_bar.filter_edited.connect(edits.append)
    box = window.p_max
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    box.selectAll()
    qtbot.keyClicks(box, "0.9")  # passes through 0 and 0.: each would hide the patch
    assert edits == [] and s.current_id == keep and s.selection.filter_spec.p_max == 1.0
    qtbot.waitUntil(lambda: s.selection.filter_spec.p_max == pytest.approx(0.9), timeout=3000)
    assert len(edits) == 1  # one re-filter for the whole number
    assert s.current_id == keep and box.hasFocus()  # typing goes on until Return or Escape
    assert window.grid.currentIndex().row() == s.position
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert window.grid.hasFocus()


@pytest.mark.slow
def test_a_new_sort_goes_to_the_top_and_gives_the_keys_back_to_the_grid(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(s.model.rowCount() - 1)
    combo: QComboBox = window.sort_combo
    combo.setFocus()
    index = list(SortKey).index(SortKey.P_TUMOUR)
    combo.setCurrentIndex(index)  # what choosing from the popup does
    combo.activated.emit(index)
    assert s.sort_key is SortKey.P_TUMOUR and s.position == 0
    assert window.grid.currentIndex().row() == 0
    assert window.grid.verticalScrollBar().value() == 0
    assert window.grid.hasFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Home)  # used to reset the sort to "name"
    assert s.sort_key is SortKey.P_TUMOUR


@pytest.mark.slow
def test_the_reviewer_dialog_gives_the_keys_back_to_the_grid(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(reviewer="")
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)
    patch = s.current_id
    window.sort_combo.setFocus()
    qtbot.waitUntil(window.sort_combo.hasFocus, timeout=2000)
    qtbot.keyClick(window.sort_combo, Qt.Key.Key_U)  # no reviewer: nothing asked, nothing kept
    assert s.reviewer == "" and state_of(window, patch) is None
    assert "Choose a reviewer first" in window.statusBar().currentMessage()
    window.action_map["set_reviewer"].trigger()  # the dialog answers "Dr Asked"
    assert s.reviewer == "Dr Asked" and window.grid.hasFocus()
    window.sort_combo.setFocus()
    qtbot.waitUntil(window.sort_combo.hasFocus, timeout=2000)
    qtbot.keyClick(window.sort_combo, Qt.Key.Key_A)
    assert state_of(window, patch) == "agree"
    window.action_map["set_reviewer"].trigger()
    assert window.grid.hasFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Down)  # moves in the grid, not the sort
    assert s.sort_key is SortKey.NAME and s.position == columns(window)


@pytest.mark.slow
def test_an_opened_folder_starts_at_the_first_tile_of_its_order(
    qtbot: QtBot,
    make_window: MakeWindow,
    kaggle_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(loader=None)
    s = window.session
    lister = s.folders.lister
    monkeypatch.setattr(lister, "list_folder", lambda _folder: None)  # batches sent below
    s.open_folder(kaggle_folder)
    refs = list_patches(kaggle_folder)
    refs.reverse()  # listed in another order than by name, as a big folder is
    lister.listing_progressed.emit(0, refs[:5])
    qtbot.waitUntil(lambda: s.current_id is not None, timeout=2000)
    assert s.current_id == refs[0].id  # the first tile while the listing streams in
    lister.listing_progressed.emit(0, refs[5:])
    lister.listing_finished.emit(0, len(refs))
    first = min(r.id for r in refs)
    assert s.model.data(s.model.index(0), Qt.ItemDataRole.DisplayRole) is not None
    assert s.current_id == first and s.position == 0
    assert window.grid.currentIndex().row() == 0
    qtbot.waitUntil(lambda: s.current_info is not None, timeout=15000)
    assert s.current_info is not None and s.current_info.patch_id == first


@pytest.mark.slow
def test_a_patch_chosen_while_listing_is_kept(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(loader=None)
    s = window.session
    lister = s.folders.lister
    monkeypatch.setattr(lister, "list_folder", lambda _folder: None)
    s.open_folder(kaggle_folder)
    refs = list_patches(kaggle_folder)
    refs.reverse()
    lister.listing_progressed.emit(0, refs)
    qtbot.waitUntil(lambda: s.current_id is not None, timeout=2000)
    s.select_position(3)  # the user moved on before the listing finished
    chosen = s.current_id
    lister.listing_finished.emit(0, len(refs))
    assert s.current_id == chosen


@pytest.mark.parametrize(
    ("action", "dialog"),
    [
        ("open_folder", "getExistingDirectory"),
        ("load_model", "getExistingDirectory"),
        ("load_labels", "getOpenFileName"),
        ("import_reviews", "getOpenFileName"),
        ("export_labels", "getSaveFileName"),
    ],
)
@pytest.mark.slow
def test_file_dialogs_give_the_keys_back_to_the_grid(
    qtbot: QtBot,
    make_window: MakeWindow,
    kaggle_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    dialog: str,
) -> None:
    from PySide6.QtWidgets import QFileDialog

    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    asked: list[str] = []

    def cancelled(*_args: object) -> object:  # the user closes the dialog
        asked.append(dialog)
        return "" if dialog == "getExistingDirectory" else ("", "")

    monkeypatch.setattr(QFileDialog, dialog, cancelled)
    window.truth_filter.setFocus()
    qtbot.waitUntil(window.truth_filter.hasFocus, timeout=2000)
    window.action_map[action].trigger()
    assert asked == [dialog] and window.grid.hasFocus()


@pytest.mark.slow
def test_the_filter_controls_keep_the_selection_and_give_the_keys_back(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.folders.load_labels(kaggle_folder / "labels.csv")
    qtbot.waitUntil(lambda: max(s.table.truth) >= 0, timeout=10000)
    keep = next(r for r in range(len(s.table)) if s.table.truth[r] == 1)
    assert s.select_patch(s.table.ids[keep])
    chosen = s.current_id
    for combo, index in ((window.truth_filter, 2), (window.review_filter, 0)):
        combo.setFocus()
        qtbot.waitUntil(combo.hasFocus, timeout=2000)
        combo.setCurrentIndex(index)  # what choosing from the popup does
        combo.activated.emit(index)
        assert s.current_id == chosen, combo  # still shown: still selected
        assert window.grid.currentIndex().row() == s.position
        assert window.grid.hasFocus(), combo
    assert s.selection.filter_spec.truth == 1
    check = window.disagree_check
    check.setFocus()
    qtbot.waitUntil(check.hasFocus, timeout=2000)
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    assert check.isChecked() and window.grid.hasFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Home)
    assert s.position == 0 and s.selection.filter_spec.disagreements_only
