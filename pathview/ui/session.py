"""TriageSession: the controllers of one triage session, wired together.

Each controller has one reason to change and owns its values:

- :class:`FolderController` (``folders``): the open folder, its table, store, listing, labels;
- :class:`SelectionController` (``selection``): sort, filter and the current patch;
- :class:`ExplanationController` (``explanations``): the current patch's heat map;
- :class:`ScoringController` (``scoring``): the model's status and scoring;
- :class:`ReviewController` (``reviews``): verdicts, undo, final verdicts, import, export;
- :class:`EvaluationController` (``evaluation``): threshold, reference source, reports;
- :class:`InsightController` (``insight``): quality rows, duplicate groups, embeddings;
- :class:`MapController` (``map``): the embedding map's projection, colours and picking;
- :class:`SimilarController` (``similar``): the current patch's nearest neighbours;
- :class:`ViewState` (``view``): box, heat map, opacity, method and layer.

The session only connects them and re-announces what the window shows through past-tense
signals; it never touches a widget. Its properties read the controllers' values (no copies).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from pathview.core import Verdict
from pathview.core.memory import prefer_small_pages
from pathview.explain import Explanation
from pathview.io import PatchInfo
from pathview.store import ReviewStore
from pathview.triage import PatchTable, ReviewCounts, SortKey, review_counts
from pathview.ui.evaluation import EvaluationController
from pathview.ui.explanations import ExplanationController
from pathview.ui.facts import PatchFacts, PatchRow, format_patch_facts
from pathview.ui.folder import FolderController
from pathview.ui.insight import InsightController
from pathview.ui.map_controller import MapController
from pathview.ui.models import PatchListModel
from pathview.ui.quality_facts import patch_quality_texts
from pathview.ui.reviews import ReviewController
from pathview.ui.scoring import ModelState, ModelStatus, ScoringController
from pathview.ui.selection import SelectionController
from pathview.ui.similar import SimilarController
from pathview.ui.view_state import ViewOptions, ViewState
from pathview.workers import ModelInfo, ModelWorker
from pathview.workers.evaluation import Evaluator
from pathview.workers.model_jobs import Explainer, ModelLoader


class TriageSession(QObject):
    """State and behaviour of one triage session (one folder at a time)."""

    folder_opened = Signal(Path)
    listing_progressed = Signal(int)  # patches listed so far
    listing_finished = Signal(int)  # number of patches
    folder_failed = Signal(str)  # reason (missing folder, no patches, ...)
    order_changed = Signal()  # the grid was re-sorted/re-filtered
    current_changed = Signal(int)  # position in the grid, -1 for none
    current_updated = Signal()  # facts/pixels of the current patch changed
    heatmap_changed = Signal(object)  # map in [0, 1] or None
    counts_changed = Signal(ReviewCounts)
    scoring_progressed = Signal(int, int)  # done, total
    scoring_finished = Signal(str)  # "done" | "cancelled" | reason
    model_changed = Signal(ModelStatus)
    labels_loaded = Signal(str)  # message
    message = Signal(str)  # transient status-bar text
    table_changed = Signal()  # scores / reviews / truth changed (histogram, metrics)

    def __init__(
        self,
        parent: QObject | None = None,
        model_loader: ModelLoader | None = None,
        explainer: Explainer | None = None,
        now: Callable[[], float] = time.monotonic,
        evaluator: Evaluator | None = None,
    ) -> None:
        super().__init__(parent)
        prefer_small_pages()  # see pathview.core.memory: the GUI thread fills large arrays
        self.view = ViewState(parent=self)
        self.folders = FolderController(self)
        self.scoring = ScoringController(self.folders, model_loader, explainer, self)
        self.evaluation = EvaluationController(
            self.folders,
            model=lambda: self.scoring.info,
            scoring=lambda: self.scoring.scoring,
            tta=lambda: self.scoring.tta_scored,
            evaluator=evaluator,
            parent=self,
        )
        self.selection = SelectionController(self.folders, lambda: self.evaluation.threshold, self)
        self.explanations = ExplanationController(
            self.selection, self.view, self.scoring.worker, self
        )
        self.reviews = ReviewController(
            self.folders,
            self.selection,
            self.explanations,
            lambda: self.scoring.info,
            now,
            self,
            p_hidden=lambda: self.view.options.hide_p,
        )
        self.insight = InsightController(self.folders, self.scoring, self.selection, self)
        self.map = MapController(
            self.folders, self.selection, self.insight, lambda: self.evaluation.threshold, self
        )
        self.similar = SimilarController(self.folders, self.selection, self.insight, parent=self)
        self._connect()

    def _connect(self) -> None:
        f, sel, ex, sc, rv, ev = (
            self.folders,
            self.selection,
            self.explanations,
            self.scoring,
            self.reviews,
            self.evaluation,
        )
        for source in (f, sel, ex, sc, rv, ev, self.insight, self.map, self.similar):
            source.message.connect(self.message)
        self.insight.groups_changed.connect(self.current_updated)
        self.insight.groups_changed.connect(self.table_changed)
        rv.reviews_changed.connect(lambda _ids: self.insight.check_conflicts())
        f.folder_opened.connect(self.folder_opened)
        f.listing_progressed.connect(self.listing_progressed)
        f.listing_finished.connect(self._on_listing_finished)
        f.folder_failed.connect(self.folder_failed)
        f.folder_closed.connect(self.table_changed)
        f.folder_closed.connect(ex.clear_cache)
        f.labels_loaded.connect(self.labels_loaded)
        f.labels_applied.connect(self._on_labels_applied)
        f.rows_repainted.connect(self._on_rows_repainted)
        sel.order_changed.connect(self.order_changed)
        sel.current_changed.connect(self.current_changed)
        sel.patch_changed.connect(self.current_updated)
        sel.current_loaded.connect(self.current_updated)
        ex.explanation_changed.connect(self._on_explanation)
        sc.model_changed.connect(self._on_model_changed)
        sc.scoring_progressed.connect(self.scoring_progressed)
        sc.scoring_finished.connect(self._on_scoring_finished)
        sc.scores_arrived.connect(self.table_changed)
        sc.scores_arrived.connect(sel.scores_changed)
        rv.reviews_changed.connect(self._on_reviews_changed)
        ev.state.threshold_changed.connect(lambda _t: sel.threshold_changed())
        ev.state.threshold_changed.connect(self.insight.set_threshold)
        self.table_changed.connect(ev.schedule)
        self.view.changed.connect(self._on_view_changed)

    # ------------------------------------------------------------------ reading
    @property
    def folder(self) -> Path | None:
        return self.folders.folder

    @property
    def table(self) -> PatchTable:
        return self.folders.table

    @property
    def model(self) -> PatchListModel:
        return self.folders.model

    @property
    def store(self) -> ReviewStore | None:
        return self.folders.store

    @property
    def model_worker(self) -> ModelWorker:
        return self.scoring.worker

    @property
    def model_info(self) -> ModelInfo | None:
        return self.scoring.info

    @property
    def model_status(self) -> ModelStatus:
        return self.scoring.status

    @property
    def position(self) -> int:
        return self.selection.position

    @property
    def current_row(self) -> int | None:
        return self.selection.current_row

    @property
    def current_id(self) -> str | None:
        return self.selection.current_id

    @property
    def current_info(self) -> PatchInfo | None:
        return self.selection.current_info

    @property
    def explanation(self) -> Explanation | None:
        return self.explanations.explanation

    @property
    def sort_key(self) -> SortKey:
        return self.selection.sort_key

    @property
    def threshold(self) -> float:
        return self.evaluation.threshold

    @property
    def evaluation_source(self) -> str:
        return self.evaluation.source

    @property
    def evaluation_enabled(self) -> bool:
        return self.evaluation.enabled

    @property
    def reviewer(self) -> str:
        return self.reviews.reviewer

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        self.reviews.reviewer = name

    def current_facts(self) -> PatchFacts:
        row, t = self.current_row, self.table
        info = self.model_info
        options = self.view.options
        facts = format_patch_facts(
            None
            if row is None
            else PatchRow(t.relpaths[row], t.p[row], t.spread[row], t.truth[row], t.review[row]),
            self.current_info,
            self.explanation,
            has_model=info is not None,
            heatmap_enabled=options.heatmap,
            method_names=info.methods if info is not None else None,
            layer_names=info.layer_names if info is not None else None,
            review=self.reviews.state_of(self.current_id),
            held=self.reviews.notes.pending(self.current_id),
            hide_p=options.hide_p,
            hide_truth=options.hide_truth,
        )
        if row is None:
            return facts
        quality, duplicates = patch_quality_texts(t.insight, row, len(t), self.insight.conflicts)
        return replace(facts, quality=quality, duplicates=duplicates)

    # ------------------------------------------------------------------ doing
    def load_model(self, model_dir: Path | None, device: str = "auto") -> None:
        self.scoring.load_model(model_dir, device)

    def open_folder(self, folder: Path) -> None:
        """Cancel everything about the current folder and start listing ``folder``."""
        self.folders.open(folder)

    def close_folder(self) -> None:
        self.folders.close()

    def select_position(self, position: int) -> None:
        self.selection.select_position(position)

    def select_patch(self, patch_id: str) -> bool:
        return self.selection.select_patch(patch_id)

    def record(self, verdict: Verdict) -> bool:
        return self.reviews.record(verdict)

    def record_label(self, label: int) -> bool:
        return self.reviews.record_label(label)

    def undo(self) -> str | None:
        return self.reviews.undo()

    def score(self, tta: bool = False) -> bool:
        return self.scoring.score(tta)

    def scores(self) -> dict[str, float]:
        return self.scoring.scores()

    def cancel_work(self) -> None:
        self.scoring.cancel()
        self.folders.lister.cancel()

    def shutdown(self) -> None:
        """Stop every worker thread and close the store (the window calls it on close)."""
        self.explanations.cancel()
        self.selection.reorder_soon.cancel()
        self.selection.suggestions.shutdown()
        self.scoring.shutdown()
        self.insight.shutdown()
        self.map.shutdown()
        self.similar.shutdown()
        self.evaluation.shutdown()  # before the store it may be reading closes
        self.reviews.shutdown()
        self.folders.shutdown()

    # ------------------------------------------------------------------ wiring
    def _on_listing_finished(self, count: int) -> None:
        self.listing_finished.emit(count)
        # The rest in a later turn of the event loop: the grid repaints in its new order first.
        generation = self.folders.generation
        QTimer.singleShot(0, self, lambda: self._after_listing(generation))

    def _after_listing(self, generation: int) -> None:
        if generation != self.folders.generation:  # another folder was opened meanwhile
            return
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        if self.model_info is not None:
            self.score(tta=self.scoring.auto_score_tta)

    def _on_labels_applied(self, _rows: list[int]) -> None:
        sel = self.selection
        spec = sel.filter_spec
        uses_truth = spec.truth is not None or spec.disagreements_only
        if self.folders.listing_done and (uses_truth or sel.sort_key is SortKey.DISAGREEMENT):
            sel.apply_order()  # labels read after the listing (a resumed truth filter)
        self.table_changed.emit()
        self.current_updated.emit()

    def _on_rows_repainted(self, rows: set[int]) -> None:
        if self.current_row is not None and self.current_row in rows:
            self.current_updated.emit()

    def _on_explanation(self, explanation: Explanation | None) -> None:
        self.heatmap_changed.emit(None if explanation is None else explanation.map)
        self.current_updated.emit()

    def _on_model_changed(self, status: ModelStatus) -> None:
        self.explanations.clear_cache()
        info = status.info
        if status.state is ModelState.READY and info is not None:
            method = self.view.options.method or next(iter(info.methods), "")
            self.view.update(method=method, layer=info.default_layer)
            self.explanations.request_soon()
        self.model_changed.emit(status)

    def _on_scoring_finished(self, outcome: str) -> None:
        self.evaluation.scoring_finished()
        self.scoring_finished.emit(outcome)
        if outcome == "done" and self.sort_key is not SortKey.NAME:
            self.selection.apply_order()

    def _on_reviews_changed(self, _patch_ids: list[str]) -> None:
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        self.current_updated.emit()

    def _on_view_changed(self, new: ViewOptions, old: ViewOptions) -> None:
        if (new.heatmap, new.hide_p, new.hide_truth) != (old.heatmap, old.hide_p, old.hide_truth):
            self.current_updated.emit()  # the facts say "hidden"
        if (new.hide_p, new.hide_truth) != (old.hide_p, old.hide_truth):
            self.model.set_hidden(p=new.hide_p, truth=new.hide_truth)
