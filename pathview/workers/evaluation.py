"""Evaluation reports for the metrics panel, built off the GUI thread.

Building a report sorts every score (ROC), bins them and reads the review store (agreement,
adjudication queue): tens to hundreds of milliseconds on a large folder, too long for the GUI
thread while scores stream in. Requests are coalesced: one computation at a time, and while it
runs only the newest request waits; results of a request older than the last ``cancel`` (a
folder change) are dropped, and results never arrive out of order.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from pathview.evaluation import EvaluationReport, EvaluationRequest, evaluate_request
from pathview.workers.base import next_request_id
from pathview.workers.tasks import TaskPool

#: request -> report; the default is :func:`pathview.evaluation.evaluate_request`.
Evaluator = Callable[[EvaluationRequest], EvaluationReport]


class EvaluationWorker(QObject):
    """Builds :class:`EvaluationReport` s on a one-thread pool; signals fire in the GUI thread."""

    report_ready = Signal(int, EvaluationReport)  # request id, report
    report_failed = Signal(int, str)  # request id, reason

    def __init__(self, parent: QObject | None = None, evaluator: Evaluator | None = None) -> None:
        super().__init__(parent)
        self._pool = TaskPool("evaluation", 1, self)
        self._evaluator = evaluator or evaluate_request
        self._running = 0  # id of the computation in flight (0: none)
        self._waiting: tuple[int, EvaluationRequest] | None = None
        self._valid_from = 0  # results of older requests are dropped
        self._delivered = 0

    @property
    def busy(self) -> bool:
        """A computation is running or waiting."""
        return bool(self._running or self._waiting)

    def request(self, request: EvaluationRequest) -> int:
        """Ask for a report of ``request``; returns the id its result will carry.

        While a computation runs, this request replaces any other that was waiting.
        """
        request_id = next_request_id()
        self._waiting = (request_id, request)
        self._pump()
        return request_id

    def cancel(self) -> None:
        """Forget what is waiting and drop the results of every request made so far."""
        self._waiting = None
        self._valid_from = next_request_id()

    def shutdown(self) -> None:
        """Drop everything and wait for a running computation to end."""
        self.cancel()
        self._pool.clear()
        self._pool.wait()

    def _pump(self) -> None:
        if self._running or self._waiting is None:
            return
        request_id, request = self._waiting
        self._waiting = None
        self._running = request_id
        evaluator = self._evaluator
        self._pool.start(
            lambda _emit: evaluator(request),
            lambda report: self._on_done(request_id, report),
            lambda reason: self._on_failed(request_id, reason),
        )

    def _finish(self, request_id: int) -> bool:
        """Bookkeeping when a computation ends; True when its result is still wanted."""
        if request_id == self._running:
            self._running = 0
        wanted = request_id >= self._valid_from and request_id > self._delivered
        if wanted:
            self._delivered = request_id
        self._pump()
        return wanted

    def _on_done(self, request_id: int, report: EvaluationReport) -> None:
        if self._finish(request_id):
            self.report_ready.emit(request_id, report)

    def _on_failed(self, request_id: int, reason: str) -> None:
        if self._finish(request_id):
            self.report_failed.emit(request_id, reason)
