"""A review session you can trust (issue 18 items 2 and 6): with no model agree/disagree are
disabled and say why, the reviewer is always shown, auto-advance has a shortcut and an
indicator, the Review menu's mnemonics are unique, and bundled folders keep their stores in the
user data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from support.fakes import failing_loader
from support.ui import MakeWindow, open_and_score, state_of

import pathview.store.reviews as reviews_module
from pathview.core import Verdict
from pathview.core.resources import demo_folder
from pathview.store import ReviewInput, locate_store, open_store_for_folder
from pathview.store.reviews import fallback_store_path, is_bundled, store_path_for_folder
from pathview.ui.actions import ACTIONS, MENUS
from pathview.ui.main_window import MainWindow
from pathview.ui.reviews import NO_MODEL_VERDICT_TEXT

NO = Qt.KeyboardModifier.NoModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def mnemonic(text: str) -> str | None:
    """The letter after a single ``&`` in a menu text (``&&`` is a literal ampersand)."""
    plain = text.replace("&&", "")
    at = plain.find("&")
    return plain[at + 1].lower() if 0 <= at < len(plain) - 1 else None


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
@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_auto_advance_has_a_shortcut_and_an_indicator(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s, action = window.session, window.action_map["auto_advance"]
    indicator = window.status.auto_advance_label
    assert not action.isChecked() and not indicator.isVisible()
    window.grid.setFocus()
    qtbot.waitUntil(window.grid.hasFocus, timeout=2000)
    qtbot.keyClick(window.grid, Qt.Key.Key_A, CTRL_SHIFT)
    assert action.isChecked() and s.reviews.auto_advance
    assert indicator.isVisible() and indicator.text() == "Auto-advance"
    s.select_position(0)
    first = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_U, NO)
    assert state_of(window, first) == "unsure" and s.current_id != first  # it advanced
    qtbot.keyClick(window.grid, Qt.Key.Key_A, CTRL_SHIFT)
    assert not action.isChecked() and not s.reviews.auto_advance
    assert not indicator.isVisible()
    assert window.prefs.flag("auto_advance", True) is False  # remembered off


def test_auto_advance_shortcut_clashes_with_no_other() -> None:
    keys = [k for spec in ACTIONS for k in spec.shortcuts]
    assert "Ctrl+Shift+A" in keys and len(keys) == len(set(keys))


@pytest.mark.parametrize("menu", MENUS)
@pytest.mark.slow
def test_the_mnemonics_of_each_menu_are_unique(make_window: MakeWindow, menu: str) -> None:
    window = make_window(loader=None)
    (bar_action,) = [a for a in window.menuBar().actions() if a.text() == menu]
    qmenu = bar_action.menu()
    letters = [mnemonic(a.text()) for a in qmenu.actions() if not a.isSeparator()]
    assert None not in letters, letters
    assert len(letters) == len(set(letters)), letters
    assert len({mnemonic(m) for m in MENUS}) == len(MENUS)


def test_the_bundled_demo_keeps_its_store_in_the_user_data_directory() -> None:
    demo = demo_folder()
    had_store_dir = (demo / ".pathview").exists()
    path = store_path_for_folder(demo)
    assert is_bundled(demo) and path == fallback_store_path(demo)
    assert path.is_relative_to(Path(os.environ["PATHVIEW_DATA_DIR"]) / "stores")
    assert (demo / ".pathview").exists() == had_store_dir  # not even probed for writing


def test_a_folder_inside_the_resources_counts_as_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = tmp_path / "site-packages" / "pathview" / "resources"
    bundled = resources / "demo"
    bundled.mkdir(parents=True)  # writable, as in a user's own virtual environment
    monkeypatch.setattr(reviews_module, "resources_dir", lambda: resources)
    with open_store_for_folder(bundled) as store:
        store.record(ReviewInput("a", Verdict.UNSURE, "ann", relpath="a.tif"))
    assert store.path == fallback_store_path(bundled)
    assert store.path.is_relative_to(Path(os.environ["PATHVIEW_DATA_DIR"]))
    assert not (bundled / ".pathview").exists()
    assert locate_store(bundled) == store.path  # the command line finds it
    own = tmp_path / "my-patches"  # a folder of the user's own is unchanged
    own.mkdir()
    assert not is_bundled(own)
    assert store_path_for_folder(own) == own / ".pathview" / "reviews.sqlite"
