"""Showing a dock without widening the window: docked beside the panes it would force the
window wider than it is (a 1024 px screen), so there it opens as a window of its own."""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget, QMainWindow


def show_dock(w: QMainWindow, dock: QDockWidget, on: bool, width: int) -> None:
    """Show or hide ``dock``; shown where docking does not fit, it floats, ``width`` wide."""
    if on and not dock.isFloating():
        central = w.centralWidget()
        panes = central.minimumSizeHint().width() if central is not None else 0
        needed = panes + dock.minimumSizeHint().width()
        if needed > w.width():
            dock.setFloating(True)
            room = w.screen().availableGeometry() if w.screen() is not None else None
            height = min(720, room.height() - 48) if room is not None else 720
            dock.resize(width, height)
    dock.setVisible(on)
