"""The slide window: the slide overview with its heat map, the slide's tile grid and the
current tile, linked both ways, with the review keys of the folder view.

A click on a tile in the overview selects it in the grid and shows it; selecting in the grid
centres the overview on it. A / D / U record agree / disagree / unsure on the current tile
(the reviewer name of the preferences), J / K or the arrow keys step through the grid in its
sort order, G shows the current tile's Grad-CAM (the model's default layer). The tile panel
shows the tile at the model's scale, 3x, with its centre 32 x 32 box (the region
PatchCamelyon's label is about).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pathview.core import CENTRE_BOX, Verdict
from pathview.explain import Explanation, blend, overlay_rgba
from pathview.ui.main_window import AskReviewer, ask_reviewer_dialog
from pathview.ui.settings import Preferences
from pathview.ui.slide_session import OpenedSlide, SlideSession
from pathview.ui.slide_tiles import ORDERS, THUMBNAIL_SIDE, TileListModel
from pathview.ui.slide_view import SlideOverview, rgb_image

#: Scores arriving batch by batch are drawn at most this often (milliseconds).
REDRAW_MS = 200
#: How much larger than the model's input the current tile is drawn.
TILE_ZOOM = 3

AskMpp = Callable[[QWidget, Path], "float | None"]


def ask_mpp_dialog(parent: QWidget, path: Path) -> float | None:
    """Ask once for a slide's microns per pixel (the answer is recorded beside the slide)."""
    value, ok = QInputDialog.getDouble(
        parent,
        "Microns per pixel",
        f"{path.name} does not record its scale. Microns per pixel at full resolution\n"
        "(from the scanner's report; it is never guessed from the objective):",
        0.25,
        0.01,
        99.0,
        4,
    )
    return float(value) if ok else None


def tile_picture(pixels: np.ndarray, zoom: int = TILE_ZOOM) -> QPixmap:
    """The tile ``zoom`` times larger with its centre box outlined."""
    pixmap = QPixmap.fromImage(rgb_image(pixels)).scaled(
        pixels.shape[1] * zoom, pixels.shape[0] * zoom
    )
    x0, y0, x1, y1 = (v * pixels.shape[0] * zoom // 96 for v in CENTRE_BOX)
    painter = QPainter(pixmap)
    painter.setPen(QPen(QColor(0, 200, 255), 2))
    painter.drawRect(x0, y0, x1 - x0, y1 - y0)
    painter.end()
    return pixmap


class SlideWindow(QMainWindow):
    """See the module docstring."""

    def __init__(
        self,
        session: SlideSession,
        prefs: Preferences | None = None,
        ask_mpp: AskMpp = ask_mpp_dialog,
        ask_reviewer: AskReviewer = ask_reviewer_dialog,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.prefs = prefs or Preferences()
        self._ask_mpp = ask_mpp
        self._ask_reviewer = ask_reviewer
        self.setWindowTitle("pathview - slide")
        self.overview = SlideOverview()
        self.tiles = TileListModel(self)
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        self.grid.setGridSize(QSize(THUMBNAIL_SIDE + 12, THUMBNAIL_SIDE + 24))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        # Laid out in batches between events: 50,000 tiles at once would stall for 200 ms.
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(2000)
        self.grid.setModel(self.tiles)
        self.sort = QComboBox()
        self.sort.addItems(ORDERS)
        self.tile_view = QLabel()
        self.tile_view.setFixedSize(96 * TILE_ZOOM, 96 * TILE_ZOOM)
        self.facts = QLabel("Opening the slide...")
        self.facts.setWordWrap(True)
        self.cam_shown = False  # G: Grad-CAM over the current tile
        self.cam_text = ""
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw.timeout.connect(self._redraw_scores)
        self._layout()
        self._connect()

    def _layout(self) -> None:
        grid_pane = QWidget()
        grid_box = QVBoxLayout(grid_pane)
        grid_box.setContentsMargins(0, 0, 0, 0)
        grid_box.addWidget(self.sort)
        grid_box.addWidget(self.grid)
        tile_pane = QWidget()
        tile_box = QVBoxLayout(tile_pane)
        tile_box.addWidget(self.tile_view)
        tile_box.addWidget(self.facts)
        tile_box.addStretch(1)
        splitter = QSplitter()
        for pane in (self.overview, grid_pane, tile_pane):
            splitter.addWidget(pane)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([600, 400, 96 * TILE_ZOOM + 20])
        self.splitter = splitter
        self.setCentralWidget(splitter)

    def _connect(self) -> None:
        s = self.session
        s.opened.connect(self._on_opened)
        s.failed.connect(lambda reason: self.statusBar().showMessage(reason))
        s.mpp_needed.connect(self._on_mpp_needed)
        s.scores_arrived.connect(self._on_scores)
        s.scoring_finished.connect(self._on_scoring_finished)
        s.current_changed.connect(self._on_current)
        s.review_recorded.connect(self._on_reviewed)
        s.explained.connect(self._on_explained)
        self.overview.tile_clicked.connect(s.select)
        self.grid.selectionModel().currentChanged.connect(self._on_grid_current)
        self.sort.currentTextChanged.connect(self._on_sort)
        keys = {
            "A": lambda: self._review(Verdict.AGREE),
            "D": lambda: self._review(Verdict.DISAGREE),
            "U": lambda: self._review(Verdict.UNSURE),
            "J": lambda: self._step(1),
            "Right": lambda: self._step(1),
            "K": lambda: self._step(-1),
            "G": self._toggle_cam,
            "Left": lambda: self._step(-1),
        }
        for key, slot in keys.items():
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

    def _on_opened(self, state: OpenedSlide) -> None:
        slide, grid = state.slide, state.grid
        self.setWindowTitle(f"pathview - {slide.name}")
        self.overview.show_slide(slide, state.overview, state.scale, grid)
        self.tiles.set_slide(slide, grid)
        self.statusBar().showMessage(
            f"{slide.name}: {len(grid)} tissue tiles of {grid.side} px at {slide.mpp:g} um/px "
            f"({slide.mpp_source}); scoring..."
        )
        if len(grid):
            self.session.select(0)

    def _on_mpp_needed(self, path: Path) -> None:
        answer = self._ask_mpp(self, path)
        if answer is None:
            self.statusBar().showMessage(f"{path.name}: not opened (its scale is unknown)")
            return
        self.session.answer_mpp(answer)

    def _on_scores(self, _rows: np.ndarray, _p: np.ndarray) -> None:
        if not self._redraw.isActive():  # at most one redraw per interval, however many batches
            self._redraw.start()

    def _redraw_scores(self) -> None:
        self.overview.set_scores(self.session.p)
        self.tiles.set_scores(self.session.p)
        self.grid.viewport().update()
        if self.session.current >= 0:
            self._show_facts(self.session.current)

    def _on_scoring_finished(self, how: str) -> None:
        self._redraw.stop()
        self._redraw_scores()
        if self.tiles.order_name != "position":  # sorted on partial scores: sort again
            self._on_sort(self.tiles.order_name)
        self.statusBar().showMessage(f"scoring: {how}")

    def _on_current(self, row: int) -> None:
        self.overview.set_current(row)
        position = self.tiles.position_of(row) if row >= 0 else -1
        if position >= 0 and self.grid.currentIndex().row() != position:
            self.grid.setCurrentIndex(self.tiles.index(position))
        pixels = self.session.tile_pixels(row) if row >= 0 else None
        self.tile_view.setPixmap(QPixmap() if pixels is None else tile_picture(pixels))
        self._show_facts(row)
        if self.cam_shown and row >= 0:
            self.session.explain(row)

    def _toggle_cam(self) -> None:
        self.cam_shown = not self.cam_shown
        self._on_current(self.session.current)

    def _on_explained(self, row: int, explanation: Explanation) -> None:
        pixels = self.session.tile_pixels(row)
        if not self.cam_shown or pixels is None:
            return
        if explanation.ok and explanation.map is not None:
            pixels = blend(pixels, overlay_rgba(explanation.map))
        self.tile_view.setPixmap(tile_picture(pixels))
        focus = explanation.centre_focus
        self.cam_text = f"Grad-CAM ({explanation.layer}): " + (
            f"{focus:.0%} in the centre box" if focus is not None else explanation.reason
        )
        self._show_facts(row)

    def _show_facts(self, row: int) -> None:
        state = self.session.state
        if state is None or row < 0:
            self.facts.setText("")
            return
        grid, p = state.grid, float(self.session.p[row])
        verdict = self.session.reviews.get(row, "not reviewed")
        self.facts.setText(
            f"<b>{grid.id(row)}</b><br>P(tumour) {'-' if np.isnan(p) else f'{p:.3f}'}<br>"
            f"x {int(grid.xs[row])}, y {int(grid.ys[row])} (level 0), {grid.side} px<br>"
            f"{state.slide.mpp:g} um/px; tile {grid.spec.mpp:g} um/px<br>"
            f"tissue {float(grid.tissue[row]):.0%}<br>review: {verdict}"
            + (f"<br>{self.cam_text}" if self.cam_shown and self.cam_text else "")
        )

    def _on_grid_current(self, index: QModelIndex, _previous: QModelIndex) -> None:
        if index.isValid():
            self.session.select(self.tiles.tile_row(index.row()))

    def _on_sort(self, name: str) -> None:
        current = self.session.current
        self.tiles.set_order(name)
        if current >= 0:
            self.grid.setCurrentIndex(self.tiles.index(self.tiles.position_of(current)))

    def _on_reviewed(self, row: int, verdict: str) -> None:
        self.tiles.set_review(row, verdict)
        self._show_facts(row)
        self._step(1)

    def _review(self, verdict: Verdict) -> None:
        if not self.prefs.reviewer:
            name = self._ask_reviewer(self, "")
            if name is None:
                return
            self.prefs.reviewer = name
        problem = self.session.review(verdict, self.prefs.reviewer)
        if problem is not None:
            self.statusBar().showMessage(problem)

    def _step(self, delta: int) -> None:
        n = self.tiles.rowCount()
        if not n:
            return
        position = self.tiles.position_of(self.session.current)
        target = min(max(position + delta, 0), n - 1)
        self.session.select(self.tiles.tile_row(target))

    def closeEvent(self, event: object) -> None:
        self.tiles.shutdown()
        self.session.shutdown()
        super().closeEvent(event)  # type: ignore[arg-type]
