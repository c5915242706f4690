"""The slide overview: a pyramid-aware QGraphicsView with P(tumour) over the tissue tiles.

The scene is in level-0 pixels. The overview read at opening is stretched over the whole
slide; when the view is zoomed in past the overview's resolution, the visible part is read
again from the pyramid level that matches the zoom (never the full resolution of the whole
slide) and laid over it, once the view has rested (debounced). P(tumour) is drawn as one
translucent cell per tile (the heat map, inferno colours, more opaque as P grows), and the
current tile is outlined. A click on a tile emits ``tile_clicked`` with its row.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from pathview.explain.overlay import colormap_lut
from pathview.slide import Slide, SlideError, TileGrid

#: Longer side of the picture drawn for the whole slide: painting a 2048-pixel pixmap smoothly
#: costs tens of milliseconds a frame; zoomed in, the pyramid gives the detail.
BASE_SIDE = 1024
#: Heat map opacity over a tile of P(tumour) 1 and of P 0 (0-255).
HEAT_ALPHA = 170
HEAT_ALPHA_MIN = 40


def rgb_image(pixels: np.ndarray) -> QImage:
    """A QImage that owns a copy of H x W x 3 uint8 RGB pixels."""
    data = np.ascontiguousarray(pixels)
    h, w = data.shape[:2]
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _shrunk(pixels: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = pixels.shape[:2]
    factor = side / max(h, w)
    if factor >= 1:
        return pixels
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def heat_cells(grid: TileGrid, p: np.ndarray) -> QImage:
    """One RGBA pixel per grid cell: the colour of P(tumour), transparent where unscored or
    not a tissue tile."""
    cols = int(grid.xs.max(initial=0) // grid.side) + 1
    rows = int(grid.ys.max(initial=0) // grid.side) + 1
    rgba = np.zeros((rows, cols, 4), np.uint8)
    scored = ~np.isnan(p)
    if scored.any():
        lut = colormap_lut("inferno")
        cx, cy = grid.xs[scored] // grid.side, grid.ys[scored] // grid.side
        rgba[cy, cx, :3] = lut[np.clip(p[scored] * 255, 0, 255).astype(np.int64)]
        # Opacity grows with P: normal tissue stays visible under a faint tint.
        rgba[cy, cx, 3] = (HEAT_ALPHA_MIN + (HEAT_ALPHA - HEAT_ALPHA_MIN) * p[scored]).astype(
            np.uint8
        )
    return QImage(rgba.data, cols, rows, 4 * cols, QImage.Format.Format_RGBA8888).copy()


class SlideOverview(QGraphicsView):
    """See the module docstring."""

    tile_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self._slide: Slide | None = None
        self._grid: TileGrid | None = None
        self._base = QGraphicsPixmapItem()
        self._detail = QGraphicsPixmapItem()
        self._heat = QGraphicsPixmapItem()
        self._outline = QGraphicsRectItem()
        self._outline.setPen(QPen(QColor(0, 200, 255), 0))
        self._outline.setZValue(3)
        self._detail.setZValue(1)
        self._heat.setZValue(2)
        for item in (self._base, self._detail, self._heat, self._outline):
            self.scene().addItem(item)
        self._base_scale = 1.0
        self._fitted = True
        self._press: QPointF | None = None
        self._rest = QTimer(self, singleShot=True, interval=150)
        self._rest.timeout.connect(self._read_detail)
        self.detail_level: int | None = None  # the level of the last detail read

    def show_slide(self, slide: Slide, overview: np.ndarray, scale: float, grid: TileGrid) -> None:
        """Show ``slide`` from its ``overview`` (``scale`` level-0 pixels per overview pixel)."""
        self._slide, self._grid = slide, grid
        base = _shrunk(overview, BASE_SIDE)
        self._base_scale = scale * overview.shape[1] / base.shape[1]
        self._base.setPixmap(QPixmap.fromImage(rgb_image(base)))
        self._base.setScale(self._base_scale)
        self._detail.setPixmap(QPixmap())
        self.detail_level = None
        width, height = slide.dimensions
        self.scene().setSceneRect(QRectF(0, 0, width, height))
        self.set_scores(np.full(len(grid), np.nan, np.float32))
        self._outline.setRect(QRectF())
        self.fit()

    def fit(self) -> None:
        """Show the whole slide; kept fitted as the view resizes until the user zooms."""
        self._fitted = True
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def set_scores(self, p: np.ndarray) -> None:
        """Redraw the heat map from every tile's P(tumour) (NaN: not scored yet)."""
        if self._grid is None:
            return
        self._heat.setPixmap(QPixmap.fromImage(heat_cells(self._grid, p)))
        self._heat.setScale(self._grid.side)

    def set_heat_visible(self, visible: bool) -> None:
        """Show or hide the heat map (blind mode hides it)."""
        self._heat.setVisible(visible)

    def set_current(self, row: int) -> None:
        """Outline tile ``row`` and bring it into view (-1: no outline)."""
        grid = self._grid
        if grid is None or row < 0:
            self._outline.setRect(QRectF())
            return
        rect = QRectF(float(grid.xs[row]), float(grid.ys[row]), grid.side, grid.side)
        self._outline.setRect(rect)
        self.centerOn(rect.center())

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self._fitted = False
        self.scale(factor, factor)
        self._rest.start()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._rest.start()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        moved = self._press is not None and (event.position() - self._press).manhattanLength()
        if self._press is not None and moved is not None and moved < 4 and self._grid is not None:
            point = self.mapToScene(event.position().toPoint())
            row = self._grid.at(point.x(), point.y())
            if row is not None:
                self.tile_clicked.emit(row)
        self._press = None

    def _read_detail(self) -> None:
        """Read the visible part from the level that matches the zoom, if finer than the
        overview (the view has rested)."""
        slide = self._slide
        if slide is None:
            return
        per_screen_pixel = 1 / max(self.transform().m11(), 1e-9)  # level-0 px per screen px
        if per_screen_pixel >= self._base_scale:
            self._detail.setPixmap(QPixmap())
            self.detail_level = None
            return
        visible = self.mapToScene(self.viewport().rect()).boundingRect() & self.sceneRect()
        level = slide.best_level(per_screen_pixel)
        ds = slide.levels[level].downsample
        x, y = int(visible.left()), int(visible.top())
        w, h = max(1, int(visible.width() / ds)), max(1, int(visible.height() / ds))
        try:
            pixels = slide.read_region(x, y, level, w, h)
        except SlideError:
            return
        self._detail.setPixmap(QPixmap.fromImage(rgb_image(pixels)))
        self._detail.setPos(x, y)
        self._detail.setScale(ds)
        self.detail_level = level
