"""Item models: thin adapters over the plain PatchTable and a list of row indices."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QImage

from pathview.core import LruCache, PatchRef
from pathview.io import FileStatus
from pathview.triage import PatchTable, ReviewCode
from pathview.ui.quality_facts import quality_marks

ModelIndex = QModelIndex | QPersistentModelIndex

#: Roles of PatchListModel, beyond Display (patch id), Decoration (thumbnail) and ToolTip.
PatchIdRole = Qt.ItemDataRole.UserRole + 1
ProbabilityRole = Qt.ItemDataRole.UserRole + 2  # float in [0, 1] or None (not scored)
SpreadRole = Qt.ItemDataRole.UserRole + 3  # TTA spread or None
TruthRole = Qt.ItemDataRole.UserRole + 4  # 0 / 1 or None
ReviewRole = Qt.ItemDataRole.UserRole + 5  # ReviewCode value (int)
FileStatusRole = Qt.ItemDataRole.UserRole + 6  # FileStatus value (int)
StatusReasonRole = Qt.ItemDataRole.UserRole + 7  # str ("" when fine)
TableRowRole = Qt.ItemDataRole.UserRole + 8  # int, the row in the PatchTable
#: The label the patch's review fixed when it was made: 0 / 1, or None (unreviewed, unsure).
ReviewLabelRole = Qt.ItemDataRole.UserRole + 20
#: str: the tile's quality marks (ui/quality_facts.py: one letter per flag, "=" duplicate)
QualityRole = Qt.ItemDataRole.UserRole + 21

#: rows_changed() beyond this many contiguous runs of positions, or positions in all, asks
#: for one repaint of the view instead (:attr:`PatchListModel.repaint_all`).
MAX_CHANGED_RUNS = 200
MAX_CHANGED_SPAN = 5_000


class TileFacts(NamedTuple):
    """Everything a grid tile shows, as the roles give it (None: not known or hidden)."""

    image: QImage | None  # the thumbnail (None: not loaded yet, or the file is unreadable)
    p: float | None
    review: int  # ReviewCode value
    label: int | None
    truth: int | None
    status: int  # FileStatus value
    marks: str


_REVIEW_TEXT = {
    ReviewCode.UNREVIEWED: "unreviewed",
    ReviewCode.AGREE: "agreed",
    ReviewCode.DISAGREE: "disagreed",
    ReviewCode.UNSURE: "unsure",
    ReviewCode.LABELLED: "labelled (no model)",
}
_LABEL_TEXT = {0: "label normal", 1: "label tumour"}


class ThumbnailCache:
    """Bounded cache of grid thumbnails; asks ``request`` for what it does not hold."""

    def __init__(self, capacity: int, request: Callable[[PatchRef], None] | None = None) -> None:
        self._images: LruCache[str, QImage] = LruCache(capacity)
        self.request = request

    def __len__(self) -> int:
        return len(self._images)

    def get(self, ref: PatchRef) -> QImage | None:
        image = self._images.get(ref.id)
        if image is None and self.request is not None:
            self.request(ref)
        return image

    def peek(self, patch_id: str) -> QImage | None:
        return self._images.get(patch_id)

    def put(self, patch_id: str, image: QImage) -> None:
        self._images.put(patch_id, image)

    def clear(self) -> None:
        self._images.clear()


def image_from_pixels(pixels: np.ndarray) -> QImage:
    """A QImage (its own copy, ``Format_RGB32``) of H x W x 3 uint8 RGB pixels.

    RGB32 is the raster engine's own layout: a tile draws it with a plain copy, where a
    24-bit RGB888 image is converted on every draw (120 tiles took 8-11 ms instead of 3.6 ms
    on the development machine). The conversion is exact: each channel keeps its 8 bits."""
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32
    )


class PatchListModel(QAbstractListModel):
    """The grid's model: position i shows table row ``rows[i]``."""

    #: Every tile may show something new (many rows changed, blind mode toggled): the view
    #: paints its visible tiles again (PatchGrid connects it; a dataChanged over thousands of
    #: rows costs the icon view work for each).
    repaint_all = Signal()

    def __init__(self, table: PatchTable, thumbnails: ThumbnailCache | None = None) -> None:
        super().__init__()
        self._table = table
        self._thumbs = thumbnails
        self._rows: list[int] = []
        self._pos_of_row = np.full(0, -1, dtype=np.int64)
        self._hide_p = False  # blind mode: P(tumour) and/or the ground truth not shown
        self._hide_truth = False

    # -- binding -----------------------------------------------------------------------------
    @property
    def table(self) -> PatchTable:
        return self._table

    @property
    def rows(self) -> Sequence[int]:
        return self._rows

    def set_table(self, table: PatchTable) -> None:
        self.beginResetModel()
        self._table = table
        self._rows = []
        self._pos_of_row = np.full(0, -1, dtype=np.int64)
        self.endResetModel()

    def set_hidden(self, p: bool, truth: bool) -> None:
        """Blind mode: leave P(tumour) (and its spread) and/or the ground truth out of every
        tile and tooltip."""
        if (p, truth) == (self._hide_p, self._hide_truth):
            return
        self._hide_p, self._hide_truth = p, truth
        if self._rows:
            self.repaint_all.emit()

    def set_rows(self, rows: Sequence[int]) -> None:
        """Show ``rows`` (table row indices) in this order."""
        self.beginResetModel()
        self._rows = list(rows)
        self._rebuild_positions()
        self.endResetModel()

    def append_rows(self, rows: Sequence[int]) -> None:
        if not rows:
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self._rows.extend(rows)
        # Only the new rows' positions: rebuilding the whole map per listing batch made
        # opening a 220,025-patch folder quadratic.
        new = np.asarray(rows, dtype=np.int64)
        need = max(len(self._table), int(new.max()) + 1)
        if need > len(self._pos_of_row):  # grow geometrically: amortised O(1) per row
            grown = np.full(max(need, 2 * len(self._pos_of_row)), -1, dtype=np.int64)
            grown[: len(self._pos_of_row)] = self._pos_of_row
            self._pos_of_row = grown
        self._pos_of_row[new] = np.arange(start, start + len(new))
        self.endInsertRows()

    def _rebuild_positions(self) -> None:
        pos = np.full(len(self._table), -1, dtype=np.int64)
        if self._rows:
            pos[np.asarray(self._rows, dtype=np.int64)] = np.arange(len(self._rows))
        self._pos_of_row = pos

    def position_of(self, table_row: int) -> int | None:
        if 0 <= table_row < len(self._pos_of_row):
            pos = int(self._pos_of_row[table_row])
            return pos if pos >= 0 else None
        return None

    def table_row(self, position: int) -> int:
        return self._rows[position]

    def rows_changed(self, table_rows: Sequence[int] | np.ndarray) -> None:
        """Repaint the positions showing ``table_rows``: one dataChanged per contiguous run,
        or, when that would cost more than the view's repaint, :attr:`repaint_all`.

        Not one signal over the whole span: the icon view does work for every index inside a
        dataChanged range (about 0.4 us each, and some 7 us per signal: 92 ms for one range
        over 220,025 tiles, 820 ms for 110,000 runs), so a span over a grid sorted by
        probability would cost tens of milliseconds for a few hundred changed tiles. Tiles
        are all of one size and painted from the table, so a change of many rows only needs
        the visible tiles painted again: above :data:`MAX_CHANGED_RUNS` runs or
        :data:`MAX_CHANGED_SPAN` positions, :attr:`repaint_all` asks the view for that.
        """
        if not self._rows or not len(table_rows):
            return
        idx = np.asarray(table_rows, dtype=np.int64)
        if idx.size > MAX_CHANGED_SPAN:  # more rows than a precise repaint is worth
            self.repaint_all.emit()
            return
        idx = idx[idx < len(self._pos_of_row)]
        pos = np.unique(self._pos_of_row[idx])
        pos = pos[pos >= 0]
        if pos.size == 0:
            return
        breaks = np.flatnonzero(np.diff(pos) > 1)
        if breaks.size + 1 > MAX_CHANGED_RUNS:  # (at most MAX_CHANGED_SPAN positions here)
            self.repaint_all.emit()
            return
        starts = np.concatenate(([pos[0]], pos[breaks + 1]))
        ends = np.concatenate((pos[breaks], [pos[-1]]))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            self.dataChanged.emit(self.index(start), self.index(end))

    # -- QAbstractListModel ------------------------------------------------------------------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        t = self._table
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole or role == PatchIdRole:
            return t.ids[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(row)
        if role == ProbabilityRole:
            return self._shown_p(row)
        if role == SpreadRole:
            s = t.spread[row]
            return None if math.isnan(s) or self._hide_p else s
        if role == TruthRole:
            return self._shown_truth(row)
        if role == ReviewRole:
            return int(t.review[row])
        if role == ReviewLabelRole:
            return self._label(row)
        if role == FileStatusRole:
            return int(t.status[row])
        if role == StatusReasonRole:
            return t.reasons.get(row, "")
        if role == TableRowRole:
            return row
        if role == QualityRole:
            return self._marks(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        return None

    def tile_facts(self, position: int) -> TileFacts:
        """What the tile at ``position`` shows, read in one call: the grid's delegate asks for
        every tile it paints, and one data() call per role costs it several times as much.
        The roles' values (the same helpers), and a missing thumbnail is requested as the
        Decoration role requests it."""
        row = self._rows[position]
        status = int(self._table.status[row])
        return TileFacts(
            None if status == FileStatus.UNREADABLE else self._thumbnail(row),
            self._shown_p(row),
            int(self._table.review[row]),
            self._label(row),
            self._shown_truth(row),
            status,
            self._marks(row),
        )

    # What a role shows of table row ``row`` (data() and tile_facts both read these).
    def _thumbnail(self, row: int) -> QImage | None:
        if self._thumbs is None:
            return None
        return self._thumbs.get(PatchRef(self._table.ids[row], self._table.relpaths[row]))

    def _shown_p(self, row: int) -> float | None:
        p = float(self._table.p[row])
        return None if math.isnan(p) or self._hide_p else p

    def _shown_truth(self, row: int) -> int | None:
        truth = int(self._table.truth[row])
        return None if truth < 0 or self._hide_truth else truth

    def _label(self, row: int) -> int | None:
        label = int(self._table.review_label[row])
        return None if label < 0 else label

    def _marks(self, row: int) -> str:
        insight = self._table.insight
        return quality_marks(insight.flags_of(row), any(insight.group_of(row)))

    def _tooltip(self, row: int) -> str:
        t = self._table
        parts = [t.relpaths[row]]
        p = t.p[row]
        if not self._hide_p:
            parts.append("not scored" if math.isnan(p) else f"P(tumour) {p:.3f}")
            if not math.isnan(t.spread[row]):
                parts[-1] += f" ± {t.spread[row]:.3f} (TTA)"
        if t.truth[row] >= 0 and not self._hide_truth:
            parts.append(f"ground truth {t.truth[row]}")
        parts.append(_REVIEW_TEXT[ReviewCode(t.review[row])])
        if t.review_label[row] >= 0:
            parts[-1] += f", {_LABEL_TEXT[t.review_label[row]]}"
        if t.status[row] not in (FileStatus.OK, FileStatus.UNKNOWN):
            parts.append(t.reasons.get(row, FileStatus(t.status[row]).name.lower()))
        flags = t.insight.flags_of(row)
        if flags:
            parts.append("quality: " + ", ".join(flags))
        exact, near = t.insight.group_of(row)
        if exact or near:
            parts.append(f"near-duplicate group {near}" if near else f"exact copy group {exact}")
        return "\n".join(parts)
