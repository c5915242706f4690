"""The tile grid of a slide: a list model over the slide's tiles, thumbnails read lazily.

Rows are tile rows of :class:`pathview.slide.TileGrid`, shown in an order (position on the
slide, P(tumour) high to low, or uncertainty: P closest to 0.5 first). A thumbnail is read on
a pool thread the first time a row is painted, kept in a bounded cache, and the row is
repainted when it arrives; listing reads no pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QPixmap

from pathview.slide import Slide, SlideError, TileGrid
from pathview.ui.slide_view import rgb_image
from pathview.workers.tasks import TaskPool

#: Sort orders of the tile grid.
ORDERS = ("position", "P(tumour)", "uncertainty")
#: Side of a thumbnail in the grid, in pixels.
THUMBNAIL_SIDE = 72
#: Thumbnails kept.
CACHE_SIZE = 2000
#: Role of a row's tile row in the grid.
TILE_ROW_ROLE = Qt.ItemDataRole.UserRole + 1


def tile_order(p: np.ndarray, order: str) -> np.ndarray:
    """Tile rows in ``order`` (unscored tiles last in the P orders)."""
    n = len(p)
    if order == "position":
        return np.arange(n)
    filled = np.where(np.isnan(p), -1.0, p)
    if order == "P(tumour)":
        return np.argsort(-filled, kind="stable")
    closeness = np.where(np.isnan(p), 2.0, np.abs(p - 0.5))
    return np.argsort(closeness, kind="stable")


class TileListModel(QAbstractListModel):
    """See the module docstring."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._grid: TileGrid | None = None
        self._slide: Slide | None = None
        self._order = np.zeros(0, np.int64)
        self._p = np.zeros(0, np.float32)
        self._reviews: dict[int, str] = {}
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._asked: set[int] = set()
        self._pool = TaskPool("slide-thumbnails", threads=1, parent=self)
        self._generation = 0
        self.order_name = "position"

    def set_slide(self, slide: Slide | None, grid: TileGrid | None) -> None:
        self.beginResetModel()
        self._generation += 1
        self._pool.clear()
        self._slide, self._grid = slide, grid
        n = 0 if grid is None else len(grid)
        self._p = np.full(n, np.nan, np.float32)
        self._order = np.arange(n)
        self._reviews = {}
        self._cache.clear()
        self._asked.clear()
        self.endResetModel()

    def set_scores(self, p: np.ndarray) -> None:
        """Take new scores. No dataChanged over every row (on a 50,000-row icon view that is
        a 130 ms stall): the view showing the model repaints what is visible."""
        self._p = p

    def set_order(self, name: str) -> None:
        self.beginResetModel()
        self.order_name = name
        self._order = tile_order(self._p, name)
        self.endResetModel()

    def set_review(self, tile_row: int, verdict: str) -> None:
        self._reviews[tile_row] = verdict
        position = self.position_of(tile_row)
        if position >= 0:
            self.dataChanged.emit(self.index(position), self.index(position))

    def tile_row(self, position: int) -> int:
        return int(self._order[position])

    def position_of(self, tile_row: int) -> int:
        hits = np.flatnonzero(self._order == tile_row)
        return int(hits[0]) if hits.size else -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return int(self._order.size)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or self._grid is None:
            return None
        row = int(self._order[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            p = self._p[row]
            mark = {"agree": " ✓", "disagree": " ✗", "unsure": " ?"}.get(
                self._reviews.get(row, ""), ""
            )
            return f"{'-' if np.isnan(p) else f'{p:.2f}'}{mark}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._grid.id(row)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(row)
        if role == Qt.ItemDataRole.BackgroundRole and row in self._reviews:
            return QColor(60, 120, 60) if self._reviews[row] == "agree" else QColor(140, 60, 60)
        if role == TILE_ROW_ROLE:
            return row
        return None

    def _thumbnail(self, row: int) -> QPixmap | None:
        if row in self._cache:
            self._cache.move_to_end(row)
            return self._cache[row]
        if row not in self._asked and self._slide is not None and self._grid is not None:
            self._asked.add(row)
            slide, grid, generation = self._slide, self._grid, self._generation

            def read(_emit: Any) -> np.ndarray | None:
                try:
                    return grid.read(slide, row)
                except SlideError:
                    return None

            self._pool.start(read, lambda px: self._arrived(generation, row, px))
        return None

    def _arrived(self, generation: int, row: int, pixels: np.ndarray | None) -> None:
        if generation != self._generation or pixels is None:
            return
        self._cache[row] = QPixmap.fromImage(rgb_image(pixels)).scaled(
            THUMBNAIL_SIDE,
            THUMBNAIL_SIDE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        position = self.position_of(row)
        if position >= 0:
            self.dataChanged.emit(self.index(position), self.index(position))

    def shutdown(self) -> None:
        self._generation += 1
        self._pool.clear()
        self._pool.wait()
