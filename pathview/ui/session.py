"""TriageSession: the glue-style state object behind the window.

It holds the open folder, the patch table, the review store, the sort/filter and the current
patch, starts background work through the workers, and tells widgets what changed through
past-tense signals. Widgets only bind to it; it never touches a widget.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from pathview.core import IMAGE_EXTENSIONS, LruCache, PatchRef, Verdict
from pathview.evaluation import SOURCES, EvaluationReport, EvaluationRequest
from pathview.io import FileStatus, LabelsError, PatchInfo, find_labels_csv, read_labels
from pathview.scoring import ScoreBatch, write_scores_csv
from pathview.store import (
    ImportResult,
    ReviewInput,
    ReviewStore,
    StoreError,
    import_reviews,
    open_store_for_folder,
    record_adjudication,
)
from pathview.store import write_labels_csv as store_write_labels_csv
from pathview.store import write_log_csv as store_write_log_csv
from pathview.triage import (
    NEEDS_TTA,
    DwellClock,
    FilterSpec,
    PatchTable,
    ReviewCode,
    SortKey,
    filter_mask,
    next_unreviewed,
    ordered_rows,
    review_counts,
)
from pathview.ui.models import PatchListModel, ThumbnailCache, image_from_pixels
from pathview.ui.review_panel import PatchFacts
from pathview.workers import EvaluationWorker, FolderLister, ModelInfo, ModelWorker, ThumbnailLoader
from pathview.workers.evaluation import Evaluator
from pathview.workers.model_jobs import Explainer, ModelLoader

THUMBNAIL_CACHE = 1024  # 96x96 RGB QImages: ~28 MB at most
INFO_CACHE = 64  # decoded patches kept for the patch view and Grad-CAM
EXPLAIN_DEBOUNCE_MS = 150
REPAINT_MS = 100
# Metrics follow changes at most this often (scores stream in; reviews come in bursts).
EVALUATION_DELAY_MS = 300
EVALUATION_DELAY_SCORING_MS = 1000
REORDER_DEBOUNCE_MS = 200
NEEDS_TTA_TEXT = (
    "Sorting by stability under flips/rotations needs per-view scores: "
    "Model ▸ Score with TTA (Ctrl+T)."
)

_VERDICT_TEXT = {
    ReviewCode.UNREVIEWED: "unreviewed",
    ReviewCode.AGREE: "agreed",
    ReviewCode.DISAGREE: "disagreed",
    ReviewCode.UNSURE: "unsure",
}


def _freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach (``gc.freeze``).

    The app keeps hundreds of thousands of long-lived objects (torch, Qt wrappers, a large
    folder's rows). A full collection walks them all and holds the GIL meanwhile: measured at
    about 250 ms mid-scoring, a visible freeze whichever thread triggers it. Frozen objects are
    never collected, so this is done at points where what is alive stays alive (a model is
    loaded, a listing batch has arrived, a listing is complete); later garbage is collected
    as usual, and frozen objects that are no longer referenced are still freed.
    """
    gc.freeze()


class TriageSession(QObject):
    """State and behaviour of one triage session (one folder at a time)."""

    folder_opened = Signal(object)  # Path
    listing_progressed = Signal(int)  # patches listed so far
    listing_finished = Signal(int)  # number of patches
    folder_failed = Signal(str)  # reason (missing folder, no patches, ...)
    order_changed = Signal()  # the grid was re-sorted/re-filtered
    current_changed = Signal(int)  # position in the grid, -1 for none
    current_updated = Signal()  # facts/pixels of the current patch changed
    heatmap_changed = Signal(object)  # map in [0, 1] or None
    counts_changed = Signal(object)  # ReviewCounts
    scoring_progressed = Signal(int, int)  # done, total
    scoring_finished = Signal(str)  # "done" | "cancelled" | reason
    model_changed = Signal(str)  # status text: model id or why there is none
    review_recorded = Signal(str, str)  # patch id, verdict ("" after undo)
    labels_loaded = Signal(str)  # message
    message = Signal(str)  # transient status-bar text
    table_changed = Signal()  # scores / reviews / truth changed (histogram)
    evaluation_ready = Signal(object)  # EvaluationReport (None: no folder)
    reviews_imported = Signal(object)  # ImportResult

    def __init__(
        self,
        parent: QObject | None = None,
        model_loader: ModelLoader | None = None,
        explainer: Explainer | None = None,
        now: Callable[[], float] = time.monotonic,
        evaluator: Evaluator | None = None,
    ) -> None:
        super().__init__(parent)
        self.table = PatchTable()
        self.thumbnails = ThumbnailCache(THUMBNAIL_CACHE)
        self.model = PatchListModel(self.table, self.thumbnails)
        self.lister = FolderLister(self)
        self.loader = ThumbnailLoader(self)
        self.model_worker = ModelWorker(self, model_loader, explainer)
        self.evaluation_worker = EvaluationWorker(self, evaluator)
        self.thumbnails.request = self.loader.request
        self._infos: LruCache[str, PatchInfo] = LruCache(INFO_CACHE)
        self.clock = DwellClock(now)

        self.folder: Path | None = None
        self.store: ReviewStore | None = None
        self.labels_path: Path | None = None
        self.reviewer = ""
        self.auto_advance = False
        self.sort_key = SortKey.NAME
        self.filter_spec = FilterSpec()
        self.listing_done = False
        self._listing_generation = 0  # bumped by every close: late callbacks check it
        self._first_pending = False  # the first patch is about to be selected
        self.position = -1
        self.current_info: PatchInfo | None = None
        self.explanation: object | None = None
        self.explain_method = ""
        self.explain_layer = ""
        self.heatmap_enabled = True
        self.tta_scored = False
        self.auto_score_tta = False  # scoring started by opening a folder uses TTA
        self._model_status = "Loading model…"
        # Evaluation (the metrics panel): only computed while someone looks at it.
        self.threshold = 0.5  # P(tumour) >= threshold is called tumour (metrics, stability)
        self.evaluation_source = "both"
        self.evaluation_enabled = False
        self.evaluation_report: EvaluationReport | None = None
        self._evaluation_dirty = True

        # Results arrive in bursts (score batches, thumbnails); the grid repaints at most every
        # REPAINT_MS instead of once per result.
        self._dirty_rows: set[int] = set()
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(REPAINT_MS)
        self._repaint_timer.timeout.connect(self._flush_dirty_rows)

        self._explain_timer = QTimer(self)
        self._explain_timer.setSingleShot(True)
        self._explain_timer.setInterval(EXPLAIN_DEBOUNCE_MS)
        self._explain_timer.timeout.connect(self._request_explanation)

        self._evaluation_timer = QTimer(self)
        self._evaluation_timer.setSingleShot(True)
        self._evaluation_timer.timeout.connect(self._request_evaluation)
        self._reorder_timer = QTimer(self)
        self._reorder_timer.setSingleShot(True)
        self._reorder_timer.setInterval(REORDER_DEBOUNCE_MS)
        self._reorder_timer.timeout.connect(self.apply_order)
        self.table_changed.connect(self._schedule_evaluation)
        self.evaluation_worker.report_ready.connect(self._on_evaluation_ready)
        self.evaluation_worker.report_failed.connect(self._on_evaluation_failed)

        self.lister.listing_progressed.connect(self._on_listed)
        self.lister.listing_finished.connect(self._on_listing_finished)
        self.lister.listing_failed.connect(self._on_listing_failed)
        self.loader.thumbnail_loaded.connect(self._on_patch_loaded)
        w = self.model_worker
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.scores_ready.connect(self._on_scores)
        w.scoring_progressed.connect(
            lambda _id, done, total: self.scoring_progressed.emit(done, total)
        )
        w.scoring_finished.connect(self._on_scoring_finished)
        w.explanation_ready.connect(self._on_explained)
        w.explanation_failed.connect(self._on_explain_failed)

    # ------------------------------------------------------------------ model
    @property
    def model_info(self) -> ModelInfo | None:
        return self.model_worker.info

    @property
    def model_status(self) -> str:
        return self._model_status

    def load_model(self, model_dir: Path | None, device: str = "auto") -> None:
        self._model_status = "Loading model…"
        self.model_changed.emit(self._model_status)
        self.model_worker.load(model_dir, device)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        _freeze_heap()
        self.explain_method = self.explain_method or next(iter(info.methods), "")
        self.explain_layer = info.default_layer
        device = f" on {info.device}" if info.device else ""
        precision = f", {info.precision}" if info.precision else ""
        note = f" ({info.note})" if info.note else ""
        name = str(info.metadata.get("name", "")) or "model"
        self._model_status = f"{name} ({info.model_id[:12]}){device}{precision}{note}"
        self.model_changed.emit(self._model_status)
        if self.listing_done and len(self.table):
            self.score(tta=self.auto_score_tta)
        self._explain_timer.start()

    def _on_model_failed(self, reason: str) -> None:
        self._model_status = f"No model: {reason}. Browsing and review work; no predictions."
        self.model_changed.emit(self._model_status)

    # ------------------------------------------------------------------ folders
    def open_folder(self, folder: Path) -> None:
        """Cancel everything about the current folder and start listing ``folder``."""
        self.close_folder()
        folder = Path(folder).expanduser().resolve()
        self.folder = folder
        self.loader.set_folder(folder)
        self.folder_opened.emit(folder)
        if not folder.is_dir():
            self.folder_failed.emit(f"Not a folder: {folder}")
            return
        try:
            self.store = open_store_for_folder(folder)
        except (StoreError, OSError) as exc:
            self.store = None
            self.message.emit(f"Reviews cannot be saved: {exc}")
        if self.store is not None:
            states = self.store.current_states()
            self.table.set_reviews({pid: s.verdict for pid, s in states.items()})
        labels = find_labels_csv(folder)
        if labels is not None:
            self.load_labels(labels)
        self.lister.list_folder(folder)
        self.counts_changed.emit(review_counts(self.table))

    def close_folder(self) -> None:
        self.lister.cancel()
        self.model_worker.cancel_scoring()
        self.model_worker.forget_explanation()
        self.evaluation_worker.cancel()
        self.evaluation_report = None
        self._explain_timer.stop()
        self._reorder_timer.stop()
        self.loader.set_folder(None)
        if self.store is not None:
            self.store.close()
            self.store = None
        self.folder = None
        self.labels_path = None
        self.listing_done = False
        self._listing_generation += 1
        self._first_pending = False
        self.tta_scored = False
        self.table = PatchTable()
        self.model.set_table(self.table)
        self.thumbnails.clear()
        self._infos.clear()
        self._dirty_rows.clear()
        self._repaint_timer.stop()
        self._set_position(-1)
        self.table_changed.emit()

    def _on_listed(self, _request: int, batch: list[PatchRef]) -> None:
        new_rows = self.table.extend(batch)
        # The rows live as long as the folder is open: freezing them now spares the full
        # collections that a growing 220,025-row table would otherwise trigger (~300 ms each).
        _freeze_heap()
        if self.filter_spec == FilterSpec():
            keep = list(new_rows)
        else:  # one numpy mask per batch, not one per row
            mask = filter_mask(self.table, self.filter_spec)
            keep = [r for r in new_rows if mask[r]]
        self.model.append_rows(keep)
        self.listing_progressed.emit(len(self.table))
        if self.position < 0 and self.model.rowCount() > 0 and not self._first_pending:
            # Next turn of the event loop: the grid paints its first tiles before the patch
            # view renders the first patch (one long turn otherwise).
            self._first_pending = True
            generation = self._listing_generation
            QTimer.singleShot(0, self, lambda: self._select_first(generation))

    def _select_first(self, generation: int) -> None:
        self._first_pending = False
        current = generation == self._listing_generation
        if current and self.position < 0 and self.model.rowCount() > 0:
            self.select_position(0)

    def _on_listing_finished(self, _request: int, count: int) -> None:
        self.listing_done = True
        if count == 0 and self.folder is not None:
            self.folder_failed.emit(_empty_folder_reason(self.folder))
            return
        self.apply_order()
        _freeze_heap()
        self.listing_finished.emit(count)
        # The rest in a later turn of the event loop: the grid repaints in its new order first.
        generation = self._listing_generation
        QTimer.singleShot(0, self, lambda: self._after_listing(generation))

    def _after_listing(self, generation: int) -> None:
        if generation != self._listing_generation:  # another folder was opened meanwhile
            return
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        if self.model_worker.info is not None:
            self.score(tta=self.auto_score_tta)

    def _on_listing_failed(self, _request: int, reason: str) -> None:
        self.folder_failed.emit(reason)

    # ------------------------------------------------------------------ labels
    def load_labels(self, path: Path) -> None:
        try:
            table = read_labels(path)
        except LabelsError as exc:
            self.labels_loaded.emit(f"Labels not loaded: {exc}")
            return
        self.labels_path = Path(path)
        changed = self.table.set_truth(table.labels)
        self.model.rows_changed(changed)
        text = f"Ground truth: {len(table.labels):,} labels from {Path(path).name}"
        if table.problems:
            text += f" ({len(table.problems)} rows skipped, first: {table.problems[0]})"
        self.labels_loaded.emit(text)
        self.table_changed.emit()
        self.current_updated.emit()

    # ------------------------------------------------------------------ order
    def set_sort(self, key: SortKey) -> None:
        self.sort_key = key
        if key in NEEDS_TTA and not self.table.has_views:
            self.message.emit(NEEDS_TTA_TEXT)
        self.apply_order()

    def set_filter(self, spec: FilterSpec) -> None:
        self.filter_spec = spec
        self.apply_order()

    def apply_order(self) -> None:
        """Re-sort and re-filter the grid, keeping the current patch selected if shown."""
        self._reorder_timer.stop()
        current_row = self.current_row
        self.model.set_rows(
            ordered_rows(self.table, self.sort_key, self.filter_spec, self.threshold)
        )
        self.order_changed.emit()
        pos = None if current_row is None else self.model.position_of(current_row)
        self.position = -2  # force re-emission after the reset
        if pos is not None:
            self._set_position(pos)
        else:
            self._set_position(0 if self.model.rowCount() else -1)

    # ------------------------------------------------------------------ navigation
    @property
    def current_row(self) -> int | None:
        if 0 <= self.position < self.model.rowCount():
            return self.model.table_row(self.position)
        return None

    @property
    def current_id(self) -> str | None:
        row = self.current_row
        return None if row is None else self.table.ids[row]

    def select_position(self, position: int) -> None:
        if position != self.position:
            self._set_position(position)

    def _set_position(self, position: int) -> None:
        if not 0 <= position < self.model.rowCount():
            position = -1
        self.position = position
        self.explanation = None
        self.model_worker.forget_explanation()
        row = self.current_row
        self.clock.start(None if row is None else self.table.ids[row])
        self.current_info = None
        if row is not None:
            ref = self.table.ref(row)
            info = self._infos.get(ref.id)
            if info is not None:
                self.current_info = info
            else:
                self.loader.request(ref, urgent=True)
        self.current_changed.emit(position)
        self.current_updated.emit()
        self.heatmap_changed.emit(None)
        self._explain_timer.start()

    def select_patch(self, patch_id: str) -> bool:
        """Select a patch by id (e.g. from a list in another panel); False if not shown."""
        row = self.table.row_of(patch_id)
        pos = None if row is None else self.model.position_of(row)
        if pos is None:
            return False
        self.select_position(pos)
        return True

    def next_patch(self) -> None:
        if self.position + 1 < self.model.rowCount():
            self.select_position(self.position + 1)

    def previous_patch(self) -> None:
        if self.position > 0:
            self.select_position(self.position - 1)

    def next_unreviewed(self) -> bool:
        pos = next_unreviewed(self.model.rows, max(self.position, -1), self.table.review)
        if pos is None:
            self.message.emit("Every patch in this view is reviewed.")
            return False
        self.select_position(pos)
        return True

    # ------------------------------------------------------------------ patches
    def _on_patch_loaded(self, patch_id: str, info: PatchInfo) -> None:
        row = self.table.row_of(patch_id)
        if row is None:
            return
        if info.pixels is not None:
            self.thumbnails.put(patch_id, image_from_pixels(info.pixels))
        self._infos.put(patch_id, info)
        self.table.set_status(row, info.status, info.reason)
        self._mark_dirty([row])
        if row == self.current_row:
            self.current_info = info
            self.current_updated.emit()
            self._explain_timer.start()

    def current_facts(self) -> PatchFacts:
        row = self.current_row
        if row is None:
            return PatchFacts()
        t = self.table
        p = t.p[row]
        if math.isnan(p):
            prob = "not scored" if self.model_worker.info is not None else "no model"
        else:
            prob = f"{p:.3f}"
            if not math.isnan(t.spread[row]):
                prob += f" ± {t.spread[row]:.3f} (TTA spread)"
            prob += "  → tumour" if p >= 0.5 else "  → normal"
        truth = "unknown" if t.truth[row] < 0 else ("1 (tumour)" if t.truth[row] else "0 (normal)")
        review = _VERDICT_TEXT[ReviewCode(t.review[row])]
        info = self.current_info
        if info is None:
            size, integrity = "loading…", "loading…"
        else:
            px = "unreadable" if info.size is None else f"{info.size[0]} × {info.size[1]} px"
            nbytes = "" if info.file_size is None else f", {info.file_size:,} bytes"
            size = px + nbytes
            integrity = info.integrity.value
            if info.reason:
                integrity += f" — {info.reason}"
        expl = self.explanation
        focus = "—"
        if expl is None:
            if not self.heatmap_enabled:
                explanation = "hidden"
            elif self.model_worker.info is None:
                explanation = "no model"
            else:
                explanation = "computing…"
        else:
            explanation = f"{_method_name(self, expl)} at {getattr(expl, 'layer', '?')}"
            if getattr(expl, "map", None) is None:
                explanation += f": {getattr(expl, 'status', '')} ({getattr(expl, 'reason', '')})"
            cf = getattr(expl, "centre_focus", None)
            if cf is not None:
                focus = f"{cf:.0%} of the map inside the centre box"
        return PatchFacts(
            name=t.relpaths[row],
            probability=prob,
            p_value=None if math.isnan(p) else p,
            centre_focus=focus,
            truth=truth,
            review=review,
            file=size,
            integrity=integrity,
            explanation=explanation,
        )

    # ------------------------------------------------------------------ explanations
    def set_heatmap_enabled(self, enabled: bool) -> None:
        self.heatmap_enabled = enabled
        if enabled:
            self._explain_timer.start()
        self.current_updated.emit()

    def set_explain_method(self, method: str) -> None:
        if method and method != self.explain_method:
            self.explain_method = method
            self._reexplain()

    def set_explain_layer(self, layer: str) -> None:
        if layer and layer != self.explain_layer:
            self.explain_layer = layer
            self._reexplain()

    def _reexplain(self) -> None:
        self.explanation = None
        self.heatmap_changed.emit(None)
        self.current_updated.emit()
        self._explain_timer.start()

    def _request_explanation(self) -> None:
        info = self.current_info
        if (
            not self.heatmap_enabled
            or self.model_worker.info is None
            or info is None
            or info.pixels is None
            or self.explanation is not None
        ):
            return
        self.model_worker.explain(
            info.patch_id, info.pixels, self.explain_method, self.explain_layer
        )

    def _on_explained(self, _request: int, patch_id: str, explanation: object) -> None:
        if patch_id != self.current_id:
            return
        self.explanation = explanation
        heat = getattr(explanation, "map", None)
        self.heatmap_changed.emit(heat)
        self.current_updated.emit()

    def _on_explain_failed(self, _request: int, patch_id: str, reason: str) -> None:
        if patch_id == self.current_id:
            self.message.emit(f"No heat map: {reason}")

    # ------------------------------------------------------------------ scoring
    def score(self, tta: bool = False) -> bool:
        if self.folder is None or not len(self.table):
            return False
        if self.model_worker.info is None:
            self.message.emit(self._model_status)
            return False
        self.tta_scored = tta
        # The grid's order first (what the reviewer sees fills in first), then hidden rows.
        refs = self.table.refs_in_order(self.model.rows)
        self.model_worker.score(self.folder, refs, tta=tta)
        self.scoring_progressed.emit(0, len(refs))
        return True

    def cancel_work(self) -> None:
        self.model_worker.cancel_scoring()
        self.lister.cancel()

    def _on_scores(self, _request: int, batch: ScoreBatch) -> None:
        rows = self.table.set_scores(batch.ids, batch.p, batch.spread, batch.views)
        for pid, reason in batch.failed.items():
            row = self.table.row_of(pid)
            if row is not None:
                self.table.set_status(row, FileStatus.UNREADABLE, reason)
                rows.append(row)
        self._mark_dirty(rows)
        self.table_changed.emit()

    def _mark_dirty(self, rows: list[int]) -> None:
        self._dirty_rows.update(rows)
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _flush_dirty_rows(self) -> None:
        rows, self._dirty_rows = self._dirty_rows, set()
        self.model.rows_changed(sorted(rows))
        current = self.current_row
        if current is not None and current in rows:
            self.current_updated.emit()

    def _on_scoring_finished(self, _request: int, outcome: str) -> None:
        self._flush_dirty_rows()
        if self._evaluation_timer.isActive():  # the final scores need not wait a second
            self._evaluation_timer.start(EVALUATION_DELAY_MS)
        self.scoring_finished.emit(outcome)
        if outcome == "done" and self.sort_key is not SortKey.NAME:
            self.apply_order()

    # ------------------------------------------------------------------ reviews
    def record(self, verdict: Verdict) -> bool:
        """Write ``verdict`` on the current patch to the store at once."""
        row = self.current_row
        if row is None:
            return False
        if self.store is None:
            self.message.emit("No review store is open: the verdict was not saved.")
            return False
        if not self.reviewer:
            self.message.emit("Set a reviewer name first (Review ▸ Change reviewer).")
            return False
        t = self.table
        p = None if math.isnan(t.p[row]) else t.p[row]
        info = self.current_info
        expl = self.explanation
        shown = expl is not None and self.heatmap_enabled and getattr(expl, "map", None) is not None
        model = self.model_worker.info
        try:
            self.store.record(
                ReviewInput(
                    patch_id=t.ids[row],
                    verdict=verdict,
                    reviewer=self.reviewer,
                    pixel_sha1=(info.sha1 or "") if info is not None else "",
                    relpath=t.relpaths[row],
                    seconds_spent=round(self.clock.seconds(), 3),
                    model_id=model.model_id if (model is not None and p is not None) else "",
                    p_tumour=p,
                    explanation_method=getattr(expl, "method", "") if shown else "",
                    explanation_layer=getattr(expl, "layer", "") if shown else "",
                    centre_focus=getattr(expl, "centre_focus", None) if shown else None,
                )
            )
        except (StoreError, ValueError) as exc:  # locked past the timeout, or refused
            self.message.emit(f"The verdict was not saved: {exc}")
            return False
        self.table.set_review(t.ids[row], verdict)
        self.model.rows_changed([row])
        self.clock.restart()
        self.review_recorded.emit(t.ids[row], Verdict(verdict).value)
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        self.current_updated.emit()
        if self.auto_advance:
            self.next_unreviewed()
        return True

    def undo(self) -> str | None:
        """Retract this reviewer's latest verdict; selects the patch it was about."""
        if self.store is None:
            return None
        try:
            event = self.store.undo(self.reviewer or None)
        except StoreError as exc:  # locked past the timeout
            self.message.emit(f"Nothing was undone: {exc}")
            return None
        if event is None:
            self.message.emit("Nothing to undo.")
            return None
        patch_id = event.patch_id
        state = self.store.current_states().get(patch_id)
        row = self.table.set_review(patch_id, None if state is None else state.verdict)
        if row is not None:
            self.model.rows_changed([row])
            pos = self.model.position_of(row)
            if pos is not None:
                self.select_position(pos)
        self.review_recorded.emit(patch_id, "" if state is None else state.verdict.value)
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        self.current_updated.emit()
        self.message.emit(f"Undid the verdict on {patch_id}")
        return patch_id

    def _reload_reviews(self) -> None:
        """Re-read every patch's review state from the store (after an import)."""
        if self.store is None:
            return
        states = self.store.current_states()
        changed = self.table.set_reviews({pid: s.verdict for pid, s in states.items()})
        self.model.rows_changed(changed)
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        self.current_updated.emit()

    def import_reviews(self, source: Path) -> ImportResult:
        """Merge a colleague's review store (.sqlite) or review log (.csv) into this folder's
        store, as ``pathview import`` does (idempotent, all or nothing).

        Raises StoreError (or OSError) with the reason; the store is then unchanged.
        """
        if self.store is None:
            raise StoreError("open a folder first: its review store receives the reviews")
        result = import_reviews(self.store, source)
        self._reload_reviews()
        self.reviews_imported.emit(result)
        self.message.emit(
            f"Imported {result.added:,} new review events from {Path(source).name} "
            f"({result.read:,} read)"
        )
        return result

    def adjudicate(self, patch_id: str, label: int | None) -> bool:
        """Record a final verdict (1 tumour, 0 normal, None unsure) on ``patch_id`` as the
        current reviewer in the adjudicator role; exports and retraining honour it."""
        if self.store is None:
            self.message.emit("No review store is open: the final verdict was not saved.")
            return False
        if not self.reviewer:
            self.message.emit("Set a reviewer name first (Review ▸ Change reviewer).")
            return False
        row = self.table.row_of(patch_id)
        p = None if row is None or math.isnan(self.table.p[row]) else self.table.p[row]
        model = self.model_worker.info
        try:
            event = record_adjudication(
                self.store,
                patch_id,
                label,
                self.reviewer,
                p_tumour=p,
                model_id=model.model_id if (model is not None and p is not None) else "",
            )
        except (ValueError, StoreError) as exc:
            self.message.emit(f"Final verdict not recorded: {exc}")
            return False
        if row is not None:
            self.table.set_review(patch_id, event.verdict)
            self.model.rows_changed([row])
        verdict = "" if event.verdict is None else event.verdict.value
        self.review_recorded.emit(patch_id, verdict)
        self.counts_changed.emit(review_counts(self.table))
        self.table_changed.emit()
        self.current_updated.emit()
        return True

    # ------------------------------------------------------------------ evaluation
    def set_evaluation_enabled(self, enabled: bool) -> None:
        """Compute reports only while the metrics panel is shown."""
        self.evaluation_enabled = enabled
        if enabled and self._evaluation_dirty:
            self._schedule_evaluation()

    def set_evaluation_source(self, source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        self.evaluation_source = source

    def set_threshold(self, threshold: float) -> None:
        """The call threshold of the metrics and of the stability sort key."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is outside [0, 1]")
        if threshold == self.threshold:
            return
        self.threshold = threshold
        if self.sort_key is SortKey.UNSTABLE:
            self._reorder_timer.start()  # a slider drag re-sorts once, when it rests
        if self.table.has_views:
            self._schedule_evaluation()  # the unstable list depends on the threshold

    def evaluation_request(self) -> EvaluationRequest:
        """A snapshot of the scores, truth, store and per-view scores for a report.

        Copies only (a few ms for 220,000 patches); the worker drops unscored patches.
        """
        t = self.table
        views = t.views() if t.has_views else None
        model = self.model_worker.info
        return EvaluationRequest(
            ids=tuple(t.ids),
            # float32 as score_folder returns them: the same ties and AUC as `pathview score`.
            probs=np.asarray(t.p, dtype=np.float32),
            truth=t.truth_labels,
            store=self.store,
            views=None if views is None else views.copy(),
            source=self.evaluation_source,
            threshold=self.threshold,
            data_name=str(self.folder) if self.folder is not None else "",
            model_id=model.model_id if model is not None else "",
            model_name=str(model.metadata.get("name", "")) if model is not None else "",
            tta=self.tta_scored,
        )

    def refresh_evaluation(self) -> None:
        """Recompute the report now (the panel asks when it is shown)."""
        self._evaluation_dirty = True
        self._evaluation_timer.stop()
        self._request_evaluation()

    def _schedule_evaluation(self) -> None:
        # A throttle: at most one snapshot per interval while scores stream in, and the worker
        # keeps at most one computation waiting.
        self._evaluation_dirty = True
        if self.evaluation_enabled and not self._evaluation_timer.isActive():
            scoring = self.model_worker.scoring
            self._evaluation_timer.start(
                EVALUATION_DELAY_SCORING_MS if scoring else EVALUATION_DELAY_MS
            )

    def _request_evaluation(self) -> None:
        if not self.evaluation_enabled or not self._evaluation_dirty:
            return
        self._evaluation_dirty = False
        if self.folder is None:
            self.evaluation_report = None
            self.evaluation_ready.emit(None)
            return
        self.evaluation_worker.request(self.evaluation_request())

    def _on_evaluation_ready(self, _request: int, report: EvaluationReport) -> None:
        self.evaluation_report = report
        self.evaluation_ready.emit(report)

    def _on_evaluation_failed(self, _request: int, reason: str) -> None:
        self.message.emit(f"Metrics not updated: {reason}")

    # ------------------------------------------------------------------ export
    def export_labels(self, out: Path) -> int:
        if self.store is None:
            raise StoreError("no review store is open")
        return store_write_labels_csv(self.store, out)

    def export_log(self, out: Path) -> int:
        if self.store is None:
            raise StoreError("no review store is open")
        return store_write_log_csv(self.store, out)

    def scores(self) -> dict[str, float]:
        t = self.table
        return {t.ids[r]: t.p[r] for r in range(len(t)) if not math.isnan(t.p[r])}

    def export_submission(self, out: Path) -> int:
        """Kaggle ``id,label`` (label = P(tumour)) of every scored patch, with the same writer
        as ``pathview score``."""
        scores = self.scores()
        if not scores:
            raise ValueError("no scores yet: score the folder first")
        ids = sorted(scores)
        return write_scores_csv(out, ids, [scores[i] for i in ids])

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop every worker thread and close the store (the window calls it on close)."""
        self._explain_timer.stop()
        self._evaluation_timer.stop()
        self._reorder_timer.stop()
        self.lister.shutdown()
        self.loader.shutdown()
        self.model_worker.shutdown()
        self.evaluation_worker.shutdown()  # before the store it may be reading closes
        if self.store is not None:
            self.store.close()
            self.store = None


def _method_name(session: TriageSession, expl: object) -> str:
    method = str(getattr(expl, "method", ""))
    info = session.model_worker.info
    return info.methods.get(method, method) if info is not None else method


def _empty_folder_reason(folder: Path) -> str:
    others = 0
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if not entry.name.startswith("."):
                    others += 1
                if others >= 10_000:
                    break
    except OSError:
        pass
    kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
    if others == 0:
        return f"{folder} is empty: no patch images ({kinds}) to show."
    more = "+" if others >= 10_000 else ""
    return f"{folder} holds {others:,}{more} entries but no patch images ({kinds})."
