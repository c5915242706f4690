"""The selected patch, large and pixel-exact, with the centre box and the heat-map overlay."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItemGroup,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from pathview.core import CENTRE_BOX, NATIVE_SIZE
from pathview.explain.contours import CONTOUR_LEVELS, IsoContour, iso_contours
from pathview.explain.overlay import DEFAULT_COLORMAP, colormap_lut, overlay_rgba
from pathview.ui.models import image_from_pixels
from pathview.ui.palette import BOX_COLOUR

BOX_PEN_WIDTH = 2  # device pixels (cosmetic pen: same width at every zoom)
CONTOUR_PEN_WIDTH = 2.0  # device pixels, over a light halo so dark levels show on tissue
CONTOUR_HALO_WIDTH = 4.5
CONTOUR_HALO = QColor(255, 255, 255, 170)
#: How the heat map is drawn: a colour blend, or iso-contours (outlines) at CONTOUR_LEVELS.
HEAT_STYLES = {"blend": "Colour blend", "contours": "Outlines (contours)"}


def level_colour(level: float, colormap: str = DEFAULT_COLORMAP) -> QColor:
    """The colour bar's colour at ``level`` in [0, 1]."""
    r, g, b = (int(c) for c in colormap_lut(colormap)[round(min(1.0, max(0.0, level)) * 255)])
    return QColor(r, g, b)


def contour_paths(contours: list[IsoContour], width: int, height: int) -> dict[float, QPainterPath]:
    """One path per level holding its lines (map pixel coordinates of a ``width`` x
    ``height`` map), without their stretches along the map's edge."""
    paths: dict[float, QPainterPath] = {}
    for contour in contours:
        path = paths.setdefault(contour.level, QPainterPath())
        for run in contour.runs(width, height):
            path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in run]))
    return paths


def image_from_rgba(rgba: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class PatchView(QGraphicsView):
    """Scene coordinates are image pixels; nearest-neighbour scaling keeps pixels square."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        # No SmoothPixmapTransform: zooming must show the real pixels.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setBackgroundBrush(QBrush(QColor(24, 24, 27)))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setMinimumSize(200, 200)

        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._image_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._heat_item = QGraphicsPixmapItem()
        self._heat_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._heat_item.setZValue(1)
        self._contour_group = QGraphicsItemGroup()
        self._contour_group.setZValue(1.5)
        x0, y0, x1, y1 = CENTRE_BOX
        self._box_item = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
        pen = QPen(BOX_COLOUR, BOX_PEN_WIDTH)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        self._box_item.setPen(pen)
        self._box_item.setZValue(2)
        self._message = QGraphicsSimpleTextItem()
        self._message.setBrush(QColor(230, 230, 230))
        self._message.setZValue(3)
        for item in (
            self._image_item,
            self._heat_item,
            self._contour_group,
            self._box_item,
            self._message,
        ):
            self.scene().addItem(item)

        self._pixels: np.ndarray | None = None
        self._heatmap: np.ndarray | None = None
        self._opacity = 0.5
        self._heat_visible = True
        self._heat_style = "blend"
        self._contour_levels: tuple[float, ...] = CONTOUR_LEVELS
        self._zoom = 1.0
        self._image_size = (NATIVE_SIZE, NATIVE_SIZE)
        self.show_message("No patch selected")

    # -- content --------------------------------------------------------------------------
    @property
    def pixels(self) -> np.ndarray | None:
        return self._pixels

    def show_pixels(self, pixels: np.ndarray) -> None:
        self._pixels = pixels
        self._image_item.setPixmap(QPixmap.fromImage(image_from_pixels(pixels)))
        self._image_item.setVisible(True)
        h, w = pixels.shape[:2]
        self._image_size = (w, h)
        self._message.setVisible(False)
        self._box_item.setVisible(self._box_visible_pref and (w, h) == (NATIVE_SIZE, NATIVE_SIZE))
        self.set_heatmap(None)
        self._fit()

    def show_message(self, text: str) -> None:
        """Replace the patch with a message (nothing selected, unreadable file, ...)."""
        self._pixels = None
        self._image_item.setVisible(False)
        self._heat_item.setVisible(False)
        self._clear_contours()
        self._box_item.setVisible(False)
        self._heatmap = None
        self._message.setText(text)
        self._message.setVisible(True)
        self.scene().setSceneRect(self._message.boundingRect().adjusted(-20, -20, 20, 20))
        self.resetTransform()

    def set_heatmap(self, heatmap: np.ndarray | None) -> None:
        """A map in [0, 1] of the image's size, or None to clear the overlay."""
        self._heatmap = heatmap
        self._render_heat()

    @property
    def heatmap(self) -> np.ndarray | None:
        return self._heatmap

    # -- toggles --------------------------------------------------------------------------
    _box_visible_pref = True

    def set_box_visible(self, visible: bool) -> None:
        self._box_visible_pref = visible
        self._box_item.setVisible(visible and self._pixels is not None)

    @property
    def box_visible(self) -> bool:
        return self._box_item.isVisible()

    def set_heatmap_visible(self, visible: bool) -> None:
        self._heat_visible = visible
        self._render_heat()

    def set_opacity(self, opacity: float) -> None:
        self._opacity = min(1.0, max(0.0, opacity))
        if self._heat_style == "blend":
            self._render_heat()

    def set_heat_style(self, style: str) -> None:
        """ "blend" (colour over the patch) or "contours" (outlines at the contour levels)."""
        if style not in HEAT_STYLES:
            raise ValueError(f"unknown heat-map style {style!r}; choose one of {list(HEAT_STYLES)}")
        if style != self._heat_style:
            self._heat_style = style
            self._render_heat()

    @property
    def heat_style(self) -> str:
        return self._heat_style

    @property
    def heatmap_shown(self) -> bool:
        return self._heat_item.isVisible() or self.contours_shown > 0

    @property
    def contours_shown(self) -> int:
        """How many contour levels are drawn (0 in blend mode or without a map)."""
        return len({item.data(0) for item in self.contour_items()})

    def contour_items(self) -> list[QGraphicsPathItem]:
        """The drawn contour lines (their halos left out), lowest level first."""
        items = [
            i
            for i in self._contour_group.childItems()
            if isinstance(i, QGraphicsPathItem) and i.data(1) == "line"
        ]
        return sorted(items, key=lambda i: float(i.data(0)))

    def _render_heat(self) -> None:
        show = self._heat_visible and self._heatmap is not None and self._pixels is not None
        blend = show and self._heat_style == "blend"
        self._clear_contours()
        if show and self._heatmap is not None:
            sx = self._image_size[0] / self._heatmap.shape[1]
            sy = self._image_size[1] / self._heatmap.shape[0]
            if blend:
                rgba = overlay_rgba(self._heatmap, self._opacity)
                self._heat_item.setPixmap(QPixmap.fromImage(image_from_rgba(rgba)))
                self._heat_item.setTransform(QTransform.fromScale(sx, sy))
            else:
                self._draw_contours(QTransform.fromScale(sx, sy))
        self._heat_item.setVisible(blend)

    def _draw_contours(self, transform: QTransform) -> None:
        assert self._heatmap is not None
        h, w = self._heatmap.shape
        paths = contour_paths(iso_contours(self._heatmap, self._contour_levels), w, h)
        for level, path in sorted(paths.items()):
            for width, colour, z, kind in (
                (CONTOUR_HALO_WIDTH, CONTOUR_HALO, 0.0, "halo"),
                (CONTOUR_PEN_WIDTH, level_colour(level), 1.0, "line"),
            ):
                item = QGraphicsPathItem(transform.map(path))
                pen = QPen(colour, width)
                pen.setCosmetic(True)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                item.setPen(pen)
                item.setZValue(z + level)  # higher levels over lower ones
                item.setData(0, level)
                item.setData(1, kind)
                self._contour_group.addToGroup(item)

    def _clear_contours(self) -> None:
        for item in self._contour_group.childItems():
            self._contour_group.removeFromGroup(item)
            self.scene().removeItem(item)

    # -- geometry -------------------------------------------------------------------------
    def image_to_view(self, x: float, y: float) -> tuple[int, int]:
        """Viewport pixel at image coordinate (x, y) (used by tests and the screenshot tool)."""
        point = self.mapFromScene(x, y)
        return point.x(), point.y()

    def _fit(self) -> None:
        w, h = self._image_size
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.resetTransform()
        view = self.viewport().size()
        # Integer zoom keeps every image pixel the same number of screen pixels.
        fit = max(1, int(min(view.width() / w, view.height() / h)))
        scale = max(1.0, fit * self._zoom)
        self.scale(scale, scale)
        self.centerOn(w / 2, h / 2)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._pixels is not None:
            self._fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._pixels is None:
            return
        factor = 2.0 if event.angleDelta().y() > 0 else 0.5
        self._zoom = min(8.0, max(0.25, self._zoom * factor))
        self._fit()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # reset zoom
        self._zoom = 1.0
        if self._pixels is not None:
            self._fit()
