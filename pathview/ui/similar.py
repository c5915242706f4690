"""SimilarController: the current patch's nearest neighbours in embedding space (cosine,
:func:`pathview.stats.embedding.cosine_neighbours`), for the strip under the patch view."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced

from pathview.stats.embedding import cosine_neighbours
from pathview.ui.folder import FolderController
from pathview.ui.insight import InsightController
from pathview.ui.selection import SelectionController

#: Neighbours shown in the strip.
N_SIMILAR = 8
#: The neighbours are looked up once the selection rests this long.
SIMILAR_DEBOUNCE_MS = 120


@dataclass(frozen=True)
class Neighbour:
    """One similar patch: its table row and cosine similarity to the current patch."""

    row: int
    similarity: float


class SimilarController(QObject):
    """Finds the current patch's most similar patches whenever it changes (while shown)."""

    neighbours_changed = Signal(list)  # list[Neighbour], most similar first
    message = Signal(str)

    def __init__(
        self,
        folder: FolderController,
        selection: SelectionController,
        insight: InsightController,
        k: int = N_SIMILAR,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._selection = selection
        self.k = k
        self.active = True
        self.neighbours: list[Neighbour] = []
        self._for_row: int | None = None
        self.update_soon = qdebounced(self.update, SIMILAR_DEBOUNCE_MS)
        selection.patch_changed.connect(self.update_soon)
        insight.insight_arrived.connect(self._on_insight)
        folder.folder_closed.connect(self._on_closed)

    def set_active(self, on: bool) -> None:
        self.active = on
        if on:
            self.update()

    def update(self) -> None:
        """Look up the current patch's neighbours now."""
        self.update_soon.cancel()
        row = self._selection.current_row
        found: list[Neighbour] = []
        if self.active and row is not None:
            table = self._folder.table
            features, has = table.insight.features(len(table))
            if features is not None and row < len(has) and has[row]:
                rows, sims = cosine_neighbours(features, row, self.k, has)
                found = [Neighbour(int(r), float(s)) for r, s in zip(rows, sims, strict=True)]
        self._for_row = row
        if found != self.neighbours:
            self.neighbours = found
            self.neighbours_changed.emit(found)

    def _on_insight(self) -> None:
        # Embeddings arrived: the current patch may have neighbours now (or better ones).
        if self.active and (not self.neighbours or len(self.neighbours) < self.k):
            self.update_soon()

    def _on_closed(self) -> None:
        self.update_soon.cancel()
        self.neighbours = []
        self.neighbours_changed.emit([])

    def go_to(self, row: int) -> bool:
        """Select a neighbour in the grid; False (with a message) when the grid hides it."""
        if self._folder.model.position_of(row) is None:
            self.message.emit(
                f"{self._folder.table.ids[row]} is hidden by the grid's filter or map selection"
            )
            return False
        self._selection.select_row_if_shown(row)
        return True
