"""SelectionController: the grid's order (sort, filter) and the current patch.

The current patch is one value, the table row shown in the patch view; its position in the grid
is derived from it. A re-sort that keeps the patch shown moves the selection in the grid
(``current_changed`` with the new position) without treating it as a new patch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import qdebounced

from pathview.core import LruCache, PatchRef
from pathview.io import PatchInfo
from pathview.triage import (
    NEEDS_TTA,
    FilterSpec,
    ReviewCode,
    SortKey,
    filter_mask,
    next_unreviewed,
    ordered_rows,
)
from pathview.ui.folder import FolderController
from pathview.ui.models import image_from_pixels
from pathview.ui.suggestions import SuggestionController

INFO_CACHE = 64  # decoded patches kept for the patch view and Grad-CAM
REORDER_DEBOUNCE_MS = 200
NO_SUGGESTION_TEXT = "Nothing to suggest: no patch is scored yet (Model ▸ Score folder)."
ALL_SUGGESTED_REVIEWED_TEXT = "Every suggested patch is reviewed."
NEEDS_TTA_TEXT = (
    "Sorting by stability under flips/rotations needs per-view scores: "
    "Model ▸ Score with TTA (Ctrl+T)."
)


class SelectionController(QObject):
    """Sort key, filter and the current patch of the open folder's grid."""

    order_changed = Signal()  # the grid was re-sorted/re-filtered
    current_changed = Signal(int)  # position in the grid, -1 for none
    patch_changed = Signal()  # another patch (or none) is current
    current_loaded = Signal()  # the current patch's pixels/facts arrived
    patch_cached = Signal(str)  # a patch's pixels/facts arrived (any patch: id)
    subset_changed = Signal(int)  # rows picked on the map (-1: no subset)
    message = Signal(str)

    def __init__(
        self, folder: FolderController, threshold: Callable[[], float], parent: QObject | None
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._threshold = threshold
        self.sort_key = SortKey.NAME
        self.filter_spec = FilterSpec()
        # Rows picked on the map (a box or lasso): the grid shows only these; None: no subset.
        self.subset: np.ndarray | None = None
        self._row: int | None = None  # the current patch: its table row
        self.current_info: PatchInfo | None = None
        self._infos: LruCache[str, PatchInfo] = LruCache(INFO_CACHE)
        self._first_pending = False  # the first patch is about to be selected
        self._chosen_by_app = False  # the current patch is the first one, not the user's pick
        self.reorder_soon = qdebounced(self.apply_order, REORDER_DEBOUNCE_MS)
        #: The review queue, as `pathview queue --strategy auto` orders the scores.
        self.suggestions = SuggestionController(folder, self)
        self.suggestions.message.connect(self.message)
        folder.patches_listed.connect(self._on_listed)
        folder.listing_finished.connect(self._on_listing_finished)
        folder.loader.thumbnail_loaded.connect(self._on_patch_loaded)
        folder.folder_closed.connect(self._on_closed)

    # ------------------------------------------------------------------ reading
    @property
    def current_row(self) -> int | None:
        return self._row

    @property
    def position(self) -> int:
        """Where the current patch is in the grid (-1: none)."""
        if self._row is None:
            return -1
        pos = self._folder.model.position_of(self._row)
        return -1 if pos is None else pos

    @property
    def chosen_by_app(self) -> bool:
        """Whether the current patch is the one the app opened the folder at (the user has
        not chosen another yet, or none is shown)."""
        return self._chosen_by_app or self._row is None

    @property
    def current_id(self) -> str | None:
        return None if self._row is None else self._folder.table.ids[self._row]

    def cached_info(self, patch_id: str) -> PatchInfo | None:
        """A decoded patch, if it is among the recently loaded ones."""
        return self._infos.get(patch_id)

    def upcoming(self, count: int) -> list[PatchRef]:
        """The ``count`` patches after the current one in the grid's order (fewer at the end)."""
        model, start = self._folder.model, self.position + 1
        end = min(model.rowCount(), start + count) if start > 0 else 0
        return [self._folder.table.ref(model.table_row(pos)) for pos in range(start, end)]

    def preload(self, ref: PatchRef) -> None:
        """Decode a patch soon (``patch_cached`` tells when), behind the current one."""
        self._folder.loader.request(ref)

    # ------------------------------------------------------------------ order
    def set_sort(self, key: SortKey) -> None:
        self.sort_key = key
        if key is SortKey.SUGGESTED:  # a fresh queue: patches reviewed since drop off it
            self.suggestions.fresh(self._on_fresh_queue)
            return
        if key in NEEDS_TTA and not self._folder.table.has_views:
            self.message.emit(NEEDS_TTA_TEXT)
        self.apply_order(to_top=True)  # a new order starts at its first tile

    def set_filter(self, spec: FilterSpec) -> None:
        if spec == self.filter_spec:
            return
        self.filter_spec = spec
        self.apply_order()

    def set_subset(self, rows: np.ndarray | None) -> None:
        """Show only table ``rows`` (on top of the filter), or every row again (None)."""
        if rows is None:
            if self.subset is None:
                return
            self.subset = None
        else:
            mask = np.zeros(len(self._folder.table), bool)
            mask[np.asarray(rows, np.int64)] = True
            self.subset = mask
        self.subset_changed.emit(-1 if self.subset is None else int(self.subset.sum()))
        self.apply_order(to_top=self.subset is not None)

    def threshold_changed(self) -> None:
        if self.sort_key is SortKey.UNSTABLE:
            self.reorder_soon()  # a slider drag re-sorts once, when it rests

    def apply_order(self, to_top: bool = False) -> None:
        """Re-sort and re-filter the grid, keeping the current patch selected if shown (or,
        ``to_top``, selecting the first tile)."""
        self.reorder_soon.cancel()
        model = self._folder.model
        suggested = None
        if self.sort_key is SortKey.SUGGESTED:
            suggested = self.suggestions.queue
            if suggested is None:  # sorted once it is chosen (off the GUI thread)
                self.suggestions.request(lambda _queue: self.apply_order(to_top))
                return
        rows = ordered_rows(
            self._folder.table, self.sort_key, self.filter_spec, self._threshold(), suggested
        )
        if self.subset is not None:
            at = np.asarray(rows, np.int64)
            subset = self.subset
            if len(subset) < len(self._folder.table):
                subset = np.concatenate(
                    [subset, np.zeros(len(self._folder.table) - len(subset), bool)]
                )
            rows = at[subset[at]].tolist()
        model.set_rows(rows)
        self.order_changed.emit()
        first = model.table_row(0) if model.rowCount() else None
        if to_top and first is not None and first != self._row:
            self._select_row(first)
        elif self._row is not None and model.position_of(self._row) is not None:
            self.current_changed.emit(self.position)  # same patch, new place in the grid
        else:  # the current patch is hidden: the app picks the first tile
            self._select_row(model.table_row(0) if model.rowCount() else None)
            self._chosen_by_app = True

    # ------------------------------------------------------------------ navigation
    def select_position(self, position: int) -> None:
        model = self._folder.model
        row = model.table_row(position) if 0 <= position < model.rowCount() else None
        if row != self._row:
            self._select_row(row)

    def select_patch(self, patch_id: str) -> bool:
        """Select a patch by id (e.g. from a list in another panel); False if not shown."""
        row = self._folder.table.row_of(patch_id)
        if row is None or self._folder.model.position_of(row) is None:
            return False
        if row != self._row:
            self._select_row(row)
        return True

    def select_row_if_shown(self, row: int) -> None:
        if self._folder.model.position_of(row) is not None and row != self._row:
            self._select_row(row)

    def next_patch(self) -> None:
        if self.position + 1 < self._folder.model.rowCount():
            self.select_position(self.position + 1)

    def previous_patch(self) -> None:
        if self.position > 0:
            self.select_position(self.position - 1)

    def next_unreviewed(self) -> bool:
        model = self._folder.model
        pos = next_unreviewed(model.rows, max(self.position, -1), self._folder.table.review)
        if pos is None:
            self.message.emit("Every patch in this view is reviewed.")
            return False
        self.select_position(pos)
        return True

    # ------------------------------------------------------------------ review queue
    def scores_changed(self) -> None:
        """New scores came in: the queue is chosen again when next needed."""
        self.suggestions.invalidate()

    def _on_fresh_queue(self, queue: np.ndarray) -> None:
        if not len(queue):
            self.message.emit(
                NO_SUGGESTION_TEXT if self._unscored() else ALL_SUGGESTED_REVIEWED_TEXT
            )
        if self.sort_key is SortKey.SUGGESTED:
            self.apply_order(to_top=True)

    def next_suggested(self) -> None:
        """Select the next unreviewed patch of the review queue after the current one (from
        the top when the current patch is not queued), skipping reviewed and hidden ones;
        once the queue is chosen if it is not yet (``current_changed`` tells)."""
        self.suggestions.request(self._go_to_next_suggested)

    def _go_to_next_suggested(self, queue: np.ndarray) -> None:
        row, hidden = self._next_in_queue(queue)
        if row is not None:
            self._select_row(row)
        elif not len(queue) and self._unscored():
            self.message.emit(NO_SUGGESTION_TEXT)
        elif hidden:
            self.message.emit(
                f"The {hidden:,} suggested patches left are hidden by the current filter."
            )
        else:
            self.message.emit(ALL_SUGGESTED_REVIEWED_TEXT)

    def _next_in_queue(self, queue: np.ndarray) -> tuple[int | None, int]:
        """The first unreviewed row shown in the grid after the current one in ``queue``
        (wrapping round), and how many unreviewed ones the filter hides."""
        review, model = self._folder.table.review, self._folder.model
        after = np.flatnonzero(queue == self._row)
        start = int(after[0]) + 1 if len(after) else 0
        hidden = 0
        for k in range(len(queue)):
            row = int(queue[(start + k) % len(queue)])
            if review[row] != ReviewCode.UNREVIEWED or row == self._row:
                continue
            if model.position_of(row) is None:
                hidden += 1
                continue
            return row, hidden
        return None, hidden

    def _unscored(self) -> bool:
        p = self._folder.table.arrays()[0]
        return not bool(np.isfinite(p).any())

    def _select_row(self, row: int | None) -> None:
        self._row = row
        self._chosen_by_app = False
        self.current_info = None
        if row is not None:
            ref = self._folder.table.ref(row)
            info = self._infos.get(ref.id)
            if info is not None:
                self.current_info = info
            else:
                self._folder.loader.request(ref, urgent=True)
        self.patch_changed.emit()
        self.current_changed.emit(self.position)

    # ------------------------------------------------------------------ folder events
    def _on_closed(self) -> None:
        self.reorder_soon.cancel()
        if self.subset is not None:
            self.subset = None
            self.subset_changed.emit(-1)
        self._first_pending = False
        self._infos.clear()
        self._select_row(None)

    def _on_listed(self, new_rows: range) -> None:
        folder = self._folder
        if self.subset is not None:
            keep = []  # rows listed after a map selection are not in it
        elif self.filter_spec == FilterSpec():
            keep = list(new_rows)
        else:  # one numpy mask per batch, not one per row
            mask = filter_mask(folder.table, self.filter_spec)
            keep = [r for r in new_rows if mask[r]]
        folder.model.append_rows(keep)
        if self._row is None and folder.model.rowCount() > 0 and not self._first_pending:
            # Next turn of the event loop: the grid paints its first tiles before the patch
            # view renders the first patch (one long turn otherwise).
            self._first_pending = True
            generation = folder.generation
            QTimer.singleShot(0, self, lambda: self._select_first(generation))

    def _select_first(self, generation: int) -> None:
        self._first_pending = False
        current = generation == self._folder.generation
        if current and self._row is None and self._folder.model.rowCount() > 0:
            self.select_position(0)
            self._chosen_by_app = True

    def _on_listing_finished(self, _count: int) -> None:
        # The grid is now in its order: the first tile is selected unless the user moved on.
        by_app = self._chosen_by_app
        self.apply_order(to_top=by_app)
        self._chosen_by_app = by_app  # still the app's choice, not the user's

    def _on_patch_loaded(self, patch_id: str, info: PatchInfo) -> None:
        folder = self._folder
        row = folder.table.row_of(patch_id)
        if row is None:
            return
        if info.pixels is not None:
            folder.thumbnails.put(patch_id, image_from_pixels(info.pixels))
        self._infos.put(patch_id, info)
        self.patch_cached.emit(patch_id)
        folder.table.set_status(row, info.status, info.reason)
        folder.mark_dirty([row])
        if row == self._row:
            self.current_info = info
            self.current_loaded.emit()


__all__ = [
    "ALL_SUGGESTED_REVIEWED_TEXT",
    "NEEDS_TTA_TEXT",
    "NO_SUGGESTION_TEXT",
    "SelectionController",
]
