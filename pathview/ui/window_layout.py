"""How the main window is built: its widgets and their layout, the menus of the action table,
and the layout the user left it in (geometry, splitters, docks), restored and saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from pathview.ui.actions import ACTIONS, MENUS, ActionSpec
from pathview.ui.bulk_review import BULK_ACTION_NAMES, enable_bulk_actions, selection_button
from pathview.ui.docks import show_dock
from pathview.ui.grid import FilterBar, PatchGrid
from pathview.ui.heat_legend import HeatLegend
from pathview.ui.histogram import HistogramPanel
from pathview.ui.insight_window import install_insight
from pathview.ui.keyboard import KeyRouter
from pathview.ui.metrics_panel import MetricsPanel
from pathview.ui.model_verdict import VerdictMenuEntry
from pathview.ui.patch_view import PatchView
from pathview.ui.review_panel import ReviewPanel
from pathview.ui.status import StatusWidgets, enable_model_verdicts

if TYPE_CHECKING:
    from pathview.ui.main_window import MainWindow

HISTOGRAM_THROTTLE_MS = 500
MODEL_VERDICTS = ("agree", "disagree")  # relative to the model's call: disabled without one
METRICS_DOCK_WIDTH = 560
DEFAULT_SIZE = (1500, 950)
GRID_CHROME = 34  # the left pane's margins, the grid's frame and its scroll bar, in px


def build_widgets(w: MainWindow) -> None:
    """Create and lay out the window's widgets (grid, patch view, panels, dock, status)."""
    s = w.session
    # Left: sort/filter bar over the grid (or a message when there is nothing to show).
    w.filter_bar = FilterBar()
    fb = w.filter_bar
    w.sort_combo, w.review_filter, w.truth_filter = (
        fb.sort_combo,
        fb.review_filter,
        fb.truth_filter,
    )
    w.disagree_check, w.p_min, w.p_max = fb.disagree_check, fb.p_min, fb.p_max
    w.grid = PatchGrid()
    w.grid.setModel(s.model)
    w.grid_message = QLabel("Open a folder of patches (File ▸ Open folder, or drop one here).")
    w.grid_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
    w.grid_message.setWordWrap(True)
    w.grid_message.setStyleSheet("QLabel { color: #ccc; font-size: 14px; padding: 30px; }")
    w.grid_stack = QStackedWidget()
    w.grid_stack.addWidget(w.grid_message)
    w.grid_stack.addWidget(w.grid)
    left = QWidget()
    left_layout = QVBoxLayout(left)
    left_layout.setContentsMargins(4, 4, 4, 4)
    left_layout.addWidget(w.filter_bar)
    left_layout.addWidget(w.grid_stack, 1)

    # Right: the patch view over the facts panel and the histogram.
    w.status = StatusWidgets(w.statusBar(), s.model_status, w)
    w.counts_label, w.model_label = w.status.counts_label, w.status.model_label
    w.progress, w.cancel_button = w.status.progress, w.status.cancel_button
    w.model_banner = w.status.model_banner
    w.status.show_reviewer(s.reviewer)
    s.reviews.reviewer_changed.connect(w.status.show_reviewer)
    w.patch_view = PatchView()
    w.heat_legend = HeatLegend()
    w.review_panel = ReviewPanel()
    w.histogram = HistogramPanel()
    top = QWidget()
    top_layout = QVBoxLayout(top)
    top_layout.setContentsMargins(0, 0, 0, 0)
    top_layout.addWidget(w.model_banner)
    top_layout.addLayout(patch_with_legend(w.patch_view, w.heat_legend), 1)
    w.bottom_split = QSplitter(Qt.Orientation.Horizontal)
    w.bottom_split.addWidget(scrolled(w.review_panel))
    w.bottom_split.addWidget(w.histogram)
    w.bottom_split.setChildrenCollapsible(False)
    w.right_split = QSplitter(Qt.Orientation.Vertical)
    w.right_split.addWidget(top)
    w.right_split.addWidget(w.bottom_split)
    w.right_split.setStretchFactor(0, 3)
    w.right_split.setStretchFactor(1, 2)
    w.main_split = QSplitter(Qt.Orientation.Horizontal)
    w.main_split.addWidget(left)
    w.main_split.addWidget(w.right_split)
    w.main_split.setChildrenCollapsible(False)
    w.right_split.setChildrenCollapsible(False)
    w.main_split.setStretchFactor(0, 1)
    w.main_split.setStretchFactor(1, 1)
    w.setCentralWidget(w.main_split)

    # Metrics: a dock (View ▸ Metrics panel), placed and shown as the user left it.
    w.metrics_panel = MetricsPanel()
    w.metrics_dock = QDockWidget("Metrics", w)
    w.metrics_dock.setObjectName("metrics_dock")  # saveState/restoreState key
    w.metrics_dock.setWidget(w.metrics_panel)
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, w.metrics_dock)
    # A throttle, not a debounce: the plot follows the scores while they stream in.
    w._refresh_histogram_soon = qthrottled(
        w.histogram.refresh, HISTOGRAM_THROTTLE_MS, leading=False, parent=w
    )
    w.histogram.set_table(s.table)
    # The embedding map's dock and the similar-patches strip (ui/insight_window.py).
    w.insight_parts = install_insight(w)


def patch_with_legend(view: QWidget, legend: QWidget) -> QHBoxLayout:
    """The patch view with the heat map's colour bar at its right."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    row.addWidget(view, 1)
    row.addWidget(legend)
    return row


def scrolled(panel: QWidget) -> QScrollArea:
    """``panel`` in a vertical scroll area: a patch whose facts take more lines scrolls the
    panel instead of pushing the panes around it (they hold still between patches)."""
    area = QScrollArea()
    area.setObjectName(f"{type(panel).__name__}Scroll")
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    bar = area.verticalScrollBar().sizeHint().width()
    area.setMinimumWidth(panel.minimumSizeHint().width() + bar)
    return area


def new_action(spec: ActionSpec, parent: QWidget) -> QAction:
    """The QAction of ``spec``: text, object name, shortcuts, check state and tips (its slot
    is the caller's to connect)."""
    action = QAction(spec.text, parent)
    action.setObjectName(spec.name)
    action.setShortcuts([QKeySequence(k) for k in spec.shortcuts])
    action.setCheckable(spec.checkable)
    action.setChecked(spec.checked)
    if spec.tip:
        action.setToolTip(spec.tip)
        action.setStatusTip(spec.tip)
    return action


def build_actions(w: MainWindow) -> None:
    """The menus, shortcuts and tooltips of the action table, each calling a window slot."""
    menus = {title: w.menuBar().addMenu(title) for title in MENUS}
    w.recent_menu = QMenu("Open &recent", w)
    for spec in ACTIONS:
        action = new_action(spec, w)
        action.triggered.connect(_slot_for(w, spec))
        if spec.separator_before:
            menus[spec.menu].addSeparator()
        menus[spec.menu].addAction(action)
        if spec.name == "open_demo":
            menus[spec.menu].addMenu(w.recent_menu)
        w.addAction(action)  # shortcuts work wherever the focus is in the window
        w.action_map[spec.name] = action
    w.cancel_button.clicked.connect(w.action_map["cancel"].trigger)
    w.action_map["auto_advance"].toggled.connect(w.status.show_auto_advance)
    map_dock = w.insight_parts.map_dock
    map_dock.toggleViewAction().toggled.connect(w.action_map["toggle_map"].setChecked)
    w.keys = KeyRouter(w, w.grid, [w.action_map[s.name] for s in ACTIONS if s.anywhere])
    w.keys.refused.connect(w.status.show_refused)
    verdicts = [w.action_map[name] for name in MODEL_VERDICTS]
    s = w.session

    def enable_verdicts() -> None:
        enable_model_verdicts(verdicts, s.model_status, s.view.options.hide_p)

    enable_verdicts()
    s.model_changed.connect(lambda _status: enable_verdicts())
    s.view.changed.connect(lambda _new, _old: enable_verdicts())
    bulk = [w.action_map[name] for name in (*BULK_ACTION_NAMES, "clear_selection")]
    button = selection_button(bulk[:-1])
    w.insight_parts.map_panel.add_picking_widget(button)
    enable_bulk_actions(bulk, -1, button)
    s.selection.subset_changed.connect(lambda picked: enable_bulk_actions(bulk, picked, button))
    w.verdict_entry = VerdictMenuEntry(menus["&Model"])
    w.session.model_changed.connect(lambda status: w.verdict_entry.show(status.verdict))


def _slot_for(w: MainWindow, spec: ActionSpec) -> Callable[[bool], None]:
    # A slot is a window method ("undo") or one of a window widget's ("grid.tile_below").
    target: Any = w
    for name in spec.slot.split("."):
        target = getattr(target, name)
    method = target
    if spec.checkable:
        return method  # type: ignore[no-any-return]

    def call(_checked: bool = False) -> None:
        method()

    return call


def splitters(w: MainWindow) -> dict[str, QSplitter]:
    return {
        "main_split": w.main_split,
        "right_split": w.right_split,
        "bottom_split": w.bottom_split,
    }


def restore_layout(w: MainWindow) -> None:
    """Geometry, splitters and docks as the user left them (defaults the first time)."""
    p = w.prefs
    w.action_map["auto_advance"].setChecked(p.flag("auto_advance", False))
    w.session.reviews.auto_advance = w.action_map["auto_advance"].isChecked()
    tile_box = p.flag("tile_box", True)
    w.action_map["toggle_tile_box"].setChecked(tile_box)
    w.grid.set_look(p.tile_size, tile_box)
    geometry = p.layout("geometry")
    if geometry is not None:
        w.restoreGeometry(geometry)
    width, height = default_size(w)
    if geometry is None:
        w.resize(width, height)
    for key, splitter in splitters(w).items():
        state = p.layout(key)
        if state is not None:
            splitter.restoreState(state)
        elif key == "main_split":  # the grid gets whole columns of tiles, about 45%
            left = grid_width(w, round(width * 0.45))
            splitter.setSizes([left, width - left])
        elif key == "right_split":
            splitter.setSizes([round(height * 0.58), round(height * 0.42)])
        elif key == "bottom_split":
            splitter.setSizes([600, 400])
    state = p.layout("window_state")  # docks: where, how big, shown or not
    if state is not None:
        w.restoreState(state)
    else:  # closed the first time: the grid and the patch get the window
        w.resizeDocks([w.metrics_dock], [METRICS_DOCK_WIDTH], Qt.Orientation.Horizontal)
        w.metrics_dock.hide()
    w.action_map["toggle_metrics"].setChecked(not w.metrics_dock.isHidden())
    w.action_map["toggle_map"].setChecked(not w.insight_parts.map_dock.isHidden())
    rebuild_recent_menu(w)


def grid_width(w: MainWindow, about: int) -> int:
    """The left pane's width for as many whole columns of tiles as fit in ``about`` px
    (at least the grid's minimum)."""
    tile = w.grid.gridSize().width()
    chrome = GRID_CHROME
    columns = max(1, (about - chrome) // max(1, tile))
    return max(w.grid.minimumWidth(), columns * tile + chrome)


def default_size(w: MainWindow) -> tuple[int, int]:
    """The window's first size: 1500 x 950, or what the screen has room for."""
    screen = w.screen()
    if screen is None:
        return DEFAULT_SIZE
    room = screen.availableGeometry()
    # The frame (title bar, borders) is not part of the size asked for.
    return min(DEFAULT_SIZE[0], room.width() - 16), min(DEFAULT_SIZE[1], room.height() - 48)


def show_metrics(w: MainWindow, on: bool) -> None:
    """Show or hide the metrics dock. Docked beside the panes it would force the window wider
    than it is (a 1024 px screen): then it opens as a window of its own instead."""
    show_dock(w, w.metrics_dock, on, METRICS_DOCK_WIDTH)


def save_layout(w: MainWindow) -> None:
    w.prefs.set_layout("geometry", w.saveGeometry())
    w.prefs.set_layout("window_state", w.saveState())
    for key, splitter in splitters(w).items():
        w.prefs.set_layout(key, splitter.saveState())
    w.prefs.sync()


def rebuild_recent_menu(w: MainWindow) -> None:
    w.recent_menu.clear()
    for folder in w.prefs.recent_folders:
        action = w.recent_menu.addAction(folder)
        action.triggered.connect(lambda _c=False, f=folder: w.open_folder(Path(f)))
    w.recent_menu.setEnabled(bool(w.prefs.recent_folders))
