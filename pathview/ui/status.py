"""The status bar's permanent widgets: review counts, background progress, the model, and the
banner over the patch view when there is no model; the verdict actions that need a model."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton
from superqt.utils import qthrottled

from pathview.triage import ReviewCounts
from pathview.ui.reviews import BLIND_VERDICT_TEXT, NO_MODEL_VERDICT_TEXT
from pathview.ui.scoring import ModelState, ModelStatus

PROGRESS_INTERVAL_MS = 250
SCORING_FORMAT = "scoring %v / %m"
NO_REVIEWER_LABEL = "No reviewer yet"
NO_MODEL_BANNER_STYLE = (
    "QLabel { background: #5a4a12; color: #ffe9a8; padding: 6px; border-radius: 3px; }"
)
#: A retrained model that measured worse than its parent: never shown like an improvement.
WARNING_BANNER_STYLE = (
    "QLabel { background: #7a1f1f; color: #ffe0e0; padding: 6px; border-radius: 3px; "
    "font-weight: bold; }"
)
WARNING_LABEL_STYLE = "QLabel { background: #7a1f1f; color: #ffe0e0; padding: 0 4px; }"
LOADING_MODEL = "Loading the model…"


class StatusWidgets(QObject):
    """Binds the status bar to the session's counts, progress and model status."""

    def __init__(self, bar: QStatusBar, status: ModelStatus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bar = bar
        self.reviewer_label = QLabel(NO_REVIEWER_LABEL)
        self.auto_advance_label = QLabel("Auto-advance")
        self.auto_advance_label.setToolTip(
            "After a verdict the next unreviewed patch is selected (Ctrl+Shift+A turns it off)"
        )
        self.auto_advance_label.hide()
        self.counts_label = QLabel("no folder")
        self.model_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat(SCORING_FORMAT)
        self.progress.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.hide()
        self.model_banner = QLabel()
        self.model_banner.setWordWrap(True)
        self.model_banner.setStyleSheet(NO_MODEL_BANNER_STYLE)
        self.model_banner.hide()
        bar.addPermanentWidget(self.reviewer_label)
        bar.addPermanentWidget(self.auto_advance_label)
        bar.addPermanentWidget(self.counts_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.model_label)
        # The bar keeps the height it has with the progress shown: showing or hiding it must
        # not resize the window's panes (a relayout and repaint of the whole grid).
        tallest = max(self.progress.sizeHint().height(), self.cancel_button.sizeHint().height())
        bar.setMinimumHeight(max(bar.sizeHint().height(), tallest + 4))
        self._busy = ""  # what a background job (model loading, import, export) is doing
        # QProgressBar.setValue repaints synchronously: a few times a second is plenty.
        self._show_scoring = qthrottled(self._draw_scoring, PROGRESS_INTERVAL_MS, parent=self)
        self.show_model(status)

    def show_counts(self, counts: ReviewCounts) -> None:
        self.counts_label.setText(counts.summary())

    def show_reviewer(self, name: str) -> None:
        self.reviewer_label.setText(f"Reviewer: {name}" if name else NO_REVIEWER_LABEL)

    def show_auto_advance(self, on: bool) -> None:
        self.auto_advance_label.setVisible(on)

    def show_model(self, status: ModelStatus) -> None:
        if status.state is ModelState.LOADING:
            self.show_busy(LOADING_MODEL)  # a moving bar: the app is not stuck
        elif self._busy == LOADING_MODEL:
            self.show_busy("")
        text = status.text
        verdict = status.verdict
        if verdict is not None and len(text) >= 60:  # the verdict must stay readable
            text = text[: max(0, 57 - len(verdict.status) - 3)] + "… — " + verdict.status
        self.model_label.setText(text if len(text) < 60 else text[:57] + "…")
        self.model_label.setToolTip(status.text if verdict is None else verdict.detail)
        warning = status.warning
        self.model_label.setStyleSheet(WARNING_LABEL_STYLE if warning else "")
        self.model_banner.setText(warning or status.text)
        self.model_banner.setStyleSheet(WARNING_BANNER_STYLE if warning else NO_MODEL_BANNER_STYLE)
        self.model_banner.setVisible(status.state is ModelState.FAILED or bool(warning))

    def show_refused(self, action: QAction) -> None:
        """The key of a disabled action was pressed: say why it is disabled."""
        self.bar.showMessage(
            action.statusTip() or f"{action.text().replace('&', '')}: not now", 8000
        )

    def show_scoring(self, done: int, total: int) -> None:
        if done == 0 or done >= total:
            self._show_scoring.cancel()
            self._draw_scoring(done, total)
        else:
            self._show_scoring(done, total)

    def _draw_scoring(self, done: int, total: int) -> None:
        self.progress.setFormat(SCORING_FORMAT)
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.show()
        self.cancel_button.show()

    def scoring_finished(self, outcome: str) -> None:
        self._show_scoring.cancel()
        self._hide_progress()
        text = {"done": "Scoring finished", "cancelled": "Scoring cancelled"}.get(
            outcome, f"Scoring failed: {outcome}"
        )
        self.bar.showMessage(text, 6000)

    def show_busy(self, what: str) -> None:
        """An import or export runs (``what``), or none does (""): a busy bar while it runs."""
        self._busy = what
        if what:
            self.progress.setRange(0, 0)  # no fraction to show: a busy indicator
            self.progress.setFormat(what)
            self.progress.setToolTip(what)
            self.progress.show()
        elif self.progress.maximum() == 0:
            self._hide_progress()

    def _hide_progress(self) -> None:
        if self._busy:
            return
        # Hidden first: QProgressBar.setRange repaints a shown bar at once, and that flushes
        # every pending repaint of the window (the whole grid) in the same turn.
        self.progress.hide()
        self.cancel_button.hide()
        self.progress.setRange(0, 1)


def enable_model_verdicts(
    actions: Sequence[QAction], status: ModelStatus, blind: bool = False
) -> None:
    """Agree and disagree are relative to the model's call: without a ready model, or in blind
    mode (the call hidden), they are disabled and their status tip says why (Unsure and the
    label keys stay available)."""
    ready = status.state is ModelState.READY and status.info is not None
    tip = "" if ready else NO_MODEL_VERDICT_TEXT
    if status.state is ModelState.LOADING:
        tip = tip.replace("No model:", "The model is still loading:")
    if ready and blind:
        tip = BLIND_VERDICT_TEXT
    for action in actions:
        action.setEnabled(ready and not blind)
        action.setStatusTip(tip)
