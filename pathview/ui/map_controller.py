"""MapController: the embedding map's state: the projection of the folder's embeddings (made
off the GUI thread), what the points are coloured by, and what the map picks.

A box or lasso on the map becomes the grid's subset (``SelectionController.set_subset``); a
click on a point selects that patch in the grid. The projection is PCA (numpy,
:func:`pathview.stats.embedding.pca_2d`); it is remade when new embeddings arrived and the map
is shown, at most every ``REPROJECT_MS`` while scoring streams them in.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from pathview.triage import PatchTable
from pathview.triage.projection import ColourBy, Projection, point_colours, project
from pathview.ui.folder import FolderController
from pathview.ui.insight import InsightController
from pathview.ui.selection import SelectionController
from pathview.workers.tasks import TaskPool

#: While embeddings stream in, the map is re-projected at most this often.
REPROJECT_MS = 5000


class MapController(QObject):
    """Projection, colouring and picking of the embedding map."""

    projection_changed = Signal()
    colours_changed = Signal()
    picked = Signal(int)  # how many patches the last box/lasso picked (-1: picking cleared)
    message = Signal(str)

    def __init__(
        self,
        folder: FolderController,
        selection: SelectionController,
        insight: InsightController,
        threshold: Callable[[], float] = lambda: 0.5,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._selection = selection
        self._threshold = threshold
        self._pool = TaskPool("map", 1, self)
        self.projection = Projection.empty()
        self.colour_by = ColourBy.P_TUMOUR
        self.flag = ""
        self.active = False  # the map is shown: keep it up to date
        self._computing = False
        self._again = False
        self._last_projected = 0.0
        self._point_of_row: np.ndarray | None = None
        insight.insight_arrived.connect(self._on_insight)
        insight.groups_changed.connect(self.colours_changed)
        folder.folder_closed.connect(self._on_closed)
        selection.subset_changed.connect(lambda count: self.picked.emit(count))

    @property
    def table(self) -> PatchTable:
        return self._folder.table

    # ------------------------------------------------------------------ projection
    def set_active(self, on: bool) -> None:
        """The map is shown (True) or hidden: only a shown map is kept up to date."""
        self.active = on
        if on:
            self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Re-project if the embeddings changed since the last projection."""
        insight = self.table.insight
        if not force and insight.version == self.projection.version and len(self.projection):
            return
        if self._computing:
            self._again = True
            return
        n = len(self.table)
        features, has = insight.features(n)
        if features is None or not has.any():
            return
        # The features are not copied here (220,025 x 128 floats take 30 ms): the worker takes
        # its own copy of the rows it projects. Rows written meanwhile (scoring goes on) change
        # the version, so they are projected again.
        feats, mask, version = features, has.copy(), insight.version
        generation = self._folder.generation
        self._computing = True
        self._last_projected = time.monotonic()
        self._pool.start(
            lambda _emit: project(feats, mask, version),
            lambda proj: self._on_projected(generation, proj),
            lambda reason: self._on_failed(generation, reason),
        )

    def _on_projected(self, generation: int, projection: Projection) -> None:
        self._computing = False
        if generation != self._folder.generation:
            return
        self.projection = projection
        index = np.full(len(self.table), -1, np.int64)
        index[projection.rows] = np.arange(len(projection.rows))
        self._point_of_row = index
        self.projection_changed.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _on_failed(self, generation: int, reason: str) -> None:
        self._computing = False
        if generation == self._folder.generation:
            self.message.emit(f"The map could not be made: {reason}")

    def _on_insight(self) -> None:
        if not self.active:
            return
        if time.monotonic() - self._last_projected >= REPROJECT_MS / 1000 or not len(
            self.projection
        ):
            self.refresh()

    def _on_closed(self) -> None:
        self.projection = Projection.empty()
        self._point_of_row = None
        self._again = False
        self.projection_changed.emit()

    # ------------------------------------------------------------------ colours
    def set_colour_by(self, colour_by: ColourBy, flag: str = "") -> None:
        self.colour_by = ColourBy(colour_by)
        self.flag = flag
        self.colours_changed.emit()

    def colours(self) -> np.ndarray:
        """RGBA (M, 4) of the projection's points."""
        return point_colours(
            self.table, self.projection.rows, self.colour_by, self.flag, float(self._threshold())
        )

    # ------------------------------------------------------------------ picking
    def row_of_point(self, point: int) -> int:
        return int(self.projection.rows[point])

    def point_of_row(self, row: int | None) -> int:
        """The point of table ``row`` (-1: not on the map)."""
        index = self._point_of_row
        if row is None or index is None or row >= len(index):
            return -1
        return int(index[row])

    def picked_mask(self) -> np.ndarray | None:
        """Which points the grid's subset holds (None: no subset)."""
        subset = self._selection.subset
        if subset is None or not len(self.projection):
            return None
        rows = self.projection.rows
        inside = rows < len(subset)
        out = np.zeros(len(rows), bool)
        out[inside] = subset[rows[inside]]
        return out

    def pick_points(self, mask: np.ndarray) -> int:
        """Filter the grid to the points ``mask`` picks (boolean over the projection's
        points); returns how many. Picking none clears the subset."""
        rows = self.projection.rows[np.asarray(mask, bool)]
        if not len(rows):
            self.clear_pick()
            self.message.emit("No patches inside the selection")
            return 0
        self._selection.set_subset(rows)
        self.message.emit(f"Map selection: {len(rows):,} patches (Clear selection shows all)")
        return len(rows)

    def clear_pick(self) -> None:
        self._selection.set_subset(None)

    def picked_rows(self) -> np.ndarray:
        """The table rows of the grid's subset, in row order (empty: none)."""
        subset = self._selection.subset
        return np.zeros(0, np.int64) if subset is None else np.flatnonzero(subset)

    def activate_point(self, point: int) -> bool:
        """Select the patch of ``point`` in the grid; False (with a message) if the grid's
        filter hides it."""
        row = self.row_of_point(point)
        if self._folder.model.position_of(row) is None:
            self.message.emit(
                f"{self.table.ids[row]} is hidden by the grid's filter or map selection"
            )
            return False
        self._selection.select_row_if_shown(row)
        return True

    def thumbnail(self, point: int) -> QImage | None:
        """The patch's thumbnail if cached (else it is requested and None returned)."""
        return self._folder.thumbnails.get(self.table.ref(self.row_of_point(point)))

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.wait()
