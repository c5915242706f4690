"""The embedding map's widgets: a pyqtgraph plot of the folder's points (drawn as one image,
:func:`pathview.triage.projection.rasterise`), a ScatterPlotItem marking the current patch and
its similar patches, the colour and pick-mode controls, and a hover preview of the patch under
the mouse. State lives in :class:`pathview.ui.map_controller.MapController`."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from pathview.quality import FLAGS
from pathview.triage.projection import (
    ColourBy,
    ViewRect,
    legend,
    nearest_point,
    points_in_polygon,
    points_in_rect,
    rasterise,
)
from pathview.ui.map_controller import MapController

#: The image covers the view plus this share of it on every side, so a pan shows points at
#: once; it is redrawn for the new view when the pan pauses.
MARGIN = 0.25
REDRAW_MS = 60
HOVER_MS = 40
#: A click or hover picks the nearest point within this many pixels.
PICK_PIXELS = 8
PICK_MODES = ("pan", "box", "lasso")


def dot_size(points: int) -> int:
    """Pixels per point's side: bigger dots when there are few points."""
    return 6 if points < 2000 else 3 if points < 30000 else 2


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag pans (mode "pan") or draws a box or lasso that picks points."""

    box_drawn = Signal(float, float, float, float)  # x0, y0, x1, y1 in data units
    lasso_drawn = Signal(object)  # K x 2 float array of data points

    def __init__(self) -> None:
        super().__init__()
        self.pick_mode = "pan"
        self._lasso: list[tuple[float, float]] = []
        pen = QPen(QColor(255, 220, 0), 0)
        pen.setCosmetic(True)
        self._box_item = QGraphicsRectItem()
        self._box_item.setPen(pen)
        self._box_item.hide()
        self._path_item = QGraphicsPathItem()
        self._path_item.setPen(pen)
        self._path_item.hide()
        self.addItem(self._box_item, ignoreBounds=True)
        self.addItem(self._path_item, ignoreBounds=True)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        """Pan (pyqtgraph's own), or draw a box or lasso with the left button."""
        if self.pick_mode == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start = self.mapToView(ev.buttonDownPos(Qt.MouseButton.LeftButton))
        here = self.mapToView(ev.pos())
        if self.pick_mode == "box":
            self._box_item.setRect(QRectF(start, here).normalized())
            self._box_item.show()
            if ev.isFinish():
                self._box_item.hide()
                self.box_drawn.emit(start.x(), start.y(), here.x(), here.y())
            return
        if ev.isStart():
            self._lasso = [(start.x(), start.y())]
        self._lasso.append((here.x(), here.y()))
        path = QPainterPath(QPointF(*self._lasso[0]))
        for x, y in self._lasso[1:]:
            path.lineTo(x, y)
        path.closeSubpath()
        self._path_item.setPath(path)
        self._path_item.show()
        if ev.isFinish():
            self._path_item.hide()
            self.lasso_drawn.emit(np.asarray(self._lasso, np.float64))
            self._lasso = []


class MapPanel(QWidget):
    """The map: controls over the plot, a hover preview under it."""

    point_activated = Signal(int)  # a point was clicked

    def __init__(self, controller: MapController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.colour_combo = QComboBox()
        for c in ColourBy:
            if c is ColourBy.QUALITY:
                self.colour_combo.addItem("any quality flag", (c.value, ""))
                for flag in FLAGS:
                    self.colour_combo.addItem(f"flag: {flag}", (c.value, flag))
            else:
                self.colour_combo.addItem(c.value, (c.value, ""))
        self.mode_buttons = QButtonGroup(self)
        modes = QHBoxLayout()
        for i, (mode, tip) in enumerate(
            (
                ("pan", "Drag to pan, wheel to zoom"),
                ("box", "Drag a box: the grid shows the patches inside"),
                ("lasso", "Draw round patches: the grid shows the patches inside"),
            )
        ):
            button = QRadioButton(mode.capitalize())
            button.setToolTip(tip)
            button.setChecked(i == 0)
            self.mode_buttons.addButton(button, i)
            modes.addWidget(button)
        self.clear_button = QPushButton("Clear selection")
        self.clear_button.setEnabled(False)
        self.count_label = QLabel("No embeddings yet: score the folder")
        self.legend_label = QLabel()
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        for label in (self.count_label, self.legend_label):
            label.setWordWrap(True)  # long counts wrap instead of widening the dock

        self.view_box = MapViewBox()
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.setBackground("#1e1e22")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumSize(240, 200)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        # The current patch (white ring) and its similar patches (yellow rings).
        self.marks = pg.ScatterPlotItem(pxMode=True, brush=None)
        self.marks.setZValue(10)
        self.plot.addItem(self.marks)

        self.preview_image = QLabel()
        self.preview_image.setFixedSize(96, 96)
        self.preview_image.setStyleSheet("QLabel { background: #2a2a30; }")
        self.preview_text = QLabel("Hover over a point to see its patch")
        self.preview_text.setWordWrap(True)
        self.preview_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(QLabel("Colour:"))
        top.addWidget(self.colour_combo, 1)
        picking = QHBoxLayout()
        picking.addLayout(modes)
        picking.addStretch(1)
        picking.addWidget(self.clear_button)
        self._picking = picking
        preview = QHBoxLayout()
        preview.addWidget(self.preview_image)
        side = QVBoxLayout()
        side.addWidget(self.preview_text, 1)
        side.addWidget(self.legend_label)
        side.addWidget(self.count_label)
        preview.addLayout(side, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(picking)
        layout.addWidget(self.plot, 1)
        layout.addLayout(preview)

        self._colours: np.ndarray | None = None
        #: How long the last redraws took (ms; the GUI benchmark reads them).
        self.redraw_ms: deque[float] = deque(maxlen=2000)
        self._hovered = -1
        self._current = -1
        self._similar: list[int] = []
        self._redraw_soon = qthrottled(self.redraw, REDRAW_MS, leading=False, parent=self)
        self._hover_soon = qthrottled(self._hover_at, HOVER_MS, leading=False, parent=self)

        ctl = controller
        ctl.projection_changed.connect(self._on_projection)
        ctl.colours_changed.connect(self._on_colours)
        ctl.picked.connect(self._on_picked)
        self.colour_combo.currentIndexChanged.connect(self._on_colour_chosen)
        self.mode_buttons.idClicked.connect(self._on_mode)
        self.clear_button.clicked.connect(ctl.clear_pick)
        self.view_box.sigRangeChanged.connect(lambda *_a: self._redraw_soon())
        self.view_box.box_drawn.connect(self._on_box)
        self.view_box.lasso_drawn.connect(self._on_lasso)
        scene = self.plot.scene()
        scene.sigMouseMoved.connect(lambda pos: self._hover_soon(pos))
        scene.sigMouseClicked.connect(self._on_click)
        self._show_legend()

    def add_picking_widget(self, widget: QWidget) -> None:
        """Put ``widget`` (the bulk review button) before "Clear selection"."""
        self._picking.insertWidget(self._picking.indexOf(self.clear_button), widget)

    # ------------------------------------------------------------------ drawing
    def _on_projection(self) -> None:
        self._colours = None
        proj = self.controller.projection
        n = len(proj)
        picked = self.controller.picked_mask()
        self._show_count(-1 if picked is None else int(picked.sum()))
        if n:
            x, y = proj.xy[:, 0], proj.xy[:, 1]
            pad_x = max(float(np.ptp(x)) * 0.05, 1e-6)
            pad_y = max(float(np.ptp(y)) * 0.05, 1e-6)
            self.view_box.setRange(
                xRange=(float(x.min()) - pad_x, float(x.max()) + pad_x),
                yRange=(float(y.min()) - pad_y, float(y.max()) + pad_y),
                padding=0,
            )
            # The colours of every point now, the raster in the next turn of the event loop:
            # a new projection of 220,025 points never holds the GUI for both at once.
            self._colours = self.controller.colours()
            QTimer.singleShot(0, self, self.redraw)
            return
        self.redraw()

    def _on_colours(self) -> None:
        self._colours = None
        self._show_legend()
        self.redraw()

    def _on_colour_chosen(self, _index: int) -> None:
        colour_by, flag = self.colour_combo.currentData()
        self.controller.set_colour_by(ColourBy(colour_by), flag)

    def _show_legend(self) -> None:
        items = []
        for text, (r, g, b, _a) in legend(self.controller.colour_by):
            items.append(f'<span style="color: rgb({r},{g},{b})">■</span> {text}')
        self.legend_label.setText("&nbsp;&nbsp;".join(items))

    def view_rect(self) -> ViewRect:
        """The data rectangle the image is drawn for: the view and a margin round it."""
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        dx, dy = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
        size = self.view_box.size()
        scale = 1 + 2 * MARGIN
        return ViewRect(
            x0 - dx,
            y0 - dy,
            x1 + dx,
            y1 + dy,
            max(1, round(size.width() * scale)),
            max(1, round(size.height() * scale)),
        )

    def redraw(self) -> None:
        """Draw the points for the current view (and the marks)."""
        self._redraw_soon.cancel()
        started = time.perf_counter()
        proj = self.controller.projection
        if not len(proj):
            self.image.clear()
            self.marks.clear()
            return
        if self._colours is None:
            self._colours = self.controller.colours()
        view = self.view_rect()
        img = rasterise(
            proj.xy,
            self._colours,
            view,
            dot_size(len(proj)),
            self.controller.picked_mask(),
            bottom_up=True,  # the item's row 0 is at the bottom of the view (y up)
        )
        self.image.setImage(img, autoLevels=False)
        self.image.setRect(
            QRectF(view.left, view.bottom, view.right - view.left, view.top - view.bottom)
        )
        self._draw_marks()
        self.redraw_ms.append((time.perf_counter() - started) * 1000)

    def show_current(self, point: int, similar: list[int]) -> None:
        """Mark the current patch's point and its similar patches' points (-1: none)."""
        self._current, self._similar = point, [p for p in similar if p >= 0]
        self._draw_marks()

    def _draw_marks(self) -> None:
        xy = self.controller.projection.xy
        spots = []
        for p in self._similar:
            if p < len(xy):
                spots.append(
                    {"pos": tuple(xy[p]), "size": 10, "pen": pg.mkPen("#ffd000", width=1.5)}
                )
        if 0 <= self._current < len(xy):
            spots.append(
                {"pos": tuple(xy[self._current]), "size": 14, "pen": pg.mkPen("w", width=2.5)}
            )
        self.marks.setData(spots=spots, brush=None, symbol="o")

    # ------------------------------------------------------------------ picking
    def _on_mode(self, button_id: int) -> None:
        self.view_box.pick_mode = PICK_MODES[button_id]

    def _on_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.controller.pick_points(points_in_rect(self.controller.projection.xy, x0, y0, x1, y1))

    def _on_lasso(self, polygon: np.ndarray) -> None:
        self.controller.pick_points(points_in_polygon(self.controller.projection.xy, polygon))

    def _on_picked(self, count: int) -> None:
        self.clear_button.setEnabled(count >= 0)
        self._show_count(count)
        self.redraw()

    def _show_count(self, picked: int = -1) -> None:
        proj = self.controller.projection
        if not len(proj):
            self.count_label.setText("No embeddings yet: score the folder")
            return
        text = f"{len(proj):,} patches ({proj.method})"
        if picked >= 0:
            text += f", {picked:,} selected"
        self.count_label.setText(text)

    def _pixels_per_unit(self) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        size = self.view_box.size()
        return size.width() / max(x1 - x0, 1e-12), size.height() / max(y1 - y0, 1e-12)

    def point_at(self, scene_pos: QPointF) -> int:
        """The point within PICK_PIXELS of a scene position (-1: none)."""
        proj = self.controller.projection
        if not len(proj) or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return -1
        here = self.view_box.mapSceneToView(scene_pos)
        i, dist = nearest_point(proj.xy, here.x(), here.y(), self._pixels_per_unit())
        return i if dist <= PICK_PIXELS else -1

    def _hover_at(self, scene_pos: QPointF) -> None:
        point = self.point_at(scene_pos)
        if point == self._hovered:
            return
        self._hovered = point
        self.show_preview(point)

    def show_preview(self, point: int) -> None:
        """Show the thumbnail and facts of ``point`` in the preview (-1: the hint)."""
        if point < 0:
            self.preview_text.setText("Hover over a point to see its patch")
            self.preview_image.clear()
            return
        c = self.controller
        row = c.row_of_point(point)
        t = c.table
        p = t.p[row]
        parts = [t.ids[row], "not scored" if p != p else f"P(tumour) {p:.3f}"]
        if t.truth[row] >= 0:
            parts.append(f"ground truth {t.truth[row]}")
        flags = t.insight.flags_of(row)
        if flags:
            parts.append("quality: " + ", ".join(flags))
        parts.append("click: show it in the grid")
        self.preview_text.setText("\n".join(parts))
        image = c.thumbnail(point)
        if image is None:
            self.preview_image.setText("loading…")
        else:
            self.preview_image.setPixmap(QPixmap.fromImage(image))

    def _on_click(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.point_at(event.scenePos())
        if point >= 0:
            self.controller.activate_point(point)
            self.point_activated.emit(point)
