"""The app under a store it cannot write at the moment: a message, never an exception."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from support.ui import MakeWindow, open_and_score

from pathview.core import Verdict
from pathview.store import reviews as reviews_module


@pytest.mark.slow
def test_a_verdict_on_a_locked_store_is_a_message_and_nothing_changes(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reviews_module, "BUSY_TIMEOUT_MS", 200)
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)
    assert s.store is not None
    messages: list[str] = []
    s.message.connect(messages.append)
    other = sqlite3.connect(s.store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        assert s.record(Verdict.AGREE) is False
        assert s.undo() is None
    finally:
        other.execute("COMMIT")
        other.close()
    assert any("not saved" in m and "busy" in m for m in messages), messages
    assert any("Nothing was undone" in m for m in messages), messages
    assert s.store.events() == []
    assert s.record(Verdict.AGREE) is True  # once the lock is gone, reviewing goes on
    assert len(s.store.events()) == 1
