"""The metrics panel: how good the model is on this folder, and how much reviewers agree.

A thin skin over :mod:`pathview.evaluation`: every number comes from an
:class:`EvaluationReport` (the same one ``pathview report`` writes), the widget only draws it.
Shows the ROC curve with AUC, the confusion matrix at an adjustable threshold (sensitivity,
specificity, accuracy), the reliability diagram with ECE, the disagreement rate per P(tumour)
bin, against ground truth, reviews or both; reviewer agreement; the adjudication queue (with
final-verdict buttons when a store or a recorder is given) and the patches unstable under
flips/rotations. Choosing a listed patch (click, keys or Enter) emits ``patch_activated(id)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pathview.evaluation import SOURCES, Evaluation, EvaluationReport, ReviewerSummary, build_report
from pathview.evaluation.html import REFERENCE_COLOURS, REFERENCE_NAMES, agreement_text
from pathview.store import ReviewStore, record_adjudication

_BACKGROUND = (30, 30, 34)
_SLIDER_STEPS = 100  # threshold resolution 0.01
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
_ID_ROLE = Qt.ItemDataRole.UserRole
#: Records a final verdict: (patch id, label 1/0/None) -> whether it was recorded.
AdjudicationRecorder = Callable[[str, int | None], bool]
#: What the unstable list says when there are no per-view scores to measure stability with.
NO_TTA_TEXT = (
    "Score with TTA (Model ▸ Score with TTA, Ctrl+T) to list the patches whose call changes "
    "under the 8 flips/rotations."
)


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


class MetricsPanel(QWidget):
    """Evaluation views for the open folder; the window feeds it with :meth:`set_report` (or
    :meth:`set_data`) whenever scores, labels or reviews change."""

    #: A patch id was activated in the adjudication queue or the unstable list.
    patch_activated = Signal(str)
    #: The user moved the threshold (new value).
    threshold_changed = Signal(float)
    #: The user chose another reference ("truth", "reviews" or "both").
    source_changed = Signal(str)
    #: A final verdict was recorded: patch id, label (1, 0, or None for unsure).
    adjudication_recorded = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._report: EvaluationReport | None = None
        self._chosen_source: str | None = None  # the reference the user picked, if any
        self._recorder: AdjudicationRecorder | None = None
        self._adjudicator = ""
        self._p_by_id: dict[str, float] | None = None
        self._operating_points: list[pg.ScatterPlotItem] = []

        self.title_label = QLabel("No evaluation yet")
        self.title_label.setWordWrap(True)
        self.source_combo = QComboBox()
        self.source_combo.addItems(list(SOURCES))
        self.source_combo.setToolTip("compare the model with ground truth, reviews, or both")
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, _SLIDER_STEPS)
        self.threshold_slider.setValue(_SLIDER_STEPS // 2)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(0.5)
        self.threshold_spin.setToolTip("P(tumour) at or above this is called tumour")

        self.summary_table = QTableWidget(0, len(SUMMARY_COLUMNS))
        for col, name in enumerate(SUMMARY_COLUMNS):
            header = QTableWidgetItem(_SUMMARY_HEADERS.get(name, name))
            header.setToolTip(name)
            self.summary_table.setHorizontalHeaderItem(col, header)
        self.confusion_table = QTableWidget(0, 2)
        self.confusion_table.setHorizontalHeaderLabels(["called normal", "called tumour"])
        for table in (self.summary_table, self.confusion_table):
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.summary_table.verticalHeader().setVisible(False)

        self.roc_plot = _plot("1 - specificity", "sensitivity")
        self.reliability_plot = _plot("mean P(tumour)", "fraction tumour")
        self.disagreement_plot = _plot("P(tumour)", "disagreement rate")
        self.roc_legend = self.roc_plot.addLegend(offset=(-5, -5), labelTextSize="8pt")
        self.reliability_legend = self.reliability_plot.addLegend(
            offset=(5, 5), labelTextSize="8pt"
        )
        self.plot_tabs = QTabWidget()
        self.plot_tabs.addTab(self.roc_plot, "ROC")
        self.plot_tabs.addTab(self.reliability_plot, "Calibration")
        self.plot_tabs.addTab(self.disagreement_plot, "Disagreement")

        self.agreement_label = QLabel("")
        self.agreement_label.setWordWrap(True)
        self.queue_list = QListWidget()
        self.unstable_list = QListWidget()
        self.unstable_list.setWordWrap(True)  # the hint without TTA is a sentence
        self.list_tabs = QTabWidget()
        self.list_tabs.addTab(self.queue_list, "To adjudicate")
        self.list_tabs.addTab(self.unstable_list, "Unstable")
        self.final_buttons = {
            1: QPushButton("Final: tumour"),
            0: QPushButton("Final: normal"),
            None: QPushButton("Final: unsure"),
        }
        for label, button in self.final_buttons.items():
            button.setEnabled(False)
            button.setToolTip("record a final verdict (adjudicator role) for the selected patch")
            button.clicked.connect(lambda _checked=False, lab=label: self.adjudicate_selected(lab))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Compare with"))
        controls.addWidget(self.source_combo)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Threshold"))
        controls.addWidget(self.threshold_slider, 1)
        controls.addWidget(self.threshold_spin)
        buttons = QHBoxLayout()
        for button in self.final_buttons.values():
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title_label)
        layout.addLayout(controls)
        layout.addWidget(self.summary_table)
        layout.addWidget(self.confusion_table)
        layout.addWidget(self.plot_tabs, 1)
        layout.addWidget(self.agreement_label)
        layout.addWidget(self.list_tabs)
        layout.addLayout(buttons)

        self.threshold_slider.valueChanged.connect(self._slider_moved)
        self.threshold_spin.valueChanged.connect(self._spin_changed)
        self.source_combo.currentTextChanged.connect(self._source_chosen)
        for patch_list in (self.queue_list, self.unstable_list):
            patch_list.itemActivated.connect(self._item_activated)
            patch_list.itemClicked.connect(self._item_activated)
            patch_list.currentItemChanged.connect(self._current_item_changed)

    # ------------------------------------------------------------------ feeding it

    @property
    def report(self) -> EvaluationReport | None:
        """The report shown (at the current threshold and source)."""
        return self._report

    def set_report(self, report: EvaluationReport | None) -> None:
        """Show ``report`` (None clears the panel); the controls follow its source/threshold."""
        self._report = report
        self._p_by_id = None
        self._sync_controls()
        self._redraw()

    def show_report(self, report: EvaluationReport | None) -> None:
        """Show a fresher ``report`` of the same view, keeping the threshold and reference the
        user chose meanwhile (a report computed in the background may predate them)."""
        if report is not None:
            wanted = self._chosen_source
            if wanted is not None and wanted != report.source and wanted in report.sources:
                report = report.with_source(wanted)
            if report.threshold != self.threshold():
                report = report.at_threshold(self.threshold())
        self.set_report(report)

    def set_data(
        self,
        ids: Sequence[str],
        probs: ArrayLike,
        truth: Mapping[str, int] | None = None,
        reviews: Mapping[str, int] | None = None,
        data_name: str = "",
        model_id: str = "",
        model_name: str = "",
        tta: bool = False,
        reviewers: ReviewerSummary | None = None,
        unstable: Sequence[str] | None = None,
    ) -> None:
        """Build and show a report at the panel's current source and threshold.

        The source falls back to the first one with data when the current one has none.
        """
        report = build_report(
            ids,
            probs,
            truth,
            reviews,
            source="both",
            threshold=self.threshold(),
            data_name=data_name,
            model_id=model_id,
            model_name=model_name,
            tta=tta,
            reviewers=reviewers,
            unstable=unstable,
        )
        wanted = self.source()
        available = report.sources
        if wanted not in available and available:
            wanted = available[0]
        self.set_report(report.with_source(wanted) if wanted != "both" else report)

    def set_store(self, store: ReviewStore | None, adjudicator: str = "") -> None:
        """Enable the final-verdict buttons, recording into ``store`` as ``adjudicator``."""
        name = adjudicator.strip()

        def record(patch_id: str, label: int | None) -> bool:
            assert store is not None
            report = self._report
            if self._p_by_id is None and report is not None:
                self._p_by_id = dict(zip(report.ids, report.probs.tolist(), strict=True))
            p = (self._p_by_id or {}).get(patch_id)
            record_adjudication(
                store,
                patch_id,
                label,
                name,
                p_tumour=None if p is None else min(1.0, max(0.0, float(p))),
                model_id=report.model_id if report is not None else "",
            )
            return True

        self.set_recorder(record if store is not None and name else None)

    def set_recorder(self, recorder: AdjudicationRecorder | None) -> None:
        """Enable the final-verdict buttons; ``recorder`` records one (None disables them).

        The window passes its session's ``adjudicate``, which records in the adjudicator role
        as the current reviewer.
        """
        self._recorder = recorder
        self._update_buttons()

    def threshold(self) -> float:
        return round(self.threshold_spin.value(), 2)

    def set_threshold(self, value: float) -> None:
        """Move the threshold (as the user would); the confusion matrix follows."""
        self.threshold_spin.setValue(value)

    def source(self) -> str:
        return self.source_combo.currentText() or "both"

    def set_source(self, source: str) -> None:
        """Compare with ``source`` ("truth", "reviews" or "both"), as the user would."""
        index = self.source_combo.findText(source)
        if index < 0:
            raise ValueError(f"no data for source {source!r}")
        self.source_combo.setCurrentIndex(index)

    # ------------------------------------------------------------------ slots

    def _slider_moved(self, value: int) -> None:
        self.threshold_spin.setValue(value / _SLIDER_STEPS)

    def _spin_changed(self, value: float) -> None:
        slider_value = round(value * _SLIDER_STEPS)
        if self.threshold_slider.value() != slider_value:
            self.threshold_slider.blockSignals(True)
            self.threshold_slider.setValue(slider_value)
            self.threshold_slider.blockSignals(False)
        if self._report is not None and self._report.threshold != self.threshold():
            self._report = self._report.at_threshold(self.threshold())
            self._draw_threshold_parts()
        self.threshold_changed.emit(self.threshold())

    def _source_chosen(self, source: str) -> None:
        if not source:
            return
        self._chosen_source = source
        if self._report is None or source == self._report.source:
            return
        self._report = self._report.with_source(source)
        self._redraw()
        self.source_changed.emit(source)

    def _item_activated(self, item: QListWidgetItem | None) -> None:
        patch_id = None if item is None else item.data(_ID_ROLE)
        if patch_id:
            self.patch_activated.emit(str(patch_id))

    def _current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        self._update_buttons()
        self._item_activated(current)

    def _update_buttons(self) -> None:
        enabled = self._recorder is not None and self.queue_list.currentItem() is not None
        for button in self.final_buttons.values():
            button.setEnabled(enabled)

    def adjudicate_selected(self, label: int | None) -> None:
        """Record ``label`` as the final verdict on the selected queue patch (adjudicator role).

        One committed SQLite insert, as a review is; the patch leaves the queue (and the next
        one in the queue is selected).
        """
        item = self.queue_list.currentItem()
        if item is None or self._recorder is None:
            return
        patch_id = str(item.data(_ID_ROLE))
        if not self._recorder(patch_id, label):
            return
        self.queue_list.takeItem(self.queue_list.row(item))
        self.list_tabs.setTabText(0, f"To adjudicate ({self.queue_list.count()})")
        self._update_buttons()
        self.adjudication_recorded.emit(patch_id, label)

    # ------------------------------------------------------------------ drawing

    def _sync_controls(self) -> None:
        report = self._report
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        sources = report.sources if report is not None else []
        choices = sources or list(SOURCES)
        if report is not None and report.source not in choices:
            choices = [*choices, report.source]
        self.source_combo.addItems(choices)
        if report is not None:
            self.source_combo.setCurrentIndex(self.source_combo.findText(report.source))
        self.source_combo.blockSignals(False)
        if report is not None:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(report.threshold)
            self.threshold_spin.blockSignals(False)
            self.threshold_slider.blockSignals(True)
            self.threshold_slider.setValue(round(report.threshold * _SLIDER_STEPS))
            self.threshold_slider.blockSignals(False)

    def _redraw(self) -> None:
        report = self._report
        self._draw_title()
        self._draw_curves()
        self._draw_threshold_parts()
        self._draw_reviewers()
        unstable = report.unstable if report is not None else None
        _fill_ids(self.unstable_list, unstable or ())
        if unstable is None and report is not None and report.ids:
            hint = QListWidgetItem(NO_TTA_TEXT)
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            self.unstable_list.addItem(hint)
        self.list_tabs.setTabText(
            1, "Unstable" if unstable is None else f"Unstable ({len(unstable)})"
        )

    def _draw_title(self) -> None:
        report = self._report
        if report is None:
            self.title_label.setText("No evaluation yet")
            return
        model = f"{report.model_name or 'model'} {report.model_id[:12]}".strip()
        text = f"{len(report.ids)} patches of {report.data_name or 'this folder'}; {model}"
        if report.tta:
            text += " (8-view TTA)"
        if not report.ids:
            text = f"No scores yet for {report.data_name or 'this folder'}."
            if report.truth or report.reviews:
                text += " Model metrics appear once the model has scored the patches."
        elif not report.evaluations:
            text += ". No ground truth or reviews to compare with."
        elif report.notes:
            text += ". " + "; ".join(report.notes) + "."
        self.title_label.setText(text)

    def _evaluations(self) -> tuple[Evaluation, ...]:
        return self._report.evaluations if self._report is not None else ()

    def _draw_curves(self) -> None:
        for plot, legend in (
            (self.roc_plot, self.roc_legend),
            (self.reliability_plot, self.reliability_legend),
        ):
            plot.clear()
            legend.clear()
            _diagonal(plot)
        for ev in self._evaluations():
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

    def _draw_threshold_parts(self) -> None:
        evs = self._evaluations()
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
        self._fill_tables(evs)

    def _fill_tables(self, evs: Sequence[Evaluation]) -> None:
        self.summary_table.setRowCount(len(evs))
        self.confusion_table.setRowCount(2 * len(evs))
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
                self.summary_table.setItem(row, col, _cell(text, align_left=col == 0))
            name = REFERENCE_NAMES.get(ev.reference, ev.reference)
            labels += [f"{name}: normal", f"{name}: tumour"]
            for r, (called_normal, called_tumour) in enumerate(((c.tn, c.fp), (c.fn, c.tp))):
                self.confusion_table.setItem(2 * row + r, 0, _cell(str(called_normal)))
                self.confusion_table.setItem(2 * row + r, 1, _cell(str(called_tumour)))
        self.confusion_table.setVerticalHeaderLabels(labels)

    def _draw_reviewers(self) -> None:
        summary = self._report.reviewers if self._report is not None else None
        if summary is None or not summary.reviewers:
            self.agreement_label.setText("No reviewers yet.")
        elif summary.agreement is None:
            self.agreement_label.setText(
                f"One reviewer ({summary.reviewers[0]}): import colleagues' reviews to "
                "measure agreement."
            )
        else:
            lines = [agreement_text(summary.agreement)]
            lines += [agreement_text(a) for a in summary.pairwise]
            lines.append(f"{summary.adjudicated} patches have a final verdict.")
            self.agreement_label.setText("\n".join(lines))
        _fill_ids(self.queue_list, summary.queue if summary is not None else ())
        self.list_tabs.setTabText(0, f"To adjudicate ({self.queue_list.count()})")
        self._update_buttons()


def _fill_ids(patch_list: QListWidget, ids: Sequence[str]) -> None:
    """Replace the list's patch ids, keeping the current one (if still listed) current without
    announcing it: a refresh is not the user choosing a patch."""
    current = patch_list.currentItem()
    keep = None if current is None else current.data(_ID_ROLE)
    patch_list.blockSignals(True)
    try:
        patch_list.clear()
        for pid in ids:
            item = QListWidgetItem(pid)
            item.setData(_ID_ROLE, pid)
            patch_list.addItem(item)
            if pid == keep:
                patch_list.setCurrentItem(item)
    finally:
        patch_list.blockSignals(False)
