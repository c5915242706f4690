"""Evaluation of the open folder: the threshold, the reference source and the reports.

:class:`ReportState` is the only owner of the call threshold and the reference source, and
holds the report shown at them; the metrics panel binds to it (shows ``report_changed``, writes
the user's threshold and source through it) and builds no report itself. The
:class:`EvaluationController` has reports built in the background, only while the panel is
shown, and at most once per interval while scores stream in (a throttle: the panel follows).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import qthrottled

from pathview.evaluation import SOURCES, EvaluationReport, EvaluationRequest
from pathview.ui.folder import FolderController
from pathview.workers import EvaluationWorker, ModelInfo
from pathview.workers.evaluation import Evaluator

# Metrics follow changes at most this often (scores stream in; reviews come in bursts).
EVALUATION_DELAY_MS = 300
EVALUATION_DELAY_SCORING_MS = 1000


class ReportState(QObject):
    """The one owner of the threshold, the reference source and the report shown at them.

    A report computed in the background may predate the user's latest choice; ``set_report``
    shows it at the current threshold (and the chosen source, when it has data for it).
    """

    threshold_changed = Signal(float)
    source_changed = Signal(str)
    report_changed = Signal(object)  # EvaluationReport | None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = 0.5  # P(tumour) >= threshold is called tumour (metrics, stability)
        self.source = "both"
        self._chosen = False  # the user picked the source (else the report's own is shown)
        self.report: EvaluationReport | None = None

    def set_report(self, report: EvaluationReport | None) -> None:
        if report is not None:
            wanted = self.source
            if self._chosen and wanted != report.source and wanted in report.sources:
                report = report.with_source(wanted)
            if report.threshold != self.threshold:
                report = report.at_threshold(self.threshold)
        self.report = report
        self.report_changed.emit(report)

    def set_threshold(self, threshold: float) -> None:
        """The call threshold of the metrics and of the stability sort key."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is outside [0, 1]")
        if threshold == self.threshold:
            return
        self.threshold = threshold
        self.threshold_changed.emit(threshold)
        if self.report is not None:
            self.set_report(self.report)

    def set_source(self, source: str) -> None:
        """Compare with ``source`` ("truth", "reviews" or "both"), as the user chose."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        self._chosen = True
        if source != self.source:
            self.source = source
            self.source_changed.emit(source)
        if self.report is not None and source != self.report.source:
            self.set_report(self.report)


class EvaluationController(QObject):
    """Threshold, reference source and the latest report of the open folder."""

    message = Signal(str)

    def __init__(
        self,
        folder: FolderController,
        model: Callable[[], ModelInfo | None],
        scoring: Callable[[], bool],
        tta: Callable[[], bool],
        evaluator: Evaluator | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._model = model
        self._scoring = scoring
        self._tta = tta
        self.worker = EvaluationWorker(self, evaluator)
        self.state = ReportState(self)
        self.enabled = False
        self._dirty = True
        self._evaluate_soon = qthrottled(self._request, EVALUATION_DELAY_MS, leading=False)
        self.worker.report_ready.connect(self._on_ready)
        self.worker.report_failed.connect(self._on_failed)
        folder.folder_closed.connect(self._on_folder_closed)
        self.state.threshold_changed.connect(self._on_threshold_changed)

    @property
    def threshold(self) -> float:
        return self.state.threshold

    @property
    def source(self) -> str:
        return self.state.source

    @property
    def report(self) -> EvaluationReport | None:
        return self.state.report

    def set_enabled(self, enabled: bool) -> None:
        """Compute reports only while the metrics panel is shown."""
        self.enabled = enabled
        if enabled and self._dirty:
            self.schedule()

    def _on_threshold_changed(self, _threshold: float) -> None:
        if self._folder.table.has_views:
            self.schedule()  # the unstable list depends on the threshold

    def request(self) -> EvaluationRequest:
        """A snapshot of the scores, truth, store and per-view scores for a report.

        Copies only (a few ms for 220,000 patches); the worker drops unscored patches.
        """
        folder = self._folder
        t = folder.table
        views = t.views() if t.has_views else None
        model = self._model()
        return EvaluationRequest(
            ids=tuple(t.ids),
            # float32 as score_folder returns them: the same ties and AUC as `pathview score`.
            probs=np.asarray(t.p, dtype=np.float32),
            truth=t.truth_labels,
            store=folder.store,
            views=None if views is None else views.copy(),
            source=self.state.source,
            threshold=self.state.threshold,
            data_name=str(folder.folder) if folder.folder is not None else "",
            model_id=model.model_id if model is not None else "",
            model_name=model.name if model is not None else "",
            tta=self._tta(),
        )

    def refresh(self) -> None:
        """Recompute the report now (the panel asks when it is shown)."""
        self._dirty = True
        self._evaluate_soon.cancel()
        self._request()

    def schedule(self) -> None:
        """Something the report shows changed: recompute it soon (throttled)."""
        self._dirty = True
        if self.enabled:
            # At most one snapshot per interval while scores stream in, and the worker keeps
            # at most one computation waiting.
            delay = EVALUATION_DELAY_SCORING_MS if self._scoring() else EVALUATION_DELAY_MS
            if self._evaluate_soon.timeout() != delay:
                self._evaluate_soon.setTimeout(delay)
            self._evaluate_soon()

    def scoring_finished(self) -> None:
        """The final scores need not wait a second."""
        self._evaluate_soon.setTimeout(EVALUATION_DELAY_MS)

    def _on_folder_closed(self) -> None:
        self.worker.cancel()
        self.state.report = None
        self.schedule()

    def _request(self) -> None:
        if not self.enabled or not self._dirty:
            return
        self._dirty = False
        if self._folder.folder is None:
            self.state.set_report(None)
            return
        self.worker.request(self.request())

    def _on_ready(self, _request: int, report: EvaluationReport) -> None:
        self.state.set_report(report)

    def _on_failed(self, _request: int, reason: str) -> None:
        self.message.emit(f"Metrics not updated: {reason}")

    def shutdown(self) -> None:
        self._evaluate_soon.cancel()
        self.worker.shutdown()  # before the store it may be reading closes
