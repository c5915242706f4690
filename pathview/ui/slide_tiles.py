"""The tile grid of a slide: a list model over the slide's tiles, thumbnails read lazily.

Rows are tile rows of :class:`pathview.slide.TileGrid`, shown in an order (:data:`ORDERS`:
position on the slide, P(tumour) high or low, uncertainty - P closest to 0.5 first - and the
folder grid's quality orders: least tissue, blurriest, darkest) and through a filter
(:data:`FILTERS`: reviewed or not, any quality flag or one flag). The model answers the folder
grid's roles (:mod:`pathview.ui.models`), so the folder grid's
:class:`~pathview.ui.delegate.PatchDelegate` paints the tiles: P bar, review badge, the label
the review fixed, quality marks. A thumbnail is read on a pool thread the first time a row is
painted, kept in a bounded cache, and the row is repainted when it arrives; listing reads no
pixels.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage

from pathview.quality import FLAGS
from pathview.slide import Slide, SlideError, TileGrid
from pathview.store import PatchState
from pathview.triage import ANY_FLAG, InsightColumns, ReviewCode, SortKey
from pathview.triage.ordering import QUALITY_SORTS
from pathview.triage.queue import uncertainty
from pathview.ui.models import (
    FileStatusRole,
    PatchIdRole,
    ProbabilityRole,
    QualityRole,
    ReviewLabelRole,
    ReviewRole,
    TableRowRole,
)
from pathview.ui.quality_facts import quality_marks
from pathview.ui.slide_view import rgb_image
from pathview.workers.tasks import TaskPool

POSITION = "position on the slide"
P_LOW = "P(tumour), lowest first"
#: Sort orders of the tile grid (the folder grid's names where it has the same order).
ORDERS: tuple[str, ...] = (
    POSITION,
    SortKey.P_TUMOUR.value,
    P_LOW,
    SortKey.UNCERTAINTY.value,
    SortKey.LEAST_TISSUE.value,
    SortKey.BLURRIEST.value,
    SortKey.DARKEST.value,
)
#: The orders that show where P lies (off in blind mode).
P_ORDERS = frozenset({SortKey.P_TUMOUR.value, P_LOW, SortKey.UNCERTAINTY.value})
ALL_TILES = "all tiles"
UNREVIEWED = "unreviewed"
REVIEWED = "reviewed"
#: Filters of the tile grid: review state, any quality flag, one flag.
FILTERS: tuple[str, ...] = (ALL_TILES, UNREVIEWED, REVIEWED, ANY_FLAG, *FLAGS)
#: Side of a thumbnail in the grid, in pixels.
THUMBNAIL_SIDE = 72
#: Thumbnails kept.
CACHE_SIZE = 2000
#: Role of a row's tile row in the grid.
TILE_ROW_ROLE = TableRowRole


def tile_order(p: np.ndarray, order: str, quality: InsightColumns | None = None) -> np.ndarray:
    """Tile rows in ``order`` (one of :data:`ORDERS`); tiles without a value (unscored, not
    measured) last, ties in position order."""
    n = len(p)
    if order == POSITION:
        return np.arange(n)
    if order in (SortKey.P_TUMOUR.value, P_LOW):
        values = -p if order == SortKey.P_TUMOUR.value else p
        values = np.where(np.isnan(p), np.inf, values)
    elif order == SortKey.UNCERTAINTY.value:
        values = uncertainty(p)
    else:
        measure = QUALITY_SORTS[SortKey(order)]
        measured = (quality or InsightColumns()).measure(measure, n).astype(np.float64)
        values = np.where(np.isnan(measured), np.inf, measured)
    return np.argsort(values, kind="stable")


def tile_filter(
    name: str, n: int, reviewed: np.ndarray, quality: InsightColumns | None = None
) -> np.ndarray:
    """Boolean mask of the ``n`` tiles filter ``name`` (one of :data:`FILTERS`) keeps;
    ``reviewed``: the rows with a review in effect."""
    if name == ALL_TILES:
        return np.ones(n, bool)
    if name in (UNREVIEWED, REVIEWED):
        mask = np.zeros(n, bool)
        mask[np.asarray(reviewed, np.int64)] = True
        return mask if name == REVIEWED else ~mask
    return (quality or InsightColumns()).flag_mask(name, n)


class TileListModel(QAbstractListModel):
    """See the module docstring."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._grid: TileGrid | None = None
        self._slide: Slide | None = None
        self._order = np.zeros(0, np.int64)
        self._position = np.zeros(0, np.int64)  # tile row -> position, -1 when filtered out
        self._p = np.zeros(0, np.float32)
        self._quality = InsightColumns()
        self._reviews: Mapping[int, PatchState] = {}
        self._hide_p = False
        self._cache: OrderedDict[int, QImage] = OrderedDict()
        self._asked: set[int] = set()
        self._pool = TaskPool("slide-thumbnails", threads=1, parent=self)
        self._generation = 0
        self.order_name = POSITION
        self.filter_name = ALL_TILES

    def set_slide(self, slide: Slide | None, grid: TileGrid | None) -> None:
        self.beginResetModel()
        self._generation += 1
        self._pool.clear()
        self._slide, self._grid = slide, grid
        n = 0 if grid is None else len(grid)
        self._p = np.full(n, np.nan, np.float32)
        self._quality = InsightColumns()
        self._set_order(np.arange(n))
        self._reviews = {}
        self._cache.clear()
        self._asked.clear()
        self.endResetModel()

    def set_scores(self, p: np.ndarray, quality: InsightColumns | None = None) -> None:
        """Take new scores (and quality measures). No dataChanged over every row (on a
        50,000-row icon view that is a 130 ms stall): the view showing the model repaints what
        is visible."""
        self._p = p
        if quality is not None:
            self._quality = quality

    def set_reviews(self, reviews: Mapping[int, PatchState]) -> None:
        """The reviews in effect, by tile row (the session's; read, never written here)."""
        self._reviews = reviews
        self._repaint_all()

    def set_p_hidden(self, hidden: bool) -> None:
        """Blind mode: leave P(tumour) out of every tile and tooltip."""
        if hidden != self._hide_p:
            self._hide_p = hidden
            self._repaint_all()

    def _repaint_all(self) -> None:
        if self._order.size:
            self.dataChanged.emit(self.index(0), self.index(int(self._order.size) - 1))

    def set_order(self, name: str, filter_name: str | None = None) -> None:
        """Show the tiles in order ``name`` through filter ``filter_name`` (None: the one
        shown now)."""
        self.beginResetModel()
        self.order_name = name
        self.filter_name = self.filter_name if filter_name is None else filter_name
        n = len(self._p)
        order = tile_order(self._p, name, self._quality)
        keep = tile_filter(self.filter_name, n, np.fromiter(self._reviews, np.int64), self._quality)
        self._set_order(order[keep[order]])
        self.endResetModel()

    def _set_order(self, order: np.ndarray) -> None:
        self._order = np.asarray(order, np.int64)
        self._position = np.full(len(self._p), -1, np.int64)
        self._position[self._order] = np.arange(self._order.size)

    def review_changed(self, tile_row: int) -> None:
        """Repaint tile ``tile_row`` (its review changed)."""
        position = self.position_of(tile_row)
        if position >= 0:
            self.dataChanged.emit(self.index(position), self.index(position))

    def tile_row(self, position: int) -> int:
        return int(self._order[position])

    def position_of(self, tile_row: int) -> int:
        """The grid position of tile ``tile_row``, -1 when it is not shown (filtered out)."""
        if 0 <= tile_row < self._position.size:
            return int(self._position[tile_row])
        return -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return int(self._order.size)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or self._grid is None:
            return None
        row = int(self._order[index.row()])
        state = self._reviews.get(row)
        if role in (Qt.ItemDataRole.DisplayRole, PatchIdRole):
            return self._grid.id(row)
        if role == ProbabilityRole:
            p = float(self._p[row])
            return None if math.isnan(p) or self._hide_p else p
        if role == ReviewRole:
            return int(ReviewCode.UNREVIEWED if state is None else _code(state))
        if role == ReviewLabelRole:
            return None if state is None else state.label
        if role == QualityRole:
            return quality_marks(self._quality.flags_of(row), False)
        if role == FileStatusRole:
            return 0
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, state)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(row)
        if role == TILE_ROW_ROLE:
            return row
        return None

    def _tooltip(self, row: int, state: PatchState | None) -> str:
        assert self._grid is not None
        parts = [self._grid.id(row)]
        p = float(self._p[row])
        if not self._hide_p:
            parts.append("not scored" if math.isnan(p) else f"P(tumour) {p:.3f}")
        if state is not None:
            parts.append(
                f"label {'unsure' if state.label is None else ('normal', 'tumour')[state.label]}"
            )
        flags = self._quality.flags_of(row)
        if flags:
            parts.append("quality: " + ", ".join(flags))
        return "\n".join(parts)

    def _thumbnail(self, row: int) -> QImage | None:
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
        self._cache[row] = rgb_image(pixels).scaled(
            THUMBNAIL_SIDE,
            THUMBNAIL_SIDE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self.review_changed(row)

    def shutdown(self) -> None:
        self._generation += 1
        self._pool.clear()
        self._pool.wait()


def _code(state: PatchState) -> ReviewCode:
    return ReviewCode.from_verdict(state.verdict, state.label)
