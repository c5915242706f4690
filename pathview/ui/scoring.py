"""ScoringController: the model's lifecycle (a :class:`ModelStatus` value) and scoring.

Scores stream in from the model worker into the folder's table; the grid repaints them through
the folder's throttle. Opening a folder with a model, or loading a model with a folder open,
scores the folder: the folder's score cache answers first for the files it has scored with
this model (:mod:`pathview.scoring.cache`), and only new or changed files are scored.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from pathview.io import FileStatus
from pathview.scoring import ScoreBatch
from pathview.ui.folder import FolderController, freeze_heap
from pathview.ui.model_verdict import VerdictText, format_verdict
from pathview.workers import ModelInfo, ModelWorker
from pathview.workers.model_jobs import Explainer, ModelLoader


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class ModelStatus:
    """Whether there is a model, and the status bar's words for it."""

    state: ModelState
    info: ModelInfo | None = None
    reason: str = ""  # why there is no model (FAILED)

    @property
    def text(self) -> str:
        if self.state is ModelState.LOADING:
            return "Loading model…"
        if self.state is ModelState.FAILED or self.info is None:
            return f"No model: {self.reason}. Browsing and review work; no predictions."
        info = self.info
        device = f" on {info.device}" if info.device else ""
        precision = f", {info.precision}" if info.precision else ""
        note = f" ({info.note})" if info.note else ""
        name = info.name or "model"
        verdict = self.verdict
        said = "" if verdict is None else f" — {verdict.status}"
        return f"{name} ({info.model_id[:12]}){device}{precision}{note}{said}"

    @property
    def verdict(self) -> VerdictText | None:
        """A ready retrained model's verdict against its parent (None: none to show)."""
        if self.state is not ModelState.READY or self.info is None or self.info.verdict is None:
            return None
        return format_verdict(self.info.verdict)

    @property
    def warning(self) -> str:
        """Why the reviewer should not trust this model as an improvement ("" when nothing
        needs saying): a retrained model that measured worse than its parent."""
        verdict = self.verdict
        if verdict is None or not verdict.worse:
            return ""
        return (
            f"This model measured worse than the model it was retrained from ({verdict.figures})"
            ": it is not an improvement. Its predictions are shown; load the parent model "
            "(Model ▸ Load model folder) unless you mean to review with this one."
        )


class ScoringController(QObject):
    """Loads the model and scores the open folder with it."""

    model_changed = Signal(ModelStatus)
    scoring_progressed = Signal(int, int)  # done, total
    scoring_finished = Signal(str)  # "done" | "cancelled" | reason
    scores_arrived = Signal()  # a batch of scores is in the table
    message = Signal(str)

    def __init__(
        self,
        folder: FolderController,
        model_loader: ModelLoader | None = None,
        explainer: Explainer | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self.worker = ModelWorker(self, model_loader, explainer)
        self.status = ModelStatus(ModelState.LOADING)
        self.tta_scored = False
        self.auto_score_tta = False  # scoring started by opening a folder uses TTA
        w = self.worker
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.scores_ready.connect(self._on_scores)
        w.scoring_progressed.connect(
            lambda _id, done, total: self.scoring_progressed.emit(done, total)
        )
        w.scoring_finished.connect(self._on_scoring_finished)
        folder.folder_closed.connect(self._on_folder_closed)

    @property
    def info(self) -> ModelInfo | None:
        return self.worker.info

    @property
    def scoring(self) -> bool:
        return self.worker.scoring

    def load_model(self, model_dir: Path | None, device: str = "auto") -> None:
        self._set_status(ModelStatus(ModelState.LOADING))
        self.worker.load(model_dir, device)

    def _set_status(self, status: ModelStatus) -> None:
        self.status = status
        self.model_changed.emit(status)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        freeze_heap()
        self._set_status(ModelStatus(ModelState.READY, info))
        if self._folder.listing_done and len(self._folder.table):
            self.score(tta=self.auto_score_tta)

    def _on_model_failed(self, reason: str) -> None:
        self._set_status(ModelStatus(ModelState.FAILED, reason=reason))

    def score(self, tta: bool = False) -> bool:
        folder = self._folder
        if folder.folder is None or not len(folder.table):
            return False
        if self.worker.info is None:
            self.message.emit(self.status.text)
            return False
        self.tta_scored = tta
        # The grid's order first (what the reviewer sees fills in first), then hidden rows.
        refs = folder.table.refs_in_order(folder.model.rows)
        # Quality rows and embeddings come from the same pass (the map, flags, duplicates).
        self.worker.score(folder.folder, refs, tta=tta, cache=folder.score_cache, insight=True)
        self.scoring_progressed.emit(0, len(refs))
        return True

    def cancel(self) -> None:
        self.worker.cancel_scoring()

    def scores(self) -> dict[str, float]:
        t = self._folder.table
        return {t.ids[r]: t.p[r] for r in range(len(t)) if not math.isnan(t.p[r])}

    def _on_folder_closed(self) -> None:
        self.worker.cancel_scoring()
        self.tta_scored = False

    def _on_scores(self, _request: int, batch: ScoreBatch) -> None:
        table = self._folder.table
        rows = table.set_scores(batch.ids, batch.p, batch.spread, batch.views)
        for pid, reason in batch.failed.items():
            row = table.row_of(pid)
            if row is not None:
                table.set_status(row, FileStatus.UNREADABLE, reason)
                rows.append(row)
        self._folder.mark_dirty(rows)
        self.scores_arrived.emit()

    def _on_scoring_finished(self, _request: int, outcome: str) -> None:
        self._folder.flush()
        self.scoring_finished.emit(outcome)

    def shutdown(self) -> None:
        self.worker.shutdown()
