"""The start-up splash: on screen while the app's modules (PyTorch among them) are imported,
so starting pathview never shows a blank or black window. Imports nothing heavy."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

SPLASH_SIZE = (440, 180)


def splash_pixmap(version: str) -> QPixmap:
    """The splash picture, drawn (no image file to ship)."""
    w, h = SPLASH_SIZE
    pixmap = QPixmap(w, h)
    pixmap.fill(QColor(40, 40, 44))
    painter = QPainter(pixmap)
    painter.setPen(QColor(235, 235, 235))
    font = QFont(painter.font())
    font.setPointSizeF(22)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(QRect(24, 24, w - 48, 50), Qt.AlignmentFlag.AlignLeft, "pathview")
    font.setPointSizeF(10)
    font.setBold(False)
    painter.setFont(font)
    painter.setPen(QColor(180, 180, 190))
    painter.drawText(
        QRect(24, 76, w - 48, 40),
        Qt.AlignmentFlag.AlignLeft,
        f"version {version} · H&E patch review",
    )
    painter.fillRect(QRect(0, h - 6, w, 6), QColor(200, 50, 160))
    painter.end()
    return pixmap


def show_splash(app: QApplication, version: str) -> QSplashScreen:
    """Show the splash now (painted before the caller goes on importing)."""
    splash = QSplashScreen(splash_pixmap(version))
    splash.show()
    show_step(app, splash, "Starting…")
    return splash


def show_step(app: QApplication, splash: QSplashScreen, text: str) -> None:
    splash.showMessage(
        text, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, QColor(235, 235, 235)
    )
    app.processEvents()


__all__ = ["show_splash", "show_step", "splash_pixmap"]
