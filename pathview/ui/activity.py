"""Watches the window's input so the dwell clock can leave idle time out (issue 18 item 6)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

#: What counts as input. A key that is a shortcut reaches the app as a ShortcutOverride (then
#: the shortcut), not as a KeyPress.
INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.ShortcutOverride,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.HoverMove,
        QEvent.Type.Wheel,
    }
)


class InputActivity(QObject):
    """Calls ``touched`` for each key press, click, wheel turn or mouse move in the app."""

    def __init__(self, touched: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._touched = touched
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)
        parent.destroyed.connect(lambda _obj=None: app.removeEventFilter(self))

    def eventFilter(self, _obj: QObject, event: QEvent) -> bool:
        if event.type() in INPUT_EVENTS:
            self._touched()
        return False


__all__ = ["InputActivity"]
