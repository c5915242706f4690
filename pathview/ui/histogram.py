"""Histogram of P(tumour), stacked by review verdict or by ground truth (pyqtgraph).

The count axis can be logarithmic (the few patches of a rare bin stay visible next to a bin
of thousands), and clicking a bar asks for the grid to be filtered to its P range
(``bin_clicked``; clicking the filtered bar again asks for the whole range back).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

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


#: Tick values of the logarithmic count axis.
LOG_TICKS = (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
MIN_WIDTH = 220


def log_height(count: np.ndarray | float) -> np.ndarray:
    """Where a count sits on the logarithmic axis: log10(1 + count) (0 stays 0)."""
    return np.log10(1.0 + np.asarray(count, dtype=np.float64))


class HistogramPanel(QWidget):
    """Redrawn on demand by the window (throttled), from the plain table."""

    bin_clicked = Signal(float, float)  # P range of the bar clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(MIN_WIDTH)
        self.group_combo = QComboBox()
        self.group_combo.addItems(["by verdict", "by truth"])
        self.group_combo.setToolTip("Stack the bars by review verdict or by ground truth")
        self.log_check = QCheckBox("log")
        self.log_check.setToolTip("Logarithmic count axis: small bins stay visible")
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
        top.addWidget(self.log_check)
        top.addWidget(self.group_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot)
        self.last: Histogram | None = None
        self._table: PatchTable | None = None
        self.group_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.log_check.toggled.connect(lambda _on: self._axis_changed())
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)
        self.plot.setToolTip("Click a bar to show its patches; click it again to show all")
        self.selected: tuple[float, float] | None = None  # the P range the grid is filtered to

    @property
    def grouping(self) -> str:
        return "truth" if self.group_combo.currentIndex() == 1 else "verdict"

    @property
    def log_scale(self) -> bool:
        return self.log_check.isChecked()

    def set_modes(self, grouping: str, log_scale: bool) -> None:
        """Show ``grouping`` ("verdict" or "truth") on a log or linear axis (a resumed
        folder's modes)."""
        self.group_combo.setCurrentIndex(1 if grouping == "truth" else 0)
        self.log_check.setChecked(log_scale)

    def bin_at(self, x: float) -> tuple[float, float] | None:
        """The P range of the bar at ``x`` (P(tumour)), None outside [0, 1]."""
        hist = self.last
        if hist is None or not 0.0 <= x <= 1.0:
            return None
        edges = hist.edges
        i = min(len(edges) - 2, int(np.searchsorted(edges, x, side="right")) - 1)
        return float(edges[i]), float(edges[i + 1])

    def _on_clicked(self, event: object) -> None:
        button = getattr(event, "button", lambda: None)()
        if button != Qt.MouseButton.LeftButton:
            return
        scene_pos = event.scenePos()  # type: ignore[attr-defined]
        self.click_at(self.plot.getViewBox().mapSceneToView(QPointF(scene_pos)).x())

    def click_at(self, x: float) -> None:
        """What a click on the plot at P(tumour) ``x`` does: filter to that bar's range, or
        back to all when it is the range already chosen."""
        picked = self.bin_at(x)
        if picked is None:
            return
        if self.selected is not None and all(
            math.isclose(a, b, abs_tol=1e-9) for a, b in zip(picked, self.selected, strict=True)
        ):
            self.selected = None
            self.bin_clicked.emit(0.0, 1.0)
        else:
            self.selected = picked
            self.bin_clicked.emit(*picked)

    def follow_range(self, p_min: float, p_max: float) -> None:
        """The grid's P range changed elsewhere: a bar stays chosen only if it is that range."""
        if self.selected is not None and not (
            math.isclose(p_min, self.selected[0], abs_tol=1e-9)
            and math.isclose(p_max, self.selected[1], abs_tol=1e-9)
        ):
            self.selected = None

    def _axis_changed(self) -> None:
        self.plot.setYRange(0, 1.0, padding=0)  # refit for the new scale
        self.refresh()

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
        log = self.log_scale
        centres = (hist.edges[:-1] + hist.edges[1:]) / 2
        width = float(hist.edges[1] - hist.edges[0]) * 0.9
        base = np.zeros(len(centres))
        for name, counts in hist.counts.items():
            if not counts.any():
                continue
            colour = _COLOURS[name]
            top = base + counts
            y0, height = (
                (log_height(base), log_height(top) - log_height(base))
                if log
                else (
                    base.copy(),
                    counts,
                )
            )
            bars = pg.BarGraphItem(
                x=centres, y0=y0, height=height, width=width, brush=colour, pen=None
            )
            self.plot.addItem(bars)
            self.legend.addItem(bars, f"{name} ({int(counts.sum())})")
            base = top
        axis = self.plot.getAxis("left")
        peak = float(base.max()) if len(base) else 0.0
        if log:
            ticks = [(float(log_height(v)), f"{v:,}") for v in LOG_TICKS if v <= max(peak, 1) * 10]
            axis.setTicks([ticks])
            self.plot.setLabel("left", "patches (log)")
            self._fit_y_range(float(log_height(peak)))
        else:
            axis.setTicks(None)
            self.plot.setLabel("left", "patches")
            self._fit_y_range(peak)
        if not base.any():
            note = pg.TextItem("no scores yet", color=(170, 170, 170), anchor=(0.5, 0.5))
            note.setPos(0.5, 0.5)
            self.plot.addItem(note)
