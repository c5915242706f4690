"""ReviewController: verdicts and labels, undo, final verdicts, imports and exports (notes and
ground-truth flags: its :class:`~pathview.ui.notes.PatchNotes`).

The review store is the one owner of review state. The table's review column (what the grid
paints, sorts and filters by) is a projection of it, written by one refresh path only,
:meth:`ReviewController.refresh`, which reads the store: for one patch after a verdict, an undo
or a final verdict, for every patch after opening a folder or an import. Each refresh ends in
one ``reviews_changed`` signal. Imports and exports run off the GUI thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from PySide6.QtCore import QObject, Signal

from pathview.core import VIEW_SINGLE, VIEW_TTA, Verdict
from pathview.scoring import write_scores_csv
from pathview.store import (
    ImportResult,
    PatchState,
    ReviewInput,
    ReviewStore,
    StoreError,
    import_reviews,
    record_adjudication,
    write_labels_csv,
    write_log_csv,
)
from pathview.triage import DwellClock
from pathview.triage.bulk import BulkAction, BulkPlan, plan_bulk
from pathview.ui.explanations import ExplanationController
from pathview.ui.folder import FolderController
from pathview.ui.notes import PatchNotes
from pathview.ui.selection import SelectionController
from pathview.workers import ModelInfo
from pathview.workers.tasks import TaskPool

R = TypeVar("R")
NO_REVIEWER_TEXT = "Choose a reviewer first (Review ▸ Change reviewer): nothing was recorded."
#: Agree/disagree are relative to the model's call: without a model they imply no label.
NO_MODEL_VERDICT_TEXT = (
    "No model: agree/disagree need the model's call. Label keys T (tumour) and N (normal) "
    "and U (unsure) still work."
)
#: In blind mode the P (and so the model's call) is hidden: there is no call to agree with.
BLIND_VERDICT_TEXT = (
    "Blind mode hides the model's call: give the label with T (tumour) or N (normal), "
    "or U (unsure)."
)
NOT_SCORED_VERDICT_TEXT = "This patch is not scored yet: no call to agree with (T/N label it)."


def verdict_refusal(verdict: Verdict, has_model: bool, scored: bool, p_hidden: bool) -> str:
    """Why ``verdict`` cannot be given now ("" when it can): agree and disagree are relative
    to the model's call, so they need a model, the P shown (not blind mode) and a scored
    patch; unsure always can. The folder window, the slide window and bulk review ask it."""
    if Verdict(verdict) is Verdict.UNSURE:
        return ""
    if not has_model:
        return NO_MODEL_VERDICT_TEXT
    if p_hidden:
        return BLIND_VERDICT_TEXT
    return "" if scored else NOT_SCORED_VERDICT_TEXT


class ReviewController(QObject):
    """Writes verdicts to the folder's store and keeps the table's projection of it fresh."""

    reviews_changed = Signal(list)  # patch ids refreshed (every patch: an empty list)
    review_recorded = Signal(str, str)  # patch id, verdict ("" after undo)
    reviews_imported = Signal(ImportResult)
    import_failed = Signal(str)  # reason; nothing was imported
    export_finished = Signal(Path, int)  # file, rows written
    export_failed = Signal(Path, str)  # file, reason
    reviewer_changed = Signal(str)  # the name verdicts are recorded under ("" before one is set)
    busy_changed = Signal(str)  # what runs in the background ("" when nothing does)
    message = Signal(str)

    def __init__(
        self,
        folder: FolderController,
        selection: SelectionController,
        explanations: ExplanationController,
        model: Callable[[], ModelInfo | None],
        now: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
        p_hidden: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._selection = selection
        self._explanations = explanations
        self._model = model
        self._p_hidden = p_hidden  # blind mode: the reviewer is not shown P
        self.clock = DwellClock(now)
        self._reviewer = ""
        self.auto_advance = False
        self.notes = PatchNotes(
            lambda: self._selection.current_id,
            lambda: self._reviewer,
            lambda: self.store,
            self._can_write,
            self.refresh,
            self,
        )
        self.notes.message.connect(self.message)
        self._jobs = TaskPool("reviews", 1, self)
        self._running = 0
        folder.store_opened.connect(self._on_store_opened)
        folder.closing.connect(self.wait)  # an import or export still uses the store
        selection.patch_changed.connect(lambda: self.clock.start(self._selection.current_id))

    def _on_store_opened(self) -> None:
        self.notes.clear()  # held for the patches of the folder before
        self.refresh(None)

    @property
    def reviewer(self) -> str:
        return self._reviewer

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        if name != self._reviewer:
            self._reviewer = name
            self.reviewer_changed.emit(name)

    @property
    def store(self) -> ReviewStore | None:
        return self._folder.store

    # ------------------------------------------------------------------ the refresh path
    def refresh(self, patch_ids: Sequence[str] | None) -> None:
        """Re-read the review state of ``patch_ids`` (None: every patch) from the store into
        the table, repaint them and announce it."""
        store, table = self.store, self._folder.table
        if patch_ids is None:
            states = {} if store is None else store.current_states()
            rows = table.set_reviews({pid: (s.verdict, s.label) for pid, s in states.items()})
        else:
            rows = []
            for pid in patch_ids:
                state = None if store is None else store.current_state(pid)
                row = (
                    table.set_review(pid, None)
                    if state is None
                    else table.set_review(pid, state.verdict, state.label)
                )
                if row is not None:
                    rows.append(row)
        self._folder.model.rows_changed(rows)
        self.reviews_changed.emit([] if patch_ids is None else list(patch_ids))

    def _p_of(self, row: int | None) -> float | None:
        if row is None or math.isnan(self._folder.table.p[row]):
            return None
        return float(self._folder.table.p[row])

    def _shown(self, row: int) -> tuple[float | None, str]:
        """The P the reviewer sees on ``row`` and its view ('single' or 'tta'), or (None, "")
        when none is shown (not scored, or hidden in blind mode)."""
        p = self._p_of(row)
        if p is None or self._p_hidden():
            return None, ""
        return p, VIEW_SINGLE if math.isnan(self._folder.table.spread[row]) else VIEW_TTA

    def state_of(self, patch_id: str | None) -> PatchState | None:
        """The review in effect on ``patch_id`` (anyone's latest, as the grid shows it)."""
        if patch_id is None or self.store is None:
            return None
        try:
            return self.store.current_state(patch_id)
        except StoreError:
            return None

    def _can_write(self, what: str) -> ReviewStore | None:
        if self.store is None:
            self.message.emit(f"No review store is open: the {what} was not saved.")
            return None
        if not self.reviewer:
            self.message.emit(NO_REVIEWER_TEXT)
            return None
        return self.store

    # ------------------------------------------------------------------ verdicts
    def verdict_refusal(self, verdict: Verdict) -> str:
        """Why ``verdict`` cannot be given on the current patch now ("" when it can)."""
        row = self._selection.current_row
        scored = row is None or self._p_of(row) is not None
        return verdict_refusal(verdict, self._model() is not None, scored, self._p_hidden())

    def record(self, verdict: Verdict) -> bool:
        """Write ``verdict`` on the current patch to the store at once; the label it implies
        at the P shown is fixed then."""
        refusal = self.verdict_refusal(verdict)
        if refusal:
            self.message.emit(refusal)
            return False
        return self._record(Verdict(verdict), None)

    def record_label(self, label: int) -> bool:
        """Write a label given directly (1 tumour, 0 normal) on the current patch: works with
        no model, or in blind mode; with a P shown it is stored with the verdict it amounts to."""
        return self._record(None, int(label))

    def _record(self, verdict: Verdict | None, label: int | None) -> bool:
        row = self._selection.current_row
        if row is None:
            return False
        store = self._can_write("verdict" if verdict is not None else "label")
        if store is None:
            return False
        t = self._folder.table
        patch_id = t.ids[row]
        p, view = self._shown(row)
        info = self._selection.current_info
        shown = self._explanations.shown
        model = self._model()
        note, flag = self.notes.carried(store, patch_id)
        try:
            store.record(
                ReviewInput(
                    patch_id=patch_id,
                    verdict=verdict,
                    reviewer=self.reviewer,
                    pixel_sha1=(info.sha1 or "") if info is not None else "",
                    relpath=t.relpaths[row],
                    seconds_spent=round(self.clock.seconds(), 3),
                    model_id=model.model_id if (model is not None and p is not None) else "",
                    p_tumour=p,
                    explanation_method=shown.method if shown is not None else "",
                    explanation_layer=shown.layer if shown is not None else "",
                    centre_focus=shown.centre_focus if shown is not None else None,
                    note=note,
                    label=label,
                    view=view,
                    gt_flag=flag,
                )
            )
        except (StoreError, ValueError) as exc:  # locked past the timeout, or refused
            self.message.emit(f"The review was not saved: {exc}")
            return False
        self.notes.written(patch_id)
        self.clock.restart()
        self.refresh([patch_id])
        self.review_recorded.emit(patch_id, "" if verdict is None else verdict.value)
        if self.auto_advance:
            self._selection.next_unreviewed()
        return True

    def undo(self) -> str | None:
        """Retract this reviewer's latest verdict (a bulk review: all of it, as one step);
        selects the patch it was about."""
        if self.store is None:
            return None
        try:
            events = self.store.undo_step(self.reviewer or None)
        except StoreError as exc:  # locked past the timeout
            self.message.emit(f"Nothing was undone: {exc}")
            return None
        if not events:
            self.message.emit("Nothing to undo.")
            return None
        patch_id = events[-1].patch_id
        row = self._folder.table.row_of(patch_id)
        if row is not None:
            self._selection.select_row_if_shown(row)
        self.refresh([e.patch_id for e in events])
        state = self.store.current_state(patch_id)
        verdict = None if state is None else state.verdict
        self.review_recorded.emit(patch_id, "" if verdict is None else verdict.value)
        if len(events) > 1:
            self.message.emit(f"Undid the bulk review of {len(events):,} patches")
        else:
            self.message.emit(f"Undid the verdict on {patch_id}")
        return patch_id

    # ------------------------------------------------------------------ bulk review
    def plan_bulk(self, rows: Sequence[int], action: BulkAction) -> BulkPlan:
        """What ``action`` on table ``rows`` would record now (see
        :func:`pathview.triage.bulk.plan_bulk`): patches this reviewer has reviewed are left
        as they are; agree/disagree need the model's call on each patch."""
        t = self._folder.table
        reviewed = np.zeros(len(t), bool)
        store = self.store
        if store is not None and self.reviewer:
            try:
                mine = store.current_states(self.reviewer)
            except StoreError:
                mine = {}
            for pid in mine:
                row = t.row_of(pid)
                if row is not None:
                    reviewed[row] = True
        # Whether the calls can be used at all; plan_bulk leaves the unscored patches itself.
        calls_hidden = verdict_refusal(
            Verdict.AGREE, self._model() is not None, True, self._p_hidden()
        )
        p = np.asarray(t.p[: len(t)], np.float64)
        return plan_bulk(np.asarray(rows, np.int64), action, p, reviewed, calls_hidden)

    def record_bulk(self, plan: BulkPlan) -> int:
        """Record ``plan`` (from :meth:`plan_bulk`) as one bulk review: one review per patch,
        one batch id, one transaction (all or nothing); returns how many were recorded."""
        if plan.refusal or not len(plan):
            self.message.emit(plan.refusal or "Nothing to record.")
            return 0
        store = self._can_write("bulk review")
        if store is None:
            return 0
        t = self._folder.table
        model = self._model()
        inputs = []
        for row in plan.rows.tolist():
            p, view = self._shown(row)
            inputs.append(
                ReviewInput(
                    patch_id=t.ids[row],
                    verdict=plan.action.verdict,
                    reviewer=self.reviewer,
                    pixel_sha1=t.insight.sha1_of(row),
                    relpath=t.relpaths[row],
                    model_id=model.model_id if (model is not None and p is not None) else "",
                    p_tumour=p,
                    label=plan.action.label,
                    view=view,
                )
            )
        try:
            events = store.record_batch(inputs)
        except (StoreError, ValueError) as exc:
            self.message.emit(f"The bulk review was not saved (nothing was recorded): {exc}")
            return 0
        ids = [e.patch_id for e in events]
        self.refresh(ids)
        self.review_recorded.emit(
            ids[-1], "" if plan.action.verdict is None else plan.action.verdict.value
        )
        self.message.emit(
            f"Recorded “{plan.action.describe()}” on {len(ids):,} patches as one bulk review "
            "(Ctrl+Z undoes it)"
        )
        return len(ids)

    def adjudicate(self, patch_id: str, label: int | None) -> bool:
        """Record a final verdict (1 tumour, 0 normal, None unsure) on ``patch_id`` as the
        current reviewer in the adjudicator role; exports and retraining honour it."""
        store = self._can_write("final verdict")
        if store is None:
            return False
        p = self._p_of(self._folder.table.row_of(patch_id))
        model = self._model()
        try:
            event = record_adjudication(
                store,
                patch_id,
                label,
                self.reviewer,
                p_tumour=p,
                model_id=model.model_id if (model is not None and p is not None) else "",
            )
        except (ValueError, StoreError) as exc:
            self.message.emit(f"Final verdict not recorded: {exc}")
            return False
        self.refresh([patch_id])
        self.review_recorded.emit(patch_id, "" if event.verdict is None else event.verdict.value)
        return True

    # ------------------------------------------------------------------ background jobs
    def _start(
        self,
        what: str,
        work: Callable[[], R],
        done: Callable[[R], None],
        failed: Callable[[str], None],
        this_folder_only: bool = False,
    ) -> None:
        """Run ``work`` on the review jobs' thread; ``done``/``failed`` get its outcome (not
        when ``this_folder_only`` and another folder was opened meanwhile)."""
        generation = self._folder.generation
        self._running += 1
        self.busy_changed.emit(what)

        def finish() -> bool:
            self._running -= 1
            if not self._running:
                self.busy_changed.emit("")
            return not this_folder_only or generation == self._folder.generation

        def on_done(result: R) -> None:
            if finish():
                done(result)

        def on_failed(reason: str) -> None:
            if finish():
                failed(reason)

        self._jobs.start(lambda _emit: work(), on_done, on_failed)

    def wait(self) -> None:
        """Wait for a running import or export (before the store closes)."""
        self._jobs.wait()

    def import_reviews(self, source: Path) -> bool:
        """Merge a colleague's review store (.sqlite) or review log (.csv) into this folder's
        store in the background, as ``pathview import`` does (idempotent, all or nothing).

        ``reviews_imported`` or ``import_failed`` tells how it went; False when no store is
        open (nothing started).
        """
        store = self.store
        if store is None:
            self.import_failed.emit("open a folder first: its review store receives the reviews")
            return False
        source = Path(source)
        self._start(
            f"Importing reviews from {source.name}…",
            lambda: import_reviews(store, source),
            self._on_imported,
            self.import_failed.emit,
            this_folder_only=True,
        )
        return True

    def _on_imported(self, result: ImportResult) -> None:
        self.refresh(None)
        self.reviews_imported.emit(result)
        self.message.emit(
            f"Imported {result.added:,} new review events from {result.source.name} "
            f"({result.read:,} read)"
        )

    def _export(self, out: Path, write: Callable[[], int]) -> None:
        out = Path(out)
        self._start(
            f"Writing {out.name}…",
            write,
            lambda count: self.export_finished.emit(out, count),
            lambda reason: self.export_failed.emit(out, reason),
        )

    def _export_store(self, out: Path, writer: Callable[[ReviewStore, Path], int]) -> bool:
        store = self.store
        if store is None:
            self.export_failed.emit(Path(out), "no review store is open")
            return False
        self._export(out, lambda: writer(store, out))
        return True

    def export_labels(self, out: Path) -> bool:
        """Write the reviewed labels (``id,label``) to ``out`` in the background."""
        return self._export_store(out, write_labels_csv)

    def export_log(self, out: Path) -> bool:
        """Write the whole review log to ``out`` in the background."""
        return self._export_store(out, write_log_csv)

    def export_submission(self, out: Path, scores: dict[str, float]) -> bool:
        """Kaggle ``id,label`` (label = P(tumour)) of every scored patch in ``scores``, with
        the same writer as ``pathview score``, in the background."""
        if not scores:
            self.export_failed.emit(Path(out), "no scores yet: score the folder first")
            return False
        ids = sorted(scores)
        values = [scores[i] for i in ids]
        self._export(out, lambda: write_scores_csv(out, ids, values))
        return True

    def shutdown(self) -> None:
        self.wait()
