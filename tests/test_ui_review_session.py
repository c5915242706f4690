"""A review session you can trust (issue 18 items 2 and 6): with no model agree/disagree are
disabled and say why, the reviewer is always shown, auto-advance has a shortcut and an
indicator, the Review menu's mnemonics are unique, and bundled folders keep their stores in the
user data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from support.fakes import failing_loader
from support.ui import MakeWindow, open_and_score, state_of

from pathview.ui.main_window import MainWindow
from pathview.ui.reviews import NO_MODEL_VERDICT_TEXT

NO = Qt.KeyboardModifier.NoModifier


def open_listed(qtbot: QtBot, window: MainWindow, folder: Path) -> str:
    """Open ``folder``, select its first patch and return its id."""
    s = window.session
    with qtbot.waitSignal(s.listing_finished, timeout=10000):
        window.open_folder(folder)
    s.select_position(0)
    qtbot.waitUntil(lambda: s.current_info is not None, timeout=15000)
    assert s.current_id is not None
    return s.current_id


@pytest.mark.parametrize("loader", [None, failing_loader])
def test_without_a_model_agree_and_disagree_are_disabled_and_say_why(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, loader: object
) -> None:
    window = make_window(loader=loader)
    patch = open_listed(qtbot, window, kaggle_folder)
    actions = window.action_map
    assert not actions["agree"].isEnabled() and not actions["disagree"].isEnabled()
    assert actions["unsure"].isEnabled()
    assert "agree/disagree need the model's call" in actions["agree"].statusTip()
    window.grid.setFocus()
    qtbot.waitUntil(window.grid.hasFocus, timeout=2000)
    for key in (Qt.Key.Key_A, Qt.Key.Key_D):
        window.statusBar().clearMessage()
        qtbot.keyClick(window.grid, key, NO)  # through the key router
        assert state_of(window, patch) is None
        message = window.statusBar().currentMessage()
        assert "agree/disagree need the model's call" in message
        assert message.startswith("No model" if loader else "The model is still loading")
        assert window.session.current_id == patch  # the grid did not search for "a"
    window.agree()  # a direct call is refused by the review controller too
    assert state_of(window, patch) is None
    assert window.statusBar().currentMessage() == NO_MODEL_VERDICT_TEXT
    qtbot.keyClick(window.grid, Qt.Key.Key_U, NO)
    assert state_of(window, patch) == "unsure"


def test_with_a_model_agree_and_disagree_work(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)
    qtbot.waitUntil(lambda: s.current_info is not None, timeout=15000)
    patch = s.current_id
    assert window.action_map["agree"].isEnabled() and window.action_map["disagree"].isEnabled()
    assert window.action_map["agree"].statusTip() == ""
    window.grid.setFocus()
    qtbot.waitUntil(window.grid.hasFocus, timeout=2000)
    qtbot.keyClick(window.grid, Qt.Key.Key_A, NO)
    assert state_of(window, patch) == "agree"
    qtbot.keyClick(window.grid, Qt.Key.Key_D, NO)
    assert state_of(window, patch) == "disagree"


def test_the_reviewer_is_always_shown_in_the_status_bar(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window(loader=None, reviewer="")
    label = window.status.reviewer_label
    assert label.isVisible() and label.text() == "No reviewer yet"
    window.action_map["set_reviewer"].trigger()  # the dialog answers "Dr Asked"
    assert label.text() == "Reviewer: Dr Asked"
    assert window.prefs.reviewer == "Dr Asked"
    window.session.reviewer = "Dr Other"  # however it changes
    assert label.text() == "Reviewer: Dr Other"
    again = make_window(loader=None)  # a remembered reviewer is shown from the start
    assert again.status.reviewer_label.text() == "Reviewer: Dr Test"
