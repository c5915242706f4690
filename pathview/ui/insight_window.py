"""The window's insight parts: the embedding map's dock, the similar-patches strip under the
patch view, and the folder summary dialog. Built by :func:`install_insight`; their state lives
in the session's ``insight``, ``map`` and ``similar`` controllers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QBoxLayout, QDockWidget, QFrame, QScrollArea, QWidget

from pathview.ui.docks import show_dock
from pathview.ui.map_view import MapPanel
from pathview.ui.similar import Neighbour
from pathview.ui.similar_strip import STRIP_HEIGHT, SimilarStrip
from pathview.ui.summary_dialog import SummaryDialog, SummaryRunner

if TYPE_CHECKING:
    from pathview.ui.main_window import MainWindow

#: The map's width where it opens as a window of its own (a small screen).
MAP_DOCK_WIDTH = 520


class InsightParts(QObject):
    """The map dock and the similar strip of one window, bound to its session."""

    def __init__(self, w: MainWindow) -> None:
        super().__init__(w)
        self._w = w
        s = w.session
        self.map_panel = MapPanel(s.map)
        self.map_dock = QDockWidget("Map", w)
        self.map_dock.setObjectName("map_dock")  # saveState/restoreState key
        self.map_dock.setWidget(self.map_panel)
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.map_dock)
        self.map_dock.hide()
        self.strip = SimilarStrip(s.similar, s.folders)
        self.summary = SummaryRunner(s, self)
        self.summary.message.connect(lambda text: w.statusBar().showMessage(text, 8000))
        self.map_dock.visibilityChanged.connect(s.map.set_active)
        s.current_changed.connect(lambda _pos: self._mark_current())
        s.similar.neighbours_changed.connect(lambda _n: self._mark_current())
        s.map.projection_changed.connect(self._mark_current)

    def place_strip(self, under: QWidget) -> None:
        """Put the strip right under ``under`` (the patch view) in its layout."""
        parent = under.parentWidget()
        layout = parent.layout() if parent is not None else None
        if not isinstance(layout, QBoxLayout):
            raise TypeError("the patch view is not in a box layout")
        # In a scroll area: eight thumbnails must not set the patch view's minimum width.
        scroller = QScrollArea()
        scroller.setWidget(self.strip)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroller.setFixedHeight(STRIP_HEIGHT + scroller.horizontalScrollBar().sizeHint().height())
        scroller.setMinimumWidth(120)
        self.strip_area = scroller
        layout.insertWidget(layout.indexOf(under) + 1, scroller)

    def _mark_current(self) -> None:
        s = self._w.session
        neighbours: list[Neighbour] = s.similar.neighbours
        self.map_panel.show_current(
            s.map.point_of_row(s.current_row), [s.map.point_of_row(n.row) for n in neighbours]
        )

    def set_map_visible(self, on: bool) -> None:
        metrics = self._w.metrics_dock
        if on and metrics.isVisible() and not metrics.isFloating():
            # One column of docks, not two. Tabified only now: two hidden docks tabified at
            # start leave an empty tab bar in the window's layout.
            self._w.tabifyDockWidget(metrics, self.map_dock)
        show_dock(self._w, self.map_dock, on, MAP_DOCK_WIDTH)
        if on:
            self.map_dock.raise_()  # in front of the metrics dock it may share a column with

    def set_blind(self, blind: bool) -> None:
        """Blind mode: the map (coloured by P or truth) and the similar strip (captioned with
        P and truth) are hidden until it ends; the map stays closed after it."""
        if blind:
            self.map_dock.hide()
        self.strip_area.setVisible(not blind)

    def show_summary(self) -> SummaryDialog:
        """View ▸ Folder summary: compute and show it."""
        return self.summary.show(self._w)

    def shutdown(self) -> None:
        self.summary.shutdown()


def install_insight(w: MainWindow) -> InsightParts:
    """Build the insight parts into the window (call from ``build_widgets``)."""
    parts = InsightParts(w)
    parts.place_strip(w.patch_view)
    return parts
