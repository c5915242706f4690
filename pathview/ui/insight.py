"""InsightController: quality flags, duplicate groups and embeddings of the open folder.

Scoring brings each batch's quality rows and embeddings (``ScoreBatch.quality``,
``ScoreBatch.features``); this controller stores them in the table's
:class:`pathview.triage.InsightColumns`. Duplicate groups need every row's hashes, so they are
computed on a worker thread when scoring ends (and re-announced with ``groups_changed``);
groups whose reviews disagree or whose labels straddle both classes are kept as
``conflicts`` and re-checked whenever reviews or labels change.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from pathview.quality import PatchQuality
from pathview.scoring import ScoreBatch
from pathview.triage import (
    DuplicateGroups,
    GroupConflict,
    SortKey,
    group_conflicts,
    group_rows,
    implied_labels,
)
from pathview.ui.folder import FolderController
from pathview.ui.scoring import ScoringController
from pathview.ui.selection import SelectionController
from pathview.workers.tasks import TaskPool


def _subset(quality: PatchQuality, keep: list[int]) -> PatchQuality:
    at = np.asarray(keep, np.int64)
    return PatchQuality(
        quality.measures.take(at), [quality.sha1[i] for i in keep], quality.hashes[at]
    )


class InsightController(QObject):
    """Stores quality rows and embeddings as they are scored; owns the duplicate groups'
    computation and their conflicts."""

    insight_arrived = Signal()  # quality rows / embeddings of a batch are in the table
    groups_changed = Signal()  # duplicate groups (and conflicts) recomputed
    conflicts_changed = Signal(list)  # list[GroupConflict]
    message = Signal(str)

    def __init__(
        self,
        folder: FolderController,
        scoring: ScoringController,
        selection: SelectionController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._selection = selection
        self._threshold = 0.5
        self._pool = TaskPool("duplicates", 1, self)
        self._grouping = False
        self._regroup_again = False
        self.conflicts: list[GroupConflict] = []
        scoring.worker.scores_ready.connect(self._on_scores)
        scoring.scoring_finished.connect(self._on_scoring_finished)
        folder.folder_closed.connect(self._on_closed)
        folder.labels_applied.connect(lambda _rows: self.check_conflicts())

    # ------------------------------------------------------------------ scores in
    def _on_scores(self, _request: int, batch: ScoreBatch) -> None:
        if batch.quality is None and batch.features is None:
            return
        table = self._folder.table
        keep, rows = [], []
        for i, pid in enumerate(batch.ids):
            row = table.row_of(pid)
            if row is not None:
                keep.append(i)
                rows.append(row)
        if not rows:
            return
        quality = None if batch.quality is None else _subset(batch.quality, keep)
        features = None if batch.features is None else batch.features[np.asarray(keep)]
        table.insight.set_rows(rows, quality, features, size=len(table))
        self.insight_arrived.emit()

    def _on_scoring_finished(self, outcome: str) -> None:
        if (
            outcome in ("done", "cancelled")
            or self._folder.table.insight.known(len(self._folder.table)).any()
        ):
            # In a turn of the event loop of its own: copying a 220,025-row folder's grouping
            # inputs takes about 20 ms, and the end of scoring already repaints the grid and
            # the panels in this one.
            generation = self._folder.generation
            QTimer.singleShot(0, self, lambda: self._regroup_if_open(generation))

    def _regroup_if_open(self, generation: int) -> None:
        if generation == self._folder.generation:
            self.regroup()

    # ------------------------------------------------------------------ groups
    def regroup(self) -> None:
        """Recompute the duplicate groups off the GUI thread (once more if asked meanwhile)."""
        if self._grouping:
            self._regroup_again = True
            return
        table = self._folder.table
        n = len(table)
        if n == 0 or not table.insight.known(n).any():
            return
        # The columns hold n rows now (known() sized them), so the worker's copies of them
        # never resize them: it takes the copies itself (20 ms and more for a 220,025-row
        # folder, which the GUI thread spent here, at the end of scoring).
        insight = table.insight
        generation = self._folder.generation
        self._grouping = True
        self._pool.start(
            lambda _emit: group_rows(*insight.grouping_inputs(n)),
            lambda groups: self._on_grouped(generation, groups),
            lambda reason: self._on_group_failed(generation, reason),
        )

    def _on_grouped(self, generation: int, groups: DuplicateGroups) -> None:
        self._grouping = False
        if generation != self._folder.generation:
            return
        insight = self._folder.table.insight
        before = insight.groups.any()[: len(groups.exact)].copy()
        insight.set_groups(groups)
        changed = np.flatnonzero(before | groups.any()).tolist()
        self._folder.mark_dirty(changed)
        # The conflicts, the panels and the order in a turn of the event loop of their own:
        # for a 220,025-row folder whose rows are all in groups, taking the new groups and
        # checking their conflicts in one turn stalled the event loop for 58 ms.
        QTimer.singleShot(0, self, lambda: self._after_grouped(generation))

    def _after_grouped(self, generation: int) -> None:
        if generation != self._folder.generation:
            return
        self.check_conflicts()
        self.groups_changed.emit()
        sel = self._selection
        if sel.sort_key is SortKey.DUPLICATE_GROUP or sel.filter_spec.quality:
            sel.apply_order()
        if self._regroup_again:
            self._regroup_again = False
            self.regroup()

    def _on_group_failed(self, generation: int, reason: str) -> None:
        self._grouping = False
        if generation == self._folder.generation:
            self.message.emit(f"Duplicate groups not computed: {reason}")

    def set_threshold(self, threshold: float) -> None:
        """The call threshold the review labels are implied at."""
        self._threshold = threshold
        self.check_conflicts()

    def check_conflicts(self) -> list[GroupConflict]:
        """Re-check the groups whose reviews disagree or whose labels straddle both classes."""
        table = self._folder.table
        n = len(table)
        insight = table.insight
        insight.known(n)
        groups = DuplicateGroups(insight.groups.exact[:n], insight.groups.near[:n])
        p, _, truth, review = table.arrays()
        labels = implied_labels(p, review, self._threshold)
        conflicts = group_conflicts(groups, labels, truth) if n else []
        if conflicts != self.conflicts:
            self.conflicts = conflicts
            self.conflicts_changed.emit(conflicts)
            if conflicts:
                self.message.emit(
                    f"{len(conflicts)} duplicate group(s) with conflicting reviews or labels"
                    " (Quality ▸ duplicates shows them)"
                )
        return conflicts

    def _on_closed(self) -> None:
        self.conflicts = []
        self._regroup_again = False

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.wait()
