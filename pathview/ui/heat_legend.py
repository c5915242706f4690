"""The heat map's colour bar: what the colours (or the outline levels) mean, beside the patch.

The map is relative to the patch's own peak (0 = no evidence for the explained class, 1 = the
strongest evidence in this patch), so the scale runs from 0 to "peak" and says which class is
explained. In outline mode the contour levels are marked on the bar in their line colours.
Self-contained: it paints itself from what it is told and holds no other state.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QLinearGradient, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from pathview.explain import Explanation
from pathview.explain.contours import CONTOUR_LEVELS
from pathview.explain.overlay import DEFAULT_COLORMAP
from pathview.ui.patch_view import level_colour

BAR_WIDTH = 14
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
TEXT = QColor(225, 225, 225)
MUTED = QColor(130, 130, 130)
BACKGROUND = QColor(24, 24, 27)  # the patch view's: the bar reads as part of it


def legend_caption(explanation: Explanation | None) -> str:
    """The bar's title: which class the map shows evidence for ("" without a map)."""
    if explanation is None or explanation.map is None:
        return "no map"
    if not explanation.class_specific:
        return "activation\n(either class)"
    return f"evidence for\n{explanation.target}"


def tick_label(value: float) -> str:
    return "peak" if value == 1.0 else f"{value:.2g}"


class HeatLegend(QWidget):
    """A vertical colour bar with its scale (0 .. peak), the class explained and, in outline
    mode, the contour levels."""

    def __init__(self, parent: QWidget | None = None, colormap: str = DEFAULT_COLORMAP) -> None:
        super().__init__(parent)
        self.setObjectName("heatLegend")
        self._colormap = colormap
        self._caption = "no map"
        self._style = "blend"
        self._levels: tuple[float, ...] = CONTOUR_LEVELS
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setToolTip(
            "Heat-map scale: 0 = no evidence for the class named above, peak = the strongest "
            "evidence in this patch (each patch is scaled to its own peak)."
        )

    # -- what it shows --------------------------------------------------------------------
    @property
    def caption(self) -> str:
        return self._caption

    @property
    def heat_style(self) -> str:
        return self._style

    @property
    def levels(self) -> tuple[float, ...]:
        """The contour levels marked on the bar (none in blend mode)."""
        return self._levels if self._style == "contours" else ()

    def show_explanation(self, explanation: Explanation | None) -> None:
        self._caption = legend_caption(explanation)
        self.update()

    def set_style(self, style: str, levels: tuple[float, ...] = CONTOUR_LEVELS) -> None:
        self._style, self._levels = style, levels
        self.update()

    def colour_at(self, value: float) -> QColor:
        return level_colour(value, self._colormap)

    # -- painting ---------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        metrics = QFontMetrics(self.font())
        words = ("evidence for", "tumour", "normal", "activation", "(either class)")
        text = max(metrics.horizontalAdvance(s) for s in words)
        ticks = BAR_WIDTH + 10 + metrics.horizontalAdvance("peak") + 10
        return QSize(max(ticks, text + 12), 200)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.sizeHint().width(), 120)

    def bar_rect(self) -> QRectF:
        """Where the bar is painted (widget coordinates)."""
        metrics = QFontMetrics(self.font())
        top = 2 * metrics.height() + 16
        bottom = self.height() - metrics.height() // 2 - 8
        return QRectF(8, top, BAR_WIDTH, max(10, bottom - top))

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        active = self._caption != "no map"
        metrics = QFontMetrics(self.font())
        painter.setPen(TEXT if active else MUTED)
        painter.drawText(
            QRectF(4, 4, self.width() - 4, 2 * metrics.height() + 4),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
            self._caption,
        )
        bar = self.bar_rect()
        gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for value in (i / 16 for i in range(17)):
            colour = self.colour_at(value)
            if not active:
                grey = round(0.3 * colour.red() + 0.59 * colour.green() + 0.11 * colour.blue())
                colour = QColor(grey, grey, grey)
            gradient.setColorAt(value, colour)
        painter.fillRect(bar, gradient)
        painter.setPen(QPen(MUTED, 1))
        painter.drawRect(bar)
        painter.setPen(TEXT if active else MUTED)
        for value in TICKS:
            y = bar.bottom() - value * bar.height()
            painter.drawLine(int(bar.right()), int(y), int(bar.right()) + 4, int(y))
            painter.drawText(
                QRectF(bar.right() + 6, y - metrics.height() / 2, 60, metrics.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                tick_label(value),
            )
        for level in self.levels:  # the outline mode's lines, in their colours
            y = bar.bottom() - level * bar.height()
            painter.setPen(QPen(QColor(255, 255, 255), 4))
            painter.drawLine(int(bar.left()) - 3, int(y), int(bar.right()) + 3, int(y))
            painter.setPen(QPen(self.colour_at(level), 2))
            painter.drawLine(int(bar.left()) - 3, int(y), int(bar.right()) + 3, int(y))
        painter.end()
