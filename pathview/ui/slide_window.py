"""The slide window: the slide overview with its heat map, the slide's tile grid and the
current tile, linked both ways, with the folder window's review keys, sort keys and Grad-CAM
choices.

A click on a tile in the overview selects it in the grid and shows it; selecting in the grid
centres the overview on it. The keys are the folder window's (:data:`SLIDE_ACTIONS`, in the
Review and View menus): A / D / U agree / disagree / unsure (agree and disagree refused where
no call is shown), T / N the label tumour / normal, Ctrl+Z undoes the reviewer's last review,
J / K or the arrow keys step through the grid in its order (Home / End: its first / last
tile, Shift+N: the next unreviewed one), G or H shows the current tile's
Grad-CAM (method and layer chosen in the tile panel) with its colour bar, Ctrl+Shift+P is
blind mode (P and the call hidden on the tiles, the panel and the overview). The grid is drawn
by the folder grid's delegate (P bar, review badge, the label given, quality marks) and sorted
by position, P, uncertainty or a quality measure, filtered by review or quality flag.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QModelIndex, QSize, QTimer
from PySide6.QtGui import QAction, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pathview.core import Verdict
from pathview.explain import Explanation, blend, overlay_rgba
from pathview.ui.actions import ActionSpec, spec_named
from pathview.ui.delegate import PatchDelegate, tile_size
from pathview.ui.main_window import AskReviewer, ask_reviewer_dialog
from pathview.ui.settings import Preferences
from pathview.ui.slide_panel import TileFacts, TilePanel, format_tile_facts, tile_picture
from pathview.ui.slide_session import OpenedSlide, SlideSession
from pathview.ui.slide_tiles import (
    FILTERS,
    ORDERS,
    P_ORDERS,
    POSITION,
    THUMBNAIL_SIDE,
    TileListModel,
)
from pathview.ui.slide_view import SlideOverview
from pathview.ui.view_state import ViewOptions
from pathview.ui.window_layout import new_action
from pathview.workers import ModelInfo

#: Scores arriving batch by batch are drawn at most this often (milliseconds).
REDRAW_MS = 200

AskMpp = Callable[[QWidget, Path], "float | None"]

#: The slide window's actions, with the folder window's keys (``pathview.ui.actions``).
SLIDE_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("agree", "&Agree with the model", "&Review", "agree", ("A",)),
    ActionSpec("disagree", "&Disagree with the model", "&Review", "disagree", ("D",)),
    ActionSpec("unsure", "&Unsure", "&Review", "unsure", ("U",)),
    ActionSpec("label_tumour", "Label &tumour", "&Review", "label_tumour", ("T",)),
    ActionSpec("label_normal", "Label &normal", "&Review", "label_normal", ("N",)),
    ActionSpec("undo", "Und&o last review", "&Review", "undo", ("Ctrl+Z",)),
    ActionSpec("next", "Next til&e", "&Review", "next_tile", ("Right", "J"), separator_before=True),
    ActionSpec("previous", "&Previous tile", "&Review", "previous_tile", ("Left", "K")),
    ActionSpec(
        "next_unreviewed",
        "Ne&xt unreviewed tile",
        "&Review",
        "next_unreviewed",
        ("Shift+N",),
    ),
    ActionSpec("first_tile", "&First tile", "&Review", "first_tile", ("Home",)),
    ActionSpec("last_tile", "&Last tile", "&Review", "last_tile", ("End",)),
    ActionSpec(
        "set_reviewer", "Change &reviewer…", "&Review", "change_reviewer", separator_before=True
    ),
    ActionSpec(
        "toggle_heatmap", "&Grad-CAM heat map", "&View", "set_heatmap_visible", ("G", "H"), True
    ),
    spec_named("blind_p"),  # the folder window's, slot set_blind_p here too
)


def pane_widths(width: int, panel: int) -> list[int]:
    """Widths of the overview, the grid and the tile panel in a window ``width`` wide: the
    panel as it asks, the grid three tiles wide (four from 1400 px), the overview the rest."""
    columns = 4 if width >= 1400 else 3
    grid = columns * (tile_size(THUMBNAIL_SIDE).width() + 4) + 40  # and its scroll bar
    return [max(200, width - grid - panel), grid, panel]


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
        self.delegate = PatchDelegate(self.grid)
        self.delegate.set_look(THUMBNAIL_SIDE, True)
        self.grid.setItemDelegate(self.delegate)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setGridSize(tile_size(THUMBNAIL_SIDE) + QSize(4, 4))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        # Laid out in batches between events: 50,000 tiles at once would stall for 200 ms.
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(2000)
        self.grid.setModel(self.tiles)
        self.sort = QComboBox()
        self.sort.addItems(ORDERS)
        self.sort.setToolTip("Order of the tiles")
        self.filter = QComboBox()
        self.filter.addItems(FILTERS)
        self.filter.setToolTip("Which tiles the grid shows (a review state or a quality flag)")
        for combo in (self.sort, self.filter):  # the grid pane may be three tiles wide
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
        self.panel = TilePanel()
        self.tile_view = self.panel.tile_view
        self.facts = self.panel.facts
        self.reviewer_label = QLabel()
        self.statusBar().addPermanentWidget(self.reviewer_label)
        self.action_map: dict[str, QAction] = {}
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw.timeout.connect(self._redraw_scores)
        self._layout()
        self._build_actions()
        self._connect()
        session.reviews.reviewer = self.prefs.reviewer
        session.view.update(hide_p=self.prefs.flag("blind_p", False))
        self._show_reviewer()
        self._on_view_changed(session.view.options, ViewOptions())

    # ------------------------------------------------------------------ assembly
    def _layout(self) -> None:
        grid_pane = QWidget()
        grid_box = QVBoxLayout(grid_pane)
        grid_box.setContentsMargins(0, 0, 0, 0)
        choices = QHBoxLayout()
        choices.addWidget(QLabel("Sort:"))
        choices.addWidget(self.sort, 1)
        choices.addWidget(QLabel("Show:"))
        choices.addWidget(self.filter, 1)
        grid_box.addLayout(choices)
        grid_box.addWidget(self.grid)
        splitter = QSplitter()
        for pane in (self.overview, grid_pane, self.panel):
            splitter.addWidget(pane)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 0)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self._sized = False

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # once, at the first showing: the panes share the window's width
            self._sized = True
            self.splitter.setSizes(pane_widths(self.width(), self.panel.minimumWidth()))

    def _build_actions(self) -> None:
        menus = {name: self.menuBar().addMenu(name) for name in ("&Review", "&View")}
        for spec in SLIDE_ACTIONS:
            action = new_action(spec, self)
            slot = getattr(self, spec.slot)
            if spec.checkable:
                action.toggled.connect(slot)
            else:
                action.triggered.connect(lambda _checked=False, s=slot: s())
            menu = menus[spec.menu]
            if spec.separator_before:
                menu.addSeparator()
            menu.addAction(action)
            self.addAction(action)  # its keys work wherever focus is in the window
            self.action_map[spec.name] = action

    def _connect(self) -> None:
        s = self.session
        s.opened.connect(self._on_opened)
        s.failed.connect(lambda reason: self.statusBar().showMessage(reason))
        s.mpp_needed.connect(self._on_mpp_needed)
        s.model_described.connect(self._on_model_described)
        s.scores_arrived.connect(self._on_scores)
        s.scoring_finished.connect(self._on_scoring_finished)
        s.current_changed.connect(self._on_current)
        s.reviewed.connect(lambda _row: self.next_tile())
        s.reviews.changed.connect(self._on_review_changed)
        s.reviews.message.connect(self.statusBar().showMessage)
        s.explained.connect(self._on_explained)
        s.view.changed.connect(self._on_view_changed)
        self.overview.tile_clicked.connect(s.select)
        self.grid.selectionModel().currentChanged.connect(self._on_grid_current)
        self.sort.currentTextChanged.connect(lambda _name: self._apply_order())
        self.filter.currentTextChanged.connect(lambda _name: self._apply_order())
        self.panel.method_changed.connect(lambda key: s.view.update(method=key) if key else None)
        self.panel.layer_changed.connect(lambda key: s.view.update(layer=key) if key else None)

    # ------------------------------------------------------------------ session -> widgets
    def _on_opened(self, state: OpenedSlide) -> None:
        slide, grid = state.slide, state.grid
        self.setWindowTitle(f"pathview - {slide.name}")
        self.overview.show_slide(slide, state.overview, state.scale, grid)
        self.tiles.set_slide(slide, grid)
        self.tiles.set_reviews(self.session.reviews.states)
        self._apply_order()
        reviewed = len(state.reviews)
        self.statusBar().showMessage(
            f"{slide.name}: {len(grid)} tissue tiles of {grid.side} px at {slide.mpp:g} um/px "
            f"({slide.mpp_source}), {reviewed} reviewed; scoring..."
        )
        if len(grid):
            self.session.select(self.tiles.tile_row(0) if self.tiles.rowCount() else 0)

    def _on_mpp_needed(self, path: Path) -> None:
        answer = self._ask_mpp(self, path)
        if answer is None:
            self.statusBar().showMessage(f"{path.name}: not opened (its scale is unknown)")
            return
        self.session.answer_mpp(answer)

    def _on_model_described(self, info: ModelInfo) -> None:
        view = self.session.view
        method = view.options.method or next(iter(info.methods), "")
        layer = view.options.layer or info.default_layer
        self.panel.set_choices(
            info.methods,
            {name: info.layer_names.get(name, name) for name in info.layers},
            method,
            layer,
        )
        view.update(method=method, layer=layer)

    def _on_scores(self, _rows: np.ndarray, _p: np.ndarray) -> None:
        if not self._redraw.isActive():  # at most one redraw per interval, however many batches
            self._redraw.start()

    def _redraw_scores(self) -> None:
        s = self.session
        self.overview.set_scores(s.p)
        self.tiles.set_scores(s.p, s.quality)
        self.grid.viewport().update()
        if s.current >= 0:
            self._show_facts(s.current)

    def _on_scoring_finished(self, how: str) -> None:
        self._redraw.stop()
        self._redraw_scores()
        if self.tiles.order_name != POSITION or self.filter.currentText() != FILTERS[0]:
            self._apply_order()  # sorted or filtered on partial scores: again on all of them
        self.statusBar().showMessage(f"scoring: {how}")

    def _on_current(self, row: int) -> None:
        self.overview.set_current(row)
        position = self.tiles.position_of(row) if row >= 0 else -1
        if position >= 0:
            if self.grid.currentIndex().row() != position:
                self.grid.setCurrentIndex(self.tiles.index(position))
            self.grid.scrollTo(self.tiles.index(position))
        self._draw_tile(row)

    def _on_explained(self, row: int, _explanation: Explanation) -> None:
        if row == self.session.current:
            self._draw_tile(row)

    def _draw_tile(self, row: int) -> None:
        """The tile, with its Grad-CAM over it when one is shown and computed."""
        s = self.session
        pixels = s.tile_pixels(row)
        options = s.view.options
        explanation = s.explanation if options.heatmap else None
        if pixels is not None and explanation is not None and explanation.map is not None:
            pixels = blend(pixels, overlay_rgba(explanation.map, options.opacity))
        self.tile_view.setPixmap(QPixmap() if pixels is None else tile_picture(pixels))
        self.panel.show_explanation(explanation, options.heatmap)
        self._show_facts(row)

    def _on_view_changed(self, new: ViewOptions, old: ViewOptions) -> None:
        self.action_map["toggle_heatmap"].setChecked(new.heatmap)
        self.action_map["blind_p"].setChecked(new.hide_p)
        self.panel.show_choice(new.method, new.layer)
        if new.hide_p != old.hide_p:
            self.prefs.set_flag("blind_p", new.hide_p)
            self._set_blind(new.hide_p)
        if new.heatmap != old.heatmap or (new.method, new.layer) != (old.method, old.layer):
            self._draw_tile(self.session.current)  # the plain tile until its map arrives

    def _set_blind(self, hidden: bool) -> None:
        """Blind mode: P off the tiles, the panel and the overview, the P orders off."""
        self.tiles.set_p_hidden(hidden)
        self.overview.set_heat_visible(not hidden)
        items = self.sort.model()
        for i, name in enumerate(ORDERS):
            items.item(i).setEnabled(not (hidden and name in P_ORDERS))  # type: ignore[attr-defined]
        if hidden and self.sort.currentText() in P_ORDERS:
            self.sort.setCurrentText(POSITION)
        self._show_facts(self.session.current)

    def _on_review_changed(self, row: int) -> None:
        if row < 0:
            self.tiles.set_reviews(self.session.reviews.states)
            return
        self.tiles.review_changed(row)
        if row == self.session.current:
            self._show_facts(row)

    def _show_facts(self, row: int) -> None:
        s = self.session
        state = s.state
        if state is None or row < 0:
            self.facts.setText("")
            return
        options, info = s.view.options, s.model_info
        facts = TileFacts(
            row=row,
            p=float(s.p[row]),
            state=s.reviews.states.get(row),
            measures=s.quality.measures_of(row),
            explanation=s.explanation if options.heatmap else None,
            heatmap=options.heatmap,
            has_model=info is not None,
            hide_p=options.hide_p,
        )
        self.facts.setText(
            format_tile_facts(
                facts,
                state.grid,
                state.slide.mpp,
                info.methods if info is not None else None,
                info.layer_names if info is not None else None,
            )
        )

    def _show_reviewer(self) -> None:
        name = self.session.reviews.reviewer
        self.reviewer_label.setText(
            f"Reviewer: {name}" if name else "No reviewer yet (asked at the first review)"
        )

    # ------------------------------------------------------------------ widgets -> session
    def _on_grid_current(self, index: QModelIndex, _previous: QModelIndex) -> None:
        if index.isValid():
            self.session.select(self.tiles.tile_row(index.row()))

    def _apply_order(self) -> None:
        current = self.session.current
        self.tiles.set_order(self.sort.currentText(), self.filter.currentText())
        position = self.tiles.position_of(current) if current >= 0 else -1
        if position >= 0:
            self.grid.setCurrentIndex(self.tiles.index(position))
            self.grid.scrollTo(self.tiles.index(position))
        self.statusBar().showMessage(
            f"{self.tiles.rowCount()} of {len(self.session.p)} tiles shown", 4000
        )

    # ------------------------------------------------------------------ action slots
    def agree(self) -> None:
        self._review(Verdict.AGREE)

    def disagree(self) -> None:
        self._review(Verdict.DISAGREE)

    def unsure(self) -> None:
        self._review(Verdict.UNSURE)

    def label_tumour(self) -> None:
        self._review(None, 1)

    def label_normal(self) -> None:
        self._review(None, 0)

    def undo(self) -> None:
        self.session.undo()

    def next_tile(self) -> None:
        self._step(1)

    def previous_tile(self) -> None:
        self._step(-1)

    def first_tile(self) -> None:
        self._go_to(0)

    def last_tile(self) -> None:
        self._go_to(self.tiles.rowCount() - 1)

    def next_unreviewed(self) -> None:
        """The next tile in the grid's order without a review in effect (from the top again
        after the last one); says so when every tile shown is reviewed."""
        n = self.tiles.rowCount()
        if not n:
            return
        start = self.tiles.position_of(self.session.current)
        reviewed = self.session.reviews.states
        for step in range(1, n + 1):
            position = (start + step) % n
            if self.tiles.tile_row(position) not in reviewed:
                self._go_to(position)
                return
        self.statusBar().showMessage("Every tile shown is reviewed", 4000)

    def _go_to(self, position: int) -> None:
        if 0 <= position < self.tiles.rowCount():
            self.session.select(self.tiles.tile_row(position))

    def change_reviewer(self) -> None:
        name = self._ask_reviewer(self, self.session.reviews.reviewer)
        if name is not None:
            self.prefs.reviewer = name
            self.session.reviews.reviewer = name
            self._show_reviewer()

    def set_heatmap_visible(self, on: bool) -> None:
        self.session.view.update(heatmap=on)

    def set_blind_p(self, on: bool) -> None:
        self.session.view.update(hide_p=on)

    def _review(self, verdict: Verdict | None, label: int | None = None) -> None:
        refusal = self.session.verdict_refusal(verdict) if verdict is not None else ""
        if refusal:  # refused before anything is asked
            self.statusBar().showMessage(refusal)
            return
        if not self.session.reviews.reviewer:
            name = self._ask_reviewer(self, "")
            if name is None:
                return
            self.prefs.reviewer = name
            self.session.reviews.reviewer = name
            self._show_reviewer()
        problem = self.session.review(verdict, label)
        if problem:
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
