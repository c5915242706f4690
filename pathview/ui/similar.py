"""SimilarController: the current patch's nearest neighbours in embedding space (cosine,
:func:`pathview.stats.embedding.cosine_neighbours`), for the strip under the patch view.

The search runs off the GUI thread on the table's own embeddings (113 MB for 220,025 patches
of 128 features; one query reads all of them) with their row lengths, taken once per set of
embeddings and kept: no unit copy of the embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced

from pathview.stats.embedding import cosine_neighbours, row_norms
from pathview.ui.folder import FolderController
from pathview.ui.insight import InsightController
from pathview.ui.selection import SelectionController
from pathview.workers.tasks import TaskPool

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
        self._pool = TaskPool("similar", 1, self)
        self._request = 0
        # The embeddings' row lengths, and the InsightColumns version they were taken of (a
        # unit copy of the embeddings would double their memory: 113 MB for 220,025 rows).
        self._norms: tuple[int, np.ndarray] | None = None
        self.update_soon = qdebounced(self.update, SIMILAR_DEBOUNCE_MS)
        selection.patch_changed.connect(self.update_soon)
        insight.insight_arrived.connect(self._on_insight)
        folder.folder_closed.connect(self._on_closed)

    def set_active(self, on: bool) -> None:
        self.active = on
        if on:
            self.update()

    def update(self) -> None:
        """Look up the current patch's neighbours (on a worker; ``neighbours_changed``)."""
        self.update_soon.cancel()
        self._request += 1
        row = self._selection.current_row
        table = self._folder.table
        features, has = table.insight.features(len(table))
        if not self.active or row is None or features is None or not has[row]:
            self._set([])
            return
        request, version, k = self._request, table.insight.version, self.k
        cached = self._norms if self._norms is not None and self._norms[0] == version else None
        mask = has.copy()

        def work(_emit: object) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
            # The table's own array, not a copy: rows written meanwhile (scoring goes on)
            # bump the version, so the next lookup takes the row lengths again.
            norms = cached[1] if cached is not None else row_norms(features)
            rows, sims = cosine_neighbours(features, row, k, mask, norms=norms)
            return version, norms, rows, sims

        self._pool.start(work, lambda result: self._on_found(request, result))

    def _on_found(
        self, request: int, result: tuple[int, np.ndarray, np.ndarray, np.ndarray]
    ) -> None:
        version, norms, rows, sims = result
        self._norms = (version, norms)
        if request == self._request:
            self._set([Neighbour(int(r), float(s)) for r, s in zip(rows, sims, strict=True)])

    def _set(self, found: list[Neighbour]) -> None:
        if found != self.neighbours:
            self.neighbours = found
            self.neighbours_changed.emit(found)

    def _on_insight(self) -> None:
        # Embeddings arrived: the current patch may have neighbours now (or better ones).
        if self.active and (not self.neighbours or len(self.neighbours) < self.k):
            self.update_soon()

    def _on_closed(self) -> None:
        self.update_soon.cancel()
        self._request += 1
        self._norms = None
        self._set([])

    def shutdown(self) -> None:
        self.update_soon.cancel()
        self._request += 1
        self._pool.clear()
        self._pool.wait()

    def go_to(self, row: int) -> bool:
        """Select a neighbour in the grid; False (with a message) when the grid hides it."""
        if self._folder.model.position_of(row) is None:
            self.message.emit(
                f"{self._folder.table.ids[row]} is hidden by the grid's filter or map selection"
            )
            return False
        self._selection.select_row_if_shown(row)
        return True
