"""Histogram of P(tumour), stacked by review verdict or by ground truth (pyqtgraph)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from pathview.triage import Histogram, PatchTable, ReviewCode, histogram_by
from pathview.ui.palette import REVIEW_COLOURS, TRUTH_COLOURS

_COLOURS = {
    "unreviewed": REVIEW_COLOURS[ReviewCode.UNREVIEWED],
    "agree": REVIEW_COLOURS[ReviewCode.AGREE],
    "disagree": REVIEW_COLOURS[ReviewCode.DISAGREE],
    "unsure": REVIEW_COLOURS[ReviewCode.UNSURE],
    "labelled": REVIEW_COLOURS[ReviewCode.LABELLED],
    "truth unknown": REVIEW_COLOURS[ReviewCode.UNREVIEWED],
    "truth 0": TRUTH_COLOURS[0],
    "truth 1": TRUTH_COLOURS[1],
}


class HistogramPanel(QWidget):
    """Redrawn on demand by the window (throttled), from the plain table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group_combo = QComboBox()
        self.group_combo.addItems(["by review verdict", "by ground truth"])
        self.plot = pg.PlotWidget(background=(30, 30, 34))
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "P(tumour)")
        self.plot.setLabel("left", "patches")
        self.plot.setXRange(0, 1, padding=0.02)
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        top = QHBoxLayout()
        top.addWidget(QLabel("Histogram"))
        top.addStretch(1)
        top.addWidget(self.group_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot)
        self.last: Histogram | None = None
        self._table: PatchTable | None = None
        self.group_combo.currentIndexChanged.connect(lambda _i: self.refresh())

    @property
    def grouping(self) -> str:
        return "truth" if self.group_combo.currentIndex() == 1 else "verdict"

    def set_table(self, table: PatchTable, refresh: bool = True) -> None:
        """Plot ``table``; with ``refresh`` False the caller refreshes later (throttled)."""
        self._table = table
        if refresh:
            self.refresh()

    def _fit_y_range(self, peak: float) -> None:
        """Keep the y range unless the tallest bar leaves it or shrinks below half of it.

        While scores stream in the bars grow on every refresh; a range that moved each time
        would re-render the axis each time (the costliest part of a refresh).
        """
        top = float(self.plot.getViewBox().viewRange()[1][1])
        if peak <= 0:
            self.plot.setYRange(0, 1.0, padding=0)
        elif not (peak <= top and peak >= 0.5 * top):
            self.plot.setYRange(0, max(1.0, peak * 1.5), padding=0)

    def refresh(self) -> None:
        self.plot.clear()
        self.legend.clear()
        if self._table is None:
            return
        hist = histogram_by(self._table, by=self.grouping)
        self.last = hist
        centres = (hist.edges[:-1] + hist.edges[1:]) / 2
        width = float(hist.edges[1] - hist.edges[0]) * 0.9
        base = np.zeros(len(centres))
        for name, counts in hist.counts.items():
            if not counts.any():
                continue
            colour = _COLOURS[name]
            bars = pg.BarGraphItem(
                x=centres, y0=base.copy(), height=counts, width=width, brush=colour, pen=None
            )
            self.plot.addItem(bars)
            self.legend.addItem(bars, f"{name} ({int(counts.sum())})")
            base = base + counts
        self._fit_y_range(float(base.max()))
        if not base.any():
            note = pg.TextItem("no scores yet", color=(170, 170, 170), anchor=(0.5, 0.5))
            note.setPos(0.5, 0.5)
            self.plot.addItem(note)
