"""The slide window's tile panel: the current tile at 3x with its centre box (and its Grad-CAM
with the heat map's colour bar, :class:`~pathview.ui.heat_legend.HeatLegend`), what is known
about it, and the explanation method and layer, with the folder panel's readable names.

What the panel says is formatted by a pure function, :func:`format_tile_facts`, from the
folder panel's pieces: the review as recorded (:func:`pathview.ui.facts.review_text`), the
quality measures against their thresholds (:func:`pathview.ui.quality_facts.format_quality`)
and the explanation's names (:func:`pathview.ui.facts.explanation_text`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pathview.core import CENTRE_BOX
from pathview.explain import Explanation
from pathview.slide import TileGrid
from pathview.store import PatchState
from pathview.ui.facts import HIDDEN, explanation_text, review_text
from pathview.ui.heat_legend import HeatLegend
from pathview.ui.quality_facts import format_quality
from pathview.ui.review_panel import fill_choices, show_key
from pathview.ui.slide_view import rgb_image

#: How much larger than the model's input the current tile is drawn.
TILE_ZOOM = 3


def tile_picture(pixels: np.ndarray, zoom: int = TILE_ZOOM) -> QPixmap:
    """The tile ``zoom`` times larger with its centre box outlined."""
    pixmap = QPixmap.fromImage(rgb_image(pixels)).scaled(
        pixels.shape[1] * zoom, pixels.shape[0] * zoom
    )
    x0, y0, x1, y1 = (v * pixels.shape[0] * zoom // 96 for v in CENTRE_BOX)
    painter = QPainter(pixmap)
    painter.setPen(QPen(QColor(0, 200, 255), 2))
    painter.drawRect(x0, y0, x1 - x0, y1 - y0)
    painter.end()
    return pixmap


@dataclass(frozen=True)
class TileFacts:
    """What the panel is told about the current tile."""

    row: int
    p: float  # NaN: not scored
    state: PatchState | None  # the review in effect
    measures: Mapping[str, float] | None  # quality (None: not measured yet)
    explanation: Explanation | None  # None: not shown or not computed yet
    heatmap: bool  # the Grad-CAM is asked for (G / H)
    has_model: bool
    hide_p: bool


def _lines(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def format_tile_facts(
    facts: TileFacts,
    grid: TileGrid,
    slide_mpp: float,
    method_names: Mapping[str, str] | None = None,
    layer_names: Mapping[str, str] | None = None,
) -> str:
    """The panel's text (rich text) for ``facts`` about a tile of ``grid``."""
    row, p = facts.row, facts.p
    if facts.hide_p:
        prob = HIDDEN
    elif math.isnan(p):
        prob = "not scored" if facts.has_model else "no model"
    else:
        prob = f"{p:.3f} → {'tumour' if p >= 0.5 else 'normal'} (single view)"
    label, said = review_text(facts.state, facts.hide_p)
    parts = [
        f"<b>{html.escape(grid.id(row))}</b>",
        f"P(tumour): {prob}",
        f"Label: <b>{html.escape(label)}</b>" if facts.state is not None else "Label: —",
        f"Review: {html.escape(said)}",
        f"x {int(grid.xs[row])}, y {int(grid.ys[row])} (level 0), {grid.side} px",
        f"{slide_mpp:g} um/px; tile {grid.spec.mpp:g} um/px; "
        f"tissue {float(grid.tissue[row]):.0%} (tiling)",
        f"Quality: {_lines(format_quality(facts.measures))}",
    ]
    if facts.heatmap:
        text, focus = explanation_text(
            facts.explanation, facts.has_model, True, method_names or {}, layer_names or {}
        )
        parts.append(f"Heat map: {html.escape(text)}")
        if facts.explanation is not None:
            parts.append(f"Centre focus: {html.escape(focus)}")
    return "<br>".join(parts)


class TilePanel(QWidget):
    """The current tile, its heat-map scale, its facts and the explanation choices."""

    method_changed = Signal(str)  # a method key ("gradcam")
    layer_changed = Signal(str)  # a layer's module name ("stages.1")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile_view = QLabel()
        self.tile_view.setFixedSize(96 * TILE_ZOOM, 96 * TILE_ZOOM)
        self.legend = HeatLegend()
        self.legend.setFixedHeight(96 * TILE_ZOOM)
        self.legend.setVisible(False)
        self.facts = QLabel("Opening the slide...")
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.method_combo = QComboBox()
        self.layer_combo = QComboBox()
        for combo in (self.method_combo, self.layer_combo):
            combo.setEnabled(False)
            combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # the review keys stay the grid's
        picture = QHBoxLayout()
        picture.setContentsMargins(0, 0, 0, 0)
        picture.addWidget(self.tile_view)
        picture.addWidget(self.legend)
        picture.addStretch(1)
        choices = QFormLayout()
        choices.addRow("Method:", self.method_combo)
        choices.addRow("Layer:", self.layer_combo)
        box = QVBoxLayout(self)
        box.addLayout(picture)
        box.addLayout(choices)
        box.addWidget(self.facts)
        box.addStretch(1)
        # As wide with the colour bar as without: the panes hold still when G shows it.
        self.setMinimumWidth(96 * TILE_ZOOM + self.legend.sizeHint().width() + 30)
        for combo, signal in (
            (self.method_combo, self.method_changed),
            (self.layer_combo, self.layer_changed),
        ):
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, s=signal: s.emit(str(c.currentData() or ""))
            )

    def set_choices(
        self, methods: Mapping[str, str], layers: Mapping[str, str], method: str, layer: str
    ) -> None:
        """Fill the method and layer combos (``{key: the name shown}``), select the keys."""
        fill_choices(self.method_combo, methods, method)
        fill_choices(self.layer_combo, layers, layer)

    def show_choice(self, method: str, layer: str) -> None:
        """Select ``method`` and ``layer`` (the view state's) without emitting a change."""
        show_key(self.method_combo, method)
        show_key(self.layer_combo, layer)

    def show_explanation(self, explanation: Explanation | None, visible: bool) -> None:
        self.legend.setVisible(visible)
        self.legend.show_explanation(explanation)
