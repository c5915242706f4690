"""The metrics panel: how good the model is on this folder, and how much reviewers agree.

A thin skin over :mod:`pathview.evaluation`: every number comes from an
:class:`EvaluationReport` (the same one ``pathview report`` writes), the widget only draws it.
It binds to a :class:`~pathview.ui.evaluation.ReportState`, the one owner of the threshold and
the reference source: it draws the state's report and writes the user's choices to it.
Shows the ROC curve with AUC, the confusion matrix at an adjustable threshold (sensitivity,
specificity, accuracy), the reliability diagram with ECE, the disagreement rate per P(tumour)
bin, against ground truth, reviews or both; reviewer agreement; the adjudication queue (with
final-verdict buttons when a recorder is given) and the patches unstable under
flips/rotations. Choosing a listed patch (click, keys or Enter) emits ``patch_activated(id)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pathview.evaluation import SOURCES, Evaluation, EvaluationReport
from pathview.evaluation.html import agreement_text
from pathview.ui.evaluation import ReportState
from pathview.ui.metrics_plots import (
    SUMMARY_COLUMNS,
    MetricsPlots,
    fill_tables,
    fmt,
    summary_tables,
)

_SLIDER_STEPS = 100  # threshold resolution 0.01
_ID_ROLE = Qt.ItemDataRole.UserRole
#: Records a final verdict: (patch id, label 1/0/None) -> whether it was recorded.
AdjudicationRecorder = Callable[[str, int | None], bool]
#: What the unstable list says when there are no per-view scores to measure stability with.
NO_TTA_TEXT = (
    "Score with TTA (Model ▸ Score with TTA, Ctrl+T) to list the patches whose call changes "
    "under the 8 flips/rotations."
)


class MetricsPanel(QWidget):
    """Evaluation views for the open folder, bound to a :class:`ReportState` (:meth:`bind`);
    :meth:`set_report` draws a report."""

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
        self._recorder: AdjudicationRecorder | None = None

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
        self.summary_table, self.confusion_table = summary_tables()
        self.plot_tabs = MetricsPlots()
        self.roc_plot = self.plot_tabs.roc_plot
        self.reliability_plot = self.plot_tabs.reliability_plot
        self.disagreement_plot = self.plot_tabs.disagreement_plot

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

    # ------------------------------------------------------------------ binding

    def bind(self, state: ReportState, recorder: AdjudicationRecorder | None = None) -> None:
        """Draw ``state``'s report as it changes and write the user's threshold and source to
        it; ``recorder`` records final verdicts (None: the buttons stay disabled)."""
        state.report_changed.connect(self.set_report)
        self.threshold_changed.connect(state.set_threshold)
        self.source_changed.connect(state.set_source)
        self.set_recorder(recorder)
        self.set_report(state.report)

    @property
    def report(self) -> EvaluationReport | None:
        """The report shown (at the current threshold and source)."""
        return self._report

    def set_report(self, report: EvaluationReport | None) -> None:
        """Show ``report`` (None clears the panel); the controls follow its source/threshold.

        A report that differs from the one shown only in its threshold redraws only what
        depends on the threshold (a slider drag stays cheap)."""
        old, self._report = self._report, report
        self._sync_controls()
        if (
            old is not None
            and report is not None
            and report.ids is old.ids
            and report.source == old.source
            and report.reviewers is old.reviewers
            and report.unstable is old.unstable
        ):
            self._draw_threshold_parts()
        else:
            self._redraw()

    def set_recorder(self, recorder: AdjudicationRecorder | None) -> None:
        """Enable the final-verdict buttons; ``recorder`` records one (None disables them).

        The window passes its review controller's ``adjudicate``, which records in the
        adjudicator role as the current reviewer.
        """
        self._recorder = recorder
        self._update_buttons()

    def threshold(self) -> float:
        return round(self.threshold_spin.value(), 2)

    def set_threshold(self, value: float) -> None:
        """Move the threshold (as the user would)."""
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
        self.threshold_changed.emit(self.threshold())

    def _source_chosen(self, source: str) -> None:
        if source and self._report is not None and source != self._report.source:
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
        self.plot_tabs.draw_curves(self._evaluations())
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

    def _draw_threshold_parts(self) -> None:
        evs = self._evaluations()
        self.plot_tabs.draw_threshold_parts(evs)
        fill_tables(self.summary_table, self.confusion_table, evs)

    def _evaluations(self) -> tuple[Evaluation, ...]:
        return self._report.evaluations if self._report is not None else ()

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


__all__ = ["NO_TTA_TEXT", "SUMMARY_COLUMNS", "AdjudicationRecorder", "MetricsPanel", "fmt"]
