"""Keys you can trust: the review and navigation shortcuts of the action table work wherever
the focus is in the main window, except while typing in a text field; Escape leaves a field.

One application event filter (:class:`KeyRouter`), installed once per window, decides which
widget a key belongs to. Qt asks the focus widget first (a ``ShortcutOverride`` event) whether
it wants a key that is also a shortcut; the router answers for it:

- in a text field (a line edit, a spin box's line edit, a text edit) the field keeps what it
  can type or edit with (text, Backspace, the cursor keys, Home/End, anything with Ctrl ...);
  a spin box keeps only the characters of a number, so A, D, U ... still record verdicts;
- Escape in a text field moves the focus back to the grid (and does not cancel background work);
- anywhere else in the window (combos, check boxes, sliders, the grid, the patch view, tables)
  the keys of the actions marked ``anywhere`` in :mod:`pathview.ui.actions` are shortcuts;
- the key of such an action that is disabled (agree/disagree with no model) is swallowed and
  ``refused`` says which action, so the window can tell why nothing happened.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QEvent, QKeyCombination, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

NUMBER_TEXT = frozenset("0123456789.,-+eE ")
EDITING_KEYS = frozenset(
    {
        Qt.Key.Key_Backspace,
        Qt.Key.Key_Delete,
        Qt.Key.Key_Left,
        Qt.Key.Key_Right,
        Qt.Key.Key_Up,
        Qt.Key.Key_Down,
        Qt.Key.Key_Home,
        Qt.Key.Key_End,
        Qt.Key.Key_PageUp,
        Qt.Key.Key_PageDown,
        Qt.Key.Key_Return,
        Qt.Key.Key_Enter,
        Qt.Key.Key_Tab,
        Qt.Key.Key_Backtab,
    }
)
TYPING_MODIFIERS = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier


def text_field(widget: QWidget | None) -> QWidget | None:
    """The text field ``widget`` types into (a spin box for its line edit), else None."""
    if isinstance(widget, QAbstractSpinBox | QTextEdit | QPlainTextEdit):
        return widget
    if isinstance(widget, QLineEdit):
        parent = widget.parentWidget()
        return parent if isinstance(parent, QAbstractSpinBox) else widget
    return None


def field_keeps(field: QWidget, event: QKeyEvent) -> bool:
    """Whether a key pressed in text field ``field`` is typing or editing (not a shortcut)."""
    if event.modifiers() & ~TYPING_MODIFIERS:
        return True  # Ctrl+Z, Ctrl+A ... are the field's own
    if event.key() in EDITING_KEYS:
        return True
    text = event.text()
    if not text or not text.isprintable():
        return False
    if isinstance(field, QAbstractSpinBox):
        return all(ch in NUMBER_TEXT for ch in text)
    return True


class KeyRouter(QObject):
    """Routes the ``anywhere`` shortcuts and Escape for one window (see the module docstring)."""

    refused = Signal(QAction)  # the key of a disabled action was pressed

    def __init__(self, window: QWidget, grid: QWidget, actions: Iterable[QAction]) -> None:
        super().__init__(window)
        self._window = window
        self._grid = grid
        self._actions = {
            k.toString(): action
            for action in actions
            for k in action.shortcuts()
            if not k.isEmpty()
        }
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)
        window.destroyed.connect(lambda _obj=None: app.removeEventFilter(self))

    def focus_grid(self) -> None:
        """Give the keyboard back to the grid (after a combo, a filter, a dialog)."""
        self._grid.setFocus(Qt.FocusReason.OtherFocusReason)

    def action_for(self, event: QKeyEvent) -> QAction | None:
        """The routed action whose shortcut ``event`` is, if any."""
        combination = event.keyCombination()
        modifiers = combination.keyboardModifiers() & ~Qt.KeyboardModifier.KeypadModifier
        sequence = QKeySequence(QKeyCombination(modifiers, combination.key()))
        return self._actions.get(sequence.toString())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.WindowActivate and obj is self._window:
            if self._window.focusWidget() is None and self._grid.isVisible():
                self.focus_grid()  # the first widget of the tab chain would get it otherwise
            return False
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        if not isinstance(obj, QWidget) or not isinstance(event, QKeyEvent):
            return False
        if obj is not QApplication.focusWidget() or obj.window() is not self._window:
            return False
        field = text_field(obj)
        if field is not None and event.key() == Qt.Key.Key_Escape and not event.modifiers():
            if kind == QEvent.Type.ShortcutOverride:
                event.accept()  # the field's: not the Cancel shortcut
            else:
                self.focus_grid()
            return True
        action = self.action_for(event)
        if action is None or (field is not None and field_keeps(field, event)):
            if action is not None and kind == QEvent.Type.ShortcutOverride:
                event.accept()  # the field's (a line edit does not claim Up/Down itself)
                return True
            return False
        if action.isEnabled():
            if kind == QEvent.Type.ShortcutOverride:
                event.ignore()  # not the widget's: the shortcut fires
                return True
            return False
        if kind == QEvent.Type.KeyPress:  # a disabled action's key: not the widget's either
            self.refused.emit(action)
            return True
        return False


__all__ = ["KeyRouter", "field_keeps", "text_field"]
