"""The metrics panel's plots and tables: ROC with operating points, calibration, disagreement
rate per P(tumour) bin, the summary and confusion tables. Drawn from :class:`Evaluation` s."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QWidget,
)

from pathview.evaluation import Evaluation
from pathview.evaluation.html import REFERENCE_COLOURS, REFERENCE_NAMES

_BACKGROUND = (30, 30, 34)
#: Columns of the summary table (one row per reference).
SUMMARY_COLUMNS = (
    "reference",
    "patches",
    "tumour",
    "AUC",
    "sensitivity",
    "specificity",
    "accuracy",
    "ECE",
)
#: Their headers, short so that the table fits a narrow dock (the full name is the tooltip).
_SUMMARY_HEADERS = {
    "patches": "n",
    "sensitivity": "sens.",
    "specificity": "spec.",
    "accuracy": "acc.",
}


def fmt(x: float, digits: int = 4) -> str:
    """A metric as the panel shows it ("n/a" for NaN)."""
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def _plot(x_label: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=_BACKGROUND)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMinimumHeight(180)
    return plot


def _diagonal(plot: pg.PlotWidget) -> None:
    pen = pg.mkPen((150, 150, 150), width=1, style=Qt.PenStyle.DashLine)
    plot.plot([0.0, 1.0], [0.0, 1.0], pen=pen)


def _cell(text: str, align_left: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    align = Qt.AlignmentFlag.AlignLeft if align_left else Qt.AlignmentFlag.AlignRight
    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
    return item


def summary_tables(parent: QWidget | None = None) -> tuple[QTableWidget, QTableWidget]:
    """The (empty) summary and confusion tables."""
    summary_table = QTableWidget(0, len(SUMMARY_COLUMNS), parent)
    for col, name in enumerate(SUMMARY_COLUMNS):
        header = QTableWidgetItem(_SUMMARY_HEADERS.get(name, name))
        header.setToolTip(name)
        summary_table.setHorizontalHeaderItem(col, header)
    confusion_table = QTableWidget(0, 2, parent)
    confusion_table.setHorizontalHeaderLabels(["called normal", "called tumour"])
    for table in (summary_table, confusion_table):
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
    summary_table.verticalHeader().setVisible(False)
    return summary_table, confusion_table


def fill_tables(
    summary_table: QTableWidget, confusion_table: QTableWidget, evs: Sequence[Evaluation]
) -> None:
    """One summary row and two confusion rows per reference."""
    summary_table.setRowCount(len(evs))
    confusion_table.setRowCount(2 * len(evs))
    labels = []
    for row, ev in enumerate(evs):
        c = ev.confusion
        values = (
            REFERENCE_NAMES.get(ev.reference, ev.reference),
            str(ev.n),
            str(ev.n_tumour),
            fmt(ev.auc),
            fmt(c.sensitivity),
            fmt(c.specificity),
            fmt(ev.accuracy),
            fmt(ev.ece),
        )
        for col, text in enumerate(values):
            summary_table.setItem(row, col, _cell(text, align_left=col == 0))
        name = REFERENCE_NAMES.get(ev.reference, ev.reference)
        labels += [f"{name}: normal", f"{name}: tumour"]
        for r, (called_normal, called_tumour) in enumerate(((c.tn, c.fp), (c.fn, c.tp))):
            confusion_table.setItem(2 * row + r, 0, _cell(str(called_normal)))
            confusion_table.setItem(2 * row + r, 1, _cell(str(called_tumour)))
    confusion_table.setVerticalHeaderLabels(labels)


class MetricsPlots(QTabWidget):
    """ROC, calibration and disagreement plots, one tab each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.roc_plot = _plot("1 - specificity", "sensitivity")
        self.reliability_plot = _plot("mean P(tumour)", "fraction tumour")
        self.disagreement_plot = _plot("P(tumour)", "disagreement rate")
        self.roc_legend = self.roc_plot.addLegend(offset=(-5, -5), labelTextSize="8pt")
        self.reliability_legend = self.reliability_plot.addLegend(
            offset=(5, 5), labelTextSize="8pt"
        )
        self.addTab(self.roc_plot, "ROC")
        self.addTab(self.reliability_plot, "Calibration")
        self.addTab(self.disagreement_plot, "Disagreement")
        self._operating_points: list[pg.ScatterPlotItem] = []

    def draw_curves(self, evs: Sequence[Evaluation]) -> None:
        """ROC and calibration curves (threshold-free)."""
        for plot, legend in (
            (self.roc_plot, self.roc_legend),
            (self.reliability_plot, self.reliability_legend),
        ):
            plot.clear()
            legend.clear()
            _diagonal(plot)
        for ev in evs:
            colour = REFERENCE_COLOURS.get(ev.reference, "#cccccc")
            name = REFERENCE_NAMES.get(ev.reference, ev.reference)
            if ev.roc.fpr.size and np.isfinite(ev.roc.fpr).all() and np.isfinite(ev.roc.tpr).all():
                self.roc_plot.plot(
                    ev.roc.fpr,
                    ev.roc.tpr,
                    pen=pg.mkPen(colour, width=2),
                    name=f"{name}: AUC {fmt(ev.auc)}",
                )
            used = [b for b in ev.reliability if b.count]
            if used:
                biggest = max(b.count for b in used)
                self.reliability_plot.plot(
                    [b.mean_p for b in used],
                    [b.positive_rate for b in used],
                    pen=pg.mkPen(colour, width=1.5),
                    symbol="o",
                    symbolBrush=colour,
                    symbolPen=None,
                    symbolSize=[5 + 9 * math.sqrt(b.count / biggest) for b in used],
                    name=f"{name}: ECE {fmt(ev.ece)}",
                )
        self._operating_points = []  # plot.clear() removed them

    def draw_threshold_parts(self, evs: Sequence[Evaluation]) -> None:
        """Operating points on the ROC curves and the disagreement bars."""
        # Operating points on the ROC curves.
        for item in self._operating_points:
            self.roc_plot.removeItem(item)
        self._operating_points = []
        for ev in evs:
            c = ev.confusion
            if math.isnan(c.sensitivity) or math.isnan(c.specificity):
                continue
            dot = pg.ScatterPlotItem(
                x=[1 - c.specificity],
                y=[c.sensitivity],
                size=11,
                brush=REFERENCE_COLOURS.get(ev.reference, "#cccccc"),
                pen=pg.mkPen("w", width=1),
            )
            self.roc_plot.addItem(dot)
            self._operating_points.append(dot)
        # Disagreement rate per bin, bars side by side.
        self.disagreement_plot.clear()
        n_refs = max(1, len(evs))
        for i, ev in enumerate(evs):
            bins = [b for b in ev.disagreement if b.count]
            if not bins:
                continue
            width = (bins[0].hi - bins[0].lo) * 0.85 / n_refs
            x = [b.lo + (b.hi - b.lo) * 0.075 + (i + 0.5) * width for b in bins]
            self.disagreement_plot.addItem(
                pg.BarGraphItem(
                    x=x,
                    height=[b.disagreement_rate for b in bins],
                    width=width,
                    brush=REFERENCE_COLOURS.get(ev.reference, "#cccccc"),
                    pen=None,
                )
            )
